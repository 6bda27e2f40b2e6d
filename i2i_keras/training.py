"""Trainers as ``keras.Model`` subclasses: ``compile`` then ``fit``, with every Keras
callback (ModelCheckpoint, TensorBoard, CSVLogger, EarlyStopping) working as usual, on
every Keras backend (TensorFlow, JAX, PyTorch).

Each trainer has two parts worth reading:

- ``compute_losses(x, y) -> (losses, logs)``: the losses of one step, in ``keras.ops``
  (so the same code runs on every backend): one loss per optimizer, in the order of
  ``optimizer_groups()``, and the values to log.
- ``train_step``: the gradient step on TensorFlow, written out as the TensorFlow pix2pix
  tutorial writes it (tapes, gradients, ``apply_gradients``). On JAX and PyTorch the
  step takes the same losses' gradients the way those backends do, following keras-io's
  custom-train-step guides, in :mod:`i2i_keras.backend_steps`.

:class:`Supervised` trains one network on registered pairs with a pixel loss (L1, SSIM,
gradient difference, perceptual or a mix): the recipe for denoising and super-resolution.

:class:`Pix2Pix` (Isola et al. 2017) trains a generator G and a conditional PatchGAN
discriminator D on registered pairs (x, y):

    D learns to tell (x, y) from (x, G(x));
    G learns to fool D and to stay close to y: loss = adversarial + lambda_l1 * |y - G(x)|.

:class:`CycleGAN` (Zhu et al. 2017) trains two generators and two discriminators on
unpaired images. Speed-ups that need Keras internals (a fused Adam, one weight cast per
step under mixed precision) are opt-in, in :mod:`i2i_keras.speedups`.

Example
-------
>>> import keras
>>> from i2i_keras import models, training
>>> gan = training.Pix2Pix(models.unet((64, 64, 1), depth=3, base_filters=8),
...                        models.patchgan((64, 64, 1), n_layers=2, base_filters=8))
>>> gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
>>> # history = gan.fit(train_ds, validation_data=val_ds, epochs=10)
>>> # gan.generator.save("mr_to_ct.keras")
>>> net = training.Supervised(models.unet((64, 64, 1), depth=3, base_filters=8, residual=True))
>>> net.compile(keras.optimizers.Adam(1e-3), loss={"l1": 1.0, "ssim": 0.5})
>>> # net.fit(train_ds, validation_data=val_ds, epochs=10); net.network.save("denoiser.keras")
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import types
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import ops

from . import backend_steps, losses
from .backend_steps import OptimizerGroup, unpack

# Our datasets shuffle themselves; Keras warns that fit's own shuffle flag is ignored.
warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed")


def loss_scaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` in a ``keras.optimizers.LossScaleOptimizer`` under the
    "mixed_float16" policy (float16 gradients underflow without one), else as it is.
    Keras wraps the optimizer given to ``Model.compile`` itself; a GAN's two optimizers
    reach our ``compile`` under their own names, so the trainers call this."""
    if (keras.mixed_precision.global_policy().name == "mixed_float16"
            and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def replicas_in_sync() -> int:
    """How many replicas share a step: under ``tf.distribute`` (MirroredStrategy) each
    sees its share of the batch and the optimizers *sum* their gradients, so each
    replica's loss is divided by this number (1 elsewhere)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


class Trainer(keras.Model):
    """What the trainers share: ``compile`` (``jit_compile=None`` means each backend's
    usual compiled step), logging, the test step, and the JAX/PyTorch train steps of
    :mod:`i2i_keras.backend_steps`. A trainer provides

        optimizer_groups() -> [(optimizer, variables), ...]    one group per loss
        compute_losses(x, y) -> ([one loss per group], {name: value to log})
        test_values(x, y) -> {name: value to log}
        train_step(data): its TensorFlow step, written out

    and one ``keras.metrics.Mean`` per logged name in ``metrics``.
    """

    def compile(self, optimizer=None, jit_compile=None, **kwargs):
        """keras.Model.compile, where ``jit_compile=None`` means each backend's usual
        compiled step: a TensorFlow graph (no XLA), ``jax.jit`` (without it JAX runs op
        by op) and eager PyTorch; and ``optimizer=None`` (the GANs) means the
        optimizers of ``optimizer_groups``, seen by Keras as one OptimizerGroup."""
        if jit_compile is None:
            jit_compile = keras.backend.backend() == "jax"
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if optimizer is None:
            self.optimizer = OptimizerGroup(self.optimizer_groups)

    def forward_scope(self):
        """The context the TensorFlow step runs its forward pass in: nothing, unless
        :func:`i2i_keras.speedups.cast_once_per_step` switched a speed-up on."""
        return contextlib.nullcontext()

    def log(self, values: dict) -> dict:
        """Update the tracker of each logged value; return what ``fit`` shows."""
        trackers = {m.name: m for m in self.metrics}
        for name, value in values.items():
            trackers[name].update_state(value)
        return {name: trackers[name].result() for name in values}

    def test_step(self, *args):  # (data), or (state, data) on JAX
        if keras.backend.backend() == "jax":
            return backend_steps.jax_test_step(self, *args)
        return self.log(self.test_values(*unpack(args[0])))


@keras.saving.register_keras_serializable(package="i2i_keras")
class Pix2Pix(Trainer):
    """Paired image-to-image GAN: a generator and a conditional discriminator.

    generator: (B, H, W, Cx) → (B, H, W, Cy). discriminator: [x, y] → patch logits.
    Logged metrics: ``g_loss`` (adversarial + lambda_l1 * l1 [+ extra]), ``d_loss``,
    ``l1``, ``psnr`` (dB over the normalised range [-1, 1], data range 2), ``extra``
    when compiled with an ``extra_loss`` and ``gp`` (the gradient penalty, before
    lambda_gp) with ``gan_loss="wgan-gp"``; in validation ``val_l1`` and ``val_psnr``.
    ``model(x)`` and ``predict`` run the generator.
    Keras cannot guess the direction of these names: give EarlyStopping and
    ModelCheckpoint ``mode="min"`` for ``val_l1`` and ``mode="max"`` for ``val_psnr``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.built = True  # both networks are built functional models
        self.generator = generator
        self.discriminator = discriminator
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.l1_tracker = keras.metrics.Mean(name="l1")
        self.psnr_tracker = keras.metrics.Mean(name="psnr")
        self.extra_tracker = keras.metrics.Mean(name="extra")
        self.gp_tracker = keras.metrics.Mean(name="gp")

    def compile(self, g_optimizer: keras.optimizers.Optimizer,
                d_optimizer: keras.optimizers.Optimizer, lambda_l1: float = 100.0,
                gan_loss: str = "vanilla", jit_compile: bool | str | None = None,
                extra_loss=None, lambda_gp: float = 10.0, n_critic: int = 1,
                label_smoothing: float = 0.0, instance_noise: float = 0.0, **kwargs):
        """g_optimizer, d_optimizer: one optimizer each (pix2pix: Adam 2e-4, beta_1 0.5).
        lambda_l1: weight of the L1 term (100 in pix2pix). gan_loss: "vanilla",
        "lsgan", "hinge" or "wgan-gp" (see :func:`i2i_keras.losses.adversarial_loss`).
        jit_compile: True to XLA-compile the step; None, each backend's usual compiled
        step (a TensorFlow graph, ``jax.jit``, eager PyTorch).
        extra_loss: None, or a term added to the generator loss, callable(y, G(x)) ->
        scalar, a name or a {name: weight} dict (:func:`i2i_keras.losses.get`); e.g.
        SRGAN-style ``extra_loss={"perceptual": 1.0}`` with a small ``lambda_l1``.

        Stabilisers (GAN training fails when D wins or the pair oscillates):
        lambda_gp: weight of WGAN-GP's :func:`~i2i_keras.losses.gradient_penalty`
        (10 in Gulrajani et al.), used with ``gan_loss="wgan-gp"`` only.
        n_critic: discriminator updates per generator update (WGAN-GP: 5); the extra
        ones reuse the step's batch, as keras-io's WGAN-GP example does.
        label_smoothing: one-sided, real target 1 - label_smoothing (0.1: Salimans et al.
        2016); vanilla and lsgan only. instance_noise: std of Gaussian noise (normalised
        units) added to the real and the fake image that D sees (Sønderby et al. 2017):
        the two distributions overlap, so D cannot separate them perfectly."""
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer, self.d_optimizer = loss_scaled(g_optimizer), loss_scaled(d_optimizer)
        self.lambda_l1, self.gan_loss = float(lambda_l1), gan_loss
        self.lambda_gp, self.n_critic = float(lambda_gp), int(n_critic)
        self.label_smoothing, self.instance_noise = float(label_smoothing), float(instance_noise)
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}")
        self.d_loss_fn, self.g_adv_fn = losses.adversarial_loss(gan_loss, 1.0 - label_smoothing)
        if gan_loss == "wgan-gp" or instance_noise > 0:  # the penalty's and the noise's draws
            self.seed_generator = keras.random.SeedGenerator(0)
        self.extra_loss = extra_loss
        self.extra_loss_fn = None if extra_loss is None else losses.get(extra_loss)

    @property
    def metrics(self):
        extra = [self.extra_tracker] if getattr(self, "extra_loss_fn", None) else []
        gp = [self.gp_tracker] if getattr(self, "gan_loss", None) == "wgan-gp" else []
        return [self.g_loss_tracker, self.d_loss_tracker, self.l1_tracker,
                self.psnr_tracker] + extra + gp

    def call(self, x, training: bool = False):
        return self.generator(x, training=training)

    def compute_losses(self, x, y):
        """The losses of one step: ([generator loss, discriminator loss], logs)."""
        fake = self.generator(x, training=True)
        # Two discriminator passes, as in pix2pix: batch-norm statistics stay per pass,
        # and the generator's gradient flows back through the fake pass only (one joint
        # pass over [real, fake] measured 10 % slower on the U-Net-256 step of
        # benchmarks/trainer_speed.py).
        real_logits = ops.cast(self.discriminator([x, self.noisy(y)], training=True), "float32")
        fake_logits = ops.cast(self.discriminator([x, self.noisy(fake)], training=True),
                               "float32")
        fake = ops.cast(fake, "float32")  # float32 losses under mixed precision
        l1 = losses.l1(y, fake)
        g_loss = self.g_adv_fn(fake_logits) + self.lambda_l1 * l1
        logs = {"l1": l1, "psnr": losses.psnr(y, fake)}
        if self.extra_loss_fn is not None:  # e.g. a perceptual loss (SRGAN)
            logs["extra"] = self.extra_loss_fn(y, fake)
            g_loss = g_loss + logs["extra"]
        d_loss = self.d_loss_fn(real_logits, fake_logits)
        if self.gan_loss == "wgan-gp":  # the critic's slope held near 1 (Gulrajani et al.)
            logs["gp"] = losses.gradient_penalty(
                lambda image: self.discriminator([x, image], training=False), y, fake,
                seed=self.seed_generator)
            d_loss = d_loss + self.lambda_gp * logs["gp"]
        return [g_loss, d_loss], {"g_loss": g_loss, "d_loss": d_loss, **logs}

    def noisy(self, image):
        """``image`` plus instance noise (Gaussian, std ``instance_noise``), if any."""
        if not getattr(self, "instance_noise", 0.0):
            return image
        noise = keras.random.normal(ops.shape(image), stddev=self.instance_noise,
                                    seed=self.seed_generator)
        return image + ops.cast(noise, image.dtype)

    def discriminator_step(self, x, y):
        """One update of the discriminator alone (WGAN's extra critic steps), TensorFlow."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            (_, d_loss), _ = self.compute_losses(x, y)
            d_loss = self.d_optimizer.scale_loss(d_loss / replicas_in_sync())
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))

    def train_step(self, *args):
        """One pix2pix step on TensorFlow, as the TensorFlow tutorial writes it. (JAX
        hands Keras' step its state too: see backend_steps.py.)"""
        if keras.backend.backend() != "tensorflow":
            return backend_steps.train_step(self, *args)
        import tensorflow as tf

        x, y = unpack(args[0])
        for _ in range(self.n_critic - 1):  # WGAN: more critic updates than generator ones
            self.discriminator_step(x, y)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            with self.forward_scope():  # nothing, unless a speed-up is switched on
                (g_loss, d_loss), logs = self.compute_losses(x, y)
            # Each replica's share under tf.distribute; scaled up under mixed_float16.
            g_loss = self.g_optimizer.scale_loss(g_loss / replicas_in_sync())
            d_loss = self.d_optimizer.scale_loss(d_loss / replicas_in_sync())
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        g_grads = g_tape.gradient(g_loss, g_vars)
        d_grads = d_tape.gradient(d_loss, d_vars)
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        return self.log(logs)

    def optimizer_groups(self):
        return [(self.g_optimizer, self.generator.trainable_variables),
                (self.d_optimizer, self.discriminator.trainable_variables)]

    def test_values(self, x, y):
        fake = ops.cast(self.generator(x, training=False), "float32")
        return {"l1": losses.l1(y, fake), "psnr": losses.psnr(y, fake)}

    # Saving: the whole trainer (ModelCheckpoint) and its compile settings.
    def get_config(self):
        return {"generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("generator")),
                   keras.saving.deserialize_keras_object(config.pop("discriminator")), **config)

    def get_compile_config(self):
        config = {"g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
                  "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                  "lambda_l1": self.lambda_l1, "gan_loss": self.gan_loss,
                  "lambda_gp": self.lambda_gp, "n_critic": self.n_critic,
                  "label_smoothing": self.label_smoothing,
                  "instance_noise": self.instance_noise}
        if self.extra_loss is not None:
            config["extra_loss"] = _loss_config(self.extra_loss)
        return config

    def compile_from_config(self, config):
        extra = config.get("extra_loss")
        self.compile(keras.saving.deserialize_keras_object(config["g_optimizer"]),
                     keras.saving.deserialize_keras_object(config["d_optimizer"]),
                     config["lambda_l1"], config["gan_loss"],
                     extra_loss=None if extra is None else _loss_from_config(extra),
                     **{k: config[k] for k in ("lambda_gp", "n_critic", "label_smoothing",
                                               "instance_noise") if k in config})
        self.optimizer.build()


@keras.saving.register_keras_serializable(package="i2i_keras")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate held at ``initial`` for the first ``hold_steps``, then decayed
    linearly to 0 at ``total_steps`` (pix2pix decays from the start, CycleGAN over the
    second half of training: ``hold_steps = total_steps // 2``)."""

    def __init__(self, initial: float, total_steps: int, hold_steps: int = 0):
        self.initial, self.total_steps = float(initial), max(1, int(total_steps))
        self.hold_steps = min(int(hold_steps), self.total_steps - 1)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        done = (step - self.hold_steps) / float(self.total_steps - self.hold_steps)
        return self.initial * ops.clip(1.0 - done, 0.0, 1.0)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps,
                "hold_steps": self.hold_steps}


def adam(learning_rate: float, total_steps: int, hold_fraction: float = 0.0,
         beta_1: float = 0.5) -> keras.optimizers.Adam:
    """Adam as GANs use it (beta_1 = 0.5) with a :class:`LinearDecay` schedule: the rate
    is held for ``hold_fraction`` of ``total_steps`` and then falls linearly to 0.

    >>> opt = adam(2e-4, total_steps=100, hold_fraction=0.5)
    >>> type(opt).__name__, opt.beta_1
    ('Adam', 0.5)
    >>> schedule = LinearDecay(2e-4, total_steps=100, hold_steps=50)  # the rate it follows
    >>> [round(float(schedule(step)), 6) for step in (0, 50, 75, 100)]
    [0.0002, 0.0002, 0.0001, 0.0]
    """
    schedule = LinearDecay(learning_rate, total_steps, int(hold_fraction * total_steps))
    return keras.optimizers.Adam(schedule, beta_1=beta_1)


@keras.saving.register_keras_serializable(package="i2i_keras")
class ImagePool(keras.layers.Layer):
    """The history of generated images that CycleGAN's discriminators learn from
    (Shrivastava et al. 2017): with it a discriminator cannot forget the generator's
    past mistakes, and the two oscillate less.

    Calling the pool with a batch of new fakes (B, H, W, C) returns a batch of the same
    shape. Until the pool holds ``size`` images each new fake is stored and returned;
    after that, each is returned as is with probability 1/2, or else swapped for a
    stored image picked at random, which the new one replaces. Everything, the random
    draws included, is graph code on keras Variables: no per-step Python or NumPy.
    """

    def __init__(self, size: int = 50, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"ImagePool needs a fixed image shape, got {input_shape}: give "
                             "the generators a fixed input_shape such as (64, 64, 1)")
        # Under tf.distribute, the first replica's writes are the pool's (each replica
        # still draws from it for its own share of the batch).
        self.images = self.add_weight(shape=(max(self.size, 1),) + tuple(input_shape[1:]),
                                      initializer="zeros", trainable=False, name="images",
                                      aggregation="only_first_replica")
        self.count = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                     trainable=False, name="count",
                                     aggregation="only_first_replica")

    def call(self, fakes):
        fakes = ops.cast(fakes, self.images.dtype)
        if self.size == 0:
            return fakes
        n = ops.shape(fakes)[0]
        slot = self.count + ops.arange(n, dtype="int32")  # where a fill-up write goes
        full = slot >= self.size
        pick = keras.random.randint((n,), 0, self.size, dtype="int32", seed=self.seed_generator)
        swap = ops.logical_and(full, keras.random.uniform((n,), seed=self.seed_generator) < 0.5)
        stored = ops.take(self.images, pick, axis=0)
        swap4 = ops.reshape(swap, (-1, 1, 1, 1))
        # Fill-up: write the fake at its slot. Swap: write it over the picked image.
        # Keep: write the picked image back onto itself (a no-op), so one scatter does all.
        where = ops.where(full, pick, slot)
        keep4 = ops.reshape(ops.logical_and(full, ops.logical_not(swap)), (-1, 1, 1, 1))
        self.images.assign(ops.scatter_update(self.images, ops.expand_dims(where, 1),
                                              ops.where(keep4, stored, fakes)))
        self.count.assign(ops.minimum(self.count + n, self.size))
        return ops.where(swap4, stored, fakes)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="i2i_keras")
class CycleGAN(Trainer):
    """Unpaired image-to-image GAN (Zhu et al. 2017): two generators, two discriminators.

    generator_ab: A → B (e.g. MR → CT), generator_ba: B → A. discriminator_a judges
    images of domain A alone (unconditional :func:`~i2i_keras.models.patchgan`),
    discriminator_b those of B. Trained on batches (a, b) drawn independently (see
    :func:`i2i_keras.datasets.unpaired_dataset`); the losses are

        adversarial:  D_B(G(a)) and D_A(F(b)) should look real;
        cycle:        F(G(a)) ≈ a and G(F(b)) ≈ b  (L1, weight lambda_cycle = 10);
        identity:     G(b) ≈ b and F(a) ≈ a       (L1, weight lambda_identity x lambda_cycle);
        optional, for MR (A) → CT (B): lambda_tv x total variation of G(a), and
        lambda_air x :func:`~i2i_keras.losses.air_loss` on (G(a), a) and (b, F(b)).

    Each discriminator learns from real images and from an :class:`ImagePool` of the
    generator's past fakes. Logged: ``g_loss``, ``d_loss``, ``cycle``, ``identity``;
    with ``validation_data`` of registered (a, b) pairs, ``val_l1`` and ``val_psnr``
    of G(a) against b. ``model(a)`` and ``predict`` run generator_ab; both generators
    save and load alone (``cyclegan.generator_ab.save("mr_to_ct.keras")``).
    """

    def __init__(self, generator_ab: keras.Model, generator_ba: keras.Model,
                 discriminator_a: keras.Model, discriminator_b: keras.Model,
                 pool_size: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.generator_ab, self.generator_ba = generator_ab, generator_ba
        self.discriminator_a, self.discriminator_b = discriminator_a, discriminator_b
        self.pool_size = int(pool_size)
        self.pool_a, self.pool_b = ImagePool(pool_size, name="pool_a"), ImagePool(
            pool_size, name="pool_b")
        self.pool_a.build((None,) + tuple(generator_ba.output_shape[1:]))
        self.pool_b.build((None,) + tuple(generator_ab.output_shape[1:]))
        self.built = True
        self.trackers = {k: keras.metrics.Mean(name=k)
                         for k in ("g_loss", "d_loss", "cycle", "identity", "l1", "psnr")}

    def compile(self, g_optimizer: keras.optimizers.Optimizer,
                d_optimizer: keras.optimizers.Optimizer, lambda_cycle: float = 10.0,
                lambda_identity: float = 0.5, gan_loss: str = "lsgan",
                lambda_tv: float = 0.0, lambda_air: float = 0.0,
                air_thresholds: dict | None = None, jit_compile: bool | str | None = None,
                **kwargs):
        """g_optimizer trains both generators, d_optimizer both discriminators (CycleGAN:
        Adam 2e-4, beta_1 0.5, :func:`adam` with ``hold_fraction=0.5``). lambda_identity
        is relative to lambda_cycle (0.5 in CycleGAN; 0 switches it off). gan_loss:
        "lsgan" (CycleGAN's choice), "vanilla" or "hinge". lambda_tv, lambda_air: weights
        of the total variation of G(a) and of :func:`~i2i_keras.losses.air_loss`;
        air_thresholds: its keyword arguments (``ct_air``, ``mr_dark``, ``ct_bone``), e.g.
        ``{"ct_bone": -0.13, "mr_dark": -0.3}`` to treat bone above +300 HU as a
        signal void too."""
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer, self.d_optimizer = loss_scaled(g_optimizer), loss_scaled(d_optimizer)
        self.lambda_cycle, self.lambda_identity = float(lambda_cycle), float(lambda_identity)
        self.lambda_tv, self.lambda_air, self.gan_loss = float(lambda_tv), float(
            lambda_air), gan_loss
        self.air_thresholds = dict(air_thresholds or {})
        self.d_loss_fn, self.g_adv_fn = losses.adversarial_loss(gan_loss)

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def generators(self):
        return [self.generator_ab, self.generator_ba]

    @property
    def discriminators(self):
        return [self.discriminator_a, self.discriminator_b]

    def call(self, a, training: bool = False):
        return self.generator_ab(a, training=training)

    def compute_losses(self, a, b):
        """The losses of one step: ([generators' loss, discriminators' loss], logs)."""
        f32 = lambda t: ops.cast(t, "float32")  # noqa: E731  (mixed precision)
        use_identity = self.lambda_identity > 0
        # One pass per generator over its real input and, for the identity term, over an
        # image already of its output domain (instance norm: the two do not mix).
        out_ab = f32(self.generator_ab(ops.concatenate([a, b], 0) if use_identity else a,
                                       training=True))
        out_ba = f32(self.generator_ba(ops.concatenate([b, a], 0) if use_identity else b,
                                       training=True))
        n = ops.shape(a)[0]
        fake_b, fake_a = out_ab[:n], out_ba[:n]
        cycle = (losses.l1(a, f32(self.generator_ba(fake_b, training=True)))
                 + losses.l1(b, f32(self.generator_ab(fake_a, training=True))))
        identity = (losses.l1(b, out_ab[n:]) + losses.l1(a, out_ba[n:])
                    if use_identity else ops.zeros(()))
        # Each discriminator learns from one pass over [real, pooled fakes]; the generators
        # from a second pass over this step's fakes, so their gradient goes back through
        # that pass only (one joint pass of all three measured 9 % slower at 64²).
        pooled_b = ops.stop_gradient(self.pool_b(fake_b))
        pooled_a = ops.stop_gradient(self.pool_a(fake_a))
        real_b, pool_b = ops.split(f32(self.discriminator_b(
            ops.concatenate([b, pooled_b], 0), training=True)), 2, axis=0)
        real_a, pool_a = ops.split(f32(self.discriminator_a(
            ops.concatenate([a, pooled_a], 0), training=True)), 2, axis=0)
        gen_b = f32(self.discriminator_b(fake_b, training=True))
        gen_a = f32(self.discriminator_a(fake_a, training=True))
        g_loss = (self.g_adv_fn(gen_b) + self.g_adv_fn(gen_a) + self.lambda_cycle * cycle
                  + self.lambda_identity * self.lambda_cycle * identity)
        if self.lambda_tv:
            g_loss = g_loss + self.lambda_tv * losses.total_variation(fake_b)
        if self.lambda_air:
            g_loss = g_loss + self.lambda_air * (
                losses.air_loss(fake_b, a, **self.air_thresholds)
                + losses.air_loss(b, fake_a, **self.air_thresholds))
        # Each discriminator's loss is 0.5 (real + fake), as in CycleGAN, so D learns
        # slower than G: d_loss_fn halves already (losses.adversarial_loss); summed, not
        # halved again, since the two discriminators share no weights.
        d_loss = self.d_loss_fn(real_b, pool_b) + self.d_loss_fn(real_a, pool_a)
        return [g_loss, d_loss], {"g_loss": g_loss, "d_loss": d_loss, "cycle": cycle,
                                  "identity": identity}

    def train_step(self, *args):
        """One CycleGAN step on TensorFlow, as keras-io's CycleGAN example writes it:
        one tape for both generators, one for both discriminators. (JAX hands Keras'
        step its state too: see backend_steps.py.)"""
        if keras.backend.backend() != "tensorflow":
            return backend_steps.train_step(self, *args)
        import tensorflow as tf

        a, b = unpack(args[0])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            with self.forward_scope():  # nothing, unless a speed-up is switched on
                (g_loss, d_loss), logs = self.compute_losses(a, b)
            # Each replica's share under tf.distribute; scaled up under mixed_float16.
            g_loss = self.g_optimizer.scale_loss(g_loss / replicas_in_sync())
            d_loss = self.d_optimizer.scale_loss(d_loss / replicas_in_sync())
        (_, g_vars), (_, d_vars) = self.optimizer_groups()
        g_grads = g_tape.gradient(g_loss, g_vars)
        d_grads = d_tape.gradient(d_loss, d_vars)
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        return self.log(logs)

    def optimizer_groups(self):
        """Both generators' weights with g_optimizer, both discriminators' with d_optimizer."""
        return [(self.g_optimizer, [v for m in self.generators for v in m.trainable_variables]),
                (self.d_optimizer,
                 [v for m in self.discriminators for v in m.trainable_variables])]

    def test_values(self, a, b):  # registered pairs: how close is G(a) to the true b?
        fake = ops.cast(self.generator_ab(a, training=False), "float32")
        return {"l1": losses.l1(b, fake), "psnr": losses.psnr(b, fake)}

    # Saving: the whole trainer (ModelCheckpoint) and its compile settings.
    _NETS = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")

    def get_config(self):
        return {**{k: keras.saving.serialize_keras_object(getattr(self, k))
                   for k in self._NETS}, "pool_size": self.pool_size, "name": self.name}

    @classmethod
    def from_config(cls, config):
        nets = [keras.saving.deserialize_keras_object(config.pop(k)) for k in cls._NETS]
        return cls(*nets, **config)

    def get_compile_config(self):
        return {"g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
                "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                "lambda_cycle": self.lambda_cycle, "lambda_identity": self.lambda_identity,
                "gan_loss": self.gan_loss, "lambda_tv": self.lambda_tv,
                "lambda_air": self.lambda_air, "air_thresholds": self.air_thresholds}

    def compile_from_config(self, config):
        config = dict(config)
        g_opt = keras.saving.deserialize_keras_object(config.pop("g_optimizer"))
        d_opt = keras.saving.deserialize_keras_object(config.pop("d_optimizer"))
        self.compile(g_opt, d_opt, **config)
        self.optimizer.build()


def _loss_config(loss) -> dict:
    """How a trainer's compile config records a loss: names and {name: weight} dicts as
    they are, callables through Keras serialisation when Keras can restore them."""
    if isinstance(loss, str):
        return {"spec": loss}
    if isinstance(loss, dict):
        return {"spec": {str(k): float(v) for k, v in loss.items()}}
    if isinstance(loss, types.FunctionType):
        name = keras.saving.get_registered_name(loss)
        if keras.saving.get_registered_object(name) is loss:
            return {"object": keras.saving.serialize_keras_object(loss)}
    elif hasattr(loss, "get_config"):
        try:
            return {"object": keras.saving.serialize_keras_object(loss)}
        except TypeError:
            pass
    warnings.warn(f"the loss {loss!r} cannot be saved with the trainer (register it with "
                  "keras.saving.register_keras_serializable, or use a name); a reloaded "
                  "trainer must be compiled again before it trains", stacklevel=3)
    return {"unsaved": repr(loss)}


def _loss_from_config(config: dict):
    if "spec" in config:
        return config["spec"]
    if "object" in config:
        return keras.saving.deserialize_keras_object(config["object"])
    return _UnsavedLoss(config["unsaved"])


class _UnsavedLoss:
    """Stands in for a loss that could not be saved: fails with the remedy."""

    def __init__(self, description: str):
        self.description = description

    def __call__(self, y_true, y_pred):
        raise RuntimeError(f"this trainer was saved with a loss that could not be saved "
                           f"({self.description}); compile it again, keeping its optimizer "
                           "state: trainer.compile(trainer.optimizer, loss=...)")

    def __repr__(self) -> str:
        return f"<unsaved loss {self.description}>"


@keras.saving.register_keras_serializable(package="i2i_keras")
class Supervised(Trainer):
    """One network trained on registered pairs (x, y) with a pixel loss.

    network: (B, H, W, Cx) -> (B, H, W, Cy), e.g. a residual :func:`~i2i_keras.models.unet`
    for denoising or :func:`~i2i_keras.models.srcnn` for super-resolution.
    Logged metrics: ``loss`` (the training loss), ``l1`` and ``psnr`` (dB over the
    normalised range [-1, 1], data range 2), and ``val_loss``, ``val_l1``,
    ``val_psnr`` in validation. ``model(x)`` and ``predict`` run the network;
    ``network.save("net.keras")`` saves it alone, and ModelCheckpoint saves the whole
    trainer with its optimizer state and loss. Give EarlyStopping and ModelCheckpoint
    ``mode="max"`` for ``val_psnr``.

    >>> net = Supervised(models.srcnn())                                # doctest: +SKIP
    >>> net.compile(keras.optimizers.Adam(1e-3), loss="l1")             # doctest: +SKIP
    >>> net.fit(train_ds, validation_data=val_ds, epochs=20)            # doctest: +SKIP
    """

    def __init__(self, network: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.built = True  # the network is a built functional model
        self.network = network
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.l1_tracker = keras.metrics.Mean(name="l1")
        self.psnr_tracker = keras.metrics.Mean(name="psnr")

    def compile(self, optimizer: keras.optimizers.Optimizer, loss="l1",
                jit_compile: bool | str | None = None, **kwargs):
        """optimizer: e.g. Adam(1e-3). loss: "l1", "l2", "ssim", "gradient_difference",
        "perceptual", a {name: weight} mix such as {"l1": 1.0, "perceptual": 0.1}, or a
        callable(y_true, y_pred) -> scalar (see :func:`i2i_keras.losses.get`).
        jit_compile: as for :meth:`Pix2Pix.compile`."""
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        self.loss_spec, self.loss_fn = loss, losses.get(loss)

    @property
    def metrics(self):
        return [self.loss_tracker, self.l1_tracker, self.psnr_tracker]

    def call(self, x, training: bool = False):
        return self.network(x, training=training)

    def _values(self, x, y, training: bool):
        pred = ops.cast(self.network(x, training=training), "float32")
        y = ops.cast(y, "float32")
        loss = self.loss_fn(y, pred)
        if training and self.network.losses:  # weight regularisers, if any
            loss = loss + ops.sum(self.network.losses)
        return loss, {"loss": loss, "l1": losses.l1(y, pred), "psnr": losses.psnr(y, pred)}

    def compute_losses(self, x, y):
        """The loss of one step: ([loss], logs)."""
        loss, logs = self._values(x, y, training=True)
        return [loss], logs

    def train_step(self, *args):
        """One step on TensorFlow: a tape, the loss, its gradient, the update. (JAX hands
        Keras' step its state too: see backend_steps.py.)"""
        if keras.backend.backend() != "tensorflow":
            return backend_steps.train_step(self, *args)
        import tensorflow as tf

        x, y = unpack(args[0])
        with tf.GradientTape() as tape:
            with self.forward_scope():  # nothing, unless a speed-up is switched on
                (loss,), logs = self.compute_losses(x, y)
            # Each replica's share under tf.distribute; scaled up under mixed_float16.
            loss = self.optimizer.scale_loss(loss / replicas_in_sync())
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self.log(logs)

    def optimizer_groups(self):
        return [(self.optimizer, self.network.trainable_variables)]

    def test_values(self, x, y):
        return self._values(x, y, training=False)[1]

    # Saving: the whole trainer (ModelCheckpoint) and its compile settings.
    def get_config(self):
        return {"network": keras.saving.serialize_keras_object(self.network),
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("network")), **config)

    def get_compile_config(self):
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer),
                "loss": _loss_config(self.loss_spec)}

    def compile_from_config(self, config):
        self.compile(keras.saving.deserialize_keras_object(config["optimizer"]),
                     loss=_loss_from_config(config["loss"]))
        self.optimizer.build(self.network.trainable_variables)


def state_variables(model: keras.Model) -> list:
    """Every variable a trainer's training step changes, each once: the networks'
    weights and statistics, a CycleGAN's ImagePool images, the random generators'
    states (``model.variables``), and its optimizers' moments, step counts and learning
    rates (both optimizers of a GAN). What :class:`BackupAndRestore` saves and
    :class:`NaNGuard` rolls back.

    >>> from i2i_keras import models
    >>> net = Supervised(models.unet((16, 16, 1), depth=1, base_filters=4))
    >>> net.compile(keras.optimizers.Adam(1e-3))
    >>> net.optimizer.build(net.trainable_variables)
    >>> len(state_variables(net)) == len(net.variables) + len(net.optimizer.variables)
    True
    """
    optimizer = getattr(model, "optimizer", None)
    found, seen = [], set()
    for v in [*model.variables, *(optimizer.variables if optimizer is not None else [])]:
        if id(v) not in seen:
            seen.add(id(v))
            found.append(v)
    return found


def _sync(model: keras.Model) -> None:
    """On JAX, ``fit`` keeps the newest weights outside the variables during an epoch:
    put them back (``fit`` then reads the variables again before its next step)."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def _build_optimizers(model: keras.Model) -> None:
    """Create the optimizers' variables (moments, step count) if no step made them yet."""
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


class BackupAndRestore(keras.callbacks.Callback):
    """Resume a ``fit`` that was killed (a dead kernel, a rebooted machine) from its last
    completed epoch, as if it had never stopped.

    Like ``keras.callbacks.BackupAndRestore``: at each epoch's end the training state is
    saved in ``backup_dir``; run the same ``fit`` again (same model, compile and fit
    arguments, this callback) and it starts where the backup ends. The state here is
    everything a trainer's step changes (:func:`state_variables`): the weights, *both*
    optimizers of a GAN (their moments, and their step counts, which are where a
    :class:`LinearDecay` schedule stands), a CycleGAN's :class:`ImagePool` and the
    random generators' states. With ``data=`` the training set (from
    :func:`~i2i_keras.datasets.paired_dataset` or
    :func:`~i2i_keras.datasets.unpaired_dataset`) draws each epoch's order and
    augmentation from its seed and the epoch number
    (:func:`~i2i_keras.datasets.set_epoch`), so the resumed epochs see the batches an
    uninterrupted run would have seen: the same seed gives the same weights.

    A kill at any moment, even while a backup is written, leaves the previous backup
    whole: each is written to a new file (NumPy ``.npz`` of plain arrays) and then renamed
    over the last. ``backup_dir``: a folder for this run alone; ``delete_when_done``:
    remove it when ``fit`` ends (it is kept after a kill or an exception).

    >>> import tempfile
    >>> from i2i_keras import datasets, models
    >>> x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16)).astype("float32")
    >>> train_ds = datasets.paired_dataset(x, x, 4, augment=True)  # (4, 16, 16, 1) pairs
    >>> net = Supervised(models.unet((16, 16, 1), depth=1, base_filters=4))
    >>> net.compile(keras.optimizers.Adam(1e-3))
    >>> folder = tempfile.mkdtemp()
    >>> backup = BackupAndRestore(folder, data=train_ds, delete_when_done=False)
    >>> net.fit(train_ds, epochs=2, verbose=0, callbacks=[backup]).epoch
    [0, 1]
    >>> # Had the kernel died in epoch 3, the same fit again runs epochs 3 and 4 only:
    >>> again = net.fit(train_ds, epochs=4, verbose=0, callbacks=[backup])  # doctest: +ELLIPSIS
    BackupAndRestore: resuming after epoch 2 from ...
    >>> again.epoch
    [2, 3]
    >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(self, backup_dir, data=None, delete_when_done: bool = True):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.data = data
        self.delete_when_done = delete_when_done

    def on_train_begin(self, logs=None):
        latest = self.backup_dir / "latest.json"
        if not latest.exists():
            return
        done = json.loads(latest.read_text())
        _build_optimizers(self.model)
        variables = state_variables(self.model)
        with np.load(self.backup_dir / done["file"]) as saved:  # plain arrays only
            values = [saved[f"v{i}"] for i in range(len(saved.files) - 1)]
            paths = saved["paths"]
        shapes = [tuple(v.shape) for v in variables]
        if shapes != [value.shape for value in values]:
            raise ValueError(f"the backup in {self.backup_dir} holds {len(values)} variables "
                             f"({', '.join(paths[:3])}...), not this model's {len(variables)} "
                             f"of these shapes: it was made by another model; delete the "
                             "folder or give this run a folder of its own")
        for variable, value in zip(variables, values):
            variable.assign(value)
        # Where fit starts: keras.callbacks.BackupAndRestore sets the same attribute.
        self.model._initial_epoch = done["epoch"]
        print(f"BackupAndRestore: resuming after epoch {done['epoch']} from {self.backup_dir}")

    def on_epoch_begin(self, epoch, logs=None):
        if self.data is not None:
            from . import datasets

            datasets.set_epoch(self.data, epoch)

    def on_epoch_end(self, epoch, logs=None):
        _sync(self.model)
        variables = state_variables(self.model)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch + 1}.npz"
        arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
        arrays["paths"] = np.array([v.path for v in variables])  # for messages only
        partial = self.backup_dir / f"{name}.partial"
        with open(partial, "wb") as f:
            np.savez(f, **arrays)
        partial.replace(self.backup_dir / name)  # a rename: whole or not at all
        latest = self.backup_dir / "latest.json.partial"
        latest.write_text(json.dumps({"epoch": epoch + 1, "file": name}))
        latest.replace(self.backup_dir / "latest.json")
        for old in self.backup_dir.glob("epoch-*.npz*"):  # older backups, stray partials
            if old.name != name:
                old.unlink()

    def on_train_end(self, logs=None):
        if self.data is not None:
            from . import datasets

            datasets.set_epoch(self.data, None)
        if self.delete_when_done and self.backup_dir.exists():
            shutil.rmtree(self.backup_dir)


@keras.saving.register_keras_serializable(package="i2i_keras")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule times ``factor``: how :class:`NaNGuard` halves a rate
    that follows a schedule (e.g. :class:`LinearDecay`).

    >>> half = ScaledSchedule(LinearDecay(2e-4, total_steps=100), 0.5)
    >>> [round(float(half(step)), 6) for step in (0, 50)]
    [0.0001, 5e-05]
    """

    def __init__(self, schedule, factor: float):
        self.schedule, self.factor = schedule, float(factor)

    def __call__(self, step):
        return self.factor * self.schedule(step)

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule),
                "factor": self.factor}

    @classmethod
    def from_config(cls, config):
        return cls(keras.optimizers.schedules.deserialize(config["schedule"]), config["factor"])


def _halve_learning_rate(optimizer) -> tuple[float, bool]:
    """Halve ``optimizer``'s learning rate. Returns the new rate and whether it follows a
    schedule (the compiled step must then be traced again to see the new one)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's
    rate = inner.get_config()["learning_rate"]
    if isinstance(rate, dict):  # a schedule, serialised
        inner.learning_rate = ScaledSchedule(keras.optimizers.schedules.deserialize(rate), 0.5)
        return float(inner.learning_rate), True
    inner.learning_rate = 0.5 * float(rate)
    return 0.5 * float(rate), False


class NaNGuard(keras.callbacks.Callback):
    """Catch a NaN or Inf loss: roll back, halve the learning rate and go on; if it comes
    back, stop and say why.

    A diverged step writes NaN into the weights and the optimizer's moments, so going
    on is useless and the last good state is needed. The guard keeps one (all of
    :func:`state_variables`, in memory) at the start, at each epoch's end, or every
    ``every`` batches, whenever every value in it is finite. At the first non-finite
    loss (a logged value with "loss" in its name) it restores that state, halves every
    optimizer's learning rate and goes on; after ``retries`` such halvings, the next
    one restores the state again and stops training. Each message names the likely
    cause: float16 overflow (a float16 dtype policy), a learning rate too high (the
    loss grew before it failed) or an input batch with NaN/Inf (it was steady).
    ``rollback=False`` stops at the first non-finite loss, as Keras' TerminateOnNaN
    does, but with the cause. Rollback costs a copy of the weights and optimizer state
    per snapshot (three times the weights' size with Adam).

    >>> callbacks = [NaNGuard()]               # roll back once, then stop
    >>> callbacks = [NaNGuard(every=100)]      # a snapshot every 100 batches
    """

    def __init__(self, rollback: bool = True, every: int | None = None, retries: int = 1):
        super().__init__()
        self.rollback, self.every, self.retries = rollback, every, int(retries)

    def on_train_begin(self, logs=None):
        self.epoch, self.batches, self.halvings = 0, 0, 0
        self.seen: dict[str, list[float]] = {}  # finite values of each loss, in order
        self.good = self.good_when = None
        if self.rollback:
            _build_optimizers(self.model)
            self._keep("the start of training")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        for name, value in (logs or {}).items():
            if "loss" not in name:
                continue
            value = float(ops.convert_to_numpy(value))
            if not np.isfinite(value):
                return self._failed(f"{name} became {value}", name, batch)
            self.seen.setdefault(name, []).append(value)
        if self.rollback and self.every and self.batches % self.every == 0:
            self._keep(f"epoch {self.epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if self.rollback and not self.every and not self.model.stop_training:
            self._keep(f"the end of epoch {epoch + 1}")

    def _keep(self, when: str) -> None:
        """Keep the current state as the last good one, if all of it is finite."""
        _sync(self.model)
        values = [np.array(v.numpy()) for v in state_variables(self.model)]
        if all(np.isfinite(value).all() for value in values):
            self.good, self.good_when = values, when
        else:  # a step left NaN/Inf in the weights before any loss showed it
            self._failed("a weight became NaN/Inf", None, None)

    def likely_cause(self, name: str | None) -> str:
        """The most likely reason for the non-finite ``name``, with what to try."""
        policies = {keras.mixed_precision.global_policy().compute_dtype,
                    self.model.compute_dtype}
        if "float16" in policies:
            return ("float16 overflow: under a float16 policy a value beyond 65504 becomes "
                    "Inf; lower the learning rate, or train in float32 or mixed_bfloat16")
        values = self.seen.get(name, [])
        if values and values[-1] > 4.0 * min(values):
            return (f"learning rate too high: {name} grew from {min(values):.3g} to "
                    f"{values[-1]:.3g} before it failed; lower the learning rate (GANs: "
                    "or gan_loss='lsgan')")
        steady = f" was steady ({values[-1]:.3g}) and" if values else ""
        return (f"bad input: the loss{steady} failed in one step, as a batch with NaN/Inf "
                "values makes it; check the data with np.isfinite (or, if it is clean, "
                "lower the learning rate)")

    def _failed(self, what: str, name: str | None, batch: int | None) -> None:
        where = f"epoch {self.epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
        cause = self.likely_cause(name)
        if not self.rollback or self.good is None:
            print(f"\nNaNGuard: {what} at {where}; training stopped. Likely cause: {cause}.")
            self.model.stop_training = True
            return
        _sync(self.model)
        for variable, value in zip(state_variables(self.model), self.good):
            variable.assign(value)
        self.model.reset_metrics()  # the epoch's running means hold the NaN too
        if self.halvings >= self.retries:
            print(f"\nNaNGuard: {what} at {where}, again after halving the learning rate; "
                  f"restored the weights of {self.good_when}; training stopped. Likely "
                  f"cause: {cause}.")
            self.model.stop_training = True
            return
        self.halvings += 1
        optimizer = self.model.optimizer
        halved = [_halve_learning_rate(opt) for opt in getattr(optimizer, "optimizers",
                                                                [optimizer])]
        rates = ", ".join(f"{rate:.3g}" for rate, _ in halved)
        scheduled = any(scheduled for _, scheduled in halved)
        if scheduled:  # the compiled step read the old schedule when it was traced
            self.model.make_train_function(force=True)
        print(f"\nNaNGuard: {what} at {where}; restored the weights of {self.good_when}, "
              f"halved the learning rate (now {rates}{', half its schedule' * scheduled}) "
              f"and going on. Likely cause: {cause}.")


class TimeBudget(keras.callbacks.Callback):
    """Stop at the end of the epoch in which ``minutes`` of training have passed,
    so a tutorial's full run stays inside its time even on a slower machine."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = 60.0 * minutes

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            print(f"TimeBudget: {self.seconds / 60:g} minutes used after epoch {epoch + 1}; "
                  "stopping.")
            self.model.stop_training = True


class ProgressBar(keras.callbacks.Callback):
    """One text progress bar over the epochs with the latest metrics beside it and the
    time left; short in a saved notebook (use it with ``fit(..., verbose=0)``)."""

    def __init__(self, keys=("l1", "val_l1", "val_psnr")):
        super().__init__()
        self.keys = keys

    def on_train_begin(self, logs=None):
        from tqdm import tqdm

        # On standard output: in a notebook, standard error shows as red, as if failing.
        self.bar = tqdm(total=self.params.get("epochs"), unit="epoch", mininterval=0,
                        file=sys.stdout)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({k: f"{float(logs[k]):.4g}" for k in self.keys if k in logs},
                             refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()
