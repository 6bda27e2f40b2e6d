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
# # 07 · When translation lies: hallucination, out-of-distribution input, uncertainty
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/07_limits_and_uncertainty.ipynb)
#
# **The risk.** A synthetic CT, a denoised scan or a super-resolved MR is a confident
# image. In medicine the error that matters is not a few HU of noise but anatomy that is
# not there (a bone, a lesion the network *invented*) or anatomy that is missing (a lesion
# it *removed*), and a network gives no sign of either: it returns an image for any
# input, including a kind of image it never saw. The review this series follows (Kaji &
# Kida 2019) names structural distortion, over-fitting, poor generalisation and
# uncertainty quantification as the open problems of image-to-image translation, and
# GAN-synthesised images as data augmentation as one of its promises. This notebook
# measures each on MR → CT:
#
# 1. **hallucination both ways**: a network trained on heads *without* lesions is shown
#    heads *with* lesions (kept, faded or removed? contrast in HU), and where it invents
#    bone in air cavities (both are black on MR);
# 2. **out-of-distribution input**: real MR scans that ship with pydicom through the
#    phantom-trained network: what comes out, and does the network's uncertainty say so?
# 3. **uncertainty**: Monte-Carlo dropout and a small deep ensemble give a standard
#    deviation (SD) per pixel; we check it against the true error (calibration,
#    sparsification);
# 4. **synthetic data as augmentation**: a small CT segmentation network trained on a
#    few real CTs, then with synthetic CTs made from MRs added.
#
# Everything runs on phantoms, where the truth of every pixel is known: that is what
# lets us *measure* a hallucination instead of guessing at one.
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
# Quick mode (`I2I_QUICK=1`, what the tests run) takes seconds on 32² images; full mode
# about ten minutes on a 2-core CPU at 64². Training runs a fixed number of epochs (no
# time budget), so the results do not depend on the machine's speed. `I2I_PRETRAINED=1`
# loads the full run's weights instead of training.

# %%
import os
import sys
import time

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import numpy as np

from i2i_keras import structure, uncertainty
from i2i_keras.claims import check

# %%
QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights
GPU = i2i.hardware.has_gpu() and not PRETRAINED  # shipped weights: the CPU full run's
P = dict(size=64, patients=60, slices=8,
         base_filters=16, dropout=0.2,  # the MR -> CT U-Net: 3 levels, dropout in the decoder
         epochs=30, batch=16,
         members=3,            # deep ensemble: networks trained from seeds 0, 1, 2
         passes=20,            # Monte-Carlo dropout passes
         few_patients=1,       # § 6: "real" labelled CTs of this many patients ...
         synth_patients=40,    # ... and MRs of this many other patients, no CT
         seg_filters=8, seg_steps=800)
if GPU and not QUICK:
    P.update(size=128, patients=120, epochs=60, base_filters=32, seg_steps=2000)
if QUICK:
    P.update(size=32, patients=8, slices=3, epochs=1, members=2, passes=4, few_patients=1,
             synth_patients=2, seg_steps=1)
# Quick mode trains each network a few steps: run eagerly, they skip seconds of tracing.
COMPILE = {"run_eagerly": True} if QUICK else {}
keras.utils.set_random_seed(0)
if keras.backend.backend() == "tensorflow":  # predict() on new shapes retraces: expected
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
T0 = time.perf_counter()
i2i.print_config()
print(("quick" if QUICK else "GPU" if GPU else "CPU") + " mode:", P)

# %% [markdown]
# ## 1 · Phantom heads without lesions, split by patient
# Registered T1 MR / CT pairs (CT with 8 HU of noise, as a routine head scan), drawn
# without lesions: the training set of a network that has never seen one. The split is
# by patient (70 / 15 / 15 %). The same test patients are drawn again *with* two lesions
# each (vasogenic oedema: darker than brain on T1 MR, 18 HU on CT against 25–40 HU for
# white and grey matter) for § 2.

# %%
SIZE = P["size"]
W = i2i.datasets.CT_WINDOW  # the network's CT scale: -1000 HU -> -1, +2000 HU -> +1


def pairs(patients, slices, size, lesions):
    """Registered pairs of phantom patients, as arrays (cached in $I2I_DATA_DIR/cache)."""
    d = i2i.phantoms.mr_ct_pairs(patients, slices, size=size, lesions=lesions)
    keep = ("mr", "ct", "ct_clean", "labels", "patient")
    return {k: d[k] for k in keep} | {"pixel_mm": np.float32(d["pixel_mm"])}


D = i2i.datasets.cached("07_pairs", pairs, patients=list(range(P["patients"])),
                        slices=P["slices"], size=SIZE, lesions=False)
split = i2i.datasets.split_by_patient(D["patient"], val=0.15, test=0.15, seed=0)
train, val, test = split["train"], split["val"], split["test"]
x = i2i.datasets.normalize_mr(D["mr"])[..., None]  # 0 -> -1, 99.5th percentile -> +1
y = W.normalize(D["ct"])[..., None]
test_patients = sorted(np.unique(D["patient"][test]).tolist())
LES = i2i.datasets.cached("07_lesions", pairs, patients=test_patients, slices=P["slices"],
                          size=SIZE, lesions=2)
PIXEL_MM = float(D["pixel_mm"])
body = D["labels"][test] != i2i.phantoms.TISSUES["air"].label
print(f"{len(train)} training, {len(val)} validation, {len(test)} test slices "
      f"({len(test_patients)} test patients), {SIZE}² pixels of {PIXEL_MM:.2f} mm")

# %% [markdown]
# ## 2 · One architecture, three seeds: the networks
# A U-Net (3 levels, instance normalisation) with dropout (rate `dropout`) in its
# bottom and decoder blocks, trained with an L1 loss on the CT scaled to [-1, 1], flips
# and shifts as augmentation, a learning rate decayed to zero. The same recipe is trained
# from `members` random seeds (`uncertainty.train_ensemble`): the seed-0 network is the
# one every section uses; the others exist for the ensemble of § 4.

# %%
def build(seed):
    return i2i.models.unet((SIZE, SIZE, 1), depth=3, base_filters=P["base_filters"],
                           norm="instance", dropout=P["dropout"], name=f"mr_ct_seed{seed}")


def fit(net, seed):
    trainer = i2i.training.Supervised(net)
    steps = P["epochs"] * (len(train) // P["batch"])
    trainer.compile(i2i.training.adam(1e-3, steps), loss="l1", **COMPILE)
    data = i2i.datasets.paired_dataset(x[train], y[train], P["batch"], augment=True,
                                       max_shift=4, seed=seed)
    t = time.perf_counter()
    i2i.pretrained.fit_or_load(f"07/{net.name}-phantom", trainer, data, epochs=P["epochs"],
                               validation_data=(x[val], y[val]), verbose=0,
                               callbacks=[i2i.training.ProgressBar(("l1", "val_l1"))])
    print(f"{net.name}: {net.count_params():,} parameters, "
          f"{(time.perf_counter() - t) / 60:.1f} min")


ensemble = uncertainty.train_ensemble(build, fit, seeds=range(P["members"]))
net = ensemble.networks[0]


def to_hu(out):
    return W.denormalize(out)[..., 0]  # network output (N, H, W, 1) -> HU (N, H, W)


sct = to_hu(net.predict(x[test], verbose=0, batch_size=32))
truth = D["ct_clean"][test]  # the noise-free CT: phantoms know the truth
print(f"seed-0 network, test patients: MAE {i2i.metrics.mae(sct, truth, body):.1f} HU in "
      f"the body (against the noise-free CT)")
# %% [markdown]
# ## 3 · Hallucination, the first way: a lesion the network never saw
# The test patients again, now each with two lesions. For every lesion its **contrast**
# is its mean minus the mean of the grey and white matter in a 2-pixel ring around it
# (`structure.lesion_contrast`): a few HU below zero on the true CT, and clearly
# visible on the MR the network gets. A lesion is *kept* when the synthetic CT shows at
# least half its true contrast, *faded* when less, *removed* when none or the opposite
# sign (`structure.lesion_fate`).

# %%
x_les = i2i.datasets.normalize_mr(LES["mr"])[..., None]
sct_les = to_hu(net.predict(x_les, verbose=0, batch_size=32))
contrast = {"true CT (HU)": structure.lesion_contrast(LES["ct_clean"], LES["labels"]),
            "synthetic CT (HU)": structure.lesion_contrast(sct_les, LES["labels"]),
            "MR input (normalised)": structure.lesion_contrast(x_les[..., 0], LES["labels"])}
n_lesions = len(contrast["true CT (HU)"])
print(f"{n_lesions} lesions of at least 4 pixels on {len(x_les)} test slices")
for name, c in contrast.items():
    if n_lesions:
        print(f"  contrast on the {name:22s} mean {c.mean():7.2f}, "
              f"from {c.min():7.2f} to {c.max():7.2f}")
fate = structure.lesion_fate(contrast["synthetic CT (HU)"], contrast["true CT (HU)"])
print("on the synthetic CT:", ", ".join(f"{v} {k}" for k, v in fate.items()))
TR, TE = i2i.phantoms.PROTOCOLS["T1"]  # the phantoms' T1 spin echo, at 1.5 T
signal = {n: t.pd * (1 - np.exp(-TR / t.t1[0])) * np.exp(-TE / t.t2[0])
          for n, t in i2i.phantoms.TISSUES.items()}
print(f"T1 signal S = PD (1 - exp(-TR/T1)) exp(-TE/T2), TR {TR:.0f} ms, TE {TE:.0f} ms: "
      + ", ".join(f"{n} {signal[n]:.3f}" for n in ("lesion", "grey_matter", "white_matter",
                                                   "csf")))

# %%
if n_lesions:
    kept_share = contrast["synthetic CT (HU)"].mean() / contrast["true CT (HU)"].mean()
    print(f"the synthetic CT shows {100 * kept_share:.0f} % of the true lesion contrast "
          "(mean over lesions, against the true CT's mean)")
    check("the MR shows the lesions (darker than the brain around them on T1)",
          np.mean(contrast["MR input (normalised)"] < 0) > 0.9,
          f"{np.mean(contrast['MR input (normalised)'] < 0):.0%} darker")
    check("fewer than one lesion in ten keeps half its contrast on the synthetic CT",
          fate["kept"] < 0.1 * n_lesions, f"{fate}")
    les = LES["labels"] == i2i.phantoms.TISSUES["lesion"].label
    j = int(np.argmax(les.sum((1, 2))))
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    shown = {"MR": (x_les[j, ..., 0], None), "true CT (0-80 HU)": (LES["ct_clean"][j], (0, 80)),
             "synthetic CT (0-80 HU)": (sct_les[j], (0, 80)),
             "synthetic - true (HU)": (sct_les[j] - LES["ct_clean"][j], (-40, 40))}
    for ax, (title, (img, win)) in zip(axes, shown.items()):
        cmap = "RdBu_r" if title.startswith("synthetic -") else "gray"
        ax.imshow(img, cmap=cmap, **({} if win is None else {"vmin": win[0], "vmax": win[1]}))
        ax.contour(les[j], [0.5], colors="r", linewidths=0.6)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    plt.show()

# %% [markdown]
# The red outline is the true lesion. The network never saw one, and on this T1 MR a
# lesion gives nearly the signal of grey matter (printed above): what the synthetic CT
# puts there is the CT number of tissues the network knows that look alike, not a
# measurement of the lesion. The numbers above say how much of the contrast survived;
# someone reading the synthetic CT alone cannot tell.
#
# ## 3b · Hallucination, the second way: bone where there is air
# Air and cortical bone are both black on a T1 MR. Inside the air cavities (frontal
# sinus, mastoid cells) of the test heads, count the pixels whose true CT is air
# (below -400 HU) and where the network put bone (above 200 HU) (`structure.false_bone`);
# the tissue classes of the thresholded synthetic CT against the true labels
# (`structure.tissue_dice`, Dice 1 = the same pixels) and the edge error
# (`structure.gradient_error`, the mean difference of the gradient magnitudes) say
# the same over the whole head.

# %%
labels = D["labels"][test]
cavity = labels == i2i.phantoms.TISSUES["air_cavity"].label
invented = structure.false_bone(sct, truth, cavity)
print(f"air-cavity pixels whose true CT is air: {invented['air_pixels']}; the synthetic CT "
      f"calls {invented['false_bone_pixels']} of them bone ({100 * invented['fraction']:.0f} %, "
      f"{invented['false_bone_pixels'] * PIXEL_MM ** 2:.0f} mm²); its mean there "
      f"{invented['mean_hu']:.0f} HU (truth about -1000 HU)")
dice = structure.tissue_dice(sct, labels, body)
print("Dice of the thresholded synthetic CT against the true tissue classes, in the body:",
      ", ".join(f"{k} {v:.3f}" for k, v in dice.items()))
print(f"gradient error in the body: {structure.gradient_error(sct, truth, body):.1f} HU per "
      "pixel")
check("the network calls more than a quarter of the true-air cavity pixels bone",
      invented["fraction"] > 0.25, f"{invented}")
# %% [markdown]
# ## 4 · Uncertainty: Monte-Carlo dropout and a deep ensemble
# Two ways to make the network say how much its answer varies, each a mean image and a
# standard deviation (SD) per pixel, in HU:
#
# * **Monte-Carlo dropout** (Gal & Ghahramani 2016): keep dropout on at prediction and run
#   `passes` passes (`uncertainty.mc_dropout`, one tiled batch); each pass drops other
#   units, so the passes disagree where the answer hangs on a few of them;
# * **deep ensemble** (Lakshminarayanan et al. 2017): the `members` networks of § 2,
#   dropout off; they disagree where the training data did not pin the answer down.
#
# Neither SD is the error. What we can ask is whether it *ranks* the error: the
# Spearman correlation of SD and |error| per body pixel, and the **sparsification
# curve**: remove the pixels the method is least sure of, a growing share at a time, and
# plot the mean |error| of the rest over that of all pixels. Removing pixels at random
# keeps it at 1; removing the truly worst first (the *oracle*) is the best any SD can do.
# Below random means the SD points at real errors.

# %%
t = time.perf_counter()
mc_mean, mc_sd = uncertainty.mc_dropout(net, x[test], n=P["passes"], transform=to_hu, seed=0)
print(f"MC dropout: {P['passes']} passes of {len(test)} slices in "
      f"{time.perf_counter() - t:.1f} s")
ens_mean, ens_sd = ensemble.predict(x[test], transform=to_hu)
ENSEMBLE = f"ensemble of {P['members']}"
methods = {"MC dropout": (mc_mean, mc_sd), ENSEMBLE: (ens_mean, ens_sd)}
reports = {}
for name, (mean, sd) in methods.items():
    reports[name] = uncertainty.calibration_report(sd, mean - truth, mask=body)
    print(f"\n{name}: MAE of the mean {i2i.metrics.mae(mean, truth, body):.1f} HU, mean SD "
          f"{sd[body].mean():.1f} HU; error (RMSE) in 10 bins of predicted SD, in HU:")
    print(reports[name])

# %%
for name, r in reports.items():
    print(f"{name}: Spearman {r.spearman:.3f}, sparsification area {r.area_model:.3f} "
          f"(random {r.area_random:.3f}, oracle {r.area_oracle:.3f})")
    check(f"{name}: predicted SD and absolute error correlate positively (Spearman)",
          r.spearman > 0, f"{r.spearman:.3f}")
    check(f"{name}: the sparsification curve lies below random (smaller area)",
          r.area_model < r.area_random, f"{r.area_model:.3f} against {r.area_random:.3f}")
    under = int(np.sum(r.bin_rmse > r.bin_sd))
    check(f"{name}: the SD is smaller than the error's RMSE in most bins (overconfident)",
          under > len(r.bin_sd) / 2, f"{under} of {len(r.bin_sd)} bins")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for name, r in reports.items():
    line, = axes[0].plot(r.fractions, r.sparsification, label=name)
    axes[0].plot(r.fractions, r.oracle, ":", color=line.get_color(), label=f"oracle ({name})")
    axes[1].plot(r.bin_sd, r.bin_rmse, "o-", label=name)
axes[0].axhline(1, color="gray", lw=0.8, label="random")
axes[0].set(xlabel="share of body pixels removed (least sure first)",
            ylabel="mean |error| of the rest / of all")
top = max(max(r.bin_sd.max(), r.bin_rmse.max()) for r in reports.values())
axes[1].plot([0, top], [0, top], color="gray", lw=0.8, label="calibrated: RMSE = SD")
axes[1].set(xlabel="predicted SD (HU), bin mean", ylabel="RMSE of the error (HU)")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the right panel first: a calibrated SD would sit on the grey line (an SD of 50 HU
# would mean errors of about 50 HU). The left panel asks the weaker question of ranking.
#
# **Confidently wrong.** Look at the first row of each table: the tenth of the pixels
# each method is *surest* about. Where that bin's RMSE is large, some pixels are wrong
# with almost no spread. Which pixels are they?

# %%
classes = structure.label_classes(labels)  # air, fat, soft tissue, bone (by name below)
sure_wrong = {}
for name, (mean, sd) in methods.items():
    sure = body & (sd <= np.percentile(sd[body], 10))
    wrong = sure & (np.abs(mean - truth) > 300)
    sure_wrong[name] = (int(wrong.sum()), float(mean[wrong].mean()) if wrong.any() else np.nan)
    print(f"{name}: of the surest tenth of body pixels, {wrong.sum()} are off by more than "
          f"300 HU; their true class: " + ", ".join(
              f"{c} {np.mean(classes[wrong] == i):.0%}" for i, c in enumerate(structure.HU_CLASSES))
          + (f"; predicted {mean[wrong].mean():.0f} HU on average" if wrong.any() else ""))
n_mc, hu_mc = sure_wrong["MC dropout"]
check("MC dropout's confidently wrong pixels are predicted within 200 HU of an end of the "
      f"output range ({W.low:.0f} or {W.high:.0f} HU)",
      min(abs(hu_mc - W.low), abs(hu_mc - W.high)) < 200, f"{hu_mc:.0f} HU")
n_ens = sure_wrong[ENSEMBLE][0]
check("the ensemble has fewer confidently wrong pixels than MC dropout", n_ens < n_mc,
      f"{n_ens} against {n_mc}")

# %% [markdown]
# The network's output is a tanh, so its CT numbers end at -1000 and +2000 HU (the
# window `W`). MC dropout's confidently wrong pixels sit near one of those ends (the
# average printed above): there the tanh is flat, and its output barely moves when
# dropout changes the units before it, so the passes agree whatever the truth.
# Independently trained networks need not agree there (the ensemble's count above);
# ensembles were also the most reliable of the methods Ovadia et al. (NeurIPS 2019)
# compared under dataset shift. Maps show where both sit, on
# one test slice low in the head (bone, air cavities):

# %%
bone = i2i.phantoms.group_masks(labels)["bone"]
j = int(np.argmax((cavity | bone).sum((1, 2))))  # the slice with most bone and cavity
row = {"MR": x[test][j, ..., 0], "true CT": truth[j], "synthetic CT (MC mean)": mc_mean[j],
       "|error| (HU)": np.abs(mc_mean[j] - truth[j]), "MC-dropout SD (HU)": mc_sd[j],
       "ensemble SD (HU)": ens_sd[j]}
fig, axes = plt.subplots(1, 6, figsize=(16, 3))
for ax, (title, img) in zip(axes, row.items()):
    kw = ({"cmap": "gray"} if title == "MR" else
          {"cmap": "gray", "vmin": -1000, "vmax": 1600} if "CT" in title else
          {"cmap": "magma", "vmin": 0, "vmax": np.percentile(img, 99.5)})
    ax.imshow(img, **kw)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()
# %% [markdown]
# ## 5 · Out-of-distribution input: real MR scans through a phantom-trained network
# pydicom ships two small real MR files: `MR_small.dcm` (one 64² slice, 0.31 mm pixels:
# a 20 mm field of view, nothing like a whole head) and `emri_small.dcm` (ten 64²
# frames). Our network was trained only on phantom heads at 220 mm. Whatever it returns
# for these is not a CT of anything; the question is whether its uncertainty says so.
# Each image is normalised as the training MRs were (0 → -1, its 99.5th percentile →
# +1) and resized to the network's grid. The SDs are compared over the *foreground*:
# pixels whose normalised MR is above -0.8 (over a tenth of the 99.5th percentile), so
# that the phantoms' empty background, where any network is sure, does not count.

# %%
import warnings

from pydicom.data import get_testdata_file
from skimage.transform import resize  # anti-aliased resampling to the network's grid

real = []
for name in ("MR_small.dcm", "emri_small.dcm"):
    with warnings.catch_warnings(record=True) as said:  # shown below, in one line
        warnings.simplefilter("always")
        image = i2i.io.read_dicom(get_testdata_file(name))
    for w in said:
        print(str(w.message).rsplit("/", 1)[-1])  # the file name, without its folder
    frames = image.array if image.array.ndim == 3 else image.array[None]
    print(f"{name}: {image.modality}, {frames.shape[0]} frame(s) of {frames.shape[1:]} pixels "
          f"of {image.spacing_mm[-1]:.2f} mm")
    real.append(resize(frames, (len(frames), SIZE, SIZE), anti_aliasing=True))
x_real = i2i.datasets.normalize_mr(np.concatenate(real).astype(np.float32))[..., None]
real_mean, real_sd = uncertainty.mc_dropout(net, x_real, n=P["passes"], transform=to_hu, seed=0)
fg_real, fg_test = x_real[..., 0] > -0.8, x[test][..., 0] > -0.8
sd_real, sd_phantom = real_sd[fg_real].mean(), mc_sd[fg_test].mean()
print(f"mean MC-dropout SD over the foreground: real MR {sd_real:.1f} HU, held-out phantoms "
      f"{sd_phantom:.1f} HU ({sd_real / sd_phantom:.1f}x)")
e_real = ensemble.predict(x_real, transform=to_hu)[1][fg_real].mean()
e_phantom = ens_sd[fg_test].mean()
print(f"mean ensemble SD over the foreground: real MR {e_real:.1f} HU, held-out phantoms "
      f"{e_phantom:.1f} HU ({e_real / e_phantom:.1f}x)")
check("the MC-dropout SD is higher on the real MR scans than on held-out phantoms",
      sd_real > sd_phantom, f"{sd_real:.1f} against {sd_phantom:.1f} HU")

# %%
fig, axes = plt.subplots(3, 4, figsize=(11, 8))
for col, k in enumerate([0, 1, len(x_real) // 2 + 1, len(x_real) - 1]):
    for ax, (img, kw) in zip(axes[:, col], (
            (x_real[k, ..., 0], {"cmap": "gray"}),
            (real_mean[k], {"cmap": "gray", "vmin": -1000, "vmax": 1600}),
            (real_sd[k], {"cmap": "magma", "vmin": 0, "vmax": np.percentile(mc_sd, 99.5)}))):
        ax.imshow(img, **kw)
        ax.axis("off")
    axes[0, col].set_title("MR_small" if k == 0 else f"emri_small frame {k - 1}", fontsize=9)
for ax, label in zip(axes[:, 0], ("real MR", "'synthetic CT'", "MC-dropout SD")):
    ax.text(-0.08, 0.5, label, transform=ax.transAxes, rotation=90, va="center", ha="right")
fig.suptitle("SD maps on the colour scale of the phantoms' (0 to their 99.5th percentile)",
             fontsize=9)
plt.show()

# %% [markdown]
# The network answers with a CT-looking image for anything. Here its SD rises on the
# real scans (by the factors printed above), so the map does flag them; but the SD has
# no threshold that says "not a head at 220 mm", and § 4 showed pixels that are wrong
# with near-zero SD. A model deployed in a clinic needs an explicit check that the input
# looks like its training data (the protocol, field of view, contrast) *before* any
# translation is trusted.
# %% [markdown]
# ## 6 · Synthetic data as augmentation
# The review's promise: when real training data are scarce, add images made by a
# translation network. The setting: a small network must **segment a head CT** into six
# tissue classes (air, fat, muscle, bone, CSF, brain). We have labelled CTs of only
# `few_patients` patients, but MRs with tissue labels of `synth_patients` other patients
# and no CT (on real data the labels would come from segmenting the MR, which is easier
# for soft tissue). Our MR → CT network turns those MRs into synthetic CTs, with 8 HU of
# CT-like noise added (the synthetic CT is smooth; the real CTs are not).
#
# Three segmentation networks, same architecture, same number of steps, scored on the
# real CTs of the test patients (Dice per class):
# 1. the few real CTs alone;
# 2. the few real CTs plus the synthetic ones (half of each pass real, the few slices
#    repeated; half synthetic);
# 3. for reference, the real CTs of *all* training patients (what more real data gives).

# %%
CLASSES = {"air": ("air", "air_cavity"), "fat": ("fat",), "muscle": ("muscle",),
           "bone": ("cortical_bone", "marrow", "calcification"), "CSF": ("csf",),
           "brain": ("grey_matter", "white_matter", "vessel", "lesion")}
SEG_WINDOW = i2i.datasets.IntensityWindow(-200.0, 200.0)  # soft tissue, where CSF and
# brain differ by 15-25 HU; air and bone are clipped to -1000 and +1000 HU first


def one_hot(labels):
    out = np.zeros((*labels.shape, len(CLASSES)), np.float32)
    for i, names in enumerate(CLASSES.values()):
        out[..., i] = i2i.phantoms.tissue_mask(labels, *names)
    return out


def seg_input(ct_hu):
    return SEG_WINDOW.normalize(np.clip(ct_hu, -1000.0, 1000.0))[..., None]


train_patients = np.unique(D["patient"][train])
few = np.flatnonzero(np.isin(D["patient"], train_patients[: P["few_patients"]]))
SYN = i2i.datasets.cached("07_synth", pairs, slices=P["slices"], size=SIZE, lesions=False,
                          patients=list(range(1000, 1000 + P["synth_patients"])))
synth_ct = to_hu(net.predict(i2i.datasets.normalize_mr(SYN["mr"])[..., None], verbose=0,
                             batch_size=32))
noise = np.random.default_rng(7).standard_normal(synth_ct.shape)
from scipy import ndimage  # the phantoms' CT noise: white noise, slightly low-passed

noise = ndimage.gaussian_filter(noise, (0, 0.6, 0.6))
synth_ct = synth_ct + 8.0 * noise / noise.std()
print(f"real labelled CTs: {len(few)} slices of {P['few_patients']} patients; synthetic: "
      f"{len(synth_ct)} slices of {P['synth_patients']} patients; test: {len(test)} real slices")
# %%
def crossentropy(y_true, y_pred):
    return keras.ops.mean(keras.losses.categorical_crossentropy(y_true, y_pred))


labels_1hot = one_hot(D["labels"])
all_x, all_y = seg_input(D["ct"]), labels_1hot  # the real CTs (with their noise)
syn_x, syn_y = seg_input(synth_ct), one_hot(SYN["labels"])
M = max(2 * len(syn_x), len(train))  # images a pass; every set is repeated up to M


def sample(images, targets, rows, n):
    """n images and their targets, cycling through ``rows``."""
    rows = np.resize(rows, n)
    return images[rows], targets[rows]


# %%
half_real = sample(all_x, all_y, few, M // 2)
half_synthetic = sample(syn_x, syn_y, np.arange(len(syn_x)), M - M // 2)
recipes = {"few real": sample(all_x, all_y, few, M),
           "few real + synthetic": tuple(np.concatenate(p)
                                         for p in zip(half_real, half_synthetic)),
           "all real (reference)": sample(all_x, all_y, train, M)}
seg_epochs = max(1, P["seg_steps"] // (M // P["batch"]))
seg_dice, segmenters = {}, {}
for k, (name, (sx, sy)) in enumerate(recipes.items()):
    keras.utils.set_random_seed(10)  # the same initial weights for the three
    seg = i2i.models.unet((SIZE, SIZE, 1), out_channels=len(CLASSES), depth=3,
                          base_filters=P["seg_filters"], norm="instance",
                          output_activation="softmax", name="segmenter")
    trainer = i2i.training.Supervised(seg)
    trainer.compile(i2i.training.adam(1e-3, seg_epochs * (M // P["batch"])), loss=crossentropy,
                    **COMPILE)
    data = i2i.datasets.paired_dataset(sx, sy, P["batch"], augment=True, max_shift=4, seed=k)
    run = name.split(" (")[0].replace(" + ", "_plus_").replace(" ", "_")
    i2i.pretrained.fit_or_load(f"07/seg_{run}-phantom", trainer, data, epochs=seg_epochs,
                               verbose=0, callbacks=[i2i.training.ProgressBar(("loss",))])
    segmenters[name] = seg
    found = seg.predict(all_x[test], verbose=0, batch_size=32).argmax(-1)
    true = labels_1hot[test].argmax(-1)
    seg_dice[name] = {c: structure.dice(found == i, true == i) for i, c in enumerate(CLASSES)}
print(f"{seg_epochs} epochs of {M // P['batch']} steps each; Dice on the test patients' real CTs:")
print(f"{'':22s}" + "".join(f"{c:>8s}" for c in CLASSES) + f"{'mean':>8s}")
for name, d in seg_dice.items():
    print(f"{name:22s}" + "".join(f"{v:8.3f}" for v in d.values())
          + f"{np.nanmean(list(d.values())):8.3f}")

# %%
mean_dice = {name: float(np.nanmean(list(d.values()))) for name, d in seg_dice.items()}
gain = mean_dice["few real + synthetic"] - mean_dice["few real"]
print(f"adding the synthetic CTs changed the mean Dice by {gain:+.3f} "
      f"({mean_dice['few real']:.3f} -> {mean_dice['few real + synthetic']:.3f}); all real "
      f"training CTs give {mean_dice['all real (reference)']:.3f}")
worst = {name: min(d, key=d.get) for name, d in seg_dice.items()}
print("the hardest class for each:", ", ".join(f"{n}: {c}" for n, c in worst.items()))
# %% [markdown]
# Whichever way the numbers above go, note what the synthetic images can and cannot
# give. They add anatomy (more heads, more slice levels) with exact labels, which is
# what a segmentation network with one patient lacks. They cannot add what the
# translation network did not learn: § 3 showed it fills air cavities with bone, so a
# segmenter trained on its output is taught that bone-like CT numbers there are air. Synthetic data are only as good as the generator, and its errors are
# systematic, not random.
#
# ## 7 · What to take away
# * A translation network answers every input with a plausible image. On structures
#   its training set lacked (§ 3) it substitutes what it knows; where the input is
#   ambiguous (air and bone on MR) it guesses.
# * MAE hides both: lesions and air cavities are a few pixels of thousands. Measure the
#   structures (`structure.lesion_contrast`, `false_bone`, `tissue_dice`).
# * MC dropout and ensembles give an SD that ranks errors better than chance (§ 4:
#   Spearman and sparsification above), cheaply. Here both were overconfident (the
#   RMSE-against-SD plot), and MC dropout was surest about some of its worst pixels. On
#   inputs from another world (§ 5) the SD rose, but it is no detector of them: check
#   the input's distribution separately.
# * Synthetic training data (§ 6) inherit their generator's errors.

# %%
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min "
      f"({'quick' if QUICK else 'GPU' if GPU else 'CPU'} mode)")

# %% [markdown]
# ## Exercises
# 1. **Lesions in the training set.** Train one network of § 2's recipe on phantoms
#    *with* lesions (`lesions=True`) and measure the lesion contrast of § 3 again. How
#    much comes back? What does that say about a training set that lacks a pathology?
# 2. **How many passes?** Run MC dropout with 3, 5 and 10 passes (§ 4 used 20). How do the mean SD
#    and the Spearman correlation change? How many passes does the SD *ranking* need?
# 3. **A real CT.** Put pydicom's `CT_small.dcm` (a real CT slice, 128² pixels of
#    0.66 mm) through the segmenters of § 6. Which classes do they find? Would you know
#    from their output alone that the input is far from their training data?
# 4. **Calibrate the SD.** Scale the MC-dropout SD by one factor *s* so that, on the
#    *validation* patients, the RMSE of the error equals the RMS of *s*·SD. Apply *s* to
#    the test patients: does the binned table of § 4 move toward RMSE = SD? Why must *s*
#    come from the validation patients and not the test patients?
#
# Solutions follow (collapsed in Jupyter: click to expand); try first.

# %% [markdown] jupyter={"source_hidden": true}
# ### Solutions

# %% jupyter={"source_hidden": true}
# 1. One network trained with lesions (same recipe, a third of the epochs to keep it short).
if not PRETRAINED:
    DL = i2i.datasets.cached("07_pairs", pairs, patients=list(range(P["patients"])),
                             slices=P["slices"], size=SIZE, lesions=True)
    keras.utils.set_random_seed(0)
    with_lesions = build(0)
    t_les = i2i.training.Supervised(with_lesions)
    epochs = max(1, P["epochs"] // 3)
    t_les.compile(i2i.training.adam(1e-3, epochs * (len(train) // P["batch"])), loss="l1",
                  **COMPILE)
    t_les.fit(i2i.datasets.paired_dataset(i2i.datasets.normalize_mr(DL["mr"])[train][..., None],
                                          W.normalize(DL["ct"])[train][..., None], P["batch"],
                                          augment=True, max_shift=4), epochs=epochs, verbose=0)
    c = structure.lesion_contrast(to_hu(with_lesions.predict(x_les, verbose=0)), LES["labels"])
    if n_lesions:
        print(f"trained with lesions: {c.mean():.2f} HU on average (without: "
              f"{contrast['synthetic CT (HU)'].mean():.2f}, truth "
              f"{contrast['true CT (HU)'].mean():.2f} HU);",
              structure.lesion_fate(c, contrast["true CT (HU)"]))

# %% jupyter={"source_hidden": true}
# 2. The number of passes.
for n in (3, 5, 10) if not QUICK else (2, 3):
    _, sd_n = uncertainty.mc_dropout(net, x[test], n=n, transform=to_hu, seed=1)
    print(f"{n:3d} passes: mean SD {sd_n[body].mean():6.1f} HU, Spearman "
          f"{uncertainty.spearman(sd_n[body], np.abs(mc_mean - truth)[body]):.3f}")
print(f"{P['passes']:3d} passes (§ 4): mean SD {mc_sd[body].mean():6.1f} HU, Spearman "
      f"{reports['MC dropout'].spearman:.3f}")
# The SD of one pixel from n passes has a relative error of about 1/sqrt(2(n-1)): 35 % at
# 5 passes, 16 % at 20. A ranking needs less than a value when the SDs of the pixels differ
# by far more than that (compare the bins of § 4: from a few HU to hundreds).

# %% jupyter={"source_hidden": true}
# 3. pydicom's real CT through the segmenters.
ct_real = i2i.io.read_dicom(get_testdata_file("CT_small.dcm")).array
ct_small = resize(ct_real, (SIZE, SIZE), anti_aliasing=True)[None]
fig, axes = plt.subplots(1, 1 + len(segmenters), figsize=(3 * (1 + len(segmenters)), 3))
axes[0].imshow(ct_small[0], cmap="gray", vmin=-200, vmax=300)
axes[0].set_title("CT_small (-200 to 300 HU)", fontsize=9)
for ax, (name, seg) in zip(axes[1:], segmenters.items()):
    found = seg.predict(seg_input(ct_small), verbose=0).argmax(-1)[0]
    ax.imshow(found, cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
    shares = {c: np.mean(found == i) for i, c in enumerate(CLASSES)}
    ax.set_title(name, fontsize=9)
    print(f"{name:22s}", ", ".join(f"{c} {v:.0%}" for c, v in shares.items() if v > 0.01))
for ax in axes:
    ax.axis("off")
plt.show()
# Every pixel gets a class, with confidence: a softmax says how a pixel compares with the
# classes it knows, not whether the image belongs to its world.

# %% jupyter={"source_hidden": true}
# 4. One scale factor for the SD, fitted on the validation patients.
val_mean, val_sd = uncertainty.mc_dropout(net, x[val], n=P["passes"], transform=to_hu, seed=2)
val_body = D["labels"][val] != i2i.phantoms.TISSUES["air"].label
val_error = (val_mean - D["ct_clean"][val])[val_body]
s = np.sqrt(np.mean(val_error ** 2) / np.mean(val_sd[val_body] ** 2))
print(f"s = {s:.2f} (validation); test patients after scaling:")
print(uncertainty.calibration_report(s * mc_sd, mc_mean - truth, mask=body))
# One factor fixes the overall size, not the shape: bins where the SD is too small stay
# too small relative to the others. Fitting s on the test patients would report a
# calibration that no new patient could have.
