"""Image-quality numbers in physical units, with the data range always stated.

All functions take NumPy arrays of one image (H, W) or a stack (N, H, W); errors for
CT are in HU. PSNR and SSIM depend on the data range you give them: it is a required
argument, and the tutorials print it next to every score.

Example
-------
>>> import numpy as np
>>> target = np.zeros((1, 8, 8)); pred = target + 10.0
>>> mae(pred, target), round(psnr(pred, target, data_range=1000.0), 1)
(10.0, 40.0)
"""

from __future__ import annotations

import numpy as np

from . import phantoms


def _stack(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[None] if x.ndim == 2 else x


def mae(pred, target, mask=None) -> float:
    """Mean absolute error (in the images' unit, e.g. HU) over ``mask`` (all if None)."""
    err = np.abs(_stack(pred) - _stack(target))
    return float(err.mean() if mask is None else err[_stack(mask).astype(bool)].mean())


def mean_error(pred, target, mask=None) -> float:
    """Mean signed error, pred - target (the bias; + means too bright / too dense)."""
    err = _stack(pred) - _stack(target)
    return float(err.mean() if mask is None else err[_stack(mask).astype(bool)].mean())


def psnr(pred, target, data_range: float, mask=None) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(data_range² / MSE), over all images
    (or ``mask``). data_range: the span of the values, e.g. 3000 for [-1000, 2000] HU."""
    err = (_stack(pred) - _stack(target)) ** 2
    mse = err.mean() if mask is None else err[_stack(mask).astype(bool)].mean()
    return float(10.0 * np.log10(data_range ** 2 / max(mse, 1e-20)))


def ssim(pred, target, data_range: float) -> float:
    """Structural similarity (Wang et al. 2004), scikit-image's, mean over the images."""
    from skimage.metrics import structural_similarity

    p, t = _stack(pred), _stack(target)
    return float(np.mean([structural_similarity(a, b, data_range=data_range)
                          for a, b in zip(p, t)]))


def tissue_masks(labels) -> dict[str, np.ndarray]:
    """Body mask and one mask per tissue class of :data:`phantoms.TISSUE_GROUPS`,
    from phantom label images (N, H, W)."""
    labels = np.asarray(labels)
    masks = {"body": labels != phantoms.TISSUES["air"].label}
    masks.update(phantoms.group_masks(labels))
    return masks


def tissue_masks_from_ct(ct_hu, body_mask) -> dict[str, np.ndarray]:
    """Tissue classes by thresholding a reference CT (for real data with no labels):
    air cavity < -400 HU, fat -400 to -30, soft tissue -30 to 200, bone > 200, inside
    the body mask."""
    ct, body = _stack(ct_hu), _stack(body_mask).astype(bool)
    return {"body": body,
            "bone": body & (ct > 200),
            "soft tissue": body & (ct >= -30) & (ct <= 200),
            "fat": body & (ct >= -400) & (ct < -30),
            "air cavity": body & (ct < -400)}


def hu_report(pred_hu, target_hu, masks: dict[str, np.ndarray],
              data_range: float = 3000.0) -> dict[str, float]:
    """The numbers a synthetic-CT paper reports, all in HU: MAE and ME (bias) in the
    body, MAE per tissue class, and PSNR in the body over ``data_range`` HU.

    masks: from :func:`tissue_masks` or :func:`tissue_masks_from_ct` ("body" required).
    """
    body = masks["body"]
    out = {"MAE body (HU)": mae(pred_hu, target_hu, body),
           "ME body (HU)": mean_error(pred_hu, target_hu, body)}
    for name, m in masks.items():
        if name != "body" and np.any(m):
            out[f"MAE {name} (HU)"] = mae(pred_hu, target_hu, m)
    out[f"PSNR body (dB, range {data_range:g} HU)"] = psnr(pred_hu, target_hu, data_range, body)
    return out
