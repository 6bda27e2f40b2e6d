"""Pix2Pix through ``fit`` against the TensorFlow-tutorial training loop, same process.

    python benchmarks/pix2pix_vs_reference.py [--size 256] [--batch 1] [--steps 10]

Both train the reference architecture of ``shared/anchors/tf_tutorial_pix2pix.py``
(U-Net-256 with stride-2 convolutions, 70x70 PatchGAN, batch norm, one channel): the
reference with its own hand-written ``tf.function`` step, ours as ``i2i_keras.training.
Pix2Pix`` compiled and run by ``fit``. Milliseconds per step are medians of whole
``fit`` calls divided by their steps, after a warm-up; compare them only within one run.
Configurations: float32, float32 with XLA, and mixed bfloat16 (only where the CPU has
bfloat16 units: on AVX2-only CPUs it was 7x slower here).

One difference in semantics: our discriminator judges real and fake pairs in one pass,
so its batch-norm statistics mix both halves; the reference makes two passes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from i2i_keras import training  # noqa: E402

ANCHOR = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "tf_tutorial_pix2pix.py"


def load_reference(path: Path = ANCHOR):
    if not path.is_file():
        raise SystemExit(f"reference loop not found at {path}; pass --anchor PATH")
    spec = importlib.util.spec_from_file_location("tf_tutorial_pix2pix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_units() -> dict[str, bool]:
    """Which matrix units the CPU reports (Linux /proc/cpuinfo)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    return {unit: unit in flags for unit in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")}


def ours_ms(reference, size: int, batch: int, steps: int, precision: str, jit: bool,
            steps_per_execution: int = 1) -> float:
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        gan = training.Pix2Pix(reference.unet_generator(size, 1), reference.patchgan(size, 1))
        gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5),
                    keras.optimizers.Adam(2e-4, beta_1=0.5), lambda_l1=100.0,
                    gan_loss="vanilla", jit_compile=jit,
                    steps_per_execution=steps_per_execution)
        rng = np.random.default_rng(0)
        x, y = (rng.uniform(-1, 1, (batch, size, size, 1)).astype("float32") for _ in "xy")
        data = tf.data.Dataset.from_tensors((x, y)).repeat()
        warm = 3 * steps_per_execution
        gan.fit(data, steps_per_epoch=warm, epochs=1, verbose=0)  # trace and warm up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            gan.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
            times.append((time.perf_counter() - start) / steps)
        return 1000.0 * float(np.median(times))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--anchor", type=Path, default=ANCHOR)
    p.add_argument("--steps-per-execution", type=int, default=1,
                   help="Keras runs this many steps per compiled call (less Python per step)")
    a = p.parse_args()
    reference = load_reference(a.anchor)
    units = cpu_units()
    bf16 = units["avx512_bf16"] or units["amx_bf16"] or bool(tf.config.list_physical_devices("GPU"))
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"CPU units: {units}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    ref = reference.measure("pix2pix", size=a.size, channels=1, batch=a.batch, steps=a.steps)
    rows = {"reference loop, float32": ref}
    configs = [("float32", False), ("float32", True)] + ([("mixed_bfloat16", False)] if bf16
                                                        else [])
    for precision, jit in configs:
        name = f"i2i_keras fit, {precision}" + (" + XLA" if jit else "")
        rows[name] = ours_ms(reference, a.size, a.batch, a.steps, precision, jit,
                             a.steps_per_execution)
    print(f"pix2pix {a.size}², batch {a.batch}: ms per step (speed-up over the reference)")
    for name, ms in rows.items():
        print(f"  {name:38s} {ms:8.1f}  ({ref / ms:.2f}x)")
    print(json.dumps({k: round(v, 1) for k, v in rows.items()}))


if __name__ == "__main__":
    main()
