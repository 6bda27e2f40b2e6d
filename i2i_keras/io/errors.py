"""The error every reader and writer raises on bad input, and the input checks.

* :class:`I2IDataError`: data that cannot be used as it is; the message names the file
  (or array) and says what to do about it.
* :func:`require_float`: refuse integer arrays where physical values (HU) belong.
* :func:`check_pair`: refuse a training pair whose images lie on different grids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

PathLike = str | Path


class I2IDataError(ValueError):
    """Input data that cannot be used as it is; the message says which file and why."""


# Shown (and serialised between processes) under its public address,
# ``i2i_keras.io.I2IDataError``, as before ``io`` became a package.
I2IDataError.__module__ = "i2i_keras.io"


def require_float(image: object, name: str = "image",
                  expected: str = "CT numbers in HU") -> np.ndarray:
    """Return ``image`` as an array, refusing integer/bool arrays where floats are expected.

    Integer images are usually stored DICOM values that still need RescaleSlope and
    RescaleIntercept (a CT stored as HU + 1024 would be silently 1024 HU off) or 8-bit
    exports; converting them must be a deliberate step.

    Args:
        image: array-like of any shape, e.g. a CT slice (rows, cols) in HU.
        name: how to call it in the message.
        expected: what its values should be, for the message.

    Returns:
        ``np.asarray(image)``, unchanged (same shape and float dtype).

    >>> require_float([[-1000.0, 40.0]]).shape
    (1, 2)
    >>> require_float(np.zeros(3, np.int16), "ct")
    Traceback (most recent call last):
    ...
    i2i_keras.io.I2IDataError: ct is an integer array (int16) where CT numbers in HU ...
    """
    array = np.asarray(image)
    if array.dtype.kind in "iub":
        raise I2IDataError(
            f"{name} is an integer array ({array.dtype}) where {expected} (floats) are "
            "expected. Integer images are usually stored DICOM values before "
            "RescaleSlope/RescaleIntercept (read_dicom applies them) or 8-bit exports. "
            f"If the values already are {expected}, convert explicitly: "
            f"{name}.astype(np.float32)")
    if array.dtype.kind not in "fc":
        raise I2IDataError(f"{name} has dtype {array.dtype}; expected a float array of "
                           f"{expected}")
    return array


def check_pair(first: np.ndarray, second: np.ndarray, *,
               spacings: tuple[Sequence[float] | None, Sequence[float] | None] = (None, None),
               names: tuple[str, str] = ("first image", "second image"),
               rtol: float = 1e-3) -> None:
    """Refuse an image pair whose shapes or voxel spacings differ.

    Paired training (denoising, MR -> CT) assumes voxel-to-voxel correspondence; a pair
    on different grids would train on misaligned anatomy without any error.

    Args:
        first, second: the two arrays, any shape (e.g. (slices, rows, cols)).
        spacings: their voxel spacings in mm, one per axis (None: not checked).
        names: how to call them in the message (file names, ideally).
        rtol: relative tolerance for spacings.

    Raises:
        I2IDataError: shapes or spacings differ; the message lists both.

    >>> check_pair(np.zeros((4, 4)), np.zeros((4, 4)), spacings=((1, 1), (1, 1)))
    >>> check_pair(np.zeros((4, 4)), np.zeros((4, 5)), names=("mr.nii", "ct.nii"))
    Traceback (most recent call last):
    ...
    i2i_keras.io.I2IDataError: mr.nii and ct.nii are not on the same grid (shapes differ: ...
    """
    shape_a, shape_b = np.shape(first), np.shape(second)
    spacing_a, spacing_b = spacings
    problems = []
    if shape_a != shape_b:
        problems.append(f"shapes differ: {shape_a} vs {shape_b}")
    if spacing_a is not None and spacing_b is not None:
        a, b = np.asarray(spacing_a, float), np.asarray(spacing_b, float)
        if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=1e-6):
            problems.append(f"voxel spacings differ: {tuple(np.round(a, 4))} mm vs "
                            f"{tuple(np.round(b, 4))} mm")
    if problems:
        raise I2IDataError(
            f"{names[0]} and {names[1]} are not on the same grid ({'; '.join(problems)}). "
            "A training pair needs voxel-to-voxel correspondence: resample one image onto "
            "the other's grid first (e.g. SimpleITK.Resample, or scipy.ndimage.zoom for a "
            "pure spacing change), or pair images from the same acquisition.")
