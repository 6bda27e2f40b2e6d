"""Forward models: how a scanner turns an anatomy into the degraded image a network undoes.

NumPy/SciPy only (no deep-learning backend), so the same code makes training pairs, runs
classical baselines and serves as the physics half of hybrid methods.

* CT: :class:`ParallelBeamCT` (projection ``A``, exact back-projection ``A_adjoint``,
  filtered back-projection ``fbp``; sparse-view and limited-angle by construction) and
  :func:`low_dose_ct` (HU -> attenuation -> Poisson photon counts -> log -> FBP -> HU).
* MRI: :func:`fft2c` / :func:`ifft2c`, :func:`kspace_truncate` (low resolution the way a
  scanner makes it), :func:`cartesian_mask` / :func:`undersample` (accelerated
  acquisition, zero-filled reconstruction), :func:`rician_noise` and
  :func:`data_consistency` (re-impose the measured k-space on a network's output).
* PET: :func:`low_count_pet` (Poisson counts, optional scanner PSF).
* Generic: :func:`downsample` with anti-aliasing.

Array conventions: images are ``(..., H, W)`` with any leading batch axes; CT sinograms
are ``(..., n_angles, n_detectors)``. Lengths are in mm, attenuation in 1/mm.

Example
-------
>>> import numpy as np
>>> from i2i_keras import physics
>>> ct = physics.ParallelBeamCT(64, n_angles=90)
>>> sino = ct.A(np.ones((64, 64), np.float32) * 0.02)   # water, mu in 1/mm
>>> sino.shape
(90, 91)
>>> noisy_hu = physics.low_dose_ct(np.zeros((64, 64), np.float32), photons=1e4, seed=0)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import scipy.sparse
from scipy import ndimage

from .io import I2IDataError, require_float

# Linear attenuation of water at ~70 keV (1/mm); HU = 1000 (mu - mu_water) / mu_water.
MU_WATER_PER_MM = 0.02
# LoDoPaB-CT's blank-scan count per detector pixel and its floor for zero counts
# (Leuschner et al., Sci. Data 8, 109 (2021)).
LODOPAB_PHOTONS = 4096.0
MIN_PHOTON_COUNT = 0.1

FBP_FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _float(array, name: str) -> np.ndarray:
    """Float32 view of an image (float64 kept), complaining about non-finite values."""
    array = np.asarray(array)
    if array.dtype == np.float64:
        out = array
    else:
        out = np.asarray(array, dtype=np.float32) if not np.iscomplexobj(array) else array
    if not np.all(np.isfinite(out)):
        raise I2IDataError(f"{name} contains NaN or Inf values; replace them first "
                           "(e.g. np.nan_to_num) - the forward models need finite images")
    return out


# --------------------------------------------------------------------------------------
# CT
# --------------------------------------------------------------------------------------

def hu_to_mu(image_hu: np.ndarray, mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """Linear attenuation (1/mm) from CT numbers: mu = mu_water (1 + HU / 1000).

    >>> float(hu_to_mu(0.0))
    0.02
    """
    return mu_water * (1.0 + np.asarray(image_hu) / 1000.0)


def mu_to_hu(mu: np.ndarray, mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """CT numbers from linear attenuation (1/mm): HU = 1000 (mu - mu_water) / mu_water.

    >>> float(mu_to_hu(0.0))
    -1000.0
    """
    return 1000.0 * (np.asarray(mu) - mu_water) / mu_water


@functools.lru_cache(maxsize=2)
def _splat_matrix(image_size: int, n_detectors: int, pixel_in_detectors: float,
                  angles_rad: tuple[float, ...]) -> scipy.sparse.csr_matrix:
    """S^T as CSR, shape (image_size**2, n_angles * n_detectors); see ParallelBeamCT."""
    lower, upper_weight = _splat_weights(image_size, n_detectors, pixel_in_detectors,
                                         np.asarray(angles_rad))
    n_pixels, n_angles = lower.shape
    base = (np.arange(n_angles, dtype=np.int64) * n_detectors)[None, :]
    columns = np.stack([base + np.clip(lower, 0, n_detectors - 1),
                        base + np.clip(lower + 1, 0, n_detectors - 1)], axis=-1)
    weights = np.stack([1.0 - upper_weight, upper_weight], axis=-1)
    valid = np.stack([(lower >= 0) & (lower < n_detectors),
                      (lower >= -1) & (lower < n_detectors - 1)], axis=-1)
    weights = np.where(valid, weights, np.float32(0.0))
    indptr = np.arange(n_pixels + 1, dtype=np.int64) * (2 * n_angles)
    return scipy.sparse.csr_matrix(
        (weights.ravel(), columns.ravel().astype(np.int32), indptr),
        shape=(n_pixels, n_angles * n_detectors))


def _splat_weights(image_size: int, n_detectors: int, pixel_in_detectors: float,
                   angles_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower detector bin (int64) and weight of the upper bin (float32), (pixels, angles).

    Pixel (row, col) sits at x = col - c, y = c - row (c the image centre, in pixels),
    scaled to detector units; it projects to t = x cos(theta) + y sin(theta) and is
    shared between the two nearest detector bins by linear interpolation.
    """
    centre = (image_size - 1) / 2.0
    coords = (np.arange(image_size) - centre) * pixel_in_detectors
    x = np.broadcast_to(coords[None, :], (image_size, image_size)).ravel()
    y = np.broadcast_to(-coords[:, None], (image_size, image_size)).ravel()
    t = (np.outer(x, np.cos(angles_rad)) + np.outer(y, np.sin(angles_rad))
         + (n_detectors - 1) / 2.0)
    lower = np.floor(t)
    return lower.astype(np.int64), (t - lower).astype(np.float32)


def _fbp_filter(n_padded: int, name: str, frequency_cutoff: float) -> np.ndarray:
    """Ramp filter times a window, sampled for np.fft.rfft of length n_padded.

    The ramp is built in the spatial domain and transformed (Kak & Slaney 1988, ch. 3,
    eq. 61), as scikit-image does, which avoids the DC offset of a sampled |f|.
    ``frequency_cutoff`` (0, 1] rescales the window so that it reaches zero at that
    fraction of the Nyquist frequency (ODL's ``frequency_scaling``).
    """
    if name not in FBP_FILTERS:
        raise ValueError(f"unknown filter {name!r}; choose one of {FBP_FILTERS}")
    if not 0.0 < frequency_cutoff <= 1.0:
        raise ValueError(f"frequency_cutoff must be in (0, 1], got {frequency_cutoff}")
    n = np.concatenate([np.arange(1, n_padded // 2 + 1, 2), np.arange(n_padded // 2 - 1, 0, -2)])
    spatial = np.zeros(n_padded)
    spatial[0] = 0.25
    spatial[1::2] = -1.0 / (np.pi * n) ** 2
    ramp = 2.0 * np.real(np.fft.rfft(spatial))
    nu = np.fft.rfftfreq(n_padded) / frequency_cutoff  # cycles per detector bin, rescaled
    window = {
        "ramp": np.ones_like(nu),
        "shepp-logan": np.sinc(nu),
        "cosine": np.cos(np.pi * nu),
        "hamming": 0.54 + 0.46 * np.cos(2 * np.pi * nu),
        "hann": np.cos(np.pi * nu) ** 2,
    }[name]
    return ramp * np.where(nu <= 0.5, window, 0.0)


class ParallelBeamCT:
    """2D parallel-beam CT: projection ``A``, its exact adjoint and FBP.

    The discrete model is pixel-driven: every pixel's attenuation is shared between the
    two detector bins nearest to where its centre projects (linear interpolation). That
    defines a sparse matrix A with ``A_adjoint`` its exact transpose (the test checks
    <Ax, y> = <x, A^T y> to 1e-10 relative in float64). The transpose is also exactly
    the back-projector inside scikit-image's ``iradon``; ``fbp`` equals
    ``skimage.transform.iradon(..., filter_name="ramp", circle=False)`` for odd sizes
    (both checked in the tests). scikit-image's ``iradon(filter_name=None)`` is *not*
    the adjoint of its ``radon`` (different interpolation), hence this class.

    Speed (2-core CPU, 128² image, 360 views): the matrix (94 MB) is built once per
    geometry in ~0.9 s and cached; then ``A`` takes ~15 ms and ``A_adjoint`` ~30 ms a
    slice, against ~120 ms for ``skimage.transform.radon``. Geometries whose matrix
    would exceed ``max_matrix_mb`` recompute the same weights angle by angle instead
    (no memory, ~4x slower), so 362² x 1000 views (LoDoPaB) still works.

    Geometry: theta is measured counter-clockwise from the image x axis (columns, x to
    the right, y up); a pixel at (x, y) projects to t = x cos(theta) + y sin(theta).
    At theta = 0 each detector bin sums one image column (same as scikit-image). The
    rotation centre is the image centre ((N - 1) / 2 in pixel indices), the detector
    is centred on it.

    Args:
        image_size: N, images are (N, N) pixels.
        n_angles: number of views (few views = sparse-view CT).
        angle_range_deg: arc covered by the views; 180 is a full parallel-beam scan,
            less is limited-angle CT. Views are ``start_angle_deg + i * range / n``.
        start_angle_deg: angle of the first view.
        n_detectors: detector bins; default covers the image diagonal (odd number).
        pixel_size_mm: image pixel spacing (mm).
        detector_spacing_mm: detector bin spacing (mm); default ``pixel_size_mm``. Must not
            be much smaller than a pixel (pixel-driven projectors leave gaps then).
        max_matrix_mb: largest projection matrix to build and cache.

    Units: ``A`` maps attenuation mu (1/mm) to line integrals (dimensionless);
    ``fbp`` maps line integrals back to mu (1/mm).

    Example:
        >>> from skimage.data import shepp_logan_phantom
        >>> from skimage.transform import resize
        >>> image = resize(shepp_logan_phantom(), (128, 128))
        >>> ct = ParallelBeamCT(128, n_angles=360)
        >>> recon = ct.fbp(ct.A(image))                      # full view: ~29.6 dB PSNR
        >>> sparse = ParallelBeamCT(128, n_angles=32)        # sparse view: streaks
        >>> limited = ParallelBeamCT(128, 120, angle_range_deg=120.0)  # missing wedge
    """

    def __init__(self, image_size: int, n_angles: int = 360, *, angle_range_deg: float = 180.0,
                 start_angle_deg: float = 0.0, n_detectors: int | None = None,
                 pixel_size_mm: float = 1.0, detector_spacing_mm: float | None = None,
                 max_matrix_mb: float = 256.0) -> None:
        if image_size < 2 or n_angles < 1:
            raise ValueError(f"need image_size >= 2 and n_angles >= 1, got {image_size}, "
                             f"{n_angles}")
        if not 0.0 < angle_range_deg <= 360.0:
            raise ValueError(f"angle_range_deg must be in (0, 360], got {angle_range_deg}")
        self.image_size = int(image_size)
        self.n_angles = int(n_angles)
        self.angle_range_deg = float(angle_range_deg)
        self.start_angle_deg = float(start_angle_deg)
        self.pixel_size_mm = float(pixel_size_mm)
        self.detector_spacing_mm = float(detector_spacing_mm or pixel_size_mm)
        ratio = self.pixel_size_mm / self.detector_spacing_mm
        if ratio > 1.05:
            raise ValueError(
                f"detector bins ({self.detector_spacing_mm} mm) narrower than pixels "
                f"({self.pixel_size_mm} mm): a pixel-driven projector would leave empty bins. "
                "Use a finer image grid (smaller pixel_size_mm) or wider detector bins")
        if n_detectors is None:
            # Every pixel centre projects inside the detector; odd: a bin on the centre.
            n_detectors = int(np.ceil((self.image_size - 1) * np.sqrt(2.0) * ratio)) + 1
            n_detectors += 1 - n_detectors % 2
        self.n_detectors = int(n_detectors)
        self.angles_deg = (self.start_angle_deg
                           + np.arange(self.n_angles) * self.angle_range_deg / self.n_angles)
        self.max_matrix_mb = float(max_matrix_mb)

    # -- shapes and bookkeeping --------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int]:
        return (self.image_size, self.image_size)

    @property
    def sinogram_shape(self) -> tuple[int, int]:
        return (self.n_angles, self.n_detectors)

    @property
    def matrix_mb(self) -> float:
        """Memory of the cached projection matrix (float32 weights + int32 indices)."""
        return 2 * self.image_size**2 * self.n_angles * 8 / 1e6

    @property
    def uses_matrix(self) -> bool:
        """True when the projector is a cached sparse matrix (else computed per view)."""
        return self.matrix_mb <= self.max_matrix_mb

    def __repr__(self) -> str:
        return (f"ParallelBeamCT(image_size={self.image_size}, n_angles={self.n_angles}, "
                f"angle_range_deg={self.angle_range_deg}, n_detectors={self.n_detectors}, "
                f"pixel_size_mm={self.pixel_size_mm}, "
                f"detector_spacing_mm={self.detector_spacing_mm})")

    def finer(self, factor: int) -> ParallelBeamCT:
        """The same scan with a ``factor`` times finer image grid and detector.

        Used to simulate measurements on a finer grid than the reconstruction (no
        inverse crime): detector bin j of this geometry covers bins j*factor ...
        j*factor + factor - 1 of the finer one.
        """
        return ParallelBeamCT(self.image_size * factor, self.n_angles,
                              angle_range_deg=self.angle_range_deg,
                              start_angle_deg=self.start_angle_deg,
                              n_detectors=self.n_detectors * factor,
                              pixel_size_mm=self.pixel_size_mm / factor,
                              detector_spacing_mm=self.detector_spacing_mm / factor,
                              max_matrix_mb=self.max_matrix_mb)

    @property
    def _scale(self) -> float:
        # A pixel of area d^2 spread over detector bins of width d_s: line integral units.
        return self.pixel_size_mm**2 / self.detector_spacing_mm

    def _weights_args(self) -> tuple[int, int, float]:
        return (self.image_size, self.n_detectors,
                self.pixel_size_mm / self.detector_spacing_mm)

    def _matrix(self) -> scipy.sparse.csr_matrix:
        return _splat_matrix(*self._weights_args(), tuple(np.deg2rad(self.angles_deg)))

    def _check(self, array, shape: tuple[int, int], what: str) -> np.ndarray:
        array = _float(array, what)
        if array.shape[-2:] != shape:
            raise ValueError(f"{what} must have shape (..., {shape[0]}, {shape[1]}) for "
                             f"{self!r}; got {array.shape}")
        return array

    # -- the splatting operator S and its transpose (A = scale * S) ----------------------
    def _splat(self, images: np.ndarray) -> np.ndarray:
        """(B, N*N) -> (B, n_angles, n_detectors)."""
        batch = images.shape[0]
        if self.uses_matrix:
            out = (self._matrix().T @ images.T).T
            return out.reshape(batch, self.n_angles, self.n_detectors)
        # Same weights, one view at a time; two guard bins catch what falls off the edge.
        bins = self.n_detectors + 2
        out = np.zeros((batch, self.n_angles, bins), images.dtype)
        offsets = (np.arange(batch) * bins)[:, None]
        for k, theta in enumerate(np.deg2rad(self.angles_deg)):
            lower, w_up = _splat_weights(*self._weights_args(), np.array([theta]))
            lower, w_up = lower[:, 0], w_up[:, 0]
            low_bin = np.clip(lower + 1, 0, bins - 1) + offsets
            up_bin = np.clip(lower + 2, 0, bins - 1) + offsets
            out[:, k] = (np.bincount(low_bin.ravel(), (images * (1 - w_up)).ravel(), batch * bins)
                         + np.bincount(up_bin.ravel(), (images * w_up).ravel(), batch * bins)
                         ).reshape(batch, bins)
        return out[:, :, 1:-1]

    def _splat_transpose(self, sinograms: np.ndarray) -> np.ndarray:
        """(B, n_angles, n_detectors) -> (B, N*N)."""
        batch = sinograms.shape[0]
        if self.uses_matrix:
            return (self._matrix() @ sinograms.reshape(batch, -1).T).T
        padded = np.pad(sinograms, ((0, 0), (0, 0), (1, 1)))
        bins = self.n_detectors + 2
        out = np.zeros((batch, self.image_size**2), sinograms.dtype)
        for k, theta in enumerate(np.deg2rad(self.angles_deg)):
            lower, w_up = _splat_weights(*self._weights_args(), np.array([theta]))
            lower, w_up = lower[:, 0], w_up[:, 0]
            view = padded[:, k]
            out += (view[:, np.clip(lower + 1, 0, bins - 1)] * (1 - w_up)
                    + view[:, np.clip(lower + 2, 0, bins - 1)] * w_up)
        return out

    # -- public operators -------------------------------------------------------------
    def A(self, image: np.ndarray) -> np.ndarray:
        """Project: attenuation (..., N, N) in 1/mm -> line integrals (..., n_angles, n_det).

        float64 input stays float64, anything else is computed in float32.
        """
        image = self._check(image, self.image_shape, "image")
        lead = image.shape[:-2]
        flat = image.reshape(-1, self.image_size**2)
        return (self._scale * self._splat(flat)).reshape(*lead, *self.sinogram_shape)

    def A_adjoint(self, sinogram: np.ndarray) -> np.ndarray:
        """Back-project: (..., n_angles, n_det) -> (..., N, N), the exact transpose of A."""
        sinogram = self._check(sinogram, self.sinogram_shape, "sinogram")
        lead = sinogram.shape[:-2]
        flat = sinogram.reshape(-1, *self.sinogram_shape)
        return (self._scale * self._splat_transpose(flat)).reshape(*lead, *self.image_shape)

    def fbp(self, sinogram: np.ndarray, filter: str = "ramp",
            frequency_cutoff: float = 1.0) -> np.ndarray:
        """Filtered back-projection: line integrals (..., n_angles, n_det) -> mu (..., N, N).

        Args:
            sinogram: line integrals (dimensionless), e.g. the output of ``A``.
            filter: "ramp", "shepp-logan", "cosine", "hamming" or "hann"; the smoother
                windows trade resolution for noise.
            frequency_cutoff: fraction of the Nyquist frequency where the window reaches
                zero (1 = none; LoDoPaB's tuned FBP uses "hann" with 0.641).

        Each view is weighted by half the angular step, so limited-angle scans keep the
        right scale inside the measured wedge.
        """
        sinogram = self._check(sinogram, self.sinogram_shape, "sinogram")
        n_padded = max(64, int(2 ** np.ceil(np.log2(2 * self.n_detectors))))
        response = _fbp_filter(n_padded, filter, frequency_cutoff)
        filtered = np.fft.irfft(np.fft.rfft(sinogram, n=n_padded, axis=-1) * response,
                                n=n_padded, axis=-1)[..., : self.n_detectors]
        filtered = filtered.astype(sinogram.dtype, copy=False)
        step = np.deg2rad(self.angle_range_deg) / self.n_angles
        lead = sinogram.shape[:-2]
        flat = filtered.reshape(-1, *self.sinogram_shape)
        image = self._splat_transpose(flat) * (step / 2.0 / self.detector_spacing_mm)
        return image.reshape(*lead, *self.image_shape)


def low_dose_ct(image_hu: np.ndarray, photons: float | None = LODOPAB_PHOTONS, *,
                ct: ParallelBeamCT | None = None, pixel_size_mm: float = 1.0,
                n_angles: int = 360, oversample: int = 2, filter: str = "ramp",
                seed: int | np.random.Generator | None = None,
                return_sinogram: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Simulate a (low-dose) CT scan of an image in HU and reconstruct it by FBP, in HU.

    Steps: HU -> mu = 0.02 /mm (1 + HU/1000) (clipped at 0); bilinear up-sampling to an
    ``oversample`` times finer grid; projection there; detector bins average the
    transmitted intensity exp(-p) over their ``oversample`` sub-bins (so partial-volume
    edges are non-linear, as in a real detector); photon counts ~ Poisson(photons x
    transmission); p = -log(max(counts, 0.1) / photons) (LoDoPaB's floor for zero
    counts); FBP on the reconstruction grid; back to HU. Measuring on a finer grid than
    the reconstruction avoids the "inverse crime" of simulating with the same discrete
    model one inverts. Quantum noise variance scales as 1/photons (tested).

    Args:
        image_hu: (..., N, N) float CT numbers. Integer arrays are refused (they are
            usually stored values that still need RescaleSlope/Intercept).
        photons: blank-scan count per detector bin and view (LoDoPaB: 4096). Dose is
            proportional to it. ``None`` gives the noise-free measurement.
        ct: reconstruction geometry; default ``ParallelBeamCT(N, n_angles,
            pixel_size_mm=pixel_size_mm)``. Pass e.g. ``ParallelBeamCT(N, 60)`` for
            low-dose sparse-view data.
        pixel_size_mm: pixel spacing, when ``ct`` is not given. Sets the path lengths,
            hence how much each ray is attenuated and how noisy it is.
        n_angles: views, when ``ct`` is not given.
        oversample: measurement grid refinement (1 disables it).
        filter: FBP filter (see :meth:`ParallelBeamCT.fbp`).
        seed: random seed or generator.
        return_sinogram: also return the noisy line integrals (..., n_angles, n_det).

    Returns:
        (..., N, N) float32 reconstruction in HU [, sinogram].

    Timing: 128² slice, 360 views, oversample 2: ~0.35 s on a shared 2-core x86 CPU
    (fine-grid projection computed view by view ~0.25 s, FBP ~0.05 s; the first call
    also builds the 128² matrix, ~0.9 s).

    Example:
        >>> from i2i_keras import phantoms
        >>> head = phantoms.head_slice(size=128, seed=0)
        >>> quarter = low_dose_ct(head.ct(seed=0), photons=1e4,
        ...                       pixel_size_mm=head.pixel_mm, seed=1)
    """
    ct = _geometry_for(image_hu, ct, n_angles, pixel_size_mm)
    transmission = ct_transmission(image_hu, ct, oversample)
    return _reconstruct(transmission, ct, photons, filter, _rng(seed), return_sinogram)


def _geometry_for(image_hu, ct: ParallelBeamCT | None, n_angles: int,
                  pixel_size_mm: float) -> ParallelBeamCT:
    shape = np.shape(image_hu)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"image_hu must be square (..., N, N), got {shape}")
    ct = ct or ParallelBeamCT(shape[-1], n_angles, pixel_size_mm=pixel_size_mm)
    if ct.image_size != shape[-1]:
        raise ValueError(f"ct is for {ct.image_size}² images, image_hu is {shape[-1]}²")
    return ct


def ct_transmission(image_hu: np.ndarray, ct: ParallelBeamCT, oversample: int = 2) -> np.ndarray:
    """Noise-free detector transmission exp(-line integral), (..., n_angles, n_det).

    HU -> mu (clipped at 0), bilinear up-sampling to an ``oversample`` times finer grid,
    projection there, and each detector bin averaging the transmitted intensity over
    its sub-bins. The expensive, dose-independent half of :func:`low_dose_ct`: compute
    it once, then draw as many doses as you like with :func:`simulate_doses`.
    """
    hu = _float(require_float(image_hu, "image_hu", "CT numbers in HU"), "image_hu")
    if int(oversample) != oversample or oversample < 1:
        raise ValueError(f"oversample must be a positive integer, got {oversample}")
    oversample = int(oversample)
    mu = np.clip(hu_to_mu(hu.astype(np.float32)), 0.0, None)
    if oversample == 1:
        return np.exp(-ct.A(mu))
    zoom = (1,) * (mu.ndim - 2) + (oversample, oversample)
    mu = ndimage.zoom(mu, zoom, order=1, grid_mode=True, mode="nearest")
    line = ct.finer(oversample).A(mu)
    return np.exp(-line).reshape(*line.shape[:-1], ct.n_detectors, oversample).mean(-1)


def _reconstruct(transmission: np.ndarray, ct: ParallelBeamCT, photons: float | None,
                 filter: str, rng: np.random.Generator, return_sinogram: bool = False):
    """Poisson counts (or none), log with LoDoPaB's floor, FBP, back to HU."""
    if photons is None:
        sinogram = -np.log(transmission)
    else:
        if photons <= 0:
            raise ValueError(f"photons must be positive, got {photons}")
        counts = rng.poisson(photons * transmission)
        sinogram = -np.log(np.maximum(counts, MIN_PHOTON_COUNT) / photons)
    sinogram = sinogram.astype(np.float32)
    recon_hu = mu_to_hu(ct.fbp(sinogram, filter=filter)).astype(np.float32)
    return (recon_hu, sinogram) if return_sinogram else recon_hu


def simulate_doses(image_hu: np.ndarray, photons: dict[str, float | None], *,
                   ct: ParallelBeamCT | None = None, pixel_size_mm: float = 1.0,
                   n_angles: int = 360, oversample: int = 2, filter: str = "ramp",
                   seed: int | np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Several doses of the same scan: {name: reconstruction in HU (..., N, N)}.

    photons: {name: blank-scan count per bin and view, or None for noise-free}, e.g.
    ``{"truth": None, "normal": 1e5, "quarter": 2.5e4}``. The projection is computed
    once (see :func:`ct_transmission`) and each dose draws its own Poisson noise, as
    :func:`low_dose_ct` would; a batch of images shares one sparse-matrix product.
    """
    ct = _geometry_for(image_hu, ct, n_angles, pixel_size_mm)
    transmission = ct_transmission(image_hu, ct, oversample)
    rng = _rng(seed)
    return {name: _reconstruct(transmission, ct, n, filter, rng) for name, n in photons.items()}


# --------------------------------------------------------------------------------------
# MRI
# --------------------------------------------------------------------------------------

def fft2c(image: np.ndarray, axes: tuple[int, ...] = (-2, -1)) -> np.ndarray:
    """Centred, orthonormal FFT: image (..., H, W) -> k-space with DC at (H//2, W//2)."""
    shifted = np.fft.ifftshift(image, axes=axes)
    return np.fft.fftshift(np.fft.fftn(shifted, axes=axes, norm="ortho"), axes=axes)


def ifft2c(kspace: np.ndarray, axes: tuple[int, ...] = (-2, -1)) -> np.ndarray:
    """Inverse of :func:`fft2c` (complex output)."""
    shifted = np.fft.ifftshift(kspace, axes=axes)
    return np.fft.fftshift(np.fft.ifftn(shifted, axes=axes, norm="ortho"), axes=axes)


def _central_window(n_full: int, n_keep: int) -> slice:
    # Frequencies -n_keep//2 ... n_keep - n_keep//2 - 1: exactly those of an n_keep-point
    # acquisition with DC at n_keep//2.
    start = n_full // 2 - n_keep // 2
    return slice(start, start + n_keep)


def kspace_truncate(image: np.ndarray, factor: float, *, keep_size: bool = True,
                    axes: tuple[int, ...] = (-2, -1), magnitude: bool = True) -> np.ndarray:
    """Low-resolution MR image as a scanner acquires it: keep the central k-space only.

    An acquisition with a ``factor`` times smaller matrix over the same field of view
    measures exactly the central 1/factor of k-space along each axis; everything
    outside is never measured. That is an ideal (box) low-pass filter, with its Gibbs
    ringing, not a blur.

    Args:
        image: (..., H, W) real or complex image.
        factor: resolution reduction per axis (>= 1); round(H / factor) lines are kept.
        keep_size: True returns the zero-filled result on the original grid
            (what scanners call zero-fill interpolation); False returns the small
            matrix (..., round(H/f), round(W/f)), intensities preserved. Pixel m of the
            small image is centred on pixel ``factor * m`` of the original grid.
        axes: axes to truncate (e.g. (-3, -2, -1) for 3D).
        magnitude: return |image| (what a scanner displays) instead of the complex one.

    Example:
        >>> low = kspace_truncate(np.random.rand(128, 128), 4)              # 128², blurry
        >>> small = kspace_truncate(np.random.rand(128, 128), 4, keep_size=False)  # 32²
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    kspace = fft2c(np.asarray(image), axes)
    window = [slice(None)] * kspace.ndim
    kept = []
    for ax in axes:
        n_full = kspace.shape[ax]
        n_keep = max(1, int(round(n_full / factor)))
        window[ax] = _central_window(n_full, n_keep)
        kept.append(n_keep / n_full)
    window = tuple(window)
    if keep_size:
        truncated = np.zeros_like(kspace)
        truncated[window] = kspace[window]
        out = ifft2c(truncated, axes)
    else:
        out = ifft2c(kspace[window], axes) * np.sqrt(np.prod(kept))
    return np.abs(out).astype(np.float32) if magnitude else out.astype(np.complex64)


def cartesian_mask(shape: tuple[int, int], acceleration: float, center_fraction: float = 0.08,
                   seed: int | np.random.Generator | None = None,
                   kind: str = "random") -> np.ndarray:
    """Cartesian under-sampling mask (H, W), bool: which phase-encoding lines are measured.

    Lines are k-space columns (full read-out along H). A fully sampled centre of
    ``round(W * center_fraction)`` lines is always kept (it holds the contrast); the
    rest are chosen at random with the probability that gives ``W / acceleration``
    lines on average (``kind="random"``, as in fastMRI) or every ``acceleration``-th
    line (``kind="equispaced"``).

    >>> mask = cartesian_mask((64, 64), acceleration=4, seed=0)
    >>> mask.shape, bool(mask[:, 32].all())
    ((64, 64), True)
    """
    if acceleration < 1:
        raise ValueError(f"acceleration must be >= 1, got {acceleration}")
    if not 0.0 <= center_fraction <= 1.0:
        raise ValueError(f"center_fraction must be in [0, 1], got {center_fraction}")
    height, width = shape
    n_center = int(round(width * center_fraction))
    lines = np.zeros(width, dtype=bool)
    lines[_central_window(width, n_center)] = True
    if kind == "random":
        n_wanted = width / acceleration
        p = (n_wanted - n_center) / max(width - n_center, 1)
        lines |= _rng(seed).uniform(size=width) < np.clip(p, 0.0, 1.0)
    elif kind == "equispaced":
        lines[(np.arange(width) - width // 2) % int(round(acceleration)) == 0] = True
    else:
        raise ValueError(f"kind must be 'random' or 'equispaced', got {kind!r}")
    return np.broadcast_to(lines, (height, width)).copy()


class UndersampledMRI(NamedTuple):
    """Result of :func:`undersample`."""

    image: np.ndarray   # (..., H, W) float32 zero-filled reconstruction (magnitude)
    kspace: np.ndarray  # (..., H, W) complex64 measured k-space, zero where not measured
    mask: np.ndarray    # (H, W) bool, True where measured


def undersample(image: np.ndarray, acceleration: float, center_fraction: float = 0.08,
                seed: int | np.random.Generator | None = None,
                kind: str = "random") -> UndersampledMRI:
    """Accelerated Cartesian MRI: measure a subset of k-space lines, reconstruct zero-filled.

    Args:
        image: (..., H, W) image (real or complex); all images in a batch share one mask.
        acceleration, center_fraction, seed, kind: see :func:`cartesian_mask`.

    Returns:
        ``UndersampledMRI(image, kspace, mask)``: the aliased zero-filled magnitude
        image, the measured k-space and the mask (use them with
        :func:`data_consistency`).

    Example:
        >>> acq = undersample(np.random.rand(64, 64), acceleration=4, seed=0)
        >>> acq.image.shape, acq.kspace.dtype, bool(acq.mask.mean() < 0.5)
        ((64, 64), dtype('complex64'), True)
    """
    image = np.asarray(image)
    mask = cartesian_mask(image.shape[-2:], acceleration, center_fraction, seed, kind)
    kspace = (fft2c(image) * mask).astype(np.complex64)
    return UndersampledMRI(np.abs(ifft2c(kspace)).astype(np.float32), kspace, mask)


def rician_noise(image: np.ndarray, sigma: float,
                 seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Magnitude-image noise: |image + sigma (n1 + i n2)|, n1, n2 ~ N(0, 1) independent.

    Thermal noise is Gaussian in each of the real and imaginary channels; the magnitude
    turns it Rician, which is biased upwards where the signal is low (mean
    sigma sqrt(pi/2) ~ 1.25 sigma in air instead of 0).

    Args:
        image: (..., H, W) real (the signal magnitude) or complex image.
        sigma: noise standard deviation per channel, in image units.

    >>> noisy = rician_noise(np.zeros((64, 64)), sigma=1.0, seed=0)
    >>> bool(1.1 < noisy.mean() < 1.4)
    True
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    image = np.asarray(image)
    rng = _rng(seed)
    noise = rng.standard_normal(image.shape) + 1j * rng.standard_normal(image.shape)
    return np.abs(image + sigma * noise).astype(np.float32)


def data_consistency(image: np.ndarray, kspace: np.ndarray, mask: np.ndarray,
                     measurement_weight: float | None = None) -> np.ndarray:
    """Put the measured k-space back into a predicted image (the physics step of hybrids).

    k_out = k_pred where not measured; where measured, k_meas (``measurement_weight``
    None: noiseless data, hard replacement) or (k_pred + w k_meas) / (1 + w) (noisy data;
    Schlemper et al., IEEE TMI 2018). With noiseless data the result is never further
    from the truth than the prediction (it is a projection onto the measured set).

    Args:
        image: (..., H, W) predicted image (e.g. a network's output).
        kspace: (..., H, W) measured k-space (from :func:`undersample`).
        mask: (H, W) bool, True where measured.
        measurement_weight: w >= 0 or None.

    Returns:
        (..., H, W) complex64 image; take ``np.abs`` to display.

    Example:
        >>> acq = undersample(np.random.rand(64, 64), 4, seed=0)
        >>> refined = np.abs(data_consistency(acq.image, acq.kspace, acq.mask))
    """
    predicted = fft2c(np.asarray(image))
    kspace = np.asarray(kspace)
    mask = np.asarray(mask, dtype=bool)
    if kspace.shape[-2:] != predicted.shape[-2:] or mask.shape[-2:] != predicted.shape[-2:]:
        raise ValueError(f"image {predicted.shape}, kspace {kspace.shape} and mask "
                         f"{mask.shape} must share their last two axes")
    if measurement_weight is None:
        measured = kspace
    else:
        if measurement_weight < 0:
            raise ValueError(f"measurement_weight must be >= 0, got {measurement_weight}")
        measured = (predicted + measurement_weight * kspace) / (1.0 + measurement_weight)
    return ifft2c(np.where(mask, measured, predicted)).astype(np.complex64)


# --------------------------------------------------------------------------------------
# PET and generic
# --------------------------------------------------------------------------------------

def _fwhm_to_sigma(fwhm: float) -> float:
    return fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def low_count_pet(activity: np.ndarray, counts: float | None = 1e6, *,
                  psf_fwhm_mm: float | None = None, pixel_size_mm: float = 1.0,
                  seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Low-count PET image: optional scanner blur, then Poisson statistics on the counts.

    The activity map is blurred by the scanner's point-spread function (Gaussian of
    FWHM ``psf_fwhm_mm``, e.g. 4-6 mm for clinical scanners) and scaled so that each
    image holds ``counts`` expected counts in total; each pixel is drawn from a Poisson
    distribution and scaled back to activity units, so the mean is unchanged and the
    relative variance is 1/(expected counts in the pixel). This is an image-domain model:
    real PET noise is Poisson in the sinogram and becomes spatially correlated after
    reconstruction.

    Args:
        activity: (..., H, W) non-negative activity (any unit).
        counts: expected total counts per image (dose x time x sensitivity); None for
            the noise-free (blurred) image, the truth a denoiser is scored against.
        psf_fwhm_mm: scanner resolution; None for no blur.
        pixel_size_mm: pixel spacing (mm), to convert the FWHM into pixels.
        seed: random seed or generator.

    Returns:
        (..., H, W) float32 noisy activity in the input's units.

    >>> pet = low_count_pet(np.ones((32, 32)), counts=1e5, psf_fwhm_mm=5.0, seed=0)
    """
    activity = _float(activity, "activity")
    if np.any(activity < 0):
        raise I2IDataError("activity has negative values; PET activity must be >= 0 "
                           "(clip or shift the map first)")
    if counts is not None and counts <= 0:
        raise ValueError(f"counts must be positive, got {counts}")
    if psf_fwhm_mm:
        sigma = _fwhm_to_sigma(psf_fwhm_mm) / pixel_size_mm
        activity = ndimage.gaussian_filter(activity, (0,) * (activity.ndim - 2) + (sigma,) * 2,
                                           mode="constant")
    if counts is None:
        return activity.astype(np.float32)
    total = activity.sum(axis=(-2, -1), keepdims=True)
    if np.any(total <= 0):
        raise I2IDataError("an activity image is all zero; there is nothing to count")
    scale = counts / total
    noisy = _rng(seed).poisson(activity * scale) / scale
    return noisy.astype(np.float32)


def downsample(image: np.ndarray, factor: float, *, anti_aliasing: bool = True,
               order: int = 1) -> np.ndarray:
    """Reduce resolution by ``factor`` with a Gaussian anti-aliasing pre-filter.

    Uses ``skimage.transform.resize`` on the last two axes (sigma = (factor - 1) / 2
    pixels, then interpolation of order ``order``). Coarse pixel centres sit at the
    centres of the fine pixel blocks they cover. Without anti-aliasing, detail finer than
    the new pixel folds back as false patterns (aliasing).

    Args:
        image: (..., H, W) image.
        factor: > 1 shrinks; the output is (..., round(H/f), round(W/f)) float32.

    >>> downsample(np.ones((64, 64)), 4).shape
    (16, 16)
    """
    from skimage.transform import resize

    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    image = _float(image, "image")
    shape = image.shape[:-2] + tuple(max(1, int(round(n / factor))) for n in image.shape[-2:])
    out = resize(image, shape, order=order, anti_aliasing=anti_aliasing, preserve_range=True,
                 mode="reflect")
    return out.astype(np.float32)
