"""From arrays to training batches: normalisation that can be undone, splits by patient,
and pipelines of pairs with the same augmentation applied to both images (``tf.data``
on TensorFlow; on JAX or PyTorch the ``keras.utils.PyDataset`` classes of
:mod:`i2i_keras.batches`, which need no TensorFlow).

Networks see values in [-1, 1]; people read HU. :class:`IntensityWindow` maps a stated
physical range linearly onto [-1, 1] and back, exactly (no clipping), so every number
reported in a tutorial is in the physical unit.

Example
-------
>>> import numpy as np
>>> from i2i_keras.datasets import CT_WINDOW
>>> CT_WINDOW.normalize(np.array([-1000.0, 500.0, 2000.0]))
array([-1.,  0.,  1.], dtype=float32)
>>> CT_WINDOW.denormalize(np.array([0.0]))
array([500.], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import io
from .io import I2IDataError, require_float


@dataclass(frozen=True)
class IntensityWindow:
    """A linear map of the physical range [low, high] (in ``unit``) onto [-1, 1].

    Values outside the range map outside [-1, 1]; nothing is clipped, so
    ``denormalize(normalize(x)) == x`` up to float32 rounding (< 1e-3 HU for CT).
    """

    low: float
    high: float
    unit: str = "HU"

    def __post_init__(self):
        if not self.high > self.low:
            raise ValueError(f"window needs high > low, got [{self.low}, {self.high}]")

    @property
    def range(self) -> float:
        """high - low: the data range (in ``unit``) that PSNR on this window uses."""
        return float(self.high - self.low)

    def normalize(self, x) -> np.ndarray:
        """Physical values (any shape, float) → float32, with low → -1 and high → +1.

        Integer arrays are refused: they are usually stored DICOM values that still
        need their rescale slope and intercept (see :mod:`i2i_keras.io`)."""
        x = np.asarray(require_float(x, "values", f"values in {self.unit}"), np.float64)
        return ((x - self.low) * (2.0 / self.range) - 1.0).astype(np.float32)

    def denormalize(self, y) -> np.ndarray:
        """Inverse of :meth:`normalize`: network values → physical values (float32)."""
        y = np.asarray(y, dtype=np.float64)
        return ((y + 1.0) * (self.range / 2.0) + self.low).astype(np.float32)


# Air (-1000 HU) to dense cortical bone (+2000 HU): every tissue of the head fits.
CT_WINDOW = IntensityWindow(-1000.0, 2000.0, "HU")


def normalize_mr(mr: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """MR magnitude images (N, H, W) → float32 in about [-1, 1], each image on its own.

    MR intensities have no physical unit: 0 maps to -1 and the image's ``percentile``
    to +1, so the scanner's gain and the bias of one image do not matter.
    """
    mr = _as_float_images(mr, "mr")
    scale = np.percentile(mr.reshape(len(mr), -1), percentile, axis=1)
    scale = np.maximum(scale, 1e-6).reshape((-1,) + (1,) * (mr.ndim - 1))
    return (2.0 * mr / scale - 1.0).astype(np.float32)


def _as_float_images(x, name: str) -> np.ndarray:
    """Check a stack of images: a float array, finite, at least (N, H, W)."""
    x = require_float(x, name, "normalised or physical values")
    if x.ndim < 3:
        raise I2IDataError(f"{name}: expected a stack of images (N, H, W[, C]), got shape "
                           f"{x.shape}; add a leading axis with x[None] for one image")
    bad = ~np.isfinite(x)
    if bad.any():
        where = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise I2IDataError(f"{name}: {int(bad.sum())} NaN/Inf values (in images {where}...); "
                           "fix or drop those images before training")
    return x


def split_by_patient(patient, val: float = 0.15, test: float = 0.15,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Split slice indices into train/val/test so that no patient is in two parts.

    patient: (N,) the patient of each slice. val, test: fractions of *patients*.
    Returns {"train": idx, "val": idx, "test": idx} (sorted slice indices). Splitting
    by slice instead would put neighbouring slices of one head on both sides and
    report an optimistic score.
    """
    patient = np.asarray(patient)
    patients = np.unique(patient)
    if len(patients) < 3:
        raise ValueError(f"need at least 3 patients to split train/val/test, got {len(patients)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(patients)
    n_test = max(1, int(round(test * len(patients))))
    n_val = max(1, int(round(val * len(patients))))
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
             "train": order[n_test + n_val:]}
    return {k: np.flatnonzero(np.isin(patient, v)) for k, v in parts.items()}


def split_pairs(data: dict, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """MR/CT pairs split by patient (70/15/15) into "train", "val" and "test".

    data: ``mr`` (N, H, W), ``ct`` (N, H, W) in HU, ``patient`` (N,) and either
    ``labels`` (N, H, W) tissue labels (phantoms) or ``body`` (N, H, W) bool (real data:
    the tissue classes then come from thresholding the CT, see
    :func:`i2i_keras.metrics.tissue_masks_from_ct`). Each split holds ``x`` (N, H, W, 1)
    normalised MR (:func:`normalize_mr`), ``y`` (N, H, W, 1) CT mapped to [-1, 1] by
    :data:`CT_WINDOW`, and the input arrays of its patients.

    >>> rng = np.random.default_rng(0)
    >>> data = {"mr": rng.random((10, 8, 8)), "ct": np.zeros((10, 8, 8)),
    ...         "body": np.ones((10, 8, 8), bool), "patient": np.repeat(np.arange(5), 2)}
    >>> parts = split_pairs(data)
    >>> {k: v["x"].shape for k, v in parts.items()}
    {'test': (2, 8, 8, 1), 'val': (2, 8, 8, 1), 'train': (6, 8, 8, 1)}
    """
    parts = split_by_patient(data["patient"], val=0.15, test=0.15, seed=seed)
    x = normalize_mr(data["mr"])[..., None]
    y = CT_WINDOW.normalize(data["ct"])[..., None]
    keep = [k for k in ("mr", "ct", "labels", "body", "patient") if k in data]
    return {name: {"x": x[idx], "y": y[idx], **{k: np.asarray(data[k])[idx] for k in keep}}
            for name, idx in parts.items()}


def phantom_mr_ct_splits(patients: int, slices_per_patient: int, size: int, seed: int = 0,
                         progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Registered MR (T1) / CT phantom pairs of ``patients`` heads (``size``² pixels of a
    220 mm field of view), split by patient as :func:`split_pairs` describes (with
    tissue ``labels``). Used by tutorials 00, 03 and 04 with a
    :class:`~i2i_keras.recipes.Settings`' sizes."""
    from . import phantoms

    data = phantoms.mr_ct_pairs(range(patients), slices_per_patient, size=size,
                                progress=progress)
    return split_pairs(data, seed=seed)


def synthrad_splits(size: int, patients: int, slices_per_patient: int, crop: int = 256,
                    region: str = "brain", seed: int = 0) -> tuple[dict, float]:
    """SynthRAD2023 MR/CT pairs split like :func:`split_pairs`, and their pixel size (mm).

    Axial slices (``slices_per_patient`` a patient) are cropped to ``crop``² at 1 mm,
    then averaged down to ``size``² (CT in HU; the body mask kept where more than half
    of a coarse pixel is body). Needs ``python data_scripts/download.py synthrad2023``.
    """
    from . import physics

    pairs = load_synthrad_slices(region, n_patients=patients,
                                 slices_per_patient=slices_per_patient, size=crop)
    factor = crop / size  # also the pixel size in mm: the crop has 1 mm pixels
    data = split_pairs(
        {"mr": physics.downsample(pairs.inputs, factor),
         "ct": physics.downsample(pairs.targets, factor),
         "body": physics.downsample(pairs.masks.astype(np.float32), factor) > 0.5,
         "patient": np.asarray(pairs.patient)}, seed=seed)
    return data, factor


def _with_channels(x: np.ndarray) -> np.ndarray:
    return x[..., None] if x.ndim == 3 else x


def _training_pair(x: np.ndarray, y: np.ndarray, names=("input", "target")) -> tuple:
    """Two image stacks as float32 (N, H, W, C) training pairs: each float and finite,
    both on one grid (:func:`i2i_keras.io.check_pair`; the channels may differ)."""
    x = _with_channels(_as_float_images(x, names[0]))
    y = _with_channels(_as_float_images(y, names[1]))
    io.check_pair(x[..., 0], y[..., 0], names=names)
    return x.astype(np.float32), y.astype(np.float32)


def paired_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 8, shuffle: bool = True,
                   augment: bool = False, patch_size: int | None = None, max_shift: int = 0,
                   flip: bool = True, seed: int = 0, drop_remainder: bool | None = None):
    """(input, target) batches from two aligned image stacks: a ``tf.data.Dataset`` when
    Keras runs on TensorFlow, a ``keras.utils.PyDataset`` (:class:`i2i_keras.batches.
    PairedBatches`, no TensorFlow needed) on JAX or PyTorch; ``model.fit`` takes either.

    x, y: (N, H, W) or (N, H, W, C) float arrays, already normalised. augment: apply,
    identically to both images of a pair, a random left-right flip (``flip``), a
    random shift of up to ``max_shift`` pixels (reflect padding) and, with
    ``patch_size``, a random square crop. Yields ((B, h, w, Cx), (B, h, w, Cy)) float32.
    Training sets (shuffle=True) drop the last incomplete batch.

    ``seed`` fixes the order and the augmentation of every pass over the data, through
    stateless random ops (see :func:`set_epoch`): two data sets made alike give the same
    batches, in any process.

    >>> ds = paired_dataset(np.zeros((10, 64, 64), "f4"), np.zeros((10, 64, 64), "f4"), 4)
    >>> [tuple(t.shape) for t in next(iter(ds))]
    [(4, 64, 64, 1), (4, 64, 64, 1)]
    >>> x = np.arange(6, dtype="f4")[:, None, None] * np.ones((1, 8, 8), "f4")
    >>> first = [int(a[0, 0, 0, 0]) for a, _ in paired_dataset(x, x, 1, augment=True, seed=3)]
    >>> first == [int(a[0, 0, 0, 0]) for a, _ in paired_dataset(x, x, 1, augment=True, seed=3)]
    True
    """
    x, y = _training_pair(x, y)
    h, w = x.shape[1:3]
    if patch_size is not None and not (0 < patch_size <= min(h, w)):
        raise ValueError(f"patch_size {patch_size} must be between 1 and the image size {h}x{w}")
    drop = shuffle if drop_remainder is None else drop_remainder
    if not _tensorflow_backend():
        from .batches import PairedBatches

        return PairedBatches(x, y, batch_size, shuffle, augment, patch_size, max_shift, flip,
                             seed, drop)
    return _paired_tf_data(x, y, batch_size, shuffle, augment, patch_size, max_shift, flip,
                           seed, drop)


def _paired_tf_data(x, y, batch_size, shuffle, augment, patch_size, max_shift, flip, seed,
                    drop):
    """:func:`paired_dataset` as a ``tf.data`` pipeline (checked (N, H, W, C) stacks)."""
    import tensorflow as tf

    n, h, w, cx = x.shape
    if not (shuffle or augment):  # e.g. a validation set: the images in their order
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        return ds.batch(batch_size, drop_remainder=drop).prefetch(tf.data.AUTOTUNE)

    epoch = _EpochOverride()
    out_hw = (patch_size, patch_size) if patch_size else (h, w)
    move = _augment_fn(out_hw, cx + y.shape[-1], flip, max_shift, bool(patch_size))
    x, y = tf.constant(x), tf.constant(y)

    def pair(pass_key, i):
        a, b = tf.gather(x, i), tf.gather(y, i)
        if augment:  # one random draw moves both images
            moved = move(tf.concat([a, b], axis=-1), _seed(seed, pass_key, 1, i))
            a, b = moved[..., :cx], moved[..., cx:]
        return a, b

    ds = _passes([n], seed, shuffle, epoch).map(pair, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop).prefetch(tf.data.AUTOTUNE)
    ds.i2i_epoch = epoch
    return ds


def _tensorflow_backend() -> bool:
    """Whether Keras runs on TensorFlow (then the pipelines are ``tf.data``'s)."""
    import keras

    return keras.backend.backend() == "tensorflow"


class _EpochOverride:
    """The epoch a data set's next pass should be (-1: none set; see :func:`set_epoch`)."""

    def __init__(self):
        import tensorflow as tf

        with tf.init_scope():  # an eager variable, even when made inside a tf.function
            self.variable = tf.Variable(-1, dtype=tf.int64, trainable=False, name="epoch")


def set_epoch(dataset, epoch: int | None) -> None:
    """Make the next pass over ``dataset`` (made by :func:`paired_dataset` or
    :func:`unpaired_dataset`) the pass of epoch ``epoch``: its order and augmentation
    then depend on the data set's seed and ``epoch`` alone, so a training run resumed at
    epoch 7 in a new process sees the batches an uninterrupted run saw in its epoch 7
    (:class:`i2i_keras.training.BackupAndRestore` calls this at each epoch's start).
    ``None`` returns to the default: every pass (every ``iter``) draws a new key for
    its order and augmentation, from a sequence that the seed (and
    ``keras.utils.set_random_seed``) fixes.

    >>> x = np.arange(8, dtype="f4")[:, None, None] * np.ones((1, 4, 4), "f4")
    >>> ds = paired_dataset(x, x, 8, seed=0)
    >>> set_epoch(ds, 3)
    >>> order = [int(v) for v in next(iter(ds))[0][:, 0, 0, 0]]
    >>> order == [int(v) for v in next(iter(ds))[0][:, 0, 0, 0]], sorted(order) == list(range(8))
    (True, True)
    """
    if hasattr(dataset, "set_epoch"):  # i2i_keras.batches (JAX and PyTorch backends)
        dataset.set_epoch(epoch)
        return
    override = getattr(dataset, "i2i_epoch", None)
    if override is None:
        raise TypeError("set_epoch needs a data set made by i2i_keras.datasets.paired_dataset "
                        "or unpaired_dataset (shuffled or augmented), as it returned it: "
                        f"got {type(dataset).__name__}")
    override.variable.assign(-1 if epoch is None else int(epoch))


def _seed(seed: int, pass_key, *path):
    """A stateless-random seed (shape (2,), int64) for one use within one pass: the data
    set's ``seed`` and the pass's key, then each number of ``path`` folded in (which
    draw, which image), so no two uses share a seed."""
    import tensorflow as tf

    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(pass_key, tf.int64)])
    for value in path:
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(value, tf.int64))
    return key


def _passes(sizes: list[int], seed: int, shuffle: bool, epoch: _EpochOverride):
    """The indices of each pass over stacks of ``sizes`` images: (pass_key, i_0, i_1, ...)
    for min(sizes) elements, each stack in its own order drawn from (seed, pass_key).

    The pass key is the epoch set by :func:`set_epoch` or, by default, a new value at
    every pass from ``tf.data.Dataset.random`` (drawn when the iterator is made, so
    iterators made and dropped unused, as ``fit`` does, keep the sequence fixed)."""
    import tensorflow as tf

    n = min(sizes)

    def one_pass(drawn):
        set_by_user = epoch.variable.read_value()
        pass_key = tf.where(set_by_user >= 0, set_by_user, drawn)
        orders = []
        for k, size in enumerate(sizes):
            order = tf.range(size, dtype=tf.int64)
            if shuffle:
                order = tf.random.experimental.stateless_shuffle(order, _seed(seed, pass_key,
                                                                              0, k))
            orders.append(order[:n])
        return tf.data.Dataset.from_tensor_slices((tf.fill([n], pass_key), *orders))

    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    return keys.flat_map(one_pass).apply(tf.data.experimental.assert_cardinality(n))


def _augment_fn(out_hw: tuple[int, int], channels: int, flip: bool, max_shift: int,
                patch: bool):
    """The augmentation of one image (H, W, C) with a stateless seed (shape (2,)): random
    flip, shift, crop; the same seed gives the same transform."""
    import tensorflow as tf

    def transform(image, seed):
        flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        if flip:
            image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        if max_shift:
            s = int(max_shift)
            image = tf.pad(image, [[s, s], [s, s], [0, 0]], mode="REFLECT")
        if max_shift or patch:
            image = tf.image.stateless_random_crop(image, out_hw + (channels,), crop_seed)
        return image

    return transform


def unpaired_dataset(a: np.ndarray, b: np.ndarray, batch_size: int = 1, augment: bool = False,
                     max_shift: int = 0, flip: bool = True, seed: int = 0):
    """(a, b) batches for CycleGAN, a and b drawn independently: a ``tf.data.Dataset`` on
    TensorFlow, :class:`i2i_keras.batches.UnpairedBatches` on JAX or PyTorch.

    a, b: (N, H, W[, C]) and (M, H, W[, C]) normalised float images of the two domains
    (e.g. MR of some patients, CT of others); N and M may differ. Each epoch shuffles
    both stacks on their own and zips them, so it lasts min(N, M) // batch_size steps
    and no pair is ever fixed. augment: random flip and shift of up to ``max_shift``
    pixels, drawn separately for a and b. ``seed`` fixes orders and augmentation as in
    :func:`paired_dataset` (stateless random ops; see :func:`set_epoch`).

    >>> ds = unpaired_dataset(np.zeros((10, 32, 32), "f4"), np.ones((7, 32, 32), "f4"), 2)
    >>> [tuple(t.shape) for t in next(iter(ds))], len(list(ds))
    ([(2, 32, 32, 1), (2, 32, 32, 1)], 3)
    """
    stacks = [_with_channels(_as_float_images(v, name)).astype(np.float32)
              for v, name in ((a, "a"), (b, "b"))]
    if stacks[0].shape[1:3] != stacks[1].shape[1:3]:
        raise I2IDataError(f"a and b images must have the same size, got "
                           f"{stacks[0].shape[1:3]} and {stacks[1].shape[1:3]}; resample one "
                           "domain to the other's grid first")
    if not _tensorflow_backend():
        from .batches import UnpairedBatches

        return UnpairedBatches(*stacks, batch_size, augment, max_shift, flip, seed)
    import tensorflow as tf

    moves = [_augment_fn(v.shape[1:3], v.shape[3], flip, max_shift, False) for v in stacks]
    epoch = _EpochOverride()
    a, b = (tf.constant(v) for v in stacks)

    def draw(pass_key, i, j):
        images = [tf.gather(a, i), tf.gather(b, j)]
        if augment:  # drawn separately for a and b
            images = [move(image, _seed(seed, pass_key, 1 + k, index))
                      for k, (move, image, index) in enumerate(zip(moves, images, (i, j)))]
        return tuple(images)

    ds = _passes([len(v) for v in stacks], seed, True, epoch)
    ds = ds.map(draw, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    ds.i2i_epoch = epoch
    return ds


def misalign(images: np.ndarray, shift_px: float = 0.0, rotation_deg: float = 0.0,
             seed: int = 0, fill: float | None = None) -> np.ndarray:
    """Move each image (N, H, W[, C]) by its own random rigid transform: a shift of
    exactly ``shift_px`` pixels in a random direction and a rotation about the centre
    drawn uniformly from ±``rotation_deg`` degrees (bilinear interpolation; ``fill``,
    default the image's minimum, outside). Applied to the targets of a paired set it
    imitates imperfect registration, as between an MR and a CT taken on different days.
    """
    from scipy import ndimage

    x = np.asarray(require_float(images, "images", "normalised images"), np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty_like(x)
    h, w = x.shape[1:3]
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    for i, img in enumerate(x):
        angle = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
        direction = rng.uniform(0, 2 * np.pi)
        shift = shift_px * np.array([np.sin(direction), np.cos(direction)])
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        offset = centre - rot @ (centre + shift)  # output p samples input R (p - c - s) + c
        cval = float(img.min()) if fill is None else fill
        planes = img[..., None] if img.ndim == 2 else img
        moved = np.stack([ndimage.affine_transform(planes[..., c], rot, offset, order=1,
                                                   mode="constant", cval=cval)
                          for c in range(planes.shape[-1])], -1)
        out[i] = moved[..., 0] if img.ndim == 2 else moved
    return out


def cached(name: str, make, **params) -> dict[str, np.ndarray]:
    """``make(**params)`` (a dict of arrays), stored once in ``$I2I_DATA_DIR/cache``.

    Simulating a training set (CT projections, many doses) can take minutes; the second
    run of a notebook should not pay again. The file name carries a hash of ``name``,
    ``params`` and the phantom generator's version, so changing any of them makes a new
    file. Delete the folder to
    start afresh. Set I2I_NO_CACHE=1 to always recompute.

    >>> d = cached("demo", lambda n: {"x": np.arange(n)}, n=3)  # doctest: +SKIP
    """
    import hashlib
    import json
    import os

    from .downloads import data_dir
    from .phantoms import VERSION

    key = hashlib.sha1(json.dumps([name, VERSION, params], sort_keys=True,
                                  default=str).encode())
    path = data_dir() / "cache" / f"{name}-{key.hexdigest()[:12]}.npz"
    if path.exists() and os.environ.get("I2I_NO_CACHE") != "1":
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    result = make(**params)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A file of this process's own (two notebooks, or two test workers, may make the same
    # set at once), renamed into place: a crash while writing leaves no half file behind.
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **result)
    tmp.replace(path)
    return result


# Loaders of the real open data sets that data_scripts/ downloads (LoDoPaB-CT, IXI,
# SynthRAD2023): each turns its data set's own layout into the arrays used above.
from .loaders import (  # noqa: E402,F401
    load_ixi_pairs,
    load_ixi_slices,
    load_lodopab,
    load_synthrad_case,
    load_synthrad_slices,
)
