"""DICOM/NIfTI I/O on the files shipped with pydicom and pydicom-data; every bad input."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from i2i_keras import io
from i2i_keras.io import I2IDataError

CT_SMALL = get_testdata_file("CT_small.dcm")
MR_SMALL = get_testdata_file("MR_small.dcm")


def make_series(folder, positions, *, source=CT_SMALL, series_uid=None, orientation=None,
                names=None):
    """Copies of a test file as slices at ``positions`` (mm along the normal)."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    ds = pydicom.dcmread(source)
    base = ds.pixel_array.astype(np.int16)
    iop = np.asarray(orientation or [float(v) for v in ds.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([float(v) for v in ds.ImagePositionPatient])
    for k, position in enumerate(positions):
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + position * normal]
        ds.PixelData = (base + 10 * k).astype(np.int16).tobytes()
        name = names[k] if names else f"slice{k:03d}.dcm"
        ds.save_as(folder / name)
    return folder


# --- reading -----------------------------------------------------------------------------

def test_read_ct_file_in_hu():
    image = io.read_dicom(CT_SMALL)
    stored = pydicom.dcmread(CT_SMALL).pixel_array
    np.testing.assert_array_equal(image.array, stored.astype(np.float32) - 1024)
    assert image.array.dtype == np.float32 and image.units == "HU" and image.modality == "CT"
    assert image.spacing_mm == pytest.approx((0.661468, 0.661468))
    assert image.origin_mm == pytest.approx((-158.135803, -179.035797, -75.699997))
    assert image.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert "PixelData" not in image.header


def test_read_mr_files_without_rescale_and_multiframe():
    mr = io.read_dicom(MR_SMALL)
    np.testing.assert_array_equal(mr.array, pydicom.dcmread(MR_SMALL).pixel_array)
    assert mr.units.startswith("MR")
    # pydicom-data files: a larger MR slice and an enhanced multi-frame MR.
    assert io.read_dicom(get_testdata_file("MR2_UNCR.dcm")).array.ndim == 2
    with pytest.warns(UserWarning, match="no PixelSpacing"):  # a stripped test file
        frames = io.read_dicom(get_testdata_file("emri_small.dcm"))
    assert frames.array.shape == (10, 64, 64) and len(frames.spacing_mm) == 3


def test_series_sorted_along_normal_not_by_name(tmp_path):
    positions = [10.0, 0.0, 7.5, 2.5, 5.0]
    make_series(tmp_path / "s", positions, names=["a.dcm", "b.dcm", "c.dcm", "d.dcm", "e"])
    volume = io.read_dicom_series(tmp_path / "s")
    assert volume.array.shape == (5, 128, 128)
    assert volume.spacing_mm == pytest.approx((2.5, 0.661468, 0.661468))
    order = np.argsort(positions)  # slice k was written with pixels + 10 k
    base = io.read_dicom(CT_SMALL).array
    for z, k in enumerate(order):
        np.testing.assert_array_equal(volume.array[z], base + 10 * k)
    assert [p.name for p in volume.files] == ["b.dcm", "d.dcm", "e", "c.dcm", "a.dcm"]


def test_oblique_series_and_affine(tmp_path):
    angle = np.deg2rad(30)
    orientation = [1, 0, 0, 0, np.cos(angle), np.sin(angle)]
    make_series(tmp_path / "s", [4.0, 0.0, 2.0], orientation=orientation)
    volume = io.read_dicom_series(tmp_path / "s")
    assert volume.spacing_mm[0] == pytest.approx(2.0, abs=1e-3)
    # The affine maps voxel (k, i, j) to ImagePositionPatient of slice k (LPS -> RAS).
    last = pydicom.dcmread(volume.files[-1])
    ras = volume.affine @ np.array([2, 0, 0, 1.0])
    lps = np.array([float(v) for v in last.ImagePositionPatient])
    np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-3)


def test_series_without_positions_falls_back_and_says_so(tmp_path):
    folder = make_series(tmp_path / "s", [0.0, 2.5, 5.0], names=["z.dcm", "y.dcm", "x.dcm"])
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient
        ds.save_as(path)
    with pytest.warns(UserWarning, match="InstanceNumber"):
        volume = io.read_dicom_series(folder)
    assert [p.name for p in volume.files] == ["z.dcm", "y.dcm", "x.dcm"]
    assert volume.spacing_mm[0] == pytest.approx(5.0)  # CT_small's SliceThickness


def test_series_skips_non_dicom_files_with_a_warning(tmp_path):
    folder = make_series(tmp_path / "s", [0.0, 1.0])
    (folder / "README.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="README.txt"):
        assert io.read_dicom_series(folder).array.shape[0] == 2


# --- writing -----------------------------------------------------------------------------

def test_write_read_round_trip_same_hu_and_no_patient_identity(tmp_path):
    reference = io.read_dicom(CT_SMALL)
    assert str(reference.header.PatientName)  # the source does identify a patient
    rng = np.random.default_rng(0)
    volume = rng.uniform(-1024, 3000, (3, 40, 48)).round()  # integer HU incl. negative
    volume[1] += 0.3  # and fractional ones
    paths = io.write_dicom_series(volume, tmp_path / "out", reference=reference,
                                  spacing_mm=(2.0, 0.5, 0.75))
    assert [p.name for p in paths] == ["IM0001.dcm", "IM0002.dcm", "IM0003.dcm"]
    back = io.read_dicom_series(tmp_path / "out")
    np.testing.assert_array_equal(back.array[[0, 2]], volume[[0, 2]])
    assert np.abs(back.array - volume).max() <= 0.5
    assert back.spacing_mm == pytest.approx((2.0, 0.5, 0.75))
    assert back.origin_mm == pytest.approx(reference.origin_mm, abs=1e-3)

    for path in paths:
        ds = pydicom.dcmread(path)
        assert ds.PixelRepresentation == 1 and float(ds.RescaleIntercept) == 0.0
        assert str(ds.get("PatientName", "")) == "" and ds.get("PatientID", "") == ""
        for keyword in io.BASIC_PROFILE_ATTRIBUTES:
            assert not ds.get(keyword), f"{keyword} carries a value"
        assert not any(element.tag.is_private for element in ds)
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        for uid in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                    "FrameOfReferenceUID"):
            assert ds[uid].value != reference.header.get(uid)
        assert ds.pixel_array.shape == (40, 48)
    assert len({pydicom.dcmread(p).SOPInstanceUID for p in paths}) == 3


def test_write_keeps_identity_only_when_asked(tmp_path):
    reference = io.read_dicom(CT_SMALL)
    io.write_dicom_series(reference.array, tmp_path / "kept", reference=reference,
                          deidentify=False)
    ds = pydicom.dcmread(tmp_path / "kept" / "IM0001.dcm")
    assert ds.PatientName == reference.header.PatientName
    assert ds.StudyInstanceUID == reference.header.StudyInstanceUID
    assert ds.SeriesInstanceUID != reference.header.SeriesInstanceUID


def test_write_mr_floats_and_nifti_affine(tmp_path):
    volume = np.random.default_rng(1).random((2, 16, 16)).astype(np.float32)
    io.write_dicom_series(volume, tmp_path / "mr", modality="MR")
    back = io.read_dicom_series(tmp_path / "mr")
    assert back.modality == "MR"
    np.testing.assert_allclose(back.array, volume, atol=1e-4)
    nifti = io.write_nifti(tmp_path / "mr.nii.gz", back.array, back.affine)
    np.testing.assert_allclose(io.read_nifti(nifti).affine, back.affine, atol=1e-5)


def test_nifti_round_trip(tmp_path):
    volume = np.random.default_rng(2).normal(size=(8, 9, 5)).astype(np.float32)
    path = io.write_nifti(tmp_path / "v.nii.gz", volume, spacing_mm=(1.0, 1.0, 2.5))
    image = io.read_nifti(path)
    np.testing.assert_array_equal(image.array, volume)
    assert image.spacing_mm == (1.0, 1.0, 2.5)
    mask = io.read_nifti(io.write_nifti(tmp_path / "m.nii", volume > 0))
    np.testing.assert_array_equal(mask.array, volume > 0)


# --- every bad input gets a clear error --------------------------------------------------

def test_error_not_a_dicom_file(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(I2IDataError, match=r"junk\.dcm is not a DICOM file"):
        io.read_dicom(junk)


def test_error_truncated_dicom(tmp_path):
    with pytest.raises(I2IDataError, match=r"MR_truncated\.dcm.*truncated"):
        io.read_dicom(get_testdata_file("MR_truncated.dcm"))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(open(CT_SMALL, "rb").read()[:20000])
    with pytest.raises(I2IDataError, match=r"cut\.dcm.*(truncated|corrupt)"):
        io.read_dicom(cut)
    header_only = tmp_path / "header.dcm"
    header_only.write_bytes(open(CT_SMALL, "rb").read()[:700])
    with pytest.raises(I2IDataError, match=r"header\.dcm.*(truncated|corrupt)"):
        io.read_dicom(header_only)


def test_error_non_image_dicom():
    with pytest.raises(I2IDataError, match=r"rtplan\.dcm holds no image \(RTPLAN"):
        io.read_dicom(get_testdata_file("rtplan.dcm"))


def test_error_colour_dicom():
    with pytest.raises(I2IDataError, match=r"SC_rgb\.dcm is a colour image"):
        io.read_dicom(get_testdata_file("SC_rgb.dcm"))


def test_error_missing_rescale_tags_on_ct(tmp_path):
    ds = pydicom.dcmread(CT_SMALL)
    del ds.RescaleSlope, ds.RescaleIntercept
    ds.save_as(tmp_path / "norescale.dcm")
    with pytest.raises(I2IDataError, match=r"norescale\.dcm is a CT image without "
                                           r"RescaleSlope.*default_rescale="):
        io.read_dicom(tmp_path / "norescale.dcm")
    image = io.read_dicom(tmp_path / "norescale.dcm", default_rescale=(1, -1024))
    np.testing.assert_array_equal(image.array, io.read_dicom(CT_SMALL).array)


def test_error_folder_mixing_series_lists_them(tmp_path):
    folder = tmp_path / "mixed"
    make_series(folder, [0.0, 1.0], series_uid="1.2.3.4", names=["ct1.dcm", "ct2.dcm"])
    make_series(folder, [0.0, 1.0], source=MR_SMALL, series_uid="1.2.3.5",
                names=["mr1.dcm", "mr2.dcm"])
    with pytest.raises(I2IDataError, match=r"mixes 2 series") as error:
        io.read_dicom_series(folder)
    message = str(error.value)
    assert "1.2.3.4: CT" in message and "1.2.3.5: MR" in message and "series_uid=" in message
    assert io.read_dicom_series(folder, series_uid="1.2.3.5").modality == "MR"


def test_error_non_uniform_slice_spacing(tmp_path):
    make_series(tmp_path / "gap", [0.0, 2.0, 4.0, 8.0, 10.0])
    with pytest.raises(I2IDataError, match=r"non-uniform slice spacing.*4 mm between "
                                           r"slice002\.dcm and slice003\.dcm.*missing"):
        io.read_dicom_series(tmp_path / "gap")


def test_error_slices_at_the_same_position(tmp_path):
    make_series(tmp_path / "dup", [0.0, 2.0, 2.0])
    with pytest.raises(I2IDataError, match="same position"):
        io.read_dicom_series(tmp_path / "dup")


def test_error_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(I2IDataError, match=r"no DICOM image files in .*empty"):
        io.read_dicom_series(tmp_path / "empty")
    make_series(tmp_path / "patient" / "SE0001", [0.0, 1.0])
    with pytest.raises(I2IDataError, match=r"sub-folders \(SE0001\).*one level deeper"):
        io.read_dicom_series(tmp_path / "patient")


def test_error_nifti_with_nan_or_inf(tmp_path):
    volume = np.zeros((4, 4, 3), np.float32)
    volume[0, 0, 0], volume[1, 1, 1] = np.nan, np.inf
    path = tmp_path / "bad.nii.gz"
    import nibabel as nib
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    with pytest.raises(I2IDataError, match=r"bad\.nii\.gz contains 1 NaN and 1 Inf.*nan_to_num"):
        io.read_nifti(path)
    assert np.isnan(io.read_nifti(path, allow_nonfinite=True).array).sum() == 1
    with pytest.raises(I2IDataError, match="NaN"):
        io.write_nifti(tmp_path / "out.nii", volume)


def test_error_corrupt_nifti(tmp_path):
    good = io.write_nifti(tmp_path / "good.nii.gz", np.ones((16, 16, 16), np.float32))
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(I2IDataError, match=r"cut\.nii\.gz could not be read as NIfTI"):
        io.read_nifti(cut)


def test_error_pair_with_different_shapes_or_spacings():
    a, b = np.zeros((8, 8, 4)), np.zeros((8, 8, 5))
    with pytest.raises(I2IDataError, match=r"mr\.nii\.gz and ct\.nii\.gz.*shapes differ.*"
                                           r"resample"):
        io.check_pair(a, b, names=("mr.nii.gz", "ct.nii.gz"))
    with pytest.raises(I2IDataError, match=r"voxel spacings differ"):
        io.check_pair(a, a, spacings=((1, 1, 1), (1, 1, 2.5)), names=("T2", "PD"))
    io.check_pair(a, a, spacings=((1, 1, 1), (1, 1, 1.0000001)))


def test_error_integer_image_where_hu_expected(tmp_path):
    stored = pydicom.dcmread(CT_SMALL).pixel_array  # int16 stored values, not HU
    with pytest.raises(I2IDataError, match=r"volume_hu is an integer array \(int16\).*"
                                           r"RescaleSlope.*astype\(np.float32\)"):
        io.write_dicom_series(stored, tmp_path / "x")
    with pytest.raises(I2IDataError, match="integer"):
        io.require_float(stored > 0, "mask")


def test_error_writing_into_a_folder_with_a_series(tmp_path):
    io.write_dicom_series(np.zeros((1, 4, 4)), tmp_path / "out")
    with pytest.raises(I2IDataError, match="already holds .dcm files"):
        io.write_dicom_series(np.zeros((1, 4, 4)), tmp_path / "out")


def test_window_presets_unchanged():
    assert io.window_limits("brain") == (0.0, 80.0)
    assert io.window_limits((40, 400)) == (-160.0, 240.0)
    np.testing.assert_allclose(io.apply_window(np.array([-1000.0, 40.0, 1000.0]),
                                               "soft_tissue"), [0.0, 0.5, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="unknown window"):
            io.window_limits("liver")


def test_package_keeps_the_public_names_of_the_old_module():
    """``io`` became a package (errors, windows, dicom_read, dicom_write, nifti); code that
    imported from ``i2i_keras.io`` keeps working, and the error keeps its public name.
    Names added since (real_examples) are listed, so an accidental export still fails."""
    public = {"BASIC_PROFILE_ATTRIBUTES", "WINDOWS", "DicomImage", "I2IDataError", "NiftiImage",
              "PathLike", "apply_window", "check_pair", "read_dicom", "read_dicom_series",
              "read_nifti", "require_float", "window_limits", "write_dicom_series",
              "write_nifti"}
    added = {"CT_EXAMPLES", "MR_EXAMPLES", "PHANTOM_PIXEL_MM", "real_slice"}
    assert set(io.__all__) == public | added
    assert all(hasattr(io, name) for name in public)
    assert f"{I2IDataError.__module__}.{I2IDataError.__qualname__}" == "i2i_keras.io.I2IDataError"
    error = pickle.loads(pickle.dumps(I2IDataError("x.dcm is not a DICOM file")))
    assert type(error) is I2IDataError and str(error) == "x.dcm is not a DICOM file"


@pytest.mark.parametrize("element,good,bad", [
    ("ImagePositionPatient", b"-75.699997", b"-75\xed699997"),
    ("PixelSpacing", b"0.661468\\0.661468", b"0.661468\\0.66l468"),
])
def test_a_corrupt_header_number_names_the_file_and_the_element(tmp_path, element, good, bad):
    """Every header number a reader converts gets the care the pixels get: a damaged
    decimal string is reported with the file, the element and its value."""
    from pydicom.data import get_testdata_file

    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    assert raw.count(good) == 1
    broken = tmp_path / "series" / "broken.dcm"
    broken.parent.mkdir()
    broken.write_bytes(raw.replace(good, bad))
    for read in (lambda: io.read_dicom(broken), lambda: io.read_dicom_series(broken.parent)):
        with pytest.raises(io.I2IDataError, match=rf"broken\.dcm: {element} holds .*which is "
                                                  r"not a number .*export it again"):
            read()


# --- holes the fuzzing found (tests/test_fuzz_readers.py), one deterministic case each ---

def _edited(tmp_path, name="edited.dcm", source=CT_SMALL, **elements):
    """A copy of ``source`` with raw header elements replaced: keyword=(VR, bytes), or
    keyword=None to delete it."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement

    ds = pydicom.dcmread(source)
    for keyword, value in elements.items():
        tag = tag_for_keyword(keyword)
        if value is None:
            del ds[tag]
        else:
            vr, raw = value
            ds[tag] = RawDataElement(pydicom.tag.Tag(tag), vr, len(raw), raw, 0, False, True)
    ds.save_as(tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("elements,message", [
    ({"PixelSpacing": ("DS", b"nan\\0.66")}, r"PixelSpacing holds .*not a finite number"),
    ({"PixelSpacing": ("DS", b"0.661468")}, r"PixelSpacing .*that is 1 values where it must "
                                            r"hold 2"),
    ({"PixelSpacing": ("DS", b"0\\0.66")}, r"PixelSpacing .*only positive values"),
    ({"RescaleIntercept": ("US", b"\x00\xfc")}, r"RescaleIntercept .*value representation US "
                                                r"where the standard's is DS"),
    ({"RescaleSlope": ("DS", b"0 ")}, r"RescaleSlope .*every pixel the same value"),
    ({"ImageOrientationPatient": ("DS", b"1\\1\\0\\0\\1\\0")},
     r"ImageOrientationPatient .*not two perpendicular unit vectors"),
    ({"Rows": ("US", b"\x40\x00")}, r"pixel data holds 32768 bytes, but the header declares "
                                    r"1 x 64 x 128 pixels of 16 bits \(16384 bytes\)"),
    ({"BitsAllocated": ("US", b"\x0c\x00")}, r"BitsAllocated is 12"),
    ({"PhotometricInterpretation": ("CS", b"PALETTE COLOR ")}, r"is a colour image \(PALETTE"),
    ({"Columns": None}, r"has no Columns"),
])
def test_a_damaged_header_is_refused_naming_the_file(tmp_path, elements, message):
    """Each was, before, a silently wrong image (excess pixel data reshaped, NaN spacing,
    an intercept read from a string's bytes, a palette read as intensities) or a bare
    IndexError/ValueError from pydicom."""
    path = _edited(tmp_path, **elements)
    with pytest.raises(I2IDataError, match=rf"edited\.dcm.*{message}"):
        io.read_dicom(path)


def test_element_pydicom_cannot_decode_and_unknown_transfer_syntax(tmp_path):
    path = _edited(tmp_path, Modality=("US", b"CT "))  # 3 bytes cannot be a US
    with pytest.raises(I2IDataError, match=r"edited\.dcm could not be parsed as DICOM"):
        io.read_dicom(path)
    raw = Path(CT_SMALL).read_bytes().replace(b"1.2.840.10008.1.2.1\x00",
                                              b"1.2.840.10008.1.2.99", 1)
    (tmp_path / "syntax.dcm").write_bytes(raw)
    with pytest.raises(I2IDataError, match=r"syntax\.dcm: its transfer syntax "
                                           r"'1\.2\.840\.10008\.1\.2\.99' is not one DICOM"):
        io.read_dicom(tmp_path / "syntax.dcm")


def test_series_names_the_odd_slice(tmp_path):
    folder = make_series(tmp_path / "s", [0.0, 2.5, 5.0])
    _edited(folder, "slice001.dcm", source=folder / "slice001.dcm",
            PixelSpacing=("DS", b"0.5\\0.5 "))
    with pytest.raises(I2IDataError, match=r"differ in PixelSpacing: slice001\.dcm "
                                           r"\(\[0\.5, 0\.5\]\)"):
        io.read_dicom_series(folder)
    folder = make_series(tmp_path / "t", [0.0, 2.5, 5.0])
    _edited(folder, "slice002.dcm", source=folder / "slice002.dcm", ImagePositionPatient=None)
    with pytest.raises(I2IDataError, match=r"slice002\.dcm in .* lack ImagePositionPatient"):
        io.read_dicom_series(folder)
    folder = make_series(tmp_path / "u", [0.0, 2.5, 5.0])
    _edited(folder, "slice000.dcm", source=folder / "slice000.dcm", Modality=("CS", b"MR"))
    with pytest.raises(I2IDataError, match=r"differ in Modality: slice000\.dcm \(MR\)"):
        io.read_dicom_series(folder)


def test_nifti_size_checksum_and_affine_are_checked(tmp_path):
    import gzip
    import io as bytes_io

    import nibabel as nib

    good = io.write_nifti(tmp_path / "good.nii", np.ones((6, 5, 4), np.float32))
    (tmp_path / "long.nii").write_bytes(good.read_bytes() + bytes(8))
    with pytest.raises(I2IDataError, match=r"long\.nii holds 840 bytes, but its header "
                                           r"declares 832: \(6, 5, 4\) voxels"):
        io.read_nifti(tmp_path / "long.nii")
    # A .nii.gz whose voxels changed after compression fails gzip's CRC-32: nibabel alone
    # stops reading at the last voxel and never sees the checksum.
    packed = bytearray(gzip.compress(good.read_bytes(), mtime=0))
    packed[-8] ^= 0x01  # the CRC-32 of the uncompressed bytes
    (tmp_path / "crc.nii.gz").write_bytes(bytes(packed))
    with pytest.raises(I2IDataError, match=r"crc\.nii\.gz could not be read as NIfTI.*CRC"):
        io.read_nifti(tmp_path / "crc.nii.gz")
    raw = bytearray(good.read_bytes())  # an sform with a zero row: a singular affine
    header = nib.Nifti1Header.from_fileobj(bytes_io.BytesIO(bytes(raw)), check=False)
    header["srow_z"] = 0.0
    raw[:348] = header.binaryblock
    (tmp_path / "flat.nii").write_bytes(bytes(raw))
    with pytest.raises(I2IDataError, match=r"flat\.nii has a voxel-to-mm affine that is not "
                                           r"finite or not invertible"):
        io.read_nifti(tmp_path / "flat.nii")
    # A voxel size of 0 in a qform-only header: nibabel silently reads it as 1 mm.
    raw = bytearray(good.read_bytes())
    header = nib.Nifti1Header.from_fileobj(bytes_io.BytesIO(bytes(raw)), check=False)
    header["pixdim"][3], header["sform_code"] = 0.0, 0
    raw[:348] = header.binaryblock
    (tmp_path / "zero.nii").write_bytes(bytes(raw))
    with pytest.raises(I2IDataError, match=r"zero\.nii: its header states a voxel-to-mm "
                                           r"affine of .*which nibabel had to repair"):
        io.read_nifti(tmp_path / "zero.nii")
