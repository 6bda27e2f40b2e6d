# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Your own data: from a DICOM series or NIfTI file to a trained model and back
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/08_your_own_data.ipynb)
#
# **The task.** Every earlier notebook worked on arrays that were already clean: square
# slices, known pixel size, HU or a fixed MR scale. Real scans come as a folder of DICOM
# files or a NIfTI volume, with their own voxel spacing, orientation, stored integers that
# need a slope and an intercept, intensities in arbitrary units, and the patient's name in
# the header. A translated volume is only useful if it goes back out the same way: a file
# that 3D Slicer, ITK-SNAP or a PACS opens *in the right place*, with no patient data in it.
#
# This notebook walks the whole path once, on files that ship with the packages installed
# here (pydicom's and nibabel's test images) and on phantom heads written to DICOM and
# NIfTI first, as a scanner would export them:
#
# 1. **read** (HU, spacing, orientation), and a checklist of what goes wrong with real
#    data, each shown once: orientation, spacing, slope/intercept, intensity scaling, PHI;
# 2. **check a pair** (shape, spacing, overlap) and **window** it;
# 3. **train** a small U-Net on patches;
# 4. **predict the whole volume** with sliding windows, saved with its settings so it
#    cannot be applied with the wrong normalisation or spacing;
# 5. **write** NIfTI (affine kept) and a de-identified DICOM series, **read both back and
#    check** values, geometry and the header.
# %% [markdown]
# **Set-up.** On Colab, or in a notebook downloaded alone, `i2i_keras` is not installed
# yet: the next cell installs it from the project's repository into this kernel, keeping
# the TensorFlow and Keras that are already there (no kernel restart needed). In a clone
# set up with `pip install -e ".[dev]"` it does nothing.

# %%
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile

REPO_URL = "https://github.com/i2i-keras/i2i_keras"  # I2I_REPO_URL overrides it

if importlib.util.find_spec("i2i_keras") is None:
    url = os.environ.get("I2I_REPO_URL", REPO_URL)
    keep = []  # pin what is installed, so pip never replaces it
    for name in ("tensorflow", "keras", "jax", "torch"):
        try:
            keep.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        pins.write("\n".join(keep))
    print(f"installing i2i_keras from {url} ...")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", pins.name,
                           f"i2i_keras @ git+{url}"], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"Could not install i2i_keras ({last}).\nWithout internet access, "
                         "run these two commands where the repository can be reached, then "
                         f"restart the kernel:\n    git clone {url}\n    pip install ./i2i_keras")
    importlib.invalidate_caches()


# %% [markdown]
# ## Parameters
# Quick mode (`I2I_QUICK=1`, what the tests run) takes seconds on 64² slices; full mode
# a few minutes on a 2-core CPU: phantom heads of 128² × 28 slices, a U-Net trained on
# 64² patches. With a GPU the same cells train longer on more heads. `I2I_PRETRAINED=1`
# loads the full run's weights instead of training.

# %%
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pydicom
from nibabel.testing import data_path as NIBABEL_DATA
from pydicom.data import get_testdata_file
from scipy import ndimage
from tqdm import tqdm

from i2i_keras import inference, io, translate, volumes
from i2i_keras.claims import check

# %%
QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights
GPU = i2i.hardware.has_gpu() and not PRETRAINED  # shipped weights: the CPU full run's
P = dict(size=128, slices=28, heads=10,  # phantom heads: 6 train, 2 validation, 2 test
         slice_mm=220 / 64,              # slices twice as thick as the 1.72 mm pixels
         patch=64, batch=8, epochs=60, base_filters=16, depth=3)
if GPU and not QUICK:
    P.update(heads=30, epochs=80, base_filters=32)
if QUICK:
    P.update(size=64, slices=6, heads=4, patch=32, epochs=1, base_filters=8)
keras.utils.set_random_seed(0)
if keras.backend.backend() == "tensorflow":  # predict() on new shapes retraces: expected
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
WORK = Path(tempfile.mkdtemp(prefix="i2i_08_"))  # every file this notebook writes
T0 = time.perf_counter()
i2i.print_config()
print(("quick" if QUICK else "GPU" if GPU else "CPU") + " mode:", P)
print("files written to", WORK)

# %% [markdown]
# ## 1 · Reading real files: HU, spacing, orientation
# Three files that ship with pydicom and nibabel, of three kinds:
#
# * `CT_small.dcm`: one CT slice, stored as integers with a *rescale slope and intercept*
#   that turn them into HU;
# * `emri_small.dcm`: a *multi-frame* MR file (ten slices in one file);
# * nibabel's `anatomical.nii`: a T1 brain volume in NIfTI, whose array axes are
#   (x, y, z), not DICOM's (slices, rows, cols).
#
# `io.read_dicom` and `io.read_nifti` return the pixels in physical units with their
# geometry; `volumes.Volume` puts any of them into one convention: an array ordered
# (slices, rows, cols) and an `affine`, the 4 × 4 matrix that maps a voxel index to
# millimetres in the patient's coordinates (RAS+: x grows toward the patient's right, y
# toward the front, z toward the head). "Axes point to" below names, for each array axis,
# the direction in which its index grows (L left, P posterior, S superior...).

# %%
ct_file = io.read_dicom(get_testdata_file("CT_small.dcm"))
with warnings.catch_warnings(record=True) as caught:  # kept to show in § 2
    warnings.simplefilter("always")
    mr_file = io.read_dicom(get_testdata_file("emri_small.dcm"))
nifti_file = io.read_nifti(f"{NIBABEL_DATA}/anatomical.nii")
real = {"CT_small.dcm": volumes.Volume.from_dicom(ct_file),
        "emri_small.dcm": volumes.Volume.from_dicom(mr_file),
        "anatomical.nii": volumes.Volume.from_nifti(nifti_file)}
units = {"CT_small.dcm": ct_file.units, "emri_small.dcm": mr_file.units,
         "anatomical.nii": "as stored (MR, arbitrary)"}
for name, v in real.items():
    print(f"{name:15s} {str(v.array.shape):14s} spacing (slice, row, col) "
          f"{tuple(round(s, 3) for s in v.spacing_mm)} mm, axes point to {v.axis_codes()}, "
          f"values {v.array.min():.0f} to {v.array.max():.0f} {units[name]}")
print("affine of CT_small.dcm (voxel (slice, row, col) -> RAS mm):\n",
      real["CT_small.dcm"].affine.round(2))
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for ax, (name, v) in zip(axes, real.items()):
    window = (-160, 240) if name.startswith("CT") else np.percentile(v.array, [1, 99.5])
    ax.imshow(v.array[len(v.array) // 2], cmap="gray", vmin=window[0], vmax=window[1])
    ax.set_title(f"{name}\nmiddle slice", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2 · What goes wrong with real data: a checklist
# Each failure below is *silent* if nobody checks: the pixels still load, the network still
# returns an image. Each is shown once, with what the library does about it.
#
# **Orientation.** A NIfTI array is stored in whatever axis order the converter chose;
# `anatomical.nii` is (x, y, z) with x growing toward the patient's left. Showing
# `array[:, :, k]` gives a slice on its side; `Volume.from_nifti` reorders and flips the
# axes (no interpolation: nibabel's orientation tools) to DICOM's axial convention,
# slices toward the head, rows toward the back, columns toward the patient's left, and
# changes the affine to match, so every voxel keeps its place in millimetres.

# %%
raw_axes = nib.aff2axcodes(nifti_file.affine)
k = nifti_file.array.shape[2] // 2
fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.4))
axes[0].imshow(nifti_file.array[:, :, k], cmap="gray")
axes[0].set_title(f"array[:, :, {k}] as stored\naxes point to {raw_axes}", fontsize=9)
axes[1].imshow(real["anatomical.nii"].array[k], cmap="gray")
axes[1].set_title(f"Volume.from_nifti(...).array[{k}]\naxes point to "
                  f"{real['anatomical.nii'].axis_codes()}", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()
ijk = np.array([5, 7, k, 1])  # one voxel of the stored array, and where it lies
where_mm = nifti_file.affine @ ijk
kji = np.round(np.linalg.inv(real["anatomical.nii"].affine) @ where_mm).astype(int)[:3]
check("a voxel keeps its value and its position in mm after reorientation",
      real["anatomical.nii"].array[tuple(kji)] == nifti_file.array[tuple(ijk[:3])],
      f"stored {ijk[:3]} -> reoriented {kji}")

# %% [markdown]
# **Spacing.** `emri_small.dcm` has no `PixelSpacing`; the reader assumes 1 mm and says
# so (below). A network trained on the phantoms' larger pixels would see anatomy at the
# wrong scale on 1 mm pixels; § 6 shows `translate` refusing such an input, and
# resampling it when asked to.

# %%
for w in caught:
    print("warning:", str(w.message).replace(str(Path(get_testdata_file("emri_small.dcm"))
                                                  .parent), "..."))

# %% [markdown]
# **Rescale slope and intercept.** CT files store integers; HU = stored × slope +
# intercept. `CT_small.dcm` stores HU + 1024. Read the raw pixels with pydicom and forget
# the intercept, and every tissue is 1024 HU too dense, air included. The library's
# readers apply it, and functions that expect HU refuse integer arrays, which are almost
# always stored values:

# %%
ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
stored = ds.pixel_array
print(f"RescaleSlope {ds.RescaleSlope}, RescaleIntercept {ds.RescaleIntercept}")
print(f"stored values {stored.min()} to {stored.max()} ({stored.dtype}); "
      f"HU {ct_file.array.min():.0f} to {ct_file.array.max():.0f}")
try:
    i2i.datasets.CT_WINDOW.normalize(stored)
except io.I2IDataError as error:
    print("refused:", str(error)[:170], "...")

# %% [markdown]
# **Intensity scaling.** CT numbers are physical; MR intensities are not: the same
# anatomy gives values to ~470 in `emri_small.dcm` and to ~1 in our phantom MR, depending
# on the scanner's gain. So MR is scaled per volume: 0 stays at −1 and the volume's
# 99.5th percentile goes to +1 (`translate.normalise`; one factor for the whole volume,
# so slices keep their relation to each other). A scaled copy normalises to the same
# input:

# %%
mr_spec = {"kind": "percentile", "percentile": 99.5}
emri = real["emri_small.dcm"].array
same = np.abs(translate.normalise(3.0 * emri, mr_spec) - translate.normalise(emri, mr_spec)).max()
print(f"emri_small.dcm normalised: {translate.normalise(emri, mr_spec).min():.2f} to "
      f"{translate.normalise(emri, mr_spec).max():.2f}; the same x 3 differs by at most {same:.1e}")
check("per-volume percentile scaling removes the scanner's gain", same < 1e-5, f"{same:.1e}")

# %% [markdown]
# **Protected health information (PHI).** The header of `CT_small.dcm` names its
# (test) patient. Everything a DICOM header carries about the patient must go before a
# file leaves the hospital: name, ID, birth date, but also dates, institution, physicians
# and free-text descriptions (DICOM PS3.15's basic profile). § 7 writes the results
# de-identified and reads the header back.

# %%
for key in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "StudyDate"):
    print(f"{key:17s} {str(ds.get(key, '(absent)'))!r}")

# %% [markdown]
# ## 3 · A paired data set, exported as a scanner would export it
# For training we need registered MR/CT pairs. Phantom heads (`volumes.head_volume`) give
# them by construction: each head is drawn slice after slice with one pose and one
# anatomy, so structures continue from slice to slice, and its CT (HU) and spin-echo T1
# MR come from the same tissue map. Slices are twice as thick as the pixels are wide
# (an anisotropic volume, as most clinical series are; thick slices average their tissue,
# as real ones do).
#
# To practise the real route, each head is first **written out**: the CT as a DICOM
# series (with a patient name, ID and birth date in the header, as a PACS export has),
# the MR as a compressed NIfTI file. Everything after this cell reads only those files.

# %%
def phantom_heads(heads, size, slices, slice_mm, version):
    """CT (HU), T1 MR and tissue labels of `heads` phantom heads, (heads, slices, size, size).
    (`version`: of the volume generator, so a changed generator is not read from the cache.)"""
    out = {"ct": [], "mr": [], "labels": []}
    # Progress bars go to standard output: in a notebook, standard error shows as red.
    for seed in tqdm(range(heads), desc="phantom heads", file=sys.stdout, mininterval=2.0):
        head = volumes.head_volume(size, slices, seed=seed, slice_mm=slice_mm,
                                   supersample=1 if QUICK else 2)
        out["ct"].append(head.ct(seed=seed))
        out["mr"].append(head.mr("T1", seed=seed))
        out["labels"].append(head.labels)
    return {k: np.stack(v) for k, v in out.items()} | {"affine": head.affine}


def export_head(i, folder):
    """Write head i's CT as a DICOM series (with made-up PHI) and its MR as NIfTI."""
    g = volumes.Volume(HEADS["ct"][i], HEADS["affine"]).dicom_geometry()
    phi = pydicom.Dataset()  # what a real export carries; made up here
    phi.PatientName, phi.PatientID = f"Phantom^Head{i:02d}", f"PH{i:04d}"
    phi.PatientBirthDate, phi.Modality = "19700101", "CT"
    io.write_dicom_series(g["array"], folder / f"head{i:02d}_ct", reference=phi,
                          spacing_mm=g["spacing_mm"], origin_mm=g["origin_mm"],
                          orientation=g["orientation"], deidentify=False)
    io.write_nifti(folder / f"head{i:02d}_mr.nii.gz", HEADS["mr"][i], HEADS["affine"])


t = time.perf_counter()
HEADS = i2i.datasets.cached("own_data_heads", phantom_heads, heads=P["heads"],
                            size=P["size"], slices=P["slices"], slice_mm=P["slice_mm"],
                            version=volumes.VERSION)
EXPORT = WORK / "export"
for i in range(P["heads"]):
    export_head(i, EXPORT)
print(f"{P['heads']} heads drawn (or read from the cache) and exported in "
      f"{time.perf_counter() - t:.0f} s:",
      sorted(p.name for p in EXPORT.iterdir())[:4], "...")

# %% [markdown]
# **Reading them back, and checking each pair.** A pair is usable only if the MR and the
# CT are on the same voxel grid (same shape, same spacing), lie at the same place in the
# patient (same affine: the grids *overlap*), and show the same anatomy there (the body
# outlines agree). `io.check_pair` refuses a pair on different grids with the fix; the
# anatomical overlap is the Dice coefficient of the two body masks (CT above −500 HU; MR
# above a tenth of its 99.5th percentile, holes filled: bone and air are dark on MR).

# %%
def read_pair(i):
    """(MR Volume, CT Volume, CT DicomImage) of head i, from the exported files."""
    ct_image = io.read_dicom_series(EXPORT / f"head{i:02d}_ct")
    mr = volumes.Volume.from_nifti(io.read_nifti(EXPORT / f"head{i:02d}_mr.nii.gz"))
    return mr, volumes.Volume.from_dicom(ct_image), ct_image


def body(volume, threshold):
    return np.stack([ndimage.binary_fill_holes(s > threshold) for s in volume])


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


pairs, overlaps = [], []
for i in range(P["heads"]):
    mr, ct, _ = read_pair(i)
    io.check_pair(mr.array, ct.array, spacings=(mr.spacing_mm, ct.spacing_mm),
                  names=(f"head{i:02d}_mr.nii.gz", f"head{i:02d}_ct/"))
    offset_mm = np.abs(mr.affine - ct.affine).max()
    overlaps.append((offset_mm, dice(body(mr.array, 0.1 * np.percentile(mr.array, 99.5)),
                                     body(ct.array, -500.0))))
    pairs.append((mr, ct))
mr, ct = pairs[0]
print(f"each pair: {ct.array.shape} voxels (slice, row, col), spacing "
      f"{tuple(round(s, 3) for s in ct.spacing_mm)} mm, axes to {ct.axis_codes()}")
worst_mm, worst_dice = max(o[0] for o in overlaps), min(o[1] for o in overlaps)
print(f"largest affine difference MR vs CT: {worst_mm:.4f} mm; lowest body Dice {worst_dice:.3f}")
check("every pair is on one grid in the same place (affines within 0.01 mm) with body "
      "outlines that agree (Dice > 0.95)", worst_mm < 0.01 and worst_dice > 0.95,
      f"{worst_mm:.4f} mm, Dice {worst_dice:.3f}")

# %% [markdown]
# **A damaged export.** Copies go wrong too: a slice lost on the way, a localizer or a
# second stack saved into the same folder. `io.read_dicom_series` sorts the slices along
# their normal and refuses a gap, uneven spacing or mixed orientations, naming the files:

# %%
broken = WORK / "broken_series"
shutil.copytree(EXPORT / "head00_ct", broken)
(broken / "IM0004.dcm").unlink()  # one slice lost
try:
    io.read_dicom_series(broken)
except io.I2IDataError as error:
    print("refused:", str(error).replace(str(WORK), "WORK"))

# %% [markdown]
# **Windows.** The CT goes to the network through a fixed window: −1000 HU (air) to
# +2000 HU (dense bone) mapped linearly onto [−1, 1] (`datasets.CT_WINDOW`, exactly
# invertible); the MR through its per-volume percentile (§ 2). For *showing* CT, a display
# window picks the HU range that matters: brain (level 40, width 80 HU), soft tissue
# (40, 400), bone (400, 1800). A sagittal cut shows the thick slices.

# %%
CT_SPEC = {"kind": "window", "low": -1000.0, "high": 2000.0}
mid = len(ct.array) // 2
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
axes[0].imshow(mr.array[mid], cmap="gray", vmin=0, vmax=np.percentile(mr.array, 99.5))
axes[0].set_title("MR (T1), per-volume scale", fontsize=9)
for ax, name in zip(axes[1:3], ("brain", "bone")):
    lo, hi = io.window_limits(name)
    ax.imshow(ct.array[mid], cmap="gray", vmin=lo, vmax=hi)
    ax.set_title(f"CT, {name} window ({lo:.0f} to {hi:.0f} HU)", fontsize=9)
lo, hi = io.window_limits("soft_tissue")
axes[3].imshow(ct.array[:, :, P["size"] // 2], cmap="gray", vmin=lo, vmax=hi, origin="lower",
               aspect=ct.spacing_mm[0] / ct.spacing_mm[1])
axes[3].set_title("CT, sagittal cut (slices upward)", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4 · Training on patches
# Split by head (never by slice: neighbouring slices of one head are nearly the same
# image), then train a small U-Net to map MR to CT on random 64² patches of the training
# slices, flipped and shifted identically in both images (`datasets.paired_dataset`).
# Patches are cheaper than whole slices and let one network serve images of any size
# (§ 5). The U-Net has **no normalisation layers** (`norm="none"`): instance
# normalisation would compute its statistics over each tile, not the whole slice, and
# tiles would disagree (§ 5 measures it).

# %%
split = i2i.datasets.split_by_patient(np.arange(P["heads"]), val=0.2, test=0.2, seed=0)
print({k: [f"head{i:02d}" for i in v] for k, v in split.items()})


def stacked(heads):
    """Normalised (MR, CT) slices of some heads, (n, size, size, 1) each."""
    x = np.concatenate([translate.normalise(pairs[i][0].array, mr_spec) for i in heads])
    y = np.concatenate([translate.normalise(pairs[i][1].array, CT_SPEC) for i in heads])
    return x[..., None], y[..., None]


(x_train, y_train), (x_val, y_val) = stacked(split["train"]), stacked(split["val"])
train_ds = i2i.datasets.paired_dataset(x_train, y_train, P["batch"], augment=True,
                                       patch_size=P["patch"], max_shift=4, seed=0)
val_ds = i2i.datasets.paired_dataset(x_val, y_val, P["batch"], shuffle=False)
net = i2i.models.unet((None, None, 1), depth=P["depth"], base_filters=P["base_filters"],
                      norm="none", name="mr_to_ct_unet")
trainer = i2i.training.Supervised(net)
steps = P["epochs"] * (len(x_train) // P["batch"])
trainer.compile(i2i.training.adam(1e-3, steps), loss="l1")
t = time.perf_counter()
history = i2i.pretrained.fit_or_load(
    "08/mr_to_ct_unet-phantom", trainer, train_ds, validation_data=val_ds,
    epochs=P["epochs"], verbose=0, callbacks=[i2i.training.ProgressBar(("loss", "val_psnr"))])
print(f"{net.count_params():,} parameters; {len(x_train)} training slices, "
      f"{steps * P['batch']} patches of {P['patch']}² in {(time.perf_counter() - t) / 60:.1f} min")

# %% [markdown]
# ## 5 · The whole volume, by sliding windows, with the run's settings saved beside it
# `translate.save_run` stores the network (`model.keras`) with a `run.json` that says how
# it must be used: the input's normalisation and channels, the output's window, the voxel
# spacing it was trained at, the patch size and how tiles are blended. `translate.translate`
# reads a DICOM series, a NIfTI file or a `Volume`, checks it against the run, normalises
# it, cuts every slice into overlapping 64² tiles (a quarter tile apart, starts on
# multiples of 8 so each tile's pooling grid matches the slice's), predicts them in
# batches, blends them with Gaussian weights that fall toward each tile's edge, and
# returns HU on the input's grid. The tiles overlap by three quarters, not the common
# half: then every voxel lies within an eighth of a tile of some tile's centre, far from
# that tile's zero-padded edges, where the Gaussian gives it most weight (with half
# overlap, voxels midway between two centres get about 0.9 % of their values 4 HU or
# more off the one-shot prediction, against 0.5 % here: measured on this network while
# writing this notebook; exercise 1 looks at plain tiling).

# %%
config = translate.example_config(spacing_mm=ct.spacing_mm, patch=P["patch"])
config["input"]["normalisation"] = mr_spec
config["output"]["normalisation"] = CT_SPEC
config["overlap"] = 0.75
config["model"] = {"builder": "i2i_keras.models.unet", "depth": P["depth"],
                   "base_filters": P["base_filters"], "norm": "none"}
RUN = WORK / "mr_to_ct_run"
saved = json.loads(translate.save_run(RUN, net, config).read_text())
for key in ("input", "output", "spacing_mm", "mode", "patch", "overlap", "blend", "align"):
    print(f"{key:11s} {json.dumps(saved[key])}")
print(f"{RUN.name}/ holds {sorted(p.name for p in RUN.iterdir())}")

# %%
test_heads = list(split["test"])
synthetic = {}
for i in test_heads:
    nifti = io.read_nifti(EXPORT / f"head{i:02d}_mr.nii.gz")  # straight from the file
    synthetic[i] = translate.translate(nifti, RUN, progress=False)
print(f"translated {len(test_heads)} test heads, {synthetic[test_heads[0]].array.shape} each")

# %% [markdown]
# **How good, against a baseline.** The classical MR-only CT is *bulk density*: one HU
# value inside the body outline, air outside (radiotherapy planning did this for years).
# Its threshold and value are tuned on the validation heads. Errors in HU per tissue, on
# the two test heads (tissue classes from the phantom's labels):

# %%
def bulk_density(mr_array, level, hu):
    return np.where(body(mr_array, level * np.percentile(mr_array, 99.5)), hu, -1000.0)


grid = [(level, hu) for level in (0.05, 0.1, 0.2) for hu in (0.0, 50.0, 100.0, 200.0)]
val_mae = {g: np.mean([i2i.metrics.mae(bulk_density(pairs[i][0].array, *g), pairs[i][1].array)
                       for i in split["val"]]) for g in grid}
best = min(val_mae, key=val_mae.get)
print(f"bulk density tuned on validation: MR level {best[0]} x 99.5th percentile, "
      f"{best[1]:.0f} HU inside (validation MAE {val_mae[best]:.0f} HU)")
truth = np.concatenate([pairs[i][1].array for i in test_heads])
masks = i2i.metrics.tissue_masks(np.concatenate([HEADS["labels"][i] for i in test_heads]))
results = {"bulk density": i2i.metrics.hu_report(
               np.concatenate([bulk_density(pairs[i][0].array, *best) for i in test_heads]),
               truth, masks),
           "U-Net (sliding windows)": i2i.metrics.hu_report(
               np.concatenate([synthetic[i].array for i in test_heads]), truth, masks)}
print(i2i.metrics.format_table(results))
i2i.tutorials.readme_table(
    ["", *results], [[k, *(f"{r[k]:.1f}" for r in results.values())]
                     for k in results["U-Net (sliding windows)"] if k.startswith("MAE")])
unet_mae = results["U-Net (sliding windows)"]["MAE body (HU)"]
bulk_mae = results["bulk density"]["MAE body (HU)"]
check("the U-Net's body MAE is below tuned bulk density's", unet_mae < bulk_mae,
      f"{unet_mae:.1f} against {bulk_mae:.1f} HU")

# %% [markdown]
# **The bars of sliding windows.** Two things must hold for tiling to be harmless:
#
# 1. away from the image border the blended output equals a **one-shot** prediction of the
#    whole slice (the U-Net is fully convolutional, so it takes a 128² slice at once), to
#    far below what could matter: on average under half a HU (the DICOM written in § 7
#    stores whole HU) and for 99 % of voxels within 4 HU (half the CT's 8 HU noise). Not
#    exactly: a tile's edges are zero-padded where the whole slice has anatomy, and this
#    U-Net's receptive field (about 90 pixels) is wider than a tile;
# 2. no **seam** where tiles meet. `inference.seam_ratio` divides the mean step between
#    neighbouring pixels across the tile borders by the mean step elsewhere (in the body).
#    The output must step across borders as the one-shot prediction does at the same
#    places (the ratios within 2 %).
#
# Plain tiling (no overlap, no weights) is the contrast; and an instance-normalised U-Net,
# untrained, shows why this one has no normalisation layers.

# %%
i = test_heads[0]
x_test = translate.normalise(pairs[i][0].array, mr_spec)[..., None]
one_shot = translate.denormalise(net.predict(x_test, verbose=0, batch_size=4)[..., 0], CT_SPEC)
tiled = synthetic[i].array
plain = translate.denormalise(inference.predict_volume(
    x_test, net, P["patch"], overlap=0.0, blend="constant", progress=False)[..., 0], CT_SPEC)
m = P["patch"] // 4  # "away from the border": a quarter patch in from the slice's edge
inner = (slice(None), slice(m, -m), slice(m, -m))
diff = np.abs(tiled - one_shot)[inner]
print(f"|sliding windows - one shot| away from the border: mean {diff.mean():.3f} HU, "
      f"99th percentile {np.percentile(diff, 99):.2f} HU, max {diff.max():.1f} HU; "
      f"plain tiling: mean {np.abs(plain - one_shot)[inner].mean():.2f} HU, "
      f"max {np.abs(plain - one_shot)[inner].max():.1f} HU")
check("sliding windows equal the one-shot prediction away from the border to far below what "
      "matters: mean difference under 0.5 HU, 99 % of voxels within 4 HU",
      diff.mean() < 0.5 and np.percentile(diff, 99) < 4.0,
      f"mean {diff.mean():.3f}, 99th percentile {np.percentile(diff, 99):.2f} HU")
bone = (pairs[i][1].array > 300)[inner]
near_bone = ndimage.binary_dilation(bone, np.ones((1, 5, 5), bool)) & ~ndimage.binary_erosion(
    bone, np.ones((1, 5, 5), bool))
far = diff > 4
print(f"voxels more than 4 HU apart: {far.mean():.2%}, of which {near_bone[far].mean():.0%} "
      f"within 2 pixels of a bone edge (where {near_bone.mean():.0%} of all voxels lie); the "
      f"network's own bone MAE is {results['U-Net (sliding windows)']['MAE bone (HU)']:.0f} HU")

# %%
starts = inference.tile_starts(P["size"], P["patch"], config["overlap"], 8)
borders = sorted({s for s in starts[1:]} | {s + P["patch"] for s in starts[:-1]})
plain_borders = inference.tile_starts(P["size"], P["patch"], 0.0)[1:]
inside = masks["body"][: len(tiled)]


def seams(image, at):
    """Seam ratios across columns and across rows at positions `at`, in the body."""
    return [inference.seam_ratio(image, at, axis=a, mask=inside) for a in (-1, -2)]


ratio = {"one shot": seams(one_shot, borders), "sliding windows": seams(tiled, borders),
         "one shot, plain tiling's borders": seams(one_shot, plain_borders),
         "plain tiling": seams(plain, plain_borders),
         "sliding windows - one shot": seams(tiled - one_shot, borders),
         "plain tiling - one shot": seams(plain - one_shot, plain_borders)}
for name, (cols, rows) in ratio.items():
    print(f"seam ratio, {name:33s} across columns {cols:6.3f}, across rows {rows:6.3f}")
excess = max(abs(a / b - 1) for a, b in zip(ratio["sliding windows"], ratio["one shot"]))
plain_excess = max(abs(a / b - 1) for a, b in zip(ratio["plain tiling"],
                                                  ratio["one shot, plain tiling's borders"]))
cols = [b - 1 for b in borders]  # steps from column b - 1 to b, in the body
step = np.abs(np.diff(tiled - one_shot, axis=-1))[..., cols][inside[..., cols]]
print(f"sliding windows: seam ratios {100 * excess:.1f} % from the one shot's; what tiling "
      f"changes steps by {step.mean():.2f} HU on average across a tile border. Plain tiling: "
      f"{100 * plain_excess:.0f} % from the one shot's")
check("no measurable seam: across tile borders the sliding-window output steps as the one-shot "
      "prediction does (seam ratios within 2 %)", excess < 0.02, f"{100 * excess:.1f} %")
check("plain tiling leaves a seam: its seam ratio is more than 2 % off the one shot's, and its "
      "difference from the one-shot prediction steps at tile borders at least 3x more than "
      "elsewhere", plain_excess > 0.02 and min(ratio["plain tiling - one shot"]) > 3,
      f"{100 * plain_excess:.1f} %, {min(ratio['plain tiling - one shot']):.2f}")

# %%
keras.utils.set_random_seed(0)
instance_net = i2i.models.unet((None, None, 1), depth=P["depth"], base_filters=P["base_filters"],
                               norm="instance")
whole = instance_net.predict(x_test, verbose=0, batch_size=4)
by_tiles = inference.predict_volume(x_test, instance_net, P["patch"], overlap=0.75, align=8,
                                    progress=False)
instance_diff = np.abs(translate.denormalise(whole, CT_SPEC) - translate.denormalise(by_tiles, CT_SPEC))
print(f"instance-normalised U-Net (untrained): |tiles - one shot| {instance_diff[inner].mean():.1f} "
      f"HU on average, against {diff.mean():.3f} HU without normalisation layers")
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
k = len(tiled) // 2
shown = {"one shot": one_shot[k], "sliding windows": tiled[k],
         "sliding − one shot (±1 HU)": tiled[k] - one_shot[k],
         "plain tiling − one shot (±20 HU)": plain[k] - one_shot[k]}
for ax, (name, image) in zip(axes, shown.items()):
    diff_map = "−" in name
    limit = 1.0 if "±1" in name else 20.0
    ax.imshow(image, cmap="RdBu_r" if diff_map else "gray",
              vmin=-limit if diff_map else -160, vmax=limit if diff_map else 240)
    ax.set_title(name, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 6 · The run refuses what does not fit it
# The same call on inputs that do not match the run stops *before any work* with a
# message that names the fix. The real MR of `emri_small.dcm` (1 mm pixels assumed, § 2)
# against a model trained at the phantom's pixel size; the same with resampling asked for
# (its 64 mm field of view then holds fewer pixels than a patch); a two-channel input to a
# one-channel model:

# %%
emri_volume = real["emri_small.dcm"]
attempts = {"1 mm pixels": lambda: translate.translate(emri_volume, RUN),
            "resampled": lambda: translate.translate(emri_volume, RUN, resample=True),
            "two channels": lambda: translate.translate(
                volumes.Volume(np.stack([emri_volume.array] * 2, -1), emri_volume.affine), RUN)}
for name, attempt in attempts.items():
    try:
        attempt()
        print(f"{name}: accepted")
    except io.I2IDataError as error:
        print(f"{name}: refused: {str(error).replace(str(RUN), 'RUN')}\n")

# %% [markdown]
# A real brain MR that fits once padded: nibabel's `anatomical.nii` (2 mm voxels) is
# padded with background to at least a patch at the model's spacing and translated with
# `resample=True` (to the model's pixel size and back). There is **no truth** to score
# against, and the network has only ever seen phantoms; what comes out shows how a model
# behaves out of its distribution, not a CT.

# %%
brain = real["anatomical.nii"]
need = int(np.ceil(P["patch"] * ct.spacing_mm[1] / brain.spacing_mm[1]))
pad = [(0, 0)] + [(0, max(0, need - n)) for n in brain.array.shape[1:]]
padded = volumes.Volume(np.pad(brain.array, pad), brain.affine)  # padding after the
brain_ct = translate.translate(padded, RUN, resample=True, progress=False)  # last voxel: same affine
print(f"anatomical.nii {brain.array.shape} at {brain.spacing_mm[1]:.1f} mm, padded to "
      f"{padded.array.shape}; synthetic 'CT' {brain_ct.array.min():.0f} to "
      f"{brain_ct.array.max():.0f} HU on the input's grid {brain_ct.array.shape}")
fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.3))
k = len(brain.array) // 2
axes[0].imshow(padded.array[k], cmap="gray")
axes[0].set_title("anatomical.nii (real T1), padded", fontsize=9)
axes[1].imshow(brain_ct.array[k], cmap="gray", vmin=-160, vmax=240)
axes[1].set_title("phantom-trained network's output", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 7 · Writing the result, and reading it back
# The synthetic CT of a test head goes out twice: as NIfTI (float32 values, the affine in
# the header) and as a DICOM series de-identified by `io.write_dicom_series` (the header
# is built from scratch from a short list of technical attributes; patient and study
# attributes stay empty, UIDs are new). The input CT series carried a name, an ID and a
# birth date; the reference passed to the writer is that series, so whatever leaks would
# show. Then both files are read back as a stranger would read them.

# %%
i = test_heads[0]
out = synthetic[i]
source_header = read_pair(i)[2].header
nifti_path = io.write_nifti(WORK / "results" / f"head{i:02d}_synthetic_ct.nii.gz", out.array,
                            out.affine)
g = out.dicom_geometry()
dicom_folder = WORK / "results" / f"head{i:02d}_synthetic_ct"
io.write_dicom_series(g["array"], dicom_folder, reference=source_header,
                      spacing_mm=g["spacing_mm"], origin_mm=g["origin_mm"],
                      orientation=g["orientation"], series_description="synthetic CT (i2i_keras)")
nifti_back = volumes.Volume.from_nifti(io.read_nifti(nifti_path))
dicom_image = io.read_dicom_series(dicom_folder)
dicom_back = volumes.Volume.from_dicom(dicom_image)
header = dicom_image.header
print(f"input series header: PatientName {str(source_header.PatientName)!r}, PatientID "
      f"{source_header.PatientID!r}, PatientBirthDate {source_header.PatientBirthDate!r}")
print(f"written series:      PatientName {str(header.PatientName)!r}, PatientID "
      f"{header.PatientID!r}, PatientBirthDate {header.PatientBirthDate!r}, "
      f"PatientIdentityRemoved {header.PatientIdentityRemoved!r}")
print(f"RescaleSlope {header.RescaleSlope}, RescaleIntercept {header.RescaleIntercept} "
      "(whole HU stored as signed 16-bit)")

# %%
nifti_values = np.abs(nifti_back.array - out.array).max()
nifti_geometry = np.abs(nifti_back.affine - out.affine).max()
dicom_values = np.abs(dicom_back.array - out.array).max()
dicom_geometry = np.abs(dicom_back.affine - out.affine).max()
print(f"NIfTI: values differ by at most {nifti_values:.2g} HU, affine by {nifti_geometry:.2g} mm")
print(f"DICOM: values differ by at most {dicom_values:.3f} HU (slope {float(header.RescaleSlope):g}), "
      f"affine by {dicom_geometry:.2g} mm")
check("the NIfTI reads back with the same values and affine", nifti_values == 0
      and nifti_geometry < 1e-4, f"{nifti_values:.2g} HU, {nifti_geometry:.2g} mm")
check("the DICOM series reads back with the same values to the rescale precision (half the "
      "slope) and the same geometry (within 0.001 mm)",
      dicom_values <= float(header.RescaleSlope) / 2 + 1e-3 and dicom_geometry < 1e-3,
      f"{dicom_values:.3f} HU, {dicom_geometry:.2g} mm")
leaks = [k for k in io.BASIC_PROFILE_ATTRIBUTES if str(header.get(k, "") or "").strip()]
check("the written DICOM carries no patient name, ID or birth date, nor any other attribute "
      "of the PS3.15 basic profile", not leaks, f"with values: {leaks}")

# %% [markdown]
# ## 8 · The checklist
# | what goes wrong | how it looks | what catches it here |
# |---|---|---|
# | orientation | slices on their side or mirrored; left and right swapped | `Volume.from_nifti` reorients to (S, P, L) with the affine; `axis_codes()` |
# | spacing | anatomy at the wrong scale; no error | the reader warns without `PixelSpacing`; `translate` refuses a spacing the run was not trained at, or resamples on request |
# | slope/intercept | every HU off by 1024 (or scaled) | `io.read_dicom` applies them; HU functions refuse integer arrays |
# | intensity scaling | MR from another scanner far brighter or darker | per-volume percentile scaling, saved in `run.json` |
# | patient data | names, IDs, dates in headers you share | `io.write_dicom_series` de-identifies by default; check the header you wrote |
# | bad series | a missing slice, uneven gaps, a localizer mixed in | `io.read_dicom_series` refuses them, naming the files (§ 3) |
#
# Two more that tiling adds: a volume **smaller than a patch** (refused, § 6) and
# **normalisation layers** that see only a tile (measured in § 5).

# %%
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min "
      f"({'quick' if QUICK else 'GPU' if GPU else 'CPU'} mode)")

# %% [markdown]
# ## Exercises
# 1. **Plain tiling.** Copy the run folder, set `"overlap": 0` and `"blend": "constant"` in
#    its `run.json`, translate a test head with it. How big is the seam (seam ratio) and
#    how far is it from the one-shot prediction? What does overlap cost in time?
# 2. **Resampling is not free.** Resample a test CT to 1 mm isotropic voxels and back to its
#    grid (`volumes.resample`, `volumes.resample_to`). Where does the error sit, per tissue?
# 3. **What de-identification removes.** Write the synthetic CT again with
#    `deidentify=False` and the input series as reference. Which attributes of
#    `io.BASIC_PROFILE_ATTRIBUTES` now carry a value?
# 4. **Another scanner's gain.** Make a test head's MR 1.5 times brighter (a scanner with
#    a higher gain). Scale it per volume, as the run does, and alternatively by one fixed
#    factor (the training volumes' mean 99.5th percentile), and translate both. How does
#    the body MAE change? Which part of the run prevents the second?
#
# Solutions follow (collapsed in Jupyter: click to expand); try first.

# %% [markdown] jupyter={"source_hidden": true}
# ### Solutions

# %% jupyter={"source_hidden": true}
# 1. Plain tiling through a copied run.
plain_run = WORK / "plain_run"
shutil.copytree(RUN, plain_run, dirs_exist_ok=True)
settings = json.loads((plain_run / "run.json").read_text()) | {"overlap": 0.0, "blend": "constant"}
(plain_run / "run.json").write_text(json.dumps(settings))
for name, run in (("blended", RUN), ("plain", plain_run)):
    t = time.perf_counter()
    result = translate.translate(io.read_nifti(EXPORT / f"head{i:02d}_mr.nii.gz"), run,
                                 progress=False).array
    cuts = borders if name == "blended" else plain_borders
    print(f"{name}: {time.perf_counter() - t:.1f} s; result - one shot: seam ratio (columns) "
          f"{inference.seam_ratio(result - one_shot, cuts, mask=inside):.2f}, mean "
          f"{np.abs(result - one_shot)[inner].mean():.2f} HU")
# Overlap costs predictions: 25 tiles a 128² slice at overlap 0.75, 4 without: time spent
# for no seam.

# %% jupyter={"source_hidden": true}
# 2. Resampling to 1 mm and back.
ct_i = pairs[i][1]
fine = volumes.resample(ct_i.array, ct_i.affine, (1.0, 1.0, 1.0))
back = volumes.resample_to(fine.array, fine.affine, ct_i.affine, ct_i.array.shape)
labels_i = i2i.metrics.tissue_masks(HEADS["labels"][i])
print(f"{ct_i.array.shape} -> {fine.array.shape} -> back; MAE per tissue:",
      {k: round(i2i.metrics.mae(back.array, ct_i.array, v), 1) for k, v in labels_i.items()
       if v.any()})
# Up and back down smooths edges; the printed per-tissue errors are largest in bone (thin,
# sharp, high contrast).

# %% jupyter={"source_hidden": true}
# 3. Without de-identification.
kept = WORK / "results" / "identified"
io.write_dicom_series(g["array"], kept, reference=source_header, spacing_mm=g["spacing_mm"],
                      origin_mm=g["origin_mm"], orientation=g["orientation"], deidentify=False)
kept_header = io.read_dicom_series(kept).header
print("with values:", [k for k in io.BASIC_PROFILE_ATTRIBUTES
                       if str(kept_header.get(k, "") or "").strip()])

# %% jupyter={"source_hidden": true}
# 4. A brighter scanner, scaled per volume (the run's way) or by one fixed factor.
fixed = np.mean([np.percentile(pairs[j][0].array, 99.5) for j in split["train"]])
brighter = 1.5 * pairs[i][0].array
body_i = labels_i["body"]
for name, x in (("per volume (run.json)", translate.normalise(brighter, mr_spec)),
                ("one fixed factor", 2.0 * brighter / fixed - 1.0)):
    pred = translate.denormalise(inference.predict_volume(
        x[..., None], net, P["patch"], overlap=0.75, align=8, progress=False)[..., 0], CT_SPEC)
    print(f"gain x 1.5, {name:22s}: body MAE {i2i.metrics.mae(pred, ct_i.array, body_i):.1f} HU")
# Per-volume scaling removes the gain (§ 2); a fixed factor hands it to the network, which
# reads brighter MR as other tissue. run.json stores the scaling, and translate applies it.
