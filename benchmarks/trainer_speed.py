"""Our trainers through ``fit`` against the TensorFlow-tutorial loops, in one process.

    python benchmarks/trainer_speed.py [--rounds 3] [--steps 4] [--only pix2pix|cyclegan]
        [--sizes 256 128]

Both sides train the networks of ``reference_gan.py`` (written after the TensorFlow
pix2pix and CycleGAN tutorials): pix2pix (U-Net-256 with stride-2 convolutions, 70x70
PatchGAN, batch norm, one channel, 256², batch 1) and CycleGAN (two such U-Nets and two
PatchGANs with instance norm, 128², batch 1, BCE, cycle 10, identity 0.5). The reference
runs its own hand-written ``tf.function`` step; ours runs ``i2i_keras.training.Pix2Pix``
/ ``CycleGAN`` with ``fit`` and the library's ``speedups.FusedAdam`` (one row with Keras'
own Adam shows its share). Ours is timed between consecutive ``on_train_batch_end`` calls
of ``fit`` (what a student's epoch costs per step, fit's own per-step work included), the
reference call by call. Every configuration is built and warmed up first, then timed in
rounds: each round runs a few steps of every configuration in turn, so a change in the
machine's speed during the run (a shared machine's neighbours) touches all of them alike.
Reported: the median step over all rounds and the range of the per-round speed-ups;
compare numbers only within one run. Configurations: float32, float32 + XLA, and mixed
precision (bfloat16 on CPUs with bfloat16 units, float16 on a GPU).

It also prints the FLOPs of one step (counted from the convolution layers: a training
step costs about 3x the forward FLOPs), the GFLOP/s each configuration achieves, and the
matrix-multiply peak of this machine measured in the same run, the rate of the step's
largest convolution alone at batch 1 and 2 (a ceiling for a batch-1 step), and which CPU
units there are and which precision ``i2i_keras.hardware.recommended_policy`` chooses.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import reference_gan  # noqa: E402
import tensorflow as tf  # noqa: E402
from step_timing import (  # noqa: E402
    StepTimer,
    best_gflops,
    our_trainer,
    print_table,
    step_flops,
    time_in_rounds,
)

from i2i_keras import hardware, speedups  # noqa: E402


def matmul_peak(dtype: str = "float32", n: int = 2048, seconds: float = 3.0) -> float:
    """GFLOP/s of a large square matrix product in this process (the best of a few)."""
    a = tf.random.normal((n, n), dtype=dtype)
    b = tf.random.normal((n, n), dtype=dtype)
    f = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], "float32")))
    return best_gflops(f, 2.0 * n ** 3, seconds)


def conv_rate(batch: int, seconds: float = 2.0) -> float:
    """GFLOP/s of the largest convolution of the pix2pix step alone (the PatchGAN's
    256 -> 512 channels, 4x4 kernel, 31² output), forward, at a given batch: the most a
    step made of such convolutions could reach on this machine."""
    x = tf.random.normal((batch, 34, 34, 256))
    w = tf.random.normal((4, 4, 256, 512))
    f = tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(x, w, 1, "VALID")[:, :1, :1, :1]))
    return best_gflops(f, 2.0 * batch * 16 * 256 * 512 * 31 * 31, seconds)


class ReferenceSteps:
    """The reference loop's own ``tf.function`` step, timed call by call."""

    def __init__(self, kind: str, size: int):
        keras.utils.set_random_seed(0)
        make = (reference_gan.pix2pix_step_fn if kind == "pix2pix"
                else reference_gan.cyclegan_step_fn)
        self.step = make(size, 1)
        rng = np.random.default_rng(0)
        self.x, self.y = (tf.constant(rng.uniform(-1, 1, (1, size, size, 1)), "float32")
                          for _ in "xy")

    def seconds(self, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            float(self.step(self.x, self.y)[0])  # wait for the step to finish
            times.append(time.perf_counter() - start)
        return times


class OurSteps:
    """Our trainer on the reference's networks, built under ``precision`` and timed
    through ``fit``."""

    def __init__(self, kind: str, size: int, precision: str, jit: bool,
                 optimizer=speedups.FusedAdam):
        self.trainer, self.gens, self.discs = our_trainer(
            kind, size, precision, lambda: optimizer(2e-4, beta_1=0.5), jit)
        rng = np.random.default_rng(0)
        x, y = (rng.uniform(-1, 1, (1, size, size, 1)).astype("float32") for _ in "xy")
        self.data = tf.data.Dataset.from_tensors((x, y)).repeat()

    def seconds(self, steps: int) -> list[float]:
        timer = StepTimer()
        self.trainer.fit(self.data, steps_per_epoch=steps + 2, epochs=1, verbose=0,
                         callbacks=[timer])
        return list(np.diff(timer.times)[1:])  # the first interval holds fit's start-up


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=4, help="steps of each configuration a round")
    p.add_argument("--only", choices=["pix2pix", "cyclegan"])
    p.add_argument("--sizes", type=int, nargs=2, default=(256, 128),
                   metavar=("PIX2PIX", "CYCLEGAN"),
                   help="image sizes, powers of two (the reported runs: 256 128)")
    a = p.parse_args()
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("this benchmark times TensorFlow steps: run it with "
                         "KERAS_BACKEND=tensorflow (or use jax_trainer_speed.py)")
    units = hardware.cpu_units()
    policy = hardware.recommended_policy()
    gpu = hardware.has_gpu()
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}; GPU: {gpu}")
    print(f"CPU units: {units}; recommended_policy() -> {policy!r}")
    peak = {"float32": matmul_peak("float32")}
    if policy != "float32":
        peak[policy] = matmul_peak("float16" if gpu else "bfloat16")
    print("matmul peak (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()))
    conv = {b: conv_rate(b) for b in (1, 2)}
    print("largest conv of the pix2pix step alone, float32 (GFLOP/s): "
          + ", ".join(f"batch {b} {r:.0f} ({100 * r / peak['float32']:.0f} % of peak)"
                      for b, r in conv.items()))
    # (precision, XLA, optimizer): ours as shipped uses FusedAdam; one row with Keras' Adam
    # shows what the fused update is worth.
    configs = [("float32", False, keras.optimizers.Adam), ("float32", False, speedups.FusedAdam),
               ("float32", True, speedups.FusedAdam)]
    if policy != "float32":
        configs += [(policy, False, speedups.FusedAdam), (policy, True, speedups.FusedAdam)]
    results = {}
    for kind, size in zip(("pix2pix", "cyclegan"), a.sizes):
        if a.only and kind != a.only:
            continue
        runs = {"reference loop, float32": (ReferenceSteps(kind, size), None)}
        for precision, jit, optimizer in configs:
            name = f"i2i_keras fit, {precision}" + (" + XLA" if jit else "")
            if optimizer is not speedups.FusedAdam:
                name += ", Keras Adam"
            runs[name] = (OurSteps(kind, size, precision, jit, optimizer), precision)
        times = time_in_rounds({name: steps for name, (steps, _) in runs.items()},
                               a.rounds, a.steps)
        ours = runs[list(runs)[-1]][0]
        flops = step_flops(kind, ours.gens, ours.discs)
        print(f"\n{kind} {size}², batch 1: {flops / 1e9:.1f} GFLOP a step, {a.rounds} rounds of "
              f"{a.steps} steps")
        ms = print_table(times, "reference loop, float32", flops,
                         {name: peak.get(precision or "float32", peak["float32"])
                          for name, (_, precision) in runs.items()})
        results[kind] = {k: round(v, 1) for k, v in ms.items()}
    print(json.dumps({"peak_gflops": {k: round(v) for k, v in peak.items()},
                      "conv_gflops": {f"batch {b}": round(r) for b, r in conv.items()},
                      **results}))


if __name__ == "__main__":
    main()
