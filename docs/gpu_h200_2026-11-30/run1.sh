#!/bin/bash
# GPU checks of issue #7 on a machine with JAX and PyTorch but no TensorFlow.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
A=".anchor/tf_tutorial_pix2pix.py"
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  nproc; python3 -c "import jax, keras, torch; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'torch', torch.__version__)"
} 2>&1 | tee $OUT/env.log
timeout 190 python3 benchmarks/jax_trainer_speed.py --anchor $A --only pix2pix --rounds 5 --steps 20 2>&1 | tee $OUT/pix2pix_b1.log
timeout 210 python3 benchmarks/jax_trainer_speed.py --anchor $A --only cyclegan --rounds 5 --steps 20 2>&1 | tee $OUT/cyclegan_b1.log
timeout 90 python3 benchmarks/jax_trainer_speed.py --anchor $A --only pix2pix --batch 8 --precisions float32 mixed_float16 --rounds 3 --steps 10 2>&1 | tee $OUT/pix2pix_b8.log
timeout 80 python3 benchmarks/backend_speed.py --backends jax torch --steps 20 2>&1 | tee $OUT/backends.log
