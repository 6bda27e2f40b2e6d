"""One seed, the same numbers: the seed of a data set fixes its order and augmentation
(stateless random ops, drawn from the seed and the pass or epoch), the phantom seeds
fix the images, the split seed the split, ``keras.utils.set_random_seed`` the initial
weights; so two runs of a notebook print the same numbers."""

import asyncio
import re
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from i2i_keras import datasets, models, phantoms, training

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def _images(n, size=16, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size)).astype("float32")


def _passes(ds, n=3):
    return [[t.numpy() for batch in ds for t in batch] for _ in range(n)]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def test_two_fresh_seeded_augmented_data_sets_give_the_same_batches():
    x = _images(10)
    make = lambda seed: datasets.paired_dataset(x, -x, 4, augment=True, max_shift=3,  # noqa: E731
                                                patch_size=12, seed=seed)
    first, second = _passes(make(7)), _passes(make(7))
    assert all(_same(a, b) for a, b in zip(first, second))
    assert not _same(first[0], first[1])  # each pass draws anew...
    assert not _same(first[0], _passes(make(8), 1)[0])  # ...and the seed matters
    for a, b in zip(first[0][::2], first[0][1::2]):  # the pair moved together
        np.testing.assert_array_equal(b, -a)

    a, b = _images(9, seed=1), _images(6, seed=2)
    make = lambda: datasets.unpaired_dataset(a, b, 2, augment=True, max_shift=2, seed=3)  # noqa: E731
    first, second = _passes(make()), _passes(make())
    assert all(_same(u, v) for u, v in zip(first, second))
    assert not _same(first[0], first[1])


def test_set_epoch_fixes_a_pass_whatever_came_before():
    x = _images(8)
    one = datasets.paired_dataset(x, x, 8, augment=True, max_shift=2, seed=0)
    other = datasets.paired_dataset(x, x, 8, augment=True, max_shift=2, seed=0)
    _passes(other, 2)  # other has been iterated before: no matter
    datasets.set_epoch(one, 5)
    datasets.set_epoch(other, 5)
    epoch5 = _passes(one, 2)
    assert _same(epoch5[0], epoch5[1]) and _same(epoch5[0], _passes(other, 1)[0])
    datasets.set_epoch(one, 6)
    assert not _same(epoch5[0], _passes(one, 1)[0])
    datasets.set_epoch(one, None)  # back to a new draw every pass
    default = _passes(one, 2)
    assert not _same(default[0], default[1])
    with pytest.raises(TypeError, match="paired_dataset"):
        datasets.set_epoch(datasets.paired_dataset(x, x, 8, shuffle=False), 1)


def test_phantoms_splits_and_initial_weights_follow_their_seeds():
    one = phantoms.mr_ct_pairs(range(3), 2, size=32, progress=False)
    again = phantoms.mr_ct_pairs(range(3), 2, size=32, progress=False)
    assert all(np.array_equal(one[k], again[k]) for k in one)
    other = phantoms.mr_ct_pairs(range(3, 6), 2, size=32, progress=False)
    assert not np.array_equal(one["mr"], other["mr"])

    patients = np.repeat(np.arange(10), 3)
    split = lambda seed: datasets.split_by_patient(patients, seed=seed)  # noqa: E731
    assert all(np.array_equal(split(4)[k], split(4)[k]) for k in ("train", "val", "test"))
    assert not np.array_equal(split(4)["test"], split(5)["test"])

    def weights(seed):
        keras.utils.set_random_seed(seed)
        return [w.numpy() for w in models.unet((16, 16, 1), depth=1, base_filters=4).weights]

    assert _same(weights(3), weights(3)) and not _same(weights(3), weights(4))


def test_a_seeded_fit_gives_the_same_weights_twice():
    x = _images(8)

    def fit():
        keras.utils.set_random_seed(0)
        gan = training.Pix2Pix(models.unet((16, 16, 1), depth=1, base_filters=4),
                               models.patchgan((16, 16, 1), n_layers=1, base_filters=4))
        gan.compile(training.adam(1e-3, 8), training.adam(1e-3, 8))
        gan.fit(datasets.paired_dataset(x, -x, 2, augment=True, max_shift=2, seed=0),
                epochs=2, verbose=0)
        return [v.numpy() for v in training.state_variables(gan)]

    assert _same(fit(), fit())


# -- a notebook, twice ---------------------------------------------------------------

BAR = re.compile(r"(\d+)/(\d+) \[")  # a tqdm progress bar: "40/40 [00:01<00:00, ...]"
ELAPSED = re.compile(r"\d+(\.\d+)? min\b")  # "this cell took 0.1 min", "wall time: 0.3 min"


def printed(nb) -> list[str]:
    """What a notebook printed, less what depends on the clock: elapsed minutes, and
    progress bars' times, rates and redraws (a bar is kept when complete or when it
    shows metrics, as its count and metrics, once); blank lines left out."""
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = out.get("text", "") or out.get("data", {}).get("text/plain", "")
            for line in "".join(text).replace("\r", "\n").splitlines():
                bar = BAR.search(line)
                if bar is None:
                    line = ELAPSED.sub("(minutes)", line).rstrip()
                elif "=" in line or bar[1] == bar[2]:
                    metrics = re.findall(r"\w+=[^,\]]+", line)
                    line = f"{bar[1]}/{bar[2]} {' '.join(metrics)}"
                else:
                    continue
                if line and (not lines or line != lines[-1]):
                    lines.append(line)
    return lines


def test_the_quickstart_prints_the_same_numbers_twice(tmp_path, monkeypatch):
    """Two kernels run tutorials/00_quickstart.ipynb in quick mode side by side (the
    time of one run, on two cores); every printed line, with every number in it,
    matches."""
    monkeypatch.setenv("I2I_QUICK", "1")
    monkeypatch.delenv("I2I_PRETRAINED", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runs = []
    for k in range(2):
        (tmp_path / str(k)).mkdir()
        nb = nbformat.read(TUTORIALS / "00_quickstart.ipynb", as_version=4)
        runs.append((nb, NotebookClient(nb, timeout=600, kernel_name="python3", resources={
            "metadata": {"path": str(tmp_path / str(k))}})))

    async def both():
        await asyncio.gather(*(client.async_execute() for _, client in runs))

    asyncio.run(both())
    first, second = (printed(nb) for nb, _ in runs)
    numbers = [n for line in first for n in re.findall(r"\d+\.\d+", line)]
    assert len(numbers) > 40 and any("MAE body (HU)" in line for line in first)
    assert first == second
