"""Physics forward models: the numbers they must get right."""

import numpy as np
import pytest
from scipy import special
from skimage.data import shepp_logan_phantom
from skimage.transform import iradon, resize

from i2i_keras import physics
from i2i_keras.io import I2IDataError


def psnr(image, reference, data_range=1.0):
    return 10 * np.log10(data_range**2 / np.mean((image - reference) ** 2))


def disk(size, radius_px, inside=1.0, outside=0.0):
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return np.where(xx**2 + yy**2 <= radius_px**2, inside, outside)


@pytest.fixture(scope="module")
def phantom128():
    return resize(shepp_logan_phantom(), (128, 128), anti_aliasing=True)


# --- CT: the operator ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(image_size=40, n_angles=30),
    dict(image_size=33, n_angles=20, angle_range_deg=120.0, start_angle_deg=10.0),
    dict(image_size=32, n_angles=25, detector_spacing_mm=1.3, pixel_size_mm=1.0),
    dict(image_size=24, n_angles=10, n_detectors=15),  # detector narrower than the image
])
@pytest.mark.parametrize("max_matrix_mb", [256.0, 0.0])  # cached matrix / view by view
def test_adjoint_identity(kwargs, max_matrix_mb):
    """<A x, y> = <x, A^T y> to 1e-10 relative in float64 (exact up to round-off)."""
    ct = physics.ParallelBeamCT(**kwargs, max_matrix_mb=max_matrix_mb)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *ct.image_shape))
    y = rng.standard_normal((2, *ct.sinogram_shape))
    lhs, rhs = np.vdot(ct.A(x), y), np.vdot(x, ct.A_adjoint(y))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


def test_matrix_and_view_by_view_paths_agree():
    cached = physics.ParallelBeamCT(36, 24, angle_range_deg=150.0)
    streamed = physics.ParallelBeamCT(36, 24, angle_range_deg=150.0, max_matrix_mb=0.0)
    assert cached.uses_matrix and not streamed.uses_matrix
    x = np.random.default_rng(1).random((36, 36))
    y = np.random.default_rng(2).random(cached.sinogram_shape)
    np.testing.assert_allclose(streamed.A(x), cached.A(x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(streamed.A_adjoint(y), cached.A_adjoint(y), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(streamed.fbp(y), cached.fbp(y), rtol=1e-10, atol=1e-10)


def test_backprojection_and_fbp_match_scikit_image():
    """A^T is iradon's back-projector; fbp is iradon(ramp) (odd sizes: same centres)."""
    ct = physics.ParallelBeamCT(63, 90)
    sinogram = ct.A(resize(shepp_logan_phantom(), (63, 63)))
    theta = ct.angles_deg
    unfiltered = iradon(sinogram.T, theta, circle=False, output_size=63, filter_name=None)
    np.testing.assert_allclose(ct.A_adjoint(sinogram), unfiltered * 2 * 90 / np.pi,
                               rtol=1e-6, atol=1e-6)
    filtered = iradon(sinogram.T, theta, circle=False, output_size=63, filter_name="ramp")
    np.testing.assert_allclose(ct.fbp(sinogram), filtered, atol=1e-7)


def test_fbp_full_view_reaches_stated_psnr(phantom128):
    """Noise-free, 360 views, 128² Shepp-Logan: >= 29 dB (scikit-image radon/iradon: 29.9)."""
    ct = physics.ParallelBeamCT(128, 360)
    recon = ct.fbp(ct.A(phantom128))
    assert recon.shape == (128, 128) and recon.dtype == np.float64
    assert psnr(recon, phantom128) >= 29.0


def test_sparse_view_and_limited_angle_degrade(phantom128):
    full = physics.ParallelBeamCT(128, 360)
    sparse = physics.ParallelBeamCT(128, 32)
    limited = physics.ParallelBeamCT(128, 240, angle_range_deg=120.0)
    assert limited.angles_deg.max() < 120.0
    full_psnr = psnr(full.fbp(full.A(phantom128)), phantom128)
    assert psnr(sparse.fbp(sparse.A(phantom128)), phantom128) < full_psnr - 5
    assert psnr(limited.fbp(limited.A(phantom128)), phantom128) < full_psnr - 5


@pytest.mark.parametrize("detector_spacing_mm", [None, 2.0])
def test_units_line_integral_of_water_disk(detector_spacing_mm):
    """A 120 mm water disk: central ray integral = 0.02/mm * 120 mm = 2.4; FBP gives 0.02."""
    ct = physics.ParallelBeamCT(100, 90, pixel_size_mm=1.5,
                                detector_spacing_mm=detector_spacing_mm)
    mu = disk(100, 40, physics.MU_WATER_PER_MM)
    sinogram = ct.A(mu)
    centre = sinogram[:, ct.n_detectors // 2]
    assert np.median(centre) == pytest.approx(2.4, rel=0.01)
    np.testing.assert_allclose(centre, 2.4, rtol=0.07)  # pixelated disk, all views
    recon = ct.fbp(sinogram)
    assert abs(np.median(recon[disk(100, 30) > 0]) - 0.02) < 2e-4


def test_shapes_batches_and_errors():
    ct = physics.ParallelBeamCT(32, 12)
    batch = np.zeros((2, 3, 32, 32), np.float32)
    assert ct.A(batch).shape == (2, 3, 12, ct.n_detectors)
    assert ct.A(batch).dtype == np.float32
    assert ct.fbp(ct.A(batch)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="shape"):
        ct.A(np.zeros((31, 31)))
    with pytest.raises(ValueError, match="narrower than pixels"):
        physics.ParallelBeamCT(32, 12, pixel_size_mm=1.0, detector_spacing_mm=0.5)
    with pytest.raises(ValueError, match="filter"):
        ct.fbp(ct.A(batch), filter="triangle")
    assert ct.finer(2).image_size == 64 and ct.finer(2).n_detectors == 2 * ct.n_detectors


# --- CT: low dose ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def water_head():
    return disk(64, 26, 0.0, -1000.0).astype(np.float32)


def test_low_dose_noise_variance_scales_as_one_over_photons(water_head):
    kwargs = dict(pixel_size_mm=3.0, n_angles=180)
    clean = physics.low_dose_ct(water_head, None, **kwargs)
    inside = disk(64, 18) > 0
    assert abs(np.mean(clean[inside])) < 5.0  # water at 0 HU, noise-free
    assert abs(np.mean(clean[disk(64, 31) == 0]) + 1000) < 20  # air
    batch = np.stack([water_head] * 4)
    var = {}
    for photons in (1e4, 4e4):
        noisy = physics.low_dose_ct(batch, photons, seed=3, **kwargs)
        var[photons] = np.var((noisy - clean)[:, inside])
    assert var[1e4] / var[4e4] == pytest.approx(4.0, rel=0.15)


def test_low_dose_options(water_head):
    kwargs = dict(pixel_size_mm=3.0, n_angles=90, seed=7)
    first = physics.low_dose_ct(water_head, 1e4, **kwargs)
    again, sinogram = physics.low_dose_ct(water_head, 1e4, return_sinogram=True, **kwargs)
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and sinogram.shape[0] == 90
    sparse = physics.ParallelBeamCT(64, 30, pixel_size_mm=3.0)
    assert physics.low_dose_ct(water_head, 1e4, ct=sparse, seed=0).shape == (64, 64)
    no_oversampling = physics.low_dose_ct(water_head, None, pixel_size_mm=3.0, n_angles=90,
                                          oversample=1)
    assert abs(np.mean(no_oversampling[disk(64, 18) > 0])) < 5.0


def test_low_dose_refuses_integer_images(water_head):
    with pytest.raises(I2IDataError, match=r"image_hu is an integer array.*astype"):
        physics.low_dose_ct(water_head.astype(np.int16), 1e4)


def test_hu_mu_round_trip():
    hu = np.array([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(physics.hu_to_mu(hu), [0.0, 0.02, 0.04])
    np.testing.assert_allclose(physics.mu_to_hu(physics.hu_to_mu(hu)), hu)


# --- MRI -------------------------------------------------------------------------------

def cosines(size, frequencies, offset=3.0):
    """offset + sum of cos(2 pi (ky y + kx x) / size) for integer (ky, kx)."""
    y, x = np.mgrid[:size, :size]
    return offset + sum(np.cos(2 * np.pi * (ky * y + kx * x) / size) for ky, kx in frequencies)


def test_kspace_truncation_is_an_ideal_low_pass():
    """Keeps every frequency inside the acquired band untouched and removes all others."""
    size, factor = 64, 4  # 16 lines kept: frequencies -8 ... 7
    in_band = cosines(size, [(0, 7), (5, -3), (7, 7)])
    image = in_band + cosines(size, [(0, 9), (12, 1), (-20, 30)], offset=0.0)
    np.testing.assert_allclose(physics.kspace_truncate(image, factor), in_band, atol=1e-5)
    # Small matrix: the band-limited image sampled at every factor-th pixel.
    small = physics.kspace_truncate(image, factor, keep_size=False)
    assert small.shape == (16, 16)
    np.testing.assert_allclose(small, in_band[::factor, ::factor], atol=1e-5)
    unchanged = physics.kspace_truncate(image, 1, magnitude=False)
    np.testing.assert_allclose(unchanged.real, image, atol=1e-5)
    # Gibbs ringing, not blur: an edge overshoots.
    edge = np.repeat((np.arange(size) >= size // 2)[None].astype(float), size, axis=0)
    assert physics.kspace_truncate(edge, factor).max() > 1.05


def test_undersample_mask_and_zero_filled_reconstruction():
    image = np.random.default_rng(0).random((2, 64, 96))
    acq = physics.undersample(image, acceleration=4, center_fraction=0.08, seed=1)
    assert acq.image.shape == (2, 64, 96) and acq.mask.shape == (64, 96)
    assert acq.mask.mean() == pytest.approx(0.25, abs=0.07)
    assert acq.mask[:, 48 - 4: 48 + 4].all()  # round(96 * 0.08) = 8 central lines
    assert (acq.mask == acq.mask[:1]).all()  # whole k-space columns
    assert np.all(acq.kspace[:, ~acq.mask] == 0)
    np.testing.assert_allclose(acq.image, np.abs(physics.ifft2c(acq.kspace)), atol=1e-6)
    again = physics.undersample(image, 4, seed=1)
    other = physics.undersample(image, 4, seed=2)
    assert (again.mask == acq.mask).all() and (other.mask != acq.mask).any()
    equi = physics.cartesian_mask((8, 64), 4, center_fraction=0.0, kind="equispaced")
    assert equi[0].sum() == 16


def test_data_consistency_restores_measured_kspace():
    truth = cosines(64, [(3, 4), (10, -12)])
    acq = physics.undersample(truth, acceleration=4, seed=0)
    prediction = acq.image + np.random.default_rng(1).normal(0, 0.3, truth.shape)
    corrected = physics.data_consistency(prediction, acq.kspace, acq.mask)
    k_corrected, k_predicted = physics.fft2c(corrected), physics.fft2c(prediction)
    np.testing.assert_allclose(k_corrected[acq.mask], acq.kspace[acq.mask], atol=1e-4)
    np.testing.assert_allclose(k_corrected[~acq.mask], k_predicted[~acq.mask], atol=1e-4)
    assert np.linalg.norm(corrected - truth) < np.linalg.norm(prediction - truth)
    np.testing.assert_allclose(np.abs(physics.data_consistency(truth, acq.kspace, acq.mask)),
                               truth, atol=1e-4)
    soft = physics.fft2c(physics.data_consistency(prediction, acq.kspace, acq.mask, 1.0))
    np.testing.assert_allclose(soft[acq.mask], (k_predicted + acq.kspace)[acq.mask] / 2,
                               atol=1e-4)


def rician_mean(signal, sigma):
    """sigma sqrt(pi/2) L_1/2(-A^2 / 2 sigma^2) (Gudbjartsson & Patz 1995)."""
    x = -(signal**2) / (2 * sigma**2)
    laguerre = np.exp(x / 2) * ((1 - x) * special.i0(-x / 2) - x * special.i1(-x / 2))
    return sigma * np.sqrt(np.pi / 2) * laguerre


@pytest.mark.parametrize("signal", [0.0, 1.0, 2.0])
def test_rician_noise_bias_at_low_snr(signal):
    sigma = 1.0
    noisy = physics.rician_noise(np.full((400, 500), signal), sigma, seed=0)
    assert noisy.mean() == pytest.approx(rician_mean(signal, sigma), rel=0.01)
    assert noisy.mean() > signal + 0.2 * sigma  # biased upwards: the low-SNR problem
    if signal == 0.0:
        assert noisy.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.01)


def test_rician_noise_is_unbiased_at_high_snr():
    noisy = physics.rician_noise(np.full((300, 300), 50.0), 1.0, seed=1)
    assert abs(noisy.mean() - 50.0) < 0.03


# --- PET and downsampling ----------------------------------------------------------------

def test_low_count_pet_statistics_and_psf():
    activity = np.full((2, 128, 128), 5.0)
    var = {}
    for counts in (1e5, 4e5):
        noisy = physics.low_count_pet(activity, counts=counts, seed=0)
        assert noisy.mean() == pytest.approx(5.0, rel=0.01)
        var[counts] = noisy.var()
    assert var[1e5] / var[4e5] == pytest.approx(4.0, rel=0.1)
    point = np.zeros((65, 65))
    point[32, 32] = 1.0
    blurred = physics.low_count_pet(point, counts=1e9, psf_fwhm_mm=6.0, pixel_size_mm=0.5,
                                    seed=0)
    profile = blurred[32] / blurred[32].max()
    above_half = np.flatnonzero(profile >= 0.5)
    fwhm_px = above_half[-1] - above_half[0] + 1
    assert abs(fwhm_px * 0.5 - 6.0) <= 0.5 + 1e-9
    with pytest.raises(I2IDataError, match="negative"):
        physics.low_count_pet(-activity)


def test_downsample_anti_aliasing():
    checker = (np.indices((64, 64)).sum(0) % 2).astype(np.float32)
    small = physics.downsample(checker, 4)
    assert small.shape == (16, 16)
    assert np.abs(small - 0.5).max() < 0.05  # naive checker[::4, ::4] is all 0 (aliased)
    assert np.all(checker[::4, ::4] == 0)
    np.testing.assert_allclose(physics.downsample(np.full((3, 40, 40), 7.0), 2.5), 7.0,
                               atol=1e-5)
