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
    cos, sin = np.cos(angle), np.sin(angle)
    dy, dx = c[:, None] - shift[1], c[None, :] - shift[0]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # the limb's frame (mm)
    fine = _draw(limb, u, v, rng)
    inside = np.nonzero(fine.any(axis=1))[0], np.nonzero(fine.any(axis=0))[0]
    box = (int(inside[0][0]), int(inside[0][-1]) + 1, int(inside[1][0]), int(inside[1][-1]) + 1)
    return phantoms.textured_slice(fine, box, c, rng, limb, 0.0, fov_mm / size,
                                   limb.bone_hu_scale, supersample)


def _draw(limb: Limb, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tissue labels of the limb on the frame coordinates (u, v) in mm."""
    L = {name: t.label for name, t in TISSUES.items()}
    theta = np.arctan2(v, u)
    index = _angle_index(theta)
    outline = _AngularCurve(rng, range(2, 7), 0.05)
    fat_curve = _AngularCurve(rng, range(1, 5), 0.5)
    ellipse = np.hypot(u / limb.semi_major, v / limb.semi_minor)
    edge = 1.0 + outline.lookup(index)
    # depth below the skin (mm), approximately: the ellipse's radial gap times its radius
    depth = (edge - ellipse) * np.hypot(limb.semi_major * np.cos(theta),
                                        limb.semi_minor * np.sin(theta))
    fat = np.clip(limb.fat_mm * (1.0 + fat_curve.lookup(index)), 2.0, 30.0)
    labels = np.zeros(u.shape, np.int8)
    labels[depth >= 0] = L["muscle"]  # skin, then muscle under the fat
    labels[(depth >= 1.5) & (depth < 1.5 + fat)] = L["fat"]
    muscle = depth >= 1.5 + fat
    # bone: a cortical ring around the marrow
    bu, bv = u - limb.bone_offset[0], v - limb.bone_offset[1]
    r = np.hypot(bu, bv)
    phi = np.arctan2(bv, bu)
    # septa: thin fat sheets from the bone outwards, each gently curved
    for _ in range(limb.septa):
        start = rng.uniform(-np.pi, np.pi)
        bend = rng.uniform(-0.4, 0.4)
        along = (r - limb.bone_radius) / max(limb.semi_major, 1.0)
        gap = np.angle(np.exp(1j * (phi - start - bend * along)))  # wrapped to (-pi, pi]
        sheet = np.abs(gap) * r < rng.uniform(0.5, 1.0)
        labels[muscle & sheet & (r > limb.bone_radius + 3.0)] = L["fat"]
    # the neurovascular bundle next to the bone
    side = rng.uniform(-np.pi, np.pi)
    for j, radius in enumerate((rng.uniform(2.5, 4.0), rng.uniform(3.0, 5.0))):
        d = limb.bone_radius + 8.0 + 7.0 * j
        cu = limb.bone_offset[0] + d * np.cos(side + 0.25 * j)
        cv = limb.bone_offset[1] + d * np.sin(side + 0.25 * j)
        labels[muscle & (np.hypot(u - cu, v - cv) < radius)] = L["vessel"]
    labels[r < limb.bone_radius] = L["cortical_bone"]
    marrow = "marrow" if limb.red_marrow else "yellow_marrow"
    labels[r < limb.bone_radius - limb.cortex_mm] = L[marrow]
    return labels
