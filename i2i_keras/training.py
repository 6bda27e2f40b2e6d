"""Trainers as ``keras.Model`` subclasses: ``compile`` then ``fit``, with every Keras
callback (ModelCheckpoint, TensorBoard, CSVLogger, EarlyStopping) working as usual.

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
"""

from __future__ import annotations

import time
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
    Logged metrics: ``g_loss`` (adversarial + lambda_l1 * l1), ``d_loss``, ``l1`` and
    ``psnr`` (dB over the normalised range [-1, 1], data range 2); in validation
    ``val_l1`` and ``val_psnr``. ``model(x)`` and ``predict`` run the generator.
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

    def compile(self, g_optimizer: keras.optimizers.Optimizer,
                d_optimizer: keras.optimizers.Optimizer, lambda_l1: float = 100.0,
                gan_loss: str = "vanilla", jit_compile: bool | str = False, **kwargs):
        """g_optimizer, d_optimizer: one optimizer each (pix2pix: Adam 2e-4, beta_1 0.5).
        lambda_l1: weight of the L1 term (100 in pix2pix). gan_loss: "vanilla",
        "lsgan" or "hinge" (see :func:`i2i_keras.losses.adversarial_loss`).
        jit_compile: XLA-compile the step (the step is always a compiled graph)."""
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.lambda_l1, self.gan_loss = float(lambda_l1), gan_loss
        self.d_loss_fn, self.g_adv_fn = losses.adversarial_loss(gan_loss)

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_loss_tracker, self.l1_tracker, self.psnr_tracker]

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
            d_loss = self.d_loss_fn(real_logits, fake_logits)
        g_vars, d_vars = self.generator.trainable_variables, self.discriminator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        del tape
        self.g_loss_tracker.update_state(g_loss)
        self.d_loss_tracker.update_state(d_loss)
        self.l1_tracker.update_state(l1)
        self.psnr_tracker.update_state(losses.psnr(y, fake))
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
        return {"g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
                "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                "lambda_l1": self.lambda_l1, "gan_loss": self.gan_loss}

    def compile_from_config(self, config):
        self.compile(keras.saving.deserialize_keras_object(config["g_optimizer"]),
                     keras.saving.deserialize_keras_object(config["d_optimizer"]),
                     config["lambda_l1"], config["gan_loss"])
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)


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
