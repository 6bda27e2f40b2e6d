"""Sliding-window inference (i2i_keras.inference): tiling, blending, volumes, seams."""

import keras
import numpy as np
import pytest

from i2i_keras import inference, models
from i2i_keras.io import I2IDataError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("blend", inference.BLENDS)
@pytest.mark.parametrize("overlap", [0.0, 0.5, 0.75])
def test_a_pointwise_network_is_reproduced_exactly(blend, overlap):
    """Blending is a weighted mean of tiles: for a network that looks at one pixel at a
    time every tile agrees, so any error is tiling (a pixel missed, counted twice,
    weights not normalised, the padded last batch leaking in)."""
    images = RNG.standard_normal((3, 70, 53, 2)).astype("float32")
    def f(x):
        return np.tanh(x[..., :1] - 2 * x[..., 1:])
    out = inference.sliding_window(images, f, (32, 16), overlap=overlap, blend=blend,
                                   batch_size=5, progress=False)
    np.testing.assert_allclose(out, f(images), atol=1e-5)


def test_three_spatial_axes_work_unchanged_for_a_3d_network():
    volume = RNG.standard_normal((1, 20, 40, 36, 1)).astype("float32")
    out = inference.sliding_window(volume, lambda x: 3 * x + 1, (8, 16, 16), progress=False)
    np.testing.assert_allclose(out, 3 * volume + 1, atol=1e-5)


def test_tile_starts_cover_the_axis_and_follow_the_alignment():
    for size, patch, overlap, align in [(100, 32, 0.5, 1), (128, 64, 0.5, 8), (77, 77, 0.5, 1),
                                        (200, 48, 0.25, 16)]:
        starts = inference.tile_starts(size, patch, overlap, align)
        covered = np.zeros(size, int)
        for s in starts:
            covered[s:s + patch] += 1
        assert covered.min() >= 1 and starts[-1] == size - patch
        assert all(s % align == 0 for s in starts[:-1])


def test_per_tile_offsets_leave_a_seam_only_without_blending():
    """A network whose output jumps by a different offset in every tile: plain tiling
    (no overlap) steps by the offset difference at each tile border; linear blending
    with half overlap spreads the change over half a tile (16 pixels), so a border step
    is at most about 2 x offset / 16 (bound with 2x headroom: offset / 4)."""
    offsets = iter(np.random.default_rng(1).uniform(-1, 1, 1000))

    def jumpy(x):
        return np.stack([np.full(x.shape[1:], next(offsets), "float32") for _ in x])

    flat = np.zeros((1, 96, 96, 1), "float32")
    plain = inference.sliding_window(flat, jumpy, 32, overlap=0.0, blend="constant",
                                     progress=False)[0, ..., 0]
    blended = inference.sliding_window(flat, jumpy, 32, overlap=0.5, blend="linear",
                                       progress=False)[0, ..., 0]
    steps = {name: np.abs(np.diff(a, axis=1)).max() for name, a in
             (("plain", plain), ("blended", blended))}
    assert steps["plain"] > 0.1  # random offsets in [-1, 1] differ
    assert steps["blended"] < 0.25 * 2.0  # offset differences are at most 2


def test_a_unet_tiled_matches_one_prediction_away_from_the_border():
    """With Gaussian weights the tiles' edge effects (zero padding where the whole image
    has anatomy) weigh little. Seeded, untrained U-Net without normalisation layers:
    mean difference 2.3e-5, constant weights 1.2e-3 (measured): Gaussian must be 10x better
    and within 1e-3 (1.5 HU on CT's [-1000, 2000] window) on average."""
    keras.utils.set_random_seed(0)
    net = models.unet((None, None, 1), depth=3, base_filters=8, norm="none")
    from scipy import ndimage

    x = ndimage.gaussian_filter(RNG.standard_normal((2, 128, 128, 1)), (0, 2, 2, 0)) * 5
    x = x.astype("float32")
    whole = net.predict(x, verbose=0)
    diffs = {}
    for blend in ("gaussian", "constant"):
        tiled = inference.sliding_window(x, net, 64, overlap=0.5, blend=blend, align=8,
                                         progress=False)
        diffs[blend] = np.abs(tiled - whole)[:, 16:-16, 16:-16].mean()
    print("mean |tiled - whole| away from the border:", diffs)
    assert diffs["gaussian"] < 1e-3 and diffs["gaussian"] < diffs["constant"] / 10, diffs


def test_instance_normalisation_breaks_tiling():
    """What the tutorial warns about: instance normalisation takes its statistics over
    whatever it is given, so a tile is normalised unlike the whole image."""
    keras.utils.set_random_seed(0)
    net = models.unet((None, None, 1), depth=2, base_filters=8, norm="instance")
    x = np.linspace(-1, 1, 64 * 64, dtype="float32").reshape(1, 64, 64, 1) ** 3
    tiled = inference.sliding_window(x, net, 32, progress=False)
    assert np.abs(tiled - net.predict(x, verbose=0)).mean() > 1e-2


def test_predict_volume_2d_and_2p5d_channels():
    volume = RNG.standard_normal((6, 40, 48)).astype("float32")
    flat = inference.predict_volume(volume, lambda x: -x, patch=32, progress=False)
    np.testing.assert_allclose(flat[..., 0], -volume, atol=1e-5)
    for channel, shift in [(0, -2), (2, 0), (4, 2)]:  # context 2: slices k-2 ... k+2
        out = inference.predict_volume(volume, lambda x, c=channel: x[..., c:c + 1],
                                       patch=32, mode="2.5d", context=2, progress=False)
        wanted = volume[np.clip(np.arange(6) + shift, 0, 5)]
        np.testing.assert_allclose(out[..., 0], wanted, atol=1e-5)
    whole = inference.predict_volume(volume, lambda x: x * 0 + x.shape[1], progress=False)
    np.testing.assert_allclose(whole, 40.0, rtol=1e-6)  # patch=None: whole slices at once
    with pytest.raises(ValueError, match="3D network takes the whole volume"):
        inference.predict_volume(volume, lambda x: x, mode="3d")


def test_an_image_smaller_than_the_patch_is_refused_before_any_work():
    calls = []
    with pytest.raises(I2IDataError, match=r"\(40 x 30\) is smaller than the patch "
                                           r"\(64 x 64\).*Pad it"):
        inference.sliding_window(np.zeros((1, 40, 30, 1), "f4"), calls.append, 64)
    assert not calls


def test_keras_model_batches_and_progress_bar(capsys):
    keras.utils.set_random_seed(0)
    net = models.unet((None, None, 1), depth=1, base_filters=4, norm="none", residual=True)
    x = RNG.standard_normal((1, 48, 48, 1)).astype("float32")
    out = inference.sliding_window(x, net, 16, batch_size=4)  # 25 tiles: last batch padded
    np.testing.assert_allclose(out, x, atol=1e-5)  # a fresh residual U-Net is the identity
    assert "tiles" in capsys.readouterr().out  # on standard output, not red stderr


def test_seam_ratio_sees_a_step_and_respects_the_mask():
    ramp = np.tile(np.arange(32.0), (8, 1))
    assert inference.seam_ratio(ramp, [8, 16]) == pytest.approx(1.0)
    stepped = ramp + 3.0 * (np.arange(32) >= 16)
    assert inference.seam_ratio(stepped, [16]) == pytest.approx(4.0)
    mask = np.zeros_like(ramp, bool)
    mask[:, 10:] = True
    assert inference.seam_ratio(stepped.T, [16], axis=0, mask=mask.T) == pytest.approx(4.0)
