"""PET in the image domain: scanner blur (:class:`PETBlur`) + counting noise.

``low_count_pet`` = ``PETBlur`` (Gaussian point-spread function) followed by
:class:`~i2i_keras.physics.noise.PoissonCountNoise` (Poisson counts, scaled back to
activity). An image-domain model: real PET noise is Poisson in the sinogram and becomes
spatially correlated after reconstruction.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..io import I2IDataError
from .base import LinearOperator, _float
from .noise import PoissonCountNoise


def _fwhm_to_sigma(fwhm: float) -> float:
    return fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))


class PETBlur(LinearOperator):
    """Scanner resolution as an operator: Gaussian blur of FWHM ``fwhm_mm``, zero outside.

    The kernel is symmetric and the image is zero-padded at its border (activity outside
    the field of view is zero), so the blur matrix is symmetric: ``A_adjoint`` is ``A``
    itself, exactly (``adjointness_test()`` ~1e-16). A blur removes fine detail, so there
    is no exact inverse; ``A_dagger`` is the base class's regularised least squares
    (Tikhonov weight ``reg``, conjugate gradients), a simple deconvolution.

    Args:
        image_shape: (H, W) of the images (leading axes are a batch).
        fwhm_mm: full width at half maximum of the point-spread function (mm), e.g. 4-6 mm
            for clinical scanners.
        pixel_size_mm: pixel spacing (mm), to convert the FWHM into pixels.

    Example:
        >>> pet = PETBlur((32, 32), fwhm_mm=6.0, pixel_size_mm=2.0)
        >>> point = np.zeros((32, 32))
        >>> point[16, 16] = 1.0
        >>> psf = pet.A(point)
        >>> round(float(psf.sum()), 6), pet.adjointness_test() < 1e-12
        (1.0, True)
        >>> sharper = pet.A_dagger(psf, reg=1e-3)       # deconvolved, peak recovered part-way
        >>> bool(sharper[16, 16] > 2 * psf[16, 16])
        True
    """

    def __init__(self, image_shape: tuple[int, int], fwhm_mm: float,
                 pixel_size_mm: float = 1.0) -> None:
        if fwhm_mm < 0 or pixel_size_mm <= 0:
            raise ValueError(f"need fwhm_mm >= 0 and pixel_size_mm > 0, got {fwhm_mm}, "
                             f"{pixel_size_mm}")
        self.image_shape = tuple(int(n) for n in image_shape)
        self.fwhm_mm = float(fwhm_mm)
        self.pixel_size_mm = float(pixel_size_mm)

    @property
    def measurement_shape(self) -> tuple[int, int]:
        """The blurred image has the image's shape."""
        return self.image_shape

    @property
    def sigma_px(self) -> float:
        """Standard deviation of the Gaussian, in pixels: FWHM / (2 sqrt(2 ln 2)) / pixel."""
        return _fwhm_to_sigma(self.fwhm_mm) / self.pixel_size_mm

    def A(self, activity: np.ndarray) -> np.ndarray:
        """Blur: (..., H, W) -> (..., H, W); float64 stays float64, else float32."""
        activity = _float(activity, "activity")
        if activity.shape[-2:] != self.image_shape:
            raise ValueError(f"activity must have shape (..., {self.image_shape}), got "
                             f"{activity.shape}")
        sigma = (0,) * (activity.ndim - 2) + (self.sigma_px,) * 2
        return ndimage.gaussian_filter(activity, sigma, mode="constant")

    def A_adjoint(self, blurred: np.ndarray) -> np.ndarray:
        """The same blur: a symmetric kernel with zero padding is self-adjoint."""
        return self.A(blurred)

    def __repr__(self) -> str:
        return (f"PETBlur(image_shape={self.image_shape}, fwhm_mm={self.fwhm_mm}, "
                f"pixel_size_mm={self.pixel_size_mm})")


def low_count_pet(activity: np.ndarray, counts: float | None = 1e6, *,
                  psf_fwhm_mm: float | None = None, pixel_size_mm: float = 1.0,
                  seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Low-count PET image: optional scanner blur, then Poisson statistics on the counts.

    The activity map is blurred by the scanner's point-spread function
    (``PETBlur(shape, psf_fwhm_mm, pixel_size_mm).A``) and scaled so that each image
    holds ``counts`` expected counts in total; each pixel is drawn from a Poisson
    distribution and scaled back to activity units (``PoissonCountNoise``), so the mean
    is unchanged and the relative variance is 1/(expected counts in the pixel).

    Args:
        activity: (..., H, W) non-negative activity (any unit).
        counts: expected total counts per image (dose x time x sensitivity); None for
            the noise-free (blurred) image, the truth a denoiser is scored against.
        psf_fwhm_mm: scanner resolution (mm); None for no blur.
        pixel_size_mm: pixel spacing (mm), to convert the FWHM into pixels.
        seed: random seed or generator.

    Returns:
        (..., H, W) float32 noisy activity in the input's units.

    >>> pet = low_count_pet(np.ones((32, 32)), counts=1e5, psf_fwhm_mm=5.0, seed=0)
    >>> pet.shape, pet.dtype
    ((32, 32), dtype('float32'))
    """
    activity = _float(activity, "activity")
    if np.any(activity < 0):
        raise I2IDataError("activity has negative values; PET activity must be >= 0 "
                           "(clip or shift the map first)")
    if counts is not None and counts <= 0:
        raise ValueError(f"counts must be positive, got {counts}")
    if psf_fwhm_mm:
        activity = PETBlur(activity.shape[-2:], psf_fwhm_mm, pixel_size_mm).A(activity)
    if counts is None:
        return activity.astype(np.float32)
    total = activity.sum(axis=(-2, -1), keepdims=True)
    if np.any(total <= 0):
        raise I2IDataError("an activity image is all zero; there is nothing to count")
    return PoissonCountNoise(counts / total, seed)(activity).astype(np.float32)
