"""3D networks, the foreground-weighted 3D patch sampler and training on 3D patches
(models.unet / models.patchgan with a (D, H, W, C) input, volumes.sample_patches,
training.Supervised / Pix2Pix on 5D batches)."""

import itertools

import keras
import numpy as np
import pytest

from i2i_keras import inference, io, models, training, volumes


def _unet_weights(k: int, c_in: int, widths: list[int], out: int) -> int:
    """Weights of models.unet (instance norm: no conv bias, a scale and a shift per
    channel), counted by hand from its layers for kernels of k taps (9 in 2D, 27 in 3D)
    and 2**dims-tap transposed convolutions (2 taps a side)."""
    pool = {9: 4, 27: 8}[k]
    block = lambda a, b: k * a * b + 2 * b + k * b * b + 2 * b  # noqa: E731
    total, prev = 0, c_in
    for w in widths[:-1]:
        total += block(prev, w)
        prev = w
    total += block(prev, widths[-1])
    for level in reversed(range(len(widths) - 1)):
        total += pool * widths[level + 1] * widths[level] + widths[level]  # transpose + bias
        total += block(2 * widths[level], widths[level])
    return total + widths[0] * out + out


@pytest.mark.parametrize("shape", [(8, 16, 24, 1), (None, None, None, 2)])
def test_unet_3d_keeps_the_shape_and_has_the_hand_counted_weights(shape):
    net = models.unet(shape, depth=2, base_filters=4)
    assert net.output_shape == (None, *shape[:3], 1)
    assert net.count_params() == _unet_weights(27, shape[-1], [4, 8, 16], 1)
    assert [type(net.get_layer(n)).__name__ for n in ("down0_conv1", "pool0", "up0")] == \
        ["Conv3D", "MaxPooling3D", "Conv3DTranspose"]
    x = np.random.default_rng(0).standard_normal((2, 8, 16, 24, shape[-1])).astype("f4")
    assert net.predict(x, verbose=0).shape == (2, 8, 16, 24, 1)


def test_2d_builders_are_unchanged():
    """The 2D networks keep their weight counts (the doctests' and the hand count)."""
    assert models.unet((64, 64, 1), depth=2, base_filters=8).count_params() == 29481
    assert models.unet((64, 64, 1), depth=3, base_filters=16).count_params() == \
        _unet_weights(9, 1, [16, 32, 64, 128], 1)
    assert models.patchgan((64, 64, 1), n_layers=2, base_filters=8).count_params() == 11113


def test_unet_3d_options_and_refusals():
    net = models.unet((8, 16, 16, 1), depth=1, base_filters=4, norm="batch",
                      upsampling="resize", residual=True, dropout=0.1)
    x = np.random.default_rng(1).standard_normal((1, 8, 16, 16, 1)).astype("f4")
    np.testing.assert_allclose(net.predict(x, verbose=0), x, atol=1e-6)  # identity at start
    with pytest.raises(ValueError, match=r"image size 12x16x16 is not a multiple of 2\*\*depth"):
        models.unet((12, 16, 16, 1), depth=3)
    with pytest.raises(ValueError, match=r"\(D, H, W, C\) for volumes, got \(16, 1\)"):
        models.unet((16, 1))


def test_patchgan_3d_logits_and_weights():
    d = models.patchgan((16, 32, 32, 1), n_layers=2, base_filters=8)
    assert d.output_shape == (None, 4, 8, 8, 1)
    # 4x4x4 kernels: conv0 (2 channels in, bias), conv1 and conv2 (instance norm), logits.
    assert d.count_params() == (64 * 2 * 8 + 8) + (64 * 8 * 16 + 32) + (64 * 16 * 32 + 64) \
        + (64 * 32 + 1)
    single = models.patchgan((8, 16, 16, 1), n_layers=1, base_filters=4, conditional=False,
                             spectral_norm=True, norm="none")
    assert type(single.get_layer("conv0")).__name__ == "SpectralConv3D"
    assert single.output_shape == (None, 4, 8, 8, 1)


def test_spectral_conv_3d_divides_by_the_largest_singular_value():
    conv = models.SpectralConv3D(3, 3, padding="same", power_iterations=30)
    conv(np.ones((1, 4, 4, 4, 2), "float32"), training=True)
    w = np.reshape(conv.kernel.numpy(), (-1, 3))  # (3*3*3*2, 3)
    assert float(conv.sigma()) == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-3)


# --- the sampler ------------------------------------------------------------------------

GRID, PATCH = (12, 40, 40), (4, 8, 8)


def _blob():
    fg = np.zeros(GRID, bool)
    fg[6:8, 30:33, 5:8] = True  # a small foreground: 18 voxels near one side
    return fg


def _contains(fg, corners):
    return np.array([fg[tuple(slice(c, c + p) for c, p in zip(corner, PATCH))].any()
                     for corner in corners])


def _uniform_share(fg):
    """The exact share of all corners that fit whose patch holds foreground."""
    corners = itertools.product(*(range(s - p + 1) for s, p in zip(GRID, PATCH)))
    return float(_contains(fg, list(corners)).mean())


def test_foreground_share_is_the_forced_share_plus_what_uniform_patches_catch():
    fg, n = _blob(), 3000
    p = _uniform_share(fg)  # 0.032 for this blob
    for fraction in (0.0, 1 / 3, 0.75):
        hit = _contains(fg, volumes.patch_corners(GRID, PATCH, n, fg, fraction, rng=5)).mean()
        expected = fraction + (1 - fraction) * p  # forced patches always hold it
        sd = np.sqrt(p * (1 - p) * (1 - fraction) / n)  # only the uniform ones vary
        assert abs(hit - expected) < 4 * sd + 1e-9, (fraction, hit, expected)
    assert _contains(fg, volumes.patch_corners(GRID, PATCH, 200, fg, 1.0, rng=1)).all()


def test_forced_patches_place_the_voxel_anywhere_inside_and_corners_stay_inside():
    fg = np.zeros(GRID, bool)
    fg[0, 0, 39] = True  # a corner voxel: clipping must keep it inside the patch
    c = volumes.patch_corners(GRID, PATCH, 500, fg, 1.0, rng=2)
    assert _contains(fg, c).all()
    assert (c >= 0).all() and (c <= np.subtract(GRID, PATCH)).all()
    centre = np.zeros(GRID, bool)
    centre[6, 20, 20] = True
    c = volumes.patch_corners(GRID, PATCH, 2000, centre, 1.0, rng=3)
    # The voxel's position inside the patch takes every value along each axis.
    for axis, (v, p) in enumerate(zip((6, 20, 20), PATCH)):
        assert sorted(set(v - c[:, axis])) == list(range(p))
    uniform = volumes.patch_corners(GRID, PATCH, 4000, None, rng=4)
    assert uniform.min(0).tolist() == [0, 0, 0]
    assert uniform.max(0).tolist() == list(np.subtract(GRID, PATCH))


def test_sample_patches_cuts_the_same_place_from_each_stack():
    rng = np.random.default_rng(0)
    mr = rng.random((3, *GRID, 1)).astype("f4")
    ct = 2 * mr[..., 0] - 1
    fg = np.zeros((3, *GRID), bool)
    fg[1, 6, 20, 20] = True  # foreground in volume 1 only
    x, y = volumes.sample_patches([mr, ct], PATCH, 60, fg, 1.0, rng=1)
    assert x.shape == (60, *PATCH, 1) and y.shape == (60, *PATCH)
    np.testing.assert_array_equal(y, 2 * x[..., 0] - 1)
    # Each patch is the block of one volume at one corner: find it.
    for patch_x in x[:5, ..., 0]:
        found = [(v, c) for v in range(3) for c in itertools.product(
            *(range(s - p + 1) for s, p in zip(GRID, PATCH)))
            if np.array_equal(mr[(v, *(slice(a, a + p) for a, p in zip(c, PATCH)))][..., 0],
                              patch_x)]
        assert len(found) == 1
    with pytest.raises(io.I2IDataError, match="does not fit in a volume of 12 x 40 x 40"):
        volumes.sample_patches([mr], (16, 8, 8), 2)


def test_patch_batches_repeat_with_the_seed():
    v = np.random.default_rng(0).random((2, *GRID, 1)).astype("f4")
    a = next(volumes.patch_batches([v, v], PATCH, 4, seed=3))
    b = next(volumes.patch_batches([v, v], PATCH, 4, seed=3))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (4, *PATCH, 1)


# --- training on 3D patches -------------------------------------------------------------


def _volumes(n=4, seed=0):
    """Smooth random volumes x and a target y = a fixed non-linear map of x (0.5 + tanh)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    x = np.stack([ndimage.gaussian_filter(rng.standard_normal((8, 16, 16)), 1.5)
                  for _ in range(n)])
    x = (x / x.std())[..., None].astype("f4")
    return x, np.tanh(2 * x - 0.5).astype("f4")


def test_supervised_fits_3d_patches_and_the_loss_falls():
    keras.utils.set_random_seed(0)
    x, y = _volumes()
    net = models.unet((8, 8, 8, 1), depth=1, base_filters=4, norm="none")
    trainer = training.Supervised(net)
    trainer.compile(keras.optimizers.Adam(3e-3), loss="l1")
    batches = volumes.patch_batches([x, y], (8, 8, 8), batch_size=4, seed=0)
    history = trainer.fit(batches, steps_per_epoch=20, epochs=4, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.5 * loss[0], loss  # measured: 0.56 -> 0.16
    # A network trained on 8^3 patches runs on the whole 8x16x16 volume by tiles.
    out = inference.sliding_window(x[:1], net, (8, 8, 8), align=2, progress=False)
    assert out.shape == (1, 8, 16, 16, 1)
    assert np.abs(out - y[:1]).mean() < np.abs(y[:1]).mean() / 2


def test_pix2pix_steps_on_3d_patches():
    keras.utils.set_random_seed(0)
    x, y = _volumes(2)
    g = models.unet((8, 8, 8, 1), depth=1, base_filters=4)
    d = models.patchgan((8, 8, 8, 1), n_layers=1, base_filters=4)
    gan = training.Pix2Pix(g, d)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5),
                gan_loss="wgan-gp")
    weights = g.trainable_weights + d.trainable_weights
    before = [w.numpy().copy() for w in weights]
    logs = gan.fit(volumes.patch_batches([x, y], (8, 8, 8), 2), steps_per_epoch=2, epochs=1,
                   verbose=0).history
    assert {"g_loss", "d_loss", "gp"} <= set(logs)
    assert all(np.isfinite(v[-1]) for v in logs.values())
    unchanged = [w.path for a, w in zip(before, weights) if np.array_equal(a, w.numpy())]
    # Every weight of both networks moved but the critic's output bias, which the
    # Wasserstein loss mean D(fake) - mean D(real) and the penalty do not depend on.
    assert unchanged == ["logits/bias"]
