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
# # 06 · Stabilising GAN training: losses, spectral norm, and how to see trouble coming
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/06_gan_stabilisation.ipynb)
#
# **The task.** Notebook 03 trained pix2pix for MR → CT and it simply worked. GANs do not
# always: a generator G and a discriminator D play a game, and games can go wrong in
# ways a single loss curve does not show. The three that every practitioner meets
# (Goodfellow, "NIPS 2016 tutorial: GANs", § 5):
#
# 1. **the discriminator wins**: D separates real from fake perfectly, its gradients
#    saturate or explode, and the generator learns nothing useful from it;
# 2. **mode collapse**: G produces (nearly) the same image whatever the input;
# 3. **oscillation**: G and D chase each other and the image quality jumps from one
#    check to the next instead of settling.
#
# The field's fixes, which Kaji & Kida (2019) name among the GAN variants used in
# medical imaging, change either the **loss** (least squares, LSGAN, Mao et al. 2017;
# hinge, Lim & Ye 2017; the Wasserstein distance with a gradient penalty, WGAN-GP,
# Gulrajani et al. 2017) or the **discriminator** (spectral normalisation, Miyato et al.
# 2018, which bounds how steep D can be). Here we train the same MR → CT pix2pix with
# each of the four losses, with and without spectral norm, at the standard learning rate
# and at one ten times higher, and measure which settings stay stable. A
# training-health callback (`i2i.gan_health.GANHealth`) logs what D is doing and warns,
# in words, when it wins or when the generator collapses.

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
# Sixteen trainings (four losses × spectral norm on/off × two learning rates) and the
# exercises' short runs have to fit the 12-minute budget of a 2-core CPU, so each is small: 64² images, a 3-level U-Net with 8 base filters, a
# PatchGAN with 2 stride-2 layers (34-pixel patches), batch 8, and a **fixed number of
# steps** per run (240: no time budget cuts a run short, so every run is the same
# experiment on any machine). The L1 weight is 1, not pix2pix's 100: with a heavy L1
# anchor the generator mostly does supervised regression and the adversarial game,
# where the instabilities live, barely moves it (exercise 3 puts 100 back).
# `I2I_QUICK=1` runs a few steps of each on 32² images (seconds, eagerly: no graph to
# trace); `I2I_PRETRAINED=1` loads the curves the full run recorded (a small JSON) and
# the two generators § 7's figure needs (best and worst run, 0.5 MB each), instead of
# training: the 16 generators themselves are not worth shipping, the curves are the result.

# %%
import os
import time

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from i2i_keras.claims import check

# %%
QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's recorded curves
GPU = i2i.hardware.has_gpu() and not PRETRAINED  # shipped records: the CPU full run's
P = dict(size=64, patients=60, slices=8, base_filters=8, d_filters=16, d_layers=2,
         batch=8, steps=240,       # generator updates per run, the same for every run
         every=20,                 # steps between two health / validation checks
         lr_standard=2e-4,         # pix2pix's Adam rate (beta_1 = 0.5)
         lr_high=2e-3,             # ten times higher: where the textbook expects vanilla to
                                   # become unstable (§ 6 measures whether it does)
         lambda_l1=1.0,            # pix2pix uses 100: see below
         val_slices=48)
if GPU and not QUICK:
    P.update(steps=1000, base_filters=16, d_filters=32)
if QUICK:
    P.update(size=32, patients=10, slices=2, steps=1, every=1, val_slices=8)
LOSSES = ("vanilla", "lsgan", "hinge", "wgan-gp")
RATES = {"standard": P["lr_standard"], "high": P["lr_high"]}
keras.utils.set_random_seed(0)
T0 = time.perf_counter()
i2i.print_config()
print(("quick" if QUICK else "GPU" if GPU else "CPU") + " mode:", P)

# %% [markdown]
# ## 1 · The task: paired MR → CT on phantom heads
# The data of notebook 03: registered T1-weighted MR and CT slices of phantom heads,
# split by patient into training, validation and test. Validation MAE is measured in
# HU inside the head (body mask), on the same validation slices at every check.

# %%
data = i2i.datasets.phantom_mr_ct_splits(P["patients"], P["slices"], P["size"], seed=0)
W = i2i.datasets.CT_WINDOW  # CT: [-1000, 2000] HU <-> [-1, 1]
for name, part in data.items():
    print(f"{name:5s}: {len(part['x']):4d} slices of {len(np.unique(part['patient'])):3d} "
          "patients")
val = data["val"]
val_x, val_ct = val["x"][:P["val_slices"]], val["ct"][:P["val_slices"]]
val_body = i2i.metrics.split_masks(val)["body"][:P["val_slices"]]
probe = (val["x"][:16], val["y"][:16])  # the health checks' fixed batch
SHAPE = (P["size"], P["size"], 1)


def val_mae(generator) -> float:
    """MAE (HU) inside the head on the validation slices."""
    pred = W.denormalize(keras.ops.convert_to_numpy(generator(val_x, training=False))[..., 0])
    return i2i.metrics.mae(pred, val_ct, val_body)

# %% [markdown]
# ## 2 · The four losses and the penalty
# `losses.adversarial_loss(kind)` returns D's and G's loss as functions of D's patch
# logits. WGAN-GP's critic has no sigmoid and no target: it scores real images high and
# fakes low, and to keep that score meaningful it must be 1-Lipschitz, which the
# **gradient penalty** encourages at points between real and fake images. `Pix2Pix`
# adds it to D's loss in its step, on every backend:

# %%
import inspect

print(inspect.getsource(i2i.losses.gradient_penalty).split('"""')[0]
      + inspect.getsource(i2i.losses.gradient_penalty).split('"""')[2])

# %% [markdown]
# Spectral norm does the same job by construction: every convolution of D divides its
# kernel by the kernel's largest singular value (estimated by one power-iteration step
# per training step), so no layer can amplify a change of its input by more than 1.
# `patchgan(..., spectral_norm=True)` builds D from such layers; we pair it with no
# other normalisation, as SNGAN does (instance norm would undo the bound).

# %%
d_sn = i2i.models.patchgan(SHAPE, n_layers=P["d_layers"], base_filters=P["d_filters"],
                           norm="none", spectral_norm=True)
layer = d_sn.get_layer("conv1")
layer(np.zeros((1, 8, 8, layer.input.shape[-1]), "float32"), training=True)
w = np.reshape(layer.kernel.numpy(), (-1, layer.filters))
print(f"conv1 kernel as a {w.shape[0]} x {w.shape[1]} matrix: largest singular value "
      f"{np.linalg.svd(w, compute_uv=False)[0]:.3f} (SVD); the layer's estimate after two "
      f"power-iteration steps from a random start {float(layer.sigma()):.3f} (never above it; "
      "it converges as training calls the layer); the convolution uses W / sigma")

# %% [markdown]
# ## 3 · Sixteen trainings
# One function builds and trains one setting and returns what was recorded: every
# `every` steps the validation MAE (HU) and `GANHealth`'s four numbers (D's accuracy on
# real and on fake patches, D's gradient norm with respect to the fake image, and the
# fakes' diversity across a batch, relative to the real images'). All runs start from
# the same seed, see the same batches and use Adam (beta_1 0.5) at a constant rate, so
# a difference between two curves is the setting's doing.

# %%
def build(loss: str, sn: bool, lr: float, lambda_l1: float = P["lambda_l1"], seed: int = 0,
          beta_1: float = 0.5, **options):
    """The pix2pix of notebook 03, small; ``options``: more Pix2Pix.compile settings."""
    keras.utils.set_random_seed(seed)
    g = i2i.models.unet(SHAPE, depth=3, base_filters=P["base_filters"], norm="instance")
    d = i2i.models.patchgan(SHAPE, n_layers=P["d_layers"], base_filters=P["d_filters"],
                            norm="none" if sn else "instance", spectral_norm=sn)
    gan = i2i.training.Pix2Pix(g, d)
    gan.compile(keras.optimizers.Adam(lr, beta_1=beta_1), keras.optimizers.Adam(lr, beta_1=beta_1),
                lambda_l1=lambda_l1, gan_loss=loss, run_eagerly=QUICK, **options)
    return gan


class ValidationMAE(keras.callbacks.Callback):
    """Validation MAE (HU) at the end of each 'epoch' (= every P['every'] steps)."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        self.values.append(val_mae(self.model.generator))

# %%
def train(gan, steps: int, verbose: bool = False) -> dict:
    train_ds = i2i.datasets.paired_dataset(data["train"]["x"], data["train"]["y"], P["batch"],
                                           augment=True, max_shift=4, seed=0)
    health = i2i.gan_health.GANHealth(*probe, every=P["every"], verbose=verbose)
    mae = ValidationMAE()
    if hasattr(train_ds, "repeat"):  # tf.data: round the training set as often as needed
        train_ds = train_ds.repeat()
    history = gan.fit(train_ds, epochs=steps // P["every"], steps_per_epoch=P["every"],
                      verbose=0, callbacks=[health, mae])
    record = {k: [float(v) for v in history.history[k]] for k in ("g_loss", "d_loss", "l1")}
    record.update({k: [float(x) for x in v] for k, v in health.history.items()})
    record["step"] = [int(x) for x in health.history["step"]]
    record["val_mae"] = mae.values
    record["warnings"] = health.warnings
    return record

# %% [markdown]
# Every setting, one after the other (the progress bar counts runs). With
# `I2I_PRETRAINED=1` the curves the full run recorded are loaded instead: the tables and
# figures below are then the committed ones, in seconds.

# %%
import json
import sys

RECORDS = i2i.pretrained.path("06/runs", "history")  # the full run's curves (JSON)
settings = [(loss, sn, rate) for rate in RATES for loss in LOSSES for sn in (False, True)]
runs, gans = {}, {}
if PRETRAINED:
    runs = json.loads(RECORDS.read_text())
    print(f"recorded curves of the full run loaded ({len(runs) - 1} runs); no training")
else:
    t_train = time.perf_counter()
    for loss, sn, rate in tqdm(settings, unit="run", file=sys.stdout):
        name = f"{loss}{' + SN' if sn else ''} @ {rate}"
        gans[name] = build(loss, sn, RATES[rate])
        runs[name] = train(gans[name], P["steps"])
    print(f"{len(settings)} runs of {P['steps']} steps each in "
          f"{(time.perf_counter() - t_train) / 60:.1f} min")
names = [f"{loss}{' + SN' if sn else ''} @ {rate}" for loss, sn, rate in settings]

# %% [markdown]
# ## 4 · The curves
# Top row: the high learning rate; bottom row: the standard one. Colour is the loss,
# dashed lines have spectral norm. D's accuracy is the mean of its accuracy on real
# and on fake patches (0.5: it cannot tell them apart; 1: it wins). D's gradient norm is
# its slope at the generator's images, on a log scale.

# %%
COLOURS = dict(zip(LOSSES, ("tab:red", "tab:blue", "tab:green", "tab:purple")))
panels = (("val_mae", "validation MAE (HU)"), ("d_loss", "D loss"),
          ("acc", "D accuracy (real + fake) / 2"), ("grad_norm", "D gradient norm"))
fig, axes = plt.subplots(2, 4, figsize=(16, 7), sharex=True)
for row, rate in zip(axes, RATES.__reversed__()):
    for loss, sn, r in settings:
        if r != rate:
            continue
        rec = runs[f"{loss}{' + SN' if sn else ''} @ {rate}"]
        steps = np.array(rec["step"])
        rec = {**rec, "acc": (np.array(rec["acc_real"]) + np.array(rec["acc_fake"])) / 2}
        for ax, (key, label) in zip(row, panels):
            ax.plot(steps, rec[key], color=COLOURS[loss], ls="--" if sn else "-",
                    label=f"{loss}{' + SN' if sn else ''}")
            ax.set_title(f"{label}, {rate} rate ({RATES[rate]:g})", fontsize=9)
    row[3].set_yscale("log")
axes[0, 0].legend(fontsize=7)
for ax in axes[1]:
    ax.set_xlabel("generator steps")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5 · The numbers
# For each run: the **final** validation MAE (mean of the last three checks); its
# **setbacks**, the total rise of the validation MAE from one check to the next over
# the second half of the run (HU; 0 for a run that only improves, large for one that
# oscillates: how much the result depends on when you stop); the **worst** MAE of the
# second half; and at the end D's accuracy, gradient norm and the fakes' diversity.

# %%
def summary(rec: dict) -> dict:
    mae = np.array(rec["val_mae"])
    half = mae[len(mae) // 2:]
    last = slice(-3, None)
    return {"final MAE (HU)": float(mae[last].mean()),
            "setbacks (HU)": float(np.clip(np.diff(half), 0, None).sum()),
            "worst MAE (HU)": float(half.max()),
            "D acc real": float(np.mean(rec["acc_real"][last])),
            "D acc fake": float(np.mean(rec["acc_fake"][last])),
            "D grad norm": float(np.mean(rec["grad_norm"][last])),
            "diversity": float(np.mean(rec["diversity"][last]))}


table = {name: summary(runs[name]) for name in names}
columns = list(next(iter(table.values())))
print(f"{'run':24s}" + "".join(f"{c:>16s}" for c in columns))
for name, row in table.items():
    print(f"{name:24s}" + "".join(f"{row[c]:16.3g}" for c in columns))

# %% [markdown]
# ## 6 · What the measurements say
# Which setting did the high rate make unstable? The one with the most setbacks there,
# against itself at the standard rate; and the steadiest setting at the high rate (the
# lowest final MAE), against it. At the standard rate 240 steps are too few for any
# setting to converge (every final MAE there is higher than the best high-rate ones), so
# the final MAEs of the two rates are not compared: the setbacks are.

# %%
high = [n for n in names if n.endswith("@ high")]
unstable = max(high, key=lambda n: table[n]["setbacks (HU)"])
steady = min(high, key=lambda n: table[n]["final MAE (HU)"])
same_std = unstable.replace("@ high", "@ standard")
for name in (same_std, unstable, steady, "vanilla @ standard", "vanilla @ high"):
    row = table[name]
    print(f"{name:24s} final {row['final MAE (HU)']:6.1f} HU, setbacks "
          f"{row['setbacks (HU)']:6.1f} HU, worst {row['worst MAE (HU)']:6.1f} HU")
check(f"the high rate makes {unstable} unstable: more setbacks than at the standard rate",
      table[unstable]["setbacks (HU)"] > table[same_std]["setbacks (HU)"],
      f"{table[unstable]['setbacks (HU)']:.1f} vs {table[same_std]['setbacks (HU)']:.1f} HU")
check(f"at the high rate {steady} is stable where {unstable} is not: lower final MAE and "
      "fewer setbacks", table[steady]["final MAE (HU)"] < table[unstable]["final MAE (HU)"]
      and table[steady]["setbacks (HU)"] < table[unstable]["setbacks (HU)"],
      f"{table[steady]} vs {table[unstable]}")
rank_vanilla = sorted(high, key=lambda n: -table[n]["setbacks (HU)"]).index("vanilla @ high")
print(f"vanilla (no spectral norm) ranks {rank_vanilla + 1} of {len(high)} by setbacks at the "
      f"high rate: {'it is' if rank_vanilla == 0 else 'here it is not'} the least stable "
      "setting (the textbook expects it to be; with instance norm in D and the L1 term it "
      "held up here)")

# %% [markdown]
# Higher still? A trial while writing this notebook (2026-12-03, the 2-core Xeon, seed 0,
# the same 240 steps, vanilla without spectral norm) found no rate that breaks vanilla here:
# at 5e-3 and 1e-2 its final MAE was 108 and 95 HU, its setbacks 7 and 0 HU (140 and 29 at
# 2e-3), while LSGAN at 5e-3 jumped from 122 to 609 HU at step 180 and ended at 154. With
# an L1 term and a small instance-normed D, the vanilla loss saturates gently; which loss
# breaks first is a property of the whole setting, not of the loss alone.

# %% [markdown]
# Does spectral norm help each loss at the high rate? Its effect on the final MAE and on
# the setbacks, loss by loss (negative: spectral norm lowered it).

# %%
sn_helps = {}
for loss in LOSSES:
    plain, sn = table[f"{loss} @ high"], table[f"{loss} + SN @ high"]
    d_mae = sn["final MAE (HU)"] - plain["final MAE (HU)"]
    d_jit = sn["setbacks (HU)"] - plain["setbacks (HU)"]
    sn_helps[loss] = d_mae < 0
    print(f"{loss:8s} spectral norm changes the final MAE by {d_mae:+6.1f} HU and the "
          f"setbacks by {d_jit:+5.1f} HU")
print(f"spectral norm lowered the final MAE at the high rate for {sum(sn_helps.values())} "
      f"of the {len(LOSSES)} losses")

# %% [markdown]
# ## 7 · What a failed run looks like
# The worst run of all (highest final MAE) next to the best: four validation patients'
# MR, their CT and both synthetic CTs. A collapsing generator draws much the same head
# whatever MR it is given (compare its rows); `GANHealth` measures that as the fakes'
# **diversity** across a batch, and warns below 0.5.

# %%
best = min(names, key=lambda n: table[n]["final MAE (HU)"])
worst = max(names, key=lambda n: table[n]["final MAE (HU)"])
shown = {}
for label, name in (("best", best), ("worst", worst)):
    shown[label] = build("vanilla", False, P["lr_standard"])  # every run's G is alike
    if PRETRAINED:
        i2i.pretrained.load(f"06/{label}", shown[label])
    else:
        shown[label].generator.set_weights(gans[name].generator.get_weights())
    if i2i.pretrained.saving():  # the full run ships these two generators and the curves
        i2i.pretrained.save(f"06/{label}", shown[label], {})
if i2i.pretrained.saving():
    RECORDS.write_text(json.dumps(runs))
print(f"best: {best}, worst: {worst}; diversity at the end {table[best]['diversity']:.2f} "
      f"and {table[worst]['diversity']:.2f} (1 = as varied as the real CTs)")
print("\n".join(f"GANHealth warned in {worst}: {w}" for w in runs[worst]["warnings"])
      or f"GANHealth did not warn in {worst}")
check("the worst run's fakes vary less across a batch than the best run's",
      table[worst]["diversity"] < table[best]["diversity"],
      f"{table[worst]['diversity']:.3f} vs {table[best]['diversity']:.3f}")

# %%
rows = np.linspace(0, len(val_x) - 1, 4).astype(int)
fig, axes = plt.subplots(len(rows), 4, figsize=(10, 2.6 * len(rows)), squeeze=False)
outs = {k: W.denormalize(gan.generator.predict(val_x[rows], verbose=0)[..., 0])
        for k, gan in shown.items()}
for r, i in enumerate(rows):
    images = (("MR", val["mr"][i]), ("CT", val_ct[i]), (f"best: {best}", outs["best"][r]),
              (f"worst: {worst}", outs["worst"][r]))
    for ax, (title, img) in zip(axes[r], images):
        kw = {"cmap": "gray"} if title == "MR" else {"cmap": "gray", "vmin": -1000, "vmax": 1600}
        ax.imshow(img, **kw)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# The two runs' health, check by check: the validation MAE, D's accuracy (mean of real
# and fake) and the fakes' diversity.

# %%
fig, ax = plt.subplots(1, 3, figsize=(14, 3))
for name, colour in ((best, "g"), (worst, "k")):
    rec = runs[name]
    ax[0].plot(rec["step"], rec["val_mae"], colour, label=name)
    ax[1].plot(rec["step"], (np.array(rec["acc_real"]) + rec["acc_fake"]) / 2, colour, label=name)
    ax[2].plot(rec["step"], rec["diversity"], colour, label=name)
ax[2].axhline(0.5, color="grey", ls=":", label="GANHealth's collapse threshold")
for a, t in zip(ax, ("validation MAE (HU)", "D accuracy (real + fake) / 2",
                     "fakes' diversity (1 = as varied as real CTs)")):
    a.set_title(t, fontsize=9)
    a.set_xlabel("generator steps")
    a.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 8 · Recommendation, from these numbers
# Each setting ranked by its final validation MAE at each rate; the one to recommend is
# the one that ranks well at *both* rates (a setting that is good only at a tuned rate
# breaks when the data or the network changes). Ties in rank go to the lower setbacks.

# %%
settings_names = [f"{loss}{' + SN' if sn else ''}" for loss in LOSSES for sn in (False, True)]
rank = {}
for rate in RATES:
    order = sorted(settings_names, key=lambda s: table[f"{s} @ {rate}"]["final MAE (HU)"])
    for k, s in enumerate(order):
        rank.setdefault(s, {})[rate] = k + 1
overall = sorted(settings_names, key=lambda s: (sum(rank[s].values()),
                                                table[f"{s} @ high"]["setbacks (HU)"]))
print(f"{'setting':16s}{'rank std':>9s}{'rank high':>10s}{'MAE std':>9s}{'MAE high':>10s}"
      f"{'setbacks high':>15s}   (MAE, setbacks in HU)")
for s in overall:
    row_std, row_high = table[f"{s} @ standard"], table[f"{s} @ high"]
    print(f"{s:16s}{rank[s]['standard']:9d}{rank[s]['high']:10d}"
          f"{row_std['final MAE (HU)']:9.1f}{row_high['final MAE (HU)']:10.1f}"
          f"{row_high['setbacks (HU)']:15.1f}")
print(f"\nRecommended here: {overall[0]} (ranks {rank[overall[0]]['standard']} and "
      f"{rank[overall[0]]['high']} of {len(settings_names)}); avoid: {overall[-1]}.")

# %% [markdown]
# What these numbers can and cannot say: one seed, one small network, a few hundred
# steps on phantoms. A ranking that differs by a few HU could swap with another seed
# (exercise 5 measures how much); the failures (a final MAE or setbacks several times
# another's) are the robust part. The literature's advice, for comparison: spectral
# norm on the discriminator with the hinge loss is the default of large image GANs
# (Miyato et al. 2018; BigGAN, Brock et al. 2019), and WGAN-GP is the loss that
# tolerates the widest range of architectures and rates (Gulrajani et al. 2017), at the
# cost of a second backward pass through D for the penalty. Where these runs agree:

# %%
for s in ("hinge + SN", "wgan-gp"):
    place = overall.index(s) + 1
    print(f"{s} ranks {place} of {len(overall)} here: "
          f"{'in line with' if place <= len(overall) // 2 else 'unlike'} that advice")
# WGAN-GP's paper trains with Adam beta_1 = 0 and five critic steps a generator step, not
# pix2pix's beta_1 = 0.5 and one step as here: exercise 1 tries the paper's settings.

# %% [markdown]
# ## Exercises
# Each trains a setting of § 3 with one change, for half the steps (to keep the
# solutions short), and compares it with the § 3 run's record at the same step. With
# `I2I_PRETRAINED=1` the solutions skip training.
# 1. **WGAN-GP as its paper runs it.** Gulrajani et al. update the critic five times per
#    generator step (`n_critic=5`) with Adam's `beta_1=0` (no momentum). Train WGAN-GP at
#    the high rate so: does the validation MAE improve, and what does it cost in time?
# 2. **Rescue vanilla without changing the loss.** At the high rate, add one-sided label
#    smoothing (`label_smoothing=0.1`) and instance noise (`instance_noise=0.1`). Does
#    D still win (its accuracy), and is the MAE better?
# 3. **The L1 weight.** Pix2pix uses `lambda_l1=100`; we used 1. Train vanilla at the
#    high rate with 100: what happens to the MAE and to D's accuracy? What does that say
#    about where the instability comes from?
# 4. **Read the record.** In the worst run, at which check did the validation MAE first
#    jump up, and what did D's gradient norm and the fakes' diversity do there?
# 5. **Seeds.** Train the recommended setting at the high rate with another seed
#    (`build(..., seed=1)`). How far apart are the two MAEs, against the gaps between
#    settings in the ranking?

# %%
SHORT = max(P["every"], P["steps"] // 2 // P["every"] * P["every"])  # exercises' steps


def exercise_run(loss, sn, lr, **options):
    """A § 3 run of SHORT steps with other options (see build); its validation MAE (HU)
    at the end next to the § 3 run's at the same step. Nothing with I2I_PRETRAINED=1."""
    if PRETRAINED:
        print("(this solution trains: run the notebook without I2I_PRETRAINED)")
        return None
    t = time.perf_counter()
    rec = train(build(loss, sn, lr, **options), SHORT)
    rate = "high" if lr == P["lr_high"] else "standard"
    ref = runs[f"{loss}{' + SN' if sn else ''} @ {rate}"]
    before = ref["val_mae"][ref["step"].index(SHORT)]
    print(f"{loss}{' + SN' if sn else ''} {options}: validation MAE {rec['val_mae'][-1]:.1f} HU "
          f"after {SHORT} steps (§ 3: {before:.1f} HU); D right on {100 * rec['acc_real'][-1]:.0f}"
          f" % of real, {100 * rec['acc_fake'][-1]:.0f} % of fake patches; "
          f"{time.perf_counter() - t:.0f} s")
    return rec

# %% jupyter={"source_hidden": true}
# 1. n_critic = 5 and beta_1 = 0: five critic updates (and penalties) per generator step.
exercise_run("wgan-gp", False, P["lr_high"], n_critic=5, beta_1=0.0)
# The critic gets 5x the updates, so each generator step costs several times the time
# (each critic update here also runs the generator forward). With the L1 anchor the
# generator needs a sharp critic less; without it (pure WGAN-GP) n_critic matters more.

# %% jupyter={"source_hidden": true}
# 2. Label smoothing and instance noise on vanilla at the high rate.
exercise_run("vanilla", False, P["lr_high"], label_smoothing=0.1, instance_noise=0.1)
# Smoothing caps how confident D may be on real images; the noise makes real and fake
# overlap, so D cannot separate them perfectly. Both weaken D rather than change the game.

# %% jupyter={"source_hidden": true}
# 3. lambda_l1 = 100 (pix2pix's) on vanilla at the high rate.
exercise_run("vanilla", False, P["lr_high"], lambda_l1=100.0)
# With a 100x heavier L1 term the adversarial gradient is a smaller share of the
# generator's: the GAN's instability is diluted, not removed (D can still win).

# %% jupyter={"source_hidden": true}
# 4. The worst run's record, check by check.
rec = runs[worst]
for k, step in enumerate(rec["step"]):
    jump = k > 0 and rec["val_mae"][k] > rec["val_mae"][k - 1]
    print(f"step {step:4d}: MAE {rec['val_mae'][k]:6.1f} HU{' (up)' if jump else '     '}  D grad "
          f"norm {rec['grad_norm'][k]:.3g}  diversity {rec['diversity'][k]:.2f}")

# %% jupyter={"source_hidden": true}
# 5. Another seed of the recommended setting at the high rate.
exercise_run(overall[0].split(" + ")[0], overall[0].endswith("SN"), P["lr_high"], seed=1)
# Compare the two MAEs' gap with the gaps between neighbours in the ranking of § 8: a
# ranking step smaller than the seed-to-seed gap is not a finding.

# %% [markdown]
# The whole notebook, solutions included:

# %%
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min "
      f"({'quick' if QUICK else 'GPU' if GPU else 'CPU'} mode"
      f"{', pretrained' if PRETRAINED else ''})")
