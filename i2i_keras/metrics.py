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


def brain_mask(labels, margin_px: int = 3) -> np.ndarray:
    """Brain pixels (grey and white matter, CSF, lesions) farther than ``margin_px``
    pixels from any bone, air or air-cavity pixel, from phantom labels (N, H, W).

    The error of a synthetic CT at a bone edge is dominated by where the edge falls;
    inside this mask what counts is whether soft-tissue CT numbers are right."""
    from scipy import ndimage

    labels = np.asarray(labels)
    labels = labels[None] if labels.ndim == 2 else labels
    t = phantoms.TISSUES
    brain = np.isin(labels, [t[n].label for n in ("grey_matter", "white_matter", "csf",
                                                   "lesion")])
    hard = np.isin(labels, [t[n].label for n in ("air", "air_cavity", "cortical_bone",
                                                  "marrow", "calcification")])
    far = np.stack([ndimage.distance_transform_edt(~h) > margin_px for h in hard])
    return brain & far


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


def split_masks(split: dict) -> dict[str, np.ndarray]:
    """Body and tissue-class masks of a split (:func:`i2i_keras.datasets.split_pairs`):
    from the phantom ``labels`` when it has them, else by thresholding its ``ct`` inside
    its ``body`` mask (real data)."""
    if "labels" in split:
        return tissue_masks(split["labels"])
    return tissue_masks_from_ct(split["ct"], split["body"])


def report(predictions_hu: dict[str, np.ndarray], split: dict) -> dict[str, dict]:
    """:func:`hu_report` of each method's synthetic CT (name -> (N, H, W) HU) against the
    split's CT, tissue by tissue; print it with :func:`format_table`."""
    masks = split_masks(split)
    return {name: hu_report(pred, split["ct"], masks) for name, pred in predictions_hu.items()}


def format_table(reports: dict[str, dict]) -> str:
    """A plain-text table: one row per metric, one column per method.

    >>> print(format_table({"rule": {"MAE (HU)": 150.0}, "net": {"MAE (HU)": 45.04}}))
                        rule             net
    MAE (HU)           150.0            45.0
    """
    methods = list(reports)
    rows = list(next(iter(reports.values())))
    width = max(len(r) for r in rows)
    cols = [max(16, len(m) + 2) for m in methods]
    lines = [" " * width + "".join(f"{m:>{c}}" for m, c in zip(methods, cols))]
    for r in rows:
        lines.append(f"{r:<{width}}" + "".join(f"{reports[m].get(r, np.nan):>{c}.1f}"
                                                for m, c in zip(methods, cols)))
    return "\n".join(lines)


def psnr_in_window(pred, target, window: tuple[float, float], mask=None) -> float:
    """PSNR (dB) of images shown in a display window: both images are clipped to
    window = (low, high) (e.g. (-160, 240) HU for soft tissue) and the data range is
    the window width, so errors in bone or air outside the window do not count.

    >>> t = np.zeros((8, 8)); round(psnr_in_window(t + 4.0, t, (-200.0, 200.0)), 1)
    40.0
    """
    lo, hi = window
    return psnr(np.clip(_stack(pred), lo, hi), np.clip(_stack(target), lo, hi), hi - lo, mask)


def _radial_bins(shape: tuple[int, int], pixel_mm: float):
    """Radial spatial frequency (cycles/mm) of each FFT bin and the bin width."""
    fy = np.fft.fftfreq(shape[0], d=pixel_mm)
    fx = np.fft.fftfreq(shape[1], d=pixel_mm)
    radius = np.hypot(fy[:, None], fx[None, :])
    return radius, 1.0 / (min(shape) * pixel_mm)


def noise_power_spectrum(images, roi=None, pixel_mm: float = 1.0, reference=None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged noise power spectrum (NPS) in HU²·mm² (image unit² · mm²).

    The NPS tells *how* noise is spread over spatial frequencies, not just how much
    there is: a filter that over-smooths moves the noise to low frequencies (blotchy,
    "plastic" texture) even when its standard deviation equals a sharper method's.

    The noise is ``images - reference`` (e.g. the noise-free phantom or a denoised
    image minus the truth; pass ``reference=0`` for images that are noise already), or
    with ``reference=None`` the images minus their mean over the stack (repeated
    scans of one object; scaled by N/(N-1) so the estimate is unbiased). In each ROI
    the mean is removed, then NPS(f) = pixel_mm² / (H W) · <|DFT(noise)|²>, averaged over
    images and over rings of width 1/(min(H, W) · pixel_mm) cycles/mm. Its integral over
    the 2D frequency plane is the noise variance; white noise of standard deviation
    sigma has a flat NPS of sigma² · pixel_mm². Use an ROI in a uniform region.

    images: (N, H, W) or (H, W). roi: None (whole image) or (slice_y, slice_x).
    Returns (freq_per_mm (K,), nps (K,)) from 0 to the Nyquist frequency 0.5/pixel_mm.

    >>> noise = np.random.default_rng(0).normal(0, 10, (20, 64, 64))
    >>> f, nps = noise_power_spectrum(noise, pixel_mm=0.5, reference=0)
    >>> bool(abs(nps[1:].mean() / (100 * 0.25) - 1) < 0.05)   # 10² HU² · 0.5² mm²
    True
    """
    images = _stack(images)
    if reference is None:
        if len(images) < 2:
            raise ValueError("with reference=None the noise is the deviation from the mean "
                             "over the stack: give at least 2 images, or a reference")
        noise = (images - images.mean(axis=0)) * np.sqrt(len(images) / (len(images) - 1))
    else:
        noise = images - _stack(reference) if np.ndim(reference) else images - reference
    if roi is not None:
        noise = noise[(slice(None),) + tuple(roi)]
    noise = noise - noise.mean(axis=(-2, -1), keepdims=True)
    h, w = noise.shape[-2:]
    power = (np.abs(np.fft.fft2(noise)) ** 2).mean(axis=0) * pixel_mm ** 2 / (h * w)
    radius, step = _radial_bins((h, w), pixel_mm)
    nyquist = 0.5 / pixel_mm
    k = np.rint(radius / step).astype(int)
    n_bins = int(np.floor(nyquist / step + 1e-9)) + 1
    keep = k < n_bins
    counts = np.bincount(k[keep], minlength=n_bins)
    sums = np.bincount(k[keep], weights=power[keep], minlength=n_bins)
    return np.arange(n_bins) * step, sums / np.maximum(counts, 1)


def noise_sd(image) -> float:
    """The noise SD of one image, estimated from the image alone (after Immerkaer 1996).

    A 3×3 kernel that cancels constant, linear and most smooth structure leaves white
    noise times a known gain (√36 = 6). Immerkaer averages |image ∗ kernel|; we take its
    median (SD = median / (0.6745 · 6), the Gaussian's median absolute value), so edges
    that fill less than half the image do not count: a CT's skull edges triple the mean
    but hardly move the median. Texture still leaks in (about +15 % on our textured
    phantoms), so read it as an upper bound, in the image's units (HU for CT).
    Resampling (anti-aliasing) smooths noise and lowers the estimate.

    image: (H, W), at least 3×3. Returns the SD in the image's units.

    >>> rng = np.random.default_rng(0)
    >>> round(noise_sd(rng.normal(0.0, 20.0, (256, 256))), 0)  # white noise of SD 20 HU
    20.0
    """
    from scipy.signal import convolve2d

    image = np.asarray(image, np.float64)
    if image.ndim != 2 or min(image.shape) < 3:
        raise ValueError(f"noise_sd takes one (H, W) image of at least 3x3, got {image.shape}")
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    response = convolve2d(image, kernel, mode="valid")
    return float(np.median(np.abs(response)) / (0.6745 * 6))


def high_frequency_energy(images, cutoff: float = 0.25) -> float:
    """Sharpness: the fraction of an image's spectral energy above ``cutoff`` x Nyquist.

    Each image's mean is removed, so the fraction is of its contrast energy; spatial
    frequencies are radial, in units of the Nyquist frequency (0.5 cycle/pixel), and
    the corners of the spectrum beyond Nyquist count as high. A blurred or
    over-smoothed image scores lower, a sharper (or noisier) one higher: compare
    methods on the same images, next to PSNR, since noise also raises it.

    images: (N, H, W) or (H, W). Returns the mean fraction over images, in [0, 1].

    >>> rng = np.random.default_rng(0)
    >>> round(high_frequency_energy(rng.normal(size=(4, 64, 64)), cutoff=0.5), 2)  # white
    0.8
    """
    images = _stack(images)
    images = images - images.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(images)) ** 2
    radius, _ = _radial_bins(images.shape[-2:], 1.0)
    high = radius > cutoff * 0.5
    total = power.sum(axis=(-2, -1))
    return float(np.mean(power[:, high].sum(axis=-1) / np.maximum(total, 1e-30)))
