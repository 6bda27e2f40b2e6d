"""The data pipelines on JAX: NumPy ``PyDataset`` batches against ``tf.data``, same step.

    KERAS_BACKEND=jax python benchmarks/pipeline_speed.py [--steps 40] [--rounds 5]

On JAX and PyTorch, :func:`i2i_keras.datasets.paired_dataset` returns
:class:`i2i_keras.batches.PairedBatches` (NumPy, no TensorFlow needed); on TensorFlow
a ``tf.data`` pipeline. Is the NumPy one slower where both could run? This trains the
quickstart's Pix2Pix (as :func:`i2i_keras.recipes.build_pix2pix` sizes it for the
machine) with ``fit`` from both pipelines, augmented (flip and a 4-pixel shift) and
shuffled as the quickstart's training set is, alternating one epoch of ``--steps``
steps from each for ``--rounds`` rounds after one warm-up epoch each, in one process.
Reported: milliseconds per step, median over the rounds, and the ratio. Needs
TensorFlow installed (for the ``tf.data`` side). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    import keras

    from i2i_keras import batches, datasets, recipes
    from i2i_keras.tutorials import machine

    s = recipes.Settings.for_hardware(quick=False)
    keras.mixed_precision.set_global_policy(s.precision)
    keras.utils.set_random_seed(0)
    n = args.steps * s.batch_size
    rng = np.random.default_rng(0)
    x, y = (rng.uniform(-1, 1, (n, s.size, s.size, 1)).astype("float32") for _ in "xy")
    pipelines = {  # the same arguments: batch, shuffled, flip and a 4-pixel shift, seed 0
        "NumPy PyDataset": batches.PairedBatches(x, y, s.batch_size, shuffle=True, augment=True,
                                                 max_shift=4, flip=True, seed=0),
        "tf.data": datasets._paired_tf_data(x, y, s.batch_size, shuffle=True, augment=True,
                                            patch_size=None, max_shift=4, flip=True, seed=0,
                                            drop=True),
    }
    gan = recipes.build_pix2pix(s, steps_per_epoch=args.steps)
    times = {name: [] for name in pipelines}
    for round_ in range(args.rounds + 1):  # round 0 warms up (tracing, first batches)
        for name, data in pipelines.items():
            start = time.perf_counter()
            gan.fit(data, epochs=1, verbose=0)
            if round_:
                times[name].append(1000.0 * (time.perf_counter() - start) / args.steps)
    ms = {name: float(np.median(t)) for name, t in times.items()}
    print(f"backend {keras.backend.backend()}, Keras {keras.__version__}, {s.size}² batch "
          f"{s.batch_size}, {s.precision}, {machine()}")
    for name, value in ms.items():
        spread = f"{min(times[name]):.1f}-{max(times[name]):.1f}"
        print(f"{name:16s} {value:7.1f} ms a step ({spread} over {args.rounds} rounds)")
    print(f"tf.data / NumPy: {ms['tf.data'] / ms['NumPy PyDataset']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
