"""Cartesian MRI as a linear operator: a masked, centred Fourier transform.

An MR scanner measures k-space, the Fourier transform of the (complex) image, line by
line. :class:`CartesianMRI` is A = mask * fft2c: which k-space samples are measured is
the mask, and it says everything about the acquisition:

* full sampling: ``mask=None``;
* low resolution (a smaller matrix over the same field of view): the central window of
  k-space, :func:`central_kspace_mask`, used by :func:`kspace_truncate`;
* accelerated acquisition: a subset of phase-encoding lines, :func:`cartesian_mask`,
  used by :func:`undersample`.

Noise is added separately: complex Gaussian in k-space (``GaussianNoise``) or Rician on
the magnitude image (:func:`rician_noise`). :func:`data_consistency` re-imposes measured
k-space on a network's output.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .base import LinearOperator, _rng
from .noise import RicianNoise


def fft2c(image: np.ndarray, axes: tuple[int, ...] = (-2, -1)) -> np.ndarray:
    """Centred, orthonormal FFT: image (..., H, W) -> k-space with DC at (H//2, W//2).

    >>> k = fft2c(np.ones((4, 4)))
    >>> round(float(abs(k[2, 2])), 6), round(float(np.abs(k).sum()), 6)    # all energy at DC
    (4.0, 4.0)
    """
    shifted = np.fft.ifftshift(image, axes=axes)
    return np.fft.fftshift(np.fft.fftn(shifted, axes=axes, norm="ortho"), axes=axes)


def ifft2c(kspace: np.ndarray, axes: tuple[int, ...] = (-2, -1)) -> np.ndarray:
    """Inverse of :func:`fft2c`: k-space (..., H, W) -> complex image (..., H, W).

    >>> x = np.random.default_rng(0).random((8, 8))
    >>> bool(np.allclose(ifft2c(fft2c(x)), x))
    True
    """
    shifted = np.fft.ifftshift(kspace, axes=axes)
    return np.fft.fftshift(np.fft.ifftn(shifted, axes=axes, norm="ortho"), axes=axes)


def _central_window(n_full: int, n_keep: int) -> slice:
    # Frequencies -n_keep//2 ... n_keep - n_keep//2 - 1: exactly those of an n_keep-point
    # acquisition with DC at n_keep//2.
    start = n_full // 2 - n_keep // 2
    return slice(start, start + n_keep)


def _kept_lines(n_full: int, factor: float) -> int:
    return max(1, int(round(n_full / factor)))


def central_kspace_mask(shape: tuple[int, ...], factor: float) -> np.ndarray:
    """Mask (bool, ``shape``) of the k-space a ``factor`` times smaller matrix measures.

    The central round(n / factor) samples along every axis (DC at n // 2, as in
    :func:`fft2c`): a low-resolution acquisition over the same field of view.

    >>> mask = central_kspace_mask((8, 8), 4)
    >>> int(mask.sum()), bool(mask[3:5, 3:5].all())
    (4, True)
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(_central_window(n, _kept_lines(n, factor)) for n in shape)] = True
    return mask


class CartesianMRI(LinearOperator):
    """Single-coil Cartesian MRI: A x = mask * fft2c(x), image and k-space both complex.

    ``A_adjoint(k) = ifft2c(mask * k)``. Because the centred FFT is orthonormal and the
    mask only selects samples, the adjoint is also the exact pseudo-inverse: ``A_dagger``
    is the zero-filled reconstruction (unmeasured k-space set to 0), and for full
    sampling it inverts ``A`` exactly.

    Args:
        image_shape: (H, W) (or (D, H, W) for 3D); the operator acts on the trailing
            ``len(image_shape)`` axes, leading axes are a batch.
        mask: bool array of ``image_shape`` (or broadcasting to it), True where k-space
            is measured; None for full sampling. See :func:`cartesian_mask` and
            :func:`central_kspace_mask`.

    Example:
        >>> x = np.random.default_rng(0).random((32, 32))
        >>> mri = CartesianMRI((32, 32), cartesian_mask((32, 32), 4, seed=0))
        >>> kspace = mri.A(x)                           # complex, zero where not measured
        >>> zero_filled = np.abs(mri.A_dagger(kspace))  # aliased image
        >>> full = CartesianMRI((32, 32))
        >>> bool(np.allclose(full.A_dagger(full.A(x)), x)), mri.adjointness_test() < 1e-10
        (True, True)
    """

    complex_valued = True

    def __init__(self, image_shape: tuple[int, ...], mask: np.ndarray | None = None) -> None:
        self.image_shape = tuple(int(n) for n in image_shape)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            try:
                np.broadcast_shapes(mask.shape, self.image_shape)
            except ValueError:
                raise ValueError(f"mask {mask.shape} does not fit images "
                                 f"{self.image_shape}") from None
        self.mask = mask

    @property
    def measurement_shape(self) -> tuple[int, ...]:
        """k-space samples: the same grid as the image (unmeasured ones are zero)."""
        return self.image_shape

    @property
    def axes(self) -> tuple[int, ...]:
        """The transformed axes, counted from the end."""
        return tuple(range(-len(self.image_shape), 0))

    def _check(self, array, what: str) -> np.ndarray:
        array = np.asarray(array)
        if array.shape[array.ndim - len(self.image_shape):] != self.image_shape:
            raise ValueError(f"{what} must have shape (..., {self.image_shape}), got "
                             f"{array.shape}")
        return array

    def A(self, image: np.ndarray) -> np.ndarray:
        """Measure: image (..., H, W), real or complex -> k-space (..., H, W), complex."""
        kspace = fft2c(self._check(image, "image"), self.axes)
        return kspace if self.mask is None else kspace * self.mask

    def A_adjoint(self, kspace: np.ndarray) -> np.ndarray:
        """Zero-fill and inverse FFT: k-space (..., H, W) -> complex image (..., H, W)."""
        kspace = self._check(kspace, "kspace")
        return ifft2c(kspace if self.mask is None else kspace * self.mask, self.axes)

    def A_dagger(self, kspace: np.ndarray) -> np.ndarray:
        """Zero-filled reconstruction (the exact pseudo-inverse here; = ``A_adjoint``)."""
        return self.A_adjoint(kspace)

    def __repr__(self) -> str:
        sampled = 1.0 if self.mask is None else float(np.broadcast_to(
            self.mask, self.image_shape).mean())
        return f"CartesianMRI(image_shape={self.image_shape}, sampled={sampled:.3f})"


def kspace_truncate(image: np.ndarray, factor: float, *, keep_size: bool = True,
                    axes: tuple[int, ...] = (-2, -1), magnitude: bool = True) -> np.ndarray:
    """Low-resolution MR image as a scanner acquires it: keep the central k-space only.

    An acquisition with a ``factor`` times smaller matrix over the same field of view
    measures exactly the central 1/factor of k-space along each axis; everything
    outside is never measured. That is an ideal (box) low-pass filter, with its Gibbs
    ringing, not a blur. Built as ``CartesianMRI(shape, central_kspace_mask(shape,
    factor))``: ``A`` then ``A_dagger`` (zero-filled) or a crop of the measured window.

    Args:
        image: (..., H, W) real or complex image.
        factor: resolution reduction per axis (>= 1); round(H / factor) lines are kept.
        keep_size: True returns the zero-filled result on the original grid
            (what scanners call zero-fill interpolation); False returns the small
            matrix (..., round(H/f), round(W/f)), intensities preserved. Pixel m of the
            small image is centred on pixel ``factor * m`` of the original grid.
        axes: axes to truncate (e.g. (-3, -2, -1) for 3D).
        magnitude: return |image| (float32, what a scanner displays) instead of the
            complex64 image.

    Example:
        >>> low = kspace_truncate(np.random.rand(32, 32), 4)                 # 32², blurry
        >>> small = kspace_truncate(np.random.rand(32, 32), 4, keep_size=False)
        >>> low.shape, small.shape
        ((32, 32), (8, 8))
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    image = np.asarray(image)
    # The operator acts on trailing axes: move the truncated ones there (order kept).
    source = tuple(ax % image.ndim for ax in axes)
    trailing = tuple(range(image.ndim - len(axes), image.ndim))
    image = np.moveaxis(image, source, trailing)
    shape = image.shape[len(image.shape) - len(axes):]
    mri = CartesianMRI(shape, central_kspace_mask(shape, factor))
    kspace = mri.A(image)
    if keep_size:
        out = mri.A_dagger(kspace)
    else:
        window = tuple(_central_window(n, _kept_lines(n, factor)) for n in shape)
        kept = [_kept_lines(n, factor) / n for n in shape]
        out = ifft2c(kspace[(..., *window)], mri.axes) * np.sqrt(np.prod(kept))
    out = np.moveaxis(out, trailing, source)
    return np.abs(out).astype(np.float32) if magnitude else out.astype(np.complex64)


def lowres_kspace(small: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """What a low-resolution matrix measured, as k-space on a finer grid, and its mask.

    The inverse of :func:`kspace_truncate` with ``keep_size=False``: an (h, w) matrix
    over the same field of view as an (H, W) one measured the central h × w samples of
    the (H, W) k-space, and nothing outside. This gives super-resolution its
    data-consistency step: ``data_consistency(prediction, *lowres_kspace(small, shape))``
    keeps a network's high frequencies (its guess) and puts back the measured low ones,
    so the output, reduced again, is the input. A magnitude image has lost its phase;
    for anatomy whose phase is smooth this is close to what was measured.

    Args:
        small: (..., h, w) low-resolution image (magnitude or complex).
        shape: (H, W) of the fine grid, H >= h and W >= w.

    Returns:
        kspace (..., H, W) complex64 (zero outside the window) and mask (H, W) bool.

    Example:
        >>> x = np.random.default_rng(0).random((32, 32))
        >>> small = kspace_truncate(x, 4, keep_size=False, magnitude=False)   # (8, 8)
        >>> kspace, mask = lowres_kspace(small, x.shape)
        >>> bool(np.allclose(ifft2c(kspace), kspace_truncate(x, 4, magnitude=False),
        ...                  atol=1e-6)), int(mask.sum())
        (True, 64)
    """
    small = np.asarray(small)
    if small.ndim < 2 or len(shape) != 2:
        raise ValueError(f"need a (..., h, w) image and an (H, W) shape, got {small.shape} "
                         f"and {shape}")
    (h, w), (big_h, big_w) = small.shape[-2:], shape
    if h > big_h or w > big_w:
        raise ValueError(f"the low-resolution image {small.shape[-2:]} must not be larger "
                         f"than the fine grid {tuple(shape)}")
    window = (_central_window(big_h, h), _central_window(big_w, w))
    mask = np.zeros(shape, dtype=bool)
    mask[window] = True
    kspace = np.zeros(small.shape[:-2] + tuple(shape), np.complex64)
    # kspace_truncate scaled the small image by sqrt(h w / (H W)) to keep intensities.
    kspace[(..., *window)] = fft2c(small) * np.sqrt(big_h * big_w / (h * w))
    return kspace, mask


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

    Built as ``CartesianMRI(shape, cartesian_mask(...))``: k-space = ``A(image)``,
    image = ``|A_dagger(k-space)|``.

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
    mri = CartesianMRI(image.shape[-2:], mask)
    kspace = mri.A(image).astype(np.complex64)
    return UndersampledMRI(np.abs(mri.A_dagger(kspace)).astype(np.float32), kspace, mask)


def rician_noise(image: np.ndarray, sigma: float,
                 seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Magnitude-image noise: |image + sigma (n1 + i n2)|, n1, n2 ~ N(0, 1) independent.

    The same as ``RicianNoise(sigma, seed)(image)``. Thermal noise is Gaussian in each
    of the real and imaginary channels; the magnitude turns it Rician, which is biased
    upwards where the signal is low (mean sigma sqrt(pi/2) ~ 1.25 sigma in air
    instead of 0).

    Args:
        image: (..., H, W) real (the signal magnitude) or complex image.
        sigma: noise standard deviation per channel, in image units.

    Returns:
        (..., H, W) float32 magnitude.

    >>> noisy = rician_noise(np.zeros((64, 64)), sigma=1.0, seed=0)
    >>> bool(1.1 < noisy.mean() < 1.4)
    True
    """
    return RicianNoise(sigma, seed)(image)


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
