"""Procedural head phantoms: one anatomy, a registered MR/CT pair.

A phantom is drawn from a *patient* seed (head shape, skull, fat, brain folding, bone
density are that patient's) and a slice level ``z`` in [-1, 1] (-1 skull base, 0 the
level of the lateral ventricles, +1 the vertex). Every pixel carries a tissue label
from :data:`TISSUES`, which gives the tissue its CT number (HU) and its MR parameters
(proton density PD, T1 and T2 in ms at 1.5 T and 3 T), so the same anatomy yields

* a CT image in HU (:meth:`HeadSlice.ct`), and
* a spin-echo MR image (:meth:`HeadSlice.mr`), S = PD (1 - e^(-TR/T1)) e^(-TE/T2),
  with a smooth bias field and Rician noise,

that are registered by construction. Air and cortical bone are both dark on MR and
opposite on CT: the real difficulty of MR-to-CT synthesis is kept.

Tissues are textured, not flat (smooth random variation at two scales, folded
grey/white boundaries, vessels, calcifications): on flat phantoms a total-variation
filter would be optimal by construction and a network's advantage would be fake.

Geometry is computed in millimetres on a grid ``supersample`` times finer than the
output and averaged down, so thin structures (the 2 mm cortical tables of the skull)
show realistic partial volume. The drawing functions work on coordinate arrays of any
shape, so a 3D version can reuse them.

Example
-------
>>> from i2i_keras import phantoms
>>> head = phantoms.head_slice(size=128, seed=3, z=0.0)
>>> ct, mr = head.ct(seed=0), head.mr("T1", seed=0)
>>> ct.shape, mr.shape, head.pixel_mm
((128, 128), (128, 128), 1.71875)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

# Bump when a change to the generator changes the images a seed gives: cached data sets
# (datasets.cached) include it in their key, so none is reused across versions.
VERSION = 2

# --------------------------------------------------------------------------------------
# Tissue table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tissue:
    """One tissue: CT number and MR parameters.

    hu: CT number in HU; hu_texture: standard deviation (HU) of its smooth random
    variation. pd: relative proton density. t1, t2: relaxation times in ms at
    (1.5 T, 3 T). mr_texture: relative standard deviation of PD/T1/T2 variation.
    """

    name: str
    label: int
    hu: float
    hu_texture: float
    pd: float
    t1: tuple[float, float]
    t2: tuple[float, float]
    mr_texture: float = 0.04


# Values from the project design (DESIGN.md, "Reference facts"), which collects
# standard numbers: CT numbers from radiology texts; T1/T2 at 1.5 T / 3 T from
# Stanisz et al., MRM 54:507 (2005) and Bojorquez et al., MRI 35:69 (2017).
# Vessels are drawn as spin-echo flow voids (low effective PD), calcifications as
# dense dots that are dark on MR, lesions as vasogenic oedema (hypodense, long T2).
TISSUES: dict[str, Tissue] = {
    t.name: t
    for t in [
        Tissue("air", 0, -1000.0, 0.0, 0.0, (1.0, 1.0), (1.0, 1.0), 0.0),
        Tissue("fat", 1, -100.0, 12.0, 0.9, (290.0, 370.0), (165.0, 130.0)),
        Tissue("muscle", 2, 35.0, 6.0, 0.8, (856.0, 898.0), (27.0, 29.0)),
        Tissue("cortical_bone", 3, 1400.0, 150.0, 0.05, (1000.0, 1000.0), (2.0, 2.0)),
        Tissue("marrow", 4, 350.0, 60.0, 0.7, (400.0, 400.0), (60.0, 60.0)),
        Tissue("csf", 5, 15.0, 3.0, 1.0, (4280.0, 4160.0), (2030.0, 2100.0), 0.02),
        Tissue("grey_matter", 6, 40.0, 4.0, 0.8, (1100.0, 1330.0), (95.0, 99.0)),
        Tissue("white_matter", 7, 25.0, 4.0, 0.7, (560.0, 830.0), (72.0, 69.0)),
        Tissue("air_cavity", 8, -1000.0, 0.0, 0.0, (1.0, 1.0), (1.0, 1.0), 0.0),
        Tissue("vessel", 9, 45.0, 4.0, 0.08, (1300.0, 1650.0), (200.0, 150.0)),
        Tissue("calcification", 10, 600.0, 120.0, 0.1, (500.0, 500.0), (5.0, 5.0)),
        Tissue("lesion", 11, 18.0, 6.0, 0.9, (1400.0, 1700.0), (160.0, 150.0)),
        # Fatty (yellow) marrow of an adult's long bones (the limb phantom of
        # i2i_keras.body): fat with some water, so CT and MR close to fat's.
        Tissue("yellow_marrow", 12, -60.0, 15.0, 0.9, (300.0, 380.0), (150.0, 120.0)),
    ]
}
NAMES_BY_LABEL: list[str] = [t.name for t in sorted(TISSUES.values(), key=lambda t: t.label)]

# Tissue classes for reporting errors (per-tissue MAE).
TISSUE_GROUPS: dict[str, tuple[str, ...]] = {
    "bone": ("cortical_bone", "marrow", "calcification", "yellow_marrow"),
    "soft tissue": ("muscle", "csf", "grey_matter", "white_matter", "vessel", "lesion"),
    "fat": ("fat",),
    "air cavity": ("air_cavity",),
}

# Spin-echo protocols (TR, TE) in ms.
PROTOCOLS: dict[str, tuple[float, float]] = {
    "T1": (500.0, 14.0),
    "T2": (4000.0, 100.0),
    "PD": (3000.0, 15.0),
}


def _table(attribute: str, field_index: int | None = None) -> np.ndarray:
    """A per-label lookup array of one tissue attribute."""
    values = []
    for name in NAMES_BY_LABEL:
        v = getattr(TISSUES[name], attribute)
        values.append(v[field_index] if field_index is not None else v)
    return np.asarray(values, dtype=np.float32)


def tissue_mask(labels: np.ndarray, *names: str) -> np.ndarray:
    """Where a label image holds any of the named tissues (names as in :data:`TISSUES`).

    >>> labels = np.array([[TISSUES["grey_matter"].label, TISSUES["fat"].label]])
    >>> tissue_mask(labels, "grey_matter", "white_matter").tolist()
    [[True, False]]
    """
    unknown = [n for n in names if n not in TISSUES]
    if unknown or not names:
        raise ValueError(f"unknown tissue {unknown or '(none given)'}; the phantoms' tissues are: "
                         f"{', '.join(TISSUES)}")
    return np.isin(labels, [TISSUES[n].label for n in names])


def group_masks(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of each class in :data:`TISSUE_GROUPS` for a label image."""
    out = {}
    for group, names in TISSUE_GROUPS.items():
        ids = [TISSUES[n].label for n in names]
        out[group] = np.isin(labels, ids)
    return out


# --------------------------------------------------------------------------------------
# Random smooth fields and curves
# --------------------------------------------------------------------------------------


def smooth_field(rng: np.random.Generator, y_mm: np.ndarray, x_mm: np.ndarray,
                 sigma_mm: float, n_waves: int = 48) -> np.ndarray:
    """Zero-mean, unit-variance smooth random field on the grid y_mm x x_mm (1D, mm).

    Random Fourier features: a sum of ``n_waves`` plane waves whose wave vectors are
    drawn from a Gaussian of width 1/sigma_mm, so the field's correlation function is
    approximately Gaussian with length sigma_mm. Chosen over filtering white noise
    because each wave is separable in x and y, so the whole field is two small
    matrix products: about 10x faster at 256², which keeps the generator at >100
    slices a second. Returns (len(y_mm), len(x_mm)) float32.
    """
    k = rng.standard_normal((n_waves, 2)) / sigma_mm
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    ay = (np.outer(k[:, 0], y_mm) + phase[:, None]).astype(np.float32)
    ax = np.outer(k[:, 1], x_mm).astype(np.float32)
    # cos(ay + ax) = cos(ay) cos(ax) - sin(ay) sin(ax): one (ny, 2J) @ (2J, nx) product.
    left = np.concatenate([np.cos(ay), np.sin(ay)]).T
    right = np.concatenate([np.cos(ax), -np.sin(ax)]) * np.float32(np.sqrt(2.0 / n_waves))
    return left @ right


class _AngularCurve:
    """A smooth random periodic function of the angle, sum of cosines decaying with
    order, tabulated on a fine grid of angles so that images evaluate it by lookup."""

    TABLE = 2048

    def __init__(self, rng: np.random.Generator, orders: range, amplitude: float):
        self.terms = [(k, amplitude / k * rng.standard_normal(), rng.uniform(0, 2 * np.pi))
                      for k in orders]
        grid = np.linspace(-np.pi, np.pi, self.TABLE, endpoint=False)
        self.table = self(grid).astype(np.float32)

    def __call__(self, theta):
        return sum(c * np.cos(k * np.asarray(theta) + ph) for k, c, ph in self.terms)

    def lookup(self, index: np.ndarray) -> np.ndarray:
        return self.table[index]


def _angle_index(theta: np.ndarray) -> np.ndarray:
    return ((theta + np.pi) * (_AngularCurve.TABLE / (2 * np.pi))).astype(np.int32) % (
        _AngularCurve.TABLE)


# --------------------------------------------------------------------------------------
# Patient and slice
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    """Per-patient anatomy parameters (lengths in mm). Drawn by :func:`random_patient`."""

    seed: int
    semi_lr: float  # head semi-axis, left-right
    semi_ap: float  # head semi-axis, anterior-posterior
    fat_mm: float
    skull_mm: float
    bone_hu_scale: float  # bone mineral density relative to the table (age, sex)
    csf_mm: float  # subarachnoid space (grows with atrophy)
    ventricle_scale: float
    gyri: int  # number of gyri around the brain
    sulcus_mm: float  # depth of the sulci
    frontal_sinus: float  # size factor, 0 = none
    lesions: int


def random_patient(seed: int, lesions: bool | int = False) -> Patient:
    """Draw one patient's anatomy from its seed. lesions: False, True (1-2) or a count."""
    rng = np.random.default_rng([seed, 101])
    n_lesions = int(rng.integers(1, 3)) if lesions is True else int(lesions or 0)
    return Patient(
        seed=seed,
        semi_lr=rng.uniform(68, 78),
        semi_ap=rng.uniform(86, 98),
        fat_mm=rng.uniform(2.0, 5.0),
        skull_mm=rng.uniform(5.5, 8.0),
        bone_hu_scale=rng.uniform(0.85, 1.15),
        csf_mm=rng.uniform(1.0, 3.0),
        ventricle_scale=rng.uniform(0.7, 1.4),
        gyri=int(rng.integers(16, 26)),
        sulcus_mm=rng.uniform(6.0, 12.0),
        frontal_sinus=rng.uniform(0.0, 1.0),
        lesions=n_lesions,
    )


class _Canvas:
    """A label image on an image-frame grid (ys, xs in mm) holding a head at a pose.

    The head frame is the image frame rotated by ``angle`` (radians) about the shifted
    centre (sx, sy). Small shapes are drawn only inside their bounding box.
    """

    def __init__(self, ys: np.ndarray, xs: np.ndarray, angle: float, sx: float, sy: float):
        self.ys, self.xs = ys, xs
        self.c, self.s, self.sx, self.sy = np.cos(angle), np.sin(angle), sx, sy
        self.labels = np.zeros((len(ys), len(xs)), dtype=np.int8)

    def head_coords(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dy, dx = ys[:, None] - self.sy, xs[None, :] - self.sx
        return self.c * dx + self.s * dy, -self.s * dx + self.c * dy

    def stamp(self, cx: float, cy: float, radius: float, inside, value: int,
              where: np.ndarray | None = None) -> None:
        """Set ``value`` where inside(u, v) is true, (u, v) head-frame mm from (cx, cy)."""
        xi = self.c * cx - self.s * cy + self.sx
        yi = self.s * cx + self.c * cy + self.sy
        i0, i1 = np.searchsorted(self.ys, [yi - radius, yi + radius])
        j0, j1 = np.searchsorted(self.xs, [xi - radius, xi + radius])
        if i1 <= i0 or j1 <= j0:
            return
        u, v = self.head_coords(self.ys[i0:i1], self.xs[j0:j1])
        mask = inside(u - cx, v - cy)
        if where is not None:
            mask &= where[i0:i1, j0:j1]
        self.labels[i0:i1, j0:j1][mask] = value


def _ellipse(ax: float, ay: float, angle: float = 0.0):
    c, s = np.cos(angle), np.sin(angle)
    return lambda u, v: ((u * c + v * s) / ax) ** 2 + ((v * c - u * s) / ay) ** 2 <= 1.0


def draw_labels(canvas: _Canvas, patient: Patient, z: float,
                rng: np.random.Generator) -> np.ndarray:
    """Tissue labels of one axial head slice, drawn on ``canvas`` (returns its labels).

    In the head frame x runs left-right and y posterior-anterior with anterior at
    negative y (the top of the image). Depths are radial distances below the skin.
    """
    L = {name: t.label for name, t in TISSUES.items()}
    labels, ys, xs = canvas.labels, canvas.ys, canvas.xs
    x, y = canvas.head_coords(ys, xs)
    rho = np.hypot(x, y)
    theta_i = _angle_index(np.arctan2(y, x))  # 0 = left of the image, -pi/2 = anterior
    tab_theta = np.linspace(-np.pi, np.pi, _AngularCurve.TABLE, endpoint=False)

    # Head outline: an ellipse shrinking toward the vertex, with a smooth wobble.
    size = np.sqrt(max(1.0 - (max(z, 0.0) * 0.85) ** 2, 0.05)) * (1.0 - 0.08 * max(-z, 0.0))
    a, b = patient.semi_lr * size, patient.semi_ap * size
    wobble = _AngularCurve(rng, range(2, 7), 0.025)

    def r_head(t):
        return (1.0 + wobble(t)) / np.sqrt((np.cos(t) / a) ** 2 + (np.sin(t) / b) ** 2)

    # Scalp: skin (1.5 mm, soft tissue), fat, temporalis muscle at the sides; then the
    # skull, whose frontal bone thickens around the frontal sinus at low levels.
    fat_curve = _AngularCurve(rng, range(1, 5), 0.25)
    skull_curve = _AngularCurve(rng, range(1, 6), 0.2)
    sinus_level = patient.frontal_sinus * float(np.clip(-z / 0.6, 0, 1))

    def fat_mm(t):
        return patient.fat_mm * (1.0 + fat_curve(t))

    def skull_top(t):
        lateral = np.clip((np.abs(np.cos(t)) - 0.55) / 0.45, 0, 1)
        return 1.5 + fat_mm(t) + 6.0 * lateral * (z < 0.6)

    def skull_mm(t):
        frontal = np.exp(-((t + np.pi / 2) / 0.45) ** 2)
        return patient.skull_mm * (1.0 + skull_curve(t)) + 9.0 * sinus_level * frontal

    # Tabulate the radial profiles once, then look them up per pixel.
    depth = r_head(tab_theta).astype(np.float32)[theta_i] - rho
    top = skull_top(tab_theta).astype(np.float32)[theta_i]
    skull = skull_mm(tab_theta).astype(np.float32)[theta_i]
    labels[depth >= 0] = L["muscle"]
    labels[(depth >= 1.5) & (depth < 1.5 + fat_mm(tab_theta)[theta_i])] = L["fat"]
    skull_depth = depth - top
    in_skull = (skull_depth >= 0) & (skull_depth < skull)
    labels[in_skull] = L["cortical_bone"]
    labels[in_skull & (skull_depth >= 0.3 * skull) & (skull_depth < 0.78 * skull)] = L["marrow"]

    # Frontal sinus (air inside the thick frontal bone) and mastoid air cells.
    if sinus_level > 0.05:
        for side in (-1.0, 1.0):
            ang = -np.pi / 2 + side * 0.16
            r_c = r_head(ang) - skull_top(ang) - 0.5 * skull_mm(ang)  # middle of the bone
            ax, ay = 3.0 + 7.0 * sinus_level, 2.0 + 2.5 * sinus_level
            canvas.stamp(r_c * np.cos(ang), r_c * np.sin(ang), ax,
                         _ellipse(ax, ay, ang + np.pi / 2), L["air_cavity"], where=in_skull)
    if z < -0.35:
        for side in (-1.0, 1.0):
            ang = np.pi / 2 + side * 0.85  # postero-lateral
            r_c = r_head(ang) - skull_top(ang) - 0.5 * skull_mm(ang)
            cx, cy = r_c * np.cos(ang), r_c * np.sin(ang)
            cells = smooth_field(rng, ys, xs, 1.0) > 0.5
            canvas.stamp(cx, cy, 12.0, lambda u, v: u * u + v * v < 144.0, L["air_cavity"],
                         where=cells & in_skull & (skull_depth > 0.3 * skull))

    # Subarachnoid CSF, then the folded cortex: grey matter over white matter, whose
    # fingers reach up into the gyri; sulci are CSF clefts between the gyri.
    brain_top = top + skull + patient.csf_mm
    labels[skull_depth >= skull] = L["csf"]
    in_brain = depth >= brain_top
    warp = _AngularCurve(rng, range(1, 8), 1.5)
    sulcal = _AngularCurve(rng, range(3, 12), 0.5)
    jitter = smooth_field(rng, ys, xs, 5.0)
    fold = np.sin(patient.gyri * tab_theta + warp.table)[theta_i] + 0.4 * jitter
    sulcus_mm = patient.sulcus_mm * (1.0 + sulcal.table)[theta_i]
    brain_depth = depth - brain_top + 1.2 * jitter
    labels[in_brain] = L["grey_matter"]
    labels[in_brain & (brain_depth > 2.5 + sulcus_mm * (1.0 - fold) / 2.0)] = L["white_matter"]
    labels[in_brain & (fold < -0.9) & (brain_depth < sulcus_mm + 1.0)] = L["csf"]
    fissure = (np.abs(x) < 0.9) & (np.abs(y) > 0.25 * b * (1 - 0.5 * max(z, 0)))
    labels[in_brain & fissure] = L["csf"]

    # Deep grey matter and the lateral ventricles around the ventricle level.
    deep = float(np.exp(-((z + 0.1) / 0.25) ** 2))
    if deep > 0.2:
        for side in (-1.0, 1.0):
            canvas.stamp(side * 18, 4, 14 * deep, _ellipse(9 * deep, 14 * deep, side * 0.3),
                         L["grey_matter"])
    vent = patient.ventricle_scale * float(np.exp(-((z - 0.1) / 0.3) ** 2))
    if vent > 0.15:
        for side in (-1.0, 1.0):
            ax, ay = 4.5 * vent, 22 * vent ** 0.6
            canvas.stamp(side * 7 * vent ** 0.5, -4, max(ax, ay),
                         _ellipse(ax, ay, side * 0.18), L["csf"])

    # Vessels: thin curved lines where a smooth field crosses zero, in parts of the brain.
    f = smooth_field(rng, ys, xs, 7.0)
    keep = jitter > 0.8
    labels[in_brain & keep & (np.abs(f) < 0.05)] = L["vessel"]

    # Lesions (irregular blobs in the brain) and small calcifications.
    brain_r = 0.8 * min(a, b) - patient.skull_mm - patient.fat_mm - 5.0
    for _ in range(patient.lesions if brain_r > 20 else 0):
        r0 = rng.uniform(4.0, 10.0)
        ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0, brain_r - r0)
        k = rng.standard_normal(3)
        canvas.stamp(rad * np.cos(ang), rad * np.sin(ang), 1.5 * r0,
                     lambda u, v, r0=r0, k=k: np.hypot(u, v) < r0 * (
                         1 + 0.2 * np.cos(k[0] * 3 + 3 * np.arctan2(v, u)) + 0.1 * k[1]),
                     L["lesion"], where=in_brain)
    for _ in range(int(rng.integers(0, 4)) if brain_r > 20 else 0):
        ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0, brain_r)
        r0 = rng.uniform(0.8, 2.0)
        canvas.stamp(rad * np.cos(ang), rad * np.sin(ang), r0,
                     lambda u, v, r0=r0: u * u + v * v < r0 * r0, L["calcification"],
                     where=in_brain)
    return labels


@dataclass
class HeadSlice:
    """One phantom slice. Maps are (size, size); the fine ``_`` maps (size*s, size*s).

    labels: int8 tissue label per pixel (the tissue at the pixel centre).
    hu: noise-free CT in HU, with partial volume.
    pixel_mm: pixel spacing in mm (square pixels).
    """

    labels: np.ndarray
    hu: np.ndarray
    pixel_mm: float
    patient: Patient
    z: float
    _fine_labels: np.ndarray = field(repr=False)
    _mr_texture: np.ndarray = field(repr=False)
    supersample: int = 2

    @property
    def body_mask(self) -> np.ndarray:
        """Pixels inside the head (including its air cavities)."""
        return self.labels != TISSUES["air"].label

    def _down(self, fine: np.ndarray) -> np.ndarray:
        s, n = self.supersample, self.labels.shape[0]
        return fine.reshape(n, s, n, s).mean(axis=(1, 3)).astype(np.float32)

    def mr(self, weighting: str = "T1", field_t: float = 1.5, tr_ms: float | None = None,
           te_ms: float | None = None, bias: float = 0.15, noise: float = 0.015,
           seed: int | None = None, noise_pattern: float = 0.0,
           blur_mm: float = 0.0) -> np.ndarray:
        """Spin-echo magnitude image, S = PD (1 - e^(-TR/T1)) e^(-TE/T2), arbitrary units.

        weighting: "T1" (TR 500, TE 14 ms), "T2" (4000, 100) or "PD" (3000, 15), or give
        tr_ms and te_ms. field_t: 1.5 or 3 (tesla). bias: amplitude of the smooth
        multiplicative bias field (0.15 = ±15 %). noise: Rician noise standard deviation
        relative to the signal of fully relaxed water (PD = 1). Returns (size, size)
        float32; signal is averaged over each pixel's sub-grid (partial volume).
        noise_pattern: how much the noise level varies across the image, as parallel
        imaging's g-factor makes it (0: uniform; 0.5: up to 1.5x in places). blur_mm:
        the FWHM (mm) of a Gaussian point-spread function applied to the signal before
        the noise (a coarser acquisition resolution). ``noise=0`` with the same seed
        gives the same image without noise (the same bias field).
        """
        if weighting not in PROTOCOLS and (tr_ms is None or te_ms is None):
            raise ValueError(f"weighting must be one of {sorted(PROTOCOLS)}, "
                             "or pass both tr_ms and te_ms")
        tr, te = PROTOCOLS.get(weighting, (tr_ms, te_ms))
        tr, te = tr_ms or tr, te_ms or te
        fi = {1.5: 0, 3.0: 1}.get(float(field_t))
        if fi is None:
            raise ValueError(f"field_t must be 1.5 or 3 (tesla), got {field_t}")
        # Per-tissue signal, and its first-order response to the texture field t, which
        # scales PD by (1 + m t) and T1, T2 by (1 - m t / 2) (m = the tissue's mr_texture):
        # d ln S / dt = m (1 + (TR/2T1) e^(-TR/T1) / (1 - e^(-TR/T1)) - TE/2T2).
        # To first order (|m t| < 0.1 here) this is exact to < 1 % and 3x faster.
        m, t1, t2 = _table("mr_texture"), _table("t1", fi), _table("t2", fi)
        e1 = np.exp(-tr / t1)
        s0 = _table("pd") * (1.0 - e1) * np.exp(-te / t2)
        gain = m * (1.0 + 0.5 * tr / t1 * e1 / np.maximum(1.0 - e1, 1e-12) - 0.5 * te / t2)
        lab = self._fine_labels
        signal = self._down(s0[lab] * (1.0 + gain[lab] * self._mr_texture))
        rng = np.random.default_rng(seed)
        n = signal.shape[0]
        yy, xx = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
        c = rng.uniform(-1, 1, 5)
        poly = c[0] * xx + c[1] * yy + 0.5 * (c[2] * xx * xx + c[3] * yy * yy + c[4] * xx * yy)
        signal *= 1.0 + bias * poly / (np.abs(poly).max() + 1e-6)
        if blur_mm > 0:
            signal = ndimage.gaussian_filter(signal, blur_mm / 2.355 / self.pixel_mm)
        sd = noise
        if noise_pattern > 0:  # g-factor: a smooth map between 1 and 1 + noise_pattern
            g = ndimage.gaussian_filter(rng.standard_normal((8, 8)), 1.5)
            g = ndimage.zoom((g - g.min()) / (np.ptp(g) + 1e-12), n / 8, order=1)
            sd = noise * (1.0 + noise_pattern * g[:n, :n]).astype(np.float32)
        re = signal + sd * rng.standard_normal(signal.shape, dtype=np.float32)
        im = sd * rng.standard_normal(signal.shape, dtype=np.float32)
        return np.hypot(re, im).astype(np.float32)

    def ct(self, noise_hu: float = 8.0, seed: int | None = None, grain_px: float = 0.6,
           blur_mm: float = 0.0) -> np.ndarray:
        """CT image in HU: the noise-free ``hu`` plus correlated quantum noise.

        noise_hu is the standard deviation in HU (about 8 HU for a routine head CT
        at 5 mm slices); the noise is low-passed by a Gaussian of ``grain_px`` pixels, as
        a reconstruction filter does (larger: a softer kernel's coarser grain). blur_mm:
        the FWHM (mm) of the reconstruction kernel's point-spread function, applied to
        the image (0: as sharp as the grid; a soft kernel blurs about 1 to 2 mm).
        """
        hu = self.hu if blur_mm <= 0 else ndimage.gaussian_filter(
            self.hu, blur_mm / 2.355 / self.pixel_mm).astype(np.float32)
        if noise_hu <= 0:
            return hu.copy()
        rng = np.random.default_rng(seed)
        n = ndimage.gaussian_filter(rng.standard_normal(self.hu.shape), grain_px)
        return (hu + noise_hu * n / n.std()).astype(np.float32)


def head_slice(size: int = 128, seed: int = 0, z: float = 0.0, fov_mm: float = 220.0,
               lesions: bool | int = False, supersample: int = 2,
               rotate_deg: float = 12.0, shift_mm: float = 6.0) -> HeadSlice:
    """Draw one axial head slice of a patient.

    size: output pixels per side (64 to 512). seed: the patient (anatomy, bone
    density, folding). z: slice level in [-1, 1] (-1 skull base, 0 ventricles,
    +1 vertex); sinuses appear below 0. fov_mm: field of view (mm). lesions:
    False, True (1-2 lesions) or a count. supersample: sub-pixel grid factor for
    partial volume. rotate_deg, shift_mm: range of the random in-plane pose.

    Returns a :class:`HeadSlice`; call ``.ct()`` and ``.mr()`` on it for images.
    """
    if not (16 <= size <= 1024):
        raise ValueError(f"size must be between 16 and 1024 pixels, got {size}")
    if not -1.0 <= z <= 1.0:
        raise ValueError(f"z (slice level) must be in [-1, 1], got {z}")
    patient = random_patient(seed, lesions)
    rng = np.random.default_rng([seed, int(round((z + 1) * 1000)), 7])
    n = size * supersample
    fine_mm = fov_mm / n
    c = ((np.arange(n) + 0.5) * fine_mm - fov_mm / 2).astype(np.float32)
    angle = np.deg2rad(rng.uniform(-rotate_deg, rotate_deg))
    sx, sy = rng.uniform(-shift_mm, shift_mm, 2)
    # Draw only inside the head's bounding box: a third of the field of view is air.
    radius = 1.1 * max(patient.semi_lr, patient.semi_ap)
    i0, i1 = np.searchsorted(c, [sy - radius, sy + radius])
    j0, j1 = np.searchsorted(c, [sx - radius, sx + radius])
    ys, xs = c[i0:i1], c[j0:j1]
    fine = np.zeros((n, n), np.int8)
    fine[i0:i1, j0:j1] = draw_labels(_Canvas(ys, xs, angle, sx, sy), patient, z, rng)
    return textured_slice(fine, (i0, i1, j0, j1), c, rng, patient, z, fov_mm / size,
                          patient.bone_hu_scale, supersample)


def textured_slice(fine: np.ndarray, box: tuple[int, int, int, int], c: np.ndarray,
                   rng: np.random.Generator, patient, z: float, pixel_mm: float,
                   bone_hu_scale: float, supersample: int) -> HeadSlice:
    """A :class:`HeadSlice` from fine labels: tissue texture, CT numbers, partial volume.

    fine: (n, n) labels on the grid ``supersample`` times finer than the output, drawn
    inside ``box`` = (i0, i1, j0, j1) (outside it: air); c: the fine grid's coordinates
    (mm); rng: the generator the drawing used (it goes on to draw the texture).
    """
    i0, i1, j0, j1 = box
    n = fine.shape[0]
    ys, xs = c[i0:i1], c[j0:j1]
    box_labels = fine[i0:i1, j0:j1]
    # Texture: a coarse (6 mm) and a fine (1.2 mm) random field shared by CT and MR
    # (tissue composition drives both), and for bone an independent field that MR
    # cannot see (bone density is invisible on spin-echo MR).
    shared = np.zeros((n, n), np.float32)
    # Many waves: with a few dozen, the sum of waves of similar wavelength shows as a
    # visible lattice (a quasi-crystal), which real tissue does not have.
    shared[i0:i1, j0:j1] = (0.8 * smooth_field(rng, ys, xs, 6.0, 128)
                            + 0.6 * smooth_field(rng, ys, xs, 1.2, 384))
    hu_fine = _table("hu")[fine] + _table("hu_texture")[fine] * shared
    is_bone = np.isin(box_labels, [TISSUES["cortical_bone"].label, TISSUES["marrow"].label])
    bone_hu = (_table("hu")[box_labels]
               + _table("hu_texture")[box_labels] * smooth_field(rng, ys, xs, 3.0))
    hu_fine[i0:i1, j0:j1][is_bone] = (bone_hu * bone_hu_scale)[is_bone]
    s = supersample
    size = n // s
    head = HeadSlice(
        labels=fine[s // 2::s, s // 2::s].copy(),
        hu=np.empty((size, size), np.float32),
        pixel_mm=pixel_mm, patient=patient, z=float(z),
        _fine_labels=fine, _mr_texture=shared.astype(np.float32), supersample=s)
    head.hu = head._down(hu_fine)
    return head


# --------------------------------------------------------------------------------------
# Data sets of registered pairs
# --------------------------------------------------------------------------------------


def mr_ct_pairs(patients: list[int] | range, slices_per_patient: int = 8, size: int = 128,
                weighting: str = "T1", z_range: tuple[float, float] = (-0.6, 0.6),
                lesions: bool | int = False, ct_noise_hu: float = 8.0,
                mr_noise: float = 0.015, progress: bool = True, **slice_kwargs) -> dict:
    """Registered MR/CT slices of several patients (phantoms), for training or testing.

    patients: patient seeds (each is one anatomy; split train/val/test by these).
    slices_per_patient: slices per patient, evenly spaced over z_range.
    Returns a dict of arrays, N = len(patients) * slices_per_patient:
    ``mr`` (N, size, size) float32 (arbitrary units), ``ct`` (N, size, size) HU with
    noise, ``ct_clean`` HU without noise, ``labels`` (N, size, size) int8,
    ``patient`` (N,) int seeds, ``z`` (N,) slice levels, ``pixel_mm`` float.
    """
    from tqdm import tqdm

    patients = list(patients)
    zs = np.linspace(*z_range, slices_per_patient) if slices_per_patient > 1 else [0.0]
    jobs = [(p, float(z)) for p in patients for z in zs]
    out = {k: [] for k in ("mr", "ct", "ct_clean", "labels", "patient", "z")}
    # On standard output: in a notebook, standard error shows as red, as if failing.
    for i, (p, z) in enumerate(tqdm(jobs, desc="phantoms", disable=not progress,
                                    mininterval=2.0, file=sys.stdout)):
        head = head_slice(size, seed=p, z=z, lesions=lesions, **slice_kwargs)
        out["mr"].append(head.mr(weighting, noise=mr_noise, seed=10_000 + i + 97 * p))
        out["ct"].append(head.ct(ct_noise_hu, seed=20_000 + i + 97 * p))
        out["ct_clean"].append(head.hu)
        out["labels"].append(head.labels)
        out["patient"].append(p)
        out["z"].append(z)
    result = {k: np.stack(v) if k in ("mr", "ct", "ct_clean", "labels") else np.asarray(v)
              for k, v in out.items()}
    result["pixel_mm"] = head.pixel_mm
    return result
