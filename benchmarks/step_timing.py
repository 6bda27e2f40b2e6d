"""What the trainer benchmarks share, with no TensorFlow in it: the reference networks
(``reference_gan.py``, after the TensorFlow tutorials) and our trainer on them, the FLOPs
of a step, a best-rate timing loop, a per-step timer for ``fit``, timing in interleaved
rounds and the printed table.

``trainer_speed.py`` (TensorFlow, the reference's own ``tf.function`` steps) and
``jax_trainer_speed.py`` (Keras' JAX backend, for a GPU machine without TensorFlow) both
use it, so their numbers mean the same thing.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import reference_gan

from i2i_keras import hardware, training


def reference_networks(kind: str, size: int, reference=reference_gan) -> tuple[list, list]:
    """(generators, discriminators) of the reference step of this kind, one channel, built
    by ``reference.unet_generator`` and ``reference.patchgan`` (``reference_gan``'s; the
    tests pass small stand-ins)."""
    if kind == "pix2pix":
        return [reference.unet_generator(size, 1)], [reference.patchgan(size, 1)]
    gens = [reference.unet_generator(size, 1, "instance") for _ in range(2)]
    discs = [reference.patchgan(size, 1, conditional=False, norm="instance") for _ in range(2)]
    return gens, discs


def our_trainer(kind: str, size: int, precision: str, make_optimizer,
                jit_compile: bool | None = None, reference=reference_gan):
    """(trainer, generators, discriminators): our ``Pix2Pix`` or ``CycleGAN`` on the
    reference networks, built under the dtype policy ``precision`` (the networks keep it;
    the global policy is the previous one again afterwards) and compiled with the reference's loss
    weights; ``make_optimizer()`` gives each optimizer. On TensorFlow it casts each weight
    once per step under a mixed policy (:func:`i2i_keras.speedups.cast_once_per_step`),
    as the README's rows were measured."""
    with hardware.dtype_policy(precision):
        keras.utils.set_random_seed(0)
        gens, discs = reference_networks(kind, size, reference)
        if kind == "pix2pix":
            trainer = training.Pix2Pix(gens[0], discs[0])
            trainer.compile(make_optimizer(), make_optimizer(), lambda_l1=reference_gan.LAMBDA,
                            gan_loss="vanilla", jit_compile=jit_compile)
        else:
            trainer = training.CycleGAN(*gens, *discs)
            trainer.compile(make_optimizer(), make_optimizer(),
                            lambda_cycle=reference_gan.LAMBDA_CYCLE,
                            lambda_identity=0.5, gan_loss="vanilla", jit_compile=jit_compile)
        if keras.backend.backend() == "tensorflow":
            from i2i_keras import speedups  # opt-in: one cast of each weight per step

            speedups.cast_once_per_step(trainer)  # a no-op under float32
    return trainer, gens, discs


def forward_flops(model) -> float:
    """Multiply-adds x 2 of every convolution of a (possibly nested) Keras model, for one
    image. Norms, activations and the optimizer are left out (a few per cent)."""
    total = 0.0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            k = int(np.prod(layer.kernel_size))
            cin = int(layer.kernel.shape[-1 if isinstance(layer, keras.layers.Conv2DTranspose)
                                         else -2])
            # Conv2D: per output pixel; transposed: per input pixel (the same product).
            pixels = (layer.input.shape if isinstance(layer, keras.layers.Conv2DTranspose)
                      else layer.output.shape)[1:3]
            total += 2.0 * k * cin * layer.filters * int(np.prod(pixels))
    return total


def step_flops(kind: str, gens: list, discs: list) -> float:
    """FLOPs of one training step at batch 1: 3x forward (forward, input gradient and
    weight gradient) of every pass the step makes."""
    g, d = forward_flops(gens[0]), forward_flops(discs[0])
    if kind == "pix2pix":  # G once; D on the real and the fake pair
        return 3.0 * (g + 2 * d)
    # CycleGAN: each generator on its input, its round trip and the identity image;
    # each discriminator on a real and a fake image (ours adds a pooled fake).
    return 3.0 * (2 * 3 * g + 2 * 2 * d)


def best_gflops(f, flops: float, seconds: float, wait=float) -> float:
    """The best rate of repeated calls of ``f`` (a compiled function) over ``seconds``,
    after one call that traces it; ``wait(f())`` returns once the result is computed
    (``float`` of a scalar; ``jax.block_until_ready`` of an array)."""
    wait(f())
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        wait(f())
        best = max(best, flops / (time.perf_counter() - t) / 1e9)
    return best


class StepTimer(keras.callbacks.Callback):
    """The moments at which the training steps of one ``fit`` call end. Defining
    ``on_train_batch_end`` makes Keras call it synchronously with the step's logs turned
    into Python numbers, so on every backend (JAX's asynchronous dispatch included) each
    moment is after that step has finished on the device."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())

    def median_ms(self, skip: int) -> float:
        return 1000.0 * float(np.median(np.diff(self.times[skip:])))


def time_in_rounds(runs: dict, rounds: int, steps: int) -> dict[str, list[list[float]]]:
    """Seconds of each step, {name: one list per round}, of configurations that each have
    a ``seconds(steps) -> list of step times`` method. Each is run a few steps first
    (tracing and compiling), then every round runs ``steps`` steps of each in turn, so a
    change of the machine's speed during the run touches all of them alike."""
    for steps_of in runs.values():
        steps_of.seconds(3)
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, steps_of in runs.items():
            times[name].append(steps_of.seconds(steps))
    return times


def print_table(times: dict[str, list[list[float]]], reference: str, flops: float,
                peaks: dict[str, float]) -> dict[str, float]:
    """Print each configuration's median step (ms), speed-up over ``reference`` (overall
    and the range of the per-round ones), GFLOP/s for ``flops`` a step and its share of
    ``peaks[name]``; return {name: ms}."""
    ms = {name: 1000 * float(np.median(np.concatenate(r))) for name, r in times.items()}
    print(f"  {'':40s} {'ms/step':>8s} {'speed-up':>9s} {'per round':>11s} "
          f"{'GFLOP/s':>8s} {'% of peak':>9s}")
    for name, per_round in times.items():
        ratios = [np.median(r) / np.median(o) for r, o in zip(times[reference], per_round)]
        rate = flops / ms[name] / 1e6
        print(f"  {name:40s} {ms[name]:8.2f} {ms[reference] / ms[name]:8.2f}x "
              f"{min(ratios):5.2f}-{max(ratios):4.2f} {rate:8.1f} "
              f"{100 * rate / peaks[name]:8.0f}%")
    return ms
