"""The yardstick of the trainer benchmarks: pix2pix and CycleGAN written the way their
best-known tutorials write them, with a hand-written training step.

Our own code, written after these sources (nothing copied from them):

- TensorFlow tutorial "pix2pix: Image-to-image translation with a conditional GAN",
  https://www.tensorflow.org/tutorials/generative/pix2pix (after Isola et al., CVPR 2017):
  the U-Net generator (``downsample``/``upsample`` blocks of 4x4 stride-2 convolutions,
  eight levels down to 1x1 at 256², dropout 0.5 in the three innermost up blocks, a
  transposed convolution with tanh out), the 70x70 PatchGAN discriminator (three stride-2
  blocks, zero padding, a stride-1 512-filter convolution, one logit per patch), binary
  cross-entropy on logits, L1 weight ``LAMBDA = 100``, and its ``train_step``: two
  ``GradientTape`` s inside one ``tf.function``, one Adam(2e-4, beta_1=0.5) per network.
- TensorFlow tutorial "CycleGAN", https://www.tensorflow.org/tutorials/generative/cyclegan:
  the same networks with instance norm (the discriminator judges the image alone), the
  same BCE, cycle weight 10 (both cycles in each generator's loss), identity weight 5
  (0.5 x 10), discriminator loss halved.
- keras-io "CycleGAN" by A. K. Nain, ``examples/generative/cyclegan.py`` in
  github.com/keras-team/keras-io: the form of the CycleGAN step, one persistent
  ``GradientTape`` over the six generator passes (translation, cycle, identity) and the
  four discriminator passes, then four gradients and four Adam updates. The step timed
  by ``trainer_speed.py`` runs the TensorFlow tutorial's networks and losses above in that
  form; keras-io's own recipe (:func:`keras_io_resnet_generator`: reflection padding, a
  7x7 stem, two stride-2 3x3 convolutions, nine residual blocks, instance norm with its
  RandomNormal(0, 0.02) gamma; :func:`keras_io_discriminator`: C64-C128-C256-C512 with
  a last stride 1; :func:`keras_io_cyclegan_losses`: least squares, each generator's
  loss with its own cycle only) is what ``time_to_quality.py`` trains.

Our changes, all of which the benchmarks have always timed: one image channel by default;
image sizes other than 256² (as many levels as the size allows, log2(size)); instance
norm as Keras' ``GroupNormalization(groups=-1)``.

The networks are plain Keras 3 (any backend), so ``jax_trainer_speed.py`` builds the
very same ones on JAX; the losses are written with ``keras.ops`` and shared by the
TensorFlow steps here and the JAX step there. Only :func:`pix2pix_step_fn` and
:func:`cyclegan_step_fn` need TensorFlow (imported when they are called).

>>> g = unet_generator(32, 1)                # 5 levels: 32 -> 1 pixel
>>> g.output_shape, patchgan(32, 1).output_shape
((None, 32, 32, 1), (None, 2, 2, 1))
"""

from __future__ import annotations

import keras
from keras import layers, ops

LAMBDA = 100.0          # pix2pix: weight of the L1 term of the generator's loss
LAMBDA_CYCLE = 10.0     # CycleGAN: weight of the cycle terms; identity: 0.5 x this
bce = keras.losses.BinaryCrossentropy(from_logits=True)


def _init():
    # A fresh initializer for every layer (an unseeded Keras 3 initializer that is reused
    # would give every layer of one shape the same weights).
    return keras.initializers.RandomNormal(0.0, 0.02)


def _norm(kind: str):
    if kind == "batch":
        return layers.BatchNormalization()
    return layers.GroupNormalization(groups=-1)  # one group per channel: instance norm


def downsample(filters: int, norm: str = "batch", apply_norm: bool = True) -> keras.Sequential:
    """Conv 4x4 stride 2 (no bias) -> norm -> LeakyReLU(0.2): halves the image."""
    block = keras.Sequential()
    block.add(layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=_init(),
                            use_bias=False))
    if apply_norm:
        block.add(_norm(norm))
    block.add(layers.LeakyReLU(0.2))
    return block


def upsample(filters: int, norm: str = "batch", apply_dropout: bool = False) -> keras.Sequential:
    """Transposed conv 4x4 stride 2 (no bias) -> norm -> [dropout 0.5] -> ReLU: doubles it."""
    block = keras.Sequential()
    block.add(layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                     kernel_initializer=_init(), use_bias=False))
    block.add(_norm(norm))
    if apply_dropout:
        block.add(layers.Dropout(0.5))
    block.add(layers.ReLU())
    return block


def unet_generator(size: int = 256, channels: int = 1, norm: str = "batch") -> keras.Model:
    """The tutorial's ``Generator()``: log2(size) stride-2 levels (8 at 256², widths 64,
    128, 256, then 512), as many up blocks less one with skips, and a tanh transposed
    convolution out. (B, size, size, channels) -> the same shape."""
    levels = size.bit_length() - 1
    if size != 2 ** levels or levels < 3:
        raise ValueError(f"size must be a power of two, at least 8; got {size}")
    widths = [64, 128, 256] + [512] * (levels - 3)
    down_stack = [downsample(w, norm, apply_norm=i > 0) for i, w in enumerate(widths)]
    up_stack = [upsample(w, norm, apply_dropout=i < 3)
                for i, w in enumerate(reversed(widths[:-1]))]
    inputs = layers.Input(shape=[size, size, channels])
    x, skips = inputs, []
    for down in down_stack:
        x = down(x)
        skips.append(x)
    for up, skip in zip(up_stack, reversed(skips[:-1])):
        x = layers.Concatenate()([up(x), skip])
    last = layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                  kernel_initializer=_init(), activation="tanh")
    return keras.Model(inputs=inputs, outputs=last(x))


def patchgan(size: int = 256, channels: int = 1, conditional: bool = True,
             norm: str = "batch") -> keras.Model:
    """The tutorial's ``Discriminator()``, the 70x70 PatchGAN: inputs [input image, target]
    (``conditional``, pix2pix) or the image alone (CycleGAN); logits of (size/8 - 2)²
    patches (30x30 at 256²)."""
    target = layers.Input(shape=[size, size, channels])
    if conditional:
        inp = layers.Input(shape=[size, size, channels])
        inputs, x = [inp, target], layers.Concatenate()([inp, target])
    else:
        inputs, x = target, target
    x = downsample(64, norm, apply_norm=False)(x)
    x = downsample(128, norm)(x)
    x = downsample(256, norm)(x)
    x = layers.ZeroPadding2D()(x)
    x = layers.Conv2D(512, 4, strides=1, kernel_initializer=_init(), use_bias=False)(x)
    x = _norm(norm)(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.ZeroPadding2D()(x)
    x = layers.Conv2D(1, 4, strides=1, kernel_initializer=_init())(x)
    return keras.Model(inputs=inputs, outputs=x)


def generator_loss(disc_generated, generated, target):
    """pix2pix: BCE(ones, D(input, G(input))) + LAMBDA x mean |target - G(input)|."""
    gan = bce(ops.ones_like(disc_generated), disc_generated)
    return gan + LAMBDA * ops.mean(ops.abs(target - generated))


def discriminator_loss(disc_real, disc_generated):
    """BCE(ones, D(real)) + BCE(zeros, D(fake))."""
    return (bce(ops.ones_like(disc_real), disc_real)
            + bce(ops.zeros_like(disc_generated), disc_generated))


def pix2pix_losses(generator, discriminator, input_image, target) -> list:
    """[generator loss, discriminator loss] of one pix2pix step; ``generator(x)`` and
    ``discriminator([x, y])`` run the networks (in training mode)."""
    gen_output = generator(input_image)
    disc_real = discriminator([input_image, target])
    disc_generated = discriminator([input_image, gen_output])
    return [generator_loss(disc_generated, gen_output, target),
            discriminator_loss(disc_real, disc_generated)]


def cyclegan_losses(g_ab, g_ba, d_a, d_b, real_a, real_b) -> list:
    """[G_ab loss, G_ba loss, D_a loss, D_b loss] of one CycleGAN step: BCE adversarial
    terms, LAMBDA_CYCLE x (both cycles' L1) in each generator's loss, identity L1 x
    0.5 LAMBDA_CYCLE, discriminator losses halved. Each argument network is a callable."""
    l1 = lambda p, q: ops.mean(ops.abs(p - q))  # noqa: E731
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    cycled_a, cycled_b = g_ba(fake_b), g_ab(fake_a)
    same_a, same_b = g_ba(real_a), g_ab(real_b)
    db_real, db_fake = d_b(real_b), d_b(fake_b)
    da_real, da_fake = d_a(real_a), d_a(fake_a)
    cycle = LAMBDA_CYCLE * (l1(real_a, cycled_a) + l1(real_b, cycled_b))
    identity = 0.5 * LAMBDA_CYCLE
    g_ab_loss = bce(ops.ones_like(db_fake), db_fake) + cycle + identity * l1(real_b, same_b)
    g_ba_loss = bce(ops.ones_like(da_fake), da_fake) + cycle + identity * l1(real_a, same_a)
    return [g_ab_loss, g_ba_loss, 0.5 * discriminator_loss(da_real, da_fake),
            0.5 * discriminator_loss(db_real, db_fake)]


def _training(net):
    return lambda inputs: net(inputs, training=True)


def _adam():
    return keras.optimizers.Adam(2e-4, beta_1=0.5)


def pix2pix_step_fn(size: int = 256, channels: int = 1):
    """The tutorial's ``train_step(input_image, target)`` on fresh networks: a
    ``tf.function`` that returns (generator loss, discriminator loss). TensorFlow only."""
    return pix2pix_train_step(unet_generator(size, channels), patchgan(size, channels))


def pix2pix_train_step(generator, discriminator):
    """:func:`pix2pix_step_fn`'s step on given networks (kept by the caller, e.g. to
    evaluate the generator), each with its own fresh Adam(2e-4, beta_1=0.5)."""
    import tensorflow as tf

    generator_optimizer, discriminator_optimizer = _adam(), _adam()

    @tf.function
    def train_step(input_image, target):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_loss, disc_loss = pix2pix_losses(_training(generator), _training(discriminator),
                                                 input_image, target)
        generator_gradients = gen_tape.gradient(gen_loss, generator.trainable_variables)
        discriminator_gradients = disc_tape.gradient(disc_loss,
                                                     discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(generator_gradients,
                                                generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(discriminator_gradients,
                                                    discriminator.trainable_variables))
        return gen_loss, disc_loss

    return train_step


def cyclegan_step_fn(size: int = 128, channels: int = 1):
    """A CycleGAN step as keras-io's ``CycleGan.train_step`` writes it (one persistent
    tape, four gradients, four Adams), on the TensorFlow tutorial's networks and losses:
    a ``tf.function`` of (real_a, real_b) that returns (G_ab loss, D_b loss)."""
    g_ab, g_ba = (unet_generator(size, channels, "instance") for _ in range(2))
    d_a, d_b = (patchgan(size, channels, conditional=False, norm="instance") for _ in range(2))
    return cyclegan_train_step((g_ab, g_ba, d_a, d_b))


def cyclegan_train_step(nets, losses_fn=cyclegan_losses):
    """:func:`cyclegan_step_fn`'s step on given networks ``nets`` = (G_ab, G_ba, D_a, D_b),
    each with its own fresh Adam(2e-4, beta_1=0.5); ``losses_fn(*nets, real_a, real_b)``
    gives their four losses in that order (:func:`cyclegan_losses`, or
    :func:`keras_io_cyclegan_losses` for keras-io's recipe)."""
    import tensorflow as tf

    nets = tuple(nets)
    optimizers = [_adam() for _ in nets]

    @tf.function
    def train_step(real_a, real_b):
        with tf.GradientTape(persistent=True) as tape:
            losses = losses_fn(*map(_training, nets), real_a, real_b)
        for loss, net, optimizer in zip(losses, nets, optimizers):
            grads = tape.gradient(loss, net.trainable_variables)
            optimizer.apply_gradients(zip(grads, net.trainable_variables))
        del tape
        return losses[0], losses[3]

    return train_step


# keras-io's CycleGAN recipe (A. K. Nain, examples/generative/cyclegan.py): its networks
# and least-squares losses, written after it for one channel and any size divisible by 8.


class ReflectionPad(layers.Layer):
    """keras-io's ``ReflectionPadding2D``: mirror ``padding`` pixels on each side of H, W."""

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):
        grow = lambda n: None if n is None else n + 2 * self.padding  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])


def _kio_norm():
    # keras-io: instance norm with gamma drawn from RandomNormal(0, 0.02) (not ones).
    return layers.GroupNormalization(groups=-1, gamma_initializer=_init())


def _kio_conv_block(x, filters, kernel, strides, activation, transpose=False,
                    padding="same"):
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(filters, kernel, strides=strides, padding=padding, kernel_initializer=_init(),
             use_bias=False)(x)
    x = _kio_norm()(x)
    return activation()(x) if activation else x


def keras_io_resnet_generator(size: int = 256, channels: int = 1,
                              residual_blocks: int = 9) -> keras.Model:
    """keras-io's ``get_resnet_generator``: c7s1-64, d128, d256, ``residual_blocks`` x R256
    (reflection padding, no bias), u128, u64, c7s1-``channels`` with tanh.
    (B, size, size, channels) -> the same shape; size a multiple of 4."""
    relu = layers.ReLU
    inputs = layers.Input(shape=[size, size, channels])
    x = ReflectionPad(3)(inputs)
    x = _kio_conv_block(x, 64, 7, 1, relu, padding="valid")
    for filters in (128, 256):
        x = _kio_conv_block(x, filters, 3, 2, relu)
    for _ in range(residual_blocks):
        h = _kio_conv_block(ReflectionPad(1)(x), 256, 3, 1, relu, padding="valid")
        h = _kio_conv_block(ReflectionPad(1)(h), 256, 3, 1, None, padding="valid")
        x = layers.Add()([x, h])
    for filters in (128, 64):
        x = _kio_conv_block(x, filters, 3, 2, relu, transpose=True)
    x = layers.Conv2D(channels, 7, padding="valid")(ReflectionPad(3)(x))
    return keras.Model(inputs, layers.Activation("tanh")(x))


def keras_io_discriminator(size: int = 256, channels: int = 1) -> keras.Model:
    """keras-io's ``get_discriminator``: C64 (no norm), C128, C256 (stride 2), C512
    (stride 1), then a 4x4 one-filter convolution: (size/8)² logits (32² at 256²)."""
    leaky = lambda: layers.LeakyReLU(0.2)  # noqa: E731
    inputs = layers.Input(shape=[size, size, channels])
    x = layers.Conv2D(64, 4, strides=2, padding="same", kernel_initializer=_init())(inputs)
    x = leaky()(x)
    for filters, strides in ((128, 2), (256, 2), (512, 1)):
        x = _kio_conv_block(x, filters, 4, strides, leaky)
    x = layers.Conv2D(1, 4, strides=1, padding="same", kernel_initializer=_init())(x)
    return keras.Model(inputs, x)


def keras_io_cyclegan_losses(g_ab, g_ba, d_a, d_b, real_a, real_b) -> list:
    """keras-io's four CycleGAN losses [G_ab, G_ba, D_a, D_b]: least squares (mean
    squared distance of D's output to 1 for the generators; 0.5 (real to 1 + fake to 0)
    for the discriminators); each generator's loss has the adversarial term, *its own*
    cycle (G_ab: b -> a -> b) x LAMBDA_CYCLE and its identity term x 0.5 LAMBDA_CYCLE."""
    l1 = lambda p, q: ops.mean(ops.abs(p - q))  # noqa: E731
    l2 = lambda p, q: ops.mean(ops.square(p - q))  # noqa: E731
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    cycled_a, cycled_b = g_ba(fake_b), g_ab(fake_a)
    same_a, same_b = g_ba(real_a), g_ab(real_b)
    da_real, da_fake = d_a(real_a), d_a(fake_a)
    db_real, db_fake = d_b(real_b), d_b(fake_b)
    identity = 0.5 * LAMBDA_CYCLE
    g_ab_loss = (l2(ops.ones_like(db_fake), db_fake) + LAMBDA_CYCLE * l1(real_b, cycled_b)
                 + identity * l1(real_b, same_b))
    g_ba_loss = (l2(ops.ones_like(da_fake), da_fake) + LAMBDA_CYCLE * l1(real_a, cycled_a)
                 + identity * l1(real_a, same_a))
    d_a_loss = 0.5 * (l2(ops.ones_like(da_real), da_real) + l2(ops.zeros_like(da_fake), da_fake))
    d_b_loss = 0.5 * (l2(ops.ones_like(db_real), db_real) + l2(ops.zeros_like(db_fake), db_fake))
    return [g_ab_loss, g_ba_loss, d_a_loss, d_b_loss]
