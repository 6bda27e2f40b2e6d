"""NIfTI in and out (nibabel), affine kept: :func:`read_nifti`, :func:`write_nifti`.

The affine maps a voxel index (i, j, k) to RAS+ millimetres; its column norms are the
voxel sizes (:attr:`NiftiImage.spacing_mm`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np

from .errors import I2IDataError, PathLike


class NiftiImage(NamedTuple):
    """A NIfTI volume: ``array`` (float32, axes as stored) and ``affine`` (voxel -> RAS mm)."""

    array: np.ndarray
    affine: np.ndarray

    @property
    def spacing_mm(self) -> tuple[float, ...]:
        """Voxel size along each array axis (mm), from the affine's columns.

        >>> NiftiImage(np.zeros((4, 4, 2)), np.diag([1.0, 1.0, 2.5, 1.0])).spacing_mm
        (1.0, 1.0, 2.5)
        """
        columns = self.affine[:3, : min(self.array.ndim, 3)]
        return tuple(float(v) for v in np.linalg.norm(columns, axis=0))


def read_nifti(path: PathLike, *, allow_nonfinite: bool = False) -> NiftiImage:
    """Read a .nii / .nii.gz file as float32 (scl_slope/scl_inter applied) and its affine.

    Args:
        path: the file.
        allow_nonfinite: accept NaN/Inf voxels (otherwise an error: one NaN poisons a
            whole training batch's loss).

    Returns:
        :class:`NiftiImage`: ``array`` float32 with the stored axes, e.g. (x, y, z), in
        the file's units (HU for CT); ``affine`` 4x4 float64, voxel -> RAS+ mm.

    Example (a tiny volume written to a temporary folder, read back):
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_nifti(f"{tmp}/ct.nii.gz", np.zeros((8, 8, 4)),
        ...                        spacing_mm=(1, 1, 2.5))
        ...     image = read_nifti(path)
        >>> image.array.shape, str(image.array.dtype), image.spacing_mm
        ((8, 8, 4), 'float32', (1.0, 1.0, 2.5))
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        image = nib.load(path)
        array = np.asarray(image.get_fdata(dtype=np.float32))
    except Exception as exc:
        raise I2IDataError(f"{path} could not be read as NIfTI ({type(exc).__name__}: {exc}); "
                           "the file is truncated, corrupt or not NIfTI - download or export "
                           "it again") from exc
    if not allow_nonfinite:
        n_nan, n_inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
        if n_nan or n_inf:
            raise I2IDataError(
                f"{path} contains {n_nan} NaN and {n_inf} Inf voxels. Replace them (e.g. "
                "np.nan_to_num(array, nan=background)) or read with allow_nonfinite=True "
                "and mask them yourself")
    return NiftiImage(array, np.asarray(image.affine, dtype=np.float64))


def write_nifti(path: PathLike, array: np.ndarray, affine: np.ndarray | None = None, *,
                spacing_mm: Sequence[float] | None = None) -> Path:
    """Write an array as NIfTI-1 (.nii or .nii.gz) with its affine (voxel -> RAS mm).

    Floats are stored as float32, booleans as uint8, integers as they are.

    Args:
        path: output file; the extension chooses compression. Parent folders are created.
        array: 2D or 3D array, e.g. (x, y, z) in HU; no NaN/Inf.
        affine: 4x4; default a diagonal affine from ``spacing_mm`` (default 1 mm).
        spacing_mm: voxel size per axis (mm) when no affine is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_nifti(f"{tmp}/mask.nii", np.ones((8, 8, 4)) > 0)
        ...     stored = read_nifti(path)
        >>> path.name, float(stored.array.sum()), stored.spacing_mm
        ('mask.nii', 256.0, (1.0, 1.0, 1.0))
    """
    array = np.asarray(array)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise I2IDataError(f"array for {path} contains NaN or Inf; replace them first")
        array = array.astype(np.float32)
    elif array.dtype == bool:
        array = array.astype(np.uint8)
    if affine is None:
        spacing = [float(v) for v in (spacing_mm if spacing_mm is not None
                                      else [1.0] * array.ndim)][:3]
        affine = np.diag([*spacing, *[1.0] * (4 - len(spacing))])
    image = nib.Nifti1Image(array, np.asarray(affine, dtype=np.float64))
    image.header.set_xyzt_units("mm")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)
    return path
