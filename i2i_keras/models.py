"""Networks: the U-Net, pix2pix and ResNet generators, the PatchGAN discriminator and SRCNN.

Which published network each builder is: :func:`unet` Ronneberger et al.'s U-Net (two
3x3 convolutions a level, max pooling); :func:`pix2pix_generator` the pix2pix paper's
U-Net-256 (Isola et al. 2017; 4x4 stride-2 convolutions, as the TensorFlow tutorial
builds it); :func:`resnet_generator` CycleGAN's (Zhu et al. 2017, after Johnson et al.
2016); :func:`patchgan` the pix2pix/CycleGAN PatchGAN; :func:`srcnn` Dong et al.'s SRCNN.

All are plain functional ``keras.Model`` objects made of Keras layers, so a trained
network saves and loads as a ``.keras`` file on any Keras 3 backend. The only layer of
our own, :class:`ReflectionPadding2D` (used by :func:`resnet_generator`), is registered
with Keras: ``import i2i_keras`` before loading such a file.

:func:`unet` and :func:`patchgan` are 2D or 3D by their ``input_shape``: (H, W, C) builds
the network from Conv2D layers, (D, H, W, C) the same network from Conv3D layers (every
3x3 kernel a 3x3x3 one, every 2x2 pooling a 2x2x2 one), for volumes and 3D patches.

Example
-------
>>> from i2i_keras import models
>>> g = models.unet((64, 64, 1), depth=3, base_filters=16)
>>> d = models.patchgan((64, 64, 1), n_layers=2)
>>> g.output_shape, d.output_shape
((None, 64, 64, 1), (None, 16, 16, 1))
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

NORMS = ("batch", "instance", "none")
UPSAMPLING = ("transpose", "resize")
# The last layer of every network computes in float32 whatever the global policy: under
# mixed bfloat16 (8 significant bits) a tanh output would be rounded by up to ~3 HU of
# the [-1000, 2000] HU window, and float16 logits can overflow (the Keras guide's advice).
OUTPUT_DTYPE = "float32"


def _spatial_dims(input_shape, builder: str) -> int:
    """2 for an (H, W, C) input, 3 for (D, H, W, C); a ValueError that says so otherwise."""
    dims = len(input_shape) - 1
    if dims not in (2, 3):
        raise ValueError(f"{builder} takes input_shape (H, W, C) for 2D images or (D, H, W, C) "
                         f"for volumes, got {tuple(input_shape)} ({dims} spatial axes)")
    return dims


def _layer(kind: str, dims: int):
    """The Keras layer class ``kind`` ("Conv{}D", "Conv{}DTranspose", "MaxPooling{}D",
    "UpSampling{}D") for 2 or 3 spatial dimensions: ("Conv{}D", 3) -> layers.Conv3D."""
    return getattr(layers, kind.format(dims))


def _norm(kind: str, name: str):
    if kind == "batch":
        return layers.BatchNormalization(name=name)
    if kind == "instance":  # one group per channel: instance normalisation
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    return None


def _conv_block(x, filters: int, norm: str, name: str, dropout: float = 0.0):
    """Two 3x3 (3x3x3 for a 5D tensor) convolutions, each followed by normalisation
    and ReLU."""
    conv = _layer("Conv{}D", len(x.shape) - 2)
    for i in (1, 2):
        x = conv(filters, 3, padding="same", use_bias=norm == "none",
                 name=f"{name}_conv{i}")(x)
        n = _norm(norm, f"{name}_norm{i}")
        if n is not None:
            x = n(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
        if dropout and i == 1:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def check_size(shape, depth: int) -> None:
    """Raise a clear error unless every spatial side of ``shape`` ((H, W, C) or
    (D, H, W, C)) is a multiple of 2**depth."""
    sides = tuple(shape[:-1]) if len(shape) > 3 else tuple(shape[:2])
    for side in sides:
        if side is not None and side % (2 ** depth):
            raise ValueError(
                f"image size {'x'.join(map(str, sides))} is not a multiple of 2**depth = "
                f"{2 ** depth}"
                f" (depth={depth}): a U-Net halves the image {depth} times. Crop or pad to a "
                f"multiple of {2 ** depth}, or use a smaller depth")


def unet(input_shape=(256, 256, 1), out_channels: int = 1, depth: int = 4,
         base_filters: int = 32, max_filters: int = 512, norm: str = "instance",
         upsampling: str = "transpose", dropout: float = 0.0,
         output_activation: str | None = "tanh", residual: bool = False,
         name: str = "unet") -> keras.Model:
    """U-Net (Ronneberger et al., MICCAI 2015), 2D or 3D: an encoder-decoder with skip
    connections.

    Each level is the original's two 3x3 convolutions, then 2x2 max pooling down and a
    2x2 transposed convolution up, adapted as image-to-image translation uses it: "same"
    padding (the output has the input's size, the original cropped), a normalisation
    after every convolution, a tanh (or residual) output and widths capped at
    max_filters. This is not the pix2pix paper's generator, which is
    :func:`pix2pix_generator` (one 4x4 stride-2 convolution a level; at 256², depth 8 and
    64 filters this U-Net has 72 M weights and trains about 3x slower than its 54 M).

    input_shape: (H, W, C) for a 2D network, (D, H, W, C) for a 3D one (Çiçek et al.,
    MICCAI 2016: 3x3x3 convolutions, 2x2x2 pooling); every side a multiple of 2**depth
    (None for any size, checked when called). depth: number of 2x down-samplings;
    filters double at each level from base_filters up to max_filters. norm: "batch",
    "instance" or "none".
    upsampling: "transpose" (learned, 2x2 stride-2 transposed convolution) or
    "resize" (bilinear resize + 3x3 conv, the fix for checkerboard artefacts, Odena et
    al. 2016; in 3D the resize is nearest-neighbour, Keras' UpSampling3D). dropout:
    rate in the decoder blocks (pix2pix uses it as noise).
    output_activation: "tanh" for targets in [-1, 1], None for linear. residual: learn
    the correction to the input (output = input + f(input)), with the last layer
    initialised to zero so the untrained network is the identity.

    Input (B, H, W, C) → output (B, H, W, out_channels); in 3D (B, D, H, W, C) →
    (B, D, H, W, out_channels).

    >>> unet((64, 64, 1), depth=2, base_filters=8).count_params()
    29481
    >>> net3d = unet((16, 32, 32, 1), depth=2, base_filters=8)  # 3x3x3 kernels: ~3x the weights
    >>> net3d.output_shape, net3d.count_params()
    ((None, 16, 32, 32, 1), 85177)
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    dims = _spatial_dims(input_shape, "unet")
    check_size(input_shape, depth)
    if residual and out_channels != input_shape[-1]:
        raise ValueError("residual=True needs as many output channels as input channels "
                         f"({input_shape[-1]}), got out_channels={out_channels}")
    widths = [min(base_filters * 2 ** i, max_filters) for i in range(depth + 1)]
    inputs = keras.Input(input_shape, name="input")
    x, skips = inputs, []
    for level in range(depth):
        x = _conv_block(x, widths[level], norm, f"down{level}")
        skips.append(x)
        x = _layer("MaxPooling{}D", dims)(2, name=f"pool{level}")(x)
    x = _conv_block(x, widths[depth], norm, "bottom", dropout)
    conv = _layer("Conv{}D", dims)
    for level in reversed(range(depth)):
        if upsampling == "transpose":
            x = _layer("Conv{}DTranspose", dims)(widths[level], 2, strides=2,
                                                 name=f"up{level}")(x)
        else:
            resize = {"interpolation": "bilinear"} if dims == 2 else {}  # 3D: nearest only
            x = _layer("UpSampling{}D", dims)(2, **resize, name=f"resize{level}")(x)
            x = conv(widths[level], 3, padding="same", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _conv_block(x, widths[level], norm, f"dec{level}", dropout)
    if residual:
        x = conv(out_channels, 1, kernel_initializer="zeros", name="correction",
                 dtype=OUTPUT_DTYPE)(x)
        outputs = layers.Add(name="output", dtype=OUTPUT_DTYPE)([inputs, x])
    else:
        outputs = conv(out_channels, 1, activation=output_activation, name="output",
                       dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)


def _pix2pix_depth(shape, depth: int | None) -> int:
    """The number of stride-2 levels of :func:`pix2pix_generator` for input ``shape``, or
    a ValueError that says which sizes work."""
    h, w = shape[:2]
    if depth is None:
        if h is None or w is None:
            raise ValueError("pix2pix_generator needs the image size to choose its depth: "
                             f"got input_shape={tuple(shape)}; give H and W or pass depth=")
        short = min(h, w)
        levels = short.bit_length() - 1
        if levels >= 1 and short == 2 ** levels and max(h, w) % short == 0:
            return levels
        problem = ("depth=None (down to one pixel on the shorter side, as U-Net-256 goes) "
                   "needs the shorter side to be a power of two and the longer a multiple "
                   "of it")
    else:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if all(side is None or side % 2 ** depth == 0 for side in (h, w)):
            return depth
        problem = f"depth={depth} needs H and W to be multiples of 2**{depth} = {2 ** depth}"
    common = math.gcd(*(side for side in (h, w) if side is not None))
    fits = (common & -common).bit_length() - 1  # halvings both sides allow
    hint = (f"depth={fits} fits {h}x{w}" if fits >= 1
            else f"{h}x{w} cannot be halved even once: crop or pad it")
    raise ValueError(f"pix2pix_generator cannot take a {h}x{w} image: it halves the image "
                     f"once a level, and {problem}. Sizes that work with depth=None: a "
                     f"power of two (256x256 -> 8 levels, 128x128 -> 7) or, for the longer "
                     f"side, a multiple of the shorter; {hint}")


def pix2pix_generator(input_shape=(256, 256, 3), out_channels: int = 3,
                      depth: int | None = None, base_filters: int = 64,
                      max_filters: int = 512, norm: str = "batch", dropout: float = 0.5,
                      output_activation: str | None = "tanh",
                      name: str = "pix2pix_generator") -> keras.Model:
    """The pix2pix paper's generator, U-Net-256 (Isola et al., CVPR 2017), as the
    TensorFlow tutorial "pix2pix: Image-to-image translation with a conditional GAN"
    builds it.

    Each level down is one 4x4 stride-2 convolution (no bias) → norm → LeakyReLU(0.2)
    (no norm on the first); each level up one 4x4 stride-2 transposed convolution → norm
    → dropout (the three innermost levels only; pix2pix's noise) → ReLU, concatenated
    with the encoder's output of the same size; a 4x4 stride-2 transposed convolution
    makes the output. Widths: base_filters doubling per level up to max_filters (64,
    128, 256, 512, 512, ...). Kernel weights start as N(0, 0.02). At 256² x 3 channels in
    and out (the defaults) it has the tutorial's 54,425,859 weights.

    input_shape: (H, W, C). depth: number of stride-2 levels; None takes the shorter
    side down to one pixel (8 levels at 256², 7 at 128²), which needs it to be a power
    of two and the longer side a multiple of it; otherwise H and W must be multiples of
    2**depth (ValueError naming the sizes that work). norm: "batch" (pix2pix),
    "instance" (the TensorFlow CycleGAN tutorial's choice) or "none". dropout: rate in
    the three innermost up levels (0 for none). output_activation: "tanh" for targets in
    [-1, 1], None for linear.

    Input (B, H, W, C) → output (B, H, W, out_channels).

    >>> g = pix2pix_generator((32, 32, 1), out_channels=1, base_filters=8)  # 5 levels
    >>> g.output_shape, g.count_params()
    ((None, 32, 32, 1), 392993)
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    depth = _pix2pix_depth(input_shape, depth)
    widths = [min(base_filters * 2 ** i, max_filters) for i in range(depth)]
    init = lambda: keras.initializers.RandomNormal(0.0, 0.02)  # noqa: E731  (one a layer)

    def block(x, conv, filters, label, apply_norm, activation, drop):
        x = conv(filters, 4, strides=2, padding="same", kernel_initializer=init(),
                 use_bias=norm == "none", name=f"{label}_conv")(x)
        n = _norm(norm, f"{label}_norm") if apply_norm else None
        x = n(x) if n is not None else x
        if drop:
            x = layers.Dropout(drop, name=f"{label}_dropout")(x)
        return activation(name=f"{label}_act")(x)

    inputs = keras.Input(input_shape, name="input")
    x, skips = inputs, []
    for level, width in enumerate(widths):
        x = block(x, layers.Conv2D, width, f"down{level}", level > 0,
                  lambda name: layers.LeakyReLU(0.2, name=name), 0.0)
        skips.append(x)
    for i, level in enumerate(reversed(range(depth - 1))):  # innermost first
        x = block(x, layers.Conv2DTranspose, widths[level], f"up{level}", True, layers.ReLU,
                  dropout if i < 3 else 0.0)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
    outputs = layers.Conv2DTranspose(out_channels, 4, strides=2, padding="same",
                                     kernel_initializer=init(), activation=output_activation,
                                     name="output", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="i2i_keras")
class ReflectionPadding2D(layers.Layer):
    """Pad height and width by mirroring the image at its border (no edge repeated).

    Zero padding makes a dark frame that a generator learns to paint around every
    image; CycleGAN's ResNet generator pads by reflection instead. Keras has no such
    layer, hence this one (written with ``keras.ops``: any backend).
    (B, H, W, C) → (B, H + 2 p, W + 2 p, C).
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):
        grow = lambda n: None if n is None else n + 2 * self.padding  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="i2i_keras")
class WindowChannels(layers.Layer):
    """Append display-window views of a one-channel image as extra channels.

    For each (low, high) in ``windows`` (in the image's own, normalised units) the
    channel clip(2 (x - low) / (high - low) - 1, -1, 1) is added: a CT normalised over
    [-1000, 2000] HU shows brain contrast of 15 HU as 1 % of its range, too little for a
    discriminator to notice; the soft-tissue window [-160, 240] HU stretches it 7.5
    times. (B, H, W, 1) → (B, H, W, 1 + len(windows)).
    """

    def __init__(self, windows=(), **kwargs):
        super().__init__(**kwargs)
        self.windows = [tuple(float(v) for v in w) for w in windows]

    def call(self, x):
        views = [keras.ops.clip(2.0 * (x - lo) / (hi - lo) - 1.0, -1.0, 1.0)
                 for lo, hi in self.windows]
        return keras.ops.concatenate([x, *views], axis=-1)

    def compute_output_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] * (1 + len(self.windows)),)

    def get_config(self):
        return {**super().get_config(), "windows": self.windows}


def resnet_generator(input_shape=(256, 256, 1), out_channels: int = 1,
                     base_filters: int = 64, n_downsampling: int = 2, n_blocks: int = 9,
                     norm: str = "instance", output_activation: str | None = "tanh",
                     name: str = "resnet_generator") -> keras.Model:
    """CycleGAN's generator (Zhu et al., ICCV 2017, after Johnson et al., ECCV 2016).

    With the defaults it is the CycleGAN paper's 9-block network for 256² images
    (c7s1-64, d128, d256, R256 x 9, u128, u64, c7s1-out in its notation).

    A 7x7 convolution, ``n_downsampling`` stride-2 convolutions (filters doubling from
    base_filters), ``n_blocks`` residual blocks at the lowest resolution (two 3x3
    convolutions each, reflect padding), as many stride-2 transposed convolutions back
    up and a 7x7 output convolution. CycleGAN uses 6 blocks for 128² images and 9 for
    256². Unlike the U-Net there are no skip connections: everything passes through the
    bottleneck, which keeps the image's layout but can lose fine detail.

    input_shape: (H, W, C), H and W multiples of 2**n_downsampling (None for any size).
    norm: "instance" (CycleGAN), "batch" or "none". Input (B, H, W, C) → output
    (B, H, W, out_channels), ``tanh`` for targets in [-1, 1].

    >>> g = resnet_generator((64, 64, 1), base_filters=8, n_blocks=2)
    >>> g.output_shape, g.count_params()
    ((None, 64, 64, 1), 49585)
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    check_size(input_shape, n_downsampling)
    init = keras.initializers.RandomNormal(0.0, 0.02)

    def conv(x, filters, kernel, stride, label, relu=True, pad_reflect=0, transpose=False):
        if pad_reflect:
            x = ReflectionPadding2D(pad_reflect, name=f"{label}_pad")(x)
        cls = layers.Conv2DTranspose if transpose else layers.Conv2D
        x = cls(filters, kernel, strides=stride, padding="valid" if pad_reflect else "same",
                kernel_initializer=init, use_bias=norm == "none", name=f"{label}_conv")(x)
        n = _norm(norm, f"{label}_norm")
        x = n(x) if n is not None else x
        return layers.ReLU(name=f"{label}_relu")(x) if relu else x

    inputs = keras.Input(input_shape, name="input")
    x = conv(inputs, base_filters, 7, 1, "stem", pad_reflect=3)
    for i in range(n_downsampling):
        x = conv(x, base_filters * 2 ** (i + 1), 3, 2, f"down{i}")
    width = base_filters * 2 ** n_downsampling
    for b in range(n_blocks):
        h = conv(x, width, 3, 1, f"block{b}a", pad_reflect=1)
        h = conv(h, width, 3, 1, f"block{b}b", relu=False, pad_reflect=1)
        x = layers.Add(name=f"block{b}_add")([x, h])
    for i in reversed(range(n_downsampling)):
        x = conv(x, base_filters * 2 ** i, 3, 2, f"up{i}", transpose=True)
    x = ReflectionPadding2D(3, name="head_pad")(x)
    outputs = layers.Conv2D(out_channels, 7, activation=output_activation,
                            kernel_initializer=init, name="output", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)


class _SpectralNorm:
    """The spectral normalisation of :class:`SpectralConv2D` and :class:`SpectralConv3D`,
    mixed into Keras' Conv2D or Conv3D."""

    def __init__(self, *args, power_iterations: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        super().build(input_shape)
        self.u = self.add_weight(shape=(1, self.filters), name="u", trainable=False,
                                 initializer=keras.initializers.RandomNormal(seed=0))

    def _power_iteration(self):
        """(u, sigma): u after the power iterations, sigma = v W u^T (float32)."""
        w = ops.reshape(ops.cast(self.kernel, "float32"), (-1, self.filters))
        u = ops.cast(self.u, "float32")
        for _ in range(max(1, self.power_iterations)):
            v = _unit(ops.matmul(u, ops.transpose(w)))  # (1, k*k*C_in)
            u = _unit(ops.matmul(v, w))  # (1, C_out)
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        return u, ops.sum(ops.matmul(v, w) * u)

    def sigma(self):
        """The current estimate of the kernel's largest singular value (a scalar)."""
        return self._power_iteration()[1]

    def call(self, inputs, training=False):
        u, sigma = self._power_iteration()
        if training:
            self.u.assign(ops.cast(u, self.u.dtype))
        kernel = ops.cast(ops.cast(self.kernel, "float32") / sigma, self.compute_dtype)
        outputs = self.convolution_op(inputs, kernel)
        if self.use_bias:
            rank = len(outputs.shape)  # (1, 1, 1, filters) in 2D, one more 1 in 3D
            outputs = ops.add(outputs, ops.reshape(self.bias, (1,) * (rank - 1) + (self.filters,)))
        return outputs if self.activation is None else self.activation(outputs)

    # Conv layers save only their kernel and bias: u, the power iteration's state, goes too.
    def _saved_variables(self):
        return [self.kernel] + ([self.bias] if self.use_bias else []) + [self.u]

    def save_own_variables(self, store):
        for i, variable in enumerate(self._saved_variables() if self.built else []):
            store[str(i)] = variable

    def load_own_variables(self, store):
        for i, variable in enumerate(self._saved_variables() if self.built else []):
            variable.assign(store[str(i)])

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


@keras.saving.register_keras_serializable(package="i2i_keras")
class SpectralConv2D(_SpectralNorm, layers.Conv2D):
    """A Conv2D whose kernel is divided by its largest singular value (spectral
    normalisation, Miyato et al., ICLR 2018): the layer is then (about) 1-Lipschitz, so a
    discriminator made of such layers cannot grow arbitrarily steep, the usual way a
    GAN's discriminator "wins".

    The kernel (k, k, C_in, C_out) is seen as a matrix W of shape (k·k·C_in, C_out); its
    largest singular value sigma is estimated by power iteration from a vector u (a
    non-trainable weight, saved with the model) and the convolution uses W / sigma. As
    in the paper and PyTorch's ``spectral_norm``, each training call runs
    ``power_iterations`` steps and keeps the new u, so the estimate sharpens over
    training at the cost of one matrix-vector product a step; an inference call uses
    the same iteration without storing u. Gradients flow through W / sigma (u, v held
    fixed), the paper's re-parametrisation.

    Why not ``keras.layers.SpectralNormalization``: in Keras 3.15 it writes W / sigma
    *into* the trainable kernel during the forward pass. That assignment is lost in a
    stateless JAX step (the trainers' :mod:`~i2i_keras.backend_steps`), and on TensorFlow
    the gradient then bypasses the division; this layer only ever assigns u, a
    non-trainable weight, which every backend's step carries.

    >>> import numpy as np
    >>> conv = SpectralConv2D(4, 3, padding="same", power_iterations=20)
    >>> y = conv(np.ones((1, 8, 8, 2), "float32"), training=True)  # (1, 8, 8, 4)
    >>> w = np.reshape(conv.kernel.numpy(), (-1, 4))  # (3*3*2, 4)
    >>> largest = np.linalg.svd(w, compute_uv=False)[0]
    >>> round(float(conv.sigma() / largest), 3)  # the estimate, against the SVD's
    1.0
    """


@keras.saving.register_keras_serializable(package="i2i_keras")
class SpectralConv3D(_SpectralNorm, layers.Conv3D):
    """:class:`SpectralConv2D` for volumes: a Conv3D whose kernel (k, k, k, C_in, C_out),
    seen as a (k·k·k·C_in, C_out) matrix, is divided by its largest singular value."""


def _unit(x, eps: float = 1e-12):
    """x / ||x|| (the whole array)."""
    return x / ops.sqrt(ops.maximum(ops.sum(x * x), eps))


def patchgan(input_shape=(256, 256, 1), n_layers: int = 3, base_filters: int = 64,
             norm: str = "instance", conditional: bool = True,
             condition_channels: int | None = None, windows=(),
             spectral_norm: bool = False, name: str = "patchgan") -> keras.Model:
    """PatchGAN discriminator (Isola et al. 2017): one real/fake logit per image patch
    (per block of a volume in 3D).

    With the defaults (n_layers=3, 64 filters) it is the pix2pix and CycleGAN papers'
    70x70 PatchGAN, layer for layer as their authors' PyTorch ``NLayerDiscriminator``
    builds it (4x4 convolutions, stride 2 three times then stride 1, widths 64-512, a
    bias on the first, LeakyReLU 0.2), except that every convolution pads "same", so the
    logit map is H/8 x W/8 (32² at 256²; theirs and the TensorFlow tutorial's: 30²). With
    norm="batch" and 3 input channels it has 2,770,497 weights, 64 more than the
    TensorFlow tutorial's ``Discriminator()`` (no bias on its first convolution).

    input_shape: (H, W, C) of the image judged, or (D, H, W, C) of a volume (then
    every convolution is 4x4x4 and the logits (B, D / 2**n_layers, ..., 1)).
    n_layers: stride-2 layers; the receptive field of each output logit is 16, 34 or
    70 pixels for n_layers 1, 2, 3 (choose it below the image size, or every logit sees
    the whole image).
    conditional: pix2pix judges (condition, image) pairs, so the model takes two
    inputs [condition (H, W, condition_channels), image]; CycleGAN judges the image
    alone. windows: display windows (low, high) in the image's normalised units, each
    shown to the discriminator as an extra channel (:class:`WindowChannels`), e.g. a
    soft-tissue window for CT so that it can judge brain contrast. spectral_norm: every
    convolution a :class:`SpectralConv2D` (Miyato et al. 2018), each layer about
    1-Lipschitz; usually with norm="none" (SNGAN's discriminators have no other
    normalisation) but any norm works. Output: (B, H / 2**n_layers, W / 2**n_layers, 1)
    logits, no activation.

    >>> d = patchgan((64, 64, 1), n_layers=2, base_filters=8)  # 34x34 patches
    >>> d.output_shape, d.count_params()
    ((None, 16, 16, 1), 11113)
    >>> d3 = patchgan((16, 32, 32, 1), n_layers=2, base_filters=8)  # 34x34x34 blocks
    >>> d3.output_shape, d3.count_params()
    ((None, 4, 8, 8, 1), 44137)
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    dims = _spatial_dims(input_shape, "patchgan")
    image = keras.Input(input_shape, name="image")
    seen = WindowChannels(windows, name="windows")(image) if windows else image
    if conditional:
        cond_shape = tuple(input_shape[:-1]) + (condition_channels or input_shape[-1],)
        condition = keras.Input(cond_shape, name="condition")
        inputs = [condition, image]
        x = layers.Concatenate(name="pair")([condition, seen])
    else:
        inputs, x = image, seen
    init = keras.initializers.RandomNormal(0.0, 0.02)
    if spectral_norm:
        conv = SpectralConv2D if dims == 2 else SpectralConv3D
    else:
        conv = _layer("Conv{}D", dims)
    for i in range(n_layers + 1):  # n_layers stride-2 convs, then one stride-1 conv
        filters = base_filters * min(2 ** i, 8)
        x = conv(filters, 4, strides=2 if i < n_layers else 1, padding="same",
                 kernel_initializer=init, use_bias=(i == 0 or norm == "none"),
                 name=f"conv{i}")(x)
        n = _norm(norm, f"norm{i}") if i > 0 else None
        if n is not None:
            x = n(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
    outputs = conv(1, 4, padding="same", kernel_initializer=init, name="logits",
                   dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)


def receptive_field(n_layers: int) -> int:
    """Receptive field (pixels) of one PatchGAN logit: 16, 34, 70 for 1, 2, 3 layers."""
    rf = 1
    for stride in [1, 1] + [2] * n_layers:  # walk back from the output: 4x4 kernels
        rf = rf * stride + (4 - stride)
    return rf


def srcnn(input_shape=(None, None, 1), filters=(64, 32), kernel_sizes=(9, 5, 5),
          residual: bool = False, name: str = "srcnn") -> keras.Model:
    """SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): super-resolution by three convolutions.

    The network works on the low-resolution image already interpolated to the target
    grid (e.g. :func:`i2i_keras.baselines.bicubic_upsample`), so input and output have
    the same size: patch extraction (9 x 9, 64 filters, ReLU), non-linear mapping
    (5 x 5, 32, ReLU; the 2014 paper's 1 x 1 is ``kernel_sizes=(9, 1, 5)``) and
    reconstruction (5 x 5, linear). Padding is "same" (the paper used "valid").

    input_shape: (H, W, C), None for any size. filters: widths of the hidden layers;
    kernel_sizes: one more than filters. residual: output = input + f(input), the last
    layer initialised to zero so the untrained network returns the interpolated input
    (it then learns only the missing detail, as VDSR does).

    Input (B, H, W, C) -> output (B, H, W, C), linear.

    >>> srcnn().count_params()
    57281
    """
    if len(kernel_sizes) != len(filters) + 1:
        raise ValueError(f"kernel_sizes needs one entry more than filters (the output "
                         f"layer), got {len(kernel_sizes)} and {len(filters)}")
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for i, (f, k) in enumerate(zip(filters, kernel_sizes), start=1):
        x = layers.Conv2D(f, k, padding="same", activation="relu", name=f"conv{i}")(x)
    channels = input_shape[-1]
    if residual:
        x = layers.Conv2D(channels, kernel_sizes[-1], padding="same",
                          kernel_initializer="zeros", name="correction", dtype=OUTPUT_DTYPE)(x)
        outputs = layers.Add(name="output", dtype=OUTPUT_DTYPE)([inputs, x])
    else:
        outputs = layers.Conv2D(channels, kernel_sizes[-1], padding="same", name="output",
                                dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)
