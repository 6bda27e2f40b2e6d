"""Medical image I/O: DICOM and NIfTI in and out, input checks, window/level presets.

* :func:`read_dicom` (one file) and :func:`read_dicom_series` (a folder, slices sorted by
  position along the slice normal) return a :class:`DicomImage` whose ``array`` is in
  physical units (HU for CT: RescaleSlope and RescaleIntercept applied) with spacing,
  orientation and an ``affine``.
* :func:`write_dicom_series` writes a valid CT or MR series with new UIDs, signed 16-bit
  pixels with matching rescale tags, de-identified by default (DICOM PS3.15 basic
  profile: the header is built from scratch from a short whitelist of technical
  attributes, so no identifying attribute of the reference survives).
* :func:`read_nifti` / :func:`write_nifti` keep the affine (voxel -> RAS+ mm).
* Bad input raises :class:`I2IDataError` naming the file and what to do about it:
  corrupt/truncated or non-image DICOM, missing rescale tags on CT, several series in
  one folder, irregular slice spacing, empty folders, NaN/Inf in NIfTI, mismatched image
  pairs (:func:`check_pair`) and integer arrays where HU floats belong
  (:func:`require_float`).
* Window/level presets (:data:`WINDOWS`, :func:`window_limits`, :func:`apply_window`).

Example
-------
>>> from pydicom.data import get_testdata_file
>>> from i2i_keras import io
>>> ct = io.read_dicom(get_testdata_file("CT_small.dcm"))
>>> ct.array.shape, ct.units, ct.spacing_mm
((128, 128), 'HU', (0.661468, 0.661468))
>>> files = io.write_dicom_series(ct.array, "out", reference=ct)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PathLike = str | Path


class I2IDataError(ValueError):
    """Input data that cannot be used as it is; the message says which file and why."""


# --------------------------------------------------------------------------------------
# Window/level presets
# --------------------------------------------------------------------------------------

# (level, width) in HU. Sources: common radiology presets (e.g. Radiopaedia "windowing (CT)").
WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "soft_tissue": (40.0, 400.0),
    "abdomen": (60.0, 400.0),
    "bone": (400.0, 1800.0),
    "lung": (-600.0, 1500.0),
    "head": (100.0, 2400.0),  # whole head, air to cortical bone in one view
}


def window_limits(window: str | tuple[float, float]) -> tuple[float, float]:
    """(vmin, vmax) in HU for a preset name or a (level, width) pair.

    >>> window_limits("brain")
    (0.0, 80.0)
    """
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}; choose one of {sorted(WINDOWS)} "
                             "or pass (level, width) in HU")
        level, width = WINDOWS[window]
    else:
        level, width = window
    return float(level - width / 2), float(level + width / 2)


def apply_window(image_hu: np.ndarray, window: str | tuple[float, float]) -> np.ndarray:
    """Map HU to [0, 1] display values through a window (clipped outside it)."""
    lo, hi = window_limits(window)
    return np.clip((np.asarray(image_hu, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------

def require_float(image, name: str = "image", expected: str = "CT numbers in HU") -> np.ndarray:
    """Return ``image`` as an array, refusing integer/bool arrays where floats are expected.

    Integer images are usually stored DICOM values that still need RescaleSlope and
    RescaleIntercept (a CT stored as HU + 1024 would be silently 1024 HU off) or 8-bit
    exports; converting them must be a deliberate step.

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
        first, second: the two arrays.
        spacings: their voxel spacings in mm (None: not checked).
        names: how to call them in the message (file names, ideally).
        rtol: relative tolerance for spacings.

    >>> check_pair(np.zeros((4, 4)), np.zeros((4, 4)), spacings=((1, 1), (1, 1)))
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


# --------------------------------------------------------------------------------------
# DICOM in
# --------------------------------------------------------------------------------------

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
            :func:`write_dicom_series`.
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


def _dcmread(path: Path, stop_before_pixels: bool = False) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
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
        return float(source.get("RescaleSlope", 1.0)), float(source.get("RescaleIntercept", 0.0))
    if default_rescale is not None:
        return float(default_rescale[0]), float(default_rescale[1])
    if ds.get("Modality") == "CT":
        raise I2IDataError(
            f"{path} is a CT image without RescaleSlope/RescaleIntercept, so its stored "
            "values cannot be converted to HU. If you know the scanner's convention, pass "
            "default_rescale=(slope, intercept): (1, -1024) when values are stored as "
            "HU + 1024, (1, 0) when they are HU already")
    return 1.0, 0.0


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """(row spacing, column spacing) in mm, also from enhanced multi-frame headers."""
    sources = [ds]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        sources.append(shared[0].PixelMeasuresSequence[0])
    for source in sources:
        for key in ("PixelSpacing", "ImagerPixelSpacing"):
            value = source.get(key)
            if value:
                return float(value[0]), float(value[1])
    return None


def _units(ds: Dataset) -> str:
    modality = ds.get("Modality", "")
    if modality == "CT":
        return "HU"
    if modality == "PT":
        return str(ds.get("Units", "stored value x slope + intercept"))
    if modality == "MR":
        return "MR signal (arbitrary units)"
    return "stored value x slope + intercept"


def _pixels(ds: Dataset, path: Path,
            default_rescale: tuple[float, float] | None) -> np.ndarray:
    """Pixel array of a full dataset in physical units (float32)."""
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        sop = ds.get("SOPClassUID")
        kind = getattr(sop, "name", str(sop)) if sop else "unknown SOP class"
        if "Rows" in ds or "Image Storage" in kind:
            raise I2IDataError(f"{path} is a {kind} file without its pixel data: it is "
                               "truncated - copy it again from the scanner/PACS")
        raise I2IDataError(
            f"{path} holds no image ({ds.get('Modality', '?')}: {kind}). Pass an image file "
            "(CT, MR, PT...), not a plan, structure set, report or DICOMDIR")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise I2IDataError(
            f"{path} is a colour image ({ds.get('PhotometricInterpretation', '?')}); "
            "i2i_keras reads greyscale CT/MR/PET images. Convert it to greyscale first if "
            "you really mean to use it")
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
    slope, intercept = _rescale(ds, path, default_rescale)
    return (stored.astype(np.float32) * np.float32(slope) + np.float32(intercept))


def _geometry(ds: Dataset) -> tuple[tuple[float, float, float] | None, tuple[float, ...] | None]:
    origin = ds.get("ImagePositionPatient")
    orientation = ds.get("ImageOrientationPatient")
    return (tuple(float(v) for v in origin) if origin else None,
            tuple(float(v) for v in orientation) if orientation else None)


def _header_only(ds: Dataset) -> Dataset:
    header = ds.copy()
    for key in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if key in header:
            delattr(header, key)
    return header


def read_dicom(path: PathLike, *,
               default_rescale: tuple[float, float] | None = None) -> DicomImage:
    """Read one DICOM file (a slice, or a multi-frame volume) in physical units.

    Args:
        path: the file.
        default_rescale: (slope, intercept) to use when a CT file lacks the rescale tags
            (otherwise that is an error: its HU would be guesswork).

    Returns:
        :class:`DicomImage` with ``array`` (rows, cols) or (frames, rows, cols).

    Example:
        >>> from pydicom.data import get_testdata_file
        >>> image = read_dicom(get_testdata_file("CT_small.dcm"))
        >>> float(image.array.min()) >= -1024
        True
    """
    path = Path(path)
    ds = _dcmread(path)
    array = _pixels(ds, path, default_rescale)
    spacing = _pixel_spacing(ds)
    if spacing is None:
        warnings.warn(f"{path} has no PixelSpacing; using 1 mm", stacklevel=2)
        spacing = (1.0, 1.0)
    if array.ndim == 3:
        between = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
        spacing = (float(between) if between else float("nan"), *spacing)
    origin, orientation = _geometry(ds)
    return DicomImage(array, tuple(spacing), origin, orientation, str(ds.get("Modality", "")),
                      _units(ds), _header_only(ds), (path,))


def _describe_series(uid: str, items: list[tuple[Path, Dataset]]) -> str:
    ds = items[0][1]
    return (f"  {uid}: {ds.get('Modality', '?')} '{ds.get('SeriesDescription', '')}', "
            f"{len(items)} files (e.g. {items[0][0].name})")


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
        :class:`DicomImage`, ``array`` (slices, rows, cols), ``spacing_mm`` (dz, dy, dx).

    Raises:
        I2IDataError: empty folder, several series (lists them), corrupt file, mixed
            orientations or image sizes, slices at the same position, non-uniform gaps.

    Example:
        >>> volume = read_dicom_series("patient1/CT_series")          # doctest: +SKIP
        >>> volume.array.shape, volume.spacing_mm                     # doctest: +SKIP
        ((120, 512, 512), (2.5, 0.7, 0.7))
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise I2IDataError(f"{folder} is not a folder; use read_dicom for a single file")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images, skipped = [], []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            skipped.append(path.name)
            continue
        except Exception as exc:
            raise I2IDataError(f"{path} could not be parsed as DICOM ({type(exc).__name__}: "
                               f"{exc}); the file is truncated or corrupt - copy it again "
                               "or remove it from the folder") from exc
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
                      stacklevel=2)

    series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in images:
        series[str(ds.get("SeriesInstanceUID", "unknown"))].append((path, ds))
    listing = "\n".join(_describe_series(uid, items) for uid, items in series.items())
    if series_uid is not None:
        if series_uid not in series:
            raise I2IDataError(f"series {series_uid} is not in {folder}; it holds:\n{listing}")
        chosen = series[series_uid]
    elif len(series) > 1:
        raise I2IDataError(f"{folder} mixes {len(series)} series; pass series_uid= one of:\n"
                           f"{listing}\nor move each series into its own folder")
    else:
        chosen = next(iter(series.values()))

    chosen, spacing_z = _sort_slices(chosen, folder, spacing_tolerance)
    shapes = {(int(ds.Rows), int(ds.Columns)) for _, ds in chosen}
    if len(shapes) > 1:
        raise I2IDataError(f"slices in {folder} have different sizes {sorted(shapes)}; "
                           "a localizer may be mixed in - remove it or pass series_uid=")
    full = [_dcmread(path) for path, _ in chosen]
    array = np.stack([_pixels(ds, path, default_rescale)
                      for (path, _), ds in zip(chosen, full, strict=True)])
    spacing = _pixel_spacing(full[0])
    if spacing is None:
        warnings.warn(f"{chosen[0][0]} has no PixelSpacing; using 1 mm", stacklevel=2)
        spacing = (1.0, 1.0)
    origin, orientation = _geometry(full[0])
    return DicomImage(array, (spacing_z, *spacing), origin, orientation,
                      str(full[0].get("Modality", "")), _units(full[0]), _header_only(full[0]),
                      tuple(path for path, _ in chosen))


def _sort_slices(items: list[tuple[Path, Dataset]], folder: Path,
                 tolerance: float) -> tuple[list[tuple[Path, Dataset]], float]:
    """Slices in order along the normal, and the slice spacing (mm)."""
    if all("ImagePositionPatient" in ds and "ImageOrientationPatient" in ds for _, ds in items):
        orientations = np.array([[float(v) for v in ds.ImageOrientationPatient]
                                 for _, ds in items])
        if not np.allclose(orientations, orientations[0], atol=1e-4):
            raise I2IDataError(f"slices in {folder} have different orientations (a localizer "
                               "or a second stack is mixed in); pass series_uid= or remove "
                               "the odd files")
        normal = np.cross(orientations[0, :3], orientations[0, 3:])
        positions = np.array([np.dot([float(v) for v in ds.ImagePositionPatient], normal)
                              for _, ds in items])
        order = np.argsort(positions, kind="stable")
        items = [items[i] for i in order]
        if len(items) == 1:
            ds = items[0][1]
            return items, float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or
                                float("nan"))
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
    warnings.warn(f"{folder}: ImagePositionPatient/ImageOrientationPatient missing; slices "
                  "sorted by InstanceNumber and spacing taken from SpacingBetweenSlices or "
                  "SliceThickness", stacklevel=3)
    if all("InstanceNumber" in ds for _, ds in items):
        items = sorted(items, key=lambda item: int(item[1].InstanceNumber))
    else:
        warnings.warn(f"{folder}: InstanceNumber missing too; slices sorted by file name",
                      stacklevel=3)
    ds = items[0][1]
    spacing = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    if not spacing:
        warnings.warn(f"{folder}: slice spacing unknown; using 1 mm", stacklevel=3)
    return items, float(spacing or 1.0)


# --------------------------------------------------------------------------------------
# DICOM out
# --------------------------------------------------------------------------------------

_SOP_CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}

# Non-identifying acquisition attributes copied from a reference (whitelist).
_TECHNICAL = ("KVP", "ConvolutionKernel", "MagneticFieldStrength", "RepetitionTime",
              "EchoTime", "InversionTime", "FlipAngle", "ScanningSequence", "SequenceVariant",
              "ScanOptions", "MRAcquisitionType", "PatientPosition")
# Patient/study attributes copied only when deidentify=False.
_IDENTIFYING_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                       "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
                       "AccessionNumber", "ReferringPhysicianName", "StudyDescription",
                       "FrameOfReferenceUID")

# Identifying attributes of the PS3.15 basic confidentiality profile that appear in CT/MR
# headers. None of them is written with a value when deidentify=True (tests check all).
BASIC_PROFILE_ATTRIBUTES = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientSex",
    "PatientAge", "PatientSize", "PatientWeight", "PatientAddress", "OtherPatientIDs",
    "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
    "PatientTelephoneNumbers", "MilitaryRank", "EthnicGroup", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "IssuerOfPatientID", "MedicalRecordLocator",
    "CountryOfResidence", "RegionOfResidence", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "RequestingPhysician", "StationName", "DeviceSerialNumber", "AccessionNumber", "StudyID",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime",
    "AcquisitionTime", "ContentTime", "AcquisitionDateTime", "StudyDescription",
    "RequestedProcedureDescription", "PerformedProcedureStepDescription",
    "ScheduledProcedureStepDescription", "ProtocolName", "ImageComments",
    "RequestAttributesSequence", "ReferencedStudySequence", "ReferencedPatientSequence",
    "ReferencedPerformedProcedureStepSequence", "ReferencedImageSequence",
    "SourceImageSequence", "DerivationDescription",
)


def _storage_scaling(volume: np.ndarray, modality: str) -> tuple[float, float]:
    """(slope, intercept) so that round((v - intercept) / slope) fits signed int16."""
    lo, hi = float(volume.min()), float(volume.max())
    if modality == "CT" and -32768 <= np.floor(lo) and np.ceil(hi) <= 32767:
        return 1.0, 0.0  # integer HU: the CT convention, exact for integer-valued inputs
    largest = max(abs(lo), abs(hi))
    # A 6-digit slope (exactly what the tag stores) with a little headroom below 32767.
    return (float(f"{largest / 32000:.6g}") if largest > 0 else 1.0), 0.0


def write_dicom_series(volume_hu: np.ndarray, folder: PathLike,
                       reference: DicomImage | Dataset | PathLike | None = None, *,
                       spacing_mm: Sequence[float] | None = None,
                       origin_mm: Sequence[float] | None = None,
                       orientation: Sequence[float] | None = None,
                       modality: str | None = None,
                       series_description: str = "i2i_keras output",
                       deidentify: bool = True) -> list[Path]:
    """Write a volume as a DICOM series (one file per slice) that viewers and PACS accept.

    Pixels are stored as signed 16-bit integers with RescaleSlope/RescaleIntercept
    (PixelRepresentation = 1, so negative HU need no offset trick): slope 1 and
    intercept 0 for CT (1 HU precision), a fitted slope for MR. Every file gets new
    SOP Instance and Series Instance UIDs.

    De-identification (default): the header is built from scratch. From the reference
    only a whitelist of non-identifying acquisition attributes (kVp, kernel, TR/TE...)
    is copied; patient and study attributes are present but empty (type 2), Study and
    Frame of Reference UIDs are new, no private tags, PatientIdentityRemoved = YES with
    the PS3.15 "Basic Application Confidentiality Profile" code (113100). So none of
    :data:`BASIC_PROFILE_ATTRIBUTES` carries a value. With ``deidentify=False`` the
    patient and study attributes and UIDs are copied, so the series joins the
    reference's study.

    Args:
        volume_hu: float (slices, rows, cols) or (rows, cols); HU for CT.
        folder: output folder (created; must not already hold .dcm files).
        reference: a :class:`DicomImage`, pydicom Dataset or file path to take geometry
            and (if not de-identifying) patient/study from.
        spacing_mm: (dz, dy, dx); default from the reference, else 1 mm.
        origin_mm: position of the first slice (LPS mm); default reference or 0.
        orientation: 6 direction cosines; default reference or axial.
        modality: "CT" or "MR"; default reference's, else "CT".
        series_description: SeriesDescription.
        deidentify: see above.

    Returns:
        the written paths, in slice order.

    Example:
        >>> from pydicom.data import get_testdata_file
        >>> ct = read_dicom(get_testdata_file("CT_small.dcm"))
        >>> paths = write_dicom_series(ct.array, "denoised", reference=ct)  # doctest: +SKIP
        >>> read_dicom_series("denoised").header.PatientName               # doctest: +SKIP
        ''
    """
    volume = require_float(volume_hu, "volume_hu", "image values (HU for CT)").astype(np.float64)
    if not np.all(np.isfinite(volume)):
        raise I2IDataError("volume_hu contains NaN or Inf; DICOM stores integers - replace "
                           "them first (e.g. np.nan_to_num(v, nan=-1000.0))")
    if volume.ndim == 2:
        volume = volume[None]
    if volume.ndim != 3:
        raise ValueError(f"volume_hu must be (rows, cols) or (slices, rows, cols), got "
                         f"{volume.shape}")
    folder = Path(folder)
    if folder.is_dir() and any(folder.glob("*.dcm")):
        raise I2IDataError(f"{folder} already holds .dcm files; write each series to its "
                           "own empty folder (a mixed folder cannot be read back as one "
                           "series)")
    folder.mkdir(parents=True, exist_ok=True)

    ref_spacing = ref_origin = ref_orientation = None
    if isinstance(reference, DicomImage):
        ref_ds = reference.header
        ref_origin, ref_orientation = reference.origin_mm, reference.orientation
        ref_spacing = reference.spacing_mm if reference.array.ndim == 3 else None
        if ref_spacing is None:
            thickness = reference.header.get("SliceThickness")
            ref_spacing = (float(thickness) if thickness else 1.0, *reference.spacing_mm)
    elif isinstance(reference, Dataset):
        ref_ds = reference
    elif reference is not None:
        ref_ds = _dcmread(Path(reference), stop_before_pixels=True)
    else:
        ref_ds = Dataset()
    if ref_spacing is None and "PixelSpacing" in ref_ds:
        thickness = ref_ds.get("SliceThickness")
        ref_spacing = (float(thickness) if thickness else 1.0,
                       *(float(v) for v in ref_ds.PixelSpacing))
    if ref_origin is None and ref_orientation is None:
        ref_origin, ref_orientation = _geometry(ref_ds)

    modality = modality or str(ref_ds.get("Modality", "")) or "CT"
    if modality not in _SOP_CLASSES:
        raise ValueError(f"modality must be one of {sorted(_SOP_CLASSES)}, got {modality!r}")
    def given(value, fallback, default):
        return value if value is not None else (fallback if fallback is not None else default)

    dz, dy, dx = (float(v) for v in given(spacing_mm, ref_spacing, (1.0, 1.0, 1.0)))
    origin = np.asarray(given(origin_mm, ref_origin, (0.0, 0.0, 0.0)), float)
    cosines = np.asarray(given(orientation, ref_orientation, (1, 0, 0, 0, 1, 0)), float)
    normal = np.cross(cosines[:3], cosines[3:])
    slope, intercept = _storage_scaling(volume, modality)
    stored = np.round((volume - intercept) / slope).astype(np.int16)

    study_uid, frame_uid, series_uid = generate_uid(), generate_uid(), generate_uid()
    if modality == "CT":
        center, width = WINDOWS["soft_tissue"]
    else:
        lo, hi = np.percentile(volume, [1, 99])
        center, width = (lo + hi) / 2, max(hi - lo, 1e-6)
    paths = []
    for k, slice_values in enumerate(stored):
        ds = _new_dataset(modality)
        for key in _TECHNICAL:
            if key in ref_ds:
                ds[key] = ref_ds[key]
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "", "", "", ""
        ds.StudyInstanceUID, ds.FrameOfReferenceUID = study_uid, frame_uid
        ds.StudyDate = ds.StudyTime = ds.StudyID = ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        if deidentify:
            ds.PatientIdentityRemoved = "YES"
            ds.DeidentificationMethod = "PS3.15 Basic Profile: i2i_keras whitelist, new UIDs"
            code = Dataset()
            code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
            code.CodeMeaning = "Basic Application Confidentiality Profile"
            ds.DeidentificationMethodCodeSequence = [code]
        else:
            for key in _IDENTIFYING_COPIED:
                if key in ref_ds:
                    ds[key] = ref_ds[key]
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber, ds.InstanceNumber = 1000, k + 1
        ds.SeriesDescription = series_description
        position = origin + k * dz * normal
        ds.ImagePositionPatient = [f"{v:.6g}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6g}" for v in cosines]
        ds.SliceLocation = f"{np.dot(position, normal):.6g}"
        ds.PixelSpacing = [f"{dy:.6g}", f"{dx:.6g}"]
        ds.SliceThickness = f"{dz:.6g}"
        ds.Rows, ds.Columns = stored.shape[1:]
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{intercept:.10g}"
        ds.WindowCenter, ds.WindowWidth = f"{center:.6g}", f"{width:.6g}"
        ds.PixelData = np.ascontiguousarray(slice_values).tobytes()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"IM{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _new_dataset(modality: str) -> Dataset:
    """A CT/MR image dataset with the fixed attributes of this writer."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _SOP_CLASSES[modality]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = _SOP_CLASSES[modality]
    ds.Modality = modality
    ds.Manufacturer = ""
    ds.SoftwareVersions = "i2i_keras"
    ds.PositionReferenceIndicator = ""
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1  # signed: negative HU stored directly
    if modality == "CT":
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.RescaleType = "HU"
        ds.KVP = ""
        ds.AcquisitionNumber = ""
    else:
        ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
        ds.ScanningSequence, ds.SequenceVariant = "RM", "NONE"  # research mode, unknown
        ds.ScanOptions = ds.MRAcquisitionType = ""
        ds.EchoTime = ds.EchoTrainLength = ds.RepetitionTime = ""
    return ds


# --------------------------------------------------------------------------------------
# NIfTI
# --------------------------------------------------------------------------------------

class NiftiImage(NamedTuple):
    """A NIfTI volume: ``array`` (float32, axes as stored) and ``affine`` (voxel -> RAS mm)."""

    array: np.ndarray
    affine: np.ndarray

    @property
    def spacing_mm(self) -> tuple[float, ...]:
        """Voxel size along each array axis (mm), from the affine's columns."""
        columns = self.affine[:3, : min(self.array.ndim, 3)]
        return tuple(float(v) for v in np.linalg.norm(columns, axis=0))


def read_nifti(path: PathLike, *, allow_nonfinite: bool = False) -> NiftiImage:
    """Read a .nii / .nii.gz file as float32 (scl_slope/scl_inter applied) and its affine.

    Args:
        path: the file.
        allow_nonfinite: accept NaN/Inf voxels (otherwise an error: one NaN poisons a
            whole training batch's loss).

    Example:
        >>> image = read_nifti("ct.nii.gz")                 # doctest: +SKIP
        >>> image.array.shape, image.spacing_mm             # doctest: +SKIP
        ((240, 240, 180), (1.0, 1.0, 1.0))
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
        path: output file; the extension chooses compression.
        array: 2D or 3D array.
        affine: 4x4; default a diagonal affine from ``spacing_mm`` (default 1 mm).
        spacing_mm: voxel size per axis when no affine is given.

    >>> write_nifti("pred_ct.nii.gz", np.zeros((8, 8, 4)), spacing_mm=(1, 1, 2.5))  # doctest: +SKIP
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
