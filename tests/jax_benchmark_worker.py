"""Run by tests/test_jax_benchmark.py with KERAS_BACKEND=jax and TensorFlow made
unimportable, as on a GPU machine that has JAX but no TensorFlow: the JAX reference step
of benchmarks/jax_trainer_speed.py and our trainers, from the same weights on the same
batch, take the same SGD steps (so they compute the same losses and gradients, loss weights
included), and a trainer with a loss weight 10 % off does not. Prints one JSON line of
findings."""

import json
import sys
import types
from pathlib import Path

sys.modules["tensorflow"] = None  # `import tensorflow` now raises ImportError
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from jax_trainer_speed import OurJaxSteps, ReferenceJaxSteps  # noqa: E402

from i2i_keras import hardware  # noqa: E402


def unet_generator(size, channels, norm="batch"):
    """A two-level stand-in for reference_gan's U-Net (its builder's signature; no
    dropout, whose random draws the two trainers would make differently)."""
    x = keras.Input((size, size, channels))
    d = keras.layers.Conv2D(4, 4, strides=2, padding="same", use_bias=False)(x)
    d = _norm(norm)(d)
    d = keras.layers.LeakyReLU(0.2)(d)
    u = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same", use_bias=False)(d)
    u = keras.layers.Concatenate()([_norm(norm)(u), x])
    y = keras.layers.Conv2D(channels, 3, padding="same", activation="tanh")(u)
    return keras.Model(x, y)


def patchgan(size, channels, conditional=True, norm="batch"):
    tar = keras.Input((size, size, channels))
    inputs = [keras.Input((size, size, channels)), tar] if conditional else tar
    x = keras.layers.Concatenate()(inputs) if conditional else tar
    x = keras.layers.Conv2D(4, 4, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.LeakyReLU(0.2)(_norm(norm)(x))
    return keras.Model(inputs, keras.layers.Conv2D(1, 4, padding="same")(x))


def _norm(kind):
    return (keras.layers.BatchNormalization() if kind == "batch"
            else keras.layers.GroupNormalization(groups=-1))


reference = types.SimpleNamespace(unet_generator=unet_generator, patchgan=patchgan)
LR, STEPS = 0.05, 3
# Plain SGD: a step moves each weight by -LR x its gradient, so weights after a few steps
# compare the gradients themselves, loss weights included (Adam's first step is
# LR x sign(gradient) whatever the loss's scale or weighting, and stays close to it while
# the gradients keep their signs). losses.adversarial_loss halves every discriminator
# loss, 0.5 (real + fake). For pix2pix that is half the reference's: reference_gan's
# pix2pix loss is (real + fake), the TensorFlow tutorial's. For CycleGAN it is the
# reference's and the paper's, 0.5 (real + fake), which CycleGAN.compute_losses sums over
# the two discriminators without halving again (it used to, 0.25 (real + fake): this
# worker found it). Under SGD a loss at half scale is a discriminator at half the rate, so
# the reference's pix2pix discriminator gets LR / 2, and the two trajectories must then be
# the same.
LOSS_WEIGHTS = {"pix2pix": {"lambda_l1": 100.0}, "cyclegan": {"lambda_cycle": 10.0}}
DISCRIMINATOR_SCALE = {"pix2pix": 0.5, "cyclegan": 1.0}  # ours over the reference's


def sgd_rates(kind):
    """The reference's optimizer factory: one SGD per network, generators first."""
    n = 1 if kind == "pix2pix" else 2
    rates = iter([LR] * n + [LR * DISCRIMINATOR_SCALE[kind]] * n)
    return lambda: keras.optimizers.SGD(next(rates))


def our_moves(kind, ref, start, **wrong):
    """Our trainer on the reference's initial weights and batch, STEPS steps; its weights
    minus ``start``. ``wrong``: a loss weight to compile with instead of the reference's."""
    ours = OurJaxSteps(kind, 16, batch=2, precision="float32",
                       optimizer=lambda: keras.optimizers.SGD(LR), reference=reference)
    if wrong:
        weights = dict(lambda_l1=100.0) if kind == "pix2pix" else dict(
            lambda_cycle=10.0, lambda_identity=0.5)
        ours.trainer.compile(keras.optimizers.SGD(LR), keras.optimizers.SGD(LR),
                             gan_loss="vanilla", **{**weights, **wrong})
    x, y = (np.concatenate([np.asarray(v)] * STEPS) for v in (ref.x, ref.y))
    nets = ours.gens + ours.discs
    same = all(np.array_equal(np.asarray(v.value), b)
               for n, bn in zip(nets, start) for v, b in zip(n.trainable_variables, bn))
    ours.trainer.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    moves = [np.asarray(v.value) - b for n, bn in zip(nets, start)
             for v, b in zip(n.trainable_variables, bn)]
    return same, np.concatenate([m.ravel() for m in moves])


found = {"has_gpu": hardware.has_gpu(), "policy": hardware.recommended_policy(gpu=False),
         "steps": STEPS}
for kind in ("pix2pix", "cyclegan"):
    ref = ReferenceJaxSteps(kind, 16, batch=2, optimizer=sgd_rates(kind), reference=reference)
    start = [[np.asarray(v) for v in net] for net in ref.state[0]]
    same_start, ours = our_moves(kind, ref, start)
    ref.seconds(STEPS)
    theirs = np.concatenate([(np.asarray(r) - b).ravel() for rn, bn in
                             zip(jax.device_get(ref.state[0]), start) for r, b in zip(rn, bn)])
    scale = float(np.abs(theirs).max())
    # The same trainer with one loss weight 10 % off must land visibly elsewhere.
    name, value = next(iter(LOSS_WEIGHTS[kind].items()))
    _, wrong = our_moves(kind, ref, start, **{name: 0.9 * value})
    found[kind] = {"same_start": same_start, "weights": int(ours.size), "largest_move": scale,
                   "worst_difference": float(np.abs(ours - theirs).max()) / scale,
                   "wrong_weight": f"{name} = {0.9 * value:g}",
                   "wrong_weight_difference": float(np.abs(wrong - theirs).max()) / scale}
print("RESULT " + json.dumps(found))
