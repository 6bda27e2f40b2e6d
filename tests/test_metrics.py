import numpy as np
import pytest

from i2i_keras import baselines, metrics, phantoms


def test_psnr_mae_and_bias_known_values():
    target = np.zeros((2, 10, 10))
    pred = target + 30.0
    assert metrics.mae(pred, target) == 30.0
    assert metrics.mean_error(pred, target) == 30.0
    assert metrics.psnr(pred, target, data_range=3000.0) == pytest.approx(40.0)
    mask = np.zeros_like(target, bool)
    mask[:, :5] = True
    pred[:, 5:] = 1000.0
    assert metrics.mae(pred, target, mask) == 30.0
    assert metrics.ssim(target + 1, target + 1, data_range=10.0) == pytest.approx(1.0)


def test_hu_report_per_tissue():
    head = phantoms.head_slice(64, seed=0, z=-0.5)
    masks = metrics.tissue_masks(head.labels[None])
    pred = head.hu[None] + np.where(masks["bone"], 100.0, 0.0)
    rep = metrics.hu_report(pred, head.hu[None], masks)
    assert rep["MAE bone (HU)"] == pytest.approx(100.0)
    assert rep["MAE soft tissue (HU)"] == 0.0
    assert 0 < rep["MAE body (HU)"] < 100
    from_ct = metrics.tissue_masks_from_ct(head.hu, masks["body"])
    assert from_ct["bone"].sum() > 0 and from_ct["soft tissue"].sum() > from_ct["bone"].sum()


def test_bulk_density_recovers_a_piecewise_constant_mapping():
    rng = np.random.default_rng(0)
    mr = np.zeros((4, 32, 32))
    ct = np.full((4, 32, 32), -1000.0)
    yy, xx = np.mgrid[:32, :32]
    inner = (yy - 15.5) ** 2 + (xx - 15.5) ** 2 < 13 ** 2  # a round "head"
    levels = rng.choice([0.2, 0.5, 0.9], size=(4, 32, 32))
    mr[:, inner] = levels[:, inner]
    ct[:, inner] = np.select([levels == 0.2, levels == 0.5, levels == 0.9],
                             [1000.0, 30.0, -100.0])[:, inner]
    rule = baselines.BulkDensity(n_classes=3).fit(mr, ct)
    np.testing.assert_allclose(rule.predict(mr), ct)
    assert "thresholds" in repr(rule)
    with pytest.raises(RuntimeError):
        baselines.BulkDensity().predict(mr)


def test_psnr_in_window_clips_both_images():
    target = np.zeros((2, 8, 8))
    pred = target + 4.0
    pred[:, 0, 0] = 5000.0  # outside the window: counts only up to the window's edge
    target[:, 0, 1] = -3000.0
    expected = 10 * np.log10(400.0 ** 2 / ((240.0 ** 2 + 62 * 16.0 + 164.0 ** 2) / 64))
    assert metrics.psnr_in_window(pred, target, (-160.0, 240.0)) == pytest.approx(expected)


def test_nps_of_white_noise_is_flat_at_variance_times_pixel_area():
    rng = np.random.default_rng(0)
    sigma, pixel = 12.0, 0.7
    noise = rng.normal(0.0, sigma, (40, 64, 64))
    f, nps = metrics.noise_power_spectrum(noise, pixel_mm=pixel, reference=0)
    assert f[0] == 0.0 and f[-1] == pytest.approx(0.5 / pixel)
    np.testing.assert_allclose(nps[1:], sigma ** 2 * pixel ** 2, rtol=0.2)  # 4+ bins a ring
    assert nps[1:].mean() == pytest.approx(sigma ** 2 * pixel ** 2, rel=0.02)
    # Noise around a common object: the stack mean is the object (N/(N-1) corrected).
    obj = 100.0 * np.sin(np.arange(64) / 5.0)[None, :]
    f2, nps2 = metrics.noise_power_spectrum(obj + noise[:10], pixel_mm=pixel)
    assert nps2[1:].mean() == pytest.approx(sigma ** 2 * pixel ** 2, rel=0.05)
    # An ROI and an explicit reference image.
    f3, nps3 = metrics.noise_power_spectrum(obj + noise, roi=(slice(0, 32), slice(16, 48)),
                                            pixel_mm=pixel, reference=obj)
    assert len(f3) == 17 and nps3[1:].mean() == pytest.approx(sigma ** 2 * pixel ** 2, rel=0.05)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.noise_power_spectrum(noise[0])


def test_nps_of_smoothed_noise_moves_power_to_low_frequencies():
    from scipy import ndimage

    noise = np.random.default_rng(1).normal(0.0, 10.0, (20, 64, 64))
    smooth = ndimage.gaussian_filter(noise, (0, 1.5, 1.5), mode="wrap")
    f, white = metrics.noise_power_spectrum(noise, reference=0)
    _, blotchy = metrics.noise_power_spectrum(smooth, reference=0)
    assert blotchy[-1] < 0.01 * white[-1]  # high frequencies gone
    assert blotchy[1] > 0.5 * blotchy[1:].max()  # what is left is low frequency
    # The 2D NPS integrates to the variance: sum over the radial rings ~ sum over bins.
    assert np.sum(blotchy[1:] * 2 * np.pi * f[1:] * (f[1] - f[0])) == \
        pytest.approx(smooth.var(), rel=0.15)


def test_high_frequency_energy_drops_with_blur():
    from scipy import ndimage

    head = phantoms.head_slice(128, seed=0).mr("T1", seed=0)
    blurred = ndimage.gaussian_filter(head, 2.0)
    sharp_e, blur_e = (metrics.high_frequency_energy(head),
                       metrics.high_frequency_energy(blurred))
    assert 0.0 < blur_e < 0.5 * sharp_e < 1.0
    flat = metrics.high_frequency_energy(np.full((2, 16, 16), 7.0))
    assert flat == 0.0
    rng = np.random.default_rng(0)
    assert metrics.high_frequency_energy(rng.normal(size=(8, 64, 64)), cutoff=0.5) == \
        pytest.approx(1 - np.pi / 16, abs=0.01)  # area outside the circle of radius 1/4


def test_noise_sd_sees_the_noise_added_to_a_phantom_and_not_its_anatomy():
    """Immerkaer's kernel with a median: a noise-free phantom (skull edges and all) reads
    near 0 HU, the same phantom with 20 / 40 HU of white noise reads at least that and at
    most 25 % more (its texture leaks in), and the SD doubles with the noise (a broken
    gain, or the mean's edge leak, would not)."""
    ct = phantoms.head_slice(128, seed=3).ct(noise_hu=0.0)
    rng = np.random.default_rng(0)
    clean = metrics.noise_sd(ct)
    noisy = [metrics.noise_sd(ct + rng.normal(0.0, sd, ct.shape)) for sd in (20.0, 40.0)]
    assert clean < 2.0
    assert 19.0 < noisy[0] < 25.0 and 39.0 < noisy[1] < 50.0
    assert noisy[1] / noisy[0] == pytest.approx(2.0, abs=0.15)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        metrics.noise_sd(np.zeros((2, 8, 8)))
