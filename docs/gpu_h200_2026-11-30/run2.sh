#!/bin/bash
# GPU checks of issue #7, second run: waited-for vs queued steps, and the quickstart's
# GPU settings under each precision.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
A=".anchor/tf_tutorial_pix2pix.py"
date -u | tee $OUT/env.log
timeout 150 python3 benchmarks/jax_trainer_speed.py --anchor $A --only pix2pix --rounds 5 --steps 20 2>&1 | tee $OUT/pix2pix_b1.log
timeout 190 python3 benchmarks/jax_trainer_speed.py --anchor $A --only cyclegan --rounds 5 --steps 20 2>&1 | tee $OUT/cyclegan_b1.log
for p in float32 mixed_float16 mixed_bfloat16; do
  timeout 60 python3 benchmarks/backend_speed.py --backends jax --steps 30 --precision $p 2>&1 | tee $OUT/quickstart_$p.log
done
