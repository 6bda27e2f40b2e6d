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
    because each wave is separable in x and y, so the whole field is one small matrix
    product: about 10x faster at 256², which keeps the generator at >100 slices a
    second. Returns (len(y_mm), len(x_mm)) float32.
    """
    k = rng.standard_normal((n_waves, 2)) / sigma_mm
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    # cos(ay + ax) = cos(ay) cos(ax) - sin(ay) sin(ax): one (ny, 2J) @ (2J, nx) product.
    left = _cos_sin(k[:, 0], y_mm, phase).T
    right = _cos_sin(k[:, 1], x_mm)
    right[n_waves:] *= -1  # -sin(ax)
    right *= np.float32(np.sqrt(2.0 / n_waves))
    return left @ right


def _cos_sin(k: np.ndarray, mm: np.ndarray, phase: np.ndarray | None = None) -> np.ndarray:
    """cos and sin of the waves' phases k mm (+ phase), stacked: float32 (2 len(k), len(mm)).

    The phases are computed in float64 and rounded to float32 once. Speed: at 384 waves
    the arrays are large, and new arrays (np.concatenate of np.cos and np.sin of a whole
    float64 array) cost more in fresh memory's page faults than the arithmetic: the
    result is written in place, a block of waves at a time.
    """
    n_waves, block = len(k), 64
    out = np.empty((2 * n_waves, len(mm)), np.float32)
    for w0 in range(0, n_waves, block):
        w1 = min(w0 + block, n_waves)
        angle = np.multiply.outer(k[w0:w1], mm)  # float64
        if phase is not None:
            angle += phase[w0:w1, None]
        angle = angle.astype(np.float32)
        np.cos(angle, out=out[w0:w1])
        np.sin(angle, out=out[n_waves + w0:n_waves + w1])
    return out


class _AngularCurve:
    """A smooth random periodic function of the angle, sum of cosines decaying with
    order, tabulated on a fine grid of angles so that images evaluate it by lookup."""

    TABLE = 2048
    GRID = np.linspace(-np.pi, np.pi, TABLE, endpoint=False)  # the table's angles
    GRID.flags.writeable = False

    def __init__(self, rng: np.random.Generator, orders: range, amplitude: float):
        self.terms = [(k, amplitude / k * rng.standard_normal(), rng.uniform(0, 2 * np.pi))
                      for k in orders]
        self.on_grid = self._sum(self.GRID)  # float64 values at GRID
        self.table = self.on_grid.astype(np.float32)

    def __call__(self, theta):
        if theta is self.GRID:  # evaluated once, in __init__
            return self.on_grid
        return self._sum(theta)

    def _sum(self, theta):
        return sum(c * np.cos(k * np.asarray(theta) + ph) for k, c, ph in self.terms)

    def lookup(self, index: np.ndarray) -> np.ndarray:
        return self.table[index]


def _angle_index(theta: np.ndarray) -> np.ndarray:
    """The index into an :class:`_AngularCurve` table of each angle (radians, -pi to pi)."""
    turns = theta + np.pi  # (then in place: the arrays are image-sized)
    turns *= _AngularCurve.TABLE / (2 * np.pi)
    index = turns.astype(np.intp)  # (table[index] is faster with intp than with int32)
    index &= _AngularCurve.TABLE - 1  # % TABLE (a power of 2), faster
    return index


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
    centre (sx, sy). Shapes are drawn only inside their bounding box (:meth:`box`,
    :meth:`window`).
    """

    def __init__(self, ys: np.ndarray, xs: np.ndarray, angle: float, sx: float, sy: float):
        self.ys, self.xs = ys, xs
        self.c, self.s, self.sx, self.sy = np.cos(angle), np.sin(angle), sx, sy
        self.labels = np.zeros((len(ys), len(xs)), dtype=np.int8)

    def head_coords(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dy, dx = ys[:, None] - self.sy, xs[None, :] - self.sx
        return self.c * dx + self.s * dy, -self.s * dx + self.c * dy

    def box(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float) -> tuple[slice, slice]:
        """Rows and columns of the pixels whose centres lie in [x_lo, x_hi) x [y_lo, y_hi)
        (image frame, mm)."""
        i0, i1 = np.searchsorted(self.ys, [y_lo, y_hi])
        j0, j1 = np.searchsorted(self.xs, [x_lo, x_hi])
        return slice(i0, i1), slice(j0, j1)

    def window(self, reach: np.ndarray) -> tuple[slice, slice]:
        """Rows and columns of the box that holds every pixel within ``reach`` (mm, head
        frame, at each angle of :attr:`_AngularCurve.GRID`) of the head's centre, as a
        pixel finds its reach: by looking up the table at its angle."""
        t = _AngularCurve.GRID
        u, v = reach * np.cos(t), reach * np.sin(t)  # the outline, head frame
        dx, dy = self.c * u - self.s * v, self.s * u + self.c * v  # image frame
        # A pixel lies within its table entry's arc (or the next one's, by rounding) of
        # these points, or nearer the centre; 0.01 mm more for rounding.
        margin = 2 * (2 * np.pi / _AngularCurve.TABLE) * float(reach.max()) + 0.01
        return self.box(self.sx + dx.min() - margin, self.sx + dx.max() + margin,
                        self.sy + dy.min() - margin, self.sy + dy.max() + margin)

    def on_canvas(self, mask: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
        """A mask of a window as a canvas-sized one (False outside the window)."""
        full = np.zeros(self.labels.shape, bool)
        full[window] = mask
        return full

    def stamp(self, cx: float, cy: float, radius: float, inside, value: int,
              where: np.ndarray | None = None) -> None:
        """Set ``value`` where inside(u, v) is true, (u, v) head-frame mm from (cx, cy)."""
        xi = self.c * cx - self.s * cy + self.sx
        yi = self.s * cx + self.c * cy + self.sy
        rows, cols = self.box(xi - radius, xi + radius, yi - radius, yi + radius)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            return
        u, v = self.head_coords(self.ys[rows], self.xs[cols])
        mask = inside(u - cx, v - cy)
        if where is not None:
            mask &= where[rows, cols]
        self.labels[rows, cols][mask] = value


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
    tab_theta = _AngularCurve.GRID

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

    # Tabulate the radial profiles once (per angle), then look them up per pixel.
    r_skin = r_head(tab_theta).astype(np.float32)
    top = skull_top(tab_theta).astype(np.float32)
    skull = skull_mm(tab_theta).astype(np.float32)
    brain_top = top + skull + patient.csf_mm

    # Pixels are drawn only in the box around the head, outside which all stays air: every
    # tissue below lies at a depth of at least 0, top or top + skull (the box reaches as
    # far out as these go, should a curve make them negative). Speed: the per-pixel arrays
    # are updated in place (out=, +=) where they can be, and per-angle quantities are
    # computed on the tables before the lookup: a new image-sized array costs more (fresh
    # memory's page faults) than the arithmetic on it. Comments give the plain expressions
    # (the same values).
    win = canvas.window(r_skin - np.minimum(0, np.minimum(top, top + skull)))
    box = labels[win]  # a view: drawing on it draws on the canvas
    x, y = canvas.head_coords(ys[win[0]], xs[win[1]])
    depth = np.hypot(x, y)  # rho, the radius; made the depth in place below
    theta_i = _angle_index(np.arctan2(y, x))  # 0 = left of the image, -pi/2 = anterior
    fissure = np.abs(x, out=x) < 0.9  # the interhemispheric fissure, used below
    fissure &= np.abs(y, out=y) > 0.25 * b * (1 - 0.5 * max(z, 0))
    del x, y  # (overwritten by np.abs)
    np.subtract(r_skin[theta_i], depth, out=depth)  # depth = r_skin[theta_i] - rho
    box[depth >= 0] = L["muscle"]
    fat = depth >= 1.5
    fat &= depth < (1.5 + fat_mm(tab_theta))[theta_i]
    box[fat] = L["fat"]
    skull_depth = depth - top[theta_i]
    skull_px = skull[theta_i]
    in_skull = skull_depth >= 0
    in_skull &= skull_depth < skull_px
    box[in_skull] = L["cortical_bone"]
    # marrow: in_skull & (skull_depth >= 0.3 skull) & (skull_depth < 0.78 skull)
    marrow = skull_depth >= (0.3 * skull)[theta_i]
    marrow &= skull_depth < (0.78 * skull)[theta_i]
    marrow &= in_skull
    box[marrow] = L["marrow"]

    # Frontal sinus (air inside the thick frontal bone) and mastoid air cells.
    if sinus_level > 0.05:
        bone = canvas.on_canvas(in_skull, win)
        for side in (-1.0, 1.0):
            ang = -np.pi / 2 + side * 0.16
            r_c = r_head(ang) - skull_top(ang) - 0.5 * skull_mm(ang)  # middle of the bone
            ax, ay = 3.0 + 7.0 * sinus_level, 2.0 + 2.5 * sinus_level
            canvas.stamp(r_c * np.cos(ang), r_c * np.sin(ang), ax,
                         _ellipse(ax, ay, ang + np.pi / 2), L["air_cavity"], where=bone)
    if z < -0.35:
        bone = canvas.on_canvas(in_skull & (skull_depth > (0.3 * skull)[theta_i]), win)
        for side in (-1.0, 1.0):
            ang = np.pi / 2 + side * 0.85  # postero-lateral
            r_c = r_head(ang) - skull_top(ang) - 0.5 * skull_mm(ang)
            cx, cy = r_c * np.cos(ang), r_c * np.sin(ang)
            cells = smooth_field(rng, ys, xs, 1.0) > 0.5
            canvas.stamp(cx, cy, 12.0, lambda u, v: u * u + v * v < 144.0, L["air_cavity"],
                         where=cells & bone)

    # Subarachnoid CSF, then the folded cortex: grey matter over white matter, whose
    # fingers reach up into the gyri; sulci are CSF clefts between the gyri.
    box[skull_depth >= skull_px] = L["csf"]
    brain_top_px = brain_top[theta_i]
    in_brain = depth >= brain_top_px
    warp = _AngularCurve(rng, range(1, 8), 1.5)
    sulcal = _AngularCurve(rng, range(3, 12), 0.5)
    jitter = smooth_field(rng, ys, xs, 5.0)[win]
    # fold = sin(gyri theta + warp)[theta_i] + 0.4 jitter
    fold = np.sin(patient.gyri * tab_theta + warp.table)[theta_i]
    fold += 0.4 * jitter
    sulcus_mm = patient.sulcus_mm * (1.0 + sulcal.table)  # per angle
    # brain_depth = depth - brain_top + 1.2 jitter (in skull_depth's memory: not needed again)
    brain_depth = np.subtract(depth, brain_top_px, out=skull_depth)
    brain_depth += 1.2 * jitter
    box[in_brain] = L["grey_matter"]
    # CSF clefts where fold < -0.9 and brain_depth < sulcus_mm + 1
    cleft = fold < -0.9
    cleft &= brain_depth < (sulcus_mm + 1.0)[theta_i]
    cleft &= in_brain
    # white matter where brain_depth > 2.5 + sulcus_mm (1 - fold) / 2 (fold is not needed
    # again: the threshold is computed in its memory)
    threshold = np.subtract(1.0, fold, out=fold)
    threshold *= sulcus_mm[theta_i]
    threshold /= 2.0
    threshold += 2.5
    box[in_brain & (brain_depth > threshold)] = L["white_matter"]
    box[cleft] = L["csf"]
    box[in_brain & fissure] = L["csf"]

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
    f = smooth_field(rng, ys, xs, 7.0)[win]
    vessel = np.abs(f, out=f) < 0.05
    vessel &= jitter > 0.8
    vessel &= in_brain
    box[vessel] = L["vessel"]

    # Lesions (irregular blobs in the brain) and small calcifications.
    in_brain = canvas.on_canvas(in_brain, win)
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
        """The mean of each s x s block of a fine map (s = supersample): float32 (n, n)."""
        s, n = self.supersample, self.labels.shape[0]
        blocks = fine.reshape(n, s, n, s)
        if s >= 8:  # numpy sums 8 or more terms pairwise
            return blocks.mean(axis=(1, 3)).astype(np.float32)
        # blocks.mean(axis=(1, 3)), 10x faster: the same sums in the same order as numpy's
        # (each block row from left to right, then the rows; checked bit for bit), added
        # as whole sub-images rather than by a reduction over axes of length s.
        total = None
        for i in range(s):
            row = blocks[:, i, :, 0].copy()
            for j in range(1, s):
                row += blocks[:, i, :, j]
            total = row if total is None else np.add(total, row, out=total)
        # numpy's mean divides by an integer count (np.intp), in float64 for float32 sums
        total = np.true_divide(total, np.intp(s * s), out=total, casting="unsafe")
        return total.astype(np.float32, copy=False)

    def mr(self, weighting: str = "T1", field_t: float = 1.5, tr_ms: float | None = None,
           te_ms: float | None = None, bias: float = 0.15, noise: float = 0.015,
           seed: int | None = None, noise_pattern: float = 0.0,
           blur_mm: float = 0.0, tissue_gain: np.ndarray | None = None) -> np.ndarray:
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
        gives the same image without noise (the same bias field). tissue_gain: a factor on
        each tissue's signal, indexed by label ((len(TISSUES),), e.g. fat x 0.1 for fat
        suppression, vessels x 2 for a contrast agent); None: spin echo's own contrast.
        """
        signal, rng = self._mr_signal(weighting, field_t, tr_ms, te_ms, bias, seed, blur_mm,
                                      tissue_gain)
        return self._rician(signal, rng, noise, noise_pattern)

    def _mr_signal(self, weighting: str, field_t: float, tr_ms: float | None,
                   te_ms: float | None, bias: float, seed: int | None, blur_mm: float,
                   tissue_gain: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.random.Generator]:
        """:meth:`mr` without noise (float32, not yet its magnitude), and the generator of
        ``seed`` after the bias field's draws: :meth:`_rician` draws the noise from it."""
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
        if tissue_gain is not None:
            tissue_gain = np.asarray(tissue_gain, np.float32)
            if tissue_gain.shape != s0.shape or (tissue_gain < 0).any():
                raise ValueError(f"tissue_gain must be {len(s0)} factors >= 0, one per "
                                 f"tissue label ({', '.join(NAMES_BY_LABEL)}), got "
                                 f"shape {tissue_gain.shape}")
            s0 = s0 * tissue_gain
        lab = self._fine_labels
        # s0[lab] * (1 + gain[lab] * texture), in place (image-sized arrays)
        fine = gain[lab]
        fine *= self._mr_texture
        fine += 1.0
        fine *= s0[lab]
        signal = self._down(fine)
        rng = np.random.default_rng(seed)
        n = signal.shape[0]
        c = rng.uniform(-1, 1, 5)
        if bias:  # (with bias 0 the factor below is exactly 1)
            # Bias: a random quadratic polynomial in x, y in [-1, 1] (ogrid: mgrid's values
            # as a column and a row, so that only the sums make (n, n) arrays).
            yy, xx = np.ogrid[-1:1:n * 1j, -1:1:n * 1j]
            # poly = c0 x + c1 y + 0.5 (c2 x x + c3 y y + c4 x y)
            poly = c[2] * xx * xx + c[3] * yy * yy
            poly += c[4] * xx * yy
            poly *= 0.5
            poly += c[0] * xx + c[1] * yy
            # signal *= 1 + bias poly / (max |poly| + 1e-6)
            scale = np.abs(poly).max() + 1e-6
            poly *= bias
            poly /= scale
            poly += 1.0
            signal *= poly
        if blur_mm > 0:
            signal = ndimage.gaussian_filter(signal, blur_mm / 2.355 / self.pixel_mm)
        return signal, rng

    @staticmethod
    def _rician(signal: np.ndarray, rng: np.random.Generator, noise: float,
                noise_pattern: float) -> np.ndarray:
        """The magnitude of ``signal`` plus complex Gaussian noise (SD ``noise``, times
        the g-factor map of ``noise_pattern``), drawn from ``rng``: float32."""
        if noise == 0:  # hypot(signal + 0, 0) is |signal|: no need to draw the noise
            return np.abs(signal)
        n = signal.shape[0]
        sd = noise
        if noise_pattern > 0:  # g-factor: a smooth map between 1 and 1 + noise_pattern
            g = ndimage.gaussian_filter(rng.standard_normal((8, 8)), 1.5)
            g = ndimage.zoom((g - g.min()) / (np.ptp(g) + 1e-12), n / 8, order=1)
            sd = noise * (1.0 + noise_pattern * g[:n, :n]).astype(np.float32)
        re = sd * rng.standard_normal(signal.shape, dtype=np.float32)
        re += signal
        im = sd * rng.standard_normal(signal.shape, dtype=np.float32)
        return np.hypot(re, im, out=re).astype(np.float32, copy=False)

    def _mr_pair(self, weighting: str, field_t: float, tr_ms: float | None,
                 te_ms: float | None, bias: float, noise: float, seed: int | None,
                 noise_pattern: float, blur_mm: float,
                 tissue_gain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``mr(...)`` with these arguments and its noise-free twin ``mr(..., noise=0)``
        (the same seed: the same bias field), the signal computed once."""
        signal, rng = self._mr_signal(weighting, field_t, tr_ms, te_ms, bias, seed, blur_mm,
                                      tissue_gain)
        return self._rician(signal, rng, noise, noise_pattern), np.abs(signal)

    def ct(self, noise_hu: float = 8.0, seed: int | None = None, grain_px: float = 0.6,
           blur_mm: float = 0.0) -> np.ndarray:
        """CT image in HU: the noise-free ``hu`` plus correlated quantum noise.

        noise_hu is the standard deviation in HU (about 8 HU for a routine head CT
        at 5 mm slices); the noise is low-passed by a Gaussian of ``grain_px`` pixels, as
        a reconstruction filter does (larger: a softer kernel's coarser grain). blur_mm:
        the FWHM (mm) of the reconstruction kernel's point-spread function, applied to
        the image (0: as sharp as the grid; a soft kernel blurs about 1 to 2 mm).
        """
        return self._ct_pair(noise_hu, seed, grain_px, blur_mm)[0]

    def _ct_pair(self, noise_hu: float, seed: int | None, grain_px: float,
                 blur_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """``ct(noise_hu, seed, grain_px, blur_mm)`` and its noise-free twin
        ``ct(0, blur_mm=blur_mm)``, blurred once (two arrays)."""
        hu = self.hu.copy() if blur_mm <= 0 else ndimage.gaussian_filter(
            self.hu, blur_mm / 2.355 / self.pixel_mm).astype(np.float32, copy=False)
        if noise_hu <= 0:
            return hu, hu.copy()
        rng = np.random.default_rng(seed)
        n = ndimage.gaussian_filter(rng.standard_normal(self.hu.shape), grain_px)
        # hu + noise_hu * n / n.std(), in place
        sd = n.std()
        n *= noise_hu
        n /= sd
        n += hu
        return n.astype(np.float32), hu


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
    # 0.8 coarse + 0.6 fine, in place (image-sized arrays: see draw_labels)
    coarse = smooth_field(rng, ys, xs, 6.0, 128)
    coarse *= 0.8
    fine_field = smooth_field(rng, ys, xs, 1.2, 384)
    fine_field *= 0.6
    shared[i0:i1, j0:j1] = np.add(coarse, fine_field, out=coarse)
    table_hu, table_texture = _table("hu"), _table("hu_texture")
    # hu_fine = table_hu[fine] + table_texture[fine] * shared, in place
    hu_fine = table_texture[fine]
    hu_fine *= shared
    hu_fine += table_hu[fine]
    # Bone: its own texture, times the patient's bone density.
    bone = box_labels == TISSUES["cortical_bone"].label
    bone |= box_labels == TISSUES["marrow"].label
    bone_field = smooth_field(rng, ys, xs, 3.0)
    bone_labels = box_labels[bone]
    hu_fine[i0:i1, j0:j1][bone] = (table_hu[bone_labels] + table_texture[bone_labels]
                                   * bone_field[bone]) * bone_hu_scale
    s = supersample
    size = n // s
    head = HeadSlice(
        labels=fine[s // 2::s, s // 2::s].copy(),
        hu=np.empty((size, size), np.float32),
        pixel_mm=pixel_mm, patient=patient, z=float(z),
        _fine_labels=fine, _mr_texture=shared, supersample=s)
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
