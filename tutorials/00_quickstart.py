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
# # 00 · Quickstart: synthetic CT from MR with pix2pix
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/00_quickstart.ipynb)
#
# **The task.** Radiotherapy plans dose on a CT, because CT numbers (HU) give the
# electron density that the dose calculation needs. MR shows tumours and soft tissue far
# better, so many centres register an MR to the planning CT, and the registration error
# goes into every plan. *MR-only* planning removes the CT: a network turns the MR into a
# **synthetic CT** (sCT) in HU.
#
# **Why it is hard.** On a spin-echo MR, cortical bone (almost no mobile protons, T2 of a
# millisecond) and air (no protons at all) are both black. On CT they are the two
# extremes: about +1400 HU and -1000 HU. A network must tell them apart from their
# shape and their neighbours, not their brightness.
#
# **What you will do** in about ten minutes on a laptop CPU:
# 1. make registered MR/CT pairs from procedural head phantoms,
# 2. build a U-Net generator and a PatchGAN discriminator,
# 3. train them as pix2pix (Isola et al., 2017) with `model.fit`,
# 4. score the result on *held-out patients* in HU, tissue by tissue, against the rule MR-only
#    planning used before networks (bulk-density assignment), tuned on the validation patients.
#
# Kaji & Kida (2019, Radiol. Phys. Technol.) review this and the other tasks of this series.

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
# `I2I_QUICK=1` (what the tests set) runs everything in seconds on tiny data; the
# default full mode sizes itself to the hardware: 64² images and a 0.5 M-parameter U-Net
# on a CPU, 256² and a wider, deeper U-Net on a GPU. Change any field with
# `dataclasses.replace(S, epochs=...)`.

# %%
import os
import pathlib
import time

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import numpy as np

from i2i_keras.claims import check

QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights, no training
S = i2i.recipes.Settings.for_hardware(QUICK)
keras.utils.set_random_seed(S.seed)
keras.mixed_precision.set_global_policy(S.precision)  # float32 on a CPU: see Settings
T0 = time.perf_counter()
i2i.print_config()
S

# %% [markdown]
# ## 1 · The data: one anatomy, two modalities
# A phantom patient is a seed; a slice is a level `z` from the skull base (-1) to the
# vertex (+1). Every pixel carries a tissue label, and the tissue table gives each label
# its CT number and its MR parameters (PD, T1, T2), so MR and CT of the same slice are
# registered by construction. The MR is a spin-echo image,
# S = PD (1 − e^(−TR/T1)) e^(−TE/T2), with a smooth bias field and Rician noise.

# %%
for t in i2i.phantoms.TISSUES.values():
    print(f"{t.name:14s} {t.hu:7.0f} HU   PD {t.pd:4.2f}   T1 {t.t1[0]:6.0f} ms   "
          f"T2 {t.t2[0]:6.0f} ms (1.5 T)")

# %% [markdown]
# A low slice (with the frontal sinus) of one patient. Look for the black skull *and*
# the black sinus on the MR, and how different they are on the CT.

# %%
head = i2i.phantoms.head_slice(256, seed=11, z=-0.55, lesions=True)
fig = i2i.viz.compare({"MR T1-weighted": head.mr("T1", seed=0),
                       "MR T2-weighted": head.mr("T2", seed=0),
                       "CT (head window)": head.ct(seed=0),
                       "CT (brain window)": head.ct(seed=0)}, window="head")
i2i.viz._show(fig.axes[3], head.ct(seed=0), "brain", "CT (brain window)")
plt.show()

# %% [markdown]
# ## 2 · A data set split by patient
# Slices of one head look alike; if some went to training and others to testing, the
# test would flatter the network. So the split is by patient: 70 % train, 15 %
# validation (for choosing settings and tuning the baseline), 15 % test (touched once).

# %%
data = i2i.datasets.phantom_mr_ct_splits(S.patients, S.slices_per_patient, S.size, S.seed)
for name, part in data.items():
    print(f"{name:5s}: {len(part['x']):4d} slices of {len(np.unique(part['patient'])):3d} "
          f"patients, {S.size}² pixels of {220 / S.size:.2f} mm")

# %% [markdown]
# Networks want values near [-1, 1]. CT is mapped linearly from the window
# [-1000, 2000] HU, with an exact inverse, so every number we report is back in HU. MR has
# no unit: each image is scaled so that 0 → -1 and its 99.5th percentile → +1.

# %%
W = i2i.datasets.CT_WINDOW
hu = np.array([-1000.0, 0.0, 40.0, 1400.0])
print("HU:", hu, "→ network:", W.normalize(hu), "→ back:", W.denormalize(W.normalize(hu)))

# %% [markdown]
# The training pipeline is a `tf.data.Dataset` on TensorFlow (a `keras.utils.PyDataset`
# of NumPy batches on JAX or PyTorch, which need no TensorFlow). Augmentation (a
# left-right flip, a shift of up to 4 pixels) draws one random transform per pair and
# applies it to *both* images, or the pair would no longer be registered.

# %%
train_ds = i2i.datasets.paired_dataset(data["train"]["x"], data["train"]["y"], S.batch_size,
                                       augment=True, max_shift=4, seed=S.seed)
val_ds = i2i.datasets.paired_dataset(data["val"]["x"], data["val"]["y"], 16, shuffle=False)
xb, yb = next(iter(train_ds))
print("a batch:", xb.shape, yb.shape)
fig = i2i.viz.compare({"MR (augmented)": xb[0, ..., 0], "CT (same transform)": W.denormalize(yb[0, ..., 0])})
plt.show()

# %% [markdown]
# ## 3 · The networks
# The generator is a U-Net: an encoder that halves the image `depth` times, a decoder
# that grows it back, and skip connections that carry fine detail (the thin skull)
# across. Instance normalisation suits batches of a few images.
#
# The discriminator is a conditional PatchGAN: it sees (MR, CT) and returns one
# real/fake logit per patch (receptive field 34 pixels at n_layers=2), so it judges
# local texture and edges, while the L1 term takes care of the low frequencies.

# %%
steps_per_epoch = len(data["train"]["x"]) // S.batch_size
gan = i2i.recipes.build_pix2pix(S, steps_per_epoch)
print(f"generator {gan.generator.count_params():,} parameters, discriminator "
      f"{gan.discriminator.count_params():,}; PatchGAN receptive field "
      f"{i2i.models.receptive_field(S.d_layers)} pixels")

# %% [markdown]
# The whole pix2pix step, as the library runs it. First the losses, in `keras.ops` so that
# they run on every Keras backend: the discriminator judges the real pair (MR, CT) and the
# fake pair (MR, G(MR)) in two passes, and the generator's loss is the adversarial term
# plus 100 × L1.

# %%
import inspect

print(inspect.getsource(i2i.training.Pix2Pix.compute_losses))

# %% [markdown]
# Then the step on TensorFlow, as the TensorFlow pix2pix tutorial writes it: one tape per
# network records the forward pass, each loss's gradient goes to its own network's
# weights, and each optimizer applies its own. (On JAX and PyTorch the first lines hand
# the same losses to `i2i_keras/backend_steps.py`, which takes gradients their way.)

# %%
print(inspect.getsource(i2i.training.Pix2Pix.train_step))

# %% [markdown]
# ## 4 · Training
# `Pix2Pix` is a `keras.Model`, so `fit` works with any Keras callback. Ours: a progress
# bar, a sample grid every few epochs, a NaN guard, and a time budget that stops a slow
# machine at `S.minutes`.

# %%
every = max(1, S.epochs // 3)
callbacks = [i2i.training.ProgressBar(),
             i2i.viz.SampleGrid(data["val"]["x"][:2], data["val"]["y"][:2], W.denormalize,
                                every=every),
             i2i.training.NaNGuard(), i2i.training.TimeBudget(S.minutes)]
t_train = time.perf_counter()
# fit, or with I2I_PRETRAINED=1 the weights of the full run that made this notebook's outputs
history = i2i.pretrained.fit_or_load("00/pix2pix", gan, train_ds, validation_data=val_ds,
                                     epochs=S.epochs, verbose=0, callbacks=callbacks)
train_minutes = (time.perf_counter() - t_train) / 60
print(f"{len(history.history['l1'])} epochs of training; this cell took {train_minutes:.1f} min")

# %%
i2i.viz.plot_history(history, ["l1", "psnr", "g_loss", "d_loss"])
plt.show()

# %% [markdown]
# ## 5 · The baseline: bulk-density assignment, tuned
# Before networks, MR-only planning segmented the MR by intensity and gave each class
# one CT number. We tune the head-mask threshold, the class thresholds and the class
# values for the lowest MAE on the **validation** patients, so the rule is at its best.

# %%
rule = i2i.baselines.BulkDensity(n_classes=3).fit(data["val"]["x"][..., 0], data["val"]["ct"])
rule

# %% [markdown]
# ## 6 · Results on held-out patients
# MAE and mean error (bias) in HU inside the head, MAE per tissue class, and PSNR over
# the 3000 HU window. A constant per class does least badly where the class is uniform on
# CT (soft tissue); where one MR intensity covers two CT extremes (bone and air, both
# dark) it cannot be right. The checks below the table say what this run shows.

# %%
test = data["test"]
sct = W.denormalize(gan.generator.predict(test["x"], verbose=0)[..., 0])
bulk = rule.predict(test["x"][..., 0])
reports = i2i.metrics.report({"bulk density": bulk, "pix2pix": sct}, test)
print(f"{len(np.unique(test['patient']))} test patients, {len(test['x'])} slices\n")
print(i2i.metrics.format_table(reports))
net, rule_ = reports["pix2pix"], reports["bulk density"]
tissues = [k for k in net if k.startswith("MAE") and k != "MAE body (HU)"]
check("pix2pix has a lower MAE than the tuned rule in every tissue class",
      all(net[k] < rule_[k] for k in tissues),
      ", ".join(f"{k}: rule {rule_[k]:.1f}, pix2pix {net[k]:.1f}" for k in tissues))
worst = sorted(tissues, key=net.get)[-2:]
check("pix2pix's two largest tissue errors are in bone and in air cavities",
      set(worst) == {"MAE bone (HU)", "MAE air cavity (HU)"},
      ", ".join(f"{k}: {net[k]:.1f}" for k in tissues))
i2i.tutorials.report_table(reports)  # the table README.md shows (python -m i2i_keras.tutorials)

# %%
names = [k for k in reports["pix2pix"] if k.startswith("MAE")]
pos = np.arange(len(names))
fig, ax = plt.subplots(figsize=(7, 3))
for i, method in enumerate(reports):
    ax.bar(pos + 0.4 * i - 0.2, [reports[method][n] for n in names], 0.4, label=method)
ax.set_xticks(pos, [n.replace("MAE ", "").replace(" (HU)", "") for n in names])
ax.set_ylabel("MAE (HU)")
ax.set_yscale("log")
ax.legend()
plt.show()

# %% [markdown]
# Three test slices: MR, sCT, CT and the difference (red: sCT too dense).

# %%
order = np.argsort(test["patient"] * 10 + np.arange(len(test["x"])) % 10)
pick = order[:: max(1, len(order) // 3)][:3]
i2i.viz.panel(test["mr"][pick], sct[pick], test["ct"][pick], titles=("MR (T1)", "pix2pix sCT", "CT"))
plt.show()

# %% [markdown]
# ## 7 · Where the errors sit
# The rule gives every dark pixel the same value, so it cannot be right for both skull
# and sinus. The network uses context: its bone error is a fraction of the rule's (the
# table above), and what remains sits in bone and air cavities, where the MR carries no
# signal. Below: the lowest test slice, where the sinus is; look at the skull's edges.

# %%
has_sinus = i2i.phantoms.tissue_mask(test["labels"], "air_cavity").any(axis=(1, 2))
low = int(np.argmin(np.where(has_sinus, 0, 1)
                    + np.arange(len(test["x"])) * 1e-3))
i2i.viz.compare({"MR T1": test["mr"][low], "bulk density": bulk[low], "pix2pix": sct[low],
                 "CT": test["ct"][low]}, window="head")
plt.show()

# %% [markdown]
# ## 8 · Use the trained generator
# The generator alone is a plain Keras model: save it, load it anywhere, run it on MR.

# %%
path = pathlib.Path("mr_to_ct_generator.keras")
gan.generator.save(path)
reloaded = keras.saving.load_model(path)
same = np.allclose(reloaded.predict(test["x"][:2], verbose=0),
                   gan.generator.predict(test["x"][:2], verbose=0))
print(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB); reloaded gives the same output: {same}")
path.unlink()
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min ({S.mode} mode)")

# %% [markdown]
# ## Another backend
# Everything above runs unchanged on JAX or PyTorch: install one
# (`pip install -e ".[jax]"` or `".[torch]"`), set `os.environ["KERAS_BACKEND"] = "jax"`
# (or `"torch"`) in the first cell, before anything imports Keras, and restart the kernel.
# Only how a step takes its gradients differs (`i2i_keras/backend_steps.py`); a generator
# saved on one backend loads and predicts the same on the others. The same Pix2Pix step
# (64², batch 4, through `fit`) measured on this 2-core CPU on 2026-11-30 with
# `python benchmarks/backend_speed.py`:
#
# | backend | ms per step | images/s | first `fit` call (tracing) |
# |---|---:|---:|---:|
# | TensorFlow 2.21 (`tf.function`) | 62.1 | 64.4 | 7.9 s |
# | JAX 0.10.2 (`jax.jit`) | 76.8 | 52.1 | 7.6 s |
# | PyTorch 2.13.0 CPU (eager) | 109.5 | 36.5 | 2.3 s |

# %% [markdown]
# ## Exercises
# 1. **Without the discriminator.** Set `lambda_l1` high and the adversarial term off
#    (`gan.compile(..., lambda_l1=1e4)` is close), or train `i2i.models.unet` alone with
#    `model.compile(loss="mae")`. Is the sCT's MAE better or worse? Look at the bone: is
#    it sharper or blurrier?
# 2. **T2 instead of T1.** Make the data with `weighting="T2"` in
#    `i2i.phantoms.mr_ct_pairs`. Which tissue class gets easier, which harder, and why
#    (think of fat and CSF on each weighting)?
# 3. **A smarter rule.** Give `BulkDensity` 5 classes instead of 3. How far does the
#    rule get? Which tissue row can no intensity rule fix, and what would it need to know?
#
# Solutions follow (collapsed in Jupyter: click to expand); try first.

# %% [markdown] jupyter={"source_hidden": true}
# ### Solutions

# %% jupyter={"source_hidden": true}
# 1. The generator alone, trained with L1 only (same U-Net, same data and schedule, a third
#    of the epochs to keep the notebook short: compare with pix2pix's curve at that epoch).
keras.utils.set_random_seed(S.seed)
l1_epochs = max(1, S.epochs // 3)
unet = i2i.models.unet((S.size, S.size, 1), depth=S.depth, base_filters=S.base_filters)
l1_only = i2i.training.Supervised(unet)
l1_only.compile(i2i.training.adam(S.learning_rate, l1_epochs * steps_per_epoch), loss="l1")
i2i.pretrained.fit_or_load("00/l1_only", l1_only, train_ds, epochs=l1_epochs, verbose=0,
                           callbacks=[i2i.training.ProgressBar()])
sct_l1 = W.denormalize(unet.predict(test["x"], verbose=0)[..., 0])
both = i2i.metrics.report({"pix2pix": sct, f"L1 only ({l1_epochs} epochs)": sct_l1}, test)
print(i2i.metrics.format_table(both))
# Sharpness: mean gradient magnitude of the sCT along the bone edges of the true CT.
from scipy import ndimage

bone = i2i.metrics.split_masks(test)["bone"]
edges = bone ^ ndimage.binary_erosion(bone, structure=np.ones((1, 3, 3)))
for name, image in {"true CT": test["ct"], "pix2pix": sct, "L1 only": sct_l1}.items():
    grad = np.hypot(*np.gradient(image, axis=(1, 2)))
    print(f"{name:10s} mean |gradient| on bone edges {grad[edges].mean():6.0f} HU/pixel")
# An L1 network predicts the median of what the MR allows: where the skull edge could sit
# one pixel in or out, the median is a blurred edge. The discriminator penalises blur:
# here pix2pix's edges are the sharper (closer to the true CT's gradient). Its MAE is also
# lower, but it trained three times as long: try the L1 network for S.epochs to compare.

# %% jupyter={"source_hidden": true}
# 2. T2-weighted MR, compared through the tuned rule (cheap, and it shows the physics; a
#    network would need training again).
t2 = i2i.datasets.split_pairs(i2i.phantoms.mr_ct_pairs(range(S.patients), S.slices_per_patient,
                                                       size=S.size, weighting="T2"), seed=S.seed)
rules = {w: i2i.baselines.BulkDensity(3).fit(d["val"]["x"][..., 0], d["val"]["ct"])
         for w, d in {"T1": data, "T2": t2}.items()}
print(i2i.metrics.format_table({f"rule on {w}": i2i.metrics.report(
    {"r": r.predict(d["test"]["x"][..., 0])}, d["test"])["r"]
    for (w, r), d in zip(rules.items(), (data, t2))}))
# On T2, CSF (T2 2000 ms) is the brightest tissue and fat (T2 165 ms) no longer is: fat
# falls into the classes of brain and CSF, whose CT numbers are 100 HU higher, so the fat
# and soft-tissue rows get worse. Bone and air stay dark on both weightings: no weighting
# separates them, and their rows move only as the dark class's one value moves (a
# seeded, deterministic result: bone gains on T2 here, the air cavity barely changes).

# %% jupyter={"source_hidden": true}
# 3. More classes for the rule.
for n in (3, 5):
    rule_n = i2i.baselines.BulkDensity(n_classes=n).fit(data["val"]["x"][..., 0], data["val"]["ct"])
    r = i2i.metrics.report({"rule": rule_n.predict(test["x"][..., 0])}, test)["rule"]
    print(f"{n} classes: " + ", ".join(f"{k} {v:.1f}" for k, v in r.items() if k.startswith("MAE")))
# Bone and air cavity cannot improve much: both are dark on MR, so no threshold separates
# them. A rule would need to know *where* the pixel is (inside the skull ring or in a
# sinus), which is what the network learns from context.
