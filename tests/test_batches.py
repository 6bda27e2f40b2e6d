"""i2i_keras.batches: the pipelines of the JAX and PyTorch backends (NumPy PyDatasets).

They must keep the promises of the tf.data ones: both images of a pair moved by one
draw, every pass a permutation, the order and augmentation a function of (seed, pass)
only, a validation set in its order, and unpaired stacks drawn independently."""

import keras
import numpy as np
import pytest

from i2i_keras.batches import PairedBatches, UnpairedBatches, augment


def _stack(n=12, size=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, size, size, 1)).astype("f4")


def _ids(ds):
    """The images of one pass, named by their (unique) top-left values."""
    return [float(a[0, 0, 0]) for i in range(len(ds)) for a in ds[i][0]]


def test_both_images_of_a_pair_move_together():
    x = _stack()
    ds = PairedBatches(x, 3 * x + 1, batch_size=4, augment=True, max_shift=2, patch_size=6)
    for i in range(len(ds)):
        a, b = ds[i]
        assert a.shape == (4, 6, 6, 1) and b.shape == (4, 6, 6, 1)
        np.testing.assert_array_equal(b, 3 * a + 1)  # a different draw would break this
    # and the crop is a real piece of the reflect-padded image: every row of a is a run
    # of 6 consecutive pixels of some row of the (possibly flipped) padded image
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    a = ds[0][0][0, :, :, 0]
    sources = [padded[k, :, :, 0] for k in range(len(x))] + \
        [padded[k, :, ::-1, 0] for k in range(len(x))]
    assert any(np.array_equal(a, p[i:i + 6, j:j + 6]) for p in sources
               for i in range(5) for j in range(5))


def test_each_pass_is_a_new_permutation_fixed_by_seed_and_pass():
    x = _stack()
    ds = PairedBatches(x, x, batch_size=4, seed=7)
    first = _ids(ds)
    assert sorted(first) == sorted(float(v) for v in x[:, 0, 0, 0])
    assert _ids(ds) == first  # asking again within a pass: the same batches
    ds.on_epoch_end()  # what Keras calls after each epoch
    second = _ids(ds)
    assert second != first and sorted(second) == sorted(first)
    again = PairedBatches(x, x, batch_size=4, seed=7)
    again.set_epoch(1)  # a resumed run jumping to pass 1
    assert _ids(again) == second
    again.set_epoch(None)
    assert _ids(again) == first  # back to counting: no pass finished yet
    assert _ids(PairedBatches(x, x, batch_size=4, seed=8)) != first


def test_a_validation_set_keeps_its_order_and_its_last_batch():
    x = _stack(10)
    ds = PairedBatches(x, x, batch_size=4, shuffle=False, drop_remainder=False)
    assert len(ds) == 3 and ds[2][0].shape[0] == 2
    np.testing.assert_array_equal(np.concatenate([ds[i][0] for i in range(3)]), x)
    assert len(PairedBatches(x, x, batch_size=4)) == 2  # training sets drop it
    with pytest.raises(IndexError, match="batch 3 of a data set of 3"):
        ds[3]


def test_unpaired_stacks_are_drawn_independently():
    a, b = _stack(9, seed=1), _stack(5, seed=2)
    ds = UnpairedBatches(a, b, batch_size=2)
    assert len(ds) == 2  # min(9, 5) // 2: a pass ends with the shorter stack
    xa, xb = ds[0]
    assert np.isin(xa[:, 0, 0, 0], a[:, 0, 0, 0]).all() and np.isin(xb[:, 0, 0, 0],
                                                                     b[:, 0, 0, 0]).all()
    # the same stack on both sides: two shuffles and two augmentations, not one
    x = _stack(6)
    same = UnpairedBatches(x, x, batch_size=6)
    assert _ids(same) != [float(v) for v in same[0][1][:, 0, 0, 0]]
    one = UnpairedBatches(x[:1], x[:1], batch_size=1, augment=True)
    flips = []
    for epoch in range(16):
        one.set_epoch(epoch)
        flips.append([not np.array_equal(im[0], x[0]) for im in one[0]])
    assert {f[0] for f in flips} == {True, False}
    assert any(fa != fb for fa, fb in flips)  # a flipped while b was not, or the reverse


def test_augment_is_a_function_of_the_generator_state():
    image = _stack(1, 8)[0]
    one = augment(image, np.random.default_rng([3, 1]), (6, 6), max_shift=2, crop=True)
    two = augment(image, np.random.default_rng([3, 1]), (6, 6), max_shift=2, crop=True)
    np.testing.assert_array_equal(one, two)


def test_fit_takes_them():
    x = _stack(8)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same")])
    model.compile("adam", "mae")
    history = model.fit(PairedBatches(x, x, batch_size=4, augment=True), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
