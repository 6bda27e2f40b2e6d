"""Losses, written with ``keras.ops`` so they run on every Keras backend.

Adversarial losses come as one family: :func:`adversarial_loss` returns the pair
(discriminator loss, generator loss) for a kind, each a function of discriminator
logits.

Example
-------
>>> import numpy as np
>>> d_loss, g_loss = adversarial_loss("lsgan")
>>> float(d_loss(np.ones((1, 4, 4, 1)), np.zeros((1, 4, 4, 1))))
0.0
"""

from __future__ import annotations

from keras import ops

GAN_LOSSES = ("vanilla", "lsgan", "hinge")


def l1(y_true, y_pred):
    """Mean absolute error over all pixels (a scalar)."""
    return ops.mean(ops.abs(y_true - y_pred))


def l2(y_true, y_pred):
    """Mean squared error over all pixels (a scalar)."""
    return ops.mean(ops.square(y_true - y_pred))


def psnr(y_true, y_pred, data_range: float = 2.0):
    """Mean over the batch of per-image PSNR in dB; data_range 2.0 for [-1, 1] images."""
    mse = ops.mean(ops.square(y_true - y_pred), axis=tuple(range(1, len(y_true.shape))))
    return ops.mean(10.0 * ops.log10(data_range ** 2 / ops.maximum(mse, 1e-12)))


def _bce_logits(logits, target: float):
    # log(1 + e^-x) for real (target 1), log(1 + e^x) for fake (target 0), stable.
    return ops.mean(ops.softplus(-logits if target == 1.0 else logits))


def adversarial_loss(kind: str = "vanilla"):
    """(d_loss(real_logits, fake_logits), g_loss(fake_logits)) for one GAN loss.

    vanilla: binary cross-entropy on logits (Goodfellow et al. 2014; the generator
    maximises log D(fake), the non-saturating form). lsgan: least squares toward 1 and 0
    (Mao et al. 2017), steadier gradients. hinge: max(0, 1 ∓ D) for the discriminator,
    -D(fake) for the generator (Lim & Ye 2017; used with spectral norm). The
    discriminator loss is halved as in pix2pix, so D learns at half G's pace.
    """
    if kind == "vanilla":
        def d_loss(real, fake):
            return 0.5 * (_bce_logits(real, 1.0) + _bce_logits(fake, 0.0))

        def g_loss(fake):
            return _bce_logits(fake, 1.0)
    elif kind == "lsgan":
        def d_loss(real, fake):
            return 0.5 * (ops.mean(ops.square(real - 1.0)) + ops.mean(ops.square(fake)))

        def g_loss(fake):
            return ops.mean(ops.square(fake - 1.0))
    elif kind == "hinge":
        def d_loss(real, fake):
            return 0.5 * (ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake)))

        def g_loss(fake):
            return -ops.mean(fake)
    else:
        raise ValueError(f"gan_loss must be one of {GAN_LOSSES}, got {kind!r}")
    return d_loss, g_loss
