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
# # 05 · Reconstruction from raw data: FBP, iterative TV, FBP + U-Net, AUTOMAP and a hybrid
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/i2i-keras/i2i_keras/blob/main/tutorials/05_reconstruction.ipynb)
#
# **The task.** A scanner does not measure an image. A CT scanner measures line integrals
# of attenuation (a *sinogram*), an MR scanner samples the Fourier transform of the image
# (*k-space*). Reconstruction is translation between two domains that do not even share a
# grid, and when the scan is shortened (fewer views to cut dose, fewer k-space lines to cut
# time) the classical inverse leaves artefacts: streaks in sparse-view CT, a missing wedge
# in limited-angle CT, aliasing in under-sampled MRI.
#
# **What the field tried.** Three routes, all measured here on held-out phantom patients:
#
# 1. **post-process** a classical reconstruction with a U-Net (FBPConvNet, Jin et al.
#    2017): the network sees streaks on an image grid and removes them;
# 2. **learn the whole transform** (AUTOMAP, Zhu et al., Nature 2018): fully connected
#    layers from the raw data to the image, whose size grows as the *fourth* power of the
#    image side (§ 6 measures what that costs and what it reaches in two minutes);
# 3. **hybrids** that alternate a network with the physics (unrolled networks with
#    data-consistency layers, Schlemper et al. 2018), so the output agrees with what was
#    measured.
#
# The classical competitor is not FBP alone but an **iterative** method: total-variation
# (TV) regularised least squares, tuned on the validation patients. The review this series
# follows says networks reach iterative quality far faster: we time both.
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
# about ten minutes on a 2-core CPU at 64² (AUTOMAP's dense layers make 64² the largest
# side a laptop trains comfortably, see § 6). With a GPU the same cells train longer on
# more patients. `I2I_PRETRAINED=1` loads the full run's weights instead of training
# (except AUTOMAP's, see § 6).

# %%
import os
import sys
import time

import i2i_keras as i2i

i2i.environment.quiet_start()  # hides TensorFlow's start-up notes (not errors)
import keras
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from i2i_keras import physics, recon
from i2i_keras.claims import check

# %%
QUICK = os.environ.get("I2I_QUICK") == "1"  # seconds, on tiny data (what the tests run)
PRETRAINED = os.environ.get("I2I_PRETRAINED") == "1"  # the full run's shipped weights
GPU = i2i.hardware.has_gpu() and not PRETRAINED  # shipped weights: the CPU full run's
P = dict(size=64, patients=120, slices=8,
         photons=1e5,            # blank-scan photons per detector bin and view
         sparse_views=(32, 64),  # views over 180°
         limited=(64, 120.0),    # limited angle: 64 views over a 120° arc (60° missing)
         tv_weights=(1e-5, 3e-5, 1e-4), tv_iterations=(30, 100, 300), tv_tune_slices=24,
         unet_epochs=40, base_filters=8, unet_lr=5e-3,
         soft_weight=6.0,        # FBP + U-Net loss: L1 + soft_weight x L1 in WINDOW (§ 4)
         automap_soft_weight=3.0,  # the same for AUTOMAP (§ 6)
         automap_epochs=12,      # over four quarter turns of each training sinogram
         automap_hidden=1024,    # first dense layer's width (the paper's: N² = 4096 here)
         automap_filters=16, automap_lr=1e-3,
         acceleration=4,         # MRI: a quarter of the k-space lines measured
         kspace_sigma=0.002,     # MRI receiver noise, per real/imaginary part (image units)
         mri_epochs=16, unrolled_iterations=4, hybrid_filters=8)
if GPU and not QUICK:
    P.update(patients=300, unet_epochs=80, automap_epochs=30, mri_epochs=40, hybrid_filters=16)
if QUICK:
    P.update(size=32, patients=12, slices=2, tv_weights=(3e-5,), tv_iterations=(10, 20),
             tv_tune_slices=4, unet_epochs=1, automap_epochs=1, automap_filters=8,
             automap_hidden=256, mri_epochs=1, unrolled_iterations=2)
WINDOW = (-160.0, 240.0)  # soft tissue (level 40, width 400 HU): where streaks hide lesions
WIDE = (-1000.0, 1000.0)  # air to dense bone: the whole head
keras.utils.set_random_seed(0)
if keras.backend.backend() == "tensorflow":  # predict() on new shapes retraces: expected
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
T0 = time.perf_counter()
i2i.print_config()
print(("quick" if QUICK else "GPU" if GPU else "CPU") + " mode:", P)

# %% [markdown]
# ## 1 · The CT scanner as an operator
# `physics.ParallelBeamCT` is a linear operator: `A` projects an attenuation image (1/mm)
# to a sinogram of line integrals, `A_adjoint` back-projects, and `A_dagger` is filtered
# back-projection (FBP). Few views (**sparse view**) or a short arc (**limited angle**)
# are the same operator with other angles. The iterative method below needs `A` and its
# exact adjoint; check it, as every operator here can (`adjointness_test`: round-off for a
# correct adjoint, ~1e-2 for a wrong one).
#
# The data are made the way a scanner makes them, not with the operator we reconstruct
# with: each phantom head is drawn at 128² (the "object"), projected on its own fine grid,
# each detector bin averages two fine bins, Poisson noise comes from `photons` blank-scan
# counts (`recon.sinogram_of_fine_object`). We reconstruct on the 64² grid and score
# against the object averaged to that grid.

# %%
SIZE = P["size"]


def geometries(pixel_mm):
    """The three scans of this notebook: {name: operator} on the SIZE² grid."""
    (few, more), (n_limited, arc) = P["sparse_views"], P["limited"]
    return {f"{few} views": physics.ParallelBeamCT(SIZE, few, pixel_size_mm=pixel_mm),
            f"{more} views": physics.ParallelBeamCT(SIZE, more, pixel_size_mm=pixel_mm),
            f"limited {arc:.0f} deg": physics.ParallelBeamCT(SIZE, n_limited, angle_range_deg=arc,
                                                          pixel_size_mm=pixel_mm)}


head = i2i.phantoms.head_slice(2 * SIZE, seed=100, z=0.1)
example = geometries(2 * head.pixel_mm)
for name, g in example.items():
    print(f"{name:12s} {g.sinogram_shape} sinogram, adjointness error "
          f"{g.adjointness_test():.1e}")
object_hu = head.hu.reshape(SIZE, 2, SIZE, 2).mean((1, 3))
show = {"object (HU)": object_hu}
sinograms = {}
for name, g in example.items():
    sinograms[name] = recon.sinogram_of_fine_object(head.hu, g, P["photons"], seed=0)
    show[f"FBP, {name}"] = physics.mu_to_hu(g.fbp(sinograms[name]))
i2i.viz.compare(show, window="soft_tissue")
plt.show()
fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
for ax, (name, s) in zip(axes, sinograms.items()):
    ax.imshow(s, aspect="auto", cmap="gray")
    ax.set(title=f"sinogram, {name}", xlabel="detector bin", ylabel="view")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · The data set, simulated once and cached
# Phantom patients, several slices each, every slice scanned with the three geometries
# (and its MR kept for § 7). The simulation is stored in `$I2I_DATA_DIR/cache`.
#
# **Real anatomy.** With `I2I_DATASET=lodopab` (after `python data_scripts/download.py
# lodopab`) the objects are LoDoPaB-CT's reference images (chest CT of LIDC-IDRI
# patients, Leuschner et al. 2021, CC BY 4.0) resized to 128², scanned by the same
# simulation: real anatomy, our scanner (AUTOMAP could not take LoDoPaB's own 1000 × 513
# sinograms, § 6). The MRI part stays on phantoms.


# %%
def scan_all(objects_hu, pixel_mm, seed=0):
    """{geometry name: sinograms} of objects (n, 2 SIZE, 2 SIZE) in HU."""
    return {name: recon.sinogram_of_fine_object(objects_hu, g, P["photons"], seed=seed + i)
            for i, (name, g) in enumerate(geometries(pixel_mm).items())}


def phantom_set(patients, slices, size, scanner):
    """Objects, MR and sinograms of phantom patients (``scanner``: P's scan settings, in
    the cache key so that changing them re-simulates)."""
    d = i2i.phantoms.mr_ct_pairs(range(patients), slices, size=2 * size, ct_noise_hu=0.0,
                                 mr_noise=0.0)
    pixel_mm = 2 * float(d["pixel_mm"])
    half = {k: d[k].reshape(-1, size, 2, size, 2).mean((2, 4)) for k in ("ct_clean", "mr")}
    # MR magnitude scaled per image: 0 stays 0, the 99.5th percentile becomes 1
    mr = (i2i.datasets.normalize_mr(half["mr"]) + 1.0) / 2.0
    out = {"truth": half["ct_clean"], "mr": mr,
           "patient": d["patient"], "pixel_mm": np.float32(pixel_mm)}
    return out | scan_all(d["ct_clean"], pixel_mm)


def lodopab_set(n, size, scanner):
    from skimage.transform import resize

    pairs = i2i.datasets.load_lodopab("test", n=n)
    fine = resize(pairs.images_hu, (n, 2 * size, 2 * size), anti_aliasing=True)
    pixel_mm = 260.0 / size  # LoDoPaB's 362 pixels cover 260 mm
    patient = pairs.patient if pairs.patient is not None else np.arange(n)
    mr = phantom_set(P["patients"], P["slices"], size, scanner)["mr"][:n]  # MR stays phantom
    return {"truth": fine.reshape(n, size, 2, size, 2).mean((2, 4)), "mr": mr,
            "patient": patient, "pixel_mm": np.float32(pixel_mm)} | scan_all(fine, pixel_mm)


# %%
DATASET = os.environ.get("I2I_DATASET", "phantom")
t = time.perf_counter()
SCANNER = {k: P[k] for k in ("photons", "sparse_views", "limited")}
if DATASET == "lodopab":
    D = i2i.datasets.cached("recon_lodopab", lodopab_set, n=P["patients"] * P["slices"],
                            size=SIZE, scanner=SCANNER)
else:
    D = i2i.datasets.cached("recon", phantom_set, patients=P["patients"], slices=P["slices"],
                            size=SIZE, scanner=SCANNER)
PIXEL_MM = float(D["pixel_mm"])
GEOMETRIES = geometries(PIXEL_MM)
split = i2i.datasets.split_by_patient(D["patient"], val=0.15, test=0.15, seed=0)
train, val, test = split["train"], split["val"], split["test"]
truth = D["truth"]
print(f"{DATASET}: {len(truth)} slices ({time.perf_counter() - t:.0f} s), pixels "
      f"{PIXEL_MM:.2f} mm; train {len(train)}, val {len(val)}, test {len(test)} slices "
      f"({len(np.unique(D['patient'][test]))} test patients)")

# %% [markdown]
# ## 3 · The classical side: FBP, and TV tuned on the validation patients
# FBP is one pass (filter each view, back-project). The iterative method solves
#
# $$\hat x = \arg\min_{x \ge 0} \tfrac12 \|A x - y\|^2 / \|A\|^2 + \lambda\, \mathrm{TV}(x),$$
#
# a fit to the measured sinogram $y$ plus a penalty on the total variation (the summed
# length of the image gradient), which favours piecewise-constant images and so removes
# streaks (Sidky & Pan 2008). `recon.tv_reconstruction` solves it with the primal-dual
# algorithm of Chambolle & Pock (2011), starting from FBP; each iteration costs one `A`
# and one `A_adjoint`. The weight λ and the number of iterations (stopping early is itself
# a regulariser) are chosen for the best PSNR in the soft-tissue window on validation
# slices, per geometry.


# %%
def hu(mu):
    return physics.mu_to_hu(mu).astype(np.float32)


def psnr(images, where=test, window=WINDOW):
    return i2i.metrics.psnr_in_window(images, truth[where], window)


fbp = {name: hu(g.fbp(D[name])) for name, g in GEOMETRIES.items()}
tv_setting = {}
tune = val[: P["tv_tune_slices"]]


def scorer(scores, weight):
    """A TV callback: the PSNR after each of P["tv_iterations"], from one run of the longest."""
    def score(n, x):
        if n in P["tv_iterations"]:
            scores[weight, n] = psnr(hu(x), tune)
    return score


for name, g in GEOMETRIES.items():
    scores = {}
    for w in tqdm(P["tv_weights"], desc=f"tuning TV, {name}", file=sys.stdout):
        recon.tv_reconstruction(g, D[name][tune], w, max(P["tv_iterations"]),
                                x0=g.fbp(D[name][tune]), callback=scorer(scores, w))
    tv_setting[name] = max(scores, key=scores.get)
    print(f"{name:12s} validation PSNR (λ, iterations): "
          + ", ".join(f"({w:g}, {n}) {v:.2f}" for (w, n), v in scores.items())
          + f" dB -> λ = {tv_setting[name][0]:g}, {tv_setting[name][1]} iterations")

# %%
tv, seconds = {}, {}
for name, g in GEOMETRIES.items():
    t = time.perf_counter()
    fbp_mu = g.fbp(D[name][test])
    seconds["FBP", name] = (time.perf_counter() - t) / len(test)
    t = time.perf_counter()
    weight, iterations = tv_setting[name]
    tv[name] = hu(recon.tv_reconstruction(g, D[name][test], weight, iterations, x0=fbp_mu))
    seconds["TV", name] = (time.perf_counter() - t) / len(test)
    print(f"{name:12s} FBP {psnr(fbp[name][test]):5.2f} dB, TV {psnr(tv[name]):5.2f} dB "
          f"({iterations} iterations, {1e3 * seconds['TV', name]:.0f} ms a slice)")

# %% [markdown]
# ## 4 · FBP + U-Net: let a network remove what FBP leaves
# FBPConvNet's recipe, smaller: a residual U-Net takes the FBP image and returns the
# object, flips and shifts as augmentation, one network per scan (each learns its own
# streaks; exercise 1 shows one on a scan it never saw). HU are scaled as (HU − 40)/400,
# so soft tissue sits near 0. The loss is L1 over the whole range plus `soft_weight` times
# the L1 *in the soft-tissue window* (`i2i.losses.WindowedL1`: both images clipped to
# −160…240 HU first), so the network spends its few minutes on the errors a reader sees
# at that window rather than on the skull's edge, which the window shows as white either
# way (exercise 5 trains the 32-view network with plain L1 and compares).
#
# The U-Net is narrow, 8 filters at full resolution (`base_filters`): a quarter of the
# arithmetic of the 16-filter U-Nets of notebooks 01 and 02, because § 5 times it against
# TV. While writing this notebook the 16-filter network, trained for half the epochs in
# the same minutes, scored a little higher at 32 views, lower at limited angle, and took
# twice as long a slice; `soft_weight` was then chosen on the 32-view validation slices
# (6 over 3). (One network for all three scans, tried with the same minutes, learned the
# large limited-angle errors and left the 32-view streaks: the L1 loss is dominated by
# the worst input.)

# %%
SCALE = i2i.datasets.IntensityWindow(-360.0, 440.0)
soft_tissue_l1 = i2i.losses.WindowedL1(*SCALE.normalize(np.array(WINDOW)))  # -0.5, 0.5


def ct_loss(soft_weight):
    """The loss: L1 over the whole range, plus soft_weight x the L1 in the soft-tissue window."""
    def loss(y, pred):
        return i2i.losses.l1(y, pred) + soft_weight * soft_tissue_l1(y, pred)
    return loss


def post_unet(name="unet"):
    """FBPConvNet's U-Net, narrow: residual (it learns FBP's error), no normalisation layers."""
    return i2i.models.unet((SIZE, SIZE, 1), depth=3, base_filters=P["base_filters"],
                           norm="none", residual=True, name=name)


def train_post_unet(name, loss, run):
    """The § 4 U-Net for scan ``name``, trained with ``loss`` (or, with I2I_PRETRAINED=1,
    the weights of the full run called ``run`` that made these outputs)."""
    x, y = (SCALE.normalize(a)[..., None] for a in (fbp[name], truth))
    train_ds = i2i.datasets.paired_dataset(x[train], y[train], 16, augment=True, seed=0)
    val_ds = i2i.datasets.paired_dataset(x[val], y[val], 16, shuffle=False)
    net = post_unet(run)
    trainer = i2i.training.Supervised(net)
    trainer.compile(i2i.training.adam(P["unet_lr"], P["unet_epochs"] * (len(train) // 16)),
                    loss=loss)
    t = time.perf_counter()
    i2i.pretrained.fit_or_load(f"05/{run}-{DATASET}", trainer, train_ds,
                               validation_data=val_ds, epochs=P["unet_epochs"], verbose=0,
                               callbacks=[i2i.training.ProgressBar(("loss", "val_psnr"))])
    print(f"{name}: {net.count_params():,} parameters, {(time.perf_counter() - t) / 60:.1f} min")
    return net


post_nets = {name: train_post_unet(name, ct_loss(P["soft_weight"]),
                                   "fbp_unet_" + name.replace(" ", "_"))
             for name in GEOMETRIES}

# %% [markdown]
# ## 5 · CT results on the test patients
# PSNR in the soft-tissue window (data range 400 HU) and over the whole head (−1000 to
# 1000 HU), SSIM in the soft-tissue window, and the time a slice takes on this machine:
# FBP and TV in NumPy (float64), each on all test slices at once, and the network's
# forward pass on the same batch with `predict_on_batch` (Keras' `predict` adds a set-up
# of its own to every call, about 0.1 s here, which a deployed network pays once), FBP's
# time included. Where the CPU has
# bfloat16 units, the same weights also run in mixed bfloat16 (`PRECISION`, as notebook 04
# trains pix2pix): activations rounded to 8 significant bits, its PSNR next to its time.

# %%
PRECISION = i2i.hardware.recommended_policy(gpu=False)  # mixed_bfloat16 or float32


def in_precision(net, policy):
    """The U-Net of § 4 rebuilt to compute in ``policy`` (weights copied; they stay float32)."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    copy = post_unet()
    keras.mixed_precision.set_global_policy(before)
    copy.set_weights(net.get_weights())
    return copy


def timed_inference(net, fbp_hu, passes=5):
    """(output in HU, seconds a slice): all slices in one batch, as TV takes them; one pass
    to trace, then the median of ``passes`` timed passes (one pass over 144 slices takes a
    fraction of a second: one hiccup of the machine would otherwise be the measurement)."""
    x = SCALE.normalize(fbp_hu)[..., None]
    times = []
    for _ in range(1 + passes):
        t = time.perf_counter()
        y = net.predict_on_batch(x)
        times.append(time.perf_counter() - t)
    return SCALE.denormalize(y[..., 0].astype(np.float32)), float(np.median(times[1:])) / len(x)

# %%
ct_results, outputs, fast = {}, {}, {}
for name in GEOMETRIES:
    post, s = timed_inference(post_nets[name], fbp[name][test])
    seconds["FBP + U-Net", name] = s + seconds["FBP", name]
    if PRECISION != "float32":
        fast_post, s = timed_inference(in_precision(post_nets[name], PRECISION), fbp[name][test])
        fast[name] = {"PSNR soft (dB)": psnr(fast_post),
                      "ms/slice": 1e3 * (s + seconds["FBP", name])}
    outputs[name] = {"FBP": fbp[name][test], "TV": tv[name], "FBP + U-Net": post}
    for method, images in outputs[name].items():
        clipped = [np.clip(a, *WINDOW) for a in (images, truth[test])]
        ct_results[method, name] = {
            "PSNR soft (dB)": psnr(images), "PSNR wide (dB)": psnr(images, window=WIDE),
            "SSIM soft": i2i.metrics.ssim(*clipped, WINDOW[1] - WINDOW[0]),
            "ms/slice": 1e3 * seconds[method, name]}
print(f"{'':26s}" + "".join(f"{k:>16s}" for k in next(iter(ct_results.values()))))
for (method, name), row in ct_results.items():
    print(f"{method + ', ' + name:26s}" + "".join(f"{v:16.3f}" if "SSIM" in k else f"{v:16.2f}"
                                                 for k, v in row.items()))
for name, row in fast.items():
    print(f"{'FBP + U-Net in ' + PRECISION + ', ' + name:42s}{row['PSNR soft (dB)']:16.2f} "
          f"dB soft, {row['ms/slice']:.2f} ms a slice")
rows = []
for name in GEOMETRIES:
    cells = [ct_results[m, name] for m in ("FBP", "TV", "FBP + U-Net")] + (
        [fast[name]] if fast else [])
    best = max(range(len(cells)), key=lambda i: cells[i]["PSNR soft (dB)"])
    rows.append([name] + [(f"**{c['PSNR soft (dB)']:.2f}**" if i == best else
                           f"{c['PSNR soft (dB)']:.2f}") + f", {c['ms/slice']:.1f}"
                          for i, c in enumerate(cells)])
i2i.tutorials.readme_table(  # the table README.md shows (python -m i2i_keras.tutorials)
    ["soft-tissue PSNR (dB), ms a slice", "FBP", "TV (tuned)", "FBP + U-Net"]
    + ([f"FBP + U-Net, {PRECISION}"] if fast else []), rows)

# %% [markdown]
# The claims this notebook makes about CT, checked against the table. FBPConvNet (Jin et al.
# 2017) reported a higher SNR than FBP and than TV-regularised reconstruction on sparse-view
# data; the review we follow says networks reach iterative quality far faster:

# %%
few = f"{P['sparse_views'][0]} views"


def soft(method, name=few):
    return ct_results[method, name]["PSNR soft (dB)"]


for name in GEOMETRIES:
    print(f"{name:16s} FBP + U-Net {soft('FBP + U-Net', name):.2f} dB: "
          f"{soft('FBP + U-Net', name) - soft('FBP', name):+.2f} over FBP, "
          f"{soft('FBP + U-Net', name) - soft('TV', name):+.2f} over TV")
check("FBP + U-Net is above FBP and above the tuned TV on every scan",
      all(soft("FBP + U-Net", n) > max(soft("FBP", n), soft("TV", n)) for n in GEOMETRIES))
speedup = {name: seconds["TV", name] / seconds["FBP + U-Net", name] for name in GEOMETRIES}
print("TV time / (FBP + U-Net) time a slice: "
      + ", ".join(f"{n} {s:.1f}x" for n, s in speedup.items()))
check("FBP + U-Net takes less time a slice than TV on every scan",
      all(s > 1 for s in speedup.values()))
quickest = fast or {n: ct_results["FBP + U-Net", n] for n in GEOMETRIES}  # float32 if no bf16
ratio = {n: 1e3 * seconds["TV", n] / quickest[n]["ms/slice"] for n in GEOMETRIES}
print(f"TV time / (FBP + U-Net in {PRECISION}) time a slice: "
      + ", ".join(f"{n} {r:.1f}x" for n, r in ratio.items()))
check(f"FBP + U-Net in {PRECISION} is at least 10x faster a slice than TV on every scan "
      "(this series' reading of 'far faster'), at a higher PSNR",
      all(ratio[n] >= 10 and quickest[n]["PSNR soft (dB)"] > soft("TV", n) for n in GEOMETRIES),
      ", ".join(f"{n} {ratio[n]:.1f}x" for n in GEOMETRIES))

# %% [markdown]
# Both times are this machine's, and their ratio moves with the CPU: TV is hundreds of
# small NumPy operations, the network a few large convolutions, which CPUs with bfloat16
# units run faster. Both costs grow with the number of pixels; TV's also with the views
# and the iterations, so with a clinical scan's hundreds of views the gap should widen
# (not measured here).
#
# One test slice, every method and geometry, with the error (method − object) below
# each; the streaks of sparse view and the missing-wedge smear of limited angle are
# where to look.

# %%
k = int(np.argmax([np.abs(o - t).mean() for o, t in zip(fbp[few][test], truth[test])]))
fig, axes = plt.subplots(2 * len(GEOMETRIES), 4, figsize=(10, 5.2 * len(GEOMETRIES)))
for row, name in enumerate(GEOMETRIES):
    shown = {"object": truth[test][k]} | {m: img[k] for m, img in outputs[name].items()}
    for col, (method, image) in enumerate(shown.items()):
        ax = axes[2 * row, col]
        ax.imshow(np.clip(image, *WINDOW), cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1])
        title = method if method == "object" else (
            f"{method}\n{psnr(image, test[k:k + 1]):.1f} dB")
        ax.set_title(f"{name}: {title}" if col == 0 else title, fontsize=8)
        err = axes[2 * row + 1, col]
        err.imshow(image - truth[test][k], cmap="RdBu_r", vmin=-200, vmax=200)
        err.set_title("error, ±200 HU" if col else "", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6 · AUTOMAP: learn the whole transform
# AUTOMAP sees only the sinogram: flatten it, two fully connected tanh layers (to N²
# units each in the paper), reshape to N × N, then a small convolutional refinement.
# Nothing tells it how a view relates to a pixel; it must learn the geometry itself from
# examples. The price is the dense layers: `measurements × N² + N² × N²` weights.
#
# Three choices make it trainable in two minutes here, each found by trying while writing
# this notebook: the first dense layer narrowed to `automap_hidden` units (a quarter of
# the weights to learn from a few thousand sinograms, so twice the epochs fit in the same
# time), the sinograms **standardised** (the training mean of each measurement
# subtracted, divided by their spread: a dense layer learns slowly from inputs that are
# all positive and alike), and the soft-tissue loss of § 4.

# %%
# Four training pairs per slice, exactly: a quarter turn of the object is a shift of the
# views (recon.quarter_turns); AUTOMAP has no convolution to give it that symmetry.
a_train, y_train = recon.quarter_turns(D[few][train], truth[train], GEOMETRIES[few])
sino_mean, sino_spread = a_train.mean(0), a_train.std()  # from training sinograms only


def standardised(sinograms):
    return ((sinograms - sino_mean) / sino_spread)[..., None].astype(np.float32)


a_train, y_train = standardised(a_train), SCALE.normalize(y_train)[..., None]
a_val, a_test = (standardised(D[few][i]) for i in (val, test))
# %%
automap = recon.automap(a_train.shape[1:], SIZE, hidden=P["automap_hidden"],
                        filters=P["automap_filters"])
automap_trainer = i2i.training.Supervised(automap)
steps = P["automap_epochs"] * (len(a_train) // 32)
automap_trainer.compile(i2i.training.adam(P["automap_lr"], steps),
                        loss=ct_loss(P["automap_soft_weight"]))
if PRETRAINED:
    print("AUTOMAP's weights are not shipped: at "
          f"{4 * automap.count_params() / 1e6:.0f} MB they are the N^4 law in person. "
          "Training it now, as the full run did.")
t = time.perf_counter()
automap_trainer.fit(a_train, y_train, batch_size=32, epochs=P["automap_epochs"], verbose=0,
                    validation_data=(a_val, SCALE.normalize(truth[val])[..., None]),
                    callbacks=[i2i.training.ProgressBar(("loss", "val_psnr"))])
automap_out = SCALE.denormalize(automap.predict(a_test, verbose=0, batch_size=32)[..., 0])
print(f"AUTOMAP: {automap.count_params():,} parameters, {len(a_train)} training sinograms, "
      f"{(time.perf_counter() - t) / 60:.1f} min; test PSNR {psnr(automap_out):.2f} dB soft "
      f"tissue, {psnr(automap_out, window=WIDE):.2f} dB wide; FBP at the same {few}: "
      f"{soft('FBP'):.2f} dB, {ct_results['FBP', few]['PSNR wide (dB)']:.2f} dB")
check(f"AUTOMAP, trained here for {P['automap_epochs']} epochs, is above FBP at the same "
      f"{few} (soft-tissue PSNR)", psnr(automap_out) > soft("FBP"),
      f"{psnr(automap_out):.2f} against {soft('FBP'):.2f} dB")
check("AUTOMAP stays below FBP + U-Net, which gets the geometry from FBP for free",
      psnr(automap_out) < soft("FBP + U-Net"),
      f"{psnr(automap_out):.2f} against {soft('FBP + U-Net'):.2f} dB")
i2i.viz.compare({"object": truth[test][k], f"FBP, {few}": fbp[few][test][k],
                 "AUTOMAP": automap_out[k], "FBP + U-Net": outputs[few]["FBP + U-Net"][k]},
                window="soft_tissue")
plt.show()

# %% [markdown]
# The paper found AUTOMAP better than the classical reconstructions it compared with;
# compare the checks above. Whatever its margin over FBP here, the gap to FBP + U-Net
# is the lesson: AUTOMAP must learn the inverse Radon transform itself, the
# millions of weights printed above from the few thousand sinograms (four quarter turns of
# each training slice), while the paper trained on tens of thousands of images for far
# longer. On this budget its validation loss was still falling (the progress bar above);
# FBP knows the geometry for free, and FBP + U-Net only has to learn what FBP gets wrong.
# Exercise 3 sizes what more would cost.
#
# **Why AUTOMAP stayed at 64².** Parameters counted on built networks for small sides
# (a sinogram of N/2 views, as here), the N⁴ law drawn beyond, and the memory to train
# them (float32 weights, gradients and Adam's two moments: 16 bytes a parameter).

# %%
sides = [16, 32, 64] if not QUICK else [16, 32]
counted = []
for side in sides:
    views = physics.ParallelBeamCT(side, side // 2).sinogram_shape
    net = recon.automap((*views, 1), side, filters=8)
    counted.append(net.count_params())
    del net
law = np.array([16, 32, 64, 128, 256, 512])
params = [recon.automap_size(int(np.prod(physics.ParallelBeamCT(s, s // 2).sinogram_shape)),
                             s)["parameters"] for s in law]
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.loglog(law, params, "--", label="dense layers: measurements·N² + N⁴")
ax.loglog(sides, counted, "o", label="counted on built networks")
ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
ax.axhline(ram / 16, color="gray", lw=0.8, label=f"this machine's {ram / 2**30:.0f} GiB, training")
ax.set(xlabel="image side N (pixels)", ylabel="parameters")
ax.legend(fontsize=7)
plt.show()
for s, n in zip(law, params):
    print(f"N = {s:3d}: {n / 1e6:10,.1f} M parameters, {16 * n / 2**30:8,.1f} GiB to train")
try:
    recon.automap(physics.ParallelBeamCT(256, 128).sinogram_shape + (1,), 256)
except MemoryError as error:
    print("recon.automap(..., 256) refused:", str(error)[:160], "...")

# %% [markdown]
# ## 7 · MRI: under-sampled k-space, a U-Net, and a hybrid that keeps the data
# An MR scanner measures k-space line by line; measuring a quarter of the lines
# (`acceleration` 4, the centre always kept) makes the scan four times shorter and the
# zero-filled reconstruction aliased. `physics.CartesianMRI` is that operator (a masked,
# centred, orthonormal FFT). Receiver noise is added to the measured samples.
#
# Two networks with about as many weights, trained on the same slices for the same epochs:
#
# * **U-Net on the zero-filled image** (magnitude in, magnitude out): post-processing, as
#   for CT, with § 4's narrow U-Net;
# * **the hybrid** (`recon.unrolled_mri`): `unrolled_iterations` blocks of
#   *x ← x + CNN(x)* then *x ← DC(x)*, where the data-consistency layer puts the measured
#   k-space back (softly, with a learned weight, because the data are noisy). The image is
#   complex (real and imaginary channels).
#
# Besides PSNR, the **data-consistency error** ‖M(F x) − y‖ / ‖y‖ says how far the
# image's k-space is from what was measured, at the measured positions.

# %%
mask = physics.cartesian_mask((SIZE, SIZE), P["acceleration"], seed=0)
mr = D["mr"].astype(np.float32)  # magnitude, 0 to about 1 (99.5th percentile)
acq = recon.mri_network_inputs(mr, mask, noise_sigma=P["kspace_sigma"], seed=1)
print(f"{mask[0].sum()} of {SIZE} k-space lines measured ({mask.mean():.0%}); "
      f"{len(mr)} slices")
zf = acq["magnitude"]
mri_unet = i2i.models.unet((SIZE, SIZE, 1), depth=3, base_filters=P["base_filters"],
                           norm="none", residual=True, name="mri_unet")
hybrid = recon.unrolled_mri(SIZE, iterations=P["unrolled_iterations"],
                            base_filters=P["hybrid_filters"], depth=2, learned_weight=True,
                            initial_log_weight=4.0)  # w = 55 at the start: the noise is low
complex_truth = np.stack([mr, np.zeros_like(mr)], axis=-1)  # the object is real
inputs = [acq[k] for k in ("zero_filled", "kspace", "mask")]
jobs = {"U-Net on zero-filled": (mri_unet, zf[..., None], mr[..., None]),
        "hybrid (unrolled + DC)": (hybrid, inputs, complex_truth)}


def pick(a, rows):
    """Rows of an array, or of each array of a list (the hybrid's three inputs)."""
    return [part[rows] for part in a] if isinstance(a, list) else a[rows]


for name, (net, x, y) in jobs.items():
    trainer = i2i.training.Supervised(net)
    trainer.compile(i2i.training.adam(1e-3, P["mri_epochs"] * (len(train) // 16)), loss="l1")
    t = time.perf_counter()
    i2i.pretrained.fit_or_load(f"05/{net.name}-{DATASET}", trainer, pick(x, train),
                               pick(y, train), batch_size=16, epochs=P["mri_epochs"],
                               validation_data=(pick(x, val), pick(y, val)), verbose=0,
                               callbacks=[i2i.training.ProgressBar(("loss", "val_psnr"))])
    print(f"{name}: {net.count_params():,} parameters, {(time.perf_counter() - t) / 60:.1f} min")

# %%
out = hybrid.predict([a[test] for a in inputs], verbose=0, batch_size=32)
mri_images = {"zero-filled": acq["zero_filled"][test][..., 0] + 1j * acq["zero_filled"][test][..., 1],
              "U-Net on zero-filled": mri_unet.predict(zf[test][..., None], verbose=0)[..., 0],
              "hybrid (unrolled + DC)": out[..., 0] + 1j * out[..., 1]}
mri_results = {}
for name, image in mri_images.items():
    magnitude = np.abs(image)
    mri_results[name] = {
        "PSNR (dB)": i2i.metrics.psnr(magnitude, mr[test], 1.0),
        "SSIM": i2i.metrics.ssim(np.clip(magnitude, 0, 1), np.clip(mr[test], 0, 1), 1.0),
        "DC error": float(recon.dc_error(image, acq["measured"][test], mask).mean())}
print(f"{'':24s}" + "".join(f"{k:>12s}" for k in next(iter(mri_results.values()))))
for name, row in mri_results.items():
    print(f"{name:24s}" + "".join(f"{v:12.4f}" if k != "PSNR (dB)" else f"{v:12.2f}"
                                  for k, v in row.items()))
weights = [float(np.exp(keras.ops.convert_to_numpy(w))) for w in hybrid.weights
           if "log_weight" in w.path]
print("learned data-consistency weights w (1 = trust network and data equally):",
      ", ".join(f"{w:.1f}" for w in weights))
noise_floor = P["kspace_sigma"] * np.sqrt(2 * mask.sum()) / np.sqrt(
    (np.abs(acq["measured"][test]) ** 2).sum((1, 2))).mean()
print(f"the noise alone would give a DC error of about {noise_floor:.4f}")

# %%
u, h = mri_results["U-Net on zero-filled"], mri_results["hybrid (unrolled + DC)"]
z = mri_results["zero-filled"]
check("zero-filled, though perfectly consistent with the data, has the lowest PSNR",
      z["PSNR (dB)"] < min(u["PSNR (dB)"], h["PSNR (dB)"]),
      f"{z['PSNR (dB)']:.2f} dB, DC error {z['DC error']:.1e}")
print(f"data-consistency error: U-Net / hybrid = {u['DC error'] / h['DC error']:.1f}x; "
      f"hybrid / noise floor = {h['DC error'] / noise_floor:.1f}x")
check("the hybrid's data-consistency error is lower than the U-Net's and within 3x of the "
      "noise floor", h["DC error"] < u["DC error"] and h["DC error"] < 3 * noise_floor,
      f"{h['DC error']:.4f}, U-Net {u['DC error']:.4f}, floor {noise_floor:.4f}")
check("the hybrid's PSNR is not lower than the U-Net's", h["PSNR (dB)"] >= u["PSNR (dB)"],
      f"{h['PSNR (dB)']:.2f} against {u['PSNR (dB)']:.2f} dB")
j = int(np.argmax(mr[test].mean((1, 2))))
show = {"MR (truth)": mr[test][j]} | {n: np.abs(v[j]) for n, v in mri_images.items()}
show |= {f"error, {n}": np.abs(v[j]) - mr[test][j] for n, v in mri_images.items()}
fig, axes = plt.subplots(2, 4, figsize=(11, 5.6))
for ax, (name, image) in zip(axes.ravel(), [*show.items()][:4] + [(None, None)]
                             + [*show.items()][4:]):
    ax.axis("off")
    if name is None:
        continue
    error = name.startswith("error")
    ax.imshow(image, cmap="RdBu_r" if error else "gray", vmin=-0.2 if error else 0,
              vmax=0.2 if error else 1)
    ax.set_title(name, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Consistency is necessary, not sufficient: the zero-filled image agrees with the data
# exactly (by construction) and is the worst image (checked above). The hybrid's network
# fills the lines that were not measured and its DC layers keep the ones that were.
#
# ## 8 · What the iterative method needs: the right forward model
# TV is famous for sparse-view CT; compare its gain over FBP in § 3 with what follows. Its
# model of the scanner (`A`, a pixel-driven projector on the 64² grid) is not how our data were made
# (a 128² object, a finer detector). Make the data with the very operator we reconstruct
# with (the "inverse crime", which many papers commit without saying) and look again:

# %%
g = GEOMETRIES[few]
rows = val[: P["tv_tune_slices"]]
crime = physics.PoissonNoise(P["photons"], seed=5)(g.A(physics.hu_to_mu(truth[rows])))
crime_fbp = hu(g.fbp(crime))
crime_tv = hu(recon.tv_reconstruction(g, crime, *tv_setting[few], x0=g.fbp(crime)))
honest = {"FBP": psnr(fbp[few][rows], rows),
          "TV": psnr(hu(recon.tv_reconstruction(g, D[few][rows], *tv_setting[few],
                                                x0=g.fbp(D[few][rows]))), rows)}
print(f"{few}, {len(rows)} validation slices, soft-tissue PSNR:")
print(f"  data from the 128² object (honest): FBP {honest['FBP']:.2f} dB, TV {honest['TV']:.2f} "
      f"dB ({honest['TV'] - honest['FBP']:+.2f})")
print(f"  data from A itself (inverse crime): FBP {psnr(crime_fbp, rows):.2f} dB, TV "
      f"{psnr(crime_tv, rows):.2f} dB ({psnr(crime_tv, rows) - psnr(crime_fbp, rows):+.2f})")
check("TV gains more over FBP on inverse-crime data than on honest data",
      psnr(crime_tv, rows) - psnr(crime_fbp, rows) > honest["TV"] - honest["FBP"],
      f"{psnr(crime_tv, rows) - psnr(crime_fbp, rows):+.2f} against "
      f"{honest['TV'] - honest['FBP']:+.2f} dB")

# %% [markdown]
# An iterative method is only as good as its forward model; a network trained on the
# scanner's own data learns the mismatch too. Real scanners add more that neither model
# here has (polychromatic beams, scatter, detector blur), which is why vendors' iterative
# reconstructions model them explicitly.
#
# ## 9 · What can go wrong
# * **Protocol shift.** Each post-processing U-Net learned the streaks of *its* geometry.
#   Exercise 1 applies one to another geometry's FBP.
# * **Hallucination.** Sparse view and limited angle *lose* information: what a network
#   puts in a missing wedge is its training set's anatomy, not the patient's. The
#   data-consistency error cannot see it either: for CT it would compare only the measured
#   views, for MRI only the measured lines.
# * **AUTOMAP's cost.** Its dense layers grow as N⁴ (§ 6): the original paper
#   reconstructed 128² images, and the N⁴ law is one reason later work preferred unrolled
#   networks, which get the geometry from the physics instead of learning it.
# * **Phantoms are easy.** Piecewise-smooth heads without motion, metal or scatter; on
#   real data every gap here shrinks (run `I2I_DATASET=lodopab` for real anatomy).

# %%
print(f"notebook wall time: {(time.perf_counter() - T0) / 60:.1f} min "
      f"({'quick' if QUICK else 'GPU' if GPU else 'CPU'} mode, {DATASET})")

# %% [markdown]
# ## Exercises
# 1. **A scan it never saw.** Scan the test patients with 48 views over 180° and run the
#    32-view network on their FBP images; scan them with 64 views over 150° and run the
#    120° network. Does each still beat FBP? What does that say about deploying a network
#    on another protocol?
# 2. **Consistent is not correct.** Put the U-Net's MRI output through one
#    `physics.data_consistency` step (hard). What happens to its DC error and its PSNR?
#    Why is one step after training weaker than DC layers trained inside the network?
# 3. **AUTOMAP's memory.** At which image side would training AUTOMAP need more than this
#    machine's memory, and more than an 80 GB GPU? (Use `recon.automap_size`.)
# 4. **TV's iterations.** At 32 views and the tuned λ, run TV for 30, 100, 300 and 1000
#    iterations on a few test slices; plot PSNR and time against iterations. Why does
#    PSNR not keep rising with iterations? Where does the network sit on that plot?
# 5. **What the window buys.** Train the 32-view network of § 4 again with plain L1 (same
#    rate, epochs and data) and compare its soft-tissue and whole-head PSNR with the § 4
#    network's. Which improved, which did not, and why?
#
# Solutions follow (collapsed in Jupyter: click to expand); try first.

# %% [markdown] jupyter={"source_hidden": true}
# ### Solutions

# %% jupyter={"source_hidden": true}
# 1. Scans the network never saw: re-draw the test patients' objects and scan them anew.
if DATASET == "phantom":
    heads = i2i.phantoms.mr_ct_pairs(np.unique(D["patient"][test]), P["slices"], size=2 * SIZE,
                                     ct_noise_hu=0.0, mr_noise=0.0, progress=False)
    assert np.allclose(heads["ct_clean"].reshape(-1, SIZE, 2, SIZE, 2).mean((2, 4)), truth[test])
    limited = list(GEOMETRIES)[2]
    for views, arc, net_name in ((48, 180.0, few), (64, 150.0, limited)):
        g_new = physics.ParallelBeamCT(SIZE, views, angle_range_deg=arc, pixel_size_mm=PIXEL_MM)
        new_fbp = hu(g_new.fbp(recon.sinogram_of_fine_object(heads["ct_clean"], g_new,
                                                             P["photons"], seed=9)))
        new_post = SCALE.denormalize(post_nets[net_name].predict(
            SCALE.normalize(new_fbp)[..., None], verbose=0, batch_size=32)[..., 0])
        print(f"{views} views over {arc:.0f}°: FBP {psnr(new_fbp):.2f} dB, the {net_name} "
              f"network {psnr(new_post):.2f} dB")

# %% jupyter={"source_hidden": true}
# 2. One hard data-consistency step after the U-Net.
after = physics.data_consistency(mri_images["U-Net on zero-filled"], acq["measured"][test], mask)
print(f"U-Net then one DC step: PSNR {i2i.metrics.psnr(np.abs(after), mr[test], 1.0):.2f} dB, "
      f"DC error {recon.dc_error(after, acq['measured'][test], mask).mean():.4f} (U-Net alone "
      f"{u['PSNR (dB)']:.2f} dB, {u['DC error']:.4f}; hybrid {h['PSNR (dB)']:.2f} dB)")
# The hard step copies the noisy measured lines back and leaves the U-Net's guesses for the
# rest: where the guesses disagree with the data, the seam shows as ringing. Inside the
# hybrid the next CNN learns to repair what each DC step leaves.

# %% jupyter={"source_hidden": true}
# 3. AUTOMAP's memory against the machine's and an 80 GB GPU's.
for limit_gb, where in ((ram / 1e9, "this machine"), (80.0, "an 80 GB GPU")):
    side = 16
    while recon.automap_size(int(np.prod(physics.ParallelBeamCT(side, side // 2).sinogram_shape)),
                             side)["train_gb"] < limit_gb:
        side += 16
    print(f"{where} ({limit_gb:.0f} GB): AUTOMAP stops fitting near N = {side}")

# %% jupyter={"source_hidden": true}
# 4. TV's iterations against PSNR and time, on 8 test slices at 32 views.
few_rows = test[:8]
iterations = [30, 100, 300, 1000] if not QUICK else [5, 10]
curve = []
for n in iterations:
    t = time.perf_counter()
    x = recon.tv_reconstruction(g, D[few][few_rows], tv_setting[few][0], n,
                                x0=g.fbp(D[few][few_rows]))
    curve.append((psnr(hu(x), few_rows), (time.perf_counter() - t) / len(few_rows)))
    print(f"{n:5d} iterations: {curve[-1][0]:.2f} dB, {1e3 * curve[-1][1]:.0f} ms a slice")
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.semilogx([c[1] * 1e3 for c in curve], [c[0] for c in curve], "o-", label="TV")
ax.semilogx([1e3 * seconds["FBP + U-Net", few]], [soft("FBP + U-Net")], "s", label="FBP + U-Net")
ax.set(xlabel="ms a slice", ylabel="PSNR soft tissue (dB)")
ax.legend()
plt.show()

# %% jupyter={"source_hidden": true}
# 5. The 32-view network with plain L1, everything else as in § 4.
plain = train_post_unet(few, "l1", "fbp_unet_plain_l1")
plain_out = SCALE.denormalize(plain.predict(SCALE.normalize(fbp[few][test])[..., None],
                                            verbose=0, batch_size=32)[..., 0])
for label, images in (("plain L1", plain_out), ("L1 + soft-tissue L1", outputs[few]["FBP + U-Net"])):
    print(f"{label:20s} soft tissue {psnr(images):.2f} dB, whole head "
          f"{psnr(images, window=WIDE):.2f} dB (FBP {soft('FBP'):.2f}, "
          f"{ct_results['FBP', few]['PSNR wide (dB)']:.2f})")
# The soft-tissue term puts the loss where the reader looks: with plain L1 much of the
# gradient goes to the skull's edges and the air outside, which the soft-tissue window
# shows as white or black whatever their error. The price is the whole-head PSNR above:
# the weighted network gives up accuracy in bone and air that this window does not show.
