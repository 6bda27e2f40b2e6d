"""benchmarks/jax_trainer_speed.py, the GPU benchmark for machines with JAX and no
TensorFlow, compares like with like: its hand-written JAX reference step and our trainers,
from the same weights on the same batch, take the same three SGD steps
(tests/jax_benchmark_worker.py, in a subprocess with KERAS_BACKEND=jax and TensorFlow
unimportable). SGD moves each weight by the learning rate times its gradient, so equal
weights mean equal gradients, loss weights included; the same trainer compiled with one
loss weight 10 % off must end far from the reference. (The test used to compare one Adam
step, lr x sign(gradient), which no loss weight changes.) The same process shows that
``hardware`` and the trainers need no TensorFlow on JAX."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("jax_benchmark_worker.py")
# Largest weight difference after 3 steps, over the largest move, measured (deterministic):
# pix2pix 1.1e-9, CycleGAN 2.2e-6 (its cycle, one generator on the other's output, is
# ill-conditioned: see test_backends.py). A 10 % wrong loss weight gives 0.20 (lambda_l1
# 90) and 0.24 (lambda_cycle 9). The bar sits 45x above the worst match and 2000x below
# the smallest mismatch.
SAME_STEP_RTOL = 1e-4


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed")
def test_jax_reference_step_and_our_trainers_compute_the_same_gradients():
    proc = subprocess.run([sys.executable, str(WORKER)], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    found = json.loads(lines[-1][len("RESULT "):])
    assert found["has_gpu"] is False  # asked of JAX, not TensorFlow
    assert found["policy"] in ("float32", "mixed_bfloat16")
    for kind in ("pix2pix", "cyclegan"):
        r = found[kind]
        print(f"{kind}: {r}")
        assert r["same_start"], kind
        assert r["largest_move"] > 0.01, (kind, r)  # the steps moved the weights
        assert r["worst_difference"] < SAME_STEP_RTOL, (kind, r)
        assert r["wrong_weight_difference"] > 100 * SAME_STEP_RTOL, (kind, r)
