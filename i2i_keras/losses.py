"""Losses, written with ``keras.ops`` so they run on every Keras backend.

Pixel losses (:func:`l1`, :func:`l2`), structure losses (:func:`ssim_loss`,
:func:`gradient_difference`) and a feature loss (:class:`PerceptualLoss`) take
(y_true, y_pred) images (B, H, W, C) in [-1, 1] and return a scalar; :func:`get` makes
one from a name or a weighted mix. Adversarial losses come as one family:
:func:`adversarial_loss` returns the pair (discriminator loss, generator loss) for a
kind, each a function of discriminator logits.

Example
-------
>>> import numpy as np
>>> d_loss, g_loss = adversarial_loss("lsgan")
>>> float(d_loss(np.ones((1, 4, 4, 1)), np.zeros((1, 4, 4, 1))))
0.0
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from keras import ops

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "wgan-gp")


@keras.saving.register_keras_serializable(package="i2i_keras")
def l1(y_true, y_pred):
    """Mean absolute error over all pixels (a scalar)."""
    return ops.mean(ops.abs(y_true - y_pred))


@keras.saving.register_keras_serializable(package="i2i_keras")
def l2(y_true, y_pred):
    """Mean squared error over all pixels (a scalar)."""
    return ops.mean(ops.square(y_true - y_pred))


@keras.saving.register_keras_serializable(package="i2i_keras")
class WindowedL1:
    """L1 after clipping both images to a display window (a scalar): the error a reader
    sees at that window, so the loss spends nothing on differences the window hides.

    Args:
        low, high: the window in the network's units (e.g. soft tissue, -160 to 240 HU,
            through :meth:`i2i_keras.datasets.IntensityWindow.normalize`).

    Outside the window the gradient is zero where both images are on the same side, so
    add it to a plain :func:`l1` (as tutorial 05 does) when the whole range matters.

    >>> soft = WindowedL1(-0.5, 0.5)
    >>> float(soft(np.full((1, 2, 2, 1), 2.0), np.full((1, 2, 2, 1), 3.0)))  # both above
    0.0
    >>> float(soft(np.zeros((1, 2, 2, 1)), np.full((1, 2, 2, 1), 3.0)))      # 0 vs 0.5
    0.5
    """

    def __init__(self, low: float, high: float):
        if not low < high:
            raise ValueError(f"the window needs low < high, got ({low}, {high})")
        self.low, self.high = float(low), float(high)

    def __call__(self, y_true, y_pred):
        return ops.mean(ops.abs(ops.clip(y_true, self.low, self.high)
                                - ops.clip(y_pred, self.low, self.high)))

    def get_config(self) -> dict:
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_config(cls, config: dict) -> WindowedL1:
        return cls(**config)


def psnr(y_true, y_pred, data_range: float = 2.0):
    """Mean over the batch of per-image PSNR in dB; data_range 2.0 for [-1, 1] images."""
    mse = ops.mean(ops.square(y_true - y_pred), axis=tuple(range(1, len(y_true.shape))))
    return ops.mean(10.0 * ops.log10(data_range ** 2 / ops.maximum(mse, 1e-12)))


def _bce_logits(logits, target: float):
    """Binary cross-entropy of sigmoid(logits) against ``target`` (1 real, 0 fake, or a
    smoothed 0.9), stable: t log(1 + e^-x) + (1 - t) log(1 + e^x)."""
    loss = 0.0
    if target > 0.0:
        loss = loss + target * ops.softplus(-logits)
    if target < 1.0:
        loss = loss + (1.0 - target) * ops.softplus(logits)
    return ops.mean(loss)


def adversarial_loss(kind: str = "vanilla", real_label: float = 1.0):
    """(d_loss(real_logits, fake_logits), g_loss(fake_logits)) for one GAN loss.

    vanilla: binary cross-entropy on logits (Goodfellow et al. 2014; the generator
    maximises log D(fake), the non-saturating form). lsgan: least squares toward 1 and 0
    (Mao et al. 2017), steadier gradients. hinge: max(0, 1 ∓ D) for the discriminator,
    -D(fake) for the generator (Lim & Ye 2017; used with spectral norm). The
    discriminator loss of these three is halved as in pix2pix, so D learns at half G's
    pace. wgan-gp: the Wasserstein critic loss mean D(fake) - mean D(real) and -D(fake)
    for the generator (Arjovsky et al. 2017), not halved; it needs a Lipschitz critic, so
    add ``lambda_gp`` x :func:`gradient_penalty` to the critic's loss (Gulrajani et al.
    2017; :class:`~i2i_keras.training.Pix2Pix` does with ``gan_loss="wgan-gp"``).

    real_label: the target of real images, 1; 0.9 is one-sided label smoothing
    (Salimans et al. 2016: the discriminator is never pushed to total confidence on real
    images; the fake target stays 0). Only vanilla and lsgan have targets to smooth.

    >>> d_loss, g_loss = adversarial_loss("wgan-gp")
    >>> float(d_loss(np.full((1, 2, 2, 1), 3.0), np.full((1, 2, 2, 1), 1.0)))  # 1 - 3
    -2.0
    """
    if real_label != 1.0 and kind not in ("vanilla", "lsgan"):
        raise ValueError(f"label smoothing (real_label={real_label}) needs a loss with "
                         f"targets, 'vanilla' or 'lsgan', not {kind!r}: hinge and wgan-gp "
                         "have none; use real_label=1.0 with them")
    if kind == "vanilla":
        def d_loss(real, fake):
            return 0.5 * (_bce_logits(real, real_label) + _bce_logits(fake, 0.0))

        def g_loss(fake):
            return _bce_logits(fake, 1.0)
    elif kind == "lsgan":
        def d_loss(real, fake):
            return 0.5 * (ops.mean(ops.square(real - real_label)) + ops.mean(ops.square(fake)))

        def g_loss(fake):
            return ops.mean(ops.square(fake - 1.0))
    elif kind == "hinge":
        def d_loss(real, fake):
            return 0.5 * (ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake)))

        def g_loss(fake):
            return -ops.mean(fake)
    elif kind == "wgan-gp":
        def d_loss(real, fake):
            return ops.mean(fake) - ops.mean(real)

        def g_loss(fake):
            return -ops.mean(fake)
    else:
        raise ValueError(f"gan_loss must be one of {GAN_LOSSES}, got {kind!r}")
    return d_loss, g_loss


def input_gradient(fn: Callable, x):
    """d sum(fn(x)) / dx, the same shape as x, and itself differentiable (a penalty on
    it trains the weights inside ``fn``). Each backend takes it its own way: a
    TensorFlow ``GradientTape``, ``jax.grad``, ``torch.autograd.grad`` with
    ``create_graph``. ``fn`` must not assign variables (call Keras models in it with
    ``training=False``): under ``jax.grad`` an assignment would leak a tracer.

    >>> x = np.array([[1.0, -2.0]], "float32")
    >>> [float(g) for g in ops.convert_to_numpy(input_gradient(ops.square, x))[0]]
    [2.0, -4.0]
    """
    backend = keras.backend.backend()
    x = ops.convert_to_tensor(x, "float32")
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            total = ops.sum(fn(x))
        return tape.gradient(total, x)
    if backend == "jax":
        import jax

        return jax.grad(lambda z: ops.sum(fn(z)))(x)
    if backend == "torch":
        import torch

        x = x if x.requires_grad else x.detach().requires_grad_(True)
        with torch.enable_grad():
            total = ops.sum(fn(x))
            (grad,) = torch.autograd.grad(total, x, create_graph=True)
        return grad
    raise NotImplementedError(f"input_gradient runs on tensorflow, jax and torch, not {backend!r}")


def gradient_penalty(critic: Callable, real, fake, epsilon=None, seed=None):
    """WGAN-GP's gradient penalty (Gulrajani et al., NeurIPS 2017, eq. 3, without λ):

        x_hat = eps real + (1 - eps) fake,  eps ~ U[0, 1] drawn per image,
        penalty = mean over images of (||grad f(x_hat)||_2 - 1)^2,

    where f(image) is the critic's value of one image, the mean of its patch logits
    (the critic loss compares those means), and the norm is per image over all its
    pixels and channels. It pushes the critic's slope towards 1 along lines between
    real and fake images: a soft 1-Lipschitz constraint. Multiply by λ = 10 (the paper's).
    A critic with batch norm mixes images, so the per-image gradient loses its meaning:
    use instance, layer or no normalisation in it.

    critic: callable image (B, H, W, C) -> logits (B, ...) (for pix2pix,
    ``lambda image: D([condition, image], training=False)``); real, fake: (B, H, W, C),
    no gradient flows back into them (a penalty on the critic alone). epsilon: (B,)
    given for a test, else drawn with ``seed`` (an int or keras.random.SeedGenerator).
    Returns a scalar.

    >>> real, fake = np.ones((2, 4, 4, 1), "float32"), np.zeros((2, 4, 4, 1), "float32")
    >>> # f = mean of 2 x: slope 2 / 16 a pixel, gradient norm 2 / 4 = 0.5 per image
    >>> float(gradient_penalty(lambda z: 2.0 * z, real, fake))  # (0.5 - 1)^2
    0.25
    """
    real = ops.stop_gradient(ops.cast(real, "float32"))
    fake = ops.stop_gradient(ops.cast(fake, "float32"))
    n = ops.shape(real)[0]
    if epsilon is None:
        epsilon = keras.random.uniform((n,), seed=seed)
    eps = ops.reshape(ops.cast(epsilon, "float32"), (-1,) + (1,) * (len(real.shape) - 1))
    x_hat = eps * real + (1.0 - eps) * fake

    def value(image):  # f per image: the mean of its patch logits
        logits = ops.cast(critic(image), "float32")
        return ops.mean(ops.reshape(logits, (ops.shape(logits)[0], -1)), axis=1)

    grad = input_gradient(value, x_hat)
    norm = ops.sqrt(ops.sum(ops.square(ops.reshape(grad, (n, -1))), axis=1) + 1e-12)
    return ops.mean(ops.square(norm - 1.0))


# --------------------------------------------------------------------------------------
# Structure: SSIM and gradient difference
# --------------------------------------------------------------------------------------

def _gaussian_window(size: int = 11, sigma: float = 1.5):
    x = np.arange(size, dtype="float32") - (size - 1) / 2.0
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return (g / g.sum()).astype("float32")


def _blur_valid(stack, window):
    """Separable 'valid' filtering of (B, H, W, C) images by a 1D window, channel by
    channel: the local means that SSIM compares, away from the border."""
    shape = ops.shape(stack)
    h, w = shape[1], shape[2]
    x = ops.reshape(ops.transpose(stack, (0, 3, 1, 2)), (-1, h, w, 1))
    k = ops.convert_to_tensor(window)
    x = ops.conv(x, ops.reshape(k, (-1, 1, 1, 1)), padding="valid")
    return ops.conv(x, ops.reshape(k, (1, -1, 1, 1)), padding="valid")


def ssim(y_true, y_pred, data_range: float = 2.0, window_size: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03):
    """Mean structural similarity (Wang et al., IEEE TIP 2004), differentiable.

    SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x² + mu_y² + C1)(s_x² + s_y² + C2)),
    with local statistics under an 11 x 11 Gaussian window (sigma 1.5 px) and
    C1 = (k1 L)², C2 = (k2 L)², L = ``data_range`` (2.0 for images in [-1, 1]).
    Averaged over the pixels whose window lies inside the image (5 px from each
    border), over channels and over the batch: the same number as scikit-image's
    ``structural_similarity(..., data_range=L, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` up to float32 rounding (tests: |diff| < 2e-4).

    y_true, y_pred: (B, H, W, C) or (B, H, W), H and W >= window_size. Returns a scalar
    in [-1, 1]; 1 means identical.

    >>> x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    >>> round(float(ssim(x, x)), 4)
    1.0
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if len(y_true.shape) == 3:
        y_true, y_pred = y_true[..., None], y_pred[..., None]
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    stats = _blur_valid(ops.concatenate([y_true, y_pred, y_true * y_true, y_pred * y_pred,
                                         y_true * y_pred], axis=0),
                        _gaussian_window(window_size, sigma))
    mu_x, mu_y, xx, yy, xy = ops.split(stats, 5, axis=0)
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
         / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)))
    return ops.mean(s)


@keras.saving.register_keras_serializable(package="i2i_keras")
def ssim_loss(y_true, y_pred):
    """1 - :func:`ssim` over [-1, 1] images (data range 2): 0 for identical images."""
    return 1.0 - ssim(y_true, y_pred, data_range=2.0)


@keras.saving.register_keras_serializable(package="i2i_keras")
def gradient_difference(y_true, y_pred):
    """Gradient difference loss (Mathieu et al., ICLR 2016), alpha = 1:

        mean | |d_y t| - |d_y p| | + mean | |d_x t| - |d_x p| |

    with d_y, d_x the differences between vertical and horizontal neighbours. It
    penalises edges the prediction blurs (or invents), which a pixel loss lets
    through; add it to L1 with a weight of about 1. Inputs (B, H, W[, C]); a scalar.

    >>> t = np.zeros((1, 8, 8, 1), "float32"); t[:, :, 4:] = 1.0
    >>> round(float(gradient_difference(t, 0.5 * t)), 4)  # edge half as steep: 0.5 / 7
    0.0714
    """
    def diffs(x):
        return (ops.abs(x[:, 1:, :] - x[:, :-1, :]), ops.abs(x[:, :, 1:] - x[:, :, :-1]))

    (ty, tx), (py, px) = diffs(y_true), diffs(y_pred)
    return ops.mean(ops.abs(ty - py)) + ops.mean(ops.abs(tx - px))


@keras.saving.register_keras_serializable(package="i2i_keras")
def high_frequency_energy(y_true, y_pred, cutoff: float = 0.25):
    """Texture energy matching: mean | RMS_high(y_pred) - RMS_high(y_true) | over images.

    RMS_high is the root-mean-square of an image's content above ``cutoff`` x Nyquist
    (radial frequency; each image's mean removed; from its FFT, with Parseval's
    normalisation), the band that :func:`i2i_keras.metrics.high_frequency_energy`
    calls sharpness. An L1-trained super-resolution network predicts the average of
    the detail it cannot see and comes out smoother than the truth; this term asks
    each output for as much detail as its truth holds, not for the same detail, so it
    buys sharpness with PSNR (Blau & Michaeli's perception-distortion trade-off; a
    one-number cousin of EnhanceNet's texture loss, Sajjadi et al., ICCV 2017). Add it
    to L1 with a weight of about 0.03 to 0.3 (``{"l1": 1.0, "high_frequency_energy":
    0.1}``). Inputs (B, H, W, C) with H and W known when the step is traced (patches).

    >>> t = np.zeros((1, 8, 8, 1), "float32"); t[:, :, ::2] = 1.0   # stripes: all high
    >>> float(high_frequency_energy(t, t)), round(float(high_frequency_energy(t, 0 * t)), 3)
    (0.0, 0.5)
    """
    h, w = y_pred.shape[1], y_pred.shape[2]
    if h is None or w is None:
        raise ValueError("high_frequency_energy needs images of a known size (train on "
                         "patches, e.g. datasets.paired_dataset(..., patch_size=64))")
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    high = (np.hypot(fy[:, None], fx[None, :]) > cutoff * 0.5).astype("float32")

    def rms_high(images):
        images = ops.transpose(ops.cast(images, "float32"), (0, 3, 1, 2))  # FFT the last two
        images = images - ops.mean(images, axis=(2, 3), keepdims=True)
        real, imag = ops.fft2((images, ops.zeros_like(images)))
        power = ops.sum((real * real + imag * imag) * high, axis=(2, 3)) / float(h * w) ** 2
        return ops.sqrt(power + 1e-12)

    return ops.mean(ops.abs(rms_high(y_pred) - rms_high(y_true)))


# --------------------------------------------------------------------------------------
# Perceptual (feature) loss
# --------------------------------------------------------------------------------------

FEATURE_NET_PATH = Path(__file__).resolve().parent / "weights" / "feature_net.keras"
FEATURE_NET_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv2")
VGG19_LAYERS = ("block2_conv2", "block5_conv4")  # SRGAN's VGG22 and VGG54
_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def vgg_feature_model(weights_path: str | os.PathLike,
                      layer_names: tuple[str, ...] = VGG19_LAYERS) -> keras.Model:
    """VGG19 feature maps of single-channel [-1, 1] images, from weights on disk.

    Nothing is downloaded: give the path of Keras' ImageNet VGG19 weights without the
    classifier, ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (80 MB; fetch it
    once on a machine with internet from the URL in ``keras.applications.vgg19``). The
    grey image is mapped [-1, 1] -> [0, 255], repeated to three channels and
    preprocessed as VGG was trained (ImageNet mean subtracted, "caffe" mode; for a
    grey image the RGB->BGR swap changes nothing), then run through
    ``keras.applications.VGG19(weights=weights_path, include_top=False)``.

    Returns a frozen model (B, H, W, 1) -> [one (B, h, w, c) map per layer name];
    use it as ``PerceptualLoss(vgg_feature_model(path))`` (a trainer compiled with it
    saves the path and layers, not the 80 MB of weights). The default layers are
    SRGAN's VGG22 and VGG54 (Ledig et al. 2017); WGAN-VGG for low-dose CT (Yang et al.
    2018) uses "block5_conv4" alone. VGG features are large numbers: weight the loss
    down (SRGAN scales it by 1/12.75² ~ 0.006) so it does not drown the pixel loss.

    >>> loss = PerceptualLoss(vgg_feature_model("vgg19_notop.h5"))  # doctest: +SKIP
    """
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG19 weights not found at {str(path)!r}. Download "
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 once (see "
            "keras.applications.vgg19.WEIGHTS_PATH_NO_TOP) and give its path; or use "
            "PerceptualLoss() with the feature network shipped with i2i_keras.")
    vgg = keras.applications.VGG19(weights=str(path), include_top=False,
                                   input_shape=(None, None, 3))
    grey = keras.Input((None, None, 1), name="image")
    rgb = ops.repeat((grey + 1.0) * 127.5, 3, axis=-1)
    bgr = rgb - ops.convert_to_tensor(np.array(_IMAGENET_BGR_MEAN, "float32"))
    features = keras.Model(vgg.inputs, [vgg.get_layer(n).output for n in layer_names])
    model = keras.Model(grey, features(bgr), name="vgg19_features")
    model.trainable = False
    # How to rebuild it: lets a trainer compiled with PerceptualLoss(model) be saved.
    model.i2i_source = {"vgg19": str(path), "layer_names": list(layer_names)}
    return model


@keras.saving.register_keras_serializable(package="i2i_keras")
class PerceptualLoss:
    """Feature (perceptual) loss (Johnson et al. 2016): the distance between the
    feature maps a fixed network computes from the target and from the prediction.

    A pixel loss rewards the mean of all plausible answers, which is blurred; a
    feature loss compares edges and textures, so it keeps them (at some cost in PSNR).

    feature_model: None for the small network shipped with i2i_keras
    (``weights/feature_net.keras``: a 6-layer VGG-style net trained by
    ``data_scripts/train_feature_net.py`` to name the tissue at the centre of 32 x 32
    patches of phantom CT and MR); or the path of a saved ``.keras`` model; or a Keras
    model, e.g. :func:`vgg_feature_model` for ImageNet VGG19 weights you have on disk.
    layer_names: the layers whose outputs are compared (default: the shipped net's
    three blocks; for a model given without names, its own outputs).
    weights: one weight per layer (default 1 each). distance: "l2" (mean squared
    difference per layer) or "l1".

    Call with (y_true, y_pred), single-channel images (B, H, W, 1) in [-1, 1] (CT
    normalised by a window, MR by :func:`i2i_keras.datasets.normalize_mr`); returns a
    scalar, differentiable in y_pred. The feature network is frozen. Scale: with the
    shipped network, CT in the window [-160, 240] HU with 25 HU noise scores about 0.02
    (its L1 is 0.1), the same image blurred by 1 px about 0.13 (L1 0.26): relative to
    L1 it punishes blur more than noise, which is the point.

    >>> loss = PerceptualLoss()
    >>> x = np.zeros((1, 32, 32, 1), "float32")
    >>> float(loss(x, x))
    0.0
    """

    def __init__(self, feature_model: keras.Model | str | os.PathLike | None = None,
                 layer_names: list[str] | tuple[str, ...] | None = None,
                 weights: list[float] | tuple[float, ...] | None = None,
                 distance: str = "l2"):
        if distance not in ("l1", "l2"):
            raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}")
        # What get_config records to rebuild the features: None (the shipped net), a
        # path, or a VGG19 recipe; a model given in memory has no record.
        source = getattr(feature_model, "i2i_source", None)
        self._source = None if source is None else {"vgg19": str(source["vgg19"]),
                                                     "layer_names": list(source["layer_names"])}
        if feature_model is None or isinstance(feature_model, (str, os.PathLike)):
            path = FEATURE_NET_PATH if feature_model is None else Path(feature_model)
            if not path.is_file():
                hint = " (run data_scripts/train_feature_net.py)" if feature_model is None else ""
                raise FileNotFoundError(f"feature network not found at {str(path)!r}{hint}")
            if feature_model is None:
                layer_names = FEATURE_NET_LAYERS if layer_names is None else layer_names
            else:
                self._source = str(feature_model)
            feature_model = keras.saving.load_model(path, compile=False)
        elif self._source is None:
            self._source = "in memory"
        if layer_names is not None:
            outputs = [feature_model.get_layer(n).output for n in layer_names]
            feature_model = keras.Model(feature_model.inputs, outputs, name="features")
        feature_model.trainable = False
        n_out = len(feature_model.outputs)
        self.layer_names = None if layer_names is None else list(layer_names)
        self.weights = [1.0] * n_out if weights is None else [float(w) for w in weights]
        if len(self.weights) != n_out:
            raise ValueError(f"{len(self.weights)} weights for {n_out} feature layers")
        self.distance, self.model = distance, feature_model

    def __call__(self, y_true, y_pred):
        f_true = self.model(ops.cast(y_true, "float32"), training=False)
        f_pred = self.model(ops.cast(y_pred, "float32"), training=False)
        if not isinstance(f_true, (list, tuple)):
            f_true, f_pred = [f_true], [f_pred]
        total = 0.0
        for w, a, b in zip(self.weights, f_true, f_pred):
            d = ops.abs(a - b) if self.distance == "l1" else ops.square(a - b)
            total = total + w * ops.mean(ops.cast(d, "float32"))
        return total

    def get_config(self) -> dict:
        if self._source == "in memory":
            raise TypeError("a PerceptualLoss built on a model in memory cannot be saved; "
                            "save the feature model as .keras and pass its path instead")
        return {"feature_model": self._source, "layer_names": self.layer_names,
                "weights": self.weights, "distance": self.distance}

    @classmethod
    def from_config(cls, config: dict) -> PerceptualLoss:
        config = dict(config)
        source = config.pop("feature_model")
        if isinstance(source, dict):  # a VGG19 recipe, see vgg_feature_model
            source = vgg_feature_model(source["vgg19"], tuple(source["layer_names"]))
        return cls(source, **config)


# --------------------------------------------------------------------------------------
# Regularisers for synthetic CT (from Kaji's CycleGAN code for CT)
# --------------------------------------------------------------------------------------


def total_variation(images):
    """Mean absolute difference between neighbouring pixels (anisotropic total
    variation), averaged over the batch: a scalar. Added to a generator's loss with a
    small weight it discourages speckle in flat tissue; too much flattens texture."""
    dy = ops.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    dx = ops.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    return ops.mean(dy) + ops.mean(dx)


def air_loss(ct, mr, ct_air: float = -0.7, mr_dark: float = -0.8, ct_bone: float | None = None):
    """Penalise air on the CT where the MR shows signal: "air on one side only".

    Air has no signal on MR, so wherever a CT pixel is air the MR pixel must be dark.
    The converse does not hold (cortical bone is dark on MR too), so the loss is one
    sided: the mean over pixels of depth(ct) x brightness(mr), where depth is how far
    the CT value lies below ``ct_air`` and brightness how far the MR lies above
    ``mr_dark`` (hinges, not soft thresholds: a sigmoid saturates and gives no gradient
    exactly on the worst pixels). With ``ct_bone`` (a normalised CT value, e.g. 0.13 for
    +700 HU) dense bone counts as a signal void too, by how far it lies above ct_bone:
    compact bone has almost no mobile protons and a T2 of a millisecond, so it is dark on
    every standard MR sequence; a CT that puts it where the MR is bright (e.g. on the
    scalp fat, the brightest tissue on T1) is wrong.

    Use it on both directions of an MR↔CT CycleGAN: (G(mr), mr) keeps the synthetic CT
    from inventing air (or bone) inside bright tissue, (ct, F(ct)) keeps the synthetic
    MR dark where the CT has air (or bone). Kaji's CycleGAN code for CT has a loss of
    this kind for air; the bone term is our addition.

    ct, mr: (B, H, W, 1) images in [-1, 1] (CT through ``CT_WINDOW``: -0.7 is -550 HU;
    MR through ``normalize_mr``: -0.8 is a tenth of the bright level).

    >>> ct = np.full((1, 4, 4, 1), -1.0, "f4"); mr = np.full((1, 4, 4, 1), 0.2, "f4")
    >>> round(float(air_loss(ct, mr)), 3), float(air_loss(ct, -mr - 0.8))
    (0.3, 0.0)
    """
    depth = ops.relu(ct_air - ct)
    if ct_bone is not None:
        depth = depth + ops.relu(ct - ct_bone)
    return ops.mean(depth * ops.relu(mr - mr_dark))


# --------------------------------------------------------------------------------------
# Losses by name
# --------------------------------------------------------------------------------------

PIXEL_LOSSES = ("l1", "l2", "ssim", "gradient_difference", "high_frequency_energy",
                "perceptual")


def get(identifier: str | dict[str, float] | Callable) -> Callable:
    """A loss function from a name, a {name: weight} mix, or a callable (returned as is).

    Names: "l1", "l2", "ssim" (:func:`ssim_loss`), "gradient_difference",
    "high_frequency_energy", "perceptual"
    (:class:`PerceptualLoss` with the shipped feature network). A dict sums weighted
    terms, e.g. ``{"l1": 0.84, "ssim": 0.16}`` (the mix of Zhao et al., IEEE TCI 2017)
    or ``{"l1": 1.0, "perceptual": 0.1}``. Names and dicts save with a trainer as
    they are; a callable saves if Keras can serialise it (a registered function, a
    :class:`PerceptualLoss` built from a path).

    >>> float(get({"l1": 1.0, "l2": 2.0})(np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 1))))
    3.0
    """
    if isinstance(identifier, dict):
        terms = [(get(name), float(w)) for name, w in identifier.items()]

        def weighted_sum(y_true, y_pred):
            return sum(w * fn(y_true, y_pred) for fn, w in terms)

        return weighted_sum
    if isinstance(identifier, str):
        if identifier == "perceptual":
            return PerceptualLoss()
        table = {"l1": l1, "l2": l2, "ssim": ssim_loss,
                 "gradient_difference": gradient_difference,
                 "high_frequency_energy": high_frequency_energy}
        if identifier not in table:
            raise ValueError(f"unknown loss {identifier!r}; names: {PIXEL_LOSSES}, a "
                             "{name: weight} dict, or a callable(y_true, y_pred)")
        return table[identifier]
    if callable(identifier):
        return identifier
    raise TypeError(f"loss must be a name, a dict or a callable, got {identifier!r}")
