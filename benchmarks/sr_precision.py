"""Tutorial 02's training steps in float32 and in the precision this CPU is given.

    python benchmarks/sr_precision.py [--rounds 3] [--steps 20]

Tutorial 02 trains its networks under ``i2i_keras.hardware.recommended_policy(gpu=False)``:
mixed bfloat16 where the CPU has bfloat16 units (AVX512_BF16 or AMX), else float32. This
times the steps it trains, on its 64² patches at batch 8: the SRCNN (L2), the ×4 U-Net
(L1) and an SRGAN-style step (U-Net + PatchGAN, least squares, perceptual loss), each
built once per precision, then run in interleaved rounds (each configuration ``--steps``
steps in turn, so a change of the machine's speed touches all alike), in one process.
Prints the median milliseconds per step and float32 / the other's ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402
from step_timing import StepTimer  # noqa: E402  (this folder: the same step timing)

from i2i_keras import hardware, losses, models, training  # noqa: E402

BATCH, PATCH = 8, 64


def build(kind: str, policy: str) -> keras.Model:
    """One of 02's trainers, compiled as the tutorial compiles it, under ``policy``."""
    with hardware.dtype_policy(policy):
        keras.utils.set_random_seed(0)
        shape = (None, None, 1)
        if kind == "SRCNN":
            trainer = training.Supervised(models.srcnn(shape, residual=True))
            trainer.compile(training.adam(1e-3, 1000, beta_1=0.9), loss="l2")
            return trainer
        unet = models.unet(shape, depth=3, base_filters=16, norm="none", residual=True)
        if kind == "U-Net x4":
            trainer = training.Supervised(unet)
            trainer.compile(training.adam(1e-3, 1000, beta_1=0.9), loss="l1")
            return trainer
        trainer = training.Pix2Pix(unet, models.patchgan(shape, n_layers=2, base_filters=32,
                                                         norm="none"))
        trainer.compile(training.adam(2e-4, 1000, beta_1=0.9),
                        training.adam(2e-4, 1000, beta_1=0.9), lambda_l1=1.0, gan_loss="lsgan",
                        extra_loss=losses.PerceptualLoss())
        return trainer


def step_ms(trainer: keras.Model, x: np.ndarray, steps: int) -> float:
    timer = StepTimer()
    trainer.fit(x, x, batch_size=BATCH, epochs=1, steps_per_epoch=steps, verbose=0,
                callbacks=[timer])
    return timer.median_ms(skip=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="steps of each configuration a round")
    a = p.parse_args()
    policy = hardware.recommended_policy(gpu=False)
    units = [u for u, present in hardware.cpu_units().items() if present]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"units {units}, {time.strftime('%Y-%m-%d')}, Keras {keras.__version__} "
          f"({keras.backend.backend()}); recommended_policy(gpu=False) -> {policy!r}")
    policies = ["float32"] + ([policy] if policy != "float32" else [])
    x = np.random.default_rng(0).uniform(-1, 1, (BATCH * a.steps, PATCH, PATCH, 1))
    x = x.astype("float32")
    runs = {(kind, pol): build(kind, pol) for kind in ("SRCNN", "U-Net x4", "SRGAN-style")
            for pol in policies}
    for trainer in runs.values():  # tracing and compiling
        step_ms(trainer, x, 3)
    ms = {key: [] for key in runs}
    for _ in range(a.rounds):
        for key, trainer in runs.items():
            ms[key].append(step_ms(trainer, x, a.steps))
    print(f"\n{'step (64², batch 8)':22s}" + "".join(f"{pol:>18s}" for pol in policies)
          + ("   float32 / " + policy if len(policies) > 1 else ""))
    for kind in ("SRCNN", "U-Net x4", "SRGAN-style"):
        row = [float(np.median(ms[kind, pol])) for pol in policies]
        ratio = f"{row[0] / row[1]:>10.2f}" if len(row) > 1 else ""
        print(f"{kind:22s}" + "".join(f"{m:>15.1f} ms" for m in row) + ratio)


if __name__ == "__main__":
    main()
