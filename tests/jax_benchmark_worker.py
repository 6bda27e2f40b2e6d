"""Run by tests/test_jax_benchmark.py with KERAS_BACKEND=jax and TensorFlow made
unimportable, as on a GPU machine that has JAX but no TensorFlow: the JAX reference step
of benchmarks/jax_trainer_speed.py and our trainers take the same first Adam step from
the same weights. Prints one JSON line of findings."""

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
LR = 2e-4
adam = lambda: keras.optimizers.Adam(LR, beta_1=0.5, epsilon=1e-12)  # noqa: E731
found = {"has_gpu": hardware.has_gpu(), "policy": hardware.recommended_policy(gpu=False)}
for kind in ("pix2pix", "cyclegan"):
    ref = ReferenceJaxSteps(kind, 16, batch=2, optimizer=adam, reference=reference)
    ours = OurJaxSteps(kind, 16, batch=2, precision="float32", optimizer=adam,
                       reference=reference)
    ours.x, ours.y = (np.asarray(v) for v in (ref.x, ref.y))  # the same batch
    nets = ours.gens + ours.discs
    before = [[np.asarray(v.value) for v in n.trainable_variables] for n in nets]
    same_start = all(np.array_equal(b, np.asarray(r)) for bn, rn in zip(before, ref.state[0])
                     for b, r in zip(bn, rn))
    ref.seconds(1)
    ours.trainer.fit(ours.x, ours.y, batch_size=2, epochs=1, verbose=0)
    # Adam's first step moves each weight by the learning rate times the sign of its
    # gradient whatever the loss's scale (our discriminator losses are halves, 0.5 (real +
    # fake), as in the CycleGAN paper; reference_gan's pix2pix one is not), except where
    # the gradient is as small as Adam's epsilon: made 1e-12 here so that no gradient is.
    moves = []
    for net, start, mine in zip(nets, before, jax.device_get(ref.state[0])):
        for v, b, r in zip(net.trainable_variables, start, mine):
            moves.append(np.stack([np.asarray(v.value) - b, np.asarray(r) - b]).reshape(2, -1))
    ours_move, ref_move = np.concatenate(moves, axis=1)
    found[kind] = {"same_start": same_start, "weights": ours_move.size,
                   "worst_move_difference": float(np.max(np.abs(ours_move - ref_move)) / LR),
                   "smallest_move": float(np.min(np.abs(ref_move)) / LR)}
print("RESULT " + json.dumps(found))
