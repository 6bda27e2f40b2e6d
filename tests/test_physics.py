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


# --- One operator API: every forward model is a LinearOperator ----------------------------

OPERATORS = {
    "ct": lambda: physics.ParallelBeamCT(24, 18),
    "ct_views": lambda: physics.ParallelBeamCT(24, 18, max_matrix_mb=0.0),
    "ct_limited": lambda: physics.ParallelBeamCT(21, 12, angle_range_deg=100.0,
                                                 start_angle_deg=7.0, detector_spacing_mm=1.4),
    "mri_full": lambda: physics.CartesianMRI((16, 20)),
    "mri_mask": lambda: physics.CartesianMRI((16, 20), physics.cartesian_mask((16, 20), 3,
                                                                              seed=0)),
    "mri_lowres": lambda: physics.CartesianMRI((16, 20), physics.central_kspace_mask((16, 20),
                                                                                     2.5)),
    "mri_3d": lambda: physics.CartesianMRI((6, 8, 10), physics.central_kspace_mask((6, 8, 10),
                                                                                   2)),
    "pet": lambda: physics.PETBlur((20, 17), fwhm_mm=5.0, pixel_size_mm=1.5),
}


@pytest.mark.parametrize("name", OPERATORS)
def test_every_operator_passes_its_adjointness_test(name):
    op = OPERATORS[name]()
    assert isinstance(op, physics.LinearOperator)
    for seed in (0, 1):
        assert op.adjointness_test(seed=seed) < 1e-10


@pytest.mark.parametrize("name", ["ct", "ct_views", "mri_mask", "pet"])
def test_adjointness_test_catches_a_wrong_adjoint(name):
    op = OPERATORS[name]()

    class Wrong(type(op)):
        def A_adjoint(self, y):
            return 1.01 * super().A_adjoint(y)

    op.__class__ = Wrong
    assert 0.005 < op.adjointness_test() < 0.02


def test_adjointness_test_catches_a_transposed_kernel():
    """A one-sided (shifted) blur whose 'adjoint' forgets to flip the kernel."""

    class Shift(physics.LinearOperator):
        image_shape = measurement_shape = (32,)

        def A(self, x):
            return 0.7 * x + 0.3 * np.roll(x, 1, axis=-1)

        def A_adjoint(self, y):  # wrong: should roll by -1
            return 0.7 * y + 0.3 * np.roll(y, 1, axis=-1)

    assert Shift().adjointness_test() > 1e-3


@pytest.mark.parametrize("name", ["ct", "ct_limited", "pet", "mri_mask"])
def test_norm_estimate_matches_largest_singular_value(name):
    op = OPERATORS[name]()
    matrix = op.as_matrix()
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    largest = np.linalg.svd(matrix, compute_uv=False)[0]
    assert op.norm_estimate() == pytest.approx(largest, rel=1e-3)


def test_ct_sparse_matrix_is_A_and_its_norm():
    from scipy.sparse.linalg import svds

    ct = physics.ParallelBeamCT(16, 20, pixel_size_mm=2.0)
    matrix = ct.as_matrix()
    assert matrix.shape == (20 * ct.n_detectors, 256)
    x = np.random.default_rng(0).random((16, 16))
    np.testing.assert_allclose(matrix @ x.ravel(), ct.A(x).ravel(), rtol=1e-6, atol=1e-9)
    largest = svds(matrix.astype(np.float64), k=1, return_singular_vectors=False)[0]
    assert ct.norm_estimate() == pytest.approx(largest, rel=1e-3)


def test_ct_A_dagger_is_fbp():
    ct = physics.ParallelBeamCT(32, 40)
    sinogram = ct.A(disk(32, 10, 0.02))
    np.testing.assert_array_equal(ct.A_dagger(sinogram), ct.fbp(sinogram))
    np.testing.assert_array_equal(ct.A_dagger(sinogram, "hann", 0.8),
                                  ct.fbp(sinogram, filter="hann", frequency_cutoff=0.8))
    assert ct.measurement_shape == ct.sinogram_shape == (40, ct.n_detectors)


def test_mri_operator_inverts_full_sampling_and_projects_under_sampling():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 32, 32)) + 1j * rng.standard_normal((2, 32, 32))
    full = physics.CartesianMRI((32, 32))
    np.testing.assert_allclose(full.A_dagger(full.A(x)), x, rtol=0, atol=1e-10)
    assert full.norm_estimate() == pytest.approx(1.0, abs=1e-10)
    mask = physics.cartesian_mask((32, 32), 4, seed=0)
    mri = physics.CartesianMRI((32, 32), mask)
    kspace = mri.A(x)
    assert np.all(kspace[:, ~mask] == 0)
    np.testing.assert_allclose(mri.A(mri.A_dagger(kspace)), kspace, atol=1e-10)  # A A^+ A = A
    np.testing.assert_allclose(mri.A_dagger(kspace), physics.ifft2c(kspace), atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        mri.A(np.zeros((32, 31)))
    with pytest.raises(ValueError, match="mask"):
        physics.CartesianMRI((32, 32), np.ones((16, 16), bool))


def test_central_kspace_mask_matches_kspace_truncate():
    image = np.random.default_rng(1).random((24, 30))
    mri = physics.CartesianMRI(image.shape, physics.central_kspace_mask(image.shape, 3))
    np.testing.assert_allclose(np.abs(mri.A_dagger(mri.A(image))),
                               physics.kspace_truncate(image, 3), atol=1e-6)
    assert physics.central_kspace_mask((24, 30), 3).sum() == 8 * 10


def test_pet_blur_is_self_adjoint_and_its_dagger_solves_tikhonov():
    pet = physics.PETBlur((12, 12), fwhm_mm=4.0, pixel_size_mm=2.0)
    matrix = pet.as_matrix()
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-15)
    y = pet.A(disk(12, 4)) + np.random.default_rng(0).normal(0, 0.01, (12, 12))
    reg = 1e-2
    direct = np.linalg.solve(matrix.T @ matrix + reg * np.eye(144), matrix.T @ y.ravel())
    np.testing.assert_allclose(pet.A_dagger(y, reg=reg), direct.reshape(12, 12), atol=1e-6)
    assert pet.sigma_px == pytest.approx(4.0 / 2.0 / 2.3548, rel=1e-4)
    with pytest.raises(ValueError, match="shape"):
        pet.A(np.zeros((10, 12)))


# --- Noise models, and the convenience functions as operator + noise ----------------------

def test_poisson_noise_on_line_integrals():
    line = np.full((200, 300), 2.0, np.float32)
    noisy = physics.PoissonNoise(1e4, seed=0)(line)
    assert noisy.dtype == np.float32 and noisy.shape == line.shape
    assert noisy.mean() == pytest.approx(2.0, abs=0.005)
    assert noisy.var() == pytest.approx(np.exp(2.0) / 1e4, rel=0.05)  # var p ~ e^p / N0
    np.testing.assert_array_equal(physics.PoissonNoise(1e4, seed=0).from_transmission(
        np.exp(-line)), noisy)
    dark = physics.PoissonNoise(10.0, seed=0)(np.full(1000, 50.0))  # ~no photon arrives
    np.testing.assert_allclose(dark, -np.log(physics.MIN_PHOTON_COUNT / 10.0), rtol=1e-6)
    with pytest.raises(ValueError, match="photons"):
        physics.PoissonNoise(0.0)


def test_gaussian_and_rician_noise_models():
    real = physics.GaussianNoise(0.5, seed=0)(np.zeros((300, 300), np.float32))
    assert real.dtype == np.float32 and real.std() == pytest.approx(0.5, rel=0.01)
    k = physics.GaussianNoise(0.5, seed=0)(np.zeros((300, 300), np.complex64))
    assert k.dtype == np.complex64 and k.imag.std() == pytest.approx(0.5, rel=0.01)
    image = np.random.default_rng(2).random((40, 40))
    np.testing.assert_array_equal(physics.RicianNoise(0.3, seed=4)(image),
                                  physics.rician_noise(image, 0.3, seed=4))
    counts = physics.PoissonCountNoise(50.0, seed=0)(np.full((300, 300), 2.0))
    assert counts.var() == pytest.approx(2.0 / 50.0, rel=0.05)
    with pytest.raises(ValueError, match="sigma"):
        physics.GaussianNoise(-1.0)


def test_convenience_functions_are_operator_plus_noise(water_head):
    """low_dose_ct, low_count_pet and undersample spelled out with the building blocks."""
    ct = physics.ParallelBeamCT(64, 45, pixel_size_mm=3.0)
    mu = np.clip(physics.hu_to_mu(water_head), 0, None)
    sinogram = physics.PoissonNoise(1e4, seed=3)(ct.A(mu)).astype(np.float32)
    by_hand = physics.mu_to_hu(ct.A_dagger(sinogram)).astype(np.float32)
    np.testing.assert_array_equal(physics.low_dose_ct(water_head, 1e4, ct=ct, oversample=1,
                                                      seed=3), by_hand)
    activity = disk(32, 10, 4.0, 1.0)
    blurred = physics.PETBlur((32, 32), 6.0, 2.0).A(activity)
    noisy = physics.PoissonCountNoise(1e4 / blurred.sum(), seed=1)(blurred).astype(np.float32)
    np.testing.assert_array_equal(physics.low_count_pet(activity, 1e4, psf_fwhm_mm=6.0,
                                                        pixel_size_mm=2.0, seed=1), noisy)
    image = disk(32, 12)
    mri = physics.CartesianMRI((32, 32), physics.cartesian_mask((32, 32), 4, seed=5))
    acq = physics.undersample(image, 4, seed=5)
    np.testing.assert_allclose(acq.kspace, mri.A(image), atol=1e-6)
    np.testing.assert_allclose(acq.image, np.abs(mri.A_dagger(mri.A(image))), atol=1e-6)


# --- The same numbers as before the operator API --------------------------------------------

def fingerprint(array):
    """dtype, shape and 10 numbers per real part (sum, sum of squares, 8 samples)."""
    a = np.asarray(array)
    flat = a.ravel()
    parts = [flat.real, flat.imag] if np.iscomplexobj(a) else [flat]
    numbers = []
    for part in parts:
        part = part.astype(np.float64)
        idx = np.linspace(0, part.size - 1, 8).astype(int)
        numbers += [part.sum(), (part * part).sum(), *part[idx]]
    return str(a.dtype), a.shape, numbers


def regression_cases():
    """Every public degradation on small inputs, fixed seeds (see RECORDED below)."""
    out = {}
    rng = np.random.default_rng(123)
    yy, xx = np.mgrid[:32, :32] - 15.5
    water = np.where(xx**2 + yy**2 <= 12**2, 0.0, -1000.0).astype(np.float32)
    water[10:14, 12:20] = 800.0  # a bone insert
    for mb in (256.0, 0.0):
        tag = "matrix" if mb else "views"
        ct = physics.ParallelBeamCT(24, 10, angle_range_deg=150.0, start_angle_deg=5.0,
                                    max_matrix_mb=mb)
        x32 = rng.random((2, 24, 24)).astype(np.float32)
        x64 = rng.random((24, 24))
        y32 = rng.random(ct.sinogram_shape).astype(np.float32)
        out[f"ct_A32_{tag}"] = ct.A(x32)
        out[f"ct_A64_{tag}"] = ct.A(x64)
        out[f"ct_AT32_{tag}"] = ct.A_adjoint(y32)
        out[f"ct_fbp_{tag}"] = ct.fbp(y32, filter="hann", frequency_cutoff=0.7)
        ld = physics.ParallelBeamCT(32, 20, pixel_size_mm=3.0, max_matrix_mb=mb)
        recon, sino = physics.low_dose_ct(water, 1e3, ct=ld, seed=0, return_sinogram=True)
        out[f"ldct_recon_{tag}"], out[f"ldct_sino_{tag}"] = recon, sino
    out["ldct_clean_os1"] = physics.low_dose_ct(water, None, pixel_size_mm=2.0, n_angles=24,
                                                oversample=1)
    out["ldct_default"] = physics.low_dose_ct(np.stack([water, water[::-1]]), n_angles=16,
                                              pixel_size_mm=4.0, seed=3, filter="shepp-logan")
    out["ct_transmission"] = physics.ct_transmission(water, physics.ParallelBeamCT(32, 12), 3)
    doses = physics.simulate_doses(np.stack([water, water.T]),
                                   {"truth": None, "normal": 2e3, "low": 200.0},
                                   n_angles=18, pixel_size_mm=3.0, seed=5)
    for name, image in doses.items():
        out[f"doses_{name}"] = image
    image = rng.random((2, 32, 48))
    out["kt_keep"] = physics.kspace_truncate(image, 3)
    out["kt_small"] = physics.kspace_truncate(image, 3, keep_size=False)
    out["kt_complex"] = physics.kspace_truncate(image + 1j * image[:, ::-1], 2.5, magnitude=False)
    out["kt_3d"] = physics.kspace_truncate(rng.random((16, 20, 24)), 2, axes=(-3, -2, -1))
    out["kt_3d_small"] = physics.kspace_truncate(rng.random((16, 20, 24)), 2, keep_size=False,
                                                 axes=(-3, -2, -1))
    acq = physics.undersample(image, 4, seed=1)
    out["us_image"], out["us_kspace"], out["us_mask"] = acq.image, acq.kspace, acq.mask
    equi = physics.undersample(image[0].astype(np.float32), 3, 0.1, kind="equispaced")
    out["us_equi_image"] = equi.image
    out["rician"] = physics.rician_noise(image, 0.2, seed=4)
    out["rician_complex"] = physics.rician_noise(image * 1j, 0.1, seed=np.random.default_rng(9))
    out["dc_hard"] = physics.data_consistency(image[0] * 0.9, acq.kspace[0], acq.mask)
    out["dc_soft"] = physics.data_consistency(image * 0.9, acq.kspace, acq.mask, 0.5)
    activity = rng.random((2, 32, 32)) * 4.0
    out["pet_blur_noise"] = physics.low_count_pet(activity, 1e4, psf_fwhm_mm=5.0,
                                                  pixel_size_mm=1.5, seed=2)
    out["pet_blur_only"] = physics.low_count_pet(activity.astype(np.float32), None,
                                                 psf_fwhm_mm=4.0)
    out["pet_noise_only"] = physics.low_count_pet(activity[0], 1e3, seed=7)
    out["downsample"] = physics.downsample(image, 2.5)
    out["fft2c"] = physics.fft2c(image)
    out["ifft2c"] = physics.ifft2c(image)
    return out


def test_outputs_equal_those_recorded_before_the_operator_api():
    """Same seeds, same numbers: recorded from the single-module physics.py (commit 1214c85).

    On the machine they were recorded on the arrays are bit-identical; 1e-12 of each
    array's scale leaves room for another FFT/BLAS build's round-off only.
    """
    outputs = regression_cases()
    assert set(outputs) == set(RECORDED)
    for name, (dtype, shape, numbers) in RECORDED.items():
        got_dtype, got_shape, got = fingerprint(outputs[name])
        assert (got_dtype, got_shape) == (dtype, shape), name
        scale = max(abs(v) for v in numbers)
        np.testing.assert_allclose(got, numbers, rtol=1e-12, atol=1e-12 * scale, err_msg=name)


RECORDED = {
    "ct_A32_matrix": ("float32", (2, 10, 35), [
        5835.408475878619, 67876.45206759206, 0.0, 6.060734272003174, 11.592832565307617,
        13.029645919799805, 12.60558795928955, 11.224306106567383, 3.8859686851501465,
        0.004500234965234995,
    ]),
    "ct_A64_matrix": ("float64", (10, 35), [
        2715.8095686955153, 29147.593105571083, 0.0, 12.022445914910932, 5.739985663171975,
        9.715870995071716, 11.498747391822917, 2.5371244495740153, 14.921475068960337,
        0.04064159311895062,
    ]),
    "ct_AT32_matrix": ("float32", (24, 24), [
        2837.8092448711395, 14246.90923660296, 4.573206424713135, 3.9103689193725586,
        6.6178460121154785, 4.702755928039551, 4.661763668060303, 5.652298927307129,
        4.608034610748291, 4.897989273071289,
    ]),
    "ct_fbp_matrix": ("float64", (24, 24), [
        5.396794797616975, 0.11145446198742125, 0.01473769420411932, -0.011351755680474685,
        0.022468525755712846, 0.01306612889671476, 0.006251344949799946, 0.01930544329587017,
        0.019315982157713213, 0.0228285752522672,
    ]),
    "ldct_recon_matrix": ("float32", (32, 32), [
        -553182.4341772199, 581891768.2250568, -1181.866943359375, -220.68606567382812,
        -970.6417236328125, 258.54998779296875, 58.84333038330078, -705.5853271484375,
        -641.4874877929688, -1060.0418701171875,
    ]),
    "ldct_sino_matrix": ("float32", (20, 45), [
        566.9577294189949, 738.1777932230134, -0.011928570456802845, -0.0029955089557915926,
        0.9597203135490417, 1.6450650691986084, 1.3547956943511963, 0.7985076904296875,
        0.009040744975209236, 0.03666398301720619,
    ]),
    "ct_A32_views": ("float32", (2, 10, 35), [
        5669.215101059468, 64091.64467313559, 0.0, 4.879471302032471, 11.14379596710205,
        14.934236526489258, 12.896025657653809, 9.858248710632324, 3.387678861618042,
        0.010488604195415974,
    ]),
    "ct_A64_views": ("float64", (10, 35), [
        2844.5413641378404, 32378.670190565987, 0.0, 11.444390177042063, 5.932095745297352,
        11.802858508372044, 12.028566364880724, 3.5792777588478604, 15.109513913561452,
        0.023604031556231635,
    ]),
    "ct_AT32_views": ("float32", (24, 24), [
        2995.2739543914795, 15904.480697065079, 5.66352653503418, 5.519895553588867,
        6.009203910827637, 4.655977725982666, 5.884947776794434, 4.077689170837402,
        5.014414310455322, 5.833325386047363,
    ]),
    "ct_fbp_views": ("float64", (24, 24), [
        5.846745583118966, 0.1471940132619745, 0.02963324702177876, 0.01859798781608121,
        0.03007549495937098, 0.005170461587621728, 0.010128471384821243, 0.0048996364400005965,
        0.0025431114317513233, 0.020969208324076078,
    ]),
    "ldct_recon_views": ("float32", (32, 32), [
        -553182.4301359653, 581891767.9783225, -1181.8668212890625, -220.6859893798828,
        -970.6416625976562, 258.5501403808594, 58.84341049194336, -705.5853271484375,
        -641.4874877929688, -1060.0418701171875,
    ]),
    "ldct_sino_views": ("float32", (20, 45), [
        566.9577294189949, 738.1777932230134, -0.011928570456802845, -0.0029955089557915926,
        0.9597203135490417, 1.6450650691986084, 1.3547956943511963, 0.7985076904296875,
        0.009040744975209236, 0.03666398301720619,
    ]),
    "ldct_clean_os1": ("float32", (32, 32), [
        -543073.1923330985, 568661048.2674485, -751.334228515625, -325.576171875,
        -937.8436889648438, -27.84977912902832, 36.99055480957031, -762.3410034179688,
        -767.3917236328125, -761.111328125,
    ]),
    "ldct_default": ("float32", (2, 32, 32), [
        -1104874.0119730514, 1135113386.1223083, -1144.4849853515625, -913.8152465820312,
        86.29216003417969, -308.12811279296875, -228.46469116210938, 50.963714599609375,
        -613.9105834960938, -1109.2218017578125,
    ]),
    "ct_transmission": ("float32", (12, 45), [
        447.72986406087875, 387.309632523457, 1.0, 0.7838974595069885, 0.6279894113540649, 1.0,
        1.0, 0.5653839707374573, 0.7650177478790283, 1.0,
    ]),
    "doses_truth": ("float32", (2, 32, 32), [
        -1102253.194292426, 1131846602.4551036, -1054.1632080078125, -953.0198974609375,
        -8.83576774597168, -377.9118347167969, -242.7753143310547, -14.905035018920898,
        -745.6515502929688, -1065.5653076171875,
    ]),
    "doses_normal": ("float32", (2, 32, 32), [
        -1102094.040249452, 1156633823.33088, -1172.9921875, -954.5126342773438, 39.59475326538086,
        -454.970947265625, -274.2674560546875, -136.4220733642578, -739.579345703125,
        -972.0706787109375,
    ]),
    "doses_low": ("float32", (2, 32, 32), [
        -1090512.523845017, 1312959914.513303, -1028.586181640625, -517.8216552734375,
        162.1676025390625, -58.36137390136719, -302.35699462890625, -41.34783172607422,
        -498.9440612792969, -825.4256591796875,
    ]),
    "kt_keep": ("float32", (2, 32, 48), [
        1504.9407164752483, 763.8349501871395, 0.46019449830055237, 0.5066190361976624,
        0.4971426725387573, 0.5070844888687134, 0.5365513563156128, 0.5101036429405212,
        0.5182267427444458, 0.4807567000389099,
    ]),
    "kt_small": ("float32", (2, 11, 16), [
        172.4295738339424, 87.52275472145675, 0.39192527532577515, 0.5047003030776978,
        0.4654728174209595, 0.5101352334022522, 0.5436827540397644, 0.6146541237831116,
        0.6813996434211731, 0.49862608313560486,
    ]),
    "kt_complex": ("complex64", (2, 32, 48), [
        1504.163809414953, 775.7308088052924, 0.5920615196228027, 0.4568309485912323,
        0.5374274253845215, 0.46922603249549866, 0.5774821639060974, 0.4784548282623291,
        0.4440781772136688, 0.4873025715351105, 1504.163809414953, 775.7308088052924,
        0.5075126886367798, 0.497565895318985, 0.5157294869422913, 0.36032670736312866,
        0.4655091464519501, 0.3440517783164978, 0.6092349886894226, 0.3928358256816864,
    ]),
    "kt_3d": ("float32", (16, 20, 24), [
        3835.3607130497694, 1979.8051725814444, 0.3313545882701874, 0.5215597152709961,
        0.5090720057487488, 0.49341362714767456, 0.6124561429023743, 0.49652019143104553,
        0.5968374013900757, 0.41572314500808716,
    ]),
    "kt_3d_small": ("float32", (8, 10, 12), [
        479.8719678968191, 248.00147022936184, 0.42359596490859985, 0.4841121733188629,
        0.4300385117530823, 0.5454503297805786, 0.47187942266464233, 0.35808491706848145,
        0.49104541540145874, 0.4115315079689026,
    ]),
    "us_image": ("float32", (2, 32, 48), [
        1520.3061999678612, 792.3818223940466, 0.44586506485939026, 0.4979044198989868,
        0.6301898956298828, 0.5375036001205444, 0.6880487203598022, 0.527998149394989,
        0.4500596225261688, 0.5819206833839417,
    ]),
    "us_kspace": ("complex64", (2, 32, 48), [
        35.467843950864335, 764.9032359316592, 0.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, 0.0,
        4.931029655825114, 27.47864261819625, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, -0.0, 0.0,
    ]),
    "us_mask": ("bool", (32, 48), [
        352.0, 352.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ]),
    "us_equi_image": ("float32", (32, 48), [
        766.6788272745907, 430.78748981878203, 0.7675894498825073, 0.6256753206253052,
        0.41497188806533813, 0.6263405680656433, 0.5057191252708435, 0.8941145539283752,
        0.29854971170425415, 0.3017604947090149,
    ]),
    "rician": ("float32", (2, 32, 48), [
        1722.318032138981, 1236.6806164565546, 0.4924349784851074, 0.6871082186698914,
        0.8410649299621582, 0.46033215522766113, 1.1402239799499512, 0.7027660608291626,
        0.20254428684711456, 0.873510479927063,
    ]),
    "rician_complex": ("float32", (2, 32, 48), [
        1570.7503311950713, 1046.8210414773755, 0.5285857319831848, 0.616300642490387,
        0.9446629881858826, 0.5301113724708557, 0.969264805316925, 0.5513378381729126,
        0.2623544931411743, 0.7649971842765808,
    ]),
    "dc_hard": ("complex64", (32, 48), [
        766.6789269503206, 487.46582832587194, 0.5441065430641174, 0.5543765425682068,
        0.7401013970375061, 0.5892850160598755, 0.8825107216835022, 0.935522198677063,
        0.34424322843551636, 0.1513519436120987, 9.162704373011366e-09, 0.07059821747944757,
        -0.002416166476905346, -0.0018070698715746403, 0.0030830251052975655, 0.005192183423787355,
        0.0030694131273776293, 0.002205664524808526, -0.0023795943707227707,
        -0.0019390849629417062,
    ]),
    "dc_soft": ("complex64", (2, 32, 48), [
        1403.8862161408179, 846.928872663817, 0.5144258737564087, 0.7069714665412903,
        0.8405479192733765, 0.49829182028770447, 0.8837300539016724, 0.602699875831604,
        0.31692251563072205, 0.5870469212532043, -3.4103777579730377e-09, 0.0169624004684107,
        -0.0008053888450376689, 0.0010276749962940812, 0.0010231377091258764, 1.07674068203778e-05,
        0.0024996218271553516, 0.0005081983399577439, 0.0006074178381823003, -0.001929541234858334,
    ]),
    "pet_blur_noise": ("float32", (2, 32, 32), [
        3798.8198248893023, 8003.19157141884, 0.5583025217056274, 1.4888067245483398,
        2.047109365463257, 1.6749075651168823, 2.3273580074310303, 2.133411407470703,
        2.5213043689727783, 0.3878929913043976,
    ]),
    "pet_blur_only": ("float32", (2, 32, 32), [
        3742.8915672302246, 7057.390736039338, 0.7720527052879333, 1.8020519018173218,
        1.9097259044647217, 1.8456017971038818, 2.152564287185669, 2.080919027328491,
        1.9446179866790771, 0.618272066116333,
    ]),
    "pet_noise_only": ("float32", (32, 32), [
        1955.2980638742447, 8906.240172381238, 3.9782259464263916, 1.9891129732131958, 0.0, 0.0,
        1.9891129732131958, 3.9782259464263916, 0.0, 0.0,
    ]),
    "downsample": ("float32", (2, 13, 19), [
        242.26944288611412, 123.24187933073424, 0.48213911056518555, 0.5789617896080017,
        0.5845907926559448, 0.5062048435211182, 0.5573763251304626, 0.5202584862709045,
        0.41860532760620117, 0.5980740785598755,
    ]),
    "fft2c": ("complex128", (2, 32, 48), [
        12.81326912214199, 862.141109966035, 0.21006478549762864, 0.3731948760709995,
        0.19922685691976164, -0.09697847790044153, -0.18500282782595023, 0.13170254464900483,
        -0.2995543784145827, 0.16519216656650493, -8.881784197001252e-16, 123.6891402889872,
        1.0977067349173455e-17, 0.14668898319376092, 0.09983253672717114, -0.10674838931436935,
        0.15592242696013253, 0.310057556299648, -0.20499787217022497, -0.5710136617447026,
    ]),
    "ifft2c": ("complex128", (2, 32, 48), [
        12.81326912214199, 862.141109966035, 0.21006478549762864, 0.3731948760709995,
        0.19922685691976164, -0.09697847790044153, -0.18500282782595023, 0.13170254464900483,
        -0.2995543784145827, 0.16519216656650493, 8.881784197001252e-16, 123.6891402889872,
        -1.0977067349173455e-17, -0.14668898319376092, -0.09983253672717114, 0.10674838931436935,
        -0.15592242696013253, -0.310057556299648, 0.20499787217022497, 0.5710136617447026,
    ]),
}


def test_lowres_kspace_is_what_the_small_matrix_measured():
    """Super-resolution's data consistency: the measured band comes back exactly."""
    size, factor = 64, 4
    in_band = cosines(size, [(0, 7), (5, -3), (7, 7)])
    image = in_band + cosines(size, [(0, 9), (12, 1), (-20, 30)], offset=0.0)
    small = physics.kspace_truncate(image, factor, keep_size=False)
    kspace, mask = physics.lowres_kspace(small, image.shape)
    assert (mask == physics.central_kspace_mask(image.shape, factor)).all()
    np.testing.assert_allclose(physics.ifft2c(kspace).real, in_band, atol=1e-4)
    # A prediction with the wrong low band and some high band: data consistency keeps
    # its high band and replaces its low band, so the in-band image comes back.
    prediction = 0.5 * in_band + cosines(size, [(-20, 30)], offset=0.0)
    corrected = physics.data_consistency(prediction, kspace, mask).real
    np.testing.assert_allclose(corrected, in_band + cosines(size, [(-20, 30)], offset=0.0),
                               atol=1e-4)
    with pytest.raises(ValueError, match="must not be larger"):
        physics.lowres_kspace(np.zeros((80, 80)), (64, 64))
