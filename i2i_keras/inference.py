"""Sliding-window inference: a network trained on patches, applied to images of any size.

A network trained on 64² patches sees a 256² slice or a whole volume as overlapping
tiles. Each tile is predicted (in batches) and the predictions are blended: every
output pixel is the weighted mean of the tiles that cover it, with weights that fall
toward each tile's edge (where the network saw zero padding instead of anatomy), so
no seam shows where tiles meet.

* :func:`sliding_window`: a stack of images (N, *spatial, C) -> (N, *spatial, C_out),
  for any number of spatial axes: 2D images with a 2D network, and, unchanged, 3D
  volumes with a 3D network (patch of three sides).
* :func:`predict_volume`: a volume (slices, rows, cols[, C]) through a 2D network, slice
  by slice (``mode="2d"``) or with each slice's neighbours as extra channels
  (``mode="2.5d"``, ``context`` slices on each side), all slices' tiles in shared
  batches.
* :func:`tile_starts`, :func:`blend_weights` and :func:`seam_ratio` (how much larger the
  step across tile borders is than elsewhere) for checking the result.

Tile starts are multiples of ``align`` (give a U-Net 2**depth): then every tile's
pooling grid lines up with the whole image's, and away from the image border the
blended output agrees with one prediction of the whole image up to the tiles' edge
effects, which the weights make small.

Example (a "network" that doubles its input: tiling must not change that):
>>> import numpy as np
>>> image = np.random.default_rng(0).random((1, 100, 90, 1)).astype("float32")
>>> out = sliding_window(image, lambda x: 2 * x, patch=32, progress=False)
>>> out.shape, bool(np.allclose(out, 2 * image, atol=1e-5))
((1, 100, 90, 1), True)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np

from .io import I2IDataError

BLENDS = ("gaussian", "linear", "constant")


def tile_starts(size: int, patch: int, overlap: float = 0.5, align: int = 1) -> list[int]:
    """Start indices of tiles of side ``patch`` covering ``size`` pixels along one axis.

    Tiles step by about patch x (1 - overlap), rounded down to a multiple of ``align``;
    the last tile ends at the last pixel (it is moved back, so it may overlap more).
    ``size`` must be at least ``patch``.

    >>> tile_starts(100, 32, overlap=0.5)
    [0, 16, 32, 48, 64, 68]
    >>> tile_starts(128, 64, overlap=0.25, align=8)
    [0, 48, 64]
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if size < patch:
        raise ValueError(f"size {size} is smaller than the patch {patch}")
    step = max(align, int(patch * (1 - overlap)) // align * align)
    starts = list(range(0, size - patch + 1, step))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def blend_weights(patch: Sequence[int], kind: str = "gaussian") -> np.ndarray:
    """The weight of each pixel of a tile when tiles are blended, shape ``patch``.

    "gaussian": a Gaussian of sigma = side / 8 centred on the tile (nnU-Net's choice),
    floored at 1e-3 of its peak so corners still count where only one tile covers
    them. "linear": a pyramid, 1 at the centre falling linearly to about 0 at the edges.
    "constant": all ones (plain averaging: seams where the tile count changes).

    >>> w = blend_weights((8,), "linear")
    >>> [round(float(v), 2) for v in w]
    [0.14, 0.43, 0.71, 1.0, 1.0, 0.71, 0.43, 0.14]
    """
    if kind not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {kind!r}")
    weights = np.ones((), np.float64)
    for side in patch:
        r = np.arange(side) + 0.5 - side / 2  # distance from the centre, in pixels
        if kind == "gaussian":
            w = np.exp(-0.5 * (r / (side / 8)) ** 2)
        elif kind == "linear":
            w = 1.0 - np.abs(r) / (side / 2)
        else:
            w = np.ones(side)
        weights = np.multiply.outer(weights, w)
    weights = weights / weights.max()
    return np.maximum(weights, 1e-3).astype(np.float32)


def _as_predict(model) -> Callable[[np.ndarray], np.ndarray]:
    """A function batch -> NumPy predictions, for a Keras model or any callable."""
    if hasattr(model, "predict_on_batch"):
        return lambda x: np.asarray(model.predict_on_batch(x))
    return lambda x: np.asarray(model(x))


def _check_fits(spatial: Sequence[int], patch: Sequence[int], name: str) -> None:
    if len(patch) != len(spatial):
        raise ValueError(f"patch {tuple(patch)} has {len(patch)} sides, the {name} has "
                         f"{len(spatial)} spatial axes {tuple(spatial)}")
    small = [(s, p) for s, p in zip(spatial, patch) if s < p]
    if small:
        raise I2IDataError(
            f"the {name} ({' x '.join(map(str, spatial))}) is smaller than the patch "
            f"({' x '.join(map(str, patch))}) the network works on. Pad it to at least the "
            "patch (np.pad(..., mode='edge') or with the background value), resample it to "
            "a finer spacing, or use a network trained on smaller patches")


def sliding_window(images: np.ndarray, model, patch: int | Sequence[int],
                   overlap: float = 0.5, blend: str = "gaussian", batch_size: int = 16,
                   align: int = 1, progress: bool = True,
                   tile: Callable[[int, tuple], np.ndarray] | None = None) -> np.ndarray:
    """Predict every image of a stack by overlapping tiles, blended.

    Args:
        images: (N, *spatial, C) float: N 2D images (N, H, W, C), or N volumes
            (N, D, H, W, C) for a 3D network. Only its shape is used when ``tile`` is
            given.
        model: a Keras model, or any function (B, *patch, C) -> (B, *patch, C_out).
        patch: tile side(s), e.g. 64 or (64, 64) (one int: the same on every axis).
        overlap: fraction of a tile shared with its neighbour (0.5: half).
        blend: "gaussian", "linear" or "constant" (:func:`blend_weights`).
        batch_size: tiles per call of the model. The last batch is padded to full size
            so a compiled model is not traced again for a new shape.
        align: tile starts are multiples of this (2**depth for a U-Net).
        progress: a tqdm progress bar over the batches (on standard output).
        tile: optional ``tile(n, slices)`` returning the input tile of image ``n`` at
            ``slices`` (a tuple of slice objects), for inputs too large to build at once
            (:func:`predict_volume` builds 2.5D tiles this way).

    Returns:
        float32 (N, *spatial, C_out).
    """
    from tqdm import tqdm

    shape = tuple(np.shape(images))
    spatial = shape[1:-1]
    patch = tuple([int(patch)] * len(spatial) if np.isscalar(patch) else (int(p) for p in patch))
    _check_fits(spatial, patch, "image")
    grids = [tile_starts(s, p, overlap, align) for s, p in zip(spatial, patch)]
    corners = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(spatial))
    jobs = [(n, tuple(slice(c, c + p) for c, p in zip(corner, patch)))
            for n in range(shape[0]) for corner in corners]
    weights = blend_weights(patch, blend)
    # The weight sum is the same for every image: one map, accumulated once.
    norm = np.zeros(spatial, np.float32)
    for corner in corners:
        norm[tuple(slice(c, c + p) for c, p in zip(corner, patch))] += weights
    tile = tile or (lambda n, where: images[(n, *where)])
    predict = _as_predict(model)
    out = None
    batches = range(0, len(jobs), batch_size)
    for start in tqdm(batches, desc="tiles", disable=not progress, file=sys.stdout,
                      mininterval=2.0, unit="batch"):
        chunk = jobs[start:start + batch_size]
        x = np.stack([tile(n, where) for n, where in chunk]).astype(np.float32)
        if len(chunk) < batch_size and len(jobs) > batch_size:
            x = np.concatenate([x, np.repeat(x[-1:], batch_size - len(chunk), 0)])
        y = predict(x)[: len(chunk)]
        if out is None:
            out = np.zeros((shape[0], *spatial, y.shape[-1]), np.float32)
        for (n, where), pred in zip(chunk, y):
            out[(n, *where)] += pred * weights[..., None]
    return out / norm[..., None]


def neighbour_slices(volume: np.ndarray, index: int, context: int) -> np.ndarray:
    """Slice ``index`` of a volume (slices, rows, cols, C) with ``context`` neighbours on
    each side as channels: (rows, cols, (2 context + 1) C), in slice order (index -
    context first). Beyond the first and last slice the edge slice is repeated.

    >>> v = np.arange(3, dtype="f4")[:, None, None, None] * np.ones((3, 2, 2, 1), "f4")
    >>> neighbour_slices(v, 0, 1)[0, 0].tolist()
    [0.0, 0.0, 1.0]
    """
    picks = np.clip(np.arange(index - context, index + context + 1), 0, len(volume) - 1)
    return np.concatenate([volume[k] for k in picks], axis=-1)


def predict_volume(volume: np.ndarray, model, patch: int | Sequence[int] | None = None,
                   mode: str = "2d", context: int = 1, overlap: float = 0.5,
                   blend: str = "gaussian", batch_size: int = 16, align: int = 1,
                   progress: bool = True) -> np.ndarray:
    """Translate a volume with a 2D network, slice by slice.

    Args:
        volume: (slices, rows, cols) or (slices, rows, cols, C), normalised as the
            network was trained.
        model: a Keras model or function on (B, h, w, C_in) tiles.
        patch: tile side(s) in-plane, e.g. 64; None: whole slices (then rows and cols
            must suit the network, e.g. multiples of 2**depth for a U-Net).
        mode: "2d" (C_in = C) or "2.5d" (C_in = (2 context + 1) C: each slice with its
            ``context`` neighbours on each side, in slice order).
        overlap, blend, batch_size, align, progress: as for :func:`sliding_window`.

    Returns:
        float32 (slices, rows, cols, C_out).

    >>> v = np.random.default_rng(1).random((5, 48, 40)).astype("float32")
    >>> middle = lambda x: x[..., 1:2]  # a "2.5D network" returning the central slice
    >>> out = predict_volume(v, middle, patch=32, mode="2.5d", progress=False)
    >>> out.shape, bool(np.allclose(out[..., 0], v, atol=1e-5))
    ((5, 48, 40, 1), True)
    """
    if mode not in ("2d", "2.5d"):
        raise ValueError(f"mode must be '2d' or '2.5d', got {mode!r} (a 3D network takes "
                         "the whole volume: sliding_window(volume[None], model, patch=(d, h, w)))")
    volume = np.asarray(volume, np.float32)
    if volume.ndim == 3:
        volume = volume[..., None]
    if volume.ndim != 4:
        raise I2IDataError(f"expected a volume (slices, rows, cols[, channels]), got shape "
                           f"{volume.shape}")
    spatial = volume.shape[1:3]
    patch = spatial if patch is None else patch
    width = volume.shape[-1] * (2 * context + 1 if mode == "2.5d" else 1)
    if mode == "2d":
        return sliding_window(volume, model, patch, overlap, blend, batch_size, align,
                              progress)
    return sliding_window(np.broadcast_to(np.float32(0), (*volume.shape[:3], width)), model,
                          patch, overlap, blend, batch_size, align, progress,
                          tile=lambda n, where: neighbour_slices(volume, n, context)[where])


def seam_ratio(image: np.ndarray, borders: Sequence[int], axis: int = -1,
               mask: np.ndarray | None = None) -> float:
    """How much larger the step across given positions is than the typical step.

    The mean absolute difference between pixels ``b - 1`` and ``b`` for each position b
    in ``borders`` along ``axis``, divided by the mean absolute difference between
    neighbouring pixels elsewhere along that axis (inside ``mask``, if given, a boolean
    array of the image's shape). About 1: no seam; a tile seam makes it larger.

    >>> ramp = np.tile(np.arange(16.0), (4, 1))
    >>> stepped = ramp + 5.0 * (np.arange(16) >= 8)
    >>> round(seam_ratio(ramp, [8]), 2), round(seam_ratio(stepped, [8]), 2)
    (1.0, 6.0)
    """
    image = np.moveaxis(np.asarray(image, np.float64), axis, -1)
    steps = np.abs(np.diff(image, axis=-1))
    valid = np.ones(steps.shape, bool)
    if mask is not None:
        m = np.moveaxis(np.asarray(mask, bool), axis, -1)
        valid = m[..., 1:] & m[..., :-1]
    at_border = np.zeros(steps.shape[-1], bool)
    at_border[[b - 1 for b in borders if 0 < b < image.shape[-1]]] = True
    across = steps[valid & at_border]
    elsewhere = steps[valid & ~at_border]
    if not across.size or not elsewhere.size:
        raise ValueError("no pixel pairs across the borders or elsewhere inside the mask")
    return float(across.mean() / max(elsewhere.mean(), 1e-12))
