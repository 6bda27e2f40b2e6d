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
# # 02 · MRI super-resolution: bicubic, SRCNN, a U-Net and an SRGAN-style network
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/02_mri_super_resolution.ipynb)
#
# **The task.** MR scan time grows with the matrix size: a 4× smaller matrix per axis
# acquires 4× fewer phase-encoding lines, so the scan is much shorter and motion less
# likely, but the image is blurry. Super-resolution (SR) restores the missing detail from
# the low-resolution (LR) scan.
#
# **How an MR scanner makes a low-resolution image.** It does not blur and subsample: it
# measures only the central part of k-space. `i2i.physics.kspace_truncate` does exactly
# that. Zero-filling the missing k-space gives a full-size image with ringing; bicubic
# interpolation of the small image is the usual baseline, and it must be put on the right
# grid (a half-pixel shift costs it more than a dB and makes any network look better).
#
# **What the field learned.** SRCNN (Dong et al. 2014) was the first CNN to beat bicubic;
# deeper residual networks gained more; SRGAN (Ledig et al. 2017) added adversarial and
# perceptual losses: lower PSNR, sharper images. We measure that trade-off, the
# *perception–distortion* trade-off (Blau & Michaeli 2018), on held-out phantom patients.

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
# Quick mode (`I2I_QUICK=1`) runs in seconds; full mode took 11 minutes on a 2-core AMD
# EPYC, the wall time printed at the end (128² slices, 64² training patches); with a GPU,
# 256² slices and wider networks.
#
# On a CPU with bfloat16 units the networks train in mixed bfloat16 (`P["precision"]`,
# from `i2i.hardware.recommended_policy`): weights stay float32, the layers compute in
# bfloat16, and the last layer of every network in float32. On the 2-core EPYC (AVX512_BF16)
# that made the steps of this notebook 1.34 to 1.60 times faster than float32
# (`benchmarks/sr_precision.py`, 2026-12-04), which buys the ×4 U-Net its 120 epochs inside
# the time. Without those units (AVX2 only, where bfloat16 is several times slower) it is
# float32, and the ×4 U-Net trains 56 epochs instead, to stay inside 12 minutes: in the
# float32 run of 2026-12-04 on the same EPYC that gave 23.65 dB on the test slices (120
# epochs in mixed bfloat16: 24.56 dB there the same day).

# %%
import os
import time

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from i2i_keras.claims import check

QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights, no training
GPU = i2i.hardware.has_gpu() and not PRETRAINED  # shipped weights: the CPU full run's
P = dict(size=128, patients=40, slices=5, patch=64, base_filters=16, unet_epochs=120,
         srcnn_epochs=20, gan_epochs=20, x2_epochs=20,
         srgan_l1=(1.0, 0.1),  # weights of L1 in the SRGAN-style sweep (§ 2)
         random_patients=32, random_epochs=30,  # the randomised fine-tune (§ 4)
         # mixed bfloat16 where the CPU has bfloat16 units (AVX512_BF16, AMX), else float32
         precision=i2i.hardware.recommended_policy(gpu=False))
if P["precision"] == "float32" and not PRETRAINED:  # a CPU without bfloat16 units (slower
    P.update(unet_epochs=56)  # steps): 56 epochs keep 12 minutes (shipped weights: 120)
if GPU and not QUICK:
    P.update(size=256, patients=80, patch=128, base_filters=32, unet_epochs=80, gan_epochs=30,
             precision="float32")
if QUICK:
    P.update(size=64, patients=6, slices=2, patch=32, base_filters=8, unet_epochs=1,
             srcnn_epochs=1, gan_epochs=1, x2_epochs=1, random_patients=4, random_epochs=1,
             precision="float32")
keras.mixed_precision.set_global_policy(P["precision"])  # every network below trains in it
keras.utils.set_random_seed(0)
tf.get_logger().setLevel("ERROR")  # predict() on new image sizes retraces; that is expected
T0 = time.perf_counter()
i2i.print_config()
print(("quick" if QUICK else "GPU" if GPU else "CPU") + " mode:", P)

# %% [markdown]
# ## 1 · High- and low-resolution pairs
# T1- and T2-weighted slices are the high-resolution (HR) truth: from phantom patients by
# default, or from the IXI data set (real brain MRI, CC BY-SA 3.0) once
# `python data_scripts/download.py ixi` has put it in `$I2I_DATA_DIR`; set
# `I2I_DATASET=ixi` to use it. Each image is scaled by its own 99.5th percentile (MR has
# no unit); the LR image keeps the central 1/4 (or 1/2) of k-space per axis. Splits are
# by patient.

# %%
DATASET = os.environ.get("I2I_DATASET", "phantom")
if DATASET == "ixi":
    sets = {w: i2i.datasets.load_ixi_slices(w, n_subjects=P["patients"],
                                            slices_per_subject=P["slices"], size=P["size"])
            for w in ("T1", "T2")}
    hr = np.concatenate([sets[w].images for w in sets])
    patient = np.concatenate([np.asarray(sets[w].patient) for w in sets])
    labels = np.zeros(hr.shape, np.int8)  # real data: no tissue labels
else:
    heads = {w: i2i.phantoms.mr_ct_pairs(range(P["patients"]), P["slices"], size=P["size"],
                                         weighting=w, lesions=True) for w in ("T1", "T2")}
    hr = np.concatenate([heads[w]["mr"] for w in heads])
    patient = np.concatenate([heads[w]["patient"] for w in heads])
    labels = np.concatenate([heads[w]["labels"] for w in heads])
hr = hr / np.percentile(hr.reshape(len(hr), -1), 99.5, axis=1)[:, None, None]
split = i2i.datasets.split_by_patient(patient, seed=0)
train, val, test = split["train"], split["val"], split["test"]
print(f"data: {DATASET}")


def low_resolution(images, factor):
    """(small LR matrix, zero-filled, bicubic on the fine grid) for a factor."""
    small = i2i.physics.kspace_truncate(images, factor, keep_size=False)
    zero_filled = i2i.physics.kspace_truncate(images, factor, keep_size=True)
    bicubic = i2i.baselines.bicubic_upsample(small, factor, shape=images.shape[-2:])
    return small, zero_filled, bicubic


LR = {f: low_resolution(hr, f) for f in (2, 4)}
print(f"{len(hr)} slices: train {len(train)}, val {len(val)}, test {len(test)}; "
      f"x4 LR matrix {LR[4][0].shape[-1]}², x2 {LR[2][0].shape[-1]}²")
k = test[0]
i2i.viz.compare({"MR HR (truth)": hr[k], "MR x4 LR matrix": LR[4][0][k],
                 "MR x4 zero-filled": LR[4][1][k], "MR x4 bicubic": LR[4][2][k]})
plt.show()

# %% [markdown]
# **Why the grid matters.** A low-resolution MR pixel m sits on the fine pixel 4m (the
# DFT's convention), not at the centre of a 4×4 block (the convention of
# `skimage.transform.resize`). Here is bicubic with each convention, scored on the
# validation slices (PSNR, data range 1 = the 99.5th percentile).

# %%
small_val = LR[4][0][val]
for align in ("kspace", "blocks"):
    up = i2i.baselines.bicubic_upsample(small_val, 4, shape=hr.shape[-2:], align=align)
    print(f"bicubic, {align:6s} grid: {i2i.metrics.psnr(up, hr[val], 1.0):.2f} dB")

# %% [markdown]
# ## 2 · Three networks at ×4
# All take the bicubic image (on the fine grid) and output the HR image; all train on
# random 64² patches of the training patients.
#
# * **SRCNN**: three convolutions (9×9, 5×5, 5×5), 57 k parameters, L2 loss as published.
# * **residual U-Net, L1**: learns the correction to bicubic; the last layer starts at
#   zero, so it starts as bicubic.
# * **SRGAN-style**: the U-Net's weights, then adversarial (PatchGAN) + perceptual
#   (feature-network) + a small L1 term.

# %%
def pairs(idx, factor):
    """(bicubic, HR) mapped from [0, 1] to [-1, 1], the range the networks expect."""
    return 2 * LR[factor][2][idx][..., None] - 1, (2 * hr[idx][..., None] - 1).astype("f4")


def dataset(idx, factor, shuffle=True):
    x, y = pairs(idx, factor)
    return i2i.datasets.paired_dataset(x, y, 8, shuffle=shuffle, augment=shuffle,
                                       patch_size=P["patch"] if shuffle else None, seed=0)


# Optimiser: i2i.training.adam(rate, total steps, beta_1): Adam whose rate falls linearly
# to 0 over the run. beta_1 = 0.9 (Adam's default) for these supervised and fine-tuning
# runs; GANs trained from scratch use 0.5.
STEPS = len(train) // 8  # batches of 8 per epoch


def fit(name, model, epochs, factor=4, keys=("loss", "val_psnr")):
    """Train (or, with I2I_PRETRAINED=1, load the full run's weights); minutes taken."""
    t = time.perf_counter()
    i2i.pretrained.fit_or_load(f"02/{name}-{DATASET}", model, dataset(train, factor),
                               validation_data=dataset(val, factor, False), epochs=epochs,
                               verbose=0, callbacks=[i2i.training.ProgressBar(keys)])
    return (time.perf_counter() - t) / 60


srcnn = i2i.training.Supervised(i2i.models.srcnn((None, None, 1), residual=True))
srcnn.compile(i2i.training.adam(1e-3, P["srcnn_epochs"] * STEPS, beta_1=0.9), loss="l2")
print(f"SRCNN: {srcnn.network.count_params():,} parameters, "
      f"{fit('srcnn', srcnn, P['srcnn_epochs']):.1f} min")

unet = i2i.models.unet((None, None, 1), depth=3, base_filters=P["base_filters"], norm="none",
                       residual=True, name="sr_unet")
unet_sr = i2i.training.Supervised(unet)
unet_sr.compile(i2i.training.adam(1e-3, P["unet_epochs"] * STEPS, beta_1=0.9), loss="l1")
print(f"U-Net: {unet.count_params():,} parameters, {fit('unet_x4', unet_sr, P['unet_epochs']):.1f} min")

# %% [markdown]
# The SRGAN-style runs start from the U-Net's weights and train `P["gan_epochs"]` epochs
# more (Adam 2e-4 falling to 0), with the PatchGAN's least-squares loss, the perceptual loss
# and λ_L1 × L1. Sweeping λ_L1 (`P["srgan_l1"]`) moves from mostly pixel loss to mostly
# adversarial: § 3 shows where each lands between PSNR and sharpness.
#
# The PatchGAN here has no normalisation layers (`norm="none"`). With instance norm, the
# pix2pix default, it judges each 64² patch after its mean and contrast are normalised
# away, and it pushed the generator less: in trial runs on the validation patients
# (2026-12-03, 80-epoch U-Net) λ_L1 = 0.01 with instance norm moved the sharpness 57 % of
# the way from the U-Net's to HR's for 1.3 dB, λ_L1 = 0.1 without norm 99 % for 2.0 dB.

# %%
srgan = {}
for lam in P["srgan_l1"]:
    generator = keras.models.clone_model(unet)
    generator.set_weights(unet.get_weights())
    gan = i2i.training.Pix2Pix(generator, i2i.models.patchgan((None, None, 1), n_layers=2,
                                                              base_filters=32, norm="none"))
    gan.compile(i2i.training.adam(2e-4, P["gan_epochs"] * STEPS, beta_1=0.9),
                i2i.training.adam(2e-4, P["gan_epochs"] * STEPS, beta_1=0.9), lambda_l1=lam,
                gan_loss="lsgan", extra_loss=i2i.losses.PerceptualLoss())
    minutes = fit(f"srgan_l1_{lam:g}", gan, P["gan_epochs"], keys=("l1", "g_loss", "val_psnr"))
    print(f"SRGAN-style, λ_L1 = {lam:g}: {minutes:.1f} min")
    srgan[f"SRGAN λ={lam:g}"] = gan.generator

# %% [markdown]
# ## 3 · Results at ×4 and ×2 on the test patients
# PSNR and SSIM against the HR image (data range 1), and a sharpness measure: the fraction
# of the image's spectral energy above a quarter of the Nyquist frequency, next to the
# HR image's own. A blurry image has less; noise or invented detail has more.

# %%
x2 = i2i.training.Supervised(i2i.models.unet((None, None, 1), depth=3,
                                             base_filters=P["base_filters"], norm="none",
                                             residual=True, name="sr_unet_x2"))
x2.compile(i2i.training.adam(1e-3, P["x2_epochs"] * STEPS, beta_1=0.9), loss="l1")
print(f"U-Net x2: {fit('unet_x2', x2, P['x2_epochs'], factor=2):.1f} min")


# %%
def predict_on(net, bicubic):
    """The network's output for bicubic images in [0, 1] (N, H, W), back in [0, 1]."""
    return (net.predict(2 * bicubic[..., None] - 1, verbose=0, batch_size=16)[..., 0] + 1) / 2


def predict(net, factor):
    return predict_on(net, LR[factor][2][test])


truth = hr[test]
outputs = {4: {"zero-filled": LR[4][1][test], "bicubic": LR[4][2][test],
               "SRCNN": predict(srcnn.network, 4), "U-Net L1": predict(unet, 4),
               **{name: predict(g, 4) for name, g in srgan.items()}},
           2: {"zero-filled": LR[2][1][test], "bicubic": LR[2][2][test],
               "U-Net L1": predict(x2.network, 2)}}
hf_truth = i2i.metrics.high_frequency_energy(truth)
table = {}
for factor, outs in outputs.items():
    print(f"\nx{factor}, {len(test)} test slices of {len(np.unique(patient[test]))} patients "
          f"(HR sharpness {hf_truth:.4f})")
    print(f"{'':14s}{'PSNR (dB)':>11s}{'SSIM':>8s}{'sharpness':>11s}")
    for name, img in outs.items():
        row = (i2i.metrics.psnr(img, truth, 1.0), i2i.metrics.ssim(img, truth, 1.0),
               i2i.metrics.high_frequency_energy(img))
        table[factor, name] = row
        print(f"{name:14s}{row[0]:11.2f}{row[1]:8.3f}{row[2]:11.4f}")

# %%
nets4 = ["SRCNN", "U-Net L1", *srgan]
cols = list(outputs[4])
best = {i: max(cols, key=lambda n: table[4, n][i]) for i in (0, 1)}
i2i.tutorials.readme_table(  # the table README.md shows (python -m i2i_keras.tutorials)
    ["×4", *cols, "HR"],
    [[label] + [f"**{table[4, n][i]:{f}}**" if best.get(i) == n else f"{table[4, n][i]:{f}}"
                for n in cols] + [hr_value] for label, i, f, hr_value in (
        ("PSNR (dB)", 0, ".2f", "–"), ("SSIM", 1, ".3f", "–"),
        ("sharpness", 2, ".3f", f"{hf_truth:.3f}"))])
gain = max(table[4, n][0] for n in nets4) - table[4, "bicubic"][0]
print(f"\nbest network at x4: {gain:+.2f} dB over bicubic")
check("every network beats bicubic and zero-filling at x4 (PSNR)",
      all(table[4, n][0] > max(table[4, "bicubic"][0], table[4, "zero-filled"][0]) for n in nets4),
      ", ".join(f"{n} {table[4, n][0]:.2f}" for n in nets4))

# %% [markdown]
# The perception–distortion plane: distortion (PSNR, up is better) against how far the
# sharpness is from the truth's (left is better). Blau & Michaeli (2018) proved that the
# two cannot both be optimal: the checks below test that on these networks.

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
for name in outputs[4]:
    psnr, _, sharp = table[4, name]
    ax.scatter(abs(sharp - hf_truth), psnr)
    ax.annotate(name, (abs(sharp - hf_truth), psnr), fontsize=8)
ax.set_xlabel("|sharpness − HR sharpness|")
ax.set_ylabel("PSNR (dB)")
ax.set_title("x4: perception–distortion")
plt.show()

# %%
hf_unet = table[4, "U-Net L1"][2]
for name in srgan:
    print(f"{name:14s} moved {(table[4, name][2] - hf_unet) / (hf_truth - hf_unet):6.0%} of the way "
          f"from the U-Net's sharpness to HR's, PSNR cost "
          f"{table[4, 'U-Net L1'][0] - table[4, name][0]:+.2f} dB")
sharpest = max(srgan, key=lambda n: table[4, n][2])
moved = (table[4, sharpest][2] - hf_unet) / (hf_truth - hf_unet)
check("an SRGAN-style setting moves the sharpness at least half way from the U-Net's to HR's",
      moved >= 0.5, f"{sharpest}: {moved:.0%}")
check("that sharpness costs PSNR: the sharpest SRGAN-style network scores below the U-Net",
      table[4, sharpest][0] < table[4, "U-Net L1"][0],
      f"{table[4, sharpest][0]:.2f} against {table[4, 'U-Net L1'][0]:.2f} dB")

# %%
s = P["size"]
zoom = (slice(s // 4, s // 4 + s // 3), slice(s // 3, s // 3 + s // 3))
lesion_px = i2i.phantoms.tissue_mask(labels[test], "lesion").sum(axis=(1, 2))
k = int(np.argmax(lesion_px))  # the test slice with most lesion
# One common grey scale for all (0 to the 99.5th percentile of each HR image, plus margin).
i2i.viz.compare({"truth (HR)": truth[k]} | {n: v[k] for n, v in outputs[4].items()},
                window=(0.55, 1.1), unit="a.u.", zoom=zoom, ncols=6)
plt.show()

# %% [markdown]
# ## 4 · Real scans: does the ×4 network transfer?
# pydicom ships a few real MR slices (no download): a close-up of brain folds
# (`emri_small.dcm`, ten 64² frames, no pixel size stored, so read as 1 mm), an abdomen,
# a shoulder, and a 20 mm close-up (`MR_small.dcm`). `i2i.io.real_slice` resamples
# each towards the phantoms' 1.72 mm pixels (never below 64 pixels a side); each is scaled
# by its 99.5th percentile and reduced ×4 in k-space exactly as the phantoms were. The
# real image is the reference here, with its own noise, which no method can predict.
#
# Then the same network is fine-tuned on **randomised** phantoms
# (`i2i.domains.randomized_pairs`): every slice its own contrast (TR/TE, 1.5 or 3 T), noise
# level and pattern, bias field, resolution and scale, and a third of them limbs (skin,
# fat, muscle, long bone) instead of heads; with `contrast=True` also each tissue's signal
# times its own factor (1/2 to 2, fat suppressed in about a third): real protocols are not
# all textbook spin echo (fat-suppressed, contrast-enhanced). T1 and T2,
# `P["random_patients"]` patients of 4 slices, `P["random_epochs"]` epochs at Adam 5e-4
# falling to 0. Its seeds (1000 on) are not the head patients' above, so the phantom test
# score stays held out.
#
# Last, **data consistency** (tutorial 05's hybrid, here for super-resolution): the ×4
# matrix measured the central k-space exactly, so put it back into the network's output
# (`i2i.physics.lowres_kspace`, `i2i.physics.data_consistency`). The network then only
# adds what lies above the measured band; it can no longer change the contrast the scan
# measured. The scanner's image is a magnitude (phase lost), so what is put back is close
# to, not exactly, the measured k-space.

# %%
randomised_hr = np.concatenate([i2i.domains.randomized_pairs(
    range(1000, 1000 + P["random_patients"]), 4, P["size"], weighting=w, contrast=True)["mr"]
    for w in ("T1", "T2")])
randomised_hr /= np.percentile(randomised_hr.reshape(len(randomised_hr), -1), 99.5,
                               axis=1)[:, None, None]
x_random = 2 * low_resolution(randomised_hr, 4)[2][..., None] - 1
y_random = (2 * randomised_hr[..., None] - 1).astype("f4")
random_net = keras.models.clone_model(unet)
random_net.set_weights(unet.get_weights())
random_sr = i2i.training.Supervised(random_net)
random_sr.compile(i2i.training.adam(
    5e-4, P["random_epochs"] * (len(x_random) // 8), beta_1=0.9), loss="l1")
t = time.perf_counter()
i2i.pretrained.fit_or_load(f"02/unet_x4_randomised-{DATASET}", random_sr,
                           i2i.datasets.paired_dataset(x_random, y_random, 8, augment=True,
                                                       patch_size=P["patch"], seed=0),
                           epochs=P["random_epochs"], verbose=0,
                           callbacks=[i2i.training.ProgressBar(("loss",))])
print(f"{len(x_random)} randomised slices; fine-tune {(time.perf_counter() - t) / 60:.1f} min")

# %%
def with_measured_kspace(sr, small):
    """sr (N, H, W) with the k-space that the small matrices measured put back."""
    measured, mask = i2i.physics.lowres_kspace(small, sr.shape[-2:])
    return np.abs(i2i.physics.data_consistency(sr, measured, mask))


real_psnr, real_images = {}, {}
for name in i2i.io.MR_EXAMPLES:
    image, _ = i2i.io.real_slice(name)
    real = (image / np.percentile(image, 99.5))[None]
    small, _, bicubic = low_resolution(real, 4)
    randomised = predict_on(random_net, bicubic)
    real_images[name] = {"real image": real[0], "bicubic": bicubic[0],
                         "U-Net (heads)": predict_on(unet, bicubic)[0],
                         "U-Net (randomised)": randomised[0],
                         "U-Net (randomised) + DC": with_measured_kspace(randomised, small)[0]}
    real_psnr[name] = {m: i2i.metrics.psnr(v, real[0], 1.0)
                       for m, v in list(real_images[name].items())[1:]}
    print(f"{i2i.io.real_examples.DESCRIPTIONS[name]:18s} PSNR (dB) "
          + ", ".join(f"{m} {v:.2f}" for m, v in real_psnr[name].items()))
phantom_random = i2i.metrics.psnr(predict(random_net, 4), truth, 1.0)
print(f"{DATASET} test slices: U-Net (heads) {table[4, 'U-Net L1'][0]:.2f} dB, "
      f"U-Net (randomised) {phantom_random:.2f} dB")

# %%
for label in ("U-Net (heads)", "U-Net (randomised)", "U-Net (randomised) + DC"):
    held = [n for n, r in real_psnr.items() if r[label] >= r["bicubic"]]
    print(f"{label}: not worse than bicubic on {len(held)} of {len(real_psnr)} real scans"
          + (": " + ", ".join(i2i.io.real_examples.DESCRIPTIONS[n] for n in held) if held
             else ""))
check("randomisation helps on real anatomy: the fine-tuned network beats the phantom-only "
      "one on every real MR",
      all(r["U-Net (randomised)"] > r["U-Net (heads)"] for r in real_psnr.values()),
      ", ".join(f"{r['U-Net (randomised)'] - r['U-Net (heads)']:+.2f} dB"
                for r in real_psnr.values()))
i2i.viz.compare(real_images["emri_small.dcm"], window=(0.55, 1.1), unit="a.u.")
plt.show()

# %% [markdown]
# The lines above say whether a network trained on phantoms alone should be trusted on a
# real scan against plain bicubic, how much of the way randomising the phantoms goes
# (and what it costs on the phantoms themselves), and what putting the measured k-space
# back changes. `benchmarks/transfer.py` trains the randomised recipe from scratch, longer,
# and also measures the sharpness against each real image's.

# %% [markdown]
# ## 5 · What can go wrong
# * **Invented detail.** Where an SRGAN-style network is sharper than the L1 U-Net at a
#   lower PSNR (the checks above), some of its detail is not in the truth. In a diagnostic
#   image a plausible but false edge is worse than a blur. Look at the lesion borders above.
# * **A different scanner.** The network learned *this* LR process (k-space truncation
#   with this factor). Feed it a Gaussian-blurred image, or ×3, and it will be wrong in
#   ways a PSNR on the training distribution never shows.
# * **An unfair baseline** is the easiest way to a large gain: check the grid alignment
#   and report bicubic and zero-filled both.

# %%
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min")

# %% [markdown]
# ## Exercises
# 1. Degrade with `i2i.physics.downsample` (Gaussian blur + resize) instead of k-space
#    truncation and test the trained ×4 U-Net on it. What happens to its advantage?
# 2. Train the U-Net with `loss={"l1": 1.0, "ssim": 1.0}` or `"gradient_difference"`.
#    Where does it land in the perception–distortion plane?
# 3. Train one network for ×2 and ×4 together (mix the pairs). Does it lose against the
#    two specialists?
#
# Solutions follow (collapsed in Jupyter: click to expand); try first. Solutions 2 and 3
# train for an eighth of the specialists' epochs (compare them with that in mind); with
# `I2I_PRETRAINED=1` they load the full run's weights.

# %% [markdown] jupyter={"source_hidden": true}
# ### Solutions

# %% jupyter={"source_hidden": true}
# 1. Another degradation: Gaussian blur + resize (i2i.physics.downsample), then bicubic back
#    onto the fine grid with the block-centre convention that resize uses.
blurred = i2i.physics.downsample(truth, 4)
bicubic_blur = i2i.baselines.bicubic_upsample(blurred, 4, shape=truth.shape[-2:], align="blocks")
unet_blur = predict_on(unet, bicubic_blur)
for name, img in {"bicubic": bicubic_blur, "U-Net L1 (trained on k-space)": unet_blur}.items():
    print(f"{name:30s} {i2i.metrics.psnr(img, truth, 1.0):6.2f} dB, sharpness "
          f"{i2i.metrics.high_frequency_energy(img):.4f}")
print(f"(on its own degradation the U-Net gained {table[4, 'U-Net L1'][0] - table[4, 'bicubic'][0]:+.2f} dB"
      f" over bicubic; here {i2i.metrics.psnr(unet_blur, truth, 1.0) - i2i.metrics.psnr(bicubic_blur, truth, 1.0):+.2f} dB)")
# A blurred image has no ringing and a softer edge profile than a k-space-truncated one; the
# network learned to undo k-space truncation, so what it adds fits this input less well.

# %% jupyter={"source_hidden": true}
# 2. and 3. Other losses, and one network for both factors (short runs).
short = max(1, P["unet_epochs"] // 8)
variants = {}
for name, loss, factors in (("l1_ssim", {"l1": 1.0, "ssim": 1.0}, (4,)),
                            ("gradient_difference", {"l1": 1.0, "gradient_difference": 1.0}, (4,)),
                            ("x2_and_x4", "l1", (2, 4))):
    keras.utils.set_random_seed(0)
    net = i2i.models.unet((None, None, 1), depth=3, base_filters=P["base_filters"],
                          norm="none", residual=True, name=f"sr_{name}")
    trainer = i2i.training.Supervised(net)
    trainer.compile(i2i.training.adam(1e-3, short * STEPS * len(factors), beta_1=0.9), loss=loss)
    xs, ys = zip(*(pairs(train, f) for f in factors))
    i2i.pretrained.fit_or_load(f"02/{name}-{DATASET}", trainer, i2i.datasets.paired_dataset(
        np.concatenate(xs), np.concatenate(ys), 8, augment=True, patch_size=P["patch"], seed=0),
        epochs=short, verbose=0, callbacks=[i2i.training.ProgressBar(("loss",))])
    variants[name] = net
for factor in (4, 2):
    for name, net in variants.items():
        if factor == 4 or name == "x2_and_x4":
            img = predict(net, factor)
            print(f"x{factor} {name:20s} ({short} epochs) {i2i.metrics.psnr(img, truth, 1.0):6.2f} dB,"
                  f" sharpness {i2i.metrics.high_frequency_energy(img):.4f}   (specialist U-Net L1:"
                  f" {table[factor, 'U-Net L1'][0]:.2f} dB, {table[factor, 'U-Net L1'][2]:.4f})")
