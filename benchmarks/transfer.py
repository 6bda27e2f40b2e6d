"""Do phantom-trained networks transfer to real scans? With and without domain randomisation.

    python benchmarks/transfer.py                 # about 15 minutes on a 2-core CPU
    python benchmarks/transfer.py --quick         # seconds: checks that it runs
    python benchmarks/transfer.py --tasks sr      # one task: denoise, sr
    python benchmarks/transfer.py --tasks texture # SR's sharpness-PSNR trade-off, ~14 min

Two tutorial recipes, each trained twice on phantoms and scored on the real scans that
ship inside pydicom's test data (no download), degraded with the project's own physics:

* **denoise** (tutorial 01): a residual U-Net, L1, low-dose FBP in, normal dose out.
  "phantom" is tutorial 01's shipped network (heads, quarter and tenth dose);
  "randomised" the same recipe on :func:`i2i_keras.domains.randomized_pairs` (heads and
  limbs at random scales and kernels, a random dose between tenth and half). Real CT
  slices (a head, an abdomen, a neck, a brain close-up), resampled to the training pixel
  size, are scanned at quarter dose (Poisson photons, FBP); scored against the real
  image in the soft-tissue window [-160, 240] HU, next to non-local means tuned on
  phantom validation slices.
* **sr** (tutorial 02, ×4): a residual U-Net on the bicubic image, trained on k-space
  truncated MR. "phantom" is tutorial 02's shipped network; "randomised" the same recipe
  on randomised T1 and T2 MR (noise 1-9 %, bias 0-40 %, g-factor, TR/TE, field,
  resolution, heads and limbs; with ``--sr-gain 0.5 1.1`` each image's intensity also
  times a random gain: a real scan's 99.5th percentile sits on whatever is brightest in it,
  so its tissue can land anywhere in [0, 1], and the networks darkened such images), and
  each tissue's MR signal its own factor, fat suppressed in some: other contrasts than
  spin echo's (:func:`i2i_keras.domains.random_tissue_gain`; ``--spin-echo-only`` turns
  this off: then the abdomen came out 2.1 dB below bicubic on 2026-12-03). Real
  MR slices (a brain close-up, an abdomen, a shoulder, a small crop) are truncated in
  k-space; scored (PSNR, data range 1 = each image's 99.5th
  percentile) against the real image, next to bicubic and zero-filling, with the
  sharpness (fraction of spectral energy above a quarter of Nyquist) of each next to the
  real image's. "+ DC" is each network's output with the measured k-space put back
  (data consistency, as in tutorial 05's hybrid): the network then only adds what lies
  above the measured band, and cannot change the contrast the scan measured.

* **texture** (opt-in): issue 24 asks the randomised x4 network for PSNR >= bicubic *and*
  a sharpness within 25 % of the real image's. An L1 network predicts the average of the
  detail it cannot see, so it comes out smoother; this task maps the trade-off: one
  network per weight w of L1 + w x :func:`i2i_keras.losses.high_frequency_energy`, each
  trained on the sharp (no point-spread blur, :data:`SHARP`), noise-free truth, scored
  + DC, with a figure of PSNR over bicubic against sharpness (``tradeoff.png``), and
  how the detail each adds above the measured band correlates with the real image's
  (:func:`unmeasured_detail`: detail pays for itself only where it correlates enough).

Prints a table per task, writes them (``transfer.md``), ``transfer.json`` and
``transfer.png`` to ``--out``.
Training uses fixed epoch counts, so the numbers do not depend on the machine's speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from i2i_keras.io import CT_EXAMPLES, MR_EXAMPLES, real_slice

WINDOW = (-160.0, 240.0)  # HU: soft tissue, where denoising is judged
FULL = dict(size=128, patients=48, slices=6, views=360, patch=64, filters=16, denoise_epochs=80,
            sr_epochs=120, texture_epochs=40, limb_fraction=0.3)
QUICK = dict(size=64, patients=6, slices=2, views=90, patch=32, filters=8, denoise_epochs=1,
             sr_epochs=1, texture_epochs=1, limb_fraction=0.3)


def unet(name: str, filters: int):
    from i2i_keras import models

    return models.unet((None, None, 1), depth=3, base_filters=filters, norm="none",
                       residual=True, name=name)


def train(network, x, y, epochs: int, patch: int, lr: float = 1e-3, loss="l1"):
    """Tutorials 01/02's recipe: L1 (or ``loss``), Adam with linear decay, batch 8, random
    patches."""
    import keras

    from i2i_keras import datasets, training

    trainer = training.Supervised(network)
    steps = epochs * (len(x) // 8)
    trainer.compile(keras.optimizers.Adam(keras.optimizers.schedules.PolynomialDecay(
        lr, steps, 0.0)), loss=loss)
    data = datasets.paired_dataset(x, y, 8, augment=True, patch_size=patch, seed=0)
    trainer.fit(data, epochs=epochs, verbose=0,
                callbacks=[training.ProgressBar(("loss",))])
    return network


def shipped(name: str, network):
    from i2i_keras import pretrained, training

    pretrained.load(name, training.Supervised(network))
    return network


# --- denoising ------------------------------------------------------------------------


def scan_ct(hu: np.ndarray, pixel_mm: float, photons: dict, views: int, seed: int) -> dict:
    from i2i_keras import physics

    ct = physics.ParallelBeamCT(hu.shape[-1], views, pixel_size_mm=pixel_mm)
    return physics.simulate_doses(np.clip(hu, -1024.0, 3071.0), photons, ct=ct, seed=seed)


def denoise_task(P: dict, quick: bool) -> dict:
    from tqdm import tqdm

    from i2i_keras import baselines, datasets, domains, metrics, phantoms

    scale = datasets.IntensityWindow(-360.0, 440.0)  # tutorial 01's network input scale
    # Phantom validation slices (heads, quarter dose) to tune non-local means on.
    val = phantoms.mr_ct_pairs(range(900, 904), 3, P["size"], ct_noise_hu=0.0, progress=False)
    scans = scan_ct(val["ct_clean"], val["pixel_mm"], {"normal": 2e5, "quarter": 5e4},
                    P["views"], seed=1)
    nlm, _ = baselines.tune_denoiser("nlm", scans["quarter"], scans["normal"], window=WINDOW)
    # Randomised training data: heads and limbs, each slice its own scale and kernel,
    # scanned at normal dose (target) and at a random low dose (input).
    d = domains.randomized_pairs(range(P["patients"]), P["slices"], P["size"],
                                 limb_fraction=P["limb_fraction"], progress=not quick)
    rng = np.random.default_rng(0)
    x, y = [], []
    for i in tqdm(range(len(d["ct_clean"])), desc="CT scans", disable=quick):
        low = float(rng.uniform(2e4, 1e5))  # tenth to half of the normal 2e5 photons
        s = scan_ct(d["ct_clean"][i], float(d["pixel_mm"][i]), {"normal": 2e5, "low": low},
                    P["views"], seed=i)
        x.append(s["low"])
        y.append(s["normal"])
    x, y = scale.normalize(np.stack(x))[..., None], scale.normalize(np.stack(y))[..., None]
    filters = P["filters"]
    nets = {"phantom": None if quick else shipped("01/denoiser_l1-phantom",
                                                  unet("denoiser_l1", filters)),
            "randomised": train(unet("denoiser_randomised", filters), x, y,
                                P["denoise_epochs"], P["patch"])}
    rows = []
    for k, name in enumerate(CT_EXAMPLES):
        truth, pixel = real_slice(name)
        scans = scan_ct(truth, pixel, {"noise-free": None, "quarter": 5e4}, P["views"],
                        seed=100 + k)
        quarter, reference = scans["quarter"], scans["noise-free"]
        out = {"quarter dose": quarter, "NLM (phantom-tuned)": baselines.denoise(
            quarter[None], "nlm", **nlm)[0]}
        for label, net in nets.items():
            if net is not None:
                pred = net.predict(scale.normalize(quarter)[None, ..., None], verbose=0)
                out[f"U-Net, {label}"] = scale.denormalize(pred[0, ..., 0])
        rows.append({"scan": name, "shape": list(truth.shape), "pixel_mm": round(pixel, 2),
                     "noise_sd_hu": {"real image": metrics.noise_sd(truth),
                                     "added (quarter - noise-free)": float(
                                         np.std(quarter - reference))},
                     "psnr": {m: metrics.psnr_in_window(v, reference, WINDOW)
                              for m, v in out.items()},
                     "psnr_vs_real": {m: metrics.psnr_in_window(v, truth, WINDOW)
                                      for m, v in {**out, "noise-free": reference}.items()},
                     "images": out, "truth": reference})
    return {"rows": rows, "nlm": nlm}


# --- super-resolution -----------------------------------------------------------------


def sr_pairs(hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tutorial 02's ×4 pairs: (bicubic, HR) in [-1, 1] from HR images scaled to [0, ~1]."""
    from i2i_keras import baselines, physics

    small = physics.kspace_truncate(hr, 4, keep_size=False)
    bicubic = baselines.bicubic_upsample(small, 4, shape=hr.shape[-2:])
    return (2 * bicubic - 1)[..., None].astype("f4"), (2 * hr - 1)[..., None].astype("f4")


def consistent(prediction: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """``prediction`` with the k-space that the ×4 matrix of ``hr`` measured put back:
    the network keeps only what it adds above the measured band (physics.lowres_kspace)."""
    from i2i_keras import physics

    small = physics.kspace_truncate(hr, 4, keep_size=False)
    measured, mask = physics.lowres_kspace(small, hr.shape[-2:])
    return np.abs(physics.data_consistency(prediction, measured, mask))


def unmeasured_detail(output: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """How an output's detail above the band a ×4 matrix measures compares with the
    truth's there: (rho, a), rho = Re<P, T> / (|P| |T|) and a = |P| / |T|, P and T the
    output's and the truth's k-space outside that band (``physics.lowres_kspace``'s mask).

    + DC keeps exactly that part of a network's output, and there (Parseval) the squared
    error is |T|^2 (1 + a^2 - 2 rho a): detail lowers it below zero-filling's |T|^2 only
    where rho > a / 2. Detail as strong as the truth's (a = 1) must correlate with it by
    more than 0.5 to pay for itself; uncorrelated texture (rho = 0) costs its full energy.
    An output with nothing there gives (0, 0).

    >>> t = np.random.default_rng(0).random((32, 32))
    >>> [round(v, 3) for v in unmeasured_detail(t, t)], unmeasured_detail(np.zeros_like(t), t)
    ([1.0, 1.0], (0.0, 0.0))
    """
    from i2i_keras import physics

    small = physics.kspace_truncate(truth, 4, keep_size=False)
    _, measured = physics.lowres_kspace(small, truth.shape[-2:])
    p, t = physics.fft2c(output)[..., ~measured], physics.fft2c(truth)[..., ~measured]
    norm_p, norm_t = float(np.linalg.norm(p)), float(np.linalg.norm(t))
    if norm_p == 0.0:
        return 0.0, 0.0
    return float(np.vdot(t, p).real) / (norm_p * norm_t), norm_p / norm_t


def by_percentile(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), -1)
    return (images / np.percentile(flat, 99.5, axis=1)[:, None, None]).astype(np.float32)


def sr_training_pairs(P: dict, quick: bool, ranges: dict | None = None, clean: bool = False):
    """Randomised T1 and T2 MR as tutorial 02's x4 pairs. The truth is the acquired image
    (noise, blur and all) or with ``clean`` its noise-free twin; ``ranges`` overrides
    :data:`i2i_keras.domains.RANGES` (``SHARP``: no MR blur)."""
    from i2i_keras import domains

    data = [domains.randomized_pairs(range(P["patients"]), P["slices"], P["size"], weighting=w,
                                     limb_fraction=P["limb_fraction"], progress=not quick,
                                     contrast=P["contrast"], ranges=ranges)
            for w in ("T1", "T2")]
    hr = np.concatenate([d["mr"] for d in data])
    # --sr-gain: each HR image, after its 99.5th-percentile scaling, times a random gain.
    gain = np.random.default_rng(5).uniform(*P["sr_gain"], (len(hr), 1, 1)).astype("f4")
    top = np.percentile(hr.reshape(len(hr), -1), 99.5, axis=1)[:, None, None]
    x, y = sr_pairs((hr / top).astype(np.float32) * gain)  # by_percentile(hr) * gain
    if clean:  # the noise-free twin, scaled by the same factor as its acquired image
        _, y = sr_pairs((np.concatenate([d["mr_clean"] for d in data]) * (gain / top))
                        .astype("f4"))
    return x, y


def sr_scores(nets: dict, raw: bool = True) -> list[dict]:
    """Each network (and bicubic, zero-filling) on the real MR slices: PSNR and sharpness
    against the real image; each network's output as it is (``raw``) and + DC."""
    from i2i_keras import metrics

    rows = []
    for name in MR_EXAMPLES:
        image, pixel = real_slice(name)
        truth = by_percentile(image[None])[0]
        bicubic, _ = sr_pairs(truth[None])
        out = {"bicubic": (bicubic[0, ..., 0] + 1) / 2,
               "zero-filled": consistent(np.zeros_like(truth), truth)}
        for label, net in nets.items():
            if net is not None:
                sr = (net.predict(bicubic, verbose=0)[0, ..., 0] + 1) / 2
                if raw:
                    out[f"U-Net, {label}"] = sr
                out[f"U-Net, {label} + DC"] = consistent(sr, truth)
        detail = {m: unmeasured_detail(v, truth) for m, v in out.items()}
        rows.append({"scan": name, "shape": list(truth.shape), "pixel_mm": round(pixel, 2),
                     "psnr": {m: metrics.psnr(v, truth, 1.0) for m, v in out.items()},
                     "sharpness": {m: metrics.high_frequency_energy(v) for m, v in out.items()}
                     | {"real image": metrics.high_frequency_energy(truth)},
                     "detail_rho": {m: rho for m, (rho, _) in detail.items()},
                     "detail_amplitude": {m: a for m, (_, a) in detail.items()},
                     "images": out, "truth": truth})
    return rows


def sr_task(P: dict, quick: bool) -> dict:
    x, y = sr_training_pairs(P, quick)
    filters = P["filters"]
    nets = {"phantom": None if quick else shipped("02/unet_x4-phantom",
                                                  unet("sr_unet", filters)),
            "randomised": train(unet("sr_randomised", filters), x, y, P["sr_epochs"],
                                P["patch"])}
    return {"rows": sr_scores(nets)}


SHARP = {"mr_blur_px": (0.0, 0.0)}  # super-resolution's truth: no point-spread blur


def texture_task(P: dict, quick: bool) -> dict:
    """The perception-distortion trade-off on real MR: one randomised x4 network per
    weight of :func:`i2i_keras.losses.high_frequency_energy` added to L1, each trained on
    the sharp, noise-free truth (asking for the truth's detail, not its noise), scored
    + DC: a noise-free truth teaches the network to darken the noise floor the real
    scans keep, and putting back the measured band restores it."""
    x, y = sr_training_pairs(P, quick, ranges=SHARP, clean=True)
    nets = {}
    for w in P["texture_weights"]:
        loss = {"l1": 1.0, "high_frequency_energy": w} if w else "l1"
        nets[f"texture {w:g}"] = train(unet(f"sr_texture_{len(nets)}", P["filters"]),
                                       x, y, P["texture_epochs"], P["patch"], loss=loss)
    return {"weights": list(P["texture_weights"]), "epochs": P["texture_epochs"],
            "rows": sr_scores(nets, raw=False)}


# --- report ---------------------------------------------------------------------------


def table(rows: list[dict], key: str, fmt: str) -> str:
    methods = list(rows[0][key])
    lines = ["| scan | " + " | ".join(methods) + " |", "|---" + "|---:" * len(methods) + "|"]
    for r in rows:
        lines.append(f"| {r['scan']} ({r['shape'][0]}x{r['shape'][1]}, {r['pixel_mm']} mm) | "
                     + " | ".join(format(r[key][m], fmt) for m in methods) + " |")
    return "\n".join(lines)


def figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(task, r) for task, res in results.items() for r in res["rows"]]
    ncols = 1 + max(len(r["images"]) for _, r in panels)
    fig, axes = plt.subplots(len(panels), ncols, figsize=(2.2 * ncols, 2.3 * len(panels)),
                             squeeze=False)
    for row, (task, r) in zip(axes, panels):
        shown = {"noise-free scan" if task == "denoise" else "real image": r["truth"],
                 **r["images"]}
        limits = WINDOW if task == "denoise" else (0.0, 1.1)
        for ax, (title, image) in zip(row, shown.items()):
            ax.imshow(image, cmap="gray", vmin=limits[0], vmax=limits[1])
            ax.set_title(f"{title}\n{r['scan'][:18]}", fontsize=7)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def sr_bars(rows: list[dict]) -> str:
    """Issue 24's bars for each network: PSNR >= bicubic, sharpness within 25 % of the
    real image's, on how many real scans."""
    lines = []
    for m in [m for m in rows[0]["psnr"] if m.startswith("U-Net")]:
        psnr = [r["scan"] for r in rows if r["psnr"][m] >= r["psnr"]["bicubic"]]
        sharp = [r["scan"] for r in rows
                 if abs(r["sharpness"][m] / r["sharpness"]["real image"] - 1) <= 0.25]
        lines.append(f"- {m}: PSNR >= bicubic on {len(psnr)} of {len(rows)} scans, "
                     f"sharpness within 25 % of the real image's on {len(sharp)} of {len(rows)}")
    return "\n".join(lines)


def tradeoff_figure(texture: dict, path: Path) -> None:
    """PSNR over bicubic against sharpness / the real image's, a line per real scan, a
    point per texture weight; issue 24's bars shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    ax.axvspan(0.75, 1.25, color="tab:green", alpha=0.12, label="sharpness within 25 %")
    ax.axhline(0.0, color="k", lw=0.8, label="bicubic's PSNR")
    for r in texture["rows"]:
        methods = [m for m in r["psnr"] if m.startswith("U-Net")]
        ratio = [r["sharpness"][m] / r["sharpness"]["real image"] for m in methods]
        gain = [r["psnr"][m] - r["psnr"]["bicubic"] for m in methods]
        ax.plot(ratio, gain, "o-", label=r["scan"][:24])
        for w, xy in zip(texture["weights"], zip(ratio, gain)):
            ax.annotate(f"{w:g}", xy, fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("sharpness / the real image's")
    ax.set_ylabel("PSNR - bicubic's (dB), + DC")
    ax.set_title("x4 SR on real MR: L1 + w x high-frequency energy (w at each point)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


DETAIL_NOTE = ("Detail above the measured band (`unmeasured_detail`): its correlation rho with "
               "the real image's there (+ DC keeps it; it beats zero-filling's error only "
               "where rho > a / 2):")


def report(results: dict) -> str:
    """The tables of :func:`main`, as Markdown."""
    lines = []
    if "denoise" in results:
        rows = results["denoise"]["rows"]
        lines += ["", "Denoising, quarter dose, PSNR (dB) in [-160, 240] HU against the noise-free "
                  f"reconstruction; NLM tuned on phantoms: {results['denoise']['nlm']}", "",
                  table(rows, "psnr", ".2f"), "",
                  "The same against the real image (every method, the noise-free scan too, "
                  "pays for the FBP's blur):", "", table(rows, "psnr_vs_real", ".2f"), "",
                  "Noise SD (HU): the real image's own (Immerkaer) and the added quarter-dose "
                  "noise", "", table(rows, "noise_sd_hu", ".1f")]
    if "sr" in results:
        rows = results["sr"]["rows"]
        lines += ["", "Super-resolution x4, PSNR (dB) against the real image:", "",
                  table(rows, "psnr", ".2f"), "",
                  "Sharpness (spectral energy above a quarter of Nyquist):", "",
                  table(rows, "sharpness", ".3f"), "", sr_bars(rows)]
    if "texture" in results:
        res = results["texture"]
        rows = res["rows"]
        lines += ["", f"Trade-off: x4 U-Nets on the sharp, noise-free randomised truth, L1 + w x "
                  f"high-frequency energy, {res['epochs']} epochs each, + DC. PSNR (dB):", "",
                  table(rows, "psnr", ".2f"), "", "Sharpness:", "",
                  table(rows, "sharpness", ".3f"), "", sr_bars(rows), "", DETAIL_NOTE, "",
                  table(rows, "detail_rho", ".2f"), "", "Its amplitude a = |P| / |T|:", "",
                  table(rows, "detail_amplitude", ".2f")]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny data, one epoch (a smoke test)")
    p.add_argument("--tasks", nargs="*", default=["denoise", "sr"],
                   choices=["denoise", "sr", "texture"],
                   help="texture: the sharpness-PSNR trade-off of x4 SR (about 14 minutes)")
    p.add_argument("--texture-weights", nargs="+", type=float, default=(0.0, 0.03, 0.1, 0.3),
                   metavar="W", help="texture: weights of the high-frequency energy loss")
    p.add_argument("--out", default="transfer_results", help="folder for the JSON and figure")
    p.add_argument("--spin-echo-only", action="store_true",
                   help="SR: keep spin echo's tissue contrast (no domains.random_tissue_gain)")
    p.add_argument("--sr-gain", nargs=2, type=float, default=(1.0, 1.0), metavar=("LOW", "HIGH"),
                   help="random intensity gain of the SR training images (default: none)")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    import keras

    keras.utils.set_random_seed(0)
    P = {**(QUICK if args.quick else FULL), "sr_gain": tuple(args.sr_gain),
         "contrast": not args.spin_echo_only, "texture_weights": args.texture_weights}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = {}
    if "denoise" in args.tasks:
        results["denoise"] = denoise_task(P, args.quick)
    if "sr" in args.tasks:
        results["sr"] = sr_task(P, args.quick)
    if "texture" in args.tasks:
        results["texture"] = texture_task(P, args.quick)
        tradeoff_figure(results["texture"], out / "tradeoff.png")
    text = report(results)
    print(text)
    figure(results, out / "transfer.png")
    saved = {task: {**{k: v for k, v in res.items() if k != "rows"},
                    "rows": [{k: v for k, v in r.items() if k not in ("images", "truth")}
                             for r in res["rows"]]} for task, res in results.items()}
    (out / "transfer.json").write_text(json.dumps(saved, indent=1, default=float))
    minutes = (time.perf_counter() - t0) / 60
    from i2i_keras.tutorials import machine

    (out / "transfer.md").write_text(
        f"# benchmarks/transfer.py {' '.join(argv or [])}\n\n{machine()}, "
        f"{time.strftime('%Y-%m-%d')}: {minutes:.1f} min (fixed epochs: the numbers do not "
        f"depend on the machine's speed)\n{text}\n")
    print(f"\n{minutes:.1f} min; figure, numbers and these tables in {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
