"""Fuzzed readers (issue 22, item 5): mutated real files through every reader.

Each reader gets CASES mutated inputs, drawn by hypothesis with a fixed derandomized seed
(the same cases in every run and on every machine, no example database):

* ``read_dicom`` on pydicom's CT_small.dcm, MR_small.dcm and the multi-frame
  emri_small.dcm; ``read_dicom_series`` on a 3-slice series made from CT_small.dcm, one
  slice mutated;
* ``read_nifti`` on nibabel's test images (NIfTI-1 big- and little-endian, 4D, NIfTI-2,
  .nii and .nii.gz) and one written by ``write_nifti``;
* the data-set loaders ``load_lodopab`` (HDF5 + CSV), ``load_ixi_pairs`` and
  ``load_synthrad_case`` on small fakes in the real layouts (tests/test_loaders.py).

Mutations: byte flips anywhere, truncation, and header edits made the way a broken
exporter makes them (DICOM: a corrupt decimal string, nan/inf, a wrong number of values,
a wrong value representation, a missing element, absurd Rows/Columns/bit depths, pixel
data longer or shorter than the header says, another transfer syntax; NIfTI: dim,
datatype, pixdim, vox_offset, scaling, qform/sform fields; HDF5: wrong shapes, dtypes,
NaN, out-of-range values; CSV: text, short lists).

Each case must end in one of two ways, within TIME_LIMIT_S (a hang fails the test, the
readers cannot swallow the alarm: it is not an ``Exception``):

* :class:`~i2i_keras.io.I2IDataError` whose message names the mutated file;
* an image that is exactly what the mutated file declares: an independent decoding of
  its bytes (pydicom's pixels x the header's rescale, NumPy on the NIfTI voxels, h5py
  on the HDF5 data) with the header's shape, and finite values and geometry. Bytes
  changed inside a payload without a checksum (DICOM pixels, .nii voxels, HDF5 samples,
  the digits of a CSV) cannot be told from real data by any reader and count as read
  faithfully; a .nii.gz is covered by gzip's CRC.

Any other exception (a bare ValueError, KeyError, IndexError ...) fails the test with
the case that caused it. An interpreter crash would end the test run, which fails CI.
"""

from __future__ import annotations

import gzip
import io as bytes_io
import shutil
import signal
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from test_io import make_series
from test_loaders import write_fake_ixi, write_fake_lodopab, write_fake_synthrad

from i2i_keras import io, loaders
from i2i_keras.io import I2IDataError

CASES = 200  # per reader, the bar
TIME_LIMIT_S = 10.0  # a case takes milliseconds; this only catches hangs
FUZZ = settings(max_examples=CASES, deadline=2000, derandomize=True, database=None,
                print_blob=True, suppress_health_check=[HealthCheck.too_slow,
                                                        HealthCheck.data_too_large])


class Hang(BaseException):
    """A reader that ran past TIME_LIMIT_S. A BaseException, so that the readers'
    ``except Exception`` cannot turn it into an I2IDataError."""


@contextmanager
def time_limit(seconds: float = TIME_LIMIT_S):
    def alarm(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(read, names):
    """(result or None, warnings): ``read()`` under the time limit; an I2IDataError must
    name one of ``names``; any other exception propagates and fails the test."""
    with time_limit(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = read()
        except I2IDataError as error:
            assert any(name in str(error) for name in names), (names, str(error))
            event("I2IDataError")
            return None, [str(w.message) for w in caught]
    event("read")
    return result, [str(w.message) for w in caught]


# --------------------------------------------------------------------------------------
# Mutations of bytes
# --------------------------------------------------------------------------------------

flips = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                 min_size=1, max_size=6).map(lambda f: ("flip", f))
truncation = st.floats(0, 1, exclude_max=True).map(lambda f: ("truncate", f))


def mutate_bytes(data: bytes, mutation, start: int = 0) -> bytes:
    """Byte flips (positions as fractions of the bytes from ``start``) or truncation."""
    kind, arg = mutation
    if kind == "truncate":
        return data[: int(arg * len(data))]
    out = bytearray(data)
    for where, xor in arg:
        out[start + int(where * (len(data) - start))] ^= xor
    return bytes(out)


# --------------------------------------------------------------------------------------
# DICOM
# --------------------------------------------------------------------------------------

DICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "emri_small.dcm")
DICOM_BYTES = {name: Path(get_testdata_file(name)).read_bytes() for name in DICOM_FILES}
HEADER_KEYWORDS = (
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "SamplesPerPixel", "NumberOfFrames", "PhotometricInterpretation", "RescaleSlope",
    "RescaleIntercept", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
    "SliceThickness", "SpacingBetweenSlices", "Modality", "SeriesInstanceUID",
    "InstanceNumber", "SOPClassUID", "PixelData")
TEXTS = (b"-75\xed699997", b"nan", b"inf", b"-inf", b"1e999", b"", b"abc", b"0", b"-1",
         b"1\\2", b"1\\0\\0\\0\\1\\0\\0", b"0\\0\\0\\0\\0\\0", b"1\\1\\0\\0\\1\\0",
         b"65535", b"3.5", b"-0.5", b"\x00\x00\xff\xff", b"1e-30\\1e-30", b"MONOCHROME3",
         b"PALETTE COLOR", b"RGB")
INTEGERS = (0, 1, 2, 3, 7, 12, 15, 16, 17, 33, 64, 255, 4096, 32767, 65535)
VRS = ("US", "SS", "UL", "FD", "FL", "DS", "IS", "LO", "UI", "OB", "UN", "SQ", "AT")
SYNTAXES = (b"1.2.840.10008.1.2\x00\x00\x00", b"1.2.840.10008.1.2.2\x00",
            b"1.2.840.10008.1.2.5\x00", b"1.2.840.10008.1.2.99", b"1.2.840.10008.1.2.1.9")

header_edit = st.one_of(
    st.tuples(st.just("delete"), st.sampled_from(HEADER_KEYWORDS), st.none()),
    st.tuples(st.just("text"), st.sampled_from(HEADER_KEYWORDS), st.sampled_from(TEXTS)),
    st.tuples(st.just("integer"), st.sampled_from(HEADER_KEYWORDS), st.sampled_from(INTEGERS)),
    st.tuples(st.just("vr"), st.sampled_from(HEADER_KEYWORDS), st.sampled_from(VRS)),
    st.tuples(st.just("pixel_length"), st.just("PixelData"),
              st.one_of(st.integers(-40000, -1), st.integers(1, 40000))),
    st.tuples(st.just("syntax"), st.just("TransferSyntaxUID"), st.sampled_from(SYNTAXES)),
).map(lambda edit: ("header", edit))
dicom_mutation = st.one_of(flips, truncation, header_edit, header_edit)


def _pad(value: bytes, vr: str) -> bytes:
    if len(value) % 2 == 0:
        return value
    return value + (b"\x00" if vr in ("UI", "OB", "UN", "US", "SS", "UL", "FD", "FL", "AT")
                    else b" ")


def mutate_dicom(data: bytes, mutation) -> bytes:
    """The file with one mutation; header edits go through pydicom as raw elements (written
    verbatim, never validated), as a broken exporter would write them."""
    if mutation[0] != "header":
        return mutate_bytes(data, mutation, start=128)  # keep the preamble: not read
    action, keyword, value = mutation[1]
    if action == "syntax":
        return data.replace(b"1.2.840.10008.1.2.1\x00", value, 1)
    ds = pydicom.dcmread(bytes_io.BytesIO(data))
    tag = Tag(tag_for_keyword(keyword))
    if action == "delete":
        if tag in ds:
            del ds[tag]
    elif action == "pixel_length":
        pixels = ds.PixelData
        ds.PixelData = pixels[:value] if value < 0 else pixels + bytes(value)
    else:
        vr = dictionary_VR(tag).split(" or ")[0]
        if action == "integer":
            raw = (str(value).encode() if vr in ("IS", "DS") else
                   int(value).to_bytes(2 if vr in ("US", "SS") else 4, "little"))
        elif action == "text":
            raw = value
        else:  # the element's current bytes under another VR
            raw = _encoded(ds, tag) or b"1 "
            vr = value
        raw = _pad(raw, vr)
        ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)
    out = bytes_io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _encoded(ds, tag) -> bytes:
    if tag not in ds:
        return b""
    element = ds.get_item(tag)
    if isinstance(element, RawDataElement):
        return element.value or b""
    probe = pydicom.Dataset()
    probe[tag] = element
    out = bytes_io.BytesIO()
    pydicom.filewriter.write_dataset(pydicom.filebase.DicomFileLike(out), probe)
    return out.getvalue()[8:]  # past tag, VR and length


def dicom_truth(path: Path) -> tuple[np.ndarray, pydicom.Dataset]:
    """What the file declares, decoded independently: pydicom's pixels x the header's
    rescale, and the dataset."""
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array
    slope, intercept = float(ds.get("RescaleSlope") or 1), float(ds.get("RescaleIntercept") or 0)
    return stored.astype(np.float32) * np.float32(slope) + np.float32(intercept), ds


def assert_declared_geometry(image, ds):
    frames = int(ds.get("NumberOfFrames") or 1)
    shape = (frames, ds.Rows, ds.Columns) if frames > 1 else (ds.Rows, ds.Columns)
    assert image.array.shape[-2:] == shape[-2:]
    expected = int(np.prod(shape)) * ds.BitsAllocated // 8
    assert len(ds.PixelData) in (expected, expected + expected % 2)  # nothing left over
    assert image.array.dtype == np.float32 and np.all(np.isfinite(image.array))
    in_plane = image.spacing_mm[-2:]
    assert np.all(np.isfinite(in_plane)) and min(in_plane) > 0, image.spacing_mm
    assert image.array.ndim == 2 or np.isnan(image.spacing_mm[0]) or image.spacing_mm[0] > 0
    if image.origin_mm is not None:
        assert len(image.origin_mm) == 3 and np.all(np.isfinite(image.origin_mm))
    if image.orientation is not None:
        row, col = np.reshape(image.orientation, (2, 3))
        assert abs(np.linalg.norm(row) - 1) < 2e-3 and abs(row @ col) < 2e-3
    assert np.all(np.isfinite(image.affine))


@FUZZ
@given(name=st.sampled_from(DICOM_FILES), mutation=dicom_mutation)
def test_read_dicom_on_mutated_files(name, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"mutated_{name}"
        path.write_bytes(mutate_dicom(DICOM_BYTES[name], mutation))
        image, _ = outcome(lambda: io.read_dicom(path), [path.name])
        if image is not None:
            expected, ds = dicom_truth(path)
            assert_declared_geometry(image, ds)
            np.testing.assert_array_equal(image.array, expected.reshape(image.array.shape))


class Files(dict):
    """name -> bytes, shown by its names only (hypothesis prints a failing case's
    arguments)."""

    def __repr__(self) -> str:
        return f"Files({sorted(self)})"


@pytest.fixture(scope="module")
def series_bytes(tmp_path_factory):
    folder = make_series(tmp_path_factory.mktemp("series") / "s", [0.0, 2.5, 5.0])
    return Files({path.name: path.read_bytes() for path in sorted(folder.iterdir())})


@FUZZ
@given(which=st.integers(0, 2), mutation=dicom_mutation)
def test_read_dicom_series_with_a_mutated_slice(series_bytes, which, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = sorted(series_bytes)
        for name in names:
            (folder / name).write_bytes(series_bytes[name])
        mutated = folder / names[which]
        mutated.write_bytes(mutate_dicom(series_bytes[names[which]], mutation))
        volume, caught = outcome(lambda: io.read_dicom_series(folder), [mutated.name])
        if volume is None:
            return
        if mutated not in volume.files:  # skipped as "not a DICOM image": said so
            assert any(mutated.name in message for message in caught), caught
        assert volume.array.shape[0] == len(volume.files) >= 2
        assert np.isfinite(volume.spacing_mm[0]) and volume.spacing_mm[0] > 0
        positions = []
        for k, path in enumerate(volume.files):
            expected, ds = dicom_truth(path)
            assert_declared_geometry(io.DicomImage(volume.array[k], volume.spacing_mm[1:],
                                                   None, None, "", "", ds, (path,)), ds)
            np.testing.assert_array_equal(volume.array[k], expected)
            positions.append(float(ds.ImagePositionPatient[2]) if "ImagePositionPatient"
                             in ds else float(ds.InstanceNumber))
        assert positions == sorted(positions)  # along the normal (0, 0, 1) of CT_small


# --------------------------------------------------------------------------------------
# NIfTI
# --------------------------------------------------------------------------------------

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
NIFTI_FILES = ("anatomical.nii", "functional.nii", "example4d.nii.gz",
               "example_nifti2.nii.gz", "standard.nii.gz", "written.nii.gz")


def _written() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        volume = np.random.default_rng(0).normal(0, 100, (12, 10, 6)).astype(np.float32)
        return io.write_nifti(Path(tmp) / "w.nii.gz", volume, spacing_mm=(0.9, 0.9, 2.5)
                              ).read_bytes()


NIFTI_BYTES = {name: (NIBABEL_DATA / name).read_bytes() if name != "written.nii.gz"
               else _written() for name in NIFTI_FILES}
FIELD_VALUES = {
    "dim": [[3, 0, 1, 1, 1, 1, 1, 1], [2, 33, 41, 1, 1, 1, 1, 1], [-1, 4, 4, 4, 1, 1, 1, 1],
            [8, 4, 4, 4, 1, 1, 1, 1], [3, 32767, 32767, 32767, 1, 1, 1, 1],
            [3, 4, 5, 6, 1, 1, 1, 1], [4, 4, 5, 2, 2, 1, 1, 1], [3, -4, 5, 6, 1, 1, 1, 1]],
    "datatype": [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1536, 2304, 999],
    "bitpix": [0, 1, 8, 64, 999],
    "pixdim": [[1, 0, 0, 0, 1, 1, 1, 1], [1, np.nan, 1, 1, 1, 1, 1, 1],
               [1, np.inf, 1, 1, 1, 1, 1, 1], [-1, -2, 1, 1, 1, 1, 1, 1],
               [1, 1e30, 1e-30, 1, 1, 1, 1, 1]],
    "vox_offset": [0, 100, 348, 352, 353, 1e9, -352, np.nan],
    "scl_slope": [0, np.nan, np.inf, -1, 1e38, 1e-38],
    "scl_inter": [np.nan, np.inf, 1e38, -1024],
    "qform_code": [0, 1, 2, 5, 99, -1],
    "sform_code": [0, 1, 4, 99, -1],
    "quatern_b": [np.nan, 2.0, -1.0], "quatern_c": [np.nan, 1.5],
    "qoffset_x": [np.nan, np.inf, 1e30],
    "srow_x": [[np.nan, 0, 0, 0], [0, 0, 0, 0], [1e30, 0, 0, 0]],
    "srow_z": [[0, 0, 0, 0], [0, 0, np.inf, 0]],
    "sizeof_hdr": [0, 540, 348000],
    "magic": [b"ni1", b"xyz", b"n+2"],
}
# Edits of several fields at once: qform-only files (sform_code 0) whose qform is damaged.
FIELD_SETS = [
    (("sform_code", 0), ("pixdim", [1, 0, 0, 0, 1, 1, 1, 1])),
    (("sform_code", 0), ("pixdim", [1, 2, -1, 1, 1, 1, 1, 1])),
    (("sform_code", 0), ("pixdim", [1, np.nan, 1, 1, 1, 1, 1, 1])),
    (("sform_code", 0), ("quatern_b", 2.0)),
    (("sform_code", 0), ("quatern_c", np.nan)),
    (("sform_code", 0), ("qform_code", 0)),
    (("sform_code", 0), ("qoffset_y", np.inf)),
]
nifti_mutation = st.one_of(
    flips, truncation,
    st.sampled_from(sorted(FIELD_VALUES)).flatmap(
        lambda field: st.sampled_from(FIELD_VALUES[field]).map(
            lambda value: ("field", (field, value)))),
    st.sampled_from(FIELD_SETS).map(lambda edits: ("fields", edits)),
    st.tuples(st.sampled_from(["flip_payload", "truncate_payload"]),
              st.floats(0, 1, exclude_max=True)),
)


def _header_class(data: bytes):
    size = int(np.frombuffer(data[:4], "<i4")[0])
    big = int(np.frombuffer(data[:4], ">i4")[0])
    return nib.Nifti2Header if 540 in (size, big) else nib.Nifti1Header


def mutate_nifti(name: str, mutation) -> bytes:
    """Byte mutations act on the file as stored (for .nii.gz: its compressed bytes); field
    edits and payload mutations on the uncompressed bytes, then compressed again."""
    data = NIFTI_BYTES[name]
    kind, arg = mutation
    if kind in ("flip", "truncate"):
        return mutate_bytes(data, mutation)
    gz = name.endswith(".gz")
    raw = bytearray(gzip.decompress(data) if gz else data)
    header = _header_class(bytes(raw)).from_fileobj(bytes_io.BytesIO(bytes(raw)), check=False)
    if kind in ("field", "fields"):
        for field, value in (arg if kind == "fields" else [arg]):
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                header[field] = value
        block = header.binaryblock
        raw[: len(block)] = block
    else:
        offset = int(header["vox_offset"])
        if kind == "flip_payload":
            raw[offset + int(arg * (len(raw) - offset))] ^= 0xFF
        else:
            raw = raw[: offset + int(arg * (len(raw) - offset))]
    return gzip.compress(bytes(raw), mtime=0) if gz else bytes(raw)


def nifti_truth(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The voxels the file declares, decoded with NumPy from the header's own fields
    (shape, datatype, byte order, offset, scaling; NIfTI's rule: slope 0 or non-finite
    means no scaling), and nibabel's affine."""
    raw = path.read_bytes()
    data = gzip.decompress(raw) if path.name.endswith(".gz") else raw
    header = _header_class(data).from_fileobj(bytes_io.BytesIO(data), check=False)
    shape = header.get_data_shape()
    dtype = header.get_data_dtype()
    offset = int(header["vox_offset"])
    count = int(np.prod(shape))
    voxels = np.frombuffer(data, dtype, count, offset).reshape(shape, order="F")
    slope, inter = float(header["scl_slope"]), float(header["scl_inter"])
    values = voxels.astype(np.float64)
    if np.isfinite(slope) and slope != 0:
        values = values * slope + (inter if np.isfinite(inter) else 0.0)
    with np.errstate(all="ignore"):
        return values.astype(np.float32), header.get_best_affine()


@FUZZ
@given(name=st.sampled_from(NIFTI_FILES), mutation=nifti_mutation)
def test_read_nifti_on_mutated_files(name, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"mutated_{name}"
        path.write_bytes(mutate_nifti(name, mutation))
        image, _ = outcome(lambda: io.read_nifti(path), [path.name])
        if image is not None:
            expected, affine = nifti_truth(path)
            assert image.array.dtype == np.float32 and np.all(np.isfinite(image.array))
            np.testing.assert_allclose(image.array, expected, rtol=1e-6, atol=1e-6)
            assert np.all(np.isfinite(image.affine)) and np.linalg.det(image.affine[:3, :3])
            np.testing.assert_allclose(image.affine, affine, rtol=1e-5, atol=1e-5)
            assert all(s > 0 for s in image.spacing_mm)


# --------------------------------------------------------------------------------------
# The data-set loaders
# --------------------------------------------------------------------------------------

LODOPAB_EDITS = {
    "shape": lambda d: d[:, :-1], "samples": lambda d: d[:-1], "more": lambda d: np.concatenate(
        [d, d[:1]]), "nan": lambda d: np.where(d == d.flat[0], np.nan, d),
    "big": lambda d: d * 1e3, "negative": lambda d: -d, "int": lambda d: d.astype(np.int16),
    "2d": lambda d: d[0], "empty": lambda d: d[:0], "missing": None}
CSV_TEXTS = (b"", b"100\n", b"100\n100\n101\n101\n", b"a\nb\nc\nd\ne\n", b"1.5\n2\n3\n4\n5\n",
             b"100,1\n100,1\n101,1\n101,1\n102,1\n", b"\xff\xfe1\n", b"100\n" * 6)
lodopab_mutation = st.one_of(
    flips, truncation,
    st.sampled_from(sorted(LODOPAB_EDITS)).map(lambda e: ("hdf5", e)),
    st.sampled_from(CSV_TEXTS).map(lambda t: ("csv", t)))


@pytest.fixture(scope="module")
def lodopab_source(tmp_path_factory):
    source = tmp_path_factory.mktemp("lodopab")
    write_fake_lodopab(source, n=5, per_file=2, image=8, views=6, bins=5)
    return source


@FUZZ
@given(which=st.integers(0, 6), mutation=lodopab_mutation)
def test_load_lodopab_with_a_mutated_file(lodopab_source, which, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "lodopab"
        shutil.copytree(lodopab_source, folder)
        files = sorted(folder.iterdir())
        kind, arg = mutation
        if kind == "csv":
            path = folder / "patient_ids_rand_test.csv"
            path.write_bytes(arg)
        elif kind == "hdf5":
            path = [f for f in files if f.suffix == ".hdf5"][which % 6]
            with h5py.File(path, "r+") as handle:
                data = handle["data"][()]
                del handle["data"]
                if LODOPAB_EDITS[arg] is not None:
                    handle.create_dataset("data", data=LODOPAB_EDITS[arg](data))
        else:
            path = files[which % len(files)]
            path.write_bytes(mutate_bytes(path.read_bytes(), mutation))
        data, _ = outcome(lambda: loaders.load_lodopab("test", data_dir=folder), [path.name])
        if data is None:
            return
        truth, observation = (np.concatenate([_hdf5_data(f) for f in sorted(folder.glob(k))])
                              for k in ("ground_truth_*", "observation_*"))
        assert data.images_hu.shape == truth.shape and len(data.sinograms) == len(truth)
        assert truth.min() >= 0 and truth.max() <= 1 and np.all(np.isfinite(observation))
        np.testing.assert_allclose(data.images_hu, loaders.lodopab_to_hu(truth), atol=1e-2)
        np.testing.assert_allclose(data.sinograms, observation * loaders.LODOPAB_MU_MAX,
                                   rtol=1e-6)
        ids = np.loadtxt(folder / "patient_ids_rand_test.csv", dtype=np.int64, ndmin=1)
        np.testing.assert_array_equal(data.patient, ids)


def _hdf5_data(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as handle:
        return handle["data"][()]


def _nifti_mutation_of(path: Path, mutation):
    kind, arg = mutation
    if kind in ("flip", "truncate"):
        return mutate_bytes(path.read_bytes(), mutation)
    NIFTI_BYTES[path.name] = path.read_bytes()
    try:
        return mutate_nifti(path.name, mutation)
    finally:
        del NIFTI_BYTES[path.name]


@pytest.fixture(scope="module")
def ixi_source(tmp_path_factory):
    return write_fake_ixi(tmp_path_factory.mktemp("ixi") / "ixi", shape=(10, 9, 6))


@FUZZ
@given(which=st.integers(0, 3), mutation=nifti_mutation)
def test_load_ixi_pairs_with_a_mutated_volume(ixi_source, which, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ixi"
        shutil.copytree(ixi_source, folder)
        path = sorted(folder.iterdir())[which]
        path.write_bytes(_nifti_mutation_of(path, mutation))
        pairs, _ = outcome(lambda: loaders.load_ixi_pairs(data_dir=folder, size=None,
                                                          slices_per_subject=2), [path.name])
        if pairs is not None:
            assert pairs.inputs.shape == pairs.targets.shape
            assert len(pairs.patient) == len(pairs.inputs) > 0
            assert np.all(np.isfinite(pairs.inputs)) and np.all(np.isfinite(pairs.targets))
            subject = path.name.rsplit("-", 1)[0]
            volume, _ = nifti_truth(path)
            axis = loaders._slice_axis(io.read_nifti(path).spacing_mm)
            for k in np.flatnonzero(np.array(pairs.patient) == subject):  # slices of it
                image = pairs.inputs[k] if path.name.endswith("T2.nii.gz") else pairs.targets[k]
                assert any(np.array_equal(image, np.take(volume, i, axis=axis))
                           for i in range(volume.shape[axis]))


@pytest.fixture(scope="module")
def synthrad_case_source(tmp_path_factory):
    root = write_fake_synthrad(tmp_path_factory.mktemp("synthrad"), cases=(("brain", "1BA001"),),
                               shape=(10, 9, 6))
    return root / "Task1" / "brain" / "1BA001"


@FUZZ
@given(which=st.integers(0, 2), mutation=nifti_mutation)
def test_load_synthrad_case_with_a_mutated_volume(synthrad_case_source, which, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "brain" / "1BA001"
        shutil.copytree(synthrad_case_source, folder)
        path = folder / ("mr.nii.gz", "ct.nii.gz", "mask.nii.gz")[which]
        path.write_bytes(_nifti_mutation_of(path, mutation))
        case, _ = outcome(lambda: loaders.load_synthrad_case(folder), [path.name])
        if case is not None:
            assert case.mr.shape == case.ct_hu.shape == case.mask.shape
            assert case.mask.dtype == bool
            for array in (case.mr, case.ct_hu):
                assert array.ndim == 3 and np.all(np.isfinite(array))
            mine = {"mr.nii.gz": case.mr, "ct.nii.gz": case.ct_hu,
                    "mask.nii.gz": case.mask}[path.name]
            expected, affine = nifti_truth(path)
            if path.name == "mask.nii.gz":
                np.testing.assert_array_equal(mine, expected > 0.5)
            else:
                np.testing.assert_allclose(mine, expected, rtol=1e-6)
            np.testing.assert_allclose(case.affine, affine, atol=1e-3)
