"""Loaders: each real data set's own layout -> the arrays and pairs the tutorials use.

* LoDoPaB-CT (HDF5 ``ground_truth_<part>_NNN.hdf5`` / ``observation_<part>_NNN.hdf5``, 128
  samples a file): :func:`load_lodopab` gives sinograms as line integrals and images in
  HU; :func:`lodopab_geometry` is the matching :class:`~i2i_keras.physics.ParallelBeamCT`.
* IXI (``IXI<id>-<site>-<n>-<T1|T2|PD>.nii.gz``): :func:`load_ixi_slices` (one
  weighting) and :func:`load_ixi_pairs` (T2 <-> PD, co-registered by acquisition).
* SynthRAD2023 Task 1 (``<region>/<patient>/{mr,ct,mask}.nii.gz``): :func:`synthrad_cases`,
  :func:`load_synthrad_case` and :func:`load_synthrad_slices` (MR -> CT pairs in HU).

Every slice set carries the subject of each slice, so splits can be made by patient,
never by slice. Default folders are those of :mod:`i2i_keras.downloads`
(``$I2I_DATA_DIR/<name>``); files are searched recursively below them, so the extracted
archives can sit anywhere inside.

Example
-------
>>> from i2i_keras import loaders
>>> test = loaders.load_lodopab("test", n=64)                      # doctest: +SKIP
>>> fbp = loaders.lodopab_geometry().fbp(test.sinograms)            # doctest: +SKIP
>>> fbp_hu = loaders.lodopab_mu_to_hu(fbp)                        # doctest: +SKIP
>>> pairs = loaders.load_synthrad_slices("brain", n_patients=10)  # doctest: +SKIP
>>> pairs.inputs.shape, pairs.targets.shape                       # doctest: +SKIP
((80, 256, 256), (80, 256, 256))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import downloads
from .io import I2IDataError, NiftiImage, check_pair, read_nifti
from .physics import ParallelBeamCT

# LoDoPaB-CT constants (dival.util.constants): attenuation in 1/m, images normalised by
# MU_MAX, the attenuation of 3071 HU; domain [-0.13, 0.13]² m on 362², detector 513 bins
# over [-0.18385, 0.18385] m, 1000 angles at the midpoints of [0, pi).
LODOPAB_MU_WATER = 20.0
LODOPAB_MU_AIR = 0.02
LODOPAB_MU_MAX = 3071 * (LODOPAB_MU_WATER - LODOPAB_MU_AIR) / 1000 + LODOPAB_MU_WATER


class LoDoPaBPairs(NamedTuple):
    """LoDoPaB samples: ``sinograms`` (n, 1000, 513) float32 line integrals (post-log,
    dimensionless), ``images_hu`` (n, 362, 362) float32 ground truth in HU, and
    ``patient`` (n,) int, or None when the CSV is absent."""

    sinograms: np.ndarray
    images_hu: np.ndarray
    patient: np.ndarray | None


class SliceSet(NamedTuple):
    """2D slices ``images`` (n, H, W) float32 and the subject of each (for splitting)."""

    images: np.ndarray
    patient: list[str]


class SlicePairs(NamedTuple):
    """Registered 2D pairs: ``inputs`` and ``targets`` (n, H, W) float32, optional
    ``masks`` (n, H, W) bool, and the subject of each slice (for splitting)."""

    inputs: np.ndarray
    targets: np.ndarray
    masks: np.ndarray | None
    patient: list[str]


def _folder(data_dir: str | Path | None, name: str) -> Path:
    folder = Path(data_dir).expanduser() if data_dir else downloads.dataset_dir(name)
    if not folder.is_dir():
        raise I2IDataError(f"{folder} does not exist. Download the data first: python "
                           f"data_scripts/download.py {name} (or pass data_dir=)")
    return folder


# --------------------------------------------------------------------------------------
# LoDoPaB-CT
# --------------------------------------------------------------------------------------

def lodopab_to_hu(normalised: np.ndarray) -> np.ndarray:
    """LoDoPaB ground truth (mu / MU_MAX) -> HU, with LoDoPaB's own water and air values.

    >>> lodopab_to_hu(np.array([LODOPAB_MU_WATER / LODOPAB_MU_MAX]))
    array([0.])
    """
    return lodopab_mu_to_hu(np.asarray(normalised) * LODOPAB_MU_MAX / 1000.0)


def lodopab_mu_to_hu(mu_per_mm: np.ndarray) -> np.ndarray:
    """Attenuation (1/mm, e.g. ``lodopab_geometry().fbp(sinograms)``) -> HU as LoDoPaB
    defines it: HU = 1000 (mu - mu_water) / (mu_water - mu_air), mu_water = 0.02 /mm and
    mu_air = 2e-5 /mm (dival.util.constants).

    The one HU definition for LoDoPaB data: the ground truth of :func:`load_lodopab` goes
    through it, so an FBP converted here is on the same scale. ``physics.mu_to_hu``
    divides by mu_water alone (the textbook definition, DESIGN.md): its HU are those
    times (1 - mu_air / mu_water) = 0.999, i.e. 0.1 % closer to water - 1.0 HU at air,
    3.1 HU at LoDoPaB's top of 3071 HU, far below the data's noise, but not zero
    (``tests/test_loaders.py`` pins the factor).

    >>> float(lodopab_mu_to_hu(0.02)), float(lodopab_mu_to_hu(2e-5))
    (0.0, -1000.0)
    """
    mu_water, mu_air = LODOPAB_MU_WATER / 1000.0, LODOPAB_MU_AIR / 1000.0
    return 1000.0 * (np.asarray(mu_per_mm) - mu_water) / (mu_water - mu_air)


def lodopab_geometry(max_matrix_mb: float = 256.0) -> ParallelBeamCT:
    """The LoDoPaB-CT scan as a :class:`ParallelBeamCT` (mm units).

    362² pixels of 260/362 mm, 513 detector bins of 2 x 183.85/513 mm, 1000 views at
    (i + 1/2) x 0.18 deg in ODL's convention. ODL measures the angle phi of the detector
    axis (cos phi, sin phi) in the plane of the array axes (axis 0, axis 1); a pixel at
    array index (i, j) projects to i cos phi + j sin phi (centred). This class projects
    (row, col) to col cos theta - row sin theta, hence theta = phi - 90 deg with rows =
    array axis 0. Derived from ODL's documented geometry; check on your first file that
    ``lodopab_mu_to_hu(geometry.fbp(sinogram))`` resembles the ground truth.
    The projection matrix would be 2 GB, so it is computed view by view (~1-2 s a slice).
    """
    step = 180.0 / 1000
    return ParallelBeamCT(362, 1000, start_angle_deg=step / 2 - 90.0, n_detectors=513,
                          pixel_size_mm=260.0 / 362, detector_spacing_mm=2 * 183.85 / 513,
                          max_matrix_mb=max_matrix_mb)


def _lodopab_files(folder: Path, kind: str, part: str) -> list[Path]:
    return sorted(folder.rglob(f"{kind}_{part}_[0-9][0-9][0-9].hdf5"))


def load_lodopab(part: str = "test", n: int | None = None, *, start: int = 0,
                 data_dir: str | Path | None = None) -> LoDoPaBPairs:
    """Read LoDoPaB-CT samples ``start ... start + n - 1`` of a part.

    Args:
        part: "train", "validation" or "test" (35820 / 3522 / 3553 samples).
        n: how many (None: all from ``start``; a full part does not fit in RAM: 3553
            test samples are 7.3 GB of sinograms).
        start: first sample index.
        data_dir: folder holding the extracted files (searched recursively); default
            ``$I2I_DATA_DIR/lodopab``.

    Returns:
        :class:`LoDoPaBPairs`; ``sinograms`` are LoDoPaB's observations x MU_MAX, so
        ``lodopab_geometry().fbp(sinograms)`` is attenuation in 1/mm.
    """
    folder = _folder(data_dir, "lodopab")
    truths = _lodopab_files(folder, "ground_truth", part)
    observations = _lodopab_files(folder, "observation", part)
    numbers = [[p.name[-8:-5] for p in files] for files in (truths, observations)]
    if not truths or numbers[0] != numbers[1]:
        raise I2IDataError(
            f"LoDoPaB {part} files under {folder} are missing or incomplete "
            f"({len(truths)} ground_truth_{part}_NNN.hdf5, {len(observations)} "
            f"observation_{part}_NNN.hdf5, numbered {', '.join(numbers[0][:3]) or '-'} and "
            f"{', '.join(numbers[1][:3]) or '-'}). Run: python data_scripts/download.py "
            f"lodopab --parts {part}")
    shapes = [_lodopab_shapes(t, o) for t, o in zip(truths, observations, strict=True)]
    counts = [truth[0] for truth, _ in shapes]
    for index, files in enumerate((truths, observations)):  # one sample size in each kind
        for path, pair in zip(files, shapes, strict=True):
            if pair[index][1:] != shapes[0][index][1:]:
                raise _lodopab_damaged(path, f"its samples are {pair[index][1:]} where "
                                             f"{files[0].name}'s are {shapes[0][index][1:]}")
    sinograms, images = [], []
    wanted, skip = (np.inf if n is None else n), start
    for truth_path, observation_path, count in zip(truths, observations, counts, strict=True):
        if wanted <= 0:
            break
        if skip >= count:
            skip -= count
            continue
        stop = int(min(count, skip + wanted))
        images.append(_lodopab_read(truth_path, skip, stop))
        sinograms.append(_lodopab_read(observation_path, skip, stop))
        wanted -= stop - skip
        skip = 0
    if not images:
        raise I2IDataError(f"LoDoPaB {part} under {folder} has no sample {start}")
    images_hu = lodopab_to_hu(np.concatenate(images)).astype(np.float32)
    sinogram = (np.concatenate(sinograms) * LODOPAB_MU_MAX).astype(np.float32)
    ids_file = next(iter(folder.rglob(f"patient_ids_rand_{part}.csv")), None)
    patient = None
    if ids_file is not None:
        patient = _lodopab_patients(ids_file, sum(counts))[start:start + len(images_hu)]
    return LoDoPaBPairs(sinogram, images_hu, patient)


def _lodopab_damaged(path: Path, problem: str) -> I2IDataError:
    return I2IDataError(f"{path}: {problem}. The file is damaged or incomplete - delete it and "
                        "download it again: python data_scripts/download.py lodopab --parts "
                        f"{re.search(r'(train|validation|test)', path.name)[0]}")


def _lodopab_shapes(truth: Path, observation: Path) -> tuple[tuple[int, ...], ...]:
    """Shapes of 'data' in a ground_truth/observation file pair, after checking that they
    hold the same number of 2D samples (otherwise every later pair would be misaligned)."""
    import h5py

    found: list[tuple[int, ...]] = []
    for path in (truth, observation):
        try:
            with h5py.File(path, "r") as handle:
                data = handle["data"]
                shape, kind = data.shape, data.dtype.kind
        except Exception as exc:  # h5py: OSError, KeyError, ValueError on damaged files
            raise _lodopab_damaged(path, f"cannot be read as LoDoPaB HDF5 ({type(exc).__name__}:"
                                         f" {exc})") from exc
        if len(shape) != 3 or kind != "f" or 0 in shape[1:]:
            raise _lodopab_damaged(path, f"'data' is {shape} of kind {kind!r}, not (samples, "
                                         "rows, cols) floats")
        found.append(shape)
    if found[0][0] != found[1][0]:
        raise _lodopab_damaged(observation, f"it holds {found[1][0]} samples where "
                                            f"{truth.name} holds {found[0][0]}")
    return tuple(found)


def _lodopab_read(path: Path, begin: int, end: int) -> np.ndarray:
    """Samples begin..end-1 of a file's 'data', checked: finite, and ground truth within
    LoDoPaB's [0, 1] (attenuation / MU_MAX, clipped to that range when it was made)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            data = np.asarray(handle["data"][begin:end])
    except Exception as exc:
        raise _lodopab_damaged(path, f"cannot be read ({type(exc).__name__}: {exc})") from exc
    if not np.all(np.isfinite(data)):
        raise _lodopab_damaged(path, f"{int(np.sum(~np.isfinite(data)))} values are not finite")
    if path.name.startswith("ground_truth") and (data.min() < 0 or data.max() > 1):
        raise _lodopab_damaged(path, f"values span [{data.min():.4g}, {data.max():.4g}], "
                                     "outside LoDoPaB's normalised range [0, 1]")
    return data


def _lodopab_patients(path: Path, n_samples: int) -> np.ndarray:
    """One integer patient id a line, as many as the part has samples."""
    try:
        ids = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except Exception as exc:  # ValueError on text, UnicodeDecodeError on bytes
        raise _lodopab_damaged(path, f"is not one integer patient id a line ({type(exc).__name__}"
                                     f": {str(exc)[:80]})") from exc
    if ids.ndim != 1 or len(ids) != n_samples:
        raise _lodopab_damaged(path, f"holds {ids.size} patient ids in shape {ids.shape} for "
                                     f"{n_samples} samples")
    return ids


# --------------------------------------------------------------------------------------
# Slicing helpers
# --------------------------------------------------------------------------------------

def _volume(path: Path) -> NiftiImage:
    """:func:`~i2i_keras.io.read_nifti`, refusing anything but one 3D volume (trailing
    axes of length 1 are dropped): IXI and SynthRAD volumes are 3D, and slicing a 2D or
    4D array along the "slice axis" would give wrong slices or a bare IndexError."""
    image = read_nifti(path)
    array = image.array.reshape(image.array.shape[:3]) if (
        image.array.ndim > 3 and all(n == 1 for n in image.array.shape[3:])) else image.array
    if array.ndim != 3 or min(array.shape) < 1:
        raise I2IDataError(f"{path} holds an array of shape {image.array.shape}, not one 3D "
                           "volume; the file is damaged or not from this data set - download "
                           "it again")
    return NiftiImage(array, image.affine)


def _slice_axis(spacing: Sequence[float]) -> int:
    """The acquisition's slice axis: largest voxel spacing, ties -> the last axis."""
    spacing = np.round(np.asarray(spacing, float), 3)
    return int(len(spacing) - 1 - np.argmax(spacing[::-1]))


def _fit(image: np.ndarray, size: int | None, fill: float) -> np.ndarray:
    """Centre-crop or pad a 2D image to (size, size)."""
    if size is None:
        return image
    out = np.full((size, size), fill, dtype=image.dtype)
    src, dst = [], []
    for n in image.shape:
        if n >= size:
            begin = (n - size) // 2
            src.append(slice(begin, begin + size))
            dst.append(slice(0, size))
        else:
            begin = (size - n) // 2
            src.append(slice(0, n))
            dst.append(slice(begin, begin + n))
    out[tuple(dst)] = image[tuple(src)]
    return out


def _pick_slices(n_slices: int, count: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``count`` evenly spaced indices, inside the central 60% or where weights are high."""
    if weights is not None and weights.max() > 0:
        candidates = np.flatnonzero(weights >= 0.1 * weights.max())
    else:
        candidates = np.arange(int(0.2 * n_slices), max(int(0.8 * n_slices), 1))
    if len(candidates) == 0:
        candidates = np.arange(n_slices)
    positions = np.linspace(0, len(candidates) - 1, min(count, len(candidates)))
    return candidates[np.round(positions).astype(int)]


def _stack_slices(volume: np.ndarray, axis: int, indices: np.ndarray, size: int | None,
                  fill: float) -> list[np.ndarray]:
    return [_fit(np.take(volume, i, axis=axis), size, fill) for i in indices]


# --------------------------------------------------------------------------------------
# IXI
# --------------------------------------------------------------------------------------

_IXI_NAME = re.compile(r"(IXI\d+-[A-Za-z]+-\d+)-(T1|T2|PD)\.nii(\.gz)?$")


def ixi_files(weighting: str = "T2", data_dir: str | Path | None = None) -> dict[str, Path]:
    """Subject id (e.g. ``IXI002-Guys-0828``) -> NIfTI file of one weighting, sorted."""
    if weighting not in ("T1", "T2", "PD"):
        raise ValueError(f"weighting must be T1, T2 or PD, got {weighting!r}")
    folder = _folder(data_dir, "ixi")
    found = {}
    for path in sorted(folder.rglob(f"IXI*-{weighting}.nii*")):
        match = _IXI_NAME.search(path.name)
        if match:
            found[match.group(1)] = path
    if not found:
        raise I2IDataError(f"no IXI {weighting} files (IXI*-{weighting}.nii.gz) under {folder}. "
                           f"Run: python data_scripts/download.py ixi --parts {weighting}")
    return found


def load_ixi_slices(weighting: str = "T2", *, n_subjects: int | None = None,
                    slices_per_subject: int = 8, size: int | None = 256,
                    data_dir: str | Path | None = None) -> SliceSet:
    """2D slices of IXI volumes of one weighting (intensities as stored, arbitrary units).

    Slices are taken along the acquisition's slice axis (largest voxel spacing), evenly
    across the central 60% of the volume, and centre-cropped/padded to ``size``².

    Example:
        >>> hr = load_ixi_slices("T2", n_subjects=20)                 # doctest: +SKIP
        >>> lr = physics.kspace_truncate(hr.images, 4)                # doctest: +SKIP
    """
    files = list(ixi_files(weighting, data_dir).items())[:n_subjects]
    images, subjects = [], []
    for subject, path in files:
        volume = _volume(path)
        axis = _slice_axis(volume.spacing_mm)
        picked = _pick_slices(volume.array.shape[axis], slices_per_subject)
        images += _stack_slices(volume.array, axis, picked, size, 0.0)
        subjects += [subject] * len(picked)
    return SliceSet(np.stack(images).astype(np.float32), subjects)


def load_ixi_pairs(weightings: tuple[str, str] = ("T2", "PD"), *,
                   n_subjects: int | None = None, slices_per_subject: int = 8,
                   size: int | None = 256, data_dir: str | Path | None = None) -> SlicePairs:
    """Registered IXI slice pairs (inputs: first weighting, targets: second).

    T2 and PD come from one dual-echo acquisition and share their grid. T1 was acquired
    separately on another grid, so pairing it raises :class:`I2IDataError` (register it
    first).
    """
    first = ixi_files(weightings[0], data_dir)
    second = ixi_files(weightings[1], data_dir)
    subjects = [s for s in first if s in second][:n_subjects]
    if not subjects:
        raise I2IDataError(f"no IXI subject has both {weightings[0]} and {weightings[1]} files")
    inputs, targets, ids = [], [], []
    for subject in subjects:
        a, b = _volume(first[subject]), _volume(second[subject])
        check_pair(a.array, b.array, spacings=(a.spacing_mm, b.spacing_mm),
                   names=(first[subject].name, second[subject].name))
        axis = _slice_axis(a.spacing_mm)
        picked = _pick_slices(a.array.shape[axis], slices_per_subject)
        inputs += _stack_slices(a.array, axis, picked, size, 0.0)
        targets += _stack_slices(b.array, axis, picked, size, 0.0)
        ids += [subject] * len(picked)
    return SlicePairs(np.stack(inputs), np.stack(targets), None, ids)


# --------------------------------------------------------------------------------------
# SynthRAD2023 Task 1
# --------------------------------------------------------------------------------------

class SynthRADCase(NamedTuple):
    """One SynthRAD2023 Task 1 patient: MR (arbitrary units), CT (HU) and body mask, all
    (X, Y, Z) float32/bool on one grid described by ``affine`` (voxel -> RAS mm)."""

    patient_id: str
    region: str
    mr: np.ndarray
    ct_hu: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    spacing_mm: tuple[float, ...]


def synthrad_cases(region: str | None = "brain",
                   data_dir: str | Path | None = None) -> list[Path]:
    """Patient folders holding ``mr.nii.gz`` and ``ct.nii.gz``, for "brain", "pelvis" or
    None (both), sorted by patient id."""
    if region not in ("brain", "pelvis", None):
        raise ValueError(f"region must be 'brain', 'pelvis' or None, got {region!r}")
    folder = _folder(data_dir, "synthrad2023")
    cases = sorted({path.parent for path in folder.rglob("ct.nii.gz")
                    if (path.parent / "mr.nii.gz").exists()
                    and (region is None or region in (p.lower() for p in path.parts))},
                   key=lambda p: p.name)
    if not cases:
        raise I2IDataError(f"no SynthRAD2023 {region or ''} cases (<patient>/mr.nii.gz + "
                           f"ct.nii.gz) under {folder}. Run: python data_scripts/download.py "
                           "synthrad2023")
    return cases


def load_synthrad_case(folder: str | Path) -> SynthRADCase:
    """Read one patient's mr/ct/mask, checking that the three share a grid."""
    folder = Path(folder)
    mr, ct = _volume(folder / "mr.nii.gz"), _volume(folder / "ct.nii.gz")
    mask_file = folder / "mask.nii.gz"
    mask = _volume(mask_file) if mask_file.exists() else NiftiImage(
        np.ones_like(ct.array), ct.affine)
    for other, name in ((ct, "ct.nii.gz"), (mask, "mask.nii.gz")):
        check_pair(mr.array, other.array, spacings=(mr.spacing_mm, other.spacing_mm),
                   names=(str(folder / "mr.nii.gz"), str(folder / name)))
        # SynthRAD resampled each patient's three volumes onto one grid: the same affine.
        if not np.allclose(mr.affine, other.affine, atol=1e-3):
            raise I2IDataError(
                f"{folder / 'mr.nii.gz'} and {folder / name} place their voxels differently "
                f"(affines {np.round(mr.affine[:3], 3).tolist()} and "
                f"{np.round(other.affine[:3], 3).tolist()}): the pair is not registered. A "
                "header is damaged or the files come from different cases - download the "
                "data again")
    region = next((p for p in ("brain", "pelvis") if p in str(folder).lower()), "unknown")
    return SynthRADCase(folder.name, region, mr.array, ct.array, mask.array > 0.5, ct.affine,
                        ct.spacing_mm)


def load_synthrad_slices(region: str | None = "brain", *, n_patients: int | None = None,
                         slices_per_patient: int = 8, size: int | None = 256,
                         data_dir: str | Path | None = None) -> SlicePairs:
    """MR -> CT training pairs: 2D slices (inputs MR, targets CT in HU, masks body).

    Slices run along the slice axis (largest spacing; axial for both regions), evenly
    over the part of the volume where the body mask covers at least 10% of its largest
    cross-section; centre-cropped/padded to ``size``² (CT padded with -1000 HU).
    """
    inputs, targets, masks, ids = [], [], [], []
    for folder in synthrad_cases(region, data_dir)[:n_patients]:
        case = load_synthrad_case(folder)
        axis = _slice_axis(case.spacing_mm)
        coverage = case.mask.sum(axis=tuple(i for i in range(3) if i != axis))
        picked = _pick_slices(case.mask.shape[axis], slices_per_patient, coverage)
        inputs += _stack_slices(case.mr, axis, picked, size, 0.0)
        targets += _stack_slices(case.ct_hu, axis, picked, size, -1000.0)
        masks += _stack_slices(case.mask, axis, picked, size, False)
        ids += [case.patient_id] * len(picked)
    return SlicePairs(np.stack(inputs).astype(np.float32), np.stack(targets).astype(np.float32),
                      np.stack(masks), ids)
