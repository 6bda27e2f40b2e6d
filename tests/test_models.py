import keras
import numpy as np
import pytest

from i2i_keras import models


@pytest.mark.parametrize("depth,size", [(1, 32), (2, 32), (3, 64), (4, 64)])
def test_unet_keeps_the_image_shape(depth, size):
    g = models.unet((size, size, 2), out_channels=1, depth=depth, base_filters=4)
    out = g.predict(np.zeros((2, size, size, 2), np.float32), verbose=0)
    assert out.shape == (2, size, size, 1)
    assert np.all(np.abs(out) <= 1.0)  # tanh output


def test_unet_rejects_sizes_that_do_not_halve_cleanly():
    with pytest.raises(ValueError, match=r"multiple of 2\*\*depth = 16"):
        models.unet((100, 100, 1), depth=4)


def test_unet_options():
    for kw in ({"norm": "batch", "upsampling": "resize", "dropout": 0.5},
               {"norm": "none", "output_activation": None}):
        g = models.unet((32, 32, 1), depth=2, base_filters=4, **kw)
        assert g.output_shape == (None, 32, 32, 1)
    with pytest.raises(ValueError, match="norm"):
        models.unet((32, 32, 1), norm="layer")


def test_residual_unet_starts_as_identity():
    g = models.unet((32, 32, 1), depth=2, base_filters=4, residual=True)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(g.predict(x, verbose=0), x, atol=1e-6)


def test_max_filters_caps_the_width():
    g = models.unet((64, 64, 1), depth=4, base_filters=16, max_filters=32)
    assert max(layer.filters for layer in g.layers if hasattr(layer, "filters")) == 32


def test_pix2pix_generator_is_the_tensorflow_tutorials_u_net_256():
    g = models.pix2pix_generator()  # 256² x 3 in and out, as the tutorial
    assert g.count_params() == 54_425_859  # the tutorial's Generator().summary()
    assert g.output_shape == (None, 256, 256, 3)
    convs = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 128, 256] + [512] * 5  # 8 levels to 1x1
    assert all(c.kernel_size == (4, 4) and c.strides == (2, 2) for c in convs)
    dropouts = [layer.name for layer in g.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == ["up6_dropout", "up5_dropout", "up4_dropout"]  # the innermost three
    # The double-conv U-Net at the same depth and width is the bigger network.
    assert models.unet((256, 256, 3), 3, depth=8, base_filters=64).count_params() > 7e7


@pytest.mark.parametrize("shape,depth", [((32, 32, 2), None), ((64, 32, 1), None),
                                         ((None, None, 1), 3)])
def test_pix2pix_generator_keeps_the_image_shape(shape, depth):
    g = models.pix2pix_generator(shape, out_channels=1, depth=depth, base_filters=4,
                                 norm="instance")
    h, w = shape[0] or 24, shape[1] or 40
    out = g.predict(np.zeros((2, h, w, shape[2]), np.float32), verbose=0)
    assert out.shape == (2, h, w, 1)
    assert np.all(np.abs(out) <= 1.0)  # tanh output


def test_pix2pix_generator_says_which_sizes_work():
    with pytest.raises(ValueError, match=r"100x100.*power of two.*depth=2 fits 100x100"):
        models.pix2pix_generator((100, 100, 1))
    with pytest.raises(ValueError, match=r"multiples of 2\*\*4 = 16.*depth=3 fits 40x40"):
        models.pix2pix_generator((40, 40, 1), depth=4)
    with pytest.raises(ValueError, match="crop or pad"):
        models.pix2pix_generator((255, 255, 1))
    with pytest.raises(ValueError, match="pass depth="):
        models.pix2pix_generator((None, None, 1))
    with pytest.raises(ValueError, match="norm"):
        models.pix2pix_generator((32, 32, 1), norm="layer")


@pytest.mark.parametrize("n_layers,rf", [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field(n_layers, rf):
    import tensorflow as tf

    assert models.receptive_field(n_layers) == rf
    d = models.patchgan((96, 96, 1), n_layers=n_layers, base_filters=4, norm="none",
                        conditional=False)
    x = tf.Variable(np.random.default_rng(0).normal(size=(1, 96, 96, 1)).astype("f4"))
    with tf.GradientTape() as tape:
        out = d(x)
        centre = out[0, out.shape[1] // 2, out.shape[2] // 2, 0]
    grad = np.abs(tape.gradient(centre, x).numpy()[0, ..., 0])
    rows, cols = np.nonzero(grad.sum(1))[0], np.nonzero(grad.sum(0))[0]
    assert rows.max() - rows.min() + 1 <= rf and cols.max() - cols.min() + 1 <= rf


def test_conditional_patchgan_takes_condition_and_image():
    d = models.patchgan((64, 64, 1), n_layers=2, base_filters=8, condition_channels=2)
    out = d.predict([np.zeros((1, 64, 64, 2), "f4"), np.zeros((1, 64, 64, 1), "f4")],
                    verbose=0)
    assert out.shape == (1, 16, 16, 1)


def test_srcnn_keeps_the_size_and_its_residual_form_starts_as_identity():
    net = models.srcnn()
    assert net.count_params() == 57281  # 9-5-5 with 64 and 32 filters (Dong et al. 2016)
    x = np.random.default_rng(0).normal(size=(2, 40, 24, 1)).astype(np.float32)
    assert net.predict(x, verbose=0).shape == (2, 40, 24, 1)
    res = models.srcnn((None, None, 2), filters=(8,), kernel_sizes=(5, 3), residual=True)
    x2 = np.random.default_rng(1).normal(size=(1, 16, 16, 2)).astype(np.float32)
    np.testing.assert_allclose(res.predict(x2, verbose=0), x2, atol=1e-6)
    with pytest.raises(ValueError, match="one entry more"):
        models.srcnn(kernel_sizes=(9, 5))


def test_window_channels_stretch_a_window_and_keep_the_image():
    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal((1, 16, 16, 1))).astype("float32")
    layer = models.WindowChannels([(-0.1, 0.1), (-0.05, 0.0)])
    out = keras.ops.convert_to_tensor(layer(x)).numpy()
    assert out.shape == (1, 16, 16, 3)
    np.testing.assert_array_equal(out[..., 0], x[..., 0])  # the image itself, untouched
    np.testing.assert_allclose(out[..., 1], np.clip(10 * x[..., 0], -1, 1), atol=1e-6)
    np.testing.assert_allclose(out[..., 2], np.clip(40 * x[..., 0] + 1, -1, 1), atol=1e-5)
    again = models.WindowChannels.from_config(layer.get_config())
    assert again.windows == [(-0.1, 0.1), (-0.05, 0.0)]


def test_patchgan_with_windows_sees_one_channel_per_window():
    net = models.patchgan((32, 32, 1), n_layers=2, base_filters=4, conditional=False,
                          windows=[(-0.5, 0.0), (-0.3, -0.1)])
    assert net.get_layer("conv0").kernel.shape[-2] == 3
    assert net(np.zeros((2, 32, 32, 1), "float32")).shape == (2, 8, 8, 1)
