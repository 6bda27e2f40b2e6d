"""Loaders on small fakes written in each data set's real layout.

The ``write_fake_*`` builders are also used by test_downloads.py to serve archives.
"""

import numpy as np
import pytest

from i2i_keras import io, loaders
from i2i_keras.io import I2IDataError

MU_MAX = loaders.LODOPAB_MU_MAX


def write_fake_lodopab(folder, part="test", n=5, per_file=2, image=24, views=30, bins=17,
                       seed=0):
    """ground_truth_<part>_NNN.hdf5 / observation_<part>_NNN.hdf5 ('data', per_file
    samples each, the last one shorter) and patient_ids_rand_<part>.csv."""
    import h5py

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 1, (n, image, image)).astype(np.float32)
    truth[:, 0, :3] = [LODOPAB_AIR, LODOPAB_WATER, 1.0]  # known HU: -1000, 0, 3071
    observation = rng.uniform(0, 0.05, (n, views, bins)).astype(np.float32)
    for index, begin in enumerate(range(0, n, per_file)):
        for kind, data in (("ground_truth", truth), ("observation", observation)):
            with h5py.File(folder / f"{kind}_{part}_{index:03d}.hdf5", "w") as handle:
                handle.create_dataset("data", data=data[begin:begin + per_file])
    ids = np.arange(n) // 2 + 100
    (folder / f"patient_ids_rand_{part}.csv").write_text("".join(f"{i}\n" for i in ids))
    return truth, observation, ids


LODOPAB_WATER = loaders.LODOPAB_MU_WATER / MU_MAX
LODOPAB_AIR = loaders.LODOPAB_MU_AIR / MU_MAX


def write_fake_ixi(folder, subjects=("IXI002-Guys-0828", "IXI012-HH-1211"),
                   weightings=("T2", "PD"), shape=(20, 18, 10), spacing=(0.94, 0.94, 1.2)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for subject in subjects:
        for weighting in weightings:
            volume = rng.uniform(0, 800, shape).astype(np.float32)
            io.write_nifti(folder / f"{subject}-{weighting}.nii.gz", volume, spacing_mm=spacing)
    return folder


def write_fake_synthrad(root, cases=(("brain", "1BA001"), ("brain", "1BA005"),
                                     ("pelvis", "1PA004")), shape=(22, 20, 12)):
    """Task1/<region>/<patient>/{mr,ct,mask}.nii.gz, CT stored as int16 HU like the real set."""
    rng = np.random.default_rng(2)
    for region, patient in cases:
        folder = root / "Task1" / region / patient
        folder.mkdir(parents=True, exist_ok=True)
        spacing = (1.0, 1.0, 1.0) if region == "brain" else (1.0, 1.0, 2.5)
        mask = np.zeros(shape, bool)
        mask[4:-4, 4:-4, 2:-2] = True
        ct = np.where(mask, rng.integers(-100, 1500, shape), -1024).astype(np.int16)
        mr = np.where(mask, rng.uniform(100, 900, shape), 0).astype(np.float32)
        io.write_nifti(folder / "ct.nii.gz", ct, spacing_mm=spacing)
        io.write_nifti(folder / "mr.nii.gz", mr, spacing_mm=spacing)
        io.write_nifti(folder / "mask.nii.gz", mask, spacing_mm=spacing)
    return root


# --- LoDoPaB ---------------------------------------------------------------------------

def test_lodopab_pairs_in_hu_and_line_integrals(tmp_path):
    truth, observation, ids = write_fake_lodopab(tmp_path / "ground_truth_test", n=5)
    data = loaders.load_lodopab("test", data_dir=tmp_path)
    assert data.images_hu.shape == (5, 24, 24) and data.sinograms.shape == (5, 30, 17)
    assert data.images_hu.dtype == np.float32
    np.testing.assert_allclose(data.images_hu[0, 0, :3], [-1000.0, 0.0, 3071.0], atol=0.05)
    np.testing.assert_allclose(data.sinograms, observation * MU_MAX, rtol=1e-6)
    np.testing.assert_array_equal(data.patient, ids)
    window = loaders.load_lodopab("test", n=2, start=1, data_dir=tmp_path)  # spans two files
    np.testing.assert_allclose(window.images_hu, loaders.lodopab_to_hu(truth[1:3]), atol=1e-3)
    np.testing.assert_array_equal(window.patient, ids[1:3])


def test_lodopab_missing_files_say_how_to_download(tmp_path):
    write_fake_lodopab(tmp_path, part="validation")
    with pytest.raises(I2IDataError, match=r"download\.py lodopab --parts test"):
        loaders.load_lodopab("test", data_dir=tmp_path)
    with pytest.raises(I2IDataError, match="does not exist.*download.py lodopab"):
        loaders.load_lodopab("test", data_dir=tmp_path / "nowhere")


def test_lodopab_geometry_matches_the_published_setup():
    ct = loaders.lodopab_geometry()
    assert ct.image_shape == (362, 362) and ct.sinogram_shape == (1000, 513)
    assert ct.pixel_size_mm == pytest.approx(0.71823, abs=1e-5)
    assert ct.detector_spacing_mm == pytest.approx(0.71676, abs=1e-5)
    assert ct.angles_deg[0] == pytest.approx(0.09 - 90) and not ct.uses_matrix
    # The detector spans the image diagonal, as in LoDoPaB (513 bins for 362 px).
    assert (ct.n_detectors - 1) * ct.detector_spacing_mm >= 361 * np.sqrt(2) * ct.pixel_size_mm



def test_lodopab_damaged_files_are_named_with_the_command_to_download_again(tmp_path):
    """Each was, before, a misaligned pair set (a file pair with different sample counts),
    a short patient list, or a bare OSError/UnicodeDecodeError/ValueError."""
    import h5py

    write_fake_lodopab(tmp_path, n=5)
    with h5py.File(tmp_path / "observation_test_001.hdf5", "r+") as handle:
        data = handle["data"][()]
        del handle["data"]
        handle.create_dataset("data", data=data[:1])
    with pytest.raises(I2IDataError, match=r"observation_test_001\.hdf5: it holds 1 samples "
                                           r"where ground_truth_test_001\.hdf5 holds 2.*"
                                           r"download\.py lodopab --parts test"):
        loaders.load_lodopab("test", data_dir=tmp_path)
    write_fake_lodopab(tmp_path, n=5)
    (tmp_path / "patient_ids_rand_test.csv").write_text("100\n100\n101\n")
    with pytest.raises(I2IDataError, match=r"patient_ids_rand_test\.csv: holds 3 patient ids "
                                           r"in shape \(3,\) for 5 samples"):
        loaders.load_lodopab("test", data_dir=tmp_path)
    (tmp_path / "patient_ids_rand_test.csv").write_bytes(b"\xff\xfe1\n")
    with pytest.raises(I2IDataError, match=r"patient_ids_rand_test\.csv: is not one integer"):
        loaders.load_lodopab("test", data_dir=tmp_path)
    write_fake_lodopab(tmp_path, n=5)
    (tmp_path / "ground_truth_test_002.hdf5").write_bytes(
        (tmp_path / "ground_truth_test_002.hdf5").read_bytes()[:500])
    with pytest.raises(I2IDataError, match=r"ground_truth_test_002\.hdf5: cannot be read as "
                                           r"LoDoPaB HDF5"):
        loaders.load_lodopab("test", data_dir=tmp_path)
    write_fake_lodopab(tmp_path, n=5)
    with h5py.File(tmp_path / "ground_truth_test_000.hdf5", "r+") as handle:
        handle["data"][0, 0, 0] = 7.0  # attenuation / MU_MAX lies in [0, 1]
    with pytest.raises(I2IDataError, match=r"ground_truth_test_000\.hdf5: values span "
                                           r"\[.*, 7\], outside LoDoPaB's normalised range"):
        loaders.load_lodopab("test", data_dir=tmp_path)


def test_one_hu_definition_for_lodopab_and_its_0_1_percent_from_physics():
    """LoDoPaB defines HU = 1000 (mu - mu_water) / (mu_water - mu_air); physics.mu_to_hu
    divides by mu_water alone. loaders.lodopab_mu_to_hu is LoDoPaB's, used for the ground
    truth, so an FBP converted with it is on the ground truth's scale; physics.mu_to_hu
    gives (1 - mu_air / mu_water) = 0.999 times those HU: 1 HU at air, 3.1 HU at 3071."""
    from i2i_keras import physics

    hu = np.array([-1000.0, -100.0, 0.0, 40.0, 1000.0, 3071.0])
    mu = physics.hu_to_mu(hu)  # 1/mm, the textbook definition
    lodopab = loaders.lodopab_mu_to_hu(mu)
    factor = 1 - loaders.LODOPAB_MU_AIR / loaders.LODOPAB_MU_WATER
    assert factor == pytest.approx(0.999)
    np.testing.assert_allclose(physics.mu_to_hu(mu), lodopab * factor, atol=1e-9)
    np.testing.assert_allclose(lodopab - hu, hu * (1 / factor - 1), atol=1e-9)
    assert np.abs(lodopab - hu).max() == pytest.approx(3.074, abs=1e-3)  # at 3071 HU
    # The ground truth's conversion is the same function: water and air land on 0 and -1000.
    np.testing.assert_allclose(loaders.lodopab_to_hu(np.array([LODOPAB_WATER, LODOPAB_AIR])),
                               [0.0, -1000.0], atol=1e-9)
    np.testing.assert_allclose(loaders.lodopab_to_hu(mu / 1e-3 / MU_MAX), lodopab, atol=1e-9)

# --- IXI -------------------------------------------------------------------------------

def test_ixi_slices_and_registered_t2_pd_pairs(tmp_path):
    write_fake_ixi(tmp_path / "IXI-T2", weightings=("T2",))
    write_fake_ixi(tmp_path / "IXI-PD", weightings=("PD",))
    assert list(loaders.ixi_files("T2", tmp_path)) == ["IXI002-Guys-0828", "IXI012-HH-1211"]
    slices = loaders.load_ixi_slices("T2", slices_per_subject=3, size=16, data_dir=tmp_path)
    assert slices.images.shape == (6, 16, 16)
    assert slices.patient == ["IXI002-Guys-0828"] * 3 + ["IXI012-HH-1211"] * 3
    pairs = loaders.load_ixi_pairs(("T2", "PD"), n_subjects=1, slices_per_subject=2,
                                   size=None, data_dir=tmp_path)
    assert pairs.inputs.shape == pairs.targets.shape == (2, 20, 18)  # slices along axis 2
    t2 = io.read_nifti(tmp_path / "IXI-T2" / "IXI002-Guys-0828-T2.nii.gz").array
    np.testing.assert_array_equal(pairs.inputs[0], t2[:, :, 2])


def test_ixi_pair_on_different_grids_is_refused(tmp_path):
    write_fake_ixi(tmp_path, subjects=("IXI002-Guys-0828",), weightings=("T2",))
    write_fake_ixi(tmp_path, subjects=("IXI002-Guys-0828",), weightings=("T1",),
                   shape=(24, 18, 10), spacing=(1.2, 0.94, 0.94))
    with pytest.raises(I2IDataError, match=r"IXI002-Guys-0828-T1\.nii\.gz and "
                                           r"IXI002-Guys-0828-T2\.nii\.gz are not on the same"):
        loaders.load_ixi_pairs(("T1", "T2"), data_dir=tmp_path)
    with pytest.raises(I2IDataError, match=r"no IXI PD files.*--parts PD"):
        loaders.ixi_files("PD", tmp_path)


# --- SynthRAD2023 ----------------------------------------------------------------------

def test_synthrad_cases_and_mr_ct_pairs(tmp_path):
    write_fake_synthrad(tmp_path)
    assert [p.name for p in loaders.synthrad_cases("brain", tmp_path)] == ["1BA001", "1BA005"]
    assert len(loaders.synthrad_cases(None, tmp_path)) == 3
    case = loaders.load_synthrad_case(loaders.synthrad_cases("pelvis", tmp_path)[0])
    assert case.region == "pelvis" and case.spacing_mm == (1.0, 1.0, 2.5)
    assert case.ct_hu.dtype == np.float32 and case.ct_hu.min() == -1024
    pairs = loaders.load_synthrad_slices("brain", slices_per_patient=4, size=24,
                                         data_dir=tmp_path)
    assert pairs.inputs.shape == pairs.targets.shape == pairs.masks.shape == (8, 24, 24)
    assert pairs.patient == ["1BA001"] * 4 + ["1BA005"] * 4
    assert pairs.masks.any(axis=(1, 2)).all()  # only slices through the body
    assert (pairs.targets[:, 0, 0] == -1000).all()  # padded with air
    assert set(np.unique(pairs.targets[pairs.masks])) <= set(range(-100, 1500))


def test_synthrad_case_with_mismatched_ct_is_refused(tmp_path):
    write_fake_synthrad(tmp_path, cases=(("brain", "1BA001"),))
    folder = tmp_path / "Task1" / "brain" / "1BA001"
    io.write_nifti(folder / "ct.nii.gz", np.zeros((22, 20, 13), np.int16))
    with pytest.raises(I2IDataError, match=r"1BA001/mr\.nii\.gz and .*1BA001/ct\.nii\.gz.*"
                                           r"shapes differ"):
        loaders.load_synthrad_slices("brain", data_dir=tmp_path)
    with pytest.raises(I2IDataError, match="no SynthRAD2023 pelvis cases"):
        loaders.synthrad_cases("pelvis", tmp_path)
    io.write_nifti(folder / "ct.nii.gz", np.zeros((22, 20, 12), np.int16),
                   np.diag([1.0, 1.0, 1.0, 1.0]) + np.eye(4, k=3) * 5.0)  # moved 5 mm
    with pytest.raises(I2IDataError, match=r"1BA001/mr\.nii\.gz and .*1BA001/ct\.nii\.gz "
                                           r"place their voxels differently"):
        loaders.load_synthrad_case(folder)
    io.write_nifti(folder / "ct.nii.gz", np.zeros((22, 20, 12, 2), np.int16))
    with pytest.raises(I2IDataError, match=r"ct\.nii\.gz holds an array of shape "
                                           r"\(22, 20, 12, 2\), not one 3D volume"):
        loaders.load_synthrad_case(folder)
