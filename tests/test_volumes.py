"""3D phantom heads, volumes with their geometry, resampling (i2i_keras.volumes)."""

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file

from i2i_keras import io, phantoms, volumes
from i2i_keras.phantoms import TISSUES


def _agreement(labels):
    """Fraction of voxels whose label equals the next slice's."""
    return float((labels[1:] == labels[:-1]).mean())


def test_same_seed_same_volume_and_anatomy_continuous_along_z():
    a, b = volumes.head_volume(48, 10, seed=3), volumes.head_volume(48, 10, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.mr(seed=1), b.mr(seed=1))
    # The same levels drawn as separate 2D phantoms (head_slice draws each level's
    # curves and fields anew; pose fixed here) change more from one slice to the next.
    stacked = np.stack([phantoms.head_slice(48, seed=3, z=float(z), rotate_deg=0,
                                            shift_mm=0).labels for z in a.z_levels])
    # Measured (seeded): 0.955 against 0.864 (0.769 with head_slice's random pose).
    assert _agreement(a.labels) > _agreement(stacked) + 0.05


def test_each_slice_is_draw_labels_at_its_level():
    """With one sub-level a slice and no supersampling, a slice is exactly what
    draw_labels draws at its level (the anatomy is the 2D generator's)."""
    head = volumes.head_volume(32, 4, seed=2, supersample=1, rotate_deg=0, shift_mm=0)
    c = ((np.arange(32) + 0.5) * 220.0 / 32 - 110.0).astype(np.float32)
    for k, z in enumerate(head.z_levels):
        canvas = phantoms._Canvas(c, c, 0.0, 0.0, 0.0)
        phantoms.draw_labels(canvas, phantoms.random_patient(2), float(z),
                             np.random.default_rng([2, 7]))
        np.testing.assert_array_equal(head.labels[k], canvas.labels)


def test_anisotropic_volume_and_registered_mr_ct():
    head = volumes.head_volume(64, 12, seed=1, slice_mm=6.0)
    assert head.hu.shape == head.labels.shape == (12, 64, 64)
    assert head.spacing_mm == pytest.approx((6.0, 220 / 64, 220 / 64))
    assert volumes.spacing_of(head.affine) == pytest.approx(head.spacing_mm)
    assert np.diff(head.z_levels) == pytest.approx(6.0 / volumes.MM_PER_Z)
    ct, mr = head.ct(seed=0), head.mr("T1", seed=0, noise=0.0, bias=0.0)
    lab = head.labels
    assert np.all(head.hu[lab == TISSUES["air"].label][:50] == -1000.0)
    bone, wm = lab == TISSUES["cortical_bone"].label, lab == TISSUES["white_matter"].label
    # Thin cortical bone (1400 HU in the table) loses to partial volume in 6 mm slices.
    assert np.median(ct[bone]) > 400 and 0 < np.median(ct[wm]) < 60
    # Bone dark on MR, bright on CT (partial volume again: measured 0.54 of white matter).
    assert np.median(mr[bone]) < 0.6 * np.median(mr[wm])


def test_volume_outside_the_drawable_levels_is_refused():
    with pytest.raises(ValueError, match=r"must stay within \[-0.35, 1\].*fewer or thinner"):
        volumes.head_volume(32, 40, slice_mm=5.0)


def test_dicom_and_nifti_round_trip_keeps_geometry(tmp_path):
    head = volumes.head_volume(32, 5, seed=0, slice_mm=4.0)
    vol = volumes.Volume(head.ct(seed=0), head.affine)
    g = vol.dicom_geometry()
    io.write_dicom_series(g["array"], tmp_path / "ct", spacing_mm=g["spacing_mm"],
                          origin_mm=g["origin_mm"], orientation=g["orientation"])
    back = volumes.Volume.from_dicom(io.read_dicom_series(tmp_path / "ct"))
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-3)  # 6 digits in DICOM
    assert np.abs(back.array - vol.array).max() <= 0.5  # stored as integer HU
    path = io.write_nifti(tmp_path / "ct.nii.gz", vol.array, vol.affine)
    again = volumes.Volume.from_nifti(io.read_nifti(path))
    np.testing.assert_allclose(again.affine, vol.affine, atol=1e-5)
    np.testing.assert_array_equal(again.array, vol.array)
    assert again.axis_codes() == ("S", "P", "L")


def test_reversed_slices_are_written_in_normal_order(tmp_path):
    head = volumes.head_volume(32, 4, seed=0, slice_mm=5.0)
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, 3  # index k -> 3 - k: the same voxels, slices reversed
    vol = volumes.Volume(head.hu[::-1].copy(), head.affine @ flip)
    g = vol.dicom_geometry()
    io.write_dicom_series(g["array"], tmp_path / "s", spacing_mm=g["spacing_mm"],
                          origin_mm=g["origin_mm"], orientation=g["orientation"])
    back = volumes.Volume.from_dicom(io.read_dicom_series(tmp_path / "s"))
    np.testing.assert_allclose(back.affine, head.affine, atol=1e-3)
    assert np.abs(back.array - head.hu).max() <= 0.5


def test_from_nifti_moves_no_voxel_in_space():
    image = io.read_nifti(f"{data_path}/anatomical.nii")
    assert nib.aff2axcodes(image.affine) == ("L", "A", "S")
    vol = volumes.Volume.from_nifti(image)
    assert vol.axis_codes() == ("S", "P", "L")
    assert vol.array.shape == image.array.shape[::-1]
    rng = np.random.default_rng(0)
    for _ in range(20):
        ijk = [rng.integers(n) for n in image.array.shape]
        mm = image.affine @ [*ijk, 1]
        kji = np.round(np.linalg.inv(vol.affine) @ mm).astype(int)[:3]
        assert vol.array[tuple(kji)] == image.array[tuple(ijk)]
    with pytest.raises(io.I2IDataError, match="pick one volume of a 4D series"):
        volumes.Volume.from_nifti(io.read_nifti(f"{data_path}/example4d.nii.gz"))


def test_from_dicom_single_slice_places_it_where_the_header_says():
    ct = io.read_dicom(get_testdata_file("CT_small.dcm"))
    vol = volumes.Volume.from_dicom(ct)
    assert vol.array.shape == (1, 128, 128)
    lps = np.array(ct.origin_mm) * [-1, -1, 1]  # RAS of the first pixel
    np.testing.assert_allclose(vol.affine[:3, 3], lps)
    np.testing.assert_allclose(vol.spacing_mm[1:], ct.spacing_mm)


def _ramp(affine, shape, a=(0.3, -0.7, 1.1)):
    """A linear function of position (mm) sampled at each voxel centre."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    mm = idx @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
    return (mm @ np.asarray(a)).astype(np.float64)


@pytest.mark.parametrize("spacing", [(2.0, 0.5, 0.75), (0.5, 2.0, 3.0)])
def test_resample_reproduces_a_linear_function_of_position(spacing):
    """Linear interpolation is exact for a linear function: any error would be geometry
    (a half-voxel shift, a wrong scale or origin)."""
    affine = volumes.axial_affine((3.0, 1.5, 1.5), (10.0, -20.0, 5.0))
    shape = (10, 24, 20)
    out = volumes.resample(_ramp(affine, shape), affine, spacing, anti_aliasing=False)
    assert out.spacing_mm == pytest.approx(spacing)
    inner = tuple(slice(3, -3) for _ in range(3))  # away from the edge-clamped border
    np.testing.assert_allclose(out.array[inner], _ramp(out.affine, out.array.shape)[inner],
                               atol=1e-9)
    # The field of view starts at the same outer corner.
    corner = np.array([-0.5, -0.5, -0.5, 1.0])
    np.testing.assert_allclose(out.affine @ corner, affine @ corner, atol=1e-9)
    back = volumes.resample_to(out.array, out.affine, affine, shape)
    np.testing.assert_allclose(back.array[inner], _ramp(affine, shape)[inner], atol=1e-9)


def test_resample_keeps_a_blob_in_place_and_labels_as_labels():
    affine = volumes.axial_affine((4.0, 1.0, 1.0))
    shape = (16, 40, 40)
    mm = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1) @ \
        affine[:3, :3].T + affine[:3, 3]
    centre = np.array([-15.0, -22.0, 30.0])
    blob = np.exp(-((mm - centre) ** 2).sum(-1) / (2 * 6.0 ** 2))
    centre = (mm * blob[..., None]).sum((0, 1, 2)) / blob.sum()  # as sampled (cut at edges)
    for spacing in [(1.0, 2.0, 2.0), (8.0, 0.5, 0.5)]:
        out = volumes.resample(blob, affine, spacing)
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in out.array.shape],
                                    indexing="ij"), -1)
        where = grid @ out.affine[:3, :3].T + out.affine[:3, 3]
        found = (where * out.array[..., None]).sum((0, 1, 2)) / out.array.sum()
        np.testing.assert_allclose(found, centre, atol=0.05)  # mm
    labels = (blob > 0.5).astype(np.int8) * 7
    coarse = volumes.resample(labels, affine, (8.0, 2.0, 2.0), order=0)
    assert set(np.unique(coarse.array)) == {0, 7}
    two = volumes.resample(np.stack([blob, 2 * blob], -1), affine, (8.0, 2.0, 2.0))
    np.testing.assert_allclose(two.array[..., 1], 2 * two.array[..., 0], rtol=1e-6)
