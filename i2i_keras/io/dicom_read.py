"""DICOM in: :func:`read_dicom` (one file) and :func:`read_dicom_series` (a folder).

Both return a :class:`DicomImage` whose ``array`` is in physical units: stored value x
RescaleSlope + RescaleIntercept, which is HU for CT. Slices of a series are sorted by
their position along the slice normal, not by file name. Every damaged or surprising
input raises :class:`~i2i_keras.io.I2IDataError` naming the file and the fix.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from .errors import I2IDataError, PathLike

_PIXEL_KEYS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass
class DicomImage:
    """An image read from DICOM, in physical units.

    Attributes:
        array: float32, (rows, cols) for one slice or (slices, rows, cols) for a series
            or multi-frame file. HU for CT; stored value x slope + intercept otherwise.
        spacing_mm: spacing of each array axis (mm), e.g. (dz, dy, dx).
        origin_mm: ImagePositionPatient of the first slice (patient LPS, mm), or None.
        orientation: ImageOrientationPatient (row direction, column direction), or None.
        modality: "CT", "MR", "PT", ...
        units: "HU" for CT, else a description.
        header: the first slice's header (no pixel data); a template for
            :func:`~i2i_keras.io.write_dicom_series`.
        files: the files read, in array order.
    """

    array: np.ndarray
    spacing_mm: tuple[float, ...]
    origin_mm: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    modality: str
    units: str
    header: Dataset
    files: tuple[Path, ...]

    @property
    def affine(self) -> np.ndarray:
        """4x4 voxel index (array axes) -> RAS+ mm, nibabel's convention.

        ``write_nifti(path, img.array, img.affine)`` stores a NIfTI that viewers place
        where the DICOM was. Without position/orientation tags the identity direction
        and zero origin are used.

        >>> from pydicom.data import get_testdata_file
        >>> read_dicom(get_testdata_file("CT_small.dcm")).affine.round(2)
        array([[  0.  ,  -0.66,   0.  , 158.14],
               [ -0.66,   0.  ,   0.  , 179.04],
               [  0.  ,   0.  ,   1.  , -75.7 ],
               [  0.  ,   0.  ,   0.  ,   1.  ]])
        """
        orientation = np.asarray(self.orientation if self.orientation else (1, 0, 0, 0, 1, 0),
                                 float)
        along_row, along_col = orientation[:3], orientation[3:]
        normal = np.cross(along_row, along_col)
        spacing = list(self.spacing_mm)
        lps = np.eye(4)
        if self.array.ndim == 3:
            lps[:3, 0], lps[:3, 1], lps[:3, 2] = (normal * spacing[0], along_col * spacing[1],
                                                  along_row * spacing[2])
        else:
            lps[:3, 0], lps[:3, 1], lps[:3, 2] = (along_col * spacing[0],
                                                  along_row * spacing[1], normal)
        lps[:3, 3] = self.origin_mm if self.origin_mm is not None else 0.0
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # LPS (DICOM) -> RAS (NIfTI)


# --------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------

def read_dicom(path: PathLike, *,
               default_rescale: tuple[float, float] | None = None) -> DicomImage:
    """Read one DICOM file (a slice, or a multi-frame volume) in physical units.

    Args:
        path: the file.
        default_rescale: (slope, intercept) to use when a CT file lacks the rescale tags
            (otherwise that is an error: its HU would be guesswork).

    Returns:
        :class:`DicomImage` with ``array`` (rows, cols) or (frames, rows, cols), float32,
        HU for CT, and ``spacing_mm`` (dy, dx) or (dz, dy, dx) in mm.

    Example:
        >>> from pydicom.data import get_testdata_file
        >>> image = read_dicom(get_testdata_file("CT_small.dcm"))
        >>> image.array.shape, image.units, image.spacing_mm
        ((128, 128), 'HU', (0.661468, 0.661468))
        >>> float(image.array.min()) >= -1024
        True
    """
    path = Path(path)
    ds = _dcmread(path)
    array = _pixels(ds, path, default_rescale)
    spacing = _in_plane_spacing(ds, path)
    if array.ndim == 3:
        spacing = (_slice_spacing(ds, path, float("nan")), *spacing)
    origin, orientation = _geometry(ds, path)
    return DicomImage(array, tuple(spacing), origin, orientation, str(ds.get("Modality", "")),
                      _units(ds), _header_only(ds), (path,))


def _dcmread(path: Path, stop_before_pixels: bool = False) -> Dataset:
    """The file's dataset with every standard element decoded, or I2IDataError.

    pydicom decodes an element when it is first used; a damaged one (a value whose
    length does not fit its VR, an unknown VR) would raise a bare pydicom error deep in
    the reader. Decoding them all here turns that into one message naming the file."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
        _decode_elements(ds.file_meta if hasattr(ds, "file_meta") else Dataset())
        _decode_elements(ds)
        return ds
    except InvalidDicomError as exc:
        raise I2IDataError(
            f"{path} is not a DICOM file ({exc}). Check that you picked the image files "
            "(often without extension or .dcm), not a viewer's export or a zip") from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # pydicom raises many types on damaged headers
        raise I2IDataError(
            f"{path} could not be parsed as DICOM ({type(exc).__name__}: {exc}); the file "
            "is truncated or corrupt - copy it again from the scanner/PACS") from exc


def _decode_elements(ds: Dataset) -> None:
    """Decode every standard (non-private) element, sequences included; private ones stay
    raw (they are never read, and a vendor's odd private tag must not refuse a file)."""
    for tag in list(ds.keys()):
        if tag.is_private:
            continue
        element = ds[tag]
        if element.VR == "SQ":
            for item in element.value or ():
                _decode_elements(item)


def _pixels(ds: Dataset, path: Path,
            default_rescale: tuple[float, float] | None) -> np.ndarray:
    """Pixel array of a full dataset in physical units (float32)."""
    if not any(k in ds for k in _PIXEL_KEYS):
        sop = ds.get("SOPClassUID")
        kind = getattr(sop, "name", str(sop)) if sop else "unknown SOP class"
        if "Rows" in ds or "Image Storage" in kind:
            raise I2IDataError(f"{path} is a {kind} file without its pixel data: it is "
                               "truncated - copy it again from the scanner/PACS")
        raise I2IDataError(
            f"{path} holds no image ({ds.get('Modality', '?')}: {kind}). Pass an image file "
            "(CT, MR, PT...), not a plan, structure set, report or DICOMDIR")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if _integer(ds, "SamplesPerPixel", path, default=1) != 1 or not photometric.startswith(
            "MONOCHROME"):
        raise I2IDataError(
            f"{path} is a colour image ({ds.get('PhotometricInterpretation', '?')}, "
            f"{ds.get('SamplesPerPixel', 1)} samples a pixel); i2i_keras reads greyscale "
            "(MONOCHROME1/2) CT/MR/PET images, whose pixels are measurements, not colours or "
            "palette indices. Convert it to greyscale first if you really mean to use it")
    shape = _check_pixel_data_length(ds, path)
    try:
        stored = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        syntax_name = getattr(syntax, "name", syntax)
        raise I2IDataError(
            f"{path}: pixel data could not be decoded ({exc}). A truncated file must be "
            f"copied again; a compressed one (transfer syntax {syntax_name}) needs a decoder "
            "(pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg) or decompressing "
            "(e.g. dcmdjpeg / gdcmconv --raw)") from exc
    if stored.shape != shape:
        raise I2IDataError(f"{path}: pixel data decoded to shape {stored.shape}, but the header "
                           f"declares {shape} (NumberOfFrames, Rows, Columns); the file is "
                           "corrupt - copy it again from the scanner/PACS")
    slope, intercept = _rescale(ds, path, default_rescale)
    image = stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    if not np.all(np.isfinite(image)):
        raise I2IDataError(f"{path}: {int(np.sum(~np.isfinite(image)))} pixels are not finite "
                           "numbers (NaN/Inf in float pixel data, or a rescale that overflows "
                           "float32); the file is corrupt or not an image in physical units")
    return image


def _integer(ds: Dataset, keyword: str, path: Path, default: int | None = None) -> int:
    """A header element that holds one integer >= 1 (Rows, Columns, BitsAllocated...)."""
    value = _floats(ds, keyword, path, count=1)
    if value is None:
        if default is None:
            raise I2IDataError(f"{path} has no {keyword}, which every image needs; the header "
                               "is damaged - export the file again from the scanner or PACS")
        return default
    if value[0] < 1 or value[0] != int(value[0]):
        raise I2IDataError(f"{path}: {keyword} is {value[0]:g}, which is not a positive "
                           "integer; the header is damaged - export the file again from the "
                           "scanner or PACS")
    return int(value[0])


def _check_pixel_data_length(ds: Dataset, path: Path) -> tuple[int, ...]:
    """The (frames,) rows, cols shape the header declares, after checking that the pixel
    data holds exactly that many values.

    pydicom accepts pixel data that is longer than the header says (it warns and keeps
    the first bytes): with a damaged Rows, Columns, NumberOfFrames or BitsAllocated that
    would be a scrambled image without an error. Compressed data is left to its decoder.
    """
    rows, columns = _integer(ds, "Rows", path), _integer(ds, "Columns", path)
    frames = _integer(ds, "NumberOfFrames", path, default=1)
    shape = (frames, rows, columns) if frames > 1 else (rows, columns)
    key = next(k for k in _PIXEL_KEYS if k in ds)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and not syntax.is_transfer_syntax:
        raise I2IDataError(f"{path}: its transfer syntax {str(syntax)[:64]!r} is not one DICOM "
                           "defines, so its pixels cannot be decoded; the header is damaged - "
                           "copy the file again from the scanner/PACS")
    if key == "PixelData" and syntax is not None and syntax.is_encapsulated:
        return shape
    bits = {"PixelData": None, "FloatPixelData": 32, "DoubleFloatPixelData": 64}[key]
    bits = bits or _integer(ds, "BitsAllocated", path)
    if bits not in (1, 8, 16, 32, 64):
        raise I2IDataError(f"{path}: BitsAllocated is {bits}; DICOM pixels are 1, 8, 16, 32 or "
                           "64 bits. The header is damaged - export the file again")
    expected = -(-frames * rows * columns * bits // 8)  # bytes, rounded up (1-bit data)
    actual = len(ds[key].value or b"")
    if actual not in (expected, expected + expected % 2):  # odd lengths get one pad byte
        raise I2IDataError(
            f"{path}: the pixel data holds {actual} bytes, but the header declares "
            f"{frames} x {rows} x {columns} pixels of {bits} bits ({expected} bytes). The file "
            "is truncated or its header (Rows, Columns, NumberOfFrames, BitsAllocated) is "
            "damaged - copy it again from the scanner/PACS")
    return shape


def _floats(source: Dataset, keyword: str, path: Path, count: int | None = None,
            positive: bool = False) -> tuple[float, ...] | None:
    """The numbers a header element holds (one or several), None where it is absent or
    empty. Every header number is read through here, so every damaged one raises
    I2IDataError naming the file, the element and the value, never a bare ValueError or a
    silently wrong image:

    * a value that is not a number (a corrupt decimal string such as "-75\u00ed6"), or not
      a finite one ("nan", "inf", "1e999");
    * a value representation other than the standard's for that element (a DS element
      read as US gives the string's bytes as numbers);
    * ``count``: a number of values other than the element's (PixelSpacing holds 2);
    * ``positive``: a value <= 0 where only positive ones make sense (spacings).
    """
    try:
        value = source.get(keyword)
        if value is None or value == "":
            return None
        values = value if isinstance(value, (list, tuple, MultiValue)) else [value]
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError, OverflowError) as error:
        raise _header_error(source, keyword, path, f"which is not a number ({error})") from None
    vr, standard = source[keyword].VR, dictionary_VR(keyword)
    if vr not in standard.split(" or "):
        raise _header_error(source, keyword, path, f"with value representation {vr} where the "
                            f"standard's is {standard}")
    if not all(np.isfinite(numbers)):
        raise _header_error(source, keyword, path, "which is not a finite number")
    if count is not None and len(numbers) != count:
        raise _header_error(source, keyword, path, f"that is {len(numbers)} values where "
                            f"it must hold {count}")
    if positive and min(numbers) <= 0:
        raise _header_error(source, keyword, path, "where only positive values make sense")
    return numbers


def _header_error(source: Dataset, keyword: str, path: Path, problem: str) -> I2IDataError:
    try:
        shown = str(source[keyword].value)
    except Exception:  # noqa: BLE001 - only for the message
        shown = "?"
    return I2IDataError(
        f"{path}: {keyword} holds {shown[:60]!r}, {problem}. The file's header is "
        "damaged: export it again from the scanner or PACS, or fix the element with "
        f"pydicom (ds.{keyword} = ...; ds.save_as(...))")


def _rescale(ds: Dataset, path: Path,
             default_rescale: tuple[float, float] | None) -> tuple[float, float]:
    """(slope, intercept) from the file, its shared functional groups or the default."""
    source = ds
    shared = ds.get("SharedFunctionalGroupsSequence")
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds and shared:
        transformation = shared[0].get("PixelValueTransformationSequence")
        if transformation:
            source = transformation[0]
    if "RescaleSlope" in source or "RescaleIntercept" in source:
        slope = _floats(source, "RescaleSlope", path, count=1) or (1.0,)
        intercept = _floats(source, "RescaleIntercept", path, count=1) or (0.0,)
        if slope[0] == 0:
            raise _header_error(source, "RescaleSlope", path, "which would make every pixel "
                                "the same value")
        return slope[0], intercept[0]
    if default_rescale is not None:
        return float(default_rescale[0]), float(default_rescale[1])
    if ds.get("Modality") == "CT":
        raise I2IDataError(
            f"{path} is a CT image without RescaleSlope/RescaleIntercept, so its stored "
            "values cannot be converted to HU. If you know the scanner's convention, pass "
            "default_rescale=(slope, intercept): (1, -1024) when values are stored as "
            "HU + 1024, (1, 0) when they are HU already")
    return 1.0, 0.0


def _pixel_spacing(ds: Dataset, path: Path) -> tuple[float, float] | None:
    """(row spacing, column spacing) in mm, also from enhanced multi-frame headers."""
    sources = [ds]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        sources.append(shared[0].PixelMeasuresSequence[0])
    for source in sources:
        for key in ("PixelSpacing", "ImagerPixelSpacing"):
            value = _floats(source, key, path, count=2, positive=True)
            if value:
                return value[0], value[1]
    return None


def _in_plane_spacing(ds: Dataset, path: Path) -> tuple[float, float]:
    """:func:`_pixel_spacing`, or 1 mm with a warning (shown at the reader's caller)."""
    spacing = _pixel_spacing(ds, path)
    if spacing is None:
        warnings.warn(f"{path} has no PixelSpacing; using 1 mm", stacklevel=3)
        spacing = (1.0, 1.0)
    return spacing


def _units(ds: Dataset) -> str:
    modality = ds.get("Modality", "")
    if modality == "CT":
        return "HU"
    if modality == "PT":
        return str(ds.get("Units", "stored value x slope + intercept"))
    if modality == "MR":
        return "MR signal (arbitrary units)"
    return "stored value x slope + intercept"


def _slice_spacing(ds: Dataset, path: Path, default: float) -> float:
    """SpacingBetweenSlices, else SliceThickness (mm, positive), else ``default``."""
    between = (_floats(ds, "SpacingBetweenSlices", path, count=1, positive=True)
               or _floats(ds, "SliceThickness", path, count=1, positive=True))
    return between[0] if between else default


def _geometry(ds: Dataset, path: Path) -> tuple[tuple[float, ...] | None,
                                                tuple[float, ...] | None]:
    """(ImagePositionPatient, ImageOrientationPatient) as float tuples, None where absent."""
    return (_floats(ds, "ImagePositionPatient", path, count=3), _orientation(ds, path))


def _orientation(ds: Dataset, path: Path) -> tuple[float, ...] | None:
    """ImageOrientationPatient: two unit vectors at right angles (a tolerance of 1e-3, as
    headers store about six decimals), else I2IDataError; None where absent."""
    value = _floats(ds, "ImageOrientationPatient", path, count=6)
    if value is not None:
        row, column = np.asarray(value[:3]), np.asarray(value[3:])
        if (abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3
                or abs(row @ column) > 1e-3):
            raise _header_error(ds, "ImageOrientationPatient", path,
                                "which are not two perpendicular unit vectors")
    return value


def _header_only(ds: Dataset) -> Dataset:
    header = ds.copy()
    for key in _PIXEL_KEYS:
        if key in header:
            delattr(header, key)
    return header


# --------------------------------------------------------------------------------------
# A folder of slices
# --------------------------------------------------------------------------------------

def read_dicom_series(folder: PathLike, *, series_uid: str | None = None,
                      default_rescale: tuple[float, float] | None = None,
                      spacing_tolerance: float = 0.01) -> DicomImage:
    """Read a folder of DICOM slices as one volume, sorted along the slice normal.

    Slices are ordered by the projection of ImagePositionPatient onto the normal of
    ImageOrientationPatient (robust to any patient orientation and to file names and
    InstanceNumbers in any order). Without those tags it falls back to InstanceNumber
    (then file name) and SpacingBetweenSlices/SliceThickness, with a warning saying so.
    Files that are not DICOM images (e.g. a README, DICOMDIR) are skipped with a warning.

    Args:
        folder: folder holding the slices of one series (not searched recursively).
        series_uid: which series to read when the folder holds several.
        default_rescale: see :func:`read_dicom`.
        spacing_tolerance: relative deviation of a slice gap from the median gap that is
            accepted before the spacing counts as non-uniform.

    Returns:
        :class:`DicomImage`, ``array`` (slices, rows, cols) float32 (HU for CT),
        ``spacing_mm`` (dz, dy, dx) in mm.

    Raises:
        I2IDataError: empty folder, several series (lists them), corrupt file, mixed
            orientations or image sizes, slices at the same position, non-uniform gaps.

    Example (a 3-slice series written to a temporary folder, read back):
        >>> import tempfile
        >>> from pydicom.data import get_testdata_file
        >>> from i2i_keras.io import write_dicom_series
        >>> ct = read_dicom(get_testdata_file("CT_small.dcm"))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = write_dicom_series(np.stack([ct.array] * 3), folder, reference=ct)
        ...     volume = read_dicom_series(folder)
        >>> volume.array.shape, volume.spacing_mm
        ((3, 128, 128), (5.0, 0.661468, 0.661468))
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise I2IDataError(f"{folder} is not a folder; use read_dicom for a single file")
    chosen = _choose_series(_image_headers(folder), folder, series_uid)
    chosen, spacing_z = _sort_slices(chosen, folder, spacing_tolerance)
    _same_in_every_slice(chosen, folder, "size (Rows x Columns)",
                         lambda path, ds: (_integer(ds, "Rows", path),
                                           _integer(ds, "Columns", path)),
                         "a localizer may be mixed in - remove it or pass series_uid=")
    _same_in_every_slice(chosen, folder, "Modality", lambda path, ds: str(ds.get("Modality")),
                         "remove the odd files or pass series_uid=")
    _same_in_every_slice(chosen, folder, "PixelSpacing",
                         lambda path, ds: np.round(_pixel_spacing(ds, path) or (0, 0), 4),
                         "the volume would get one slice's spacing: remove the odd files")
    full = [_dcmread(path) for path, _ in chosen]
    array = np.stack([_pixels(ds, path, default_rescale)
                      for (path, _), ds in zip(chosen, full, strict=True)])
    spacing = _in_plane_spacing(full[0], chosen[0][0])
    origin, orientation = _geometry(full[0], chosen[0][0])
    return DicomImage(array, (spacing_z, *spacing), origin, orientation,
                      str(full[0].get("Modality", "")), _units(full[0]), _header_only(full[0]),
                      tuple(path for path, _ in chosen))


def _same_in_every_slice(items: list[tuple[Path, Dataset]], folder: Path, what: str,
                         value_of, remedy: str) -> None:
    """I2IDataError naming the files whose ``value_of(path, header)`` differs from the
    most common one (a damaged header, or a file of another acquisition)."""
    values = [value_of(path, ds) for path, ds in items]
    keys = [repr(np.asarray(v).tolist()) for v in values]
    common = max(set(keys), key=keys.count)
    odd = [(path.name, value) for (path, _), key, value in zip(items, keys, values, strict=True)
           if key != common]
    if odd:
        shown = ", ".join(f"{name} ({np.asarray(v).tolist()})" for name, v in odd[:5])
        raise I2IDataError(f"slices in {folder} differ in {what}: {shown}"
                           f"{' ...' if len(odd) > 5 else ''} against "
                           f"{values[keys.index(common)]!s} in the others; {remedy}")


def _image_headers(folder: Path) -> list[tuple[Path, Dataset]]:
    """(path, header) of every DICOM image file in ``folder``; other files skipped."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images, skipped = [], []
    for path in files:
        try:
            ds = _dcmread(path, stop_before_pixels=True)
        except I2IDataError as exc:
            if isinstance(exc.__cause__, InvalidDicomError):
                skipped.append(path.name)
                continue
            raise I2IDataError(f"{exc}, or remove it from the folder") from exc.__cause__
        if "Rows" not in ds:  # DICOMDIR, structure sets, reports...
            skipped.append(path.name)
            continue
        images.append((path, ds))
    if not images:
        subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())[:5]
        hint = (f" It has sub-folders ({', '.join(subfolders)}): the slices are probably "
                "one level deeper." if subfolders else "")
        raise I2IDataError(f"no DICOM image files in {folder} ({len(files)} files looked at)."
                           f"{hint} Point read_dicom_series at the folder holding the slices")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} files in {folder} that are not DICOM images: "
                      f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
                      stacklevel=3)
    return images


def _choose_series(images: list[tuple[Path, Dataset]], folder: Path,
                   series_uid: str | None) -> list[tuple[Path, Dataset]]:
    """The images of the one series in the folder, or of ``series_uid``."""
    series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in images:
        series[str(ds.get("SeriesInstanceUID", "unknown"))].append((path, ds))
    listing = "\n".join(_describe_series(uid, items) for uid, items in series.items())
    if series_uid is not None:
        if series_uid not in series:
            raise I2IDataError(f"series {series_uid} is not in {folder}; it holds:\n{listing}")
        return series[series_uid]
    if len(series) > 1:
        raise I2IDataError(f"{folder} mixes {len(series)} series; pass series_uid= one of:\n"
                           f"{listing}\nor move each series into its own folder")
    return next(iter(series.values()))


def _describe_series(uid: str, items: list[tuple[Path, Dataset]]) -> str:
    ds = items[0][1]
    return (f"  {uid}: {ds.get('Modality', '?')} '{ds.get('SeriesDescription', '')}', "
            f"{len(items)} files (e.g. {items[0][0].name})")


def _sort_slices(items: list[tuple[Path, Dataset]], folder: Path,
                 tolerance: float) -> tuple[list[tuple[Path, Dataset]], float]:
    """Slices in order along the normal, and the slice spacing (mm)."""
    unplaced = [path.name for path, ds in items if None in _geometry(ds, path)]
    if len(unplaced) == len(items):
        return _sort_without_positions(items, folder)
    if unplaced:
        raise I2IDataError(
            f"{', '.join(unplaced[:5])} in {folder} lack ImagePositionPatient or "
            "ImageOrientationPatient, which the other slices have: their place in the "
            "volume is unknown. The header is damaged or the files belong elsewhere - "
            "remove them or export the series again")
    _same_in_every_slice(items, folder, "ImageOrientationPatient",
                         lambda path, ds: np.round(_orientation(ds, path), 4),
                         "a localizer or a second stack is mixed in; pass series_uid= or "
                         "remove the odd files")
    orientations = np.array([_orientation(ds, path) for path, ds in items])
    normal = np.cross(orientations[0, :3], orientations[0, 3:])
    positions = np.array([np.dot(_geometry(ds, path)[0], normal) for path, ds in items])
    order = np.argsort(positions, kind="stable")
    items = [items[i] for i in order]
    if len(items) == 1:
        path, ds = items[0]
        return items, _slice_spacing(ds, path, float("nan"))
    gaps = np.diff(positions[order])
    if np.any(gaps < 1e-3):
        i = int(np.argmin(gaps))
        raise I2IDataError(
            f"{items[i][0].name} and {items[i + 1][0].name} in {folder} lie at the same "
            "position: the folder holds several acquisitions, echoes or time points of "
            "one series. Separate them (e.g. by EchoNumbers/AcquisitionNumber) first")
    spacing = float(np.median(gaps))
    irregular = np.flatnonzero(np.abs(gaps - spacing) > tolerance * spacing + 1e-4)
    if irregular.size:
        details = ", ".join(f"{gaps[i]:.3g} mm between {items[i][0].name} and "
                            f"{items[i + 1][0].name}" for i in irregular[:3])
        raise I2IDataError(
            f"non-uniform slice spacing in {folder}: median {spacing:.4g} mm but {details}"
            f"{' ...' if irregular.size > 3 else ''}. A slice may be missing, or the "
            "series has variable thickness. Fix or resample the series to a uniform "
            "grid, or read the slices one by one with read_dicom")
    return items, spacing


def _sort_without_positions(items: list[tuple[Path, Dataset]],
                            folder: Path) -> tuple[list[tuple[Path, Dataset]], float]:
    """Fallback order (InstanceNumber, else file name) and spacing, with warnings."""
    warnings.warn(f"{folder}: ImagePositionPatient/ImageOrientationPatient missing; slices "
                  "sorted by InstanceNumber and spacing taken from SpacingBetweenSlices or "
                  "SliceThickness", stacklevel=4)
    if all("InstanceNumber" in ds for _, ds in items):
        items = sorted(items, key=lambda item: _floats(item[1], "InstanceNumber", item[0],
                                                       count=1) or (0.0,))
    else:
        warnings.warn(f"{folder}: InstanceNumber missing too; slices sorted by file name",
                      stacklevel=4)
    path, ds = items[0]
    spacing = _slice_spacing(ds, path, 0.0)
    if not spacing:
        warnings.warn(f"{folder}: slice spacing unknown; using 1 mm", stacklevel=4)
    return items, float(spacing or 1.0)
