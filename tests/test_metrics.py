import numpy as np
import pytest

from i2i_keras import baselines, metrics, phantoms


def test_psnr_mae_and_bias_known_values():
    target = np.zeros((2, 10, 10))
    pred = target + 30.0
    assert metrics.mae(pred, target) == 30.0
    assert metrics.mean_error(pred, target) == 30.0
    assert metrics.psnr(pred, target, data_range=3000.0) == pytest.approx(40.0)
    mask = np.zeros_like(target, bool)
    mask[:, :5] = True
    pred[:, 5:] = 1000.0
    assert metrics.mae(pred, target, mask) == 30.0
    assert metrics.ssim(target + 1, target + 1, data_range=10.0) == pytest.approx(1.0)


def test_hu_report_per_tissue():
    head = phantoms.head_slice(64, seed=0, z=-0.5)
    masks = metrics.tissue_masks(head.labels[None])
    pred = head.hu[None] + np.where(masks["bone"], 100.0, 0.0)
    rep = metrics.hu_report(pred, head.hu[None], masks)
    assert rep["MAE bone (HU)"] == pytest.approx(100.0)
    assert rep["MAE soft tissue (HU)"] == 0.0
    assert 0 < rep["MAE body (HU)"] < 100
    from_ct = metrics.tissue_masks_from_ct(head.hu, masks["body"])
    assert from_ct["bone"].sum() > 0 and from_ct["soft tissue"].sum() > from_ct["bone"].sum()


def test_bulk_density_recovers_a_piecewise_constant_mapping():
    rng = np.random.default_rng(0)
    mr = np.zeros((4, 32, 32))
    ct = np.full((4, 32, 32), -1000.0)
    yy, xx = np.mgrid[:32, :32]
    inner = (yy - 15.5) ** 2 + (xx - 15.5) ** 2 < 13 ** 2  # a round "head"
    levels = rng.choice([0.2, 0.5, 0.9], size=(4, 32, 32))
    mr[:, inner] = levels[:, inner]
    ct[:, inner] = np.select([levels == 0.2, levels == 0.5, levels == 0.9],
                             [1000.0, 30.0, -100.0])[:, inner]
    rule = baselines.BulkDensity(n_classes=3).fit(mr, ct)
    np.testing.assert_allclose(rule.predict(mr), ct)
    assert "thresholds" in repr(rule)
    with pytest.raises(RuntimeError):
        baselines.BulkDensity().predict(mr)
