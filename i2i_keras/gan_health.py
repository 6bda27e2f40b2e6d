"""Is this GAN training healthy? A callback that watches the discriminator and the fakes.

GANs fail in a few recognisable ways (Goodfellow 2016, "NIPS tutorial", §5; Arjovsky &
Bottou 2017):

- **the discriminator wins**: it tells every real image from every fake one, its loss
  goes to zero and the generator stops learning anything but the pixel loss;
- **collapse**: the generator makes (nearly) the same image whatever the input, so the
  fakes of a batch differ far less than the real images do;
- **oscillation**: the two chase each other and the validation error jumps around.

:class:`GANHealth` measures, every ``every`` training steps, on one fixed batch
(x, y) of held-out pairs:

- ``acc_real``, ``acc_fake``: the share of the discriminator's patch decisions that are
  right on real pairs (x, y) and on fake ones (x, G(x)). The threshold is the loss's
  own: logit 0 for vanilla (sigmoid 0.5) and hinge, 0.5 for lsgan (targets 0 and 1);
  a WGAN critic has no absolute scale, so its threshold is the midpoint of its mean
  value on the real and the fake batch.
- ``grad_norm``: the discriminator's gradient norm with respect to the image it judges,
  per image, averaged over the fakes: how steep D is where the generator stands (the
  slope G follows). WGAN-GP holds it near 1; spectral norm bounds it; a D that wins
  with the vanilla loss makes it large (saturated sigmoid, steep logits).
- ``diversity``: the fakes' standard deviation across the batch (per pixel, averaged)
  over the real images' (1: as varied as the real images; near 0: collapse).

It warns, in words, once each, when D wins (``acc_real`` and ``acc_fake`` both above
``win_accuracy`` at ``patience`` checks in a row) and when collapse is likely
(``diversity`` below ``collapse_ratio``), and keeps every value in ``history`` (lists
with the ``step`` of each check) for plotting. Works with
:class:`~i2i_keras.training.Pix2Pix` on every Keras backend.

>>> import keras, numpy as np
>>> from i2i_keras import models, training
>>> x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
>>> gan = training.Pix2Pix(models.unet((16, 16, 1), depth=1, base_filters=4),
...                        models.patchgan((16, 16, 1), n_layers=1, base_filters=4))
>>> gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
>>> health = GANHealth(x[:4], x[:4], every=2, verbose=False)  # warnings kept, not printed
>>> _ = gan.fit(x, x, batch_size=4, epochs=2, verbose=0, callbacks=[health])
>>> health.history["step"], sorted(health.history)
([2, 4], ['acc_fake', 'acc_real', 'diversity', 'grad_norm', 'step'])
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import losses


def _sync(model: keras.Model) -> None:
    """On JAX ``fit`` keeps the newest weights outside the variables: put them back."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def d_accuracy(real_logits: np.ndarray, fake_logits: np.ndarray,
               gan_loss: str = "vanilla") -> tuple[float, float]:
    """(accuracy on real, accuracy on fake): the share of patch logits on the right side
    of the loss's threshold (see the module's docstring).

    >>> d_accuracy(np.array([2.0, -1.0]), np.array([-3.0, -2.0]))
    (0.5, 1.0)
    """
    real, fake = np.asarray(real_logits, float), np.asarray(fake_logits, float)
    if gan_loss == "lsgan":
        threshold = 0.5
    elif gan_loss == "wgan-gp":
        threshold = 0.5 * (real.mean() + fake.mean())
    else:
        threshold = 0.0
    return float(np.mean(real > threshold)), float(np.mean(fake <= threshold))


def diversity(fakes: np.ndarray, reals: np.ndarray) -> float:
    """Across-batch standard deviation of the fakes over that of the reals, each per
    pixel then averaged: about 1 when the fakes vary as the real images do, near 0 when
    the generator makes one image for every input (mode collapse). (B, H, W, C) each.

    >>> r = np.random.default_rng(0).normal(size=(4, 8, 8, 1))
    >>> diversity(r, r), diversity(np.repeat(r[:1], 4, axis=0), r)
    (1.0, 0.0)
    """
    real_spread = float(np.mean(np.std(reals, axis=0)))
    return float(np.mean(np.std(fakes, axis=0)) / max(real_spread, 1e-12))


class GANHealth(keras.callbacks.Callback):
    """Log D's accuracy on real and fake, its gradient norm and the fakes' diversity
    every ``every`` steps on the batch (x, y); warn when D wins or collapse is likely.

    x, y: (B, H, W, C) held-out pairs in the trainer's units (B >= 2; 8 to 16 is
    plenty). win_accuracy: D "wins" when it is right on more than this share of both the
    real and the fake patches (0.95) at ``patience`` checks in a row (3).
    collapse_ratio: collapse is likely when :func:`diversity` falls below it (0.5).
    verbose: print the warnings (always kept in ``warnings``).
    """

    def __init__(self, x, y, every: int = 50, win_accuracy: float = 0.95,
                 patience: int = 3, collapse_ratio: float = 0.5, verbose: bool = True):
        super().__init__()
        self.x, self.y = np.asarray(x, "float32"), np.asarray(y, "float32")
        if len(self.x) < 2:
            raise ValueError("GANHealth needs a batch of at least 2 pairs to measure the "
                             "fakes' diversity; give it 8 to 16 validation pairs")
        self.every, self.win_accuracy, self.patience = int(every), win_accuracy, int(patience)
        self.collapse_ratio, self.verbose = collapse_ratio, verbose
        self.history: dict[str, list] = {k: [] for k in ("step", "acc_real", "acc_fake",
                                                         "grad_norm", "diversity")}
        self.warnings: list[str] = []
        self.step, self.wins_in_a_row = 0, 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.check()

    def measure(self) -> dict:
        """The four values on the fixed batch, now."""
        _sync(self.model)
        gan = self.model
        x, y = ops.convert_to_tensor(self.x), ops.convert_to_tensor(self.y)
        fake = ops.convert_to_numpy(ops.cast(gan.generator(x, training=False), "float32"))
        real_logits = gan.discriminator([x, y], training=False)
        fake_logits = gan.discriminator([x, ops.convert_to_tensor(fake)], training=False)
        acc_real, acc_fake = d_accuracy(ops.convert_to_numpy(real_logits),
                                        ops.convert_to_numpy(fake_logits), gan.gan_loss)

        def value(image):  # D's mean logit per image, as the gradient penalty uses it
            logits = ops.cast(gan.discriminator([x, image], training=False), "float32")
            return ops.mean(ops.reshape(logits, (ops.shape(logits)[0], -1)), axis=1)

        grad = ops.convert_to_numpy(losses.input_gradient(value, fake))
        grad_norm = float(np.mean(np.sqrt(np.sum(grad.reshape(len(grad), -1) ** 2, axis=1))))
        return {"acc_real": acc_real, "acc_fake": acc_fake, "grad_norm": grad_norm,
                "diversity": diversity(fake, self.y)}

    def check(self) -> None:
        values = self.measure()
        self.history["step"].append(self.step)
        for name, v in values.items():
            self.history[name].append(v)
        won = min(values["acc_real"], values["acc_fake"]) > self.win_accuracy
        self.wins_in_a_row = self.wins_in_a_row + 1 if won else 0
        if self.wins_in_a_row == self.patience:
            self.warn(
                f"step {self.step}: the discriminator is winning: it is right on "
                f"{100 * values['acc_real']:.0f} % of real and {100 * values['acc_fake']:.0f} "
                f"% of fake patches at {self.patience} checks in a row, so the generator "
                "learns little from it. Try a lower learning rate for D, label smoothing, "
                "instance noise, spectral norm or gan_loss='lsgan'/'wgan-gp'.")
        if values["diversity"] < self.collapse_ratio:
            self.warn(
                f"step {self.step}: collapse is likely: the fakes vary across the batch only "
                f"{values['diversity']:.2f} times as much as the real images; the generator "
                "is ignoring its input. Look at a sample grid; lower the learning rate or "
                "use a steadier loss.")

    def warn(self, message: str) -> None:
        kind = message.split(":")[1]  # "the discriminator is winning" / "collapse ..."
        if any(kind == w.split(":")[1] for w in self.warnings):
            return  # once each: a notebook stays readable
        self.warnings.append(message)
        if self.verbose:
            print(f"GANHealth: {message}")
