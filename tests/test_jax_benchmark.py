"""benchmarks/jax_trainer_speed.py, the GPU benchmark for machines with JAX and no
TensorFlow, compares like with like: its hand-written JAX reference step and our trainers
take the same first step (tests/jax_benchmark_worker.py, in a subprocess with
KERAS_BACKEND=jax and TensorFlow unimportable). The same process shows that
``hardware`` and the trainers need no TensorFlow on JAX."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("jax_benchmark_worker.py")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed")
def test_jax_reference_step_and_our_trainers_take_the_same_first_step():
    proc = subprocess.run([sys.executable, str(WORKER)], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    found = json.loads(lines[-1][len("RESULT "):])
    assert found["has_gpu"] is False  # asked of JAX, not TensorFlow
    assert found["policy"] in ("float32", "mixed_bfloat16")
    for kind in ("pix2pix", "cyclegan"):
        r = found[kind]
        assert r["same_start"], kind
        # every weight moved by Adam's full first step (about the learning rate) ...
        assert r["smallest_move"] > 0.99, (kind, r)
        # ... and by the same amount on both sides: 1e-5 of the rate measured
        assert r["worst_move_difference"] < 1e-3, (kind, r)
