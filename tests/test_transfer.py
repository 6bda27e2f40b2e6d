"""Real scans for the transfer checks (tutorials 01/02, benchmarks/transfer.py): read from
pydicom's own test files, resampled to the phantoms' pixel size (never below 64 pixels a
side), in their physical units."""

import sys
from pathlib import Path

import numpy as np
import pytest

from i2i_keras import io

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
transfer = pytest.importorskip("transfer")


@pytest.mark.parametrize("name", io.CT_EXAMPLES + io.MR_EXAMPLES)
def test_real_slices_come_at_the_training_scale_in_their_units(name):
    image, pixel_mm = io.real_slice(name)
    assert image.ndim == 2 and min(image.shape) >= 56 and all(s % 8 == 0 for s in image.shape)
    assert pixel_mm <= io.PHANTOM_PIXEL_MM + 1e-6
    assert pixel_mm == pytest.approx(io.PHANTOM_PIXEL_MM) or min(image.shape) < 72
    if name in io.CT_EXAMPLES:  # HU: air (-896 in CT_small), soft tissue near 0-80
        assert image.min() < -800 and -200 < np.median(image[image > -500]) < 200
    assert name in io.real_examples.DESCRIPTIONS


def test_sr_pairs_are_tutorial_02s():
    hr = np.random.default_rng(0).uniform(0, 1, (2, 32, 32)).astype("f4")
    x, y = transfer.sr_pairs(hr)
    assert x.shape == y.shape == (2, 32, 32, 1)
    np.testing.assert_allclose((y[..., 0] + 1) / 2, hr, atol=1e-6)


def test_unmeasured_detail_gives_the_error_above_the_measured_band():
    """Parseval: outside the band a x4 matrix measures, |P - T|^2 = |T|^2 (1 + a^2 - 2 rho a),
    so detail beats zero-filling (P = 0 there) exactly when rho > a / 2."""
    from i2i_keras import physics

    rng = np.random.default_rng(1)
    truth = rng.random((48, 48))
    output = 0.6 * truth + 0.3 * rng.random((48, 48))
    rho, a = transfer.unmeasured_detail(output, truth)
    _, measured = physics.lowres_kspace(physics.kspace_truncate(truth, 4, keep_size=False),
                                        truth.shape)
    p, t = physics.fft2c(output)[~measured], physics.fft2c(truth)[~measured]
    energy = np.sum(np.abs(t) ** 2)
    assert 0.0 < rho < 1.0 and a > 0.0
    assert np.sum(np.abs(p - t) ** 2) == pytest.approx(energy * (1 + a * a - 2 * rho * a), rel=1e-9)
    assert transfer.unmeasured_detail(-output, truth)[0] == pytest.approx(-rho)  # sign kept


def test_the_quick_sr_check_writes_its_tables_with_bicubic_untouched_by_training(tmp_path):
    """One epoch, with the intensity gain on: the tables, JSON and figure are written, and
    bicubic (no training involved) scores what it scored in the full run of 2026-12-03
    on the real brain close-up (20.15 dB), so the degradation is tutorial 02's."""
    import json

    assert transfer.main(["--quick", "--tasks", "sr", "--sr-gain", "0.5", "1.1",
                          "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "transfer.json").read_text())["sr"]["rows"]
    assert [r["scan"] for r in rows] == list(io.MR_EXAMPLES)
    assert rows[0]["psnr"]["bicubic"] == pytest.approx(20.15, abs=0.005)
    assert "--sr-gain 0.5 1.1" in (tmp_path / "transfer.md").read_text()
    assert (tmp_path / "transfer.png").stat().st_size > 0


def test_the_quick_texture_trade_off_scores_each_weight_with_the_measured_band(tmp_path):
    """One network per texture weight, each scored + DC only, next to bicubic (untouched by
    training: the full run's 20.15 dB on the brain close-up) and zero-filling."""
    import json

    assert transfer.main(["--quick", "--tasks", "texture", "--texture-weights", "0", "0.1",
                          "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "transfer.json").read_text())["texture"]
    assert res["weights"] == [0.0, 0.1]
    methods = list(res["rows"][0]["psnr"])
    assert methods == ["bicubic", "zero-filled", "U-Net, texture 0 + DC",
                       "U-Net, texture 0.1 + DC"]
    assert res["rows"][0]["psnr"]["bicubic"] == pytest.approx(20.15, abs=0.005)
    for row in res["rows"]:
        assert list(row["detail_rho"]) == list(row["detail_amplitude"]) == methods
        assert all(-1.0 <= v <= 1.0 for v in row["detail_rho"].values())
    text = (tmp_path / "transfer.md").read_text()
    assert "L1 + w x high-frequency energy" in text and "sharpness within 25 %" in text
    assert "rho > a / 2" in text
    assert (tmp_path / "tradeoff.png").stat().st_size > 0
