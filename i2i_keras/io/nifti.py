"""NIfTI in and out (nibabel), affine kept: :func:`read_nifti`, :func:`write_nifti`.

The affine maps a voxel index (i, j, k) to RAS+ millimetres; its column norms are the
voxel sizes (:attr:`NiftiImage.spacing_mm`).
"""

from __future__ import annotations

import gzip
import io
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
        image = _load(path)
        array = np.asarray(image.get_fdata(dtype=np.float32))
    except I2IDataError:
        raise
    except Exception as exc:
        raise I2IDataError(f"{path} could not be read as NIfTI ({type(exc).__name__}: {exc}); "
                           "the file is truncated, corrupt or not NIfTI - download or export "
                           "it again") from exc
    affine = np.asarray(image.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise I2IDataError(
            f"{path} has a voxel-to-mm affine that is not finite or not invertible "
            f"({np.round(affine[:3], 4).tolist()}): its header (pixdim, qform or sform) is "
            "damaged, and spacings and positions read from it would be wrong - export the "
            "file again")
    if not allow_nonfinite:
        n_nan, n_inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
        if n_nan or n_inf:
            raise I2IDataError(
                f"{path} contains {n_nan} NaN and {n_inf} Inf voxels. Replace them (e.g. "
                "np.nan_to_num(array, nan=background)) or read with allow_nonfinite=True "
                "and mask them yourself")
    return NiftiImage(array, affine)


# Header sizes of NIfTI-1 and NIfTI-2, the first four bytes of a file in either byte order.
_HEADER_CLASSES = {348: nib.Nifti1Image, 540: nib.Nifti2Image}


def _load(path: Path):
    """The image of a .nii/.nii.gz file whose size matches its header exactly.

    A .nii.gz is decompressed whole, so that gzip's CRC-32 checks every byte (nibabel
    alone reads only up to the last voxel it needs and never reaches the checksum: a
    damaged archive could give wrong voxels without an error). The data must then be
    exactly as long as the header's dimensions and datatype say: pixel data left over
    or missing means a damaged dim, datatype or vox_offset. Other formats nibabel
    knows go to ``nib.load`` unchecked.
    """
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return nib.load(path)
    data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    size = next((n for order in "<>" for n in np.frombuffer(data[:4], f"{order}i4")
                 if n in _HEADER_CLASSES), None) if len(data) >= 4 else None
    if size is None:
        raise I2IDataError(f"{path} is not a NIfTI file (its first bytes are not a NIfTI-1 or "
                           "NIfTI-2 header size); check the file, or download/export it again")
    image = _HEADER_CLASSES[size].from_bytes(data)
    # nibabel repairs some header fields as it reads them (a voxel size of 0 becomes 1 mm,
    # with a log message only): the affine must be the one the file states.
    stated = type(image.header).from_fileobj(io.BytesIO(data), check=False)
    with np.errstate(all="ignore"):
        affine = stated.get_best_affine()
    if not np.allclose(affine, image.affine, atol=1e-6, equal_nan=False):
        raise I2IDataError(
            f"{path}: its header states a voxel-to-mm affine of "
            f"{np.round(affine[:3], 4).tolist()}, which nibabel had to repair (pixdim, "
            "qform or sform damaged: a voxel size of 0 or a rotation that is not one); "
            "export or download the file again")
    proxy = image.dataobj
    expected = int(proxy.offset) + int(np.prod(proxy.shape, dtype=np.int64)) * proxy.dtype.itemsize
    if len(data) != expected:
        raise I2IDataError(
            f"{path} holds {len(data)} bytes{' (uncompressed)' if name.endswith('.gz') else ''}, "
            f"but its header declares {expected}: {proxy.shape} voxels of "
            f"{proxy.dtype} from byte {int(proxy.offset)}. The file is truncated or its "
            "header (dim, datatype, vox_offset) is damaged - download or export it again")
    return image


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
