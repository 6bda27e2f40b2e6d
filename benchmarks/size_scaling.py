"""How the cost of a pix2pix step grows with image size and batch, with a plot.

    python benchmarks/size_scaling.py [--sizes 64 128 256 512] [--batches 1 4 8]
                                      [--out docs/size_scaling.png] [--plot-only]

Trains the tutorials' generator recipe (U-Net, instance norm, 16 base filters, depth
3 at 64² and one level more per doubling of the size, capped at 5) with a 34x34
PatchGAN through ``fit``, in float32 and in the precision
``i2i_keras.hardware.recommended_policy`` picks, and prints milliseconds per step and
images per second. Medians of the step intervals of one fit call per setting, all in
one process: compare them only within one run. The measurements are also written beside
the plot (``docs/size_scaling.json``); ``--plot-only`` redraws the plot from them.
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
import tensorflow as tf  # noqa: E402
from step_timing import StepTimer  # noqa: E402  (this folder: the same step timing)

from i2i_keras import hardware, models, speedups, training  # noqa: E402


def step_ms(size: int, batch: int, policy: str, steps: int) -> float:
    with hardware.dtype_policy(policy):
        keras.utils.set_random_seed(0)
        depth = min(5, 3 + int(np.log2(size // 64)))
        shape = (size, size, 1)
        gan = training.Pix2Pix(models.unet(shape, depth=depth, base_filters=16),
                               models.patchgan(shape, n_layers=2, base_filters=32))
        gan.compile(speedups.FusedAdam(2e-4, beta_1=0.5), speedups.FusedAdam(2e-4, beta_1=0.5))
        speedups.cast_once_per_step(gan)
        x = np.random.default_rng(0).uniform(-1, 1, (batch,) + shape).astype("float32")
        timer = StepTimer()
        gan.fit(tf.data.Dataset.from_tensors((x, x)).repeat(), steps_per_epoch=steps + 4,
                epochs=1, verbose=0, callbacks=[timer])
        return timer.median_ms(skip=3)


def plot(table: dict, title: str, out: str) -> None:
    """ms per step and images per second against size; table[policy][batch][size] = ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for (pol, rows), style in zip(table.items(), ("-", "--")):
        for batch, row in rows.items():
            sizes, ms = [int(s) for s in row], list(row.values())
            axes[0].plot(sizes, ms, style, marker="o", label=f"batch {batch}, {pol}")
            axes[1].plot(sizes, [1000 * int(batch) / m for m in ms], style, marker="o")
    axes[0].set_ylabel("ms per step")
    axes[1].set_ylabel("images per second")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.minorticks_off()  # only the measured sizes on the axis
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("image size (pixels per side)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--out", default="docs/size_scaling.png")
    p.add_argument("--plot-only", action="store_true",
                   help="redraw the plot from the .json beside --out, measuring nothing")
    a = p.parse_args()
    saved = os.path.splitext(a.out)[0] + ".json"
    if a.plot_only:
        with open(saved) as f:
            run = json.load(f)
        plot(run["ms_per_step"], run["title"], a.out)
        return
    policies = sorted({"float32", hardware.recommended_policy()}, reverse=True)
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"CPU units {hardware.cpu_units()}; policies {policies}")
    print(f"{'size':>5} {'batch':>5} " + "".join(f"{p + ' ms':>22} {'img/s':>7}"
                                                  for p in policies))
    table = {pol: {batch: {} for batch in a.batches} for pol in policies}
    for size in a.sizes:
        for batch in a.batches:
            row = {pol: step_ms(size, batch, pol, max(3, a.steps * 64 // size))
                   for pol in policies}
            for pol, ms in row.items():
                table[pol][batch][size] = ms
            print(f"{size:>5} {batch:>5} " + "".join(
                f"{ms:>22.1f} {1000 * batch / ms:>7.1f}" for ms in row.values()), flush=True)
    title = (f"pix2pix step through fit, {platform.machine()} {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d')}")
    with open(saved, "w") as f:
        json.dump({"title": title, "ms_per_step": table}, f, indent=1)
    plot(table, title, a.out)


if __name__ == "__main__":
    main()
