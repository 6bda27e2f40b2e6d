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
# # 04 · MR ↔ CT without pairs: CycleGAN, misregistration, and invented anatomy
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/04_cyclegan_unpaired.ipynb)
#
# **Why unpaired.** Pix2pix (notebook 03) needs each MR registered to a CT of the same
# patient. Real pairs are taken on different days, on different tables, with the bladder
# fuller or the neck bent: registration leaves millimetres of error, and a paired
# network learns that error as blur. CycleGAN (Zhu et al., ICCV 2017) needs no pairs at
# all: a stack of MRs and a stack of CTs, from different patients if need be.
#
# **How.** Two generators, G: MR → CT and F: CT → MR, and two discriminators, one per
# domain. Each generator must fool its discriminator, and the round trips must come
# back: F(G(mr)) ≈ mr and G(F(ct)) ≈ ct (the *cycle* loss). Nothing ties G(mr) to *this*
# patient's CT, only to CTs in general.
#
# **What the field has learned**, and what you will measure here:
# 1. CycleGAN gets close to paired training inside the brain, less so at bone edges;
# 2. misregistered pairs degrade pix2pix, and at some point CycleGAN wins;
# 3. a distribution-matching loss can *change anatomy*: a lesion that one domain's
#    training images never show can vanish from the translation (Cohen et al., MICCAI
#    2018, "Distribution matching losses can hallucinate features"), while the cycle
#    still reconstructs it from a hidden code (Chu et al. 2017, "CycleGAN, a master of
#    steganography").

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
# `I2I_QUICK=1` runs in seconds. Full mode on a CPU: 64² images, about 10 minutes of
# CycleGAN and 2 minutes for each of four pix2pix runs (the whole notebook in under 20
# minutes); with a GPU, 256² images and longer runs. `I2I_DATASET=synthrad` uses the
# SynthRAD2023 brain cases (downloaded with `python data_scripts/download.py synthrad2023`).

# %%
import dataclasses
import os
import pathlib
import time

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import numpy as np

QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights, no training
DATASET = os.environ.get("I2I_DATASET", "phantom")
S = i2i.recipes.Settings.for_hardware(QUICK)  # sizes of the pix2pix runs, as in notebooks 00 and 03
if QUICK:
    P = dict(patients=12, cycle_minutes=0.15, cycle_batch=1, pix2pix_minutes=0.1,
             pix2pix_epochs=2, misalignment_mm=(0.0, 8.0), rotation_deg=(0.0, 4.0))
elif S.mode == "gpu":
    P = dict(patients=200, cycle_minutes=30.0, cycle_batch=4, pix2pix_minutes=8.0,
             pix2pix_epochs=40, misalignment_mm=(0.0, 2.0, 4.0, 8.0),
             rotation_deg=(0.0, 1.0, 2.0, 4.0))
else:
    P = dict(patients=160, cycle_minutes=9.5, cycle_batch=1, pix2pix_minutes=2.0,
             pix2pix_epochs=9, misalignment_mm=(0.0, 2.0, 4.0, 8.0),
             rotation_deg=(0.0, 1.0, 2.0, 4.0))
keras.utils.set_random_seed(S.seed)
keras.mixed_precision.set_global_policy(S.precision)  # float32 on a CPU: see Settings
T0 = time.perf_counter()
i2i.print_config()
print(f"data: {DATASET}; mode {S.mode}; {S.size}² images")
P

# %% [markdown]
# ## 1 · Two domains from different patients
# The training patients are split in two halves: the MRs of one half make domain A, the
# CTs of the other half domain B. No MR in A has its CT in B. To set up the last
# experiment, the A patients may have lesions (vasogenic oedema: dark on T1 MR, slightly
# hypodense on CT) while the B patients have none, so the CycleGAN's CT discriminator
# never sees a lesion. Validation and test patients have registered pairs with lesions:
# we need the true CT to score any method.

# %%
if DATASET == "synthrad":
    data, PIXEL_MM = i2i.datasets.synthrad_splits(
        S.size, P["patients"], S.slices_per_patient, seed=S.seed)
    ct_b_source = None  # real patients: domain B's CTs are what they are
else:
    with_lesions = i2i.phantoms.mr_ct_pairs(range(P["patients"]), S.slices_per_patient,
                                            size=S.size, lesions=True)
    data = i2i.datasets.split_pairs(with_lesions, seed=S.seed)
    ct_b_source = i2i.phantoms.mr_ct_pairs(range(P["patients"]), S.slices_per_patient,
                                           size=S.size, lesions=False)
    PIXEL_MM = 220 / S.size

train = data["train"]
patients = np.unique(train["patient"])
in_a = np.isin(train["patient"], patients[0::2])
a_images = train["x"][in_a]  # MR of half of the patients
if ct_b_source is None:
    b_images = train["y"][~in_a]
else:  # the other half's CT, from the same patients made without lesions
    rows = np.flatnonzero(np.isin(ct_b_source["patient"], patients[1::2]))
    b_images = i2i.datasets.CT_WINDOW.normalize(ct_b_source["ct"][rows])[..., None]
print(f"domain A (MR): {len(a_images)} slices of {len(patients[0::2])} patients; "
      f"domain B (CT): {len(b_images)} slices of {len(patients[1::2])} other patients")
for name in ("val", "test"):
    print(f"{name}: {len(data[name]['x'])} registered slices of "
          f"{len(np.unique(data[name]['patient']))} patients")
W = i2i.datasets.CT_WINDOW

# %% [markdown]
# `unpaired_dataset` shuffles each domain on its own every epoch, so any MR may meet any CT.

# %%
unpaired = i2i.datasets.unpaired_dataset(a_images, b_images, P["cycle_batch"], augment=True,
                                         max_shift=4, seed=S.seed)
a0, b0 = next(iter(unpaired))
i2i.viz.compare({"an A image (MR)": a0[0, ..., 0].numpy(),
                 "a B image (CT), another patient": W.denormalize(b0[0, ..., 0].numpy())})
plt.show()

# %% [markdown]
# ## 2 · The baseline, tuned on the validation patients
# The 3-class bulk-density rule, exactly as in notebooks 00 and 03. (It needs pairs to be
# tuned: we let it have the validation pairs; CycleGAN never sees a pair.)

# %%
rule = i2i.baselines.BulkDensity(n_classes=3).fit(data["val"]["x"][..., 0], data["val"]["ct"])
rule

# %% [markdown]
# ## 3 · CycleGAN
# Generators: the same small U-Net as pix2pix (instance norm, tanh output), so the
# comparison is about the training signal, not the architecture
# (`i2i.models.resnet_generator` is CycleGAN's original, to try). Discriminators: a
# PatchGAN per domain that judges an image alone; the CT one also sees the image through
# two soft-tissue windows, [-400, 600] and [-160, 240] HU, as extra channels, or a brain
# 10 HU too dense or MR texture leaking into the brain (a few HU, 0.3 % of the
# [-1000, 2000] HU range) would be below its notice. (While preparing this notebook, same
# data and steps: without a window channel the brain came out 11 HU too dark with twice
# the CT's texture, 19.5 HU MAE inside the brain; with the [-400, 600] window, 14; with
# the narrower [-160, 240] alone, 11, but training became unstable; with both, stable, and
# 11.3 HU after 16 epochs where [-400, 600] alone gave 12.5. Blurring the image before
# windowing, so that the critic would not ask for the CT's noise, made it worse: 16.3 HU.)
# Each discriminator learns from
# a pool of 50 past fakes. The learning rate is held for the first half and decays
# linearly to 0 over the second.
#
# Losses: LSGAN and cycle (λ = 10) as in CycleGAN, and a physics prior in the spirit of
# the "air" loss of Kaji's CT code: air *and compact bone* have no MR signal, so a CT
# value below −550 HU or above +300 HU is penalised where the MR is bright
# (`i2i.losses.air_loss`). Without it, CycleGAN here happily maps the scalp fat (the
# brightest tissue on T1) to bone: both are rings around the brain, and bright-to-bright
# is the easiest mapping to learn (the prior makes it less likely, not impossible: see the
# runs compared in section 5). We also switch the *identity* loss off: it asks
# G(CT) ≈ CT, which pulls G towards an intensity-preserving map, the wrong prior when
# dark MR must become bright bone. (Measured while preparing this notebook, same data and
# steps: identity 0.5 → 167 HU body MAE after 2100 steps; identity 0 → 110 HU.)
# A small total-variation term on the synthetic CT discourages MR texture from leaking
# into it.

# %%
steps_per_epoch = min(len(a_images), len(b_images)) // P["cycle_batch"]
step_seconds = {"quick": 0.1, "cpu": 0.075, "gpu": 0.05}[S.mode]  # measured on each kind
epochs = max(1, int(P["cycle_minutes"] * 60 / step_seconds / steps_per_epoch))
total_steps = epochs * steps_per_epoch
shape = (S.size, S.size, 1)


def generator(name):
    return i2i.models.unet(shape, depth=S.depth, base_filters=S.base_filters, norm="instance",
                           name=name)


def discriminator(name, windows=()):
    return i2i.models.patchgan(shape, n_layers=S.d_layers, base_filters=S.d_filters,
                               conditional=False, windows=windows, name=name)


windows_hu = [(-400.0, 600.0), (-160.0, 240.0)]
soft_tissue = [(float(W.normalize(lo)), float(W.normalize(hi))) for lo, hi in windows_hu]
cyclegan = i2i.training.CycleGAN(generator("mr_to_ct"), generator("ct_to_mr"),
                                 discriminator("mr_critic"), discriminator("ct_critic",
                                                                           soft_tissue))
cyclegan.compile(i2i.training.adam(2e-4, total_steps, hold_fraction=0.5),
                 i2i.training.adam(2e-4, total_steps, hold_fraction=0.5),
                 lambda_cycle=10.0, lambda_identity=0.0, gan_loss="lsgan", lambda_tv=3.0,
                 lambda_air=10.0, air_thresholds={"ct_air": float(W.normalize(-550.0)),
                                                  "ct_bone": float(W.normalize(300.0)),
                                                  "mr_dark": -0.3})
print(f"{epochs} epochs of {steps_per_epoch} steps; 2 × {cyclegan.generator_ab.count_params():,}"
      f" generator and 2 × {cyclegan.discriminator_a.count_params():,} discriminator parameters")

# %% [markdown]
# The losses of one step: four generator passes (two translations, two round trips; the
# identity images ride along in the first two), two passes per discriminator (real and
# pooled fakes to train it, this step's fakes to train the generator). No Python runs per
# step: the pool is graph code too. `CycleGAN.train_step` then takes the generators'
# gradients of the first loss and the discriminators' of the second, and makes two
# optimizer updates (print it as notebook 00 prints pix2pix's).

# %%
import inspect

print(inspect.getsource(i2i.training.CycleGAN.compute_losses))

# %%
val_ds = i2i.datasets.paired_dataset(data["val"]["x"], data["val"]["y"], 16, shuffle=False)
t_train = time.perf_counter()
# fit, or with I2I_PRETRAINED=1 the weights of the full run that made this notebook's outputs
history = i2i.pretrained.fit_or_load(
    f"04/cyclegan-{DATASET}", cyclegan, unpaired, validation_data=val_ds, epochs=epochs,
    verbose=0,
    callbacks=[i2i.training.ProgressBar(("cycle", "d_loss", "val_l1")),
               i2i.viz.SampleGrid(data["val"]["x"][:2], data["val"]["y"][:2], W.denormalize,
                                  every=max(1, epochs // 3)),
               i2i.training.NaNGuard(), i2i.training.TimeBudget(P["cycle_minutes"] * 1.1)])
cycle_minutes = (time.perf_counter() - t_train) / 60
print(f"CycleGAN: {len(history.history['cycle'])} epochs of training; this cell took "
      f"{cycle_minutes:.1f} min")
i2i.viz.plot_history(history, ["cycle", "identity", "g_loss", "d_loss", "val_l1"])
plt.show()

# %% [markdown]
# ## 4 · Pix2pix on registered pairs, and on misregistered ones
# Pix2pix trains on the MR *and* CT of every training patient, registered. Then we train
# it again with each training CT moved by a random rigid transform: a shift of a fixed
# length in a random direction and a random rotation, growing from one run to the next.
# Same settings, same time budget each; only the registration changes.

# %%
def train_pix2pix(shift_mm: float, rotation_deg: float) -> keras.Model:
    y = train["y"]
    if shift_mm or rotation_deg:
        y = i2i.datasets.misalign(y, shift_mm / PIXEL_MM, rotation_deg, seed=S.seed)
    s = dataclasses.replace(S, epochs=P["pix2pix_epochs"], minutes=P["pix2pix_minutes"])
    ds = i2i.datasets.paired_dataset(train["x"], y, s.batch_size, augment=True, max_shift=4,
                                     seed=S.seed)
    keras.utils.set_random_seed(S.seed)
    gan = i2i.recipes.build_pix2pix(s, len(train["x"]) // s.batch_size)
    i2i.pretrained.fit_or_load(f"04/pix2pix_{shift_mm:g}mm-{DATASET}", gan, ds,
                               epochs=s.epochs, verbose=0,
                               callbacks=[i2i.training.TimeBudget(s.minutes)])
    return gan.generator


test = data["test"]
masks = i2i.metrics.split_masks(test)
study = {}
for shift_mm, rotation in zip(P["misalignment_mm"], P["rotation_deg"]):
    t = time.perf_counter()
    g = train_pix2pix(shift_mm, rotation)
    sct = W.denormalize(g.predict(test["x"], verbose=0)[..., 0])
    study[(shift_mm, rotation)] = sct
    print(f"pix2pix, misregistration {shift_mm:g} mm / {rotation:g}°: body MAE "
          f"{i2i.metrics.mae(sct, test['ct'], masks['body']):.1f} HU "
          f"({(time.perf_counter() - t) / 60:.1f} min)")

# %% [markdown]
# ## 5 · CycleGAN against pix2pix and the rule, on the held-out patients
# The usual report, plus the brain *away from bone edges* (grey and white matter and CSF
# more than 3 pixels from bone or air), where the question is whether CycleGAN reproduces
# soft-tissue CT numbers, free of the edge errors that dominate the body-wide MAE.

# %%
masks["brain (≥3 px from bone)"] = i2i.metrics.brain_mask(test["labels"], margin_px=3) \
    if "labels" in test else masks["soft tissue"]
sct = {"bulk density": rule.predict(test["x"][..., 0]),
       "pix2pix (registered)": study[(0.0, 0.0)],
       "CycleGAN (unpaired)": W.denormalize(
           cyclegan.generator_ab.predict(test["x"], verbose=0)[..., 0])}
reports = {name: i2i.metrics.hu_report(pred, test["ct"], masks) for name, pred in sct.items()}
print(i2i.metrics.format_table(reports))
brain = "MAE brain (≥3 px from bone) (HU)"
ratio = reports["CycleGAN (unpaired)"][brain] / reports["pix2pix (registered)"][brain]
gap = (reports["CycleGAN (unpaired)"]["MAE body (HU)"]
       - reports["pix2pix (registered)"]["MAE body (HU)"])
print(f"\nCycleGAN / pix2pix MAE inside the brain: {ratio:.2f}; over the body CycleGAN is "
      f"{gap:+.1f} HU from pix2pix")

# %%
i = int(np.argmax(masks["bone"].sum(axis=(1, 2))))
i2i.viz.compare({"MR": test["mr"][i], **{k: v[i] for k, v in sct.items()}, "CT": test["ct"][i]},
                window="head", ncols=5)
plt.show()

# %% [markdown]
# **How much one CycleGAN run tells you.** The same notebook, same seed, same data, has
# given very different CycleGANs (full mode, 16 epochs, 2-core Xeon; each row one run):
#
# | run | optimizer | body MAE (HU) | fat MAE (HU) | brain, CycleGAN / pix2pix | lesion contrast on CycleGAN |
# |---|---|---:|---:|---:|---:|
# | 2026-11-30 | fused Adam | 91.6 | 123.3 | 1.43 | +0.6 HU |
# | 2026-12-03 | fused Adam (the same code as 11-30) | 99.0 | 146.8 | 1.30 | +1.5 HU |
# | 2026-12-03, the outputs above | Keras' Adam | 165.4 | 400.8 | 1.41 | −9.8 HU |
#
# The two optimizers do the same arithmetic and differ only in rounding (after 20 steps
# from the same weights, weights differ by at most 0.004, the most 20 Adam steps of
# 2e-4 can move a weight apart); even the identical code did not repeat itself exactly.
# A GAN amplifies such differences. In the Keras-Adam run the generator fell into the
# mapping the air/bone prior was meant to prevent: scalp fat, bright on T1, became bone
# (fat MAE 401 HU). Pix2pix, whose L1 term ties each output to its own CT, moved by about
# 1 HU between the same runs. Report a GAN's result as a spread over runs, not as one
# number.

# %% [markdown]
# ## 6 · The misregistration study
# Body MAE of pix2pix against the size of the registration error of its training pairs,
# with CycleGAN (which never used a pair) and the rule as horizontal lines.

# %%
levels = list(study)
mae_levels = [i2i.metrics.mae(study[k], test["ct"], masks["body"]) for k in levels]
plt.figure(figsize=(6, 3.5))
plt.plot([k[0] for k in levels], mae_levels, "o-", label="pix2pix, misregistered pairs")
plt.axhline(reports["CycleGAN (unpaired)"]["MAE body (HU)"], color="C1", ls="--",
            label="CycleGAN, unpaired")
plt.axhline(reports["bulk density"]["MAE body (HU)"], color="gray", ls=":",
            label="bulk density")
plt.xticks([k[0] for k in levels], [f"{k[0]:g} mm\n{k[1]:g}°" for k in levels])
plt.xlabel("registration error of the training pairs (shift, rotation)")
plt.ylabel("body MAE on registered test pairs (HU)")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# What does misregistration do to the picture? The network cannot know where the skull
# of a misplaced CT "really" is, so it learns the average of the positions it was shown:
# bone is smeared over a band as wide as the registration error.

# %%
worst = levels[-1]
i2i.viz.compare({"CT": test["ct"][i], f"pix2pix, {levels[0][0]:g} mm": study[levels[0]][i],
                 f"pix2pix, {worst[0]:g} mm / {worst[1]:g}°": study[worst][i]},
                window="head")
plt.show()

# %% [markdown]
# ## 7 · Structural distortion: the lesion CycleGAN's CT side never saw
# The test MRs have lesions; domain B's CTs had none. Pix2pix learned lesions from its
# pairs. For each test lesion, its contrast is its mean HU minus that of the brain in a
# ring of 2 pixels around it: a few HU below zero on the true CT (oedema is hypodense; the
# table below prints it). Does each
# sCT keep it? And does the cycle bring the lesion back on the MR, F(G(mr)), even where
# G(mr) hides it?

# %%
from scipy import ndimage

lesion_label = i2i.phantoms.TISSUES["lesion"].label
brain_labels = [i2i.phantoms.TISSUES[t].label for t in ("grey_matter", "white_matter")]
cycled_mr = cyclegan.generator_ba.predict(
    W.normalize(sct["CycleGAN (unpaired)"])[..., None], verbose=0)[..., 0]


def lesion_contrast(images, labels):
    """Mean over lesions (≥ 4 pixels) of (mean inside - mean of the brain ring around)."""
    out = []
    for img, lab in zip(images, labels):
        blobs, n = ndimage.label(lab == lesion_label)
        for k in range(1, n + 1):
            blob = blobs == k
            ring = ndimage.binary_dilation(blob, iterations=2) & ~blob & np.isin(lab, brain_labels)
            if blob.sum() >= 4 and ring.sum() >= 4:
                out.append(img[blob].mean() - img[ring].mean())
    return np.array(out)


if "labels" in test:
    has = np.isin(test["labels"], [lesion_label]).any(axis=(1, 2))
    print(f"{has.sum()} test slices show a lesion")
    rows = {"CT (truth)": test["ct"], **{k: sct[k] for k in ("pix2pix (registered)",
                                                               "CycleGAN (unpaired)")}}
    for name, img in rows.items():
        c = lesion_contrast(img[has], test["labels"][has])
        print(f"  lesion contrast on {name:22s} {c.mean():7.1f} HU  ({len(c)} lesions)")
    mr_in, mr_back = test["x"][has][..., 0], cycled_mr[has]
    c_in = lesion_contrast(mr_in, test["labels"][has]).mean()
    c_back = lesion_contrast(mr_back, test["labels"][has]).mean()
    print(f"  on the MR: {c_in:.3f} (normalised units); after the cycle F(G(mr)): {c_back:.3f}")
    j = np.flatnonzero(has)[np.argmax([np.sum(test["labels"][k] == lesion_label)
                                       for k in np.flatnonzero(has)])]
    fig, axes = plt.subplots(1, 5, figsize=(15, 3.2))
    shown = {"MR": (test["x"][j, ..., 0], None), "CT (truth)": (test["ct"][j], (0, 80)),
             "pix2pix": (sct["pix2pix (registered)"][j], (0, 80)),
             "CycleGAN": (sct["CycleGAN (unpaired)"][j], (0, 80)),
             "F(G(MR)): the cycle": (cycled_mr[j], None)}
    for ax, (title, (img, win)) in zip(axes, shown.items()):
        ax.imshow(img, cmap="gray", **({} if win is None else {"vmin": win[0], "vmax": win[1]}))
        ax.contour(test["labels"][j] == lesion_label, [0.5], colors="r", linewidths=0.6)
        ax.set_title(title + ("" if win is None else " (0-80 HU)"))
        ax.axis("off")
    plt.show()

# %% [markdown]
# Read the numbers, not just the picture: the lesion outline (red) is drawn from the true
# labels. A contrast near zero means a translation dropped the lesion; a contrast of the
# wrong sign means it changed what the lesion is (oedema, darker than brain on CT, made
# denser). At 3.4 mm pixels a 6 HU oedema is at the edge of what even paired training
# recovers in two minutes, so compare the two networks with each other and with the MR
# rows: if F(G(mr)) still shows most of the lesion while G(mr) does not show it as it is,
# the information went through the synthetic CT hidden in values no radiologist would
# read as a lesion. A translation that drops or alters a lesion is a clinical error that
# no MAE shows: the lesion is a few pixels among thousands.

# %% [markdown]
# ## 8 · Save the generators
# Both CycleGAN generators are plain Keras models and save alone.

# %%
for g in cyclegan.generators:
    path = pathlib.Path(f"cyclegan_{g.name}.keras")
    g.save(path)
    print(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB)")
    path.unlink()
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min ({S.mode} mode, {DATASET})")

# %% [markdown]
# ## Exercises
# 1. **The original generator.** Replace `generator()` with
#    `i2i.models.resnet_generator(shape, base_filters=16, n_blocks=6)`. Without skip
#    connections, does the skull come out thinner, blurrier, in the right place?
# 2. **The priors.** Train again with `lambda_air=0`, then with `lambda_identity=0.5`.
#    Watch the sample grid: where does CycleGAN put the bone? Which tissue row of the
#    table changes most?
# 3. **Where do the curves cross?** Add smaller misregistrations (0.5 and 1 mm). How good
#    must a registration be before pix2pix is worth its pairs?
# 4. **Hallucination the other way.** Give domain B the lesions and domain A none. Does
#    CycleGAN now paint lesions into CTs of healthy heads?
