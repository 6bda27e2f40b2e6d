"""Volumes: 3D phantom heads (registered MR/CT), volumes with their geometry, resampling.

A *volume* here is an array ordered (slices, rows, cols), as a DICOM series is, with a
4x4 ``affine`` that maps a voxel index (slice, row, col) to RAS+ millimetres (nibabel's
convention; :attr:`i2i_keras.io.DicomImage.affine` gives the same for a series). The
affine carries the spacing (its column norms), the orientation and the position, so
everything written from a :class:`Volume` lands where it came from in a viewer.

* :func:`head_volume` draws a 3D phantom head, slice after slice with
  :func:`i2i_keras.phantoms.draw_labels` at levels ``z`` spaced by the slice spacing: the
  patient, its pose and every random curve and field are the same at every level, so the
  anatomy is continuous along z (head outline, skull, ventricles grow and shrink
  smoothly). Thick slices (``slice_mm`` larger than the pixel) are averaged over
  sub-levels: the partial volume of a real thick-slice scan.
* :class:`Volume` holds an array and its affine; :meth:`Volume.from_nifti` and
  :meth:`Volume.from_dicom` bring either file type into the (slices, rows, cols) order,
  :meth:`Volume.dicom_geometry` gives what :func:`i2i_keras.io.write_dicom_series` needs.
* :func:`resample` puts a volume on a grid of another spacing (same field of view and
  orientation) and :func:`resample_to` puts it back onto any grid (e.g. the original).
* :func:`sample_patches` cuts the same random patches (3D blocks, or 2D/2.5D patches
  with a slice axis of 1 or 2k + 1) from registered stacks of volumes, a share of them
  forced onto the foreground (:func:`patch_corners`, nnU-Net's rule);
  :func:`patch_batches` yields them as endless training batches.

Example
-------
>>> from i2i_keras import volumes
>>> head = volumes.head_volume(size=32, slices=6, seed=1, slice_mm=5.0)
>>> head.labels.shape, [round(s, 3) for s in head.spacing_mm]
((6, 32, 32), [5.0, 6.875, 6.875])
>>> coarse = volumes.resample(head.ct(seed=0), head.affine, (10.0, 6.875, 6.875))
>>> coarse.array.shape, [round(s, 3) for s in coarse.spacing_mm]
((3, 32, 32), [10.0, 6.875, 6.875])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from . import phantoms
from .io import I2IDataError

# Bump when a change here changes the volumes a seed gives (cache keys include it, with
# phantoms.VERSION).
VERSION = 1
# Millimetres per unit of the phantom's slice level z (-1 skull base ... +1 vertex): an
# adult head is about 180 mm from the skull base to the vertex.
MM_PER_Z = 90.0
# Below this level draw_labels draws mastoid air cells with a random field of its own,
# which would shift every random draw after it: the drawn anatomy would change between
# levels above and below. Volumes start here.
LOWEST_Z = -0.35
# LPS (DICOM patient coordinates) <-> RAS (NIfTI): x and y change sign.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def spacing_of(affine: np.ndarray) -> tuple[float, ...]:
    """Voxel size (mm) along each array axis: the norms of the affine's first 3 columns.

    >>> spacing_of(np.diag([2.0, 1.0, 0.5, 1.0]))
    (2.0, 1.0, 0.5)
    """
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def axial_affine(spacing_mm: Sequence[float], origin_lps: Sequence[float] = (0.0, 0.0, 0.0)
                 ) -> np.ndarray:
    """The affine of an axial (slices, rows, cols) volume as a DICOM series stores it:
    rows run toward the patient's posterior, columns toward their left, slices toward
    the head (ImageOrientationPatient (1, 0, 0, 0, 1, 0)); ``origin_lps`` is the first
    voxel's centre in DICOM patient coordinates (mm).

    >>> axial_affine((3.0, 1.0, 1.0), (-10.0, -20.0, 5.0))
    array([[ 0.,  0., -1., 10.],
           [ 0., -1.,  0., 20.],
           [ 3.,  0.,  0.,  5.],
           [ 0.,  0.,  0.,  1.]])
    """
    dz, dy, dx = (float(v) for v in spacing_mm)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = (0, 0, dz), (0, dy, 0), (dx, 0, 0)
    lps[:3, 3] = origin_lps
    return LPS_TO_RAS @ lps


# --------------------------------------------------------------------------------------
# A volume and its geometry
# --------------------------------------------------------------------------------------


@dataclass
class Volume:
    """An image volume and where it lies.

    array: (slices, rows, cols) or (slices, rows, cols, channels), physical units.
    affine: 4x4, voxel index (slice, row, col) -> RAS+ mm.
    """

    array: np.ndarray
    affine: np.ndarray

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """(dz, dy, dx) in mm."""
        return spacing_of(self.affine)

    @classmethod
    def from_dicom(cls, image) -> Volume:
        """A :class:`~i2i_keras.io.DicomImage` of a series or multi-frame file (its array
        is already (slices, rows, cols)); a single slice becomes one slice."""
        array = image.array if image.array.ndim == 3 else image.array[None]
        if image.array.ndim == 3:
            return cls(array, image.affine)
        thickness = float(image.header.get("SliceThickness") or 1.0)
        # DicomImage's affine of one slice has the columns (row, col, unit normal):
        # reorder to (normal x thickness, row, col).
        flat, affine = image.affine, np.eye(4)
        affine[:3, 0] = flat[:3, 2] * thickness
        affine[:3, 1], affine[:3, 2], affine[:3, 3] = flat[:3, 0], flat[:3, 1], flat[:3, 3]
        return cls(array, affine)

    @classmethod
    def from_nifti(cls, image) -> Volume:
        """A :class:`~i2i_keras.io.NiftiImage` (axes as stored, often (x, y, z)) turned into
        (slices, rows, cols) in DICOM's axial order: slices toward the head, rows toward
        posterior, columns toward the patient's left, so it displays as radiologists view
        it (anterior up, patient's right on the left). Uses nibabel's orientation tools:
        the closest axis permutation and flips, with the affine changed to match, so no
        voxel moves in space (no interpolation). Extra axes (time) must be removed first.

        >>> from i2i_keras.io import NiftiImage
        >>> v = Volume.from_nifti(NiftiImage(np.zeros((4, 5, 6), "f4"), np.diag([1, 2, 3, 1.])))
        >>> v.array.shape, v.spacing_mm
        ((6, 5, 4), (3.0, 2.0, 1.0))
        """
        import nibabel as nib

        array = np.asarray(image.array)
        if array.ndim != 3:
            raise I2IDataError(f"a NIfTI image of shape {array.shape}: Volume.from_nifti takes "
                               "3D images; pick one volume of a 4D series first (e.g. "
                               "NiftiImage(image.array[..., 0], image.affine))")
        now = nib.orientations.io_orientation(image.affine)
        wanted = nib.orientations.axcodes2ornt(("S", "P", "L"))
        change = nib.orientations.ornt_transform(now, wanted)
        moved = nib.orientations.apply_orientation(array, change)
        affine = image.affine @ nib.orientations.inv_ornt_aff(change, array.shape)
        return cls(np.ascontiguousarray(moved), affine)

    def axis_codes(self) -> tuple[str, str, str]:
        """Where each array axis points, in patient terms (nibabel's axcodes: the direction
        in which the index grows, e.g. ("S", "P", "L") for an axial DICOM series)."""
        import nibabel as nib

        return tuple(nib.aff2axcodes(self.affine))

    def dicom_geometry(self) -> dict:
        """``spacing_mm``, ``origin_mm`` and ``orientation`` for
        :func:`i2i_keras.io.write_dicom_series`, and the array in the slice order it needs
        (``array``: slices flipped when they run against the row x column normal).

        >>> v = Volume(np.zeros((3, 4, 4), "f4"), axial_affine((2.5, 1.0, 1.0), (0, 0, 7.0)))
        >>> g = v.dicom_geometry()
        >>> g["spacing_mm"], g["origin_mm"], g["orientation"]
        ((2.5, 1.0, 1.0), (0.0, 0.0, 7.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
        """
        lps = np.linalg.inv(LPS_TO_RAS) @ self.affine
        dz, dy, dx = self.spacing_mm
        along_row, along_col = lps[:3, 2] / dx, lps[:3, 1] / dy
        normal = np.cross(along_row, along_col)
        array, origin = self.array, lps[:3, 3]
        if np.dot(lps[:3, 0], normal) < 0:  # slices run the other way: store them reversed
            array, origin = array[::-1], origin + lps[:3, 0] * (len(array) - 1)
        if abs(abs(np.dot(lps[:3, 0] / dz, normal)) - 1) > 1e-3:
            raise I2IDataError("this volume's slices are not perpendicular to its rows and "
                               "columns (a sheared grid); a DICOM series cannot store it - "
                               "resample it onto a rectangular grid first (resample_to)")
        return {"array": np.ascontiguousarray(array), "spacing_mm": (dz, dy, dx),
                "origin_mm": _rounded(origin), "orientation": _rounded([*along_row, *along_col])}


def _rounded(values) -> tuple[float, ...]:
    """Header-ready numbers: 6 decimals, no negative zero."""
    return tuple(float(round(v, 6)) + 0.0 for v in values)


# --------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------


def resample_to(array: np.ndarray, affine: np.ndarray, target_affine: np.ndarray,
                target_shape: Sequence[int], order: int = 1,
                anti_aliasing: bool = True) -> Volume:
    """Values of a volume on another grid: each target voxel takes the (interpolated) value
    at its centre's position in mm. Outside the source the nearest edge value is used.

    array: (slices, rows, cols) or with a trailing channel axis. affine, target_affine:
    voxel -> mm of the source and of the target grid. order: 0 nearest (labels), 1
    linear, 3 cubic. anti_aliasing: blur first where the target is coarser (a Gaussian
    of sigma (factor - 1) / 2 voxels, scikit-image's rule), so detail finer than the new
    voxels averages out instead of aliasing. Uses scipy.ndimage.affine_transform (one
    mapping for any rotation, flip or scale between the grids).

    >>> a = np.arange(4.0)[None, None, :] * np.ones((1, 1, 4))  # 0, 1, 2, 3 along x
    >>> half = np.diag([1, 1, 0.5, 1.0])   # a grid of half the spacing...
    >>> half[2, 3] = -0.25                  # ... whose first voxel starts where a's does
    >>> resample_to(a, np.eye(4), half, (1, 1, 8)).array[0, 0, 1:-1].tolist()
    [0.25, 0.75, 1.25, 1.75, 2.25, 2.75]
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fc" and order > 0:
        array = array.astype(np.float32)
    channels = array.ndim == 4
    # Target voxel index -> source voxel index.
    mapping = np.linalg.inv(np.asarray(affine, float)) @ np.asarray(target_affine, float)
    matrix, offset = mapping[:3, :3], mapping[:3, 3]
    if anti_aliasing and order > 0:
        factor = np.linalg.norm(matrix, axis=1)  # source voxels per target voxel, per axis
        sigma = np.maximum(0.0, (factor - 1.0) / 2.0)
        if np.any(sigma > 0):
            array = ndimage.gaussian_filter(array, (*sigma, 0) if channels else sigma,
                                            mode="nearest")
    planes = [array[..., c] for c in range(array.shape[-1])] if channels else [array]
    out = [ndimage.affine_transform(p, matrix, offset, output_shape=tuple(target_shape),
                                    order=order, mode="nearest") for p in planes]
    result = np.stack(out, -1) if channels else out[0]
    return Volume(result, np.asarray(target_affine, float))


def resample(array: np.ndarray, affine: np.ndarray, spacing_mm: Sequence[float],
             order: int = 1, anti_aliasing: bool = True) -> Volume:
    """The volume on a grid of ``spacing_mm`` (one value per array axis) covering the same
    field of view: same orientation, the first voxel's outer corner where the source's
    is, round(n * old / new) voxels per axis (so the spacing is exactly the one asked
    for, and the far edge moves by less than half a new voxel).

    Returns a :class:`Volume` (array and its new affine). Go back with
    ``resample_to(v.array, v.affine, affine, array.shape[:3])``.

    >>> v = resample(np.zeros((10, 20, 20), "f4"), np.diag([5.0, 1, 1, 1]), (2.5, 2.0, 2.0))
    >>> v.array.shape, v.spacing_mm
    ((20, 10, 10), (2.5, 2.0, 2.0))
    """
    array = np.asarray(array)
    old = np.asarray(spacing_of(affine))
    new = np.asarray([float(s) for s in spacing_mm])
    if new.shape != (3,) or np.any(new <= 0):
        raise ValueError(f"spacing_mm must be three positive numbers (mm), got {spacing_mm}")
    shape = np.maximum(1, np.round(np.asarray(array.shape[:3]) * old / new)).astype(int)
    # New voxel k has its centre at source index (k + 1/2) new/old - 1/2.
    scale = new / old
    step = np.eye(4)
    step[:3, :3] = np.diag(scale)
    step[:3, 3] = 0.5 * scale - 0.5
    return resample_to(array, affine, np.asarray(affine, float) @ step, shape, order,
                       anti_aliasing)


# --------------------------------------------------------------------------------------
# 3D phantom heads
# --------------------------------------------------------------------------------------


def smooth_field_3d(rng: np.random.Generator, z_mm: np.ndarray, y_mm: np.ndarray,
                    x_mm: np.ndarray, sigma_mm: float, n_waves: int = 96) -> np.ndarray:
    """Zero-mean, unit-variance smooth random field on a 3D grid (1D coordinates in mm),
    correlation length about ``sigma_mm``: :func:`i2i_keras.phantoms.smooth_field` with a
    third axis (random Fourier features). cos(az + ay + ax) is the real part of a product
    of three phases, so each z level is one (ny, J) @ (J, nx) complex matrix product.
    Returns (len(z_mm), len(y_mm), len(x_mm)) float32.
    """
    k = rng.standard_normal((n_waves, 3)) / sigma_mm
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    ez = np.exp(1j * (np.outer(z_mm, k[:, 0]) + phase))  # (nz, J)
    ey = np.exp(1j * np.outer(y_mm, k[:, 1])).astype(np.complex64)  # (ny, J)
    ex = np.exp(1j * np.outer(k[:, 2], x_mm)).astype(np.complex64)  # (J, nx)
    scale = np.float32(np.sqrt(2.0 / n_waves))
    return np.stack([((ey * e.astype(np.complex64)) @ ex).real * scale for e in ez])


@dataclass
class HeadVolume:
    """A 3D phantom head. Arrays are (slices, rows, cols); slices run toward the vertex.

    labels: int8 tissue label of each voxel (at its centre). hu: noise-free CT in HU
    with partial volume. spacing_mm: (dz, dy, dx). affine: voxel -> RAS+ mm (an axial
    series centred on the head, :func:`axial_affine`). z_levels: the phantom level of
    each slice. Images: :meth:`ct` and :meth:`mr` (registered by construction).
    """

    labels: np.ndarray
    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    affine: np.ndarray
    patient: phantoms.Patient
    z_levels: np.ndarray
    _levels: list = field(repr=False)  # phantoms.HeadSlice per fine level
    _sub: int = 1  # fine levels per slice

    @property
    def body_mask(self) -> np.ndarray:
        """Voxels inside the head (air cavities included)."""
        return self.labels != phantoms.TISSUES["air"].label

    def ct(self, noise_hu: float = 8.0, seed: int | None = None) -> np.ndarray:
        """CT volume in HU: ``hu`` plus quantum noise of standard deviation ``noise_hu``,
        correlated in-plane (a reconstruction filter) and independent between slices."""
        if noise_hu <= 0:
            return self.hu.copy()
        rng = np.random.default_rng(seed)
        n = ndimage.gaussian_filter(rng.standard_normal(self.hu.shape), (0, 0.6, 0.6))
        return (self.hu + noise_hu * n / n.std()).astype(np.float32)

    def mr(self, weighting: str = "T1", field_t: float = 1.5, bias: float = 0.15,
           noise: float = 0.015, seed: int | None = None) -> np.ndarray:
        """Spin-echo MR volume (arbitrary units): each level's noise-free signal from
        :meth:`i2i_keras.phantoms.HeadSlice.mr` averaged over the slice thickness, times a
        smooth 3D bias field (±``bias``), with Rician noise of ``noise`` (relative to fully
        relaxed water) drawn independently in every voxel."""
        signal = np.stack([level.mr(weighting, field_t, bias=0.0, noise=0.0)
                           for level in self._levels])
        signal = signal.reshape(-1, self._sub, *signal.shape[1:]).mean(1)
        rng = np.random.default_rng(seed)
        grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in signal.shape], indexing="ij")
        c = rng.uniform(-1, 1, 6)
        poly = sum(ci * g for ci, g in zip(c[:3], grids)) + 0.5 * sum(
            ci * g * g for ci, g in zip(c[3:], grids))
        signal = signal * (1.0 + bias * poly / (np.abs(poly).max() + 1e-6))
        re = signal + noise * rng.standard_normal(signal.shape)
        im = noise * rng.standard_normal(signal.shape)
        return np.hypot(re, im).astype(np.float32)


def head_volume(size: int = 64, slices: int = 32, seed: int = 0, slice_mm: float | None = None,
                z_center: float | None = None, fov_mm: float = 220.0, supersample: int = 2,
                rotate_deg: float = 12.0, shift_mm: float = 6.0) -> HeadVolume:
    """Draw a 3D phantom head of patient ``seed`` as an axial volume.

    size: pixels per side of each slice (field of view ``fov_mm``). slices: number of
    slices. slice_mm: slice spacing and thickness in mm (default: the pixel size, an
    isotropic volume; larger for the thick slices of a routine scan). z_center: the
    phantom level of the middle slice (0: lateral ventricles; see
    :mod:`i2i_keras.phantoms`; default 0.15, moved as little as needed to fit); the
    stack spans slices x slice_mm mm, at :data:`MM_PER_Z` mm per unit of level, and must
    stay within [:data:`LOWEST_Z`, 1] (121 mm).
    supersample: sub-pixels per pixel side for partial volume; with supersample > 1 a
    slice thicker than a pixel is also averaged over about one sub-level a pixel of
    thickness (the texture is drawn at the slice centre). rotate_deg, shift_mm: range of the
    random in-plane pose, one pose for the whole head.

    Anatomy is the same at every level except what depends on the level itself: the
    random curves and fields of :func:`i2i_keras.phantoms.draw_labels` are drawn from
    one generator state at every level, so gyri, vessels and calcifications run straight
    along z (a simplification; real ones wind). Lesions are not drawn (they would be
    cylinders). Tissue texture is a 3D random field.

    >>> head = head_volume(size=32, slices=4, seed=0)
    >>> head.hu.shape, head.labels.dtype.name, bool(head.body_mask.any())
    ((4, 32, 32), 'int8', True)
    """
    if not 16 <= size <= 512:
        raise ValueError(f"size must be between 16 and 512 pixels, got {size}")
    if slices < 1:
        raise ValueError(f"slices must be at least 1, got {slices}")
    pixel_mm = fov_mm / size
    slice_mm = float(slice_mm or pixel_mm)
    # Sub-levels: about one a pixel's width of slice thickness (none for thin slices).
    sub = max(1, int(round(slice_mm / pixel_mm))) if supersample > 1 else 1
    half = slices * slice_mm / 2 / MM_PER_Z
    if z_center is None:
        z_center = float(np.clip(0.15, LOWEST_Z + half, 1.0 - half))
    # Fine levels: `sub` evenly spaced sub-levels inside each slice's thickness.
    offsets_mm = (np.arange(slices * sub) + 0.5) * slice_mm / sub - slices * slice_mm / 2
    z_fine = z_center + offsets_mm / MM_PER_Z
    z_levels = z_center + ((np.arange(slices) + 0.5) * slice_mm - slices * slice_mm / 2) / MM_PER_Z
    if z_center - half < LOWEST_Z - 1e-9 or z_center + half > 1.0 + 1e-9:
        raise ValueError(
            f"the volume spans phantom levels {z_center - half:.2f} to {z_center + half:.2f}; they "
            f"must stay within [{LOWEST_Z}, 1] ({slices} slices x {slice_mm:g} mm at "
            f"{MM_PER_Z:g} mm a unit): use fewer or thinner slices, or move z_center")
    patient = phantoms.random_patient(seed)
    pose = np.random.default_rng([seed, 3])
    angle = np.deg2rad(pose.uniform(-rotate_deg, rotate_deg))
    sx, sy = pose.uniform(-shift_mm, shift_mm, 2)
    n = size * supersample
    c = ((np.arange(n) + 0.5) * fov_mm / n - fov_mm / 2).astype(np.float32)
    fine = np.zeros((len(z_fine), n, n), np.int8)
    for i, z in enumerate(z_fine):
        canvas = phantoms._Canvas(c, c, angle, sx, sy)  # one pose for every level
        phantoms.draw_labels(canvas, patient, float(z), np.random.default_rng([seed, 7]))
        fine[i] = canvas.labels
    # Texture shared by CT and MR (coarse and fine), and bone density that MR cannot see,
    # as phantoms.head_slice draws them, but as 3D fields.
    tex = np.random.default_rng([seed, 11])
    # Drawn at the slice centres and shared by a slice's sub-levels: the finest texture
    # (1.2 mm) is already as fine as the thinnest slices, and this is most of the cost.
    z_mm = np.repeat(offsets_mm.reshape(slices, sub).mean(1), sub).astype(np.float32)
    at = np.arange(0, len(z_mm), sub)
    shared = np.repeat(0.8 * smooth_field_3d(tex, z_mm[at], c, c, 6.0, 128)
                       + 0.6 * smooth_field_3d(tex, z_mm[at], c, c, 1.2, 384), sub, axis=0)
    bone_field = np.repeat(smooth_field_3d(tex, z_mm[at], c, c, 3.0), sub, axis=0)
    table_hu, table_tex = phantoms._table("hu"), phantoms._table("hu_texture")
    hu_fine = table_hu[fine] + table_tex[fine] * shared
    is_bone = np.isin(fine, [phantoms.TISSUES["cortical_bone"].label,
                             phantoms.TISSUES["marrow"].label])
    hu_fine[is_bone] = ((table_hu[fine] + table_tex[fine] * bone_field)
                        * patient.bone_hu_scale)[is_bone]
    s = supersample
    hu = hu_fine.reshape(slices, sub, size, s, size, s).mean((1, 3, 5)).astype(np.float32)
    levels = [phantoms.HeadSlice(labels=fine[i, s // 2::s, s // 2::s], hu=hu[i // sub],
                                 pixel_mm=pixel_mm, patient=patient, z=float(z_fine[i]),
                                 _fine_labels=fine[i], _mr_texture=shared[i], supersample=s)
              for i in range(len(z_fine))]
    labels = fine[sub // 2::sub, s // 2::s, s // 2::s].copy()
    first_lps = (-(size - 1) / 2 * pixel_mm, -(size - 1) / 2 * pixel_mm,
                 (z_levels[0] - z_center) * MM_PER_Z)
    spacing = (slice_mm, pixel_mm, pixel_mm)
    return HeadVolume(labels, hu, spacing, axial_affine(spacing, first_lps), patient,
                      z_levels, levels, sub)


# --------------------------------------------------------------------------------------
# Patches of volumes, foreground-weighted
# --------------------------------------------------------------------------------------


def patch_corners(shape: Sequence[int], patch: Sequence[int], n: int,
                  foreground: np.ndarray | None = None, foreground_fraction: float = 1 / 3,
                  rng: np.random.Generator | int | None = None) -> np.ndarray:
    """First-voxel indices of ``n`` random patches of side(s) ``patch`` inside a grid of
    ``shape``, some of them forced onto the foreground.

    Uniform corners waste training on background: in a 64² head slice a third of the
    field of view is air, and in a volume cropped around a small organ almost all of it
    is. nnU-Net's rule (Isensee et al., Nat. Methods 2021): a fixed share of patches,
    ``foreground_fraction`` (its 1/3), is placed on a random foreground voxel; the rest
    are uniform over all corners that fit. nnU-Net centres the patch on that voxel; here
    it lands at a random position inside the patch (never cut off: corners are clipped
    to the grid, which keeps the voxel inside), so a small object is not always seen in
    the patch's middle. round(n x foreground_fraction) patches are forced, in random
    order. Where the foreground fills the middle of the grid anyway (a head in a tight
    field of view), uniform corners already land on it: measure before relying on it.

    shape: the grid, e.g. (slices, rows, cols). patch: one side per axis of ``shape``.
    foreground: boolean array of ``shape`` (None: every patch uniform; no foreground
    voxel: uniform too). Returns int (n, len(shape)).

    >>> fg = np.zeros((8, 40, 40), bool); fg[4, 30, 30] = True     # one voxel
    >>> c = patch_corners(fg.shape, (4, 8, 8), 100, fg, foreground_fraction=0.5, rng=0)
    >>> hit = [bool(fg[z:z + 4, y:y + 8, x:x + 8].any()) for z, y, x in c]
    >>> sum(hit) >= 50                                    # at least the forced half
    True
    """
    shape, patch = tuple(int(s) for s in shape), tuple(int(p) for p in patch)
    if len(patch) != len(shape):
        raise ValueError(f"patch {patch} needs one side per axis of the grid {shape}")
    if any(p > s for p, s in zip(patch, shape)):
        raise I2IDataError(f"a patch of {' x '.join(map(str, patch))} voxels does not fit in a "
                           f"volume of {' x '.join(map(str, shape))}: use a smaller patch or "
                           "pad the volume")
    if not 0 <= foreground_fraction <= 1:
        raise ValueError(f"foreground_fraction must be in [0, 1], got {foreground_fraction}")
    if foreground is not None and np.shape(foreground) != shape:
        raise ValueError(f"foreground has shape {np.shape(foreground)}, the grid {shape}")
    rng = np.random.default_rng(rng)
    high = np.asarray(shape) - np.asarray(patch)  # the last corner that fits, per axis
    corners = rng.integers(0, high + 1, size=(n, len(shape)))
    where = np.flatnonzero(foreground) if foreground is not None else np.zeros(0, int)
    forced = int(round(n * foreground_fraction)) if where.size else 0
    if forced:
        picks = rng.choice(n, forced, replace=False)
        voxels = np.stack(np.unravel_index(rng.choice(where, forced), shape), -1)
        inside = rng.integers(0, np.asarray(patch), size=(forced, len(shape)))
        corners[picks] = np.clip(voxels - inside, 0, high)
    return corners


def sample_patches(arrays: Sequence[np.ndarray], patch: Sequence[int], n: int,
                   foreground: np.ndarray | None = None, foreground_fraction: float = 1 / 3,
                   rng: np.random.Generator | int | None = None) -> list[np.ndarray]:
    """The same ``n`` random patches cut from each of several registered stacks of
    volumes (e.g. MR and CT): volumes drawn uniformly, corners by :func:`patch_corners`.

    arrays: stacks (N, *grid) or (N, *grid, C), all with the same (N, *grid), grid
    being len(patch) axes, e.g. (N, slices, rows, cols). foreground: boolean
    (N, *grid) or None. Returns one array (n, *patch[, C]) per stack, float32 kept as
    it was given. A patch of one slice, (1, h, w), is a 2D patch with a slice axis of 1;
    (2k + 1, h, w) holds a slice and its k neighbours on each side (2.5D).

    >>> v = np.arange(2 * 4 * 6 * 6, dtype="f4").reshape(2, 4, 6, 6)
    >>> a, b = sample_patches([v, -v], (2, 3, 3), 5, rng=0)
    >>> a.shape, bool(np.array_equal(a, -b))
    ((5, 2, 3, 3), True)
    """
    arrays = [np.asarray(a) for a in arrays]
    grid = arrays[0].shape[1:1 + len(patch)]
    for a in arrays:
        if a.shape[:1 + len(patch)] != arrays[0].shape[:1 + len(patch)]:
            raise ValueError(f"stacks of different grids: {a.shape} and {arrays[0].shape}")
    rng = np.random.default_rng(rng)
    which = rng.integers(0, len(arrays[0]), n)
    out = [np.empty((n, *patch, *a.shape[1 + len(patch):]), a.dtype) for a in arrays]
    for v in np.unique(which):
        rows = np.flatnonzero(which == v)
        corners = patch_corners(grid, patch, len(rows),
                                None if foreground is None else foreground[v],
                                foreground_fraction, rng)
        for row, corner in zip(rows, corners):
            box = tuple(slice(c, c + p) for c, p in zip(corner, patch))
            for o, a in zip(out, arrays):
                o[row] = a[(v, *box)]
    return out


def patch_batches(arrays: Sequence[np.ndarray], patch: Sequence[int], batch_size: int,
                  foreground: np.ndarray | None = None, foreground_fraction: float = 1 / 3,
                  seed: int = 0):
    """Endless batches of :func:`sample_patches`, a tuple (one batch per stack) at a time,
    for ``model.fit(patch_batches(...), steps_per_epoch=...)`` on any backend.
    The same seed gives the same batches.

    >>> v = np.zeros((2, 8, 16, 16, 1), "f4")
    >>> x, y = next(patch_batches([v, v], (4, 8, 8), batch_size=3))
    >>> x.shape
    (3, 4, 8, 8, 1)
    """
    rng = np.random.default_rng(seed)
    while True:
        yield tuple(sample_patches(arrays, patch, batch_size, foreground, foreground_fraction,
                                   rng))
