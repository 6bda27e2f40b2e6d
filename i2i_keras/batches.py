"""Training batches without TensorFlow: the JAX and PyTorch backends' pipelines.

:func:`i2i_keras.datasets.paired_dataset` and :func:`~i2i_keras.datasets.unpaired_dataset`
return a ``tf.data`` pipeline when Keras runs on TensorFlow, and one of the
``keras.utils.PyDataset`` classes below on JAX or PyTorch, so a notebook runs where
TensorFlow is not installed at all (a GPU machine with JAX only, say). Both give the
same thing: shuffled batches whose order and augmentation (a left-right flip, a shift
with reflect padding, a crop, identical for the two images of a pair) are a function
of the seed and the pass over the data alone, so a resumed run sees the batches of the
run it continues (``datasets.set_epoch``). The random numbers differ between the two
(NumPy here, TensorFlow's stateless ops there): same seed, different draws.

Each batch is made when Keras asks for it (``__getitem__``), in NumPy: for 64² to 256²
images that is a small fraction of a training step.

>>> import numpy as np
>>> x = np.arange(6, dtype="f4")[:, None, None, None] * np.ones((1, 8, 8, 1), "f4")
>>> ds = PairedBatches(x, x, batch_size=2, seed=0)
>>> len(ds), [tuple(t.shape) for t in ds[0]]
(3, [(2, 8, 8, 1), (2, 8, 8, 1)])
>>> ds.set_epoch(4)
>>> order = [int(a[0, 0, 0]) for i in range(len(ds)) for a in ds[i][0]]
>>> sorted(order), order == [int(a[0, 0, 0]) for i in range(len(ds)) for a in ds[i][0]]
([0, 1, 2, 3, 4, 5], True)
"""

from __future__ import annotations

import keras
import numpy as np


def augment(image: np.ndarray, rng: np.random.Generator, out_hw: tuple[int, int],
            flip: bool = True, max_shift: int = 0, crop: bool = False) -> np.ndarray:
    """One image (H, W, C) flipped left-right with probability 1/2 (``flip``), shifted by
    up to ``max_shift`` pixels (reflect padding) and/or cropped to ``out_hw`` (``crop``),
    the draws taken from ``rng`` (one generator per image: the same generator state
    gives the same transform, so a pair stacked along C moves as one).

    >>> image = np.arange(16, dtype="f4").reshape(4, 4, 1)
    >>> augment(image, np.random.default_rng(0), (2, 2), flip=False, crop=True).shape
    (2, 2, 1)
    """
    if flip and rng.random() < 0.5:
        image = image[:, ::-1]
    if max_shift:
        s = int(max_shift)
        image = np.pad(image, ((s, s), (s, s), (0, 0)), mode="reflect")
    if max_shift or crop:
        i = int(rng.integers(0, image.shape[0] - out_hw[0] + 1))
        j = int(rng.integers(0, image.shape[1] - out_hw[1] + 1))
        image = image[i:i + out_hw[0], j:j + out_hw[1]]
    return np.ascontiguousarray(image)


class _Passes(keras.utils.PyDataset):
    """What the two pipelines share: the pass counter, ``set_epoch`` and the orders.

    The pass key is the epoch given to :meth:`set_epoch` or, by default, how many passes
    Keras has finished (``on_epoch_end``); every random draw of a pass is seeded by
    (seed, pass key, what is drawn, which image), never by a generator's history."""

    def __init__(self, seed: int):
        super().__init__()  # one worker, no multiprocessing: batches are cheap
        self.seed, self.passes_done, self.epoch = int(seed), 0, None

    def set_epoch(self, epoch: int | None) -> None:
        """Make the coming pass the pass of ``epoch`` (None: back to counting passes)."""
        self.epoch = None if epoch is None else int(epoch)

    def on_epoch_end(self) -> None:
        self.passes_done += 1

    def _rng(self, *path: int) -> np.random.Generator:
        key = self.passes_done if self.epoch is None else self.epoch
        return np.random.default_rng([self.seed, key, *path])

    def _order(self, size: int, shuffle: bool, k: int = 0) -> np.ndarray:
        return self._rng(0, k).permutation(size) if shuffle else np.arange(size)


class PairedBatches(_Passes):
    """(input, target) batches of two aligned stacks (N, H, W, C) float32: the JAX and
    PyTorch form of :func:`i2i_keras.datasets.paired_dataset` (same arguments; the stacks
    are already checked, with channels)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int = 8, shuffle: bool = True,
                 augment: bool = False, patch_size: int | None = None, max_shift: int = 0,
                 flip: bool = True, seed: int = 0, drop_remainder: bool = True):
        super().__init__(seed)
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        self.shuffle, self.augment, self.flip = shuffle, augment, flip
        self.max_shift, self.patch_size = int(max_shift), patch_size
        n = len(x)
        self.batches = n // self.batch_size if drop_remainder else -(-n // self.batch_size)

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a data set of {len(self)} batches")
        chosen = self._order(len(self.x), self.shuffle)[index * self.batch_size:
                                                         (index + 1) * self.batch_size]
        if not self.augment:
            return self.x[chosen], self.y[chosen]
        h, w = self.x.shape[1:3]
        out_hw = (self.patch_size, self.patch_size) if self.patch_size else (h, w)
        cx = self.x.shape[-1]
        moved = np.stack([augment(np.concatenate([self.x[i], self.y[i]], axis=-1),
                                  self._rng(1, int(i)), out_hw, self.flip, self.max_shift,
                                  bool(self.patch_size))
                          for i in chosen])  # one draw moves both images of a pair
        return moved[..., :cx], moved[..., cx:]


class UnpairedBatches(_Passes):
    """(a, b) batches of two independently shuffled stacks: the JAX and PyTorch form of
    :func:`i2i_keras.datasets.unpaired_dataset` (min(N, M) // batch_size batches a pass)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, batch_size: int = 1, augment: bool = False,
                 max_shift: int = 0, flip: bool = True, seed: int = 0):
        super().__init__(seed)
        self.stacks, self.batch_size = (a, b), int(batch_size)
        self.augment, self.flip, self.max_shift = augment, flip, int(max_shift)

    def __len__(self) -> int:
        return min(len(s) for s in self.stacks) // self.batch_size

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a data set of {len(self)} batches")
        out = []
        for k, stack in enumerate(self.stacks):
            chosen = self._order(len(stack), True, k)[index * self.batch_size:
                                                     (index + 1) * self.batch_size]
            if self.augment:  # drawn separately for a and b
                out.append(np.stack([augment(stack[i], self._rng(1 + k, int(i)),
                                             stack.shape[1:3], self.flip, self.max_shift)
                                     for i in chosen]))
            else:
                out.append(stack[chosen])
        return tuple(out)
