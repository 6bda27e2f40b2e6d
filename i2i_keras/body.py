"""A limb phantom beside the head: so that anatomy is not always a skull ring.

A cross-section of a thigh or upper arm, drawn from a seed as the heads of
:mod:`i2i_keras.phantoms` are (same tissue table, texture, partial volume, and the same
:class:`~i2i_keras.phantoms.HeadSlice` with its ``.ct()`` and ``.mr()``):

* skin (1.5 mm, drawn as muscle) over a subcutaneous fat layer whose thickness varies
  around the limb (4 to 30 mm; thin in a lean arm, thick in a thigh);
* muscle, divided into compartments by thin fat septa (intermuscular fascia);
* one long bone off the centre: a cortical ring (3 to 7 mm, about a third of the
  bone's radius, as in a femoral or humeral shaft) around fatty (yellow) marrow in
  adults, red marrow in a child;
* a neurovascular bundle beside the bone (artery and vein as spin-echo flow voids).

Sizes are those of adult thigh and arm cross-sections (CT anatomy atlases give a mid-
femoral shaft of 25 to 30 mm with a 5 to 7 mm cortex, thigh diameters of 120 to 180 mm);
they are drawn wide on purpose, for variety, not to model a population.

>>> limb = limb_slice(64, seed=1)
>>> limb.hu.shape, round(limb.pixel_mm, 2)
((64, 64), 2.81)
>>> sorted({phantoms.NAMES_BY_LABEL[k] for k in np.unique(limb.labels)})[:4]
['air', 'cortical_bone', 'fat', 'muscle']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import phantoms
from .phantoms import TISSUES, _angle_index, _AngularCurve


@dataclass(frozen=True)
class Limb:
    """One limb's anatomy (lengths in mm), drawn by :func:`random_limb`."""

    seed: int
    semi_major: float
    semi_minor: float
    fat_mm: float  # mean subcutaneous fat thickness
    bone_radius: float
    cortex_mm: float
    bone_offset: tuple[float, float]  # bone centre from the limb centre, limb frame
    septa: int  # intermuscular fat septa
    red_marrow: bool  # a child's long bone
    bone_hu_scale: float
    lesions: int = 0


def random_limb(seed: int) -> Limb:
    """Draw one limb's anatomy from its seed."""
    rng = np.random.default_rng([seed, 202])
    major = rng.uniform(50.0, 85.0)
    radius = rng.uniform(9.0, 16.0)
    return Limb(seed=seed, semi_major=major, semi_minor=major * rng.uniform(0.75, 0.95),
                fat_mm=rng.uniform(4.0, 22.0), bone_radius=radius,
                cortex_mm=min(rng.uniform(3.0, 7.0), 0.5 * radius),
                bone_offset=tuple(rng.uniform(-0.25, 0.25, 2) * major),
                septa=int(rng.integers(3, 7)), red_marrow=bool(rng.random() < 0.2),
                bone_hu_scale=rng.uniform(0.85, 1.15))


def limb_slice(size: int = 128, seed: int = 0, fov_mm: float = 180.0,
               supersample: int = 2) -> phantoms.HeadSlice:
    """Draw one cross-section of a limb (any orientation in the field of view).

    size: output pixels per side (16 to 1024). seed: the limb's anatomy and pose.
    fov_mm: field of view (mm). Returns a :class:`~i2i_keras.phantoms.HeadSlice` (its
    ``patient`` is a :class:`Limb`, ``z`` is 0); ``.ct()`` and ``.mr()`` make images.
    """
    if not (16 <= size <= 1024):
        raise ValueError(f"size must be between 16 and 1024 pixels, got {size}")
    limb = random_limb(seed)
    if limb.semi_major + 2.0 > fov_mm / 2:
        raise ValueError(f"fov_mm {fov_mm} is too small for this limb "
                         f"({2 * limb.semi_major:.0f} mm across); use at least 180")
    rng = np.random.default_rng([seed, 203])
    n = size * supersample
    c = ((np.arange(n) + 0.5) * fov_mm / n - fov_mm / 2).astype(np.float32)
    angle = rng.uniform(-np.pi, np.pi)  # limbs lie any way round in the field
    shift = rng.uniform(-1, 1, 2) * max(0.0, fov_mm / 2 - limb.semi_major - 2.0) * 0.5
    # The limb's frame (u, v in mm) is the image frame turned by angle about the shift.
    fine = _draw(limb, phantoms._Canvas(c, c, angle, shift[0], shift[1]), rng)
    inside = np.nonzero(fine.any(axis=1))[0], np.nonzero(fine.any(axis=0))[0]
    box = (int(inside[0][0]), int(inside[0][-1]) + 1, int(inside[1][0]), int(inside[1][-1]) + 1)
    return phantoms.textured_slice(fine, box, c, rng, limb, 0.0, fov_mm / size,
                                   limb.bone_hu_scale, supersample)


def _draw(limb: Limb, canvas: phantoms._Canvas, rng: np.random.Generator) -> np.ndarray:
    """Tissue labels of the limb, drawn on ``canvas`` (the limb's frame is its head frame)."""
    L = {name: t.label for name, t in TISSUES.items()}
    outline = _AngularCurve(rng, range(2, 7), 0.05)
    fat_curve = _AngularCurve(rng, range(1, 5), 0.5)
    # Pixels are drawn only in the box that holds the limb and its bone (outside it every
    # pixel stays air; this halves the work): the limb lies inside its ellipse scaled by
    # the outline's widest edge, the bone inside its disc; 0.01 mm more for rounding.
    widest = float((1.0 + outline.table).max())
    ea, eb = limb.semi_major * widest, limb.semi_minor * widest
    c, s, sx, sy = canvas.c, canvas.s, canvas.sx, canvas.sy
    half_x, half_y = np.hypot(ea * c, eb * s), np.hypot(ea * s, eb * c)  # turned ellipse
    (ou, ov), br = limb.bone_offset, limb.bone_radius + 0.01
    bx, by = sx + c * ou - s * ov, sy + s * ou + c * ov  # the bone's centre, image frame
    win = canvas.box(min(sx - half_x, bx - br) - 0.01, max(sx + half_x, bx + br) + 0.01,
                     min(sy - half_y, by - br) - 0.01, max(sy + half_y, by + br) + 0.01)
    labels = canvas.labels[win]  # a view: drawing on it draws on the canvas
    u, v = canvas.head_coords(canvas.ys[win[0]], canvas.xs[win[1]])

    theta = np.arctan2(v, u)
    index = _angle_index(theta)
    ellipse = np.hypot(u / limb.semi_major, v / limb.semi_minor)
    edge = 1.0 + outline.lookup(index)
    # depth below the skin (mm), approximately: the ellipse's radial gap times its radius
    depth = (edge - ellipse) * np.hypot(limb.semi_major * np.cos(theta),
                                        limb.semi_minor * np.sin(theta))
    fat = np.clip(limb.fat_mm * (1.0 + fat_curve.lookup(index)), 2.0, 30.0)
    labels[depth >= 0] = L["muscle"]  # skin, then muscle under the fat
    labels[(depth >= 1.5) & (depth < 1.5 + fat)] = L["fat"]
    muscle = depth >= 1.5 + fat
    # bone: a cortical ring around the marrow
    bu, bv = u - limb.bone_offset[0], v - limb.bone_offset[1]
    r = np.hypot(bu, bv)
    # septa: thin fat sheets from the bone outwards, each gently curved, in the muscle more
    # than 3 mm from the bone (these pixels listed once: a sheet is thin, the image large)
    away = muscle & (r > limb.bone_radius + 3.0)
    rows, cols = np.nonzero(away)
    r_away, phi = r[away], np.arctan2(bv[away], bu[away])
    along = (r_away - limb.bone_radius) / max(limb.semi_major, 1.0)
    for _ in range(limb.septa):
        start = rng.uniform(-np.pi, np.pi)
        bend = rng.uniform(-0.4, 0.4)
        half_width = rng.uniform(0.5, 1.0)
        turn = phi - start - bend * along
        # the angle to the sheet, wrapped to (-pi, pi] by np.angle(np.exp(1j * turn)); a
        # complex exponential is slow, so it is taken only where a cheap wrap (to 1e-12)
        # puts a pixel within 1e-6 mm of the sheet
        rough = turn - 2 * np.pi * np.floor(turn / (2 * np.pi) + 0.5)
        near = np.nonzero(np.abs(rough) * r_away < half_width + 1e-6)[0]
        gap = np.angle(np.exp(1j * turn[near]))
        sheet = near[np.abs(gap) * r_away[near] < half_width]
        labels[rows[sheet], cols[sheet]] = L["fat"]
    # the neurovascular bundle next to the bone (discs, drawn in their bounding boxes only;
    # 0.01 mm more than the radius for rounding)
    side = rng.uniform(-np.pi, np.pi)
    muscle = canvas.on_canvas(muscle, win)
    for j, radius in enumerate((rng.uniform(2.5, 4.0), rng.uniform(3.0, 5.0))):
        d = limb.bone_radius + 8.0 + 7.0 * j
        cu = limb.bone_offset[0] + d * np.cos(side + 0.25 * j)
        cv = limb.bone_offset[1] + d * np.sin(side + 0.25 * j)
        canvas.stamp(cu, cv, radius + 0.01, lambda du, dv, radius=radius: np.hypot(du, dv) < radius,
                     L["vessel"], where=muscle)
    labels[r < limb.bone_radius] = L["cortical_bone"]
    marrow = "marrow" if limb.red_marrow else "yellow_marrow"
    labels[r < limb.bone_radius - limb.cortex_mm] = L[marrow]
    return canvas.labels
