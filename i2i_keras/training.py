"""Trainers as ``keras.Model`` subclasses: ``compile`` then ``fit``, with every Keras
callback (ModelCheckpoint, TensorBoard, CSVLogger, EarlyStopping) working as usual.

:class:`Supervised` trains one network on registered pairs with a pixel loss (L1, SSIM,
gradient difference, perceptual or a mix): the recipe for denoising and super-resolution.

:class:`Pix2Pix` (Isola et al. 2017) trains a generator G and a conditional PatchGAN
discriminator D on registered pairs (x, y):

    D learns to tell (x, y) from (x, G(x));
    G learns to fool D and to stay close to y: loss = adversarial + lambda_l1 * |y - G(x)|.

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

import time
import types
import warnings

import keras
import tensorflow as tf
from keras import ops

from . import losses

# Our datasets shuffle themselves; Keras warns that fit's own shuffle flag is ignored.
warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed")


@keras.saving.register_keras_serializable(package="i2i_keras")
class Pix2Pix(keras.Model):
    """Paired image-to-image GAN: a generator and a conditional discriminator.

    generator: (B, H, W, Cx) → (B, H, W, Cy). discriminator: [x, y] → patch logits.
    Logged metrics: ``g_loss`` (adversarial + lambda_l1 * l1 [+ extra]), ``d_loss``,
    ``l1``, ``psnr`` (dB over the normalised range [-1, 1], data range 2) and ``extra``
    when compiled with an ``extra_loss``; in validation ``val_l1`` and ``val_psnr``.
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

    def compile(self, g_optimizer: keras.optimizers.Optimizer,
                d_optimizer: keras.optimizers.Optimizer, lambda_l1: float = 100.0,
                gan_loss: str = "vanilla", jit_compile: bool | str = False,
                extra_loss=None, **kwargs):
        """g_optimizer, d_optimizer: one optimizer each (pix2pix: Adam 2e-4, beta_1 0.5).
        lambda_l1: weight of the L1 term (100 in pix2pix). gan_loss: "vanilla",
        "lsgan" or "hinge" (see :func:`i2i_keras.losses.adversarial_loss`).
        jit_compile: XLA-compile the step (the step is always a compiled graph).
        extra_loss: None, or a term added to the generator loss, callable(y, G(x)) ->
        scalar, a name or a {name: weight} dict (:func:`i2i_keras.losses.get`); e.g.
        SRGAN-style ``extra_loss={"perceptual": 1.0}`` with a small ``lambda_l1``."""
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.lambda_l1, self.gan_loss = float(lambda_l1), gan_loss
        self.d_loss_fn, self.g_adv_fn = losses.adversarial_loss(gan_loss)
        self.extra_loss = extra_loss
        self.extra_loss_fn = None if extra_loss is None else losses.get(extra_loss)

    @property
    def metrics(self):
        extra = [self.extra_tracker] if getattr(self, "extra_loss_fn", None) else []
        return [self.g_loss_tracker, self.d_loss_tracker, self.l1_tracker,
                self.psnr_tracker] + extra

    def call(self, x, training: bool = False):
        return self.generator(x, training=training)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(x, training=True)
            # One discriminator pass judges real and fake pairs together.
            logits = self.discriminator([ops.concatenate([x, x], 0),
                                         ops.concatenate([y, fake], 0)], training=True)
            logits = ops.cast(logits, "float32")
            real_logits, fake_logits = ops.split(logits, 2, axis=0)
            fake = ops.cast(fake, "float32")
            l1 = losses.l1(y, fake)
            g_loss = self.g_adv_fn(fake_logits) + self.lambda_l1 * l1
            if self.extra_loss_fn is not None:  # e.g. a perceptual loss (SRGAN)
                extra = self.extra_loss_fn(y, fake)
                g_loss = g_loss + extra
            d_loss = self.d_loss_fn(real_logits, fake_logits)
        g_vars, d_vars = self.generator.trainable_variables, self.discriminator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        del tape
        self.g_loss_tracker.update_state(g_loss)
        self.d_loss_tracker.update_state(d_loss)
        self.l1_tracker.update_state(l1)
        self.psnr_tracker.update_state(losses.psnr(y, fake))
        if self.extra_loss_fn is not None:
            self.extra_tracker.update_state(extra)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        fake = ops.cast(self.generator(x, training=False), "float32")
        self.l1_tracker.update_state(losses.l1(y, fake))
        self.psnr_tracker.update_state(losses.psnr(y, fake))
        return {"l1": self.l1_tracker.result(), "psnr": self.psnr_tracker.result()}

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
                  "lambda_l1": self.lambda_l1, "gan_loss": self.gan_loss}
        if self.extra_loss is not None:
            config["extra_loss"] = _loss_config(self.extra_loss)
        return config

    def compile_from_config(self, config):
        extra = config.get("extra_loss")
        self.compile(keras.saving.deserialize_keras_object(config["g_optimizer"]),
                     keras.saving.deserialize_keras_object(config["d_optimizer"]),
                     config["lambda_l1"], config["gan_loss"],
                     extra_loss=None if extra is None else _loss_from_config(extra))
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)


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
class Supervised(keras.Model):
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
                jit_compile: bool | str = False, **kwargs):
        """optimizer: e.g. Adam(1e-3). loss: "l1", "l2", "ssim", "gradient_difference",
        "perceptual", a {name: weight} mix such as {"l1": 1.0, "perceptual": 0.1}, or a
        callable(y_true, y_pred) -> scalar (see :func:`i2i_keras.losses.get`).
        jit_compile: XLA-compile the step (the step is always a compiled graph)."""
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        self.loss_spec, self.loss_fn = loss, losses.get(loss)

    @property
    def metrics(self):
        return [self.loss_tracker, self.l1_tracker, self.psnr_tracker]

    def call(self, x, training: bool = False):
        return self.network(x, training=training)

    def _loss(self, x, y, training: bool):
        pred = ops.cast(self.network(x, training=training), "float32")
        y = ops.cast(y, "float32")
        loss = self.loss_fn(y, pred)
        if training and self.network.losses:  # weight regularisers, if any
            loss = loss + ops.sum(self.network.losses)
        return loss, y, pred

    def _log(self, loss, y, pred):
        self.loss_tracker.update_state(loss)
        self.l1_tracker.update_state(losses.l1(y, pred))
        self.psnr_tracker.update_state(losses.psnr(y, pred))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss, y, pred = self._loss(x, y, training=True)
            scaled = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return self._log(loss, y, pred)

    def test_step(self, data):
        x, y = data
        return self._log(*self._loss(x, y, training=False))

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


class NaNGuard(keras.callbacks.Callback):
    """Stop training at the first NaN or Inf loss, saying which and what to try.

    Keras' TerminateOnNaN stops too, but silently about the cause; a student needs
    to know that a diverged GAN usually wants a lower learning rate or lsgan.
    """

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if "loss" in name and not ops.isfinite(value):
                print(f"\nNaNGuard: {name} became {float(value)} at batch {batch}; training "
                      "stopped. Try a lower learning rate, gan_loss='lsgan', or check the "
                      "inputs for NaN/Inf.")
                self.model.stop_training = True
                return


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

        self.bar = tqdm(total=self.params.get("epochs"), unit="epoch", mininterval=0)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({k: f"{float(logs[k]):.4g}" for k in self.keys if k in logs},
                             refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()
