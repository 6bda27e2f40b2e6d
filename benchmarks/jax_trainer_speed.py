"""Our trainers against the tutorial loops on Keras' JAX backend: the GPU benchmark for a
machine that has JAX but no TensorFlow.

    KERAS_BACKEND=jax python benchmarks/jax_trainer_speed.py [--batch 1] [--rounds 3]
        [--steps 10] [--only pix2pix|cyclegan] [--json results.json]

``trainer_speed.py`` times the ``tf.function`` reference steps of ``reference_gan.py``; it
needs TensorFlow on the device it measures. The GPU machine lent to this project holds
JAX and PyTorch but not TensorFlow, and nothing can be installed there (no package index;
the TensorFlow GPU wheels are gigabytes). So here the reference step is written again for
JAX, on the same networks (``reference_gan`` builds them with plain Keras 3, any backend)
and with the same loss functions (``keras.ops``: BCE from logits, L1 x 100; cycle 10,
identity 5). Its step is one ``jax.jit`` function of the weights, optimizer states and a
batch, as Keras' guide "Writing a training loop from scratch in JAX" writes one, with
one Adam per network. That reference is
compiled whole by XLA, so it is a harder yardstick than the TensorFlow loop (a
``tf.function`` without XLA runs op by op).

Ours runs ``i2i_keras.training.Pix2Pix`` / ``CycleGAN`` through ``fit`` on in-memory
arrays (JAX always compiles the step with XLA) at float32, mixed_float16 (with Keras'
loss scaling) and mixed_bfloat16. Two tables: "each step waited for" (the reference
blocks on each step's loss; ``fit`` has a per-step callback, so Keras waits for every
step and turns its logs into numbers, as it does for its progress bar) and "steps
queued" (the reference blocks after the last step; ``fit`` runs with ``verbose=0`` and
no per-step callback, so JAX dispatches the next step while the device runs the last).
On a GPU at batch 1 the difference between the two is the host's work per step. Timing
in interleaved rounds, FLOP counts and table are ``step_timing``'s, as in
``trainer_speed.py``; the matrix-multiply peaks are measured in the same run.
float32 matrix products and convolutions run as XLA does by default on the device (on
NVIDIA GPUs since Ampere that allows TensorFloat-32, as TensorFlow's default does too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import reference_gan  # noqa: E402
from step_timing import (  # noqa: E402
    StepTimer,
    best_gflops,
    our_trainer,
    print_table,
    reference_networks,
    step_flops,
    time_in_rounds,
)

from i2i_keras import hardware, speedups  # noqa: E402


class ReferenceJaxSteps:
    """The reference step in JAX: every network's weights, non-trainable state (batch-norm
    statistics, dropout seeds) and Adam state go in, one ``jax.vjp`` runs the forward
    passes of ``reference_gan``'s losses, and loss k's pullback updates network k, as the
    TensorFlow step's tapes do. ``reference``: the network builders (tests pass small
    stand-ins)."""

    def __init__(self, kind: str, size: int, batch: int, optimizer=None,
                 reference=reference_gan):
        keras.utils.set_random_seed(0)
        gens, discs = reference_networks(kind, size, reference)
        self.nets = gens + discs
        self.losses = (reference_gan.pix2pix_losses if kind == "pix2pix"
                       else reference_gan.cyclegan_losses)
        optimizer = optimizer or (lambda: keras.optimizers.Adam(2e-4, beta_1=0.5))
        self.optimizers = [optimizer() for _ in self.nets]
        for opt, net in zip(self.optimizers, self.nets):
            opt.build(net.trainable_variables)
        self.state = ([[v.value for v in n.trainable_variables] for n in self.nets],
                      [[v.value for v in n.non_trainable_variables] for n in self.nets],
                      [[v.value for v in o.variables] for o in self.optimizers])
        self.step = jax.jit(self._step, donate_argnums=0)
        rng = np.random.default_rng(0)
        self.x, self.y = (jnp.asarray(rng.uniform(-1, 1, (batch, size, size, 1)), "float32")
                          for _ in "xy")

    def _step(self, state, x, y):
        trainable, non_trainable, optimizer_states = state

        def forward(trainable):
            states = list(non_trainable)

            def network(i):
                def call(inputs):
                    out, states[i] = self.nets[i].stateless_call(trainable[i], states[i],
                                                                 inputs, training=True)
                    return out
                return call

            return self.losses(*map(network, range(len(self.nets))), x, y), states

        losses, pullback, non_trainable = jax.vjp(forward, trainable, has_aux=True)
        new_trainable, new_optimizer_states = [], []
        for k, opt in enumerate(self.optimizers):
            (grads,) = pullback([jnp.ones_like(v) if j == k else jnp.zeros_like(v)
                                 for j, v in enumerate(losses)])
            weights, opt_state = opt.stateless_apply(optimizer_states[k], grads[k], trainable[k])
            new_trainable.append(weights)
            new_optimizer_states.append(opt_state)
        return losses[0], (new_trainable, non_trainable, new_optimizer_states)

    def seconds(self, steps: int, queued: bool = False) -> list[float]:
        """Each step's seconds, waiting for each; or, ``queued``, the mean of ``steps``
        steps dispatched one after the other and waited for at the end."""
        times, start = [], time.perf_counter()
        for _ in range(steps):
            loss, self.state = self.step(self.state, self.x, self.y)
            if not queued:
                loss.block_until_ready()
                times.append(time.perf_counter() - start)
                start = time.perf_counter()
        if queued:
            loss.block_until_ready()
            times = [(time.perf_counter() - start) / steps] * steps
        return times


class OurJaxSteps:
    """Our trainer on the reference's networks, built under ``precision``, timed through
    ``fit`` on in-memory arrays."""

    def __init__(self, kind: str, size: int, batch: int, precision: str, optimizer=None,
                 reference=reference_gan):
        make_optimizer = optimizer or (lambda: speedups.FusedAdam(2e-4, beta_1=0.5))
        self.trainer, self.gens, self.discs = our_trainer(kind, size, precision,
                                                          make_optimizer, reference=reference)
        self.batch = batch
        rng = np.random.default_rng(0)
        self.x, self.y = (rng.uniform(-1, 1, (batch, size, size, 1)).astype("float32")
                          for _ in "xy")

    def seconds(self, steps: int, queued: bool = False) -> list[float]:
        """Each step's seconds through ``fit`` with a per-step callback (Keras then waits
        for every step, as with its progress bar); or, ``queued``, the mean step of a
        ``fit`` with no per-step callback (``verbose=0``), which lets JAX dispatch the
        next step while the device runs the last."""
        n = steps + 2
        x, y = (np.concatenate([v] * n) for v in (self.x, self.y))
        timer = QueuedTimer() if queued else StepTimer()
        self.trainer.fit(x, y, batch_size=self.batch, epochs=1, shuffle=False, verbose=0,
                         callbacks=[timer])
        if queued:
            return [timer.seconds / n] * steps
        return list(np.diff(timer.times)[1:])  # the first interval holds fit's start-up


class QueuedTimer(keras.callbacks.Callback):
    """Seconds from the start of the epoch until every step has finished on the device.
    It defines no per-step method, so Keras does not wait for each step."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        jax.block_until_ready([v.value for v in self.model.trainable_variables])
        self.seconds = time.perf_counter() - self.start


class Queued:
    """A configuration's steps, timed ``queued``."""

    def __init__(self, steps_of):
        self.steps_of = steps_of

    def seconds(self, steps: int) -> list[float]:
        return self.steps_of.seconds(steps, queued=True)


def matmul_peak(dtype: str, n: int = 8192, seconds: float = 2.0) -> float:
    """GFLOP/s of an n x n matrix product in ``dtype`` on JAX's default device (the best
    of repeated products, each waited for whole: XLA could compute only a slice of it)."""
    a, b = (jax.random.normal(jax.random.key(i), (n, n), dtype) for i in range(2))
    product = jax.jit(jnp.matmul)
    return best_gflops(lambda: product(a, b), 2.0 * n ** 3, seconds,
                       wait=jax.block_until_ready)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="steps of each configuration a round")
    p.add_argument("--only", choices=["pix2pix", "cyclegan"])
    p.add_argument("--sizes", type=int, nargs=2, default=(256, 128),
                   metavar=("PIX2PIX", "CYCLEGAN"), help="image sizes (the bars: 256 128)")
    p.add_argument("--precisions", nargs="+",
                   default=["float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args()
    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax")
    device = jax.devices()[0]
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"JAX {jax.__version__}, Keras {keras.__version__}; device: "
          f"{getattr(device, 'device_kind', device.platform)}")
    print(f"has_gpu() -> {hardware.has_gpu()}; recommended_policy() -> "
          f"{hardware.recommended_policy()!r}")
    dtypes = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
    peak = {p: matmul_peak(dtypes[p], n=8192 if device.platform == "gpu" else 1024)
            for p in a.precisions}
    print("matmul peak (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()),
          flush=True)
    results = {"device": str(getattr(device, "device_kind", device.platform)),
               "batch": a.batch, "peak_gflops": {k: round(v) for k, v in peak.items()}}
    for kind, size in zip(("pix2pix", "cyclegan"), a.sizes):
        if a.only and kind != a.only:
            continue
        ref_name = "reference loop (JAX jit), float32"
        runs = {ref_name: ReferenceJaxSteps(kind, size, a.batch)}
        peaks = {ref_name: peak.get("float32", max(peak.values()))}
        for precision in a.precisions:
            runs[f"i2i_keras fit, {precision}"] = OurJaxSteps(kind, size, a.batch, precision)
            peaks[f"i2i_keras fit, {precision}"] = peak[precision]
        ours = runs[list(runs)[-1]]
        flops = a.batch * step_flops(kind, ours.gens, ours.discs)
        print(f"\n{kind} {size}², batch {a.batch}: {flops / 1e9:.1f} GFLOP a step, "
              f"{a.rounds} rounds of {a.steps} steps")
        results[kind] = {}
        for how, timed in (("each step waited for", runs),
                           ("steps queued", {k: Queued(v) for k, v in runs.items()})):
            start = time.perf_counter()
            times = time_in_rounds(timed, a.rounds, a.steps)
            print(f" {how} ({time.perf_counter() - start:.0f} s, compiling included):")
            ms = print_table(times, ref_name, flops, peaks)
            results[kind][how] = {k: round(v, 3) for k, v in ms.items()}
            sys.stdout.flush()
    print(json.dumps(results))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
