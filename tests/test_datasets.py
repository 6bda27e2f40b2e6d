import numpy as np
import pytest

from i2i_keras import datasets
from i2i_keras.datasets import CT_WINDOW
from i2i_keras.io import I2IDataError


def test_hu_round_trip_is_exact():
    hu = np.random.default_rng(0).uniform(-1024, 3071, (4, 32, 32)).astype(np.float32)
    back = CT_WINDOW.denormalize(CT_WINDOW.normalize(hu))
    np.testing.assert_allclose(back, hu, atol=1e-3)
    ints = np.arange(-1024, 3072, dtype=np.float32)
    np.testing.assert_array_equal(np.round(CT_WINDOW.denormalize(CT_WINDOW.normalize(ints))), ints)
    np.testing.assert_array_equal(CT_WINDOW.normalize([-1000.0, 500.0, 2000.0]), [-1, 0, 1])
    assert CT_WINDOW.range == 3000.0


def test_window_needs_high_above_low():
    with pytest.raises(ValueError):
        datasets.IntensityWindow(100, 0)


def test_split_by_patient_never_splits_a_patient():
    patients = np.repeat(np.arange(20), 5)
    parts = datasets.split_by_patient(patients, val=0.15, test=0.15, seed=1)
    sets = {k: set(patients[v]) for k, v in parts.items()}
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"]
                or sets["val"] & sets["test"])
    assert sum(len(v) for v in parts.values()) == len(patients)
    assert len(sets["test"]) == 3 and len(sets["val"]) == 3


def test_augmentation_moves_both_images_together():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 32, 32)).astype(np.float32)
    ds = datasets.paired_dataset(x, -2 * x, batch_size=3, augment=True, max_shift=5,
                                 patch_size=24, seed=0)
    for a, b in ds.take(2):
        assert a.shape == (3, 24, 24, 1)
        np.testing.assert_allclose(b.numpy(), -2 * a.numpy(), atol=1e-6)
    # Some image of a batch has moved (each one alone stays put with probability 1/242).
    first = next(iter(ds))[0].numpy()
    assert not all(any(np.allclose(f[..., 0], x[i, 5:29, 5:29]) for i in range(6))
                   for f in first)


def test_bad_pairs_get_clear_errors():
    good = np.zeros((2, 16, 16), np.float32)
    with pytest.raises(I2IDataError, match="not on the same grid"):
        datasets.paired_dataset(good, np.zeros((2, 16, 8), np.float32))
    with pytest.raises(I2IDataError, match="integer array"):
        datasets.paired_dataset(good, np.zeros((2, 16, 16), np.int16))
    bad = good.copy()
    bad[1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        datasets.paired_dataset(good, bad)
    with pytest.raises(ValueError, match="stack of images"):
        datasets.paired_dataset(good[0], good[0])


def test_normalize_mr_maps_zero_and_percentile():
    mr = np.random.default_rng(0).uniform(0, 5, (3, 20, 20)).astype(np.float32)
    out = datasets.normalize_mr(mr, percentile=100)
    np.testing.assert_allclose(out.max(axis=(1, 2)), 1.0, atol=1e-6)
    flat = datasets.normalize_mr(np.zeros((1, 4, 4), "f4") + 1e-9)
    np.testing.assert_allclose(flat.min(), -1, atol=1e-2)
