"""DICOM out: :func:`write_dicom_series` writes a volume as a de-identified CT/MR series.

It works in three steps, one function each:

1. :func:`_reference_geometry` takes the reference's header and geometry (spacing,
   position, orientation), whichever form the reference comes in;
2. :func:`_series_header` builds the header all slices share, from scratch: fixed
   attributes of this writer, a whitelist of technical ones from the reference, patient
   and study (empty and de-identified, or copied), series, geometry and pixel format;
3. :func:`_write_slice` copies that header, adds what differs per slice (position,
   instance number, pixels, SOP Instance UID) and saves one file.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .dicom_read import DicomImage, _dcmread, _floats, _geometry
from .errors import I2IDataError, PathLike, require_float
from .windows import WINDOWS

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


class _Geometry(NamedTuple):
    """Where the series lies: spacing (dz, dy, dx) mm, first-slice position (LPS mm),
    the 6 direction cosines (row direction, column direction)."""

    spacing: tuple[float, float, float]
    origin: np.ndarray
    cosines: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.cosines[:3], self.cosines[3:])


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
        reference: a :class:`~i2i_keras.io.DicomImage`, pydicom Dataset or file path to
            take geometry and (if not de-identifying) patient/study from.
        spacing_mm: (dz, dy, dx); default from the reference, else 1 mm.
        origin_mm: position of the first slice (LPS mm); default reference or 0.
        orientation: 6 direction cosines; default reference or axial.
        modality: "CT" or "MR"; default reference's, else "CT".
        series_description: SeriesDescription.
        deidentify: see above.

    Returns:
        the written paths (``IM0001.dcm``, ...), in slice order.

    Example (a CT slice written de-identified to a temporary folder):
        >>> import tempfile
        >>> from pydicom.data import get_testdata_file
        >>> from i2i_keras.io import read_dicom, read_dicom_series
        >>> ct = read_dicom(get_testdata_file("CT_small.dcm"))
        >>> str(ct.header.PatientName)
        'CompressedSamples^CT1'
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     paths = write_dicom_series(ct.array, folder, reference=ct)
        ...     back = read_dicom_series(folder)
        >>> [p.name for p in paths], str(back.header.PatientName), back.units
        (['IM0001.dcm'], '', 'HU')
        >>> bool(np.array_equal(back.array[0], ct.array))  # integer HU are stored exactly
        True
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

    ref_ds, ref_spacing, ref_origin, ref_orientation = _reference_geometry(reference)
    modality = modality or str(ref_ds.get("Modality", "")) or "CT"
    if modality not in _SOP_CLASSES:
        raise ValueError(f"modality must be one of {sorted(_SOP_CLASSES)}, got {modality!r}")
    geometry = _Geometry(
        tuple(float(v) for v in _first_given(spacing_mm, ref_spacing, (1.0, 1.0, 1.0))),
        np.asarray(_first_given(origin_mm, ref_origin, (0.0, 0.0, 0.0)), float),
        np.asarray(_first_given(orientation, ref_orientation, (1, 0, 0, 0, 1, 0)), float))
    slope, intercept = _storage_scaling(volume, modality)
    stored = np.round((volume - intercept) / slope).astype(np.int16)
    header = _series_header(ref_ds, modality, deidentify=deidentify,
                            series_description=series_description, geometry=geometry,
                            shape=stored.shape[1:], scaling=(slope, intercept),
                            window=_display_window(volume, modality))
    return [_write_slice(header, slice_values, k, geometry, folder)
            for k, slice_values in enumerate(stored)]


def _first_given(*candidates):
    """The first candidate that is not None (argument, else reference, else default)."""
    return next(c for c in candidates if c is not None)


def _reference_geometry(reference: DicomImage | Dataset | PathLike | None
                        ) -> tuple[Dataset, tuple[float, ...] | None,
                                   tuple[float, ...] | None, tuple[float, ...] | None]:
    """(header, spacing (dz, dy, dx), origin, orientation) of a reference, None if unknown."""
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
    # How a damaged header value is reported: the reference's file, where there is one.
    where = Path("the reference header")
    if isinstance(reference, DicomImage) and reference.files:
        where = reference.files[0]
    elif reference is not None and not isinstance(reference, (DicomImage, Dataset)):
        where = Path(reference)
    if ref_spacing is None and "PixelSpacing" in ref_ds:
        thickness = _floats(ref_ds, "SliceThickness", where) or (1.0,)
        ref_spacing = (thickness[0], *_floats(ref_ds, "PixelSpacing", where))
    if ref_origin is None and ref_orientation is None:
        ref_origin, ref_orientation = _geometry(ref_ds, where)
    return ref_ds, ref_spacing, ref_origin, ref_orientation


def _storage_scaling(volume: np.ndarray, modality: str) -> tuple[float, float]:
    """(slope, intercept) so that round((v - intercept) / slope) fits signed int16."""
    lo, hi = float(volume.min()), float(volume.max())
    if modality == "CT" and -32768 <= np.floor(lo) and np.ceil(hi) <= 32767:
        return 1.0, 0.0  # integer HU: the CT convention, exact for integer-valued inputs
    largest = max(abs(lo), abs(hi))
    # A 6-digit slope (exactly what the tag stores) with a little headroom below 32767.
    return (float(f"{largest / 32000:.6g}") if largest > 0 else 1.0), 0.0


def _display_window(volume: np.ndarray, modality: str) -> tuple[float, float]:
    """(WindowCenter, WindowWidth): soft tissue for CT, 1st-99th percentile for MR."""
    if modality == "CT":
        return WINDOWS["soft_tissue"]
    lo, hi = np.percentile(volume, [1, 99])
    return (lo + hi) / 2, max(hi - lo, 1e-6)


def _series_header(reference: Dataset, modality: str, *, deidentify: bool,
                   series_description: str, geometry: _Geometry, shape: tuple[int, int],
                   scaling: tuple[float, float], window: tuple[float, float]) -> Dataset:
    """The header every slice of the new series shares (no per-slice attributes yet)."""
    ds = _new_dataset(modality)
    for key in _TECHNICAL:
        if key in reference:
            ds[key] = reference[key]
    _patient_and_study(ds, reference, deidentify)
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1000
    ds.SeriesDescription = series_description
    dz, dy, dx = geometry.spacing
    ds.ImageOrientationPatient = [f"{v:.6g}" for v in geometry.cosines]
    ds.PixelSpacing = [f"{dy:.6g}", f"{dx:.6g}"]
    ds.SliceThickness = f"{dz:.6g}"
    ds.Rows, ds.Columns = shape
    ds.RescaleSlope, ds.RescaleIntercept = f"{scaling[0]:.10g}", f"{scaling[1]:.10g}"
    ds.WindowCenter, ds.WindowWidth = f"{window[0]:.6g}", f"{window[1]:.6g}"
    return ds


def _patient_and_study(ds: Dataset, reference: Dataset, deidentify: bool) -> None:
    """Patient/study attributes: empty with new UIDs and the de-identification marks, or
    (``deidentify=False``) copied from the reference so the series joins its study."""
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "", "", "", ""
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid()
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
            if key in reference:
                ds[key] = reference[key]


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


def _write_slice(header: Dataset, stored: np.ndarray, k: int, geometry: _Geometry,
                 folder: Path) -> Path:
    """Write slice ``k`` (int16 stored values, (rows, cols)) as ``folder/IM{k+1:04d}.dcm``."""
    ds = copy.deepcopy(header)
    ds.InstanceNumber = k + 1
    position = geometry.origin + k * geometry.spacing[0] * geometry.normal
    ds.ImagePositionPatient = [f"{v:.6g}" for v in position]
    ds.SliceLocation = f"{np.dot(position, geometry.normal):.6g}"
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = folder / f"IM{k + 1:04d}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path
