"""Plain down-sampling with anti-aliasing (the degradation of generic super-resolution)."""

from __future__ import annotations

import numpy as np

from .base import _float


def downsample(image: np.ndarray, factor: float, *, anti_aliasing: bool = True,
               order: int = 1) -> np.ndarray:
    """Reduce resolution by ``factor`` with a Gaussian anti-aliasing pre-filter.

    Uses ``skimage.transform.resize`` on the last two axes (sigma = (factor - 1) / 2
    pixels, then interpolation of order ``order``). Coarse pixel centres sit at the
    centres of the fine pixel blocks they cover. Without anti-aliasing, detail finer than
    the new pixel folds back as false patterns (aliasing). For MRI, the scanner's own
    low resolution is :func:`~i2i_keras.physics.kspace_truncate` instead.

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
