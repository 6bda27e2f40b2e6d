"""Domain randomisation: the variety of scanners and patients, drawn per sample.

A network trained on one noise level, one contrast and one anatomy learns that
domain, texture included; shown a real scan it may paint phantom texture onto it.
The remedy the review ends on is data diversity. Here every training sample draws
its own acquisition (:func:`random_acquisition`) and its own anatomy (a head of
:mod:`i2i_keras.phantoms` or a limb of :mod:`i2i_keras.body`, at a random scale), and
:func:`randomized_pairs` makes a data set of them with the noise-free truth beside
every noisy image.

The ranges (:data:`RANGES`) and where they come from:

* MR noise 1 % to 9 % of the brightest tissue's signal and intensity non-uniformity
  (bias) 0 % to 40 %: the levels of the BrainWeb simulator (Cocosco et al. 1997, Kwan
  et al. IEEE TMI 1999), chosen there to span clinical scanners; here as the relative
  noise SD of fully relaxed water and the bias amplitude, drawn uniformly.
* Noise pattern: parallel imaging's g-factor raises the noise in places by 1.0 to
  about 1.5 times at common accelerations (Pruessmann et al., MRM 1999).
* Spin-echo timing around the textbook protocols (T1: TR 400 to 700 ms, TE 8 to 20;
  T2: TR 2500 to 5000, TE 80 to 120; PD: TR 2000 to 4000, TE 10 to 20), at 1.5 T or 3 T
  (the tissue table holds both fields' T1 and T2).
* Resolution: a Gaussian point-spread function of 0 to 2 pixels FWHM (acquired matrix
  up to half the displayed one, as zero-filled interpolation does).
* CT noise 4 to 25 HU SD (a routine head CT at 5 mm slices is near 4 to 8 HU; thin
  slices and low dose give 15 to 25) with a noise grain (reconstruction kernel) of
  0.4 to 1.2 pixels and a kernel blur of 0 to 1.5 pixels FWHM.
* Anatomy: the field of view scaled by 0.85 to 1.2 (a head or limb of another size
  in pixels), and a limb instead of a head in a given fraction of samples.
* Tissue contrast (``contrast=True``, :func:`random_tissue_gain`): spin echo's textbook
  contrast is one of many a clinic shows. Each tissue's MR signal times its own factor,
  log-uniform in 1/2 to 2 (:data:`CONTRAST_GAIN`), and in 30 % of samples fat suppression
  (fat and fatty marrow down to 5 % to 30 %, :data:`FAT_SUPPRESSION`), common in
  abdominal and musculoskeletal protocols; gadolinium's brighter vessels and organs fall
  inside the factors. A milder version of the fully random per-label intensities with
  which SynthSeg (Billot et al., Med. Image Anal. 2023) and SynthSR (Iglesias et al.,
  Sci. Adv. 2023) train networks that work on any contrast.

>>> a = random_acquisition(seed=3)
>>> 0.01 <= a.mr_noise <= 0.09 and 0.0 <= a.bias <= 0.4 and a.field_t in (1.5, 3.0)
True
>>> d = randomized_pairs(range(2), slices_per_patient=2, size=32, progress=False)
>>> d["mr"].shape, d["mr_clean"].shape, d["pixel_mm"].shape
((4, 32, 32), (4, 32, 32), (4,))
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import numpy as np

from . import body, phantoms

# (low, high) of each drawn quantity; sources in the module docstring.
RANGES: dict[str, tuple[float, float]] = {
    "mr_noise": (0.01, 0.09),      # Rician SD / signal of fully relaxed water
    "bias": (0.0, 0.4),            # amplitude of the smooth multiplicative field
    "noise_pattern": (0.0, 0.5),   # g-factor: the noise SD up to 1.5x in places
    "mr_blur_px": (0.0, 2.0),      # MR point-spread FWHM, pixels
    "ct_noise_hu": (4.0, 25.0),    # CT noise SD, HU
    "ct_grain_px": (0.4, 1.2),     # CT noise correlation (kernel), pixels
    "ct_blur_px": (0.0, 1.5),      # CT kernel blur FWHM, pixels
    "fov_scale": (0.85, 1.2),      # field of view / the default's
}
CONTRAST_GAIN = (0.5, 2.0)  # each tissue's MR signal factor, log-uniform (contrast=True)
# (probability, (low, high) of the remaining fat signal) of fat suppression (contrast=True)
FAT_SUPPRESSION = (0.3, (0.05, 0.3))
TIMING: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {  # (TR, TE) ranges, ms
    "T1": ((400.0, 700.0), (8.0, 20.0)),
    "T2": ((2500.0, 5000.0), (80.0, 120.0)),
    "PD": ((2000.0, 4000.0), (10.0, 20.0)),
}


@dataclass(frozen=True)
class Acquisition:
    """One sample's scanner settings (see :data:`RANGES`; blur in pixels)."""

    weighting: str
    field_t: float
    tr_ms: float
    te_ms: float
    mr_noise: float
    bias: float
    noise_pattern: float
    mr_blur_px: float
    ct_noise_hu: float
    ct_grain_px: float
    ct_blur_px: float
    fov_scale: float


def random_acquisition(seed: int, weighting: str = "T1",
                       ranges: dict[str, tuple[float, float]] | None = None) -> Acquisition:
    """Draw one sample's acquisition, uniformly within :data:`RANGES`.

    weighting: "T1", "T2" or "PD": the contrast stays (a T1 network sees T1 images),
    its TR and TE vary around the protocol.
    ranges: overrides of :data:`RANGES` by name, e.g. ``{"mr_blur_px": (0.0, 0.0)}`` for
    a sharp image; the other quantities are drawn as without it (same seed, same value).

    >>> a, b = random_acquisition(3), random_acquisition(3, ranges={"mr_blur_px": (0, 0)})
    >>> b.mr_blur_px, b.mr_noise == a.mr_noise
    (0.0, True)
    """
    if weighting not in TIMING:
        raise ValueError(f"weighting must be one of {sorted(TIMING)}, got {weighting!r}")
    unknown = set(ranges or {}) - set(RANGES)
    if unknown:
        raise ValueError(f"unknown ranges {sorted(unknown)}; names: {sorted(RANGES)}")
    rng = np.random.default_rng([seed, 303])
    (tr_lo, tr_hi), (te_lo, te_hi) = TIMING[weighting]
    drawn = {name: float(rng.uniform(lo, hi))
             for name, (lo, hi) in (RANGES | (ranges or {})).items()}
    return Acquisition(weighting=weighting, field_t=float(rng.choice([1.5, 3.0])),
                       tr_ms=float(rng.uniform(tr_lo, tr_hi)),
                       te_ms=float(rng.uniform(te_lo, te_hi)), **drawn)


def random_tissue_gain(seed: int) -> np.ndarray:
    """Factors on each tissue's MR signal (indexed by label) for another contrast.

    Each tissue log-uniform in :data:`CONTRAST_GAIN`; with the probability of
    :data:`FAT_SUPPRESSION`, fat and fatty marrow further down to its residual range.
    Pass to ``HeadSlice.mr(tissue_gain=...)``.

    >>> g = random_tissue_gain(0)
    >>> g.shape == (len(phantoms.TISSUES),) and bool(((g > 0.01) & (g <= 2.0)).all())
    True
    """
    rng = np.random.default_rng([seed, 305])
    low, high = np.log(CONTRAST_GAIN)
    gain = np.exp(rng.uniform(low, high, len(phantoms.TISSUES))).astype(np.float32)
    probability, residual = FAT_SUPPRESSION
    if rng.random() < probability:
        for name in ("fat", "yellow_marrow"):
            gain[phantoms.TISSUES[name].label] = rng.uniform(*residual)
    return gain


def scan(anatomy: phantoms.HeadSlice, a: Acquisition, seed: int,
         tissue_gain: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """MR and CT of one slice with acquisition ``a``, each with its noise-free twin.

    Returns ``mr`` and ``mr_clean`` (the same bias field and blur, no noise), ``ct`` and
    ``ct_clean`` (the kernel's blur, no noise), float32 (size, size).
    """
    px = anatomy.pixel_mm
    # mr(noise=a.mr_noise, noise_pattern=..., seed=seed) and mr(noise=0.0, seed=seed), and
    # ct(a.ct_noise_hu, seed=seed + 1) and ct(0.0): each pair shares its noise-free image,
    # computed once (the images are those of the four calls).
    mr, mr_clean = anatomy._mr_pair(
        weighting=a.weighting, field_t=a.field_t, tr_ms=a.tr_ms, te_ms=a.te_ms, bias=a.bias,
        noise=a.mr_noise, seed=seed, noise_pattern=a.noise_pattern, blur_mm=a.mr_blur_px * px,
        tissue_gain=tissue_gain)
    ct, ct_clean = anatomy._ct_pair(a.ct_noise_hu, seed=seed + 1, grain_px=a.ct_grain_px,
                                    blur_mm=a.ct_blur_px * px)
    return {"mr": mr, "mr_clean": mr_clean, "ct": ct, "ct_clean": ct_clean}


def randomized_pairs(patients: list[int] | range, slices_per_patient: int = 8,
                     size: int = 128, weighting: str = "T1", limb_fraction: float = 0.3,
                     z_range: tuple[float, float] = (-0.6, 0.6), lesions: bool | int = False,
                     progress: bool = True, contrast: bool = False,
                     ranges: dict[str, tuple[float, float]] | None = None) -> dict:
    """Registered MR/CT slices with a new acquisition and scale for every slice.

    patients: seeds; each is a head, or with probability ``limb_fraction`` a limb (a limb
    patient's slices are sections at other levels: other seeds of the same limb family).
    Returns the arrays of :func:`i2i_keras.phantoms.mr_ct_pairs` (``mr``, ``ct``,
    ``ct_clean``, ``labels``, ``patient``, ``z``) plus ``mr_clean`` (no noise),
    ``anatomy`` ("head" or "limb" per slice), ``pixel_mm`` per slice (the scale varies)
    and ``acquisition`` (one dict of :class:`Acquisition` fields per slice).
    contrast: also randomise each tissue's MR signal (:func:`random_tissue_gain`; the
    factors are returned as ``tissue_gain`` (N, len(TISSUES))); CT is not affected.
    ranges: overrides of :data:`RANGES` (see :func:`random_acquisition`).
    """
    from tqdm import tqdm

    if not 0.0 <= limb_fraction <= 1.0:
        raise ValueError(f"limb_fraction must be in [0, 1], got {limb_fraction}")
    zs = np.linspace(*z_range, slices_per_patient) if slices_per_patient > 1 else [0.0]
    jobs = [(p, k, float(z)) for p in patients for k, z in enumerate(zs)]
    keys = ("mr", "mr_clean", "ct", "ct_clean", "labels", "patient", "z", "anatomy",
            "pixel_mm", "acquisition") + (("tissue_gain",) if contrast else ())
    out = {k: [] for k in keys}
    for p, k, z in tqdm(jobs, desc="phantoms", disable=not progress, mininterval=2.0,
                        file=sys.stdout):
        sample = 1000 * p + k
        a = random_acquisition(sample, weighting, ranges)
        limb = np.random.default_rng([p, 304]).random() < limb_fraction
        if limb:
            anatomy = body.limb_slice(size, seed=sample, fov_mm=180.0 * max(a.fov_scale, 1.0))
        else:
            anatomy = phantoms.head_slice(size, seed=p, z=z, lesions=lesions,
                                          fov_mm=220.0 * a.fov_scale)
        gain = random_tissue_gain(sample) if contrast else None
        images = scan(anatomy, a, seed=10_000 + sample, tissue_gain=gain)
        for name, image in images.items():
            out[name].append(image)
        out["labels"].append(anatomy.labels)
        out["patient"].append(p)
        out["z"].append(z)
        out["anatomy"].append("limb" if limb else "head")
        out["pixel_mm"].append(anatomy.pixel_mm)
        out["acquisition"].append(asdict(a))
        if contrast:
            out["tissue_gain"].append(gain)
    result = {k: np.stack(v) if k in ("mr", "mr_clean", "ct", "ct_clean", "labels", "tissue_gain")
              else (v if k == "acquisition" else np.asarray(v)) for k, v in out.items()}
    return result
