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
# # 01 · Low-dose CT denoising: a network against non-local means and TV
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/01_ldct_denoising.ipynb)
#
# **The task.** Every CT scan costs the patient radiation dose, so scanners are pushed to
# use as little as they can (ALARA). Halving the dose halves the photons that reach the
# detector, and quantum noise grows as 1/√dose: a quarter-dose image has twice the noise
# of a normal-dose one. Denoising lets a scanner use less dose for the same image quality.
#
# **What the field learned.** Classical filters (non-local means, total variation) work
# well on flat regions but smear texture. CNNs trained on pairs (RED-CNN, Chen et al. 2017)
# beat them in PSNR, but a pixel loss alone *over-smooths*: the network outputs the mean of
# all plausible answers, and radiologists see a waxy, "plastic" image. Adversarial
# (WGAN-VGG, Yang et al. 2018) and perceptual losses bring the texture back, at some cost
# in PSNR. This notebook measures all of it on held-out phantoms:
#
# 1. simulate CT scans at normal, quarter and tenth dose from textured phantoms,
# 2. tune Gaussian, non-local means and TV filters on the validation patients,
# 3. train a residual U-Net with L1, then fine-tune it with adversarial and perceptual
#    losses of increasing weight,
# 4. compare PSNR/SSIM, noise level and the noise power spectrum on test patients,
# 5. apply the same recipe to low-count PET.
#
# The phantom gives us what real data never does: the *truth*. We score against the
# noise-free reconstruction, and also against normal dose, which is itself noisy.

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
# Quick mode (`I2I_QUICK=1`, what the tests run) takes seconds; full mode took 11 minutes
# on a 2-core AMD EPYC (128² slices, 64² training patches, a 16-filter U-Net; the wall time
# is printed at the end). With a GPU the same cells train on 256² slices with a wider
# network.

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

# %%
QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights, no training
GPU = i2i.hardware.has_gpu() and not PRETRAINED  # shipped weights: the CPU full run's
P = dict(size=128, patients=48, slices=6, views=360, patch=64, base_filters=16,
         l1_epochs=72, gan_epochs=10, pet_epochs=30,
         adv_l1=(1.0, 0.1),  # weights of L1 in the adversarial sweep (§ 5)
         perceptual_w=(1.0, 30.0))  # weights of the perceptual loss in its sweep (§ 5)
if GPU and not QUICK:
    P.update(size=256, patients=80, patch=128, base_filters=32, l1_epochs=120, gan_epochs=30)
if QUICK:
    P.update(size=64, patients=6, slices=2, views=90, patch=32, base_filters=8,
             l1_epochs=2, gan_epochs=1, pet_epochs=1)
# Blank-scan photons per detector bin and view; dose is proportional to it.
PHOTONS = {"truth": None, "normal": 2e5, "quarter": 5e4, "tenth": 2e4}
WINDOW = (-160.0, 240.0)  # soft-tissue window (level 40, width 400 HU): where we score
keras.utils.set_random_seed(0)
tf.get_logger().setLevel("ERROR")  # predict() on new image sizes retraces; that is expected
T0 = time.perf_counter()
i2i.print_config()
print(("quick" if QUICK else "GPU" if GPU else "CPU") + " mode:", P)

# %% [markdown]
# ## 1 · The forward model: from HU to photons and back
# `i2i.physics.low_dose_ct` does what a scanner does: HU → attenuation
# (μ = 0.02 /mm × (1 + HU/1000)), line integrals through the head on a grid twice as fine
# as the image (so we do not invert the same discrete model we simulate with: the
# "inverse crime"), Poisson photon counts from the blank-scan count, the log, and
# filtered back-projection (FBP) back to HU. Noise should grow as 1/√photons: check it.

# %%
head = i2i.phantoms.head_slice(P["size"], seed=100, z=0.1)
ct_geometry = i2i.physics.ParallelBeamCT(P["size"], P["views"], pixel_size_mm=head.pixel_mm)
scans = i2i.physics.simulate_doses(head.hu, PHOTONS, ct=ct_geometry, seed=0)
brain = i2i.phantoms.tissue_mask(head.labels, "grey_matter", "white_matter")
for name, image in scans.items():
    sd = (image - scans["truth"])[brain].std()
    print(f"{name:8s} photons {str(PHOTONS[name]):>8s}: noise SD in the brain {sd:5.1f} HU")
print("SD ratio quarter/normal:", round(float((scans["quarter"] - scans["truth"])[brain].std()
                                              / (scans["normal"] - scans["truth"])[brain].std()), 2),
      "(1/√dose predicts 2.0)")
i2i.viz.compare({k: v for k, v in scans.items()}, window="soft_tissue")
plt.show()

# %% [markdown]
# ## 2 · The data set, simulated once and cached
# Each phantom patient gives several slices; every slice is scanned at the four doses.
# The projections take a few tenths of a second a slice, so the result is stored in
# `$I2I_DATA_DIR/cache` and the next run of this notebook loads it in a second.


# %%
def simulate(patients, slices, size, views, photons):
    d = i2i.phantoms.mr_ct_pairs(range(patients), slices, size=size, ct_noise_hu=0.0)
    geometry = i2i.physics.ParallelBeamCT(size, views, pixel_size_mm=d["pixel_mm"])
    out = {name: [] for name in photons}
    for i in range(0, len(d["ct_clean"]), 32):  # 32 slices share one projection product
        scans = i2i.physics.simulate_doses(d["ct_clean"][i:i + 32], photons, ct=geometry, seed=i)
        for name, images in scans.items():
            out[name].append(images)
    out = {name: np.concatenate(v) for name, v in out.items()}
    return out | {"phantom": d["ct_clean"], "labels": d["labels"], "patient": d["patient"],
                  "pixel_mm": np.float32(d["pixel_mm"])}


# %% [markdown]
# **Real data.** With `I2I_DATASET=lodopab` (after `python data_scripts/download.py
# lodopab`), the same cells run on LoDoPaB-CT (Leuschner et al. 2021, CC BY 4.0): chest CT
# of LIDC-IDRI patients with one simulated low dose (4096 photons per detector bin, 1000
# views), reconstructed here by FBP and cropped to a multiple of 8 pixels. Its reference
# is the clinical normal-dose image, so "truth" and "normal" coincide, there is one low
# dose, and its reconstruction takes 1-2 s a slice the first time (then it is cached).
# Soft tissue (-100 to 200 HU in the reference) stands in for the brain mask.

# %%
DATASET = os.environ.get("I2I_DATASET", "phantom")


def lodopab(n, size):
    pairs = i2i.datasets.load_lodopab("test", n=n)
    low = i2i.physics.mu_to_hu(i2i.loaders.lodopab_geometry().fbp(pairs.sinograms))
    c = slice((362 - size) // 2, (362 - size) // 2 + size)
    truth = pairs.images_hu[:, c, c]
    soft = (truth > -100) & (truth < 200)
    patient = pairs.patient if pairs.patient is not None else np.arange(n)
    return {"low": low[:, c, c].astype(np.float32), "normal": truth, "truth": truth,
            "labels": np.where(soft, 7, 0).astype(np.int8), "patient": patient,
            "pixel_mm": np.float32(260.0 / 362)}


t = time.perf_counter()
if DATASET == "lodopab":
    D = i2i.datasets.cached("lodopab", lodopab, n=P["patients"] * P["slices"],
                            size=352 if not QUICK else 64)
    DOSES = ("low",)
else:
    D = i2i.datasets.cached("ldct", simulate, patients=P["patients"], slices=P["slices"],
                            size=P["size"], views=P["views"], photons=PHOTONS)
    DOSES = ("quarter", "tenth")
split = i2i.datasets.split_by_patient(D["patient"], val=0.15, test=0.15, seed=0)
train, val, test = split["train"], split["val"], split["test"]
PIXEL_MM = float(D["pixel_mm"])
print(f"{DATASET}: {len(D['truth'])} slices ({time.perf_counter() - t:.0f} s): train {len(train)}, "
      f"val {len(val)}, test {len(test)}; pixels {PIXEL_MM:.2f} mm")

# %% [markdown]
# ## 3 · Classical baselines, tuned on the validation patients
# Each filter has one strength parameter. We pick it for the best PSNR in the soft-tissue
# window on the *validation* slices, separately for each dose, and only then look at
# the test slices. (Tuning on the test set is the most common way a paper flatters its
# baseline, or its own method.)

# %%
tuned = {}
for dose in DOSES:
    for method in ("gaussian", "nlm", "tv"):
        params, _ = i2i.baselines.tune_denoiser(method, D[dose][val], D["truth"][val],
                                                window=WINDOW)
        tuned[dose, method] = params
        print(f"{dose:7s} {method:8s} " + ", ".join(f"{k}={v:.3g}" for k, v in params.items()))

# %% [markdown]
# ## 4 · A residual U-Net with an L1 loss
# The network learns the *noise* (its output is input + correction, with the correction's
# last layer initialised to zero, so it starts as the identity). It trains on random
# 64² patches, which is cheap and gives many different examples, and takes both quarter-
# and tenth-dose inputs, so one network serves both.
#
# Targets are the **normal-dose** scans, as they would be in a hospital: nobody has the
# truth. Because the normal-dose noise is independent of the input's, the network still
# learns to predict the clean image (Lehtinen et al. 2018, Noise2Noise).
#
# Values are scaled as (HU − 40)/400, so soft tissue sits near 0 and L1 weighs the HU
# that matter here; bone goes above 1, which a linear output allows.

# %%
SCALE = i2i.datasets.IntensityWindow(-360.0, 440.0)
x_train = SCALE.normalize(np.concatenate([D[d][train] for d in DOSES]))[..., None]
y_train = SCALE.normalize(np.concatenate([D["normal"][train]] * len(DOSES)))[..., None]
x_val = SCALE.normalize(D[DOSES[0]][val])[..., None]
y_val = SCALE.normalize(D["normal"][val])[..., None]
train_ds = i2i.datasets.paired_dataset(x_train, y_train, 8, augment=True,
                                       patch_size=P["patch"], seed=0)
val_ds = i2i.datasets.paired_dataset(x_val, y_val, 8, shuffle=False)
# Optimiser: i2i.training.adam(rate, total steps, beta_1): Adam whose rate falls linearly
# to 0 over the run. beta_1 = 0.9 (Adam's default) for these supervised and fine-tuning
# runs; GANs trained from scratch use 0.5.
STEPS = len(x_train) // 8  # batches of 8 per epoch


unet = i2i.models.unet((None, None, 1), depth=3, base_filters=P["base_filters"], norm="none",
                       residual=True, name="denoiser_l1")
l1_net = i2i.training.Supervised(unet)
l1_net.compile(i2i.training.adam(1e-3, P["l1_epochs"] * STEPS, beta_1=0.9), loss="l1")
t = time.perf_counter()
# fit, or with I2I_PRETRAINED=1 the weights of the full run that made this notebook's outputs
i2i.pretrained.fit_or_load(f"01/denoiser_l1-{DATASET}", l1_net, train_ds, validation_data=val_ds,
                           epochs=P["l1_epochs"], verbose=0,
                           callbacks=[i2i.training.ProgressBar(("loss", "val_l1", "val_psnr"))])
print(f"{unet.count_params():,} parameters; this cell took {(time.perf_counter() - t) / 60:.1f} min")

# %% [markdown]
# ## 5 · Bringing texture back: adversarial and perceptual losses
# Each starts from the L1 network's weights and trains `P["gan_epochs"]` epochs more, at
# Adam 2e-4 falling to 0:
#
# * **adversarial** (pix2pix, least-squares GAN loss): a PatchGAN learns to tell
#   normal-dose patches from denoised ones; the generator's loss is "fool it" plus
#   λ_L1 × L1, for each λ_L1 in `P["adv_l1"]`;
# * **perceptual**: the L1 loss plus w × the distance between the feature maps a fixed
#   network computes from output and target (`i2i.losses.PerceptualLoss`, using the small
#   feature network shipped with the package, trained on phantom tissue patches), for
#   each w in `P["perceptual_w"]`.
#
# Each sweep goes from mostly pixel loss towards mostly texture loss: § 7 plots where each
# run lands between PSNR and texture.


# %%
def warm_copy(network, name):
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    copy.name = name
    return copy


def fine_tune(name, model):
    """Train (or load the full run's weights) for P["gan_epochs"]; print the minutes."""
    t = time.perf_counter()
    i2i.pretrained.fit_or_load(f"01/denoiser_{name}-{DATASET}", model, train_ds,
                               epochs=P["gan_epochs"], verbose=0,
                               callbacks=[i2i.training.ProgressBar(("l1", "g_loss", "loss"))])
    print(f"{name}: {(time.perf_counter() - t) / 60:.1f} min")


def short_adam():
    return i2i.training.adam(2e-4, P["gan_epochs"] * STEPS, beta_1=0.9)


adversarial = {}
for lam in P["adv_l1"]:
    gan = i2i.training.Pix2Pix(warm_copy(unet, f"denoiser_adversarial_{lam:g}"),
                               i2i.models.patchgan((None, None, 1), n_layers=2, base_filters=32))
    gan.compile(short_adam(), short_adam(), lambda_l1=lam, gan_loss="lsgan")
    fine_tune(f"adversarial_l1_{lam:g}", gan)
    adversarial[f"U-Net adv. λ={lam:g}"] = gan.generator
perceptual = {}
for w in P["perceptual_w"]:
    sup = i2i.training.Supervised(warm_copy(unet, f"denoiser_perceptual_{w:g}"))
    sup.compile(short_adam(), loss={"l1": 1.0, "perceptual": w})
    fine_tune(f"perceptual_{w:g}", sup)
    perceptual[f"U-Net perc. w={w:g}"] = sup.network

# %% [markdown]
# ## 6 · Results on the test patients
# PSNR and SSIM in the soft-tissue window [-160, 240] HU (data range 400 HU), against the
# noise-free reconstruction (**truth**) and against the normal-dose scan; the noise SD is
# the standard deviation of (image − truth) in white and grey matter.

# %%
networks = {"U-Net L1": unet} | adversarial | perceptual


def denoise_all(dose):
    out = {f"{dose} dose (FBP)": D[dose][test]}
    for method in ("gaussian", "nlm", "tv"):
        out[method.upper() if method != "gaussian" else "Gaussian"] = i2i.baselines.denoise(
            D[dose][test], method, **tuned[dose, method])
    x = SCALE.normalize(D[dose][test])[..., None]
    for name, net in networks.items():
        out[name] = SCALE.denormalize(net.predict(x, verbose=0, batch_size=16)[..., 0])
    return out


brain_test = i2i.phantoms.tissue_mask(D["labels"][test], "grey_matter", "white_matter")


def score(images):
    truth, normal = D["truth"][test], D["normal"][test]
    clip = [np.clip(a, *WINDOW) for a in (images, truth, normal)]
    return {"PSNR truth": i2i.metrics.psnr_in_window(images, truth, WINDOW),
            "SSIM truth": i2i.metrics.ssim(clip[0], clip[1], WINDOW[1] - WINDOW[0]),
            "PSNR normal": i2i.metrics.psnr_in_window(images, normal, WINDOW),
            "noise SD (HU)": float((images - truth)[brain_test].std())}


# %%
results, outputs_by_dose = {}, {}
for dose in DOSES:
    outputs = outputs_by_dose[dose] = denoise_all(dose)
    results[dose] = {name: score(img) for name, img in outputs.items()}
    results[dose]["normal dose (FBP)"] = score(D["normal"][test]) | {"PSNR normal": np.nan}
    print(f"\n{dose} dose, {len(test)} test slices of "
          f"{len(np.unique(D['patient'][test]))} patients")
    print(f"{'':22s}" + "".join(f"{k:>14s}" for k in next(iter(results[dose].values()))))
    for name, row in results[dose].items():
        print(f"{name:22s}" + "".join(f"{v:14.3f}" if "SSIM" in k else f"{v:14.2f}"
                                      for k, v in row.items()))
first_outputs = outputs_by_dose[DOSES[0]]
r = results[DOSES[0]]
methods = [m for m in r if m != "normal dose (FBP)"] + ["normal dose (FBP)"]
best = {k: (min if k.startswith("noise") else max)(
    (m for m in methods[:-1] if np.isfinite(r[m][k])), key=lambda m: r[m][k]) for k in
    ("PSNR truth", "PSNR normal", "noise SD (HU)")}
i2i.tutorials.readme_table(  # the table README.md shows (python -m i2i_keras.tutorials)
    [""] + methods, [[label] + [("–" if not np.isfinite(r[m][k]) else f"**{r[m][k]:{f}}**"
                                if best[k] == m else f"{r[m][k]:{f}}") for m in methods]
                     for label, k, f in (("PSNR vs truth (dB)", "PSNR truth", ".2f"),
                                         ("PSNR vs normal dose (dB)", "PSNR normal", ".2f"),
                                         ("noise SD in brain (HU)", "noise SD (HU)", ".1f"))])

# %% [markdown]
# The margin that matters: the best network against the best tuned classical filter, at
# quarter dose, against the truth.

# %%
q = results[DOSES[0]]
best_net = max(networks, key=lambda n: q[n]["PSNR truth"])
best_classic = max(("NLM", "TV", "Gaussian"), key=lambda n: q[n]["PSNR truth"])
print(f"{best_net}: {q[best_net]['PSNR truth']:.2f} dB; {best_classic}: "
      f"{q[best_classic]['PSNR truth']:.2f} dB; margin "
      f"{q[best_net]['PSNR truth'] - q[best_classic]['PSNR truth']:+.2f} dB "
      f"(against normal dose: {q[best_net]['PSNR normal'] - q[best_classic]['PSNR normal']:+.2f} dB)")
margin = {ref: q[best_net][f"PSNR {ref}"] - q[best_classic][f"PSNR {ref}"]
          for ref in ("truth", "normal")}
check("at quarter dose the best network beats the best tuned classical filter (PSNR vs truth)",
      margin["truth"] > 0, f"{margin['truth']:+.2f} dB")
check("scored against normal dose, which is noisy itself, the margin looks smaller",
      margin["normal"] < margin["truth"], f"{margin['normal']:+.2f} against {margin['truth']:+.2f} dB")

# %% [markdown]
# A zoomed region: look at the grey/white texture and the vessels, not only the noise.

# %%
k = int(np.argmax(brain_test.sum(axis=(1, 2))))
s = D["truth"].shape[-1]
zoom = (slice(s // 4, s // 4 + s // 3), slice(s // 3, s // 3 + s // 3))
show = {"truth": D["truth"][test][k], "normal dose": D["normal"][test][k]}
show |= {name: img[k] for name, img in first_outputs.items()}
i2i.viz.compare(show, window=(40, 160), zoom=zoom, ncols=5)
plt.show()

# %% [markdown]
# ## 7 · Texture: the noise power spectrum
# Two images can have the same noise SD and look very different: the noise power spectrum
# (NPS) shows how the error is spread over spatial frequencies. FBP noise is high-pass
# (the ramp filter); over-smoothing removes the high frequencies and leaves blotchy,
# low-frequency error. The closer a method's NPS shape is to normal dose, the more
# natural its texture. We summarise the shape by the NPS-weighted mean frequency.

# %%
roi = (slice(s // 2 - s // 8, s // 2 + s // 8), slice(s // 2 - s // 8, s // 2 + s // 8))
curves = {"normal dose (FBP)": D["normal"][test]} | {
    n: first_outputs[n] for n in (f"{DOSES[0]} dose (FBP)", "NLM", *networks)}


def nps_of(images):
    """NPS of (images − truth) in the central ROI: frequencies (/mm), NPS, mean frequency."""
    f, nps = i2i.metrics.noise_power_spectrum(images, roi=roi, pixel_mm=PIXEL_MM,
                                              reference=D["truth"][test])
    return f, nps, float((f * nps).sum() / nps.sum())


fig, ax = plt.subplots(figsize=(6, 3.5))
mean_freq = {}
for name, images in curves.items():
    f, nps, mean_freq[name] = nps_of(images)
    ax.semilogy(f, nps, label=f"{name} (mean {mean_freq[name]:.3f}/mm)")
ax.set_xlabel("spatial frequency (cycles/mm)")
ax.set_ylabel("NPS (HU² mm²)")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# **The perception–distortion trade-off** (Blau & Michaeli 2018): each network's PSNR
# against the truth (distortion, up is better) and its NPS mean frequency (texture: normal
# dose's is the target). "Moved" is the share of the way from the L1 network's mean
# frequency to normal dose's; the PSNR cost is against the L1 network.

# %%
f_l1, f_normal = mean_freq["U-Net L1"], mean_freq["normal dose (FBP)"]
check("the L1 network over-smooths: its NPS sits at lower frequencies than normal dose's",
      f_l1 < f_normal, f"{f_l1:.3f} against {f_normal:.3f} /mm")
moved = {n: (mean_freq[n] - f_l1) / (f_normal - f_l1) for n in networks}
cost = {n: q["U-Net L1"]["PSNR truth"] - q[n]["PSNR truth"] for n in networks}
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for n in networks:
    ax.scatter(mean_freq[n], q[n]["PSNR truth"])
    ax.annotate(n.replace("U-Net ", ""), (mean_freq[n], q[n]["PSNR truth"]), fontsize=8)
ax.axvline(f_normal, color="k", ls="--", lw=0.8, label="normal dose's NPS mean frequency")
ax.set_xlabel("NPS mean frequency (cycles/mm)")
ax.set_ylabel("PSNR vs truth (dB)")
ax.legend(fontsize=7)
plt.show()
for n in networks:
    print(f"{n:22s} moved {moved[n]:6.0%} of the way to normal dose's texture, "
          f"PSNR cost {cost[n]:+.2f} dB")
most = max(networks, key=moved.get)
check("an adversarial or perceptual setting moves the NPS mean frequency at least half way "
      "from the L1 network's towards normal dose's", moved[most] >= 0.5, f"{most}: {moved[most]:.0%}")
check("the texture costs PSNR: the setting that moves most has a lower PSNR than the L1 network",
      cost[most] > 0, f"{most}: {cost[most]:+.2f} dB")

# %% [markdown]
# Which kind of loss moved the texture, and at what price, is in the lines above; compare
# the adversarial runs with the literature's WGAN-VGG (Yang et al. 2018), which trains far
# longer than our `P["gan_epochs"]` epochs, from scratch, with a VGG feature loss beside
# the adversarial one.

# %% [markdown]
# ## 8 · One framework, another modality: low-count PET
# PET counts are Poisson too. Give each tissue an activity (grey matter takes up four
# times the FDG of white matter, lesions more), blur by the scanner's resolution, and
# draw a full-count and a low-count image with `i2i.physics.low_count_pet`. The same
# residual U-Net and L1 loss, against a tuned Gaussian filter.

# %%
ACTIVITY = np.zeros(len(i2i.phantoms.TISSUES), np.float32)
for name, value in {"grey_matter": 4.0, "white_matter": 1.0, "csf": 0.1, "muscle": 1.0,
                    "fat": 0.5, "marrow": 0.5, "cortical_bone": 0.3, "vessel": 2.0,
                    "calcification": 0.3, "lesion": 8.0}.items():
    ACTIVITY[i2i.phantoms.TISSUES[name].label] = value
pet_heads = i2i.phantoms.mr_ct_pairs(range(200, 200 + P["patients"]), P["slices"], size=64,
                                     lesions=True, ct_noise_hu=0.0)
activity = ACTIVITY[pet_heads["labels"]]
pet_kw = dict(psf_fwhm_mm=6.0, pixel_size_mm=float(pet_heads["pixel_mm"]))
full = i2i.physics.low_count_pet(activity, counts=1e6, seed=1, **pet_kw)  # counts per slice
low = i2i.physics.low_count_pet(activity, counts=1e5, seed=2, **pet_kw)  # a tenth of them
clean = i2i.physics.low_count_pet(activity, counts=None, **pet_kw)
pet_split = i2i.datasets.split_by_patient(pet_heads["patient"], seed=0)
# Centre the scale on zero activity: with the background at -1, ReLU units that see only
# background start dead and the residual network can stay stuck at the identity.
PET = i2i.datasets.IntensityWindow(-4.0, 4.0, "activity")
pet_net = i2i.training.Supervised(i2i.models.unet((None, None, 1), depth=3, base_filters=16,
                                                  norm="none", residual=True, name="pet"))
pet_net.compile(keras.optimizers.Adam(1e-3), loss="l1")
tr = pet_split["train"]
i2i.pretrained.fit_or_load(
    "01/pet", pet_net,
    i2i.datasets.paired_dataset(PET.normalize(low[tr]), PET.normalize(full[tr]), 8, augment=True),
    epochs=P["pet_epochs"], verbose=0, callbacks=[i2i.training.ProgressBar(("loss",))])
te = pet_split["test"]
pet_out = PET.denormalize(pet_net.predict(PET.normalize(low[te])[..., None], verbose=0)[..., 0])
sigma, _ = i2i.baselines.tune_denoiser("gaussian", low[pet_split["val"]],
                                       clean[pet_split["val"]])
pet_gauss = i2i.baselines.denoise(low[te], "gaussian", **sigma)
pet_psnr = {}
for name, img in {"low count": low[te], "Gaussian (tuned)": pet_gauss, "U-Net L1": pet_out,
                  "full count": full[te]}.items():
    pet_psnr[name] = i2i.metrics.psnr(img, clean[te], 8.0)
    print(f"{name:17s} PSNR vs noise-free {pet_psnr[name]:.2f} dB (range 8 activity units)")
check("on low-count PET the U-Net beats the tuned Gaussian filter",
      pet_psnr["U-Net L1"] > pet_psnr["Gaussian (tuned)"],
      f"{pet_psnr['U-Net L1']:.2f} against {pet_psnr['Gaussian (tuned)']:.2f} dB")

# %% [markdown]
# ## 9 · Real scans: does a phantom-trained network transfer?
# Everything above was phantoms. pydicom ships a few real CT slices (no download): a head,
# an abdomen, a neck, and a brain close-up whose CSF the file stores as air (-1024 HU).
# `i2i.io.real_slice` resamples each to the phantoms' pixel size (1.72 mm; the 128² neck
# only to 1.32 mm, to keep 64 pixels). Each is scanned at quarter dose with the same physics
# and scored, as above, against the same scan without photon noise, in the soft-tissue
# window; NLM keeps the strength tuned on the phantom validation patients. A real image
# carries its own noise, which stays in the reference: where it is close to the added
# noise (its SD is printed), a method that removes it too is counted wrong for it.

# %%
real_outputs, real_psnr = {}, {}
for k, name in enumerate(i2i.io.CT_EXAMPLES):
    image, pixel = i2i.io.real_slice(name)
    geometry = i2i.physics.ParallelBeamCT(image.shape[-1], P["views"], pixel_size_mm=pixel)
    scans = i2i.physics.simulate_doses(np.clip(image, -1024.0, 3071.0),
                                       {"truth": None, "quarter": PHOTONS["quarter"]},
                                       ct=geometry, seed=k)
    x = SCALE.normalize(scans["quarter"])[None, ..., None]
    real_outputs[name] = {
        "truth (noise-free scan)": scans["truth"], "quarter dose": scans["quarter"],
        "NLM (phantom-tuned)": i2i.baselines.denoise(scans["quarter"][None], "nlm",
                                                     **tuned[DOSES[0], "nlm"])[0],
        "U-Net L1": SCALE.denormalize(unet.predict(x, verbose=0)[0, ..., 0])}
    real_psnr[name] = {m: i2i.metrics.psnr_in_window(v, scans["truth"], WINDOW)
                       for m, v in list(real_outputs[name].items())[1:]}
    print(f"{i2i.io.real_examples.DESCRIPTIONS[name]:31s} own noise "
          f"{i2i.metrics.noise_sd(image):4.1f} HU, added "
          f"{np.std(scans['quarter'] - scans['truth']):4.1f} HU; PSNR (dB) "
          + ", ".join(f"{m} {v:.2f}" for m, v in real_psnr[name].items()))

# %%
gap = {n: r["U-Net L1"] - r["NLM (phantom-tuned)"] for n, r in real_psnr.items()}
for verdict, names in (("matched or beat", [n for n in gap if gap[n] >= 0]),
                       ("lost to", [n for n in gap if gap[n] < 0])):
    print(f"the U-Net {verdict} NLM on {len(names)} of {len(gap)} real scans: " + ", ".join(
        f"{i2i.io.real_examples.DESCRIPTIONS[n]} ({gap[n]:+.2f} dB)" for n in names))
head = real_psnr["693_UNCR.dcm"]
check("on the real head CT, the anatomy it was trained on, the network is not worse than NLM",
      head["U-Net L1"] >= head["NLM (phantom-tuned)"],
      f"{head['U-Net L1']:.2f} against {head['NLM (phantom-tuned)']:.2f} dB")
i2i.viz.compare(real_outputs["693_UNCR.dcm"], window="soft_tissue", ncols=4)
plt.show()

# %% [markdown]
# To read the lines above: the head is the anatomy the network learned. For a scan where
# it lost, ask what the phantoms never showed it: an image whose own noise rivals the
# added noise, or air inside the brain. `benchmarks/transfer.py` trains the same recipe on
# randomised phantoms (heads and limbs, other kernels and doses) and measures how much of
# such a gap that closes.

# %% [markdown]
# ## 10 · What can go wrong
# * **Hallucination and lost detail.** A network trained on these phantoms has seen
#   lesions but no, say, metal; small low-contrast details near the noise level can be
#   removed as "noise". The zoom above is at quarter dose: exercise 1 asks what changes
#   at tenth dose.
# * **Over-smoothing.** The L1 network's NPS sits at lower frequencies than normal dose's
#   (§ 7), and the settings that bring the texture back cost PSNR: a high PSNR is not a
#   good image, and a natural-looking one is not a more accurate one.
# * **Scores against normal dose understate the gain:** normal dose is noisy too, so every
#   method's PSNR against it is capped (compare the two PSNR columns).
#
# Published numbers on real data, for scale only: phantoms are easier, and the PSNRs are
# defined differently. LoDoPaB-CT (Leuschner et al., Sci. Data 2021, their table of
# reference reconstructions on the test set; PSNR over each image's own range, max − min,
# of the normalised attenuation, not a HU window): FBP 30.4 dB, TV 33.4, FBP + U-Net 36.0.
# Mayo low-dose CT (Eulig et al. 2024, their benchmark table, abdomen, PSNR in their
# stated window): low-dose input 29.1 dB, RED-CNN 33.7, WGAN-VGG 30.9, i.e. the adversarial
# + perceptual network gives up PSNR for texture, which § 7 measures here too.

# %%
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min")

# %% [markdown]
# ## Exercises
# 1. Train the L1 network on quarter dose only and test it at tenth dose. How much does it
#    lose against the one trained on both? What does that say about deploying a network
#    on a scanner protocol it was not trained on?
# 2. Train against the *truth* instead of normal dose (`y_train` from `D["truth"]`). How
#    much PSNR does having the truth buy? (Noise2Noise says: little.)
# 3. Repeat § 7 at tenth dose: the NPS mean frequencies and how far each network moved
#    toward normal dose's texture. Does the L1 network over-smooth more at tenth dose, and
#    does the adversarial fine-tune still bring the texture back?
#
# Solutions follow (collapsed in Jupyter: click to expand); try first. Solutions 1 and 2
# train three short networks, each for the same number of steps (an eighth of § 4's);
# with `I2I_PRETRAINED=1` they load the full run's weights.

# %% [markdown] jupyter={"source_hidden": true}
# ### Solutions

# %% jupyter={"source_hidden": true}
# 1. and 2. Short runs, same steps each: both doses → normal dose (the recipe of § 4),
#    quarter dose only → normal dose, both doses → truth.
short_steps = P["l1_epochs"] // 8 * STEPS
runs = {0: ("both doses → normal", x_train, y_train),  # § 4's recipe
        2: ("both doses → truth", x_train, SCALE.normalize(
            np.concatenate([D["truth"][train]] * len(DOSES)))[..., None])}
if "quarter" in D:  # phantoms (LoDoPaB has one low dose, and its truth is normal dose)
    runs[1] = ("quarter only → normal", SCALE.normalize(D["quarter"][train])[..., None],
               SCALE.normalize(D["normal"][train])[..., None])
short_nets = {}
for k, (name, x, y) in sorted(runs.items()):
    keras.utils.set_random_seed(0)
    net = i2i.models.unet((None, None, 1), depth=3, base_filters=P["base_filters"],
                          norm="none", residual=True, name=f"denoiser_short_{k}")
    trainer = i2i.training.Supervised(net)
    trainer.compile(i2i.training.adam(1e-3, short_steps, beta_1=0.9), loss="l1")
    i2i.pretrained.fit_or_load(f"01/short_{k}-{DATASET}", trainer, i2i.datasets.paired_dataset(
        x, y, 8, augment=True, patch_size=P["patch"], seed=0), epochs=short_steps // (len(x) // 8),
        verbose=0, callbacks=[i2i.training.ProgressBar(("loss",))])
    short_nets[name] = net
for dose in DOSES:
    x = SCALE.normalize(D[dose][test])[..., None]
    for name, net in short_nets.items():
        out = SCALE.denormalize(net.predict(x, verbose=0, batch_size=16)[..., 0])
        print(f"{dose:8s} {name:24s} PSNR vs truth "
              f"{i2i.metrics.psnr_in_window(out, D['truth'][test], WINDOW):6.2f} dB")
# Noise2Noise predicts little gain from the truth: the network learns the mean of the
# targets, and normal-dose noise averages out. A network that never saw tenth dose meets
# noise stronger than any it learned to remove: compare its tenth-dose row.

# %% jupyter={"source_hidden": true}
# 3. § 7 at tenth dose.
if len(DOSES) > 1:
    tenth = outputs_by_dose[DOSES[1]]  # § 6 denoised it already
    f10 = {name: nps_of(images)[2] for name, images in
           {"normal dose (FBP)": D["normal"][test], **{n: tenth[n] for n in networks}}.items()}
    for n in networks:
        print(f"{n:22s} NPS mean frequency {f10[n]:.3f} /mm (quarter dose {mean_freq[n]:.3f}),"
              f" moved {(f10[n] - f10['U-Net L1']) / (f10['normal dose (FBP)'] - f10['U-Net L1']):6.0%}")

