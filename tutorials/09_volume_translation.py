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
# # 09 · Volume translation: 2D, 2.5D and 3D networks for MR → CT
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/09_volume_translation.ipynb)
#
# **The task.** A synthetic CT is used as a *volume*: radiotherapy computes dose through
# it in 3D, and a radiologist scrolls through it and looks at sagittal and coronal
# reformats. Every network so far translated one axial slice at a time. Each slice is
# then predicted alone, and its errors have nothing to do with its neighbours' errors:
# scrolled, the volume **flickers**, and a reformat shows horizontal streaks, one per
# slice. Two ways out, both common in the MR → CT literature (the SynthRAD challenges'
# entries use all three kinds; the review's authors ship a 3D code for this reason):
#
# * **2.5D**: a 2D network that sees each slice *with its neighbours* as extra input
#   channels (here one on each side: three channels in, the middle slice out);
# * **3D**: a network whose convolutions are 3 × 3 × 3, trained on blocks of the
#   volume (16 slices × 32 × 32 pixels here), predicting every slice of a block at once.
#
# This notebook trains all three on the same phantom head volumes, for the same number
# of steps, each step with the same number of target voxels, and compares them on
# held-out heads: the error in HU (body and per tissue), the **slice-to-slice
# consistency** (how far the change of the prediction from one slice to the next is
# from the true change, in HU per mm) and the cost (weights, training time, seconds per
# volume).
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
# Quick mode (`I2I_QUICK=1`, what the tests run) takes seconds on 32² × 16 volumes; full
# mode under ten minutes on a 2-core CPU: 16 phantom heads of 64 × 64 pixels of 3.4 mm ×
# 32 thin slices of 1.7 mm, three networks of similar numbers of weights trained for the
# same number of steps. With a GPU the same cells train longer, wider networks on
# more heads. `I2I_PRETRAINED=1` loads the full run's weights instead of training.

# %%
import os
import sys
import time

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage
from tqdm import tqdm

from i2i_keras import inference, translate, volumes
from i2i_keras.claims import check

# %%
QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights
GPU = i2i.hardware.has_gpu() and not PRETRAINED  # shipped weights: the CPU full run's
P = dict(size=64, slices=32, heads=16,  # phantom heads: 10 train, 2 validation, 4 test
         slice_mm=220 / 128,      # thin slices: 1.72 mm, half the 3.44 mm pixel
         mr_noise=0.05,           # MR noise SD, 5 % of fully relaxed water's signal
         patch=32,                # in-plane patch side (pixels) of every network
         block_slices=16,         # slices of the 3D network's blocks
         context=1,               # 2.5D: neighbouring slices on each side
         batch_2d=32, batch_3d=2,  # 32 x 32² = 2 x 16 x 32² target voxels a step
         epochs=20, steps_per_epoch=100,  # the same 2000 steps for each network
         base_2d=16, base_3d=8, depth=3,  # widths: ~0.48 M weights in 2D, ~0.35 M in 3D
         foreground=0.0,          # share of patches forced onto the head (§ 2: none)
         minutes_cap=5.0)         # per network: stops early only on a much slower machine
if GPU and not QUICK:
    P.update(heads=32, epochs=40, base_2d=32, base_3d=16, minutes_cap=10.0)
if QUICK:
    P.update(size=32, slices=16, heads=4, slice_mm=220 / 64, patch=16, block_slices=8,
             batch_2d=8, batch_3d=1,
             epochs=1, steps_per_epoch=3, base_2d=4, base_3d=4)
keras.utils.set_random_seed(0)
if keras.backend.backend() == "tensorflow":  # predict() on new shapes retraces: expected
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
T0 = time.perf_counter()
i2i.print_config()
print(("quick" if QUICK else "GPU" if GPU else "CPU") + " mode:", P)

# %% [markdown]
# ## 1 · Phantom head volumes
# `volumes.head_volume` draws a head slice after slice with one pose and one anatomy, so
# skull, ventricles and sinuses continue smoothly from slice to slice, and its CT (HU,
# with 8 HU of noise independent in every slice, as a CT's is) and spin-echo T1 MR
# (Rician noise, a smooth bias field) come from the same tissue map: registered pairs by
# construction. Heads are split **by head** (never by slice: neighbouring slices are
# almost the same image). The networks learn from the noisy CT, as from a real one, and
# are scored against the **noise-free** CT (`hu`), the truth a phantom has.
#
# Two settings make this a thin-slice MR, where flicker comes from: slices of 1.7 mm,
# half the pixel width, so that neighbouring slices show nearly the same anatomy, and MR
# noise of 5 % of fully relaxed water's signal (the other tutorials use 1.5 %; BrainWeb's
# simulator spans 1 to 9 %), drawn independently in every voxel. What then differs from
# one slice to the next is mostly noise, which a network that sees one slice cannot
# average away and one that sees its neighbours can. (In a trial while writing this
# notebook, at 1.5 % noise the 2D network was *as consistent* as the 3D one: measured
# z-gradient errors 18.5 and 21.9 HU/mm after 1000 steps. Flicker needs a reason.)

# %%
def phantom_heads(heads, size, slices, slice_mm, mr_noise, version):
    """MR, noisy CT, noise-free CT (HU) and labels of `heads` phantom heads,
    (heads, slices, size, size) each. (`version`: of the volume generator, so a changed
    generator is not read from the cache.)"""
    out = {"mr": [], "ct": [], "hu": [], "labels": []}
    for seed in tqdm(range(heads), desc="phantom heads", file=sys.stdout, mininterval=2.0):
        head = volumes.head_volume(size, slices, seed=seed, slice_mm=slice_mm,
                                   supersample=1 if QUICK else 2)
        out["mr"].append(head.mr("T1", seed=seed, noise=mr_noise))
        out["ct"].append(head.ct(seed=seed))
        out["hu"].append(head.hu)
        out["labels"].append(head.labels)
    return {k: np.stack(v) for k, v in out.items()} | {"spacing": np.array(head.spacing_mm)}


t = time.perf_counter()
HEADS = i2i.datasets.cached("volume_heads", phantom_heads, heads=P["heads"], size=P["size"],
                            slices=P["slices"], slice_mm=P["slice_mm"], mr_noise=P["mr_noise"],
                            version=volumes.VERSION)
DZ, DY, DX = HEADS["spacing"]
split = i2i.datasets.split_by_patient(np.arange(P["heads"]), val=0.125, test=0.25, seed=0)
print(f"{P['heads']} heads of {HEADS['ct'].shape[1:]} voxels (slice, row, col), "
      f"{DZ:.2f} x {DY:.2f} x {DX:.2f} mm, in {time.perf_counter() - t:.0f} s (cached after "
      f"the first run); heads for training {split['train'].tolist()}, validation "
      f"{split['val'].tolist()}, test {split['test'].tolist()}")

# %% [markdown]
# The network sees the MR scaled per volume (0 → −1, the volume's 99.5th percentile →
# +1: MR units are arbitrary) and produces CT through a fixed window (−1000 HU → −1,
# +2000 HU → +1), as in tutorial 08 (`translate.normalise`). An axial slice and a
# coronal reformat (front to back cut, slices upward) of one training head:

# %%
MR_SPEC = {"kind": "percentile", "percentile": 99.5}
CT_SPEC = {"kind": "window", "low": -1000.0, "high": 2000.0}
X = np.stack([translate.normalise(v, MR_SPEC) for v in HEADS["mr"]])[..., None]
Y = translate.normalise(HEADS["ct"], CT_SPEC)[..., None]
BODY = HEADS["labels"] != i2i.phantoms.TISSUES["air"].label
k, row = P["slices"] // 2, P["size"] // 2  # the middle slice; the middle row (coronal)
head = split["train"][0]
views = {"MR (T1), axial": (HEADS["mr"][head][k], None),
         "CT, axial": (HEADS["ct"][head][k], (-160, 240)),
         "CT, coronal reformat": (HEADS["ct"][head][:, row], (-160, 240))}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for ax, (title, (image, window)) in zip(axes, views.items()):
    coronal = "coronal" in title  # slices upward, each DZ / DY of a pixel high
    ax.imshow(image, cmap="gray", origin="lower" if coronal else "upper",
              aspect=DZ / DY if coronal else 1.0, vmin=None if window is None else window[0],
              vmax=None if window is None else window[1])
    ax.set_title(title + ("" if window is None else f"\n(soft-tissue window {window} HU)"),
                 fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2 · What each network sees: patches of one, three or sixteen slices
# All three learn from random patches of the training heads, cut by
# `volumes.sample_patches` from the MR and the CT at the same place. A patch is a block
# of the volume, (slices, rows, cols):
#
# | network | block cut | input | target |
# |---|---|---|---|
# | 2D | 1 × 32 × 32 | the slice (1 channel) | the same slice |
# | 2.5D | 3 × 32 × 32 | the slice and its two neighbours as 3 channels | the middle slice |
# | 3D | 16 × 32 × 32 | the block (1 channel) | the whole block |
#
# A 32² patch of 3.4 mm pixels spans 110 mm, most of a head (tutorial 08's 64² patches
# of 1.7 mm spanned the same). A step of the 2D and 2.5D networks takes 32 patches, a
# step of the 3D network 2 blocks: 32 × 32² = 2 × 16 × 32² = 32,768 target voxels each.
#
# The head fills only part of the field of view, so one might expect uniformly placed
# patches to spend part of every step on air. `sample_patches` can place a share of
# them on a random voxel of a *foreground* mask, anywhere inside the patch
# (**foreground-weighted sampling**; nnU-Net forces a third of its patches so), the rest
# uniformly. Whether that helps here is measured, not assumed: the share of head voxels
# in 3D blocks placed uniformly, and with a third or all of them forced onto the head,
# on the training volumes as they are and padded with air to a field of view twice as
# wide (as a head would sit in a body scan's).

# %%
SHAPES = {"2D": (1, P["patch"], P["patch"]),
          "2.5D": (2 * P["context"] + 1, P["patch"], P["patch"]),
          "3D": (P["block_slices"], P["patch"], P["patch"])}
BATCH = {"2D": P["batch_2d"], "2.5D": P["batch_2d"], "3D": P["batch_3d"]}
train, val, test = split["train"], split["val"], split["test"]
wide = P["size"] // 2  # air added on each side: the field of view twice as wide
fields = {"as drawn": BODY[train], "padded with air": np.pad(
    BODY[train], [(0, 0), (0, 0), (wide, wide), (wide, wide)])}
head_share = {}
for name, body in fields.items():
    for share in (0.0, 1 / 3, 1.0):
        (inside,) = volumes.sample_patches([body.astype(np.float32)], SHAPES["3D"], 1000,
                                           body, share, rng=0)
        head_share[name, share] = float(inside.mean())
    print(f"{name:16s} ({body.shape[-1]}² field of view): head voxels in a block, "
          + ", ".join(f"{share:.0%} forced {head_share[name, share]:.0%}"
                      for share in (0.0, 1 / 3, 1.0)))
no_gain = head_share["as drawn", 1 / 3] < head_share["as drawn", 0.0] + 0.01
gain = head_share["padded with air", 1 / 3] > 1.5 * head_share["padded with air", 0.0]
_ = check("as drawn, forcing a third of the blocks onto the head does not raise the head's "
          "share of their voxels (by more than a point); in the wide field of view it raises "
          "it by more than half", no_gain and gain, f"{head_share}")

# %% [markdown]
# Why: a 32² patch fits into a 64² slice only around its middle, where the head is, so
# uniform blocks already hold mostly head; a block forced onto a voxel at the head's edge
# holds less. Foreground weighting earns its keep when the foreground is small in a large
# field of view (an organ in an abdomen, a tumour), not here: the networks below train
# on uniform patches (`foreground=0.0` in the parameters).

# %%
def to_network(kind, x, y):
    """Cut blocks (B, d, h, w, 1) as each network takes and gives them: the 3D network
    whole; 2D and 2.5D: the slices as channels (B, h, w, d) in, the middle slice out."""
    if kind == "3D":
        return x, y
    return np.moveaxis(x[..., 0], 1, -1), y[:, x.shape[1] // 2]


def batches(kind, heads, seed):
    """Endless training batches for network `kind` from `heads`."""
    for x, y in volumes.patch_batches([X[heads], Y[heads]], SHAPES[kind], BATCH[kind],
                                      BODY[heads], P["foreground"], seed):
        yield to_network(kind, x, y)


# Validation: 16 blocks of the validation heads, or as many target voxels in 2D patches.
n_val = {"3D": 16, "2D": 16 * P["block_slices"], "2.5D": 16 * P["block_slices"]}
VAL = {kind: to_network(kind, *volumes.sample_patches([X[val], Y[val]], SHAPES[kind], n,
                                                      BODY[val], P["foreground"], rng=1))
       for kind, n in n_val.items()}
print("validation input and target shapes:",
      {kind: (x.shape, y.shape) for kind, (x, y) in VAL.items()})

# %% [markdown]
# ## 3 · Three networks, the same number of steps
# The same U-Net (three levels, no normalisation layers: tiles are blended at inference,
# as in tutorial 08) in three forms: 2D with 16 base filters, 2.5D the same with three
# input channels, 3D with 8 base filters (a 3 × 3 × 3 kernel holds three times the
# weights of a 3 × 3 one, so half the width gives about as many weights). Each is
# trained for **the same number of steps with the same number of target voxels a step**
# (L1 loss, Adam from 10⁻³ decayed linearly to zero): the comparison is at equal steps,
# and the time each took is part of its cost (§ 5). A time cap stops a network early only
# on a machine much slower than the one the epochs were sized for; the epochs done are
# printed.

# %%
class Clock(keras.callbacks.Callback):
    """Adds the training time so far (s) to each epoch's logs: it is saved with the
    curves, so pretrained mode can report the full run's training time."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["train_s"] = time.perf_counter() - self.start


channels = {"2D": 1, "2.5D": 2 * P["context"] + 1, "3D": 1}
nets = {kind: i2i.models.unet((None,) * (3 if kind == "3D" else 2) + (channels[kind],),
                              depth=P["depth"], norm="none", name=f"unet_{kind}".replace(".", ""),
                              base_filters=P["base_3d" if kind == "3D" else "base_2d"])
        for kind in SHAPES}
steps = P["epochs"] * P["steps_per_epoch"]
histories = {}
for kind, net in nets.items():
    trainer = i2i.training.Supervised(net)
    trainer.compile(i2i.training.adam(1e-3, steps), loss="l1")
    print(f"{kind}: {net.count_params():,} weights")
    histories[kind] = i2i.pretrained.fit_or_load(
        f"09/{net.name.lower()}-phantom", trainer, batches(kind, train, seed=0),
        steps_per_epoch=P["steps_per_epoch"], epochs=P["epochs"], validation_data=VAL[kind],
        verbose=0, callbacks=[Clock(), i2i.training.TimeBudget(P["minutes_cap"]),
                              i2i.training.ProgressBar(("loss", "val_l1"))]).history
for kind, h in histories.items():
    print(f"{kind:4s}: {len(h['loss'])} of {P['epochs']} epochs ({len(h['loss']) * P['steps_per_epoch']} "
          f"steps) in {h['train_s'][-1] / 60:.1f} min; validation L1 "
          f"{h['val_l1'][-1] * 1500:.0f} HU (patches, noisy CT)")

# %% [markdown]
# ## 4 · Whole test volumes
# Each network translates each test head whole, by overlapping tiles blended with
# Gaussian weights (tutorial 08; tiles three quarters overlapping, starts on multiples of
# 8): the 2D network slice by slice (`inference.predict_volume(..., mode="2d")`), the
# 2.5D one with each slice's neighbours as channels (`mode="2.5d"`; beyond the first and
# last slice the edge slice is repeated), the 3D one by 16 × 32 × 32 blocks
# (`inference.sliding_window` with a three-sided patch). The first head of each network
# is a warm-up (the compiled function is traced for the tile shape); the others are
# timed.

# %%
def predict(kind, mr):
    """Synthetic CT (HU) of one normalised MR volume (slices, rows, cols, 1)."""
    settings = dict(overlap=0.75, align=2 ** P["depth"], progress=False)
    if kind == "3D":
        out = inference.sliding_window(mr[None], nets[kind], SHAPES[kind], **settings)[0]
    else:
        out = inference.predict_volume(mr, nets[kind], P["patch"], mode=kind.lower(),
                                       context=P["context"], **settings)
    return translate.denormalise(out[..., 0], CT_SPEC)


synthetic, seconds = {}, {}
for kind in nets:
    times = []
    for i in test:
        t = time.perf_counter()
        synthetic.setdefault(kind, []).append(predict(kind, X[i]))
        times.append(time.perf_counter() - t)
    synthetic[kind] = np.stack(synthetic[kind])
    seconds[kind] = float(np.mean(times[1:] if len(times) > 1 else times))
    print(f"{kind:4s}: {seconds[kind]:.2f} s a volume of {X.shape[1:4]} voxels")

# %% [markdown]
# ## 5 · Error, consistency and cost
# **The baseline** is tutorial 08's bulk density: one CT number inside the head's
# outline (from the MR, holes filled), air outside; its threshold and value tuned on the
# validation heads.
#
# **Slice-to-slice consistency.** Flicker is an error that changes from one slice to the
# next. The *z-gradient error* measures it: the change of the prediction from slice to
# slice, (pred[k + 1] − pred[k]) / Δz, against the same change of the truth, as a mean
# absolute difference in HU per mm over neighbouring voxel pairs inside the head. A
# prediction with a constant error everywhere scores 0 (it changes as the truth does); one
# whose error jumps between slices scores high. The same taken along the rows, the
# *in-plane gradient error*, is the control: a flickering network is worse along z than
# in-plane.

# %%
def gradient_error(pred, truth, body, axis, mm):
    """Mean |Δpred - Δtruth| / mm (HU/mm) over neighbouring voxels along `axis`, both in
    the body; arrays (heads, slices, rows, cols)."""
    n = body.shape[axis]
    both = np.take(body, range(n - 1), axis) & np.take(body, range(1, n), axis)
    step_error = np.diff(pred, axis=axis) - np.diff(truth, axis=axis)
    return float(np.abs(step_error)[both].mean() / mm)


def outline(mr, level):
    return np.stack([ndimage.binary_fill_holes(s > level * np.percentile(mr, 99.5)) for s in mr])


grid = [(level, hu) for level in (0.05, 0.1, 0.2) for hu in (0.0, 50.0, 100.0, 200.0)]
val_mae = {g: np.mean([i2i.metrics.mae(np.where(outline(HEADS["mr"][i], g[0]), g[1], -1000.0),
                                       HEADS["hu"][i]) for i in val]) for g in grid}
best = min(val_mae, key=val_mae.get)
synthetic["bulk density"] = np.stack([np.where(outline(HEADS["mr"][i], best[0]), best[1],
                                               -1000.0) for i in test])
print(f"bulk density tuned on validation: outline at {best[0]} x the MR's 99.5th percentile, "
      f"{best[1]:.0f} HU inside")

# %%
truth, labels = HEADS["hu"][test], HEADS["labels"][test]
masks = i2i.metrics.tissue_masks(labels.reshape(-1, *labels.shape[2:]))
Z_KEY, XY_KEY = "z-gradient error (HU/mm)", "in-plane gradient error (HU/mm)"
results = {}
for kind in ("bulk density", "2D", "2.5D", "3D"):
    pred = synthetic[kind]
    results[kind] = i2i.metrics.hu_report(pred.reshape(-1, *pred.shape[2:]),
                                          truth.reshape(-1, *truth.shape[2:]), masks)
    results[kind][Z_KEY] = gradient_error(pred, truth, BODY[test], axis=1, mm=DZ)
    results[kind][XY_KEY] = gradient_error(pred, truth, BODY[test], axis=2, mm=DY)
print(i2i.metrics.format_table(results))
shown = [k for k in results["3D"] if k.startswith("MAE") or "gradient" in k]
i2i.tutorials.report_table({kind: {k: r[k] for k in shown} for kind, r in results.items()})

# %%
cost = {kind: {"weights": nets[kind].count_params(),
               "steps": len(histories[kind]["loss"]) * P["steps_per_epoch"],
               "training (min)": histories[kind]["train_s"][-1] / 60,
               "s a volume": seconds[kind]} for kind in nets}
print(f"{'':16s}" + "".join(f"{kind:>10s}" for kind in cost))
for key in cost["3D"]:
    print(f"{key:16s}" + "".join(f"{cost[kind][key]:>10,.1f}" if key not in ("weights", "steps")
                                 else f"{cost[kind][key]:>10,d}" for kind in cost))
i2i.tutorials.readme_table(
    ["", *cost], [[key, *(f"{cost[kind][key]:,}" if key in ("weights", "steps")
                         else f"{cost[kind][key]:.2f}" for kind in cost)] for key in cost["3D"]])

# %% [markdown]
# **What the numbers say.** The sentences below are printed from the tables above.

# %%
mae = {kind: results[kind]["MAE body (HU)"] for kind in results}
z_err = {kind: results[kind][Z_KEY] for kind in nets}
xy_err = {kind: results[kind][XY_KEY] for kind in nets}
ratio = {kind: z_err[kind] / xy_err[kind] for kind in nets}
steady = min(("2.5D", "3D"), key=z_err.get)
change = 100 * (1 - z_err[steady] / z_err["2D"])  # % below 2D's
print(f"Body MAE: 2D {mae['2D']:.1f}, 2.5D {mae['2.5D']:.1f}, 3D {mae['3D']:.1f} HU; tuned bulk "
      f"density {mae['bulk density']:.1f} HU. Best: {min(nets, key=mae.get)}.")
print(f"z-gradient error: 2D {z_err['2D']:.2f}, 2.5D {z_err['2.5D']:.2f}, 3D {z_err['3D']:.2f} "
      f"HU/mm: of the two that see neighbours, {steady} changes from slice to slice most like "
      f"the truth, {abs(change):.0f} % {'below' if change > 0 else 'above'} 2D's.")
print("z-gradient error over in-plane gradient error: " + ", ".join(
    f"{kind} {ratio[kind]:.2f}" for kind in nets))
check("a network that sees neighbouring slices (2.5D or 3D) is more consistent from slice to "
      "slice than the 2D one: lower z-gradient error on the test heads",
      z_err[steady] < z_err["2D"], f"{z_err}")
check("2D's error is anisotropic: its z-gradient error, relative to its in-plane gradient "
      "error, is the highest of the three", ratio["2D"] > max(ratio["2.5D"], ratio["3D"]),
      f"{ratio}")
beats_rule = check("every network's body MAE is below tuned bulk density's",
                   max(mae[k] for k in nets) < mae["bulk density"], f"{mae}")

# %% [markdown]
# Bulk density's low z-gradient error in the table is no virtue: one value inside the
# head leaves it almost no slice-to-slice change to get wrong; its in-plane gradient
# error and its MAE are the worst of the four.
#
# ## 6 · Where flicker shows: reformats, difference maps, a profile along z
# An axial slice looks much the same from all three. The **coronal reformat** (one row of
# every slice, slices upward, each slice drawn as tall as a pixel is wide: twice its
# thickness) is where a slice-wise network gives itself away: its errors change from
# slice to slice, so its difference map (prediction − truth) changes from one row (one
# slice) to the next, where the others' errors run in vertical streaks. Soft-tissue
# window for the images; the difference maps from −50 (blue) to +50 HU (red), so that
# errors in the brain show (the skull's saturate).

# %%
h = 0  # the first test head
rows = {"truth": truth[h], **{kind: synthetic[kind][h] for kind in nets}}
fig, axes = plt.subplots(len(rows), 3, figsize=(9, 3 * len(rows)))
for r, (name, volume) in enumerate(rows.items()):
    panels = [(volume[k], "gray", (-160, 240), "axial"),
              (volume[:, row], "gray", (-160, 240), "coronal"),
              (volume[:, row] - truth[h][:, row], "RdBu_r", (-50, 50), "coronal, − truth")]
    for ax, (image, cmap, (lo, hi), view) in zip(axes[r], panels):
        if name == "truth" and "−" in view:
            ax.axis("off")
            continue
        ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi, origin="upper" if view == "axial"
                  else "lower")
        ax.set_title(f"{name}, {view}", fontsize=9)
        ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Flicker slice by slice.** For each pair of neighbouring slices, the mean over the
# head of |change of the error| from one slice to the next, (pred − truth)[k + 1] −
# (pred − truth)[k], in HU, over the four test heads: a network whose error stays put
# from slice to slice stays low.

# %%
error = {kind: synthetic[kind] - truth for kind in nets}
pairs = BODY[test][:, 1:] & BODY[test][:, :-1]  # (heads, slices - 1, rows, cols)
between = (np.arange(P["slices"] - 1) + 1 - P["slices"] / 2) * DZ  # mm, between slices
plt.figure(figsize=(7, 3.2))
for kind, style in zip(nets, ("C3-", "C0--", "C2-.")):
    jump = np.abs(np.diff(error[kind], axis=1))
    per_pair = (jump * pairs).sum((0, 2, 3)) / pairs.sum((0, 2, 3))
    plt.plot(between, per_pair, style, label=f"{kind} (mean {jump[pairs].mean():.1f} HU)")
plt.xlabel("z (mm, toward the vertex) between neighbouring slices")
plt.ylabel("mean |Δ error| (HU)")
plt.legend(fontsize=8)
plt.title("how much the error changes from one slice to the next", fontsize=9)
plt.show()

# %%
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min "
      f"({'quick' if QUICK else 'GPU' if GPU else 'CPU'} mode)")

# %% [markdown]
# ## Exercises
# 1. **Smooth the flicker away?** Filter the 2D network's volumes along z only
#    (`ndimage.gaussian_filter1d(..., sigma=1.0, axis=1)`, one slice). How do its
#    z-gradient error and body MAE change, and per tissue? What does smoothing do to a
#    true edge along z (the skull's top, the sinuses' floor)?
# 2. **Tiles along z.** Predict a test head with the 3D network without overlap (`overlap=0,
#    blend="constant"`). Measure the seam along z at the tile borders
#    (`inference.seam_ratio(volume, borders, axis=0, mask=...)`) against the blended
#    prediction's at the same places.
# 3. **Where does the flicker sit?** Compute the z-gradient error inside each tissue class
#    (`masks` holds them for the test heads) for 2D and 3D. Which tissue flickers most?
# 4. **Equal time instead of equal steps.** From the measured training times, how many
#    steps would the 2D and 2.5D networks get in the 3D network's training time? Retrain
#    one of them for that many steps (homework) and compare again.
#
# Solutions follow (collapsed in Jupyter: click to expand); try first.

# %% [markdown] jupyter={"source_hidden": true}
# ### Solutions

# %% jupyter={"source_hidden": true}
# 1. Smoothing the 2D result along z.
smoothed = ndimage.gaussian_filter1d(synthetic["2D"], sigma=1.0, axis=1)
flat = lambda v: v.reshape(-1, *v.shape[2:])  # noqa: E731
for name, pred in (("2D", synthetic["2D"]), ("2D smoothed along z", smoothed)):
    r = i2i.metrics.hu_report(flat(pred), flat(truth), masks)
    print(f"{name:20s} z-gradient error {gradient_error(pred, truth, BODY[test], 1, DZ):.2f} "
          f"HU/mm, body MAE {r['MAE body (HU)']:.1f}, bone {r['MAE bone (HU)']:.1f} HU")
# In the full run smoothing lowered the z-gradient error *and* the MAE (printed): with
# slices half a pixel thin, a Gaussian of one slice removes more slice-to-slice noise
# than it blurs true edges. Try sigma=2 and 3: where does the bone MAE turn up again? A
# network that sees the neighbours learns how much to average, edge by edge.

# %% jupyter={"source_hidden": true}
# 2. 3D tiles without overlap: seams along z.
block = P["block_slices"]
plain = translate.denormalise(inference.sliding_window(
    X[test[0]][None], nets["3D"], SHAPES["3D"], overlap=0.0, blend="constant",
    progress=False)[0, ..., 0], CT_SPEC)
borders = list(range(block, P["slices"], block))
for name, volume in (("blended (overlap 0.75)", synthetic["3D"][0]), ("plain tiles", plain)):
    print(f"{name:22s} seam ratio along z at slices {borders}: "
          f"{inference.seam_ratio(volume - truth[0], borders, axis=0, mask=BODY[test[0]]):.2f}")
# Plain tiles change their error abruptly where one block ends and the next begins: a
# slice-to-slice jump of the 3D network's own making; overlapping, blended tiles remove it.

# %% jupyter={"source_hidden": true}
# 3. The z-gradient error per tissue class.
for kind in ("2D", "3D"):
    per_tissue = {name: gradient_error(synthetic[kind], truth, m.reshape(truth.shape), 1, DZ)
                  for name, m in masks.items() if name != "body" and m.sum() > 100}
    print(kind, {name: round(v, 1) for name, v in per_tissue.items()})
# The printed numbers locate it: largest in bone, where the CT changes most between
# neighbours and a slice-wise guess is least certain; there the 3D network lowers it most.

# %% jupyter={"source_hidden": true}
# 4. Steps at equal time: steps a second of each network times the 3D network's time.
rate = {kind: cost[kind]["steps"] / (60 * cost[kind]["training (min)"]) for kind in nets}
budget = 60 * cost["3D"]["training (min)"]
print({kind: f"{rate[kind]:.1f} steps/s -> {rate[kind] * budget:.0f} steps in {budget:.0f} s"
       for kind in nets})
# Retrain with epochs = that number // P["steps_per_epoch"] (and the same schedule).
