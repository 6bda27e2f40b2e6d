"""Structure-aware checks of a translated image: what MAE and PSNR do not see.

A lesion covers a few pixels of thousands; a bone invented inside an air cavity moves
the body MAE by a fraction of an HU. These measures look at the structures themselves,
on phantoms where the true tissue of every pixel is known:

* :func:`lesion_contrast`: each lesion's mean minus that of the brain ring around it,
  on the truth and on a translation (kept, faded or removed: :func:`lesion_fate`);
* :func:`false_bone`: bone (> 200 HU) predicted where the truth is air, inside a region
  such as the air cavities: invented structure;
* :func:`gradient_error`: mean difference of the image gradients (blurred or invented
  edges);
* :func:`tissue_dice`: threshold the translation into air, fat, soft tissue and bone
  and compare with the true tissue labels (Dice per class).

Thresholds follow :func:`i2i_keras.metrics.tissue_masks_from_ct` (air below -400 HU,
fat -400 to -30, soft tissue -30 to 200, bone above 200).

Example
-------
>>> import numpy as np
>>> from i2i_keras import phantoms, structure
>>> head = phantoms.head_slice(64, seed=0, z=0.0, lesions=2)
>>> c = structure.lesion_contrast(head.hu[None], head.labels[None])
>>> len(c), bool((c < 0).all())  # oedema is darker than the brain around it on CT
(2, True)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage  # connected components and dilation of the lesion masks

from . import phantoms

T = phantoms.TISSUES
BRAIN = ("grey_matter", "white_matter")
# Classes a CT number decides, with the HU ranges of metrics.tissue_masks_from_ct.
HU_CLASSES: dict[str, tuple[float, float]] = {
    "air": (-np.inf, -400.0), "fat": (-400.0, -30.0),
    "soft tissue": (-30.0, 200.0), "bone": (200.0, np.inf)}


def _stack(x) -> np.ndarray:
    x = np.asarray(x)
    return x[None] if x.ndim == 2 else x


def lesion_contrast(images, labels, ring_px: int = 2, min_pixels: int = 4) -> np.ndarray:
    """Contrast of every lesion: mean inside minus mean of the brain ring around it.

    images: (N, H, W) (e.g. HU); labels: (N, H, W) phantom tissue labels. The ring is
    the grey and white matter within ``ring_px`` pixels of the lesion; lesions or rings
    smaller than ``min_pixels`` are skipped. Returns one value per lesion, in the order
    of the label images (so the arrays of two images of the same labels line up).
    """
    images, labels = _stack(images), _stack(labels)
    brain = np.isin(labels, [T[n].label for n in BRAIN])
    out = []
    for img, lab, br in zip(images, labels, brain):
        blobs, n = ndimage.label(lab == T["lesion"].label)
        for k in range(1, n + 1):
            blob = blobs == k
            ring = ndimage.binary_dilation(blob, iterations=ring_px) & ~blob & br
            if blob.sum() >= min_pixels and ring.sum() >= min_pixels:
                out.append(img[blob].mean() - img[ring].mean())
    return np.asarray(out, np.float64)


def lesion_fate(predicted: np.ndarray, true: np.ndarray, kept: float = 0.5) -> dict[str, int]:
    """Count lesions whose contrast a translation kept, faded or removed.

    predicted, true: per-lesion contrasts (:func:`lesion_contrast`) of the translation
    and of the truth. A lesion is *kept* when the translation shows at least ``kept``
    of its true contrast with the same sign, *faded* when it shows less but the same
    sign, *removed* when its contrast is zero or of the opposite sign.

    >>> lesion_fate(np.array([-9.0, -2.0, 1.0]), np.array([-10.0, -10.0, -10.0]))
    {'kept': 1, 'faded': 1, 'removed': 1}
    """
    predicted, true = np.asarray(predicted, float), np.asarray(true, float)
    if predicted.shape != true.shape:
        raise ValueError(f"{predicted.shape} contrasts against {true.shape}: compute both "
                         "with lesion_contrast on the same label images")
    ratio = predicted / np.where(true == 0, np.nan, true)
    return {"kept": int(np.sum(ratio >= kept)),
            "faded": int(np.sum((ratio > 0) & (ratio < kept))),
            "removed": int(np.sum(~(ratio > 0)))}


def false_bone(pred_hu, true_hu, region=None, air_hu: float = -400.0,
               bone_hu: float = 200.0) -> dict[str, float]:
    """Bone invented where the truth is air: pixels of ``region`` (e.g. the air cavities,
    (N, H, W) bool; all if None) whose true CT is below ``air_hu`` and whose prediction
    is above ``bone_hu``.

    Returns ``air_pixels`` (true air in the region), ``false_bone_pixels``,
    ``fraction`` (of the air pixels) and ``mean_hu`` (the prediction's mean over the air
    pixels, HU; the truth there is about -1000).

    >>> truth = np.full((1, 4, 4), -1000.0); pred = truth.copy(); pred[0, 0, :2] = 700.0
    >>> false_bone(pred, truth)["false_bone_pixels"], false_bone(pred, truth)["fraction"]
    (2, 0.125)
    """
    pred, truth = _stack(pred_hu).astype(np.float64), _stack(true_hu)
    where = truth < air_hu
    if region is not None:
        where &= _stack(region).astype(bool)
    n, invented = int(where.sum()), int((where & (pred > bone_hu)).sum())
    return {"air_pixels": n, "false_bone_pixels": invented,
            "fraction": invented / n if n else float("nan"),
            "mean_hu": float(pred[where].mean()) if n else float("nan")}


def gradient_error(pred, target, mask=None) -> float:
    """Mean absolute difference of the gradient magnitudes of ``pred`` and ``target``
    ((N, H, W), central differences, in image units per pixel) over ``mask``: high where
    edges are blurred, shifted or invented, zero for an offset of the whole image.

    >>> ramp = np.tile(np.arange(8.0), (1, 8, 1))                 # slope 1 per pixel
    >>> gradient_error(ramp + 5.0, ramp), gradient_error(2 * ramp, ramp)
    (0.0, 1.0)
    """
    def magnitude(x):
        gy, gx = np.gradient(_stack(x).astype(np.float64), axis=(1, 2))
        return np.hypot(gy, gx)

    diff = np.abs(magnitude(pred) - magnitude(target))
    return float(diff.mean() if mask is None else diff[_stack(mask).astype(bool)].mean())


def classify_hu(hu) -> np.ndarray:
    """Class index per pixel (order of :data:`HU_CLASSES`: air, fat, soft tissue, bone)
    of a CT in HU, by thresholds.

    >>> classify_hu(np.array([-1000.0, -400.0, -100.0, -30.0, 200.0, 201.0])).tolist()
    [0, 1, 1, 2, 2, 3]
    """
    hu = np.asarray(hu, np.float64)
    # The boundaries of metrics.tissue_masks_from_ct: -400 is fat, -30 and 200 soft tissue.
    return np.select([hu < -400, hu < -30, hu <= 200], [0, 1, 2], 3).astype(np.int8)


# The phantom tissues in each class: where each tissue's table CT number falls (so
# lesions and vessels are soft tissue, calcifications bone, fatty marrow fat).
LABEL_CLASSES: dict[str, tuple[str, ...]] = {
    name: tuple(t.name for t in T.values() if classify_hu(t.hu) == i)
    for i, name in enumerate(HU_CLASSES)}


def label_classes(labels) -> np.ndarray:
    """Class index per pixel (order of :data:`HU_CLASSES`) of phantom tissue labels."""
    labels = np.asarray(labels)
    out = np.full(labels.shape, -1, np.int8)
    for i, names in enumerate(LABEL_CLASSES.values()):
        out[np.isin(labels, [T[n].label for n in names])] = i
    return out


def dice(a, b) -> float:
    """Dice overlap 2|A∩B| / (|A| + |B|) of two boolean masks (NaN when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else float("nan")


def tissue_dice(pred_hu, labels, region=None) -> dict[str, float]:
    """Dice per class of the thresholded translation (:func:`classify_hu`) against the
    classes of the true labels (:func:`label_classes`), over ``region`` (e.g. the body;
    all pixels if None). A synthetic CT can have a good MAE and still move the skull's
    edge or fill an air cavity: the bone and air Dice show it."""
    pred, truth = classify_hu(_stack(pred_hu)), label_classes(_stack(labels))
    keep = np.ones(truth.shape, bool) if region is None else _stack(region).astype(bool)
    return {name: dice((pred == i) & keep, (truth == i) & keep)
            for i, name in enumerate(HU_CLASSES)}
