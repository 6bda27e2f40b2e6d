"""A run saved beside its model and used again (i2i_keras.translate)."""

import json
import re

import keras
import numpy as np
import pytest

from i2i_keras import inference, io, models, translate, volumes
from i2i_keras.io import I2IDataError

SPACING = (3.0, 2.0, 2.0)


def _identity_run(tmp_path, channels=1, mode="2d", context=0, name="run"):
    """A fresh residual U-Net is exactly the identity (its correction layer starts at
    zero); with the same window in and out, translate must return its input."""
    keras.utils.set_random_seed(0)
    width = channels * (2 * context + 1 if mode == "2.5d" else 1)
    net = models.unet((None, None, width), out_channels=width, depth=2, base_filters=4,
                      norm="none", residual=True)
    config = translate.example_config(SPACING, patch=16, channels=channels, mode=mode,
                                      context=context)
    config["input"]["normalisation"] = {"kind": "window", "low": -1000.0, "high": 2000.0}
    config["model"] = {"builder": "unet", "depth": 2, "base_filters": 4}
    translate.save_run(tmp_path / name, net, config)
    return tmp_path / name, net


def _volume(shape=(5, 40, 36), spacing=SPACING):
    hu = np.random.default_rng(0).uniform(-1000, 2000, shape).astype("float32")
    return volumes.Volume(hu, volumes.axial_affine(spacing, (5.0, -3.0, 12.0)))


def test_save_run_writes_a_readable_config_and_a_safe_model(tmp_path):
    run, net = _identity_run(tmp_path)
    config = json.loads((run / "run.json").read_text())
    assert config["spacing_mm"] == list(SPACING) and config["patch"] == [16, 16]
    assert config["parameters"] == net.count_params() and config["format"] == 1
    again = keras.saving.load_model(run / "model.keras", safe_mode=True)
    x = np.random.default_rng(1).standard_normal((1, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), net.predict(x, verbose=0))


def test_translate_is_normalise_predict_denormalise_on_the_input_grid(tmp_path):
    run, _ = _identity_run(tmp_path)
    vol = _volume()
    out = translate.translate(vol, run, progress=False)
    np.testing.assert_allclose(out.affine, vol.affine)
    np.testing.assert_allclose(out.array, vol.array, atol=0.05)  # HU, float32 round trip


def test_translate_uses_the_saved_normalisation(tmp_path):
    """Percentile in, window out, through an identity network: the output is the
    input's percentile scaling read as HU, computed here by hand."""
    keras.utils.set_random_seed(0)
    net = models.unet((None, None, 1), depth=2, base_filters=4, norm="none", residual=True)
    translate.save_run(tmp_path / "p", net, translate.example_config(SPACING, patch=16))
    vol = _volume()
    mr = np.abs(vol.array)
    out = translate.translate(volumes.Volume(mr, vol.affine), tmp_path / "p", progress=False)
    by_hand = (2 * mr / np.percentile(mr, 99.5) - 1 + 1) * 1500 - 1000
    np.testing.assert_allclose(out.array, by_hand, rtol=1e-4, atol=0.05)


def test_dicom_and_nifti_inputs(tmp_path):
    run, _ = _identity_run(tmp_path)
    vol = _volume()
    g = vol.dicom_geometry()
    io.write_dicom_series(g["array"], tmp_path / "dcm", spacing_mm=g["spacing_mm"],
                          origin_mm=g["origin_mm"], orientation=g["orientation"])
    series = io.read_dicom_series(tmp_path / "dcm")
    out = translate.translate(series, run, progress=False)
    np.testing.assert_allclose(out.array, series.array, atol=0.05)
    np.testing.assert_allclose(out.affine, series.affine)
    # A NIfTI stored (x, y, z): translated in (slices, rows, cols), placed the same.
    xyz = np.transpose(vol.array, (2, 1, 0))
    affine = vol.affine[:, [2, 1, 0, 3]]
    nifti = io.read_nifti(io.write_nifti(tmp_path / "v.nii.gz", xyz, affine))
    out = translate.translate(nifti, run, progress=False)
    np.testing.assert_allclose(out.affine, vol.affine, atol=1e-5)
    np.testing.assert_allclose(out.array, vol.array, atol=0.05)


def test_wrong_channels_and_spacing_are_refused_naming_the_fix(tmp_path):
    run, _ = _identity_run(tmp_path)
    two = volumes.Volume(np.zeros((5, 40, 36, 2), "f4"), _volume().affine)
    with pytest.raises(I2IDataError, match=rf"model in {run} takes 1 channel\(s\).*has 2\. "
                                           r"Give it one image"):
        translate.translate(two, run)
    fine = _volume(spacing=(3.0, 1.0, 1.0))
    with pytest.raises(I2IDataError, match=r"trained at a voxel spacing of \(2\.0, 2\.0\) mm "
                                           r"\(row, col\), the input has \(1\.0, 1\.0\) mm\. "
                                           r"Pass resample=True"):
        translate.translate(fine, run)
    # Slice spacing does not matter slice by slice, but it does for a 2.5D model.
    translate.translate(_volume(spacing=(1.0, 2.0, 2.0)), run, progress=False)
    run25, _ = _identity_run(tmp_path, mode="2.5d", context=1, name="r25")
    with pytest.raises(I2IDataError, match=r"\(3\.0, 2\.0, 2\.0\) mm \(slice, row, col\)"):
        translate.translate(_volume(spacing=(1.0, 2.0, 2.0)), run25)
    with pytest.raises(I2IDataError, match="pass spacing_mm="):
        translate.translate(np.zeros((5, 40, 36), "f4"), run)
    with pytest.raises(I2IDataError, match="smaller than the patch"):
        translate.translate(_volume(shape=(3, 12, 40)), run)
    with pytest.raises(I2IDataError, match="not a folder written by translate.save_run"):
        translate.translate(_volume(), tmp_path)


def test_resample_true_runs_at_the_model_spacing_and_returns_the_input_grid(tmp_path):
    run, _ = _identity_run(tmp_path)
    fine = _volume(shape=(4, 64, 60), spacing=(3.0, 1.0, 1.0))
    # A linear function of position survives resampling there and back exactly.
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in fine.array.shape], indexing="ij"), -1)
    ramp = (idx @ fine.affine[:3, :3].T + fine.affine[:3, 3]) @ [0.0, 4.0, -3.0]
    vol = volumes.Volume(ramp.astype("float32"), fine.affine)
    out = translate.translate(vol, run, resample=True, progress=False)
    assert out.array.shape == vol.array.shape
    np.testing.assert_allclose(out.affine, vol.affine)
    inner = (slice(None), slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(out.array[inner], vol.array[inner], atol=0.05)


def test_2p5d_run_feeds_neighbours_as_channels(tmp_path):
    run, net = _identity_run(tmp_path, mode="2.5d", context=1)
    vol = _volume()
    out = translate.translate(vol, run, progress=False)  # the identity's first channel:
    np.testing.assert_allclose(out.array[..., 0][1:], vol.array[:-1], atol=0.05)  # k - 1


def test_save_run_refuses_an_inconsistent_config(tmp_path):
    net = models.unet((None, None, 1), depth=2, base_filters=4, norm="none")
    config = translate.example_config(SPACING, patch=16, mode="2.5d", context=1)
    with pytest.raises(ValueError, match="takes 1 channels but the configuration "
                                         "describes 3"):
        translate.save_run(tmp_path / "a", net, config)
    config = translate.example_config(SPACING, patch=16)
    config["output"]["normalisation"] = {"kind": "percentile", "percentile": 99}
    with pytest.raises(ValueError, match="cannot be undone"):
        translate.save_run(tmp_path / "b", net, config)
    with pytest.raises(ValueError, match="lacks"):
        translate.save_run(tmp_path / "c", net, {"mode": "2d"})
    config = translate.example_config(SPACING, patch=16) | {"blend": "cosine"}
    with pytest.raises(ValueError, match=re.escape(f"blend must be one of {inference.BLENDS}")):
        translate.save_run(tmp_path / "d", net, config)
