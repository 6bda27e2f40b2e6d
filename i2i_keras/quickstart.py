"""Quickstart: MR → synthetic CT with pix2pix on phantom heads, from a terminal.

    python -m i2i_keras.quickstart            # full run: about 10 minutes on a 2-core CPU
    python -m i2i_keras.quickstart --quick    # a few seconds: checks the installation

It makes registered MR/CT phantom pairs, trains pix2pix, and scores it on held-out
patients against the bulk-density rule tuned on the validation patients, in HU. The
table, a figure and the trained generator (``.keras``) are written to ``--out``.
``tutorials/00_quickstart.ipynb`` walks through the same steps one at a time; both
use the functions below, so they agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np


@dataclasses.dataclass
class Settings:
    """Everything a run depends on. Change a field with dataclasses.replace(s, ...)."""

    mode: str  # "quick", "cpu" or "gpu"
    size: int  # image side, pixels (field of view 220 mm)
    patients: int  # phantom patients, split 70/15/15 into train/val/test
    slices_per_patient: int
    depth: int  # U-Net down-samplings
    base_filters: int  # U-Net filters at full resolution
    d_layers: int  # PatchGAN stride-2 layers (receptive field 16/34/70)
    d_filters: int
    batch_size: int
    epochs: int
    learning_rate: float  # Adam, decayed linearly to zero over the run
    lambda_l1: float = 100.0
    minutes: float = 12.0  # hard stop, whatever the machine
    seed: int = 0
    # Keras dtype policy. On a GPU, hardware.recommended_policy() (mixed float16). On a
    # CPU float32 even where it has bfloat16 units: at these 64² sizes mixed bfloat16 made
    # the pix2pix step only 1.1x and the CycleGAN step 1.03x faster (2-core Xeon with
    # AMX, 2026-11-30), not worth rounding every activation to 8 significant bits.
    precision: str = "float32"


def settings(quick: bool | None = None) -> Settings:
    """Settings sized to the hardware: seconds in quick mode (I2I_QUICK=1), about ten
    minutes on a 2-core CPU (64² images, a 0.5 M-parameter U-Net), and 256² images with
    a wider, deeper U-Net in mixed precision when the Keras backend sees a GPU."""
    if quick is None:
        quick = os.environ.get("I2I_QUICK") == "1"
    if quick:
        return Settings("quick", 64, 10, 4, 3, 8, 2, 8, 4, 2, 4e-4, minutes=1.0)
    from .hardware import has_gpu, recommended_policy

    if has_gpu():
        return Settings("gpu", 256, 200, 12, 5, 32, 3, 64, 8, 60, 2e-4, minutes=30.0,
                        precision=recommended_policy(gpu=True))
    return Settings("cpu", 64, 120, 8, 3, 16, 2, 32, 4, 36, 4e-4, minutes=12.0)


def make_splits(s: Settings, progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Phantom MR/CT pairs split by patient into "train", "val" and "test".

    Each split holds ``x`` (N, H, W, 1) normalised MR, ``y`` (N, H, W, 1) CT mapped
    to [-1, 1] by :data:`~i2i_keras.datasets.CT_WINDOW`, ``mr`` (N, H, W) raw MR,
    ``ct`` (N, H, W) CT in HU, ``labels`` (N, H, W) tissue labels, ``patient`` (N,).
    """
    from . import phantoms

    data = phantoms.mr_ct_pairs(range(s.patients), s.slices_per_patient, size=s.size,
                                progress=progress)
    return split_pairs(data, seed=s.seed)


def split_pairs(data: dict, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Split MR/CT pairs by patient (70/15/15) into "train", "val" and "test", with the
    arrays :func:`make_splits` describes. data: ``mr`` (N, H, W), ``ct`` (N, H, W) in HU,
    ``patient`` (N,), and either ``labels`` (phantoms) or ``body`` (N, H, W) bool (real
    data: the tissue classes then come from thresholding the CT, see
    :func:`i2i_keras.metrics.tissue_masks_from_ct`)."""
    from . import datasets

    parts = datasets.split_by_patient(data["patient"], val=0.15, test=0.15, seed=seed)
    x = datasets.normalize_mr(data["mr"])[..., None]
    y = datasets.CT_WINDOW.normalize(data["ct"])[..., None]
    keep = [k for k in ("mr", "ct", "labels", "body", "patient") if k in data]
    return {name: {"x": x[idx], "y": y[idx], **{k: np.asarray(data[k])[idx] for k in keep}}
            for name, idx in parts.items()}


def synthrad_splits(s: Settings, n_patients: int | None = None, crop: int = 256,
                    region: str = "brain") -> tuple[dict, float]:
    """SynthRAD2023 MR/CT pairs split like :func:`make_splits`, and their pixel size (mm).

    Axial slices (``s.slices_per_patient`` a patient) are cropped to ``crop``² at 1 mm,
    then averaged down to ``s.size``² (CT in HU, the body mask kept where more than half
    of a coarse pixel is body). Needs ``python data_scripts/download.py synthrad2023``.
    """
    from . import datasets, physics

    pairs = datasets.load_synthrad_slices(region, n_patients=n_patients or s.patients,
                                          slices_per_patient=s.slices_per_patient, size=crop)
    factor = crop / s.size  # also the pixel size in mm: the crop has 1 mm pixels
    data = split_pairs(
        {"mr": physics.downsample(pairs.inputs, factor),
         "ct": physics.downsample(pairs.targets, factor),
         "body": physics.downsample(pairs.masks.astype(np.float32), factor) > 0.5,
         "patient": np.asarray(pairs.subject_ids)}, seed=s.seed)
    return data, factor


def tissue_masks(split: dict) -> dict[str, np.ndarray]:
    """Body and tissue-class masks of a split: from the phantom labels when it has them,
    else by thresholding its CT inside its body mask."""
    from . import metrics

    if "labels" in split:
        return metrics.tissue_masks(split["labels"])
    return metrics.tissue_masks_from_ct(split["ct"], split["body"])


def build_pix2pix(s: Settings, steps_per_epoch: int):
    """The generator (U-Net, tanh output), the conditional PatchGAN and the compiled
    Pix2Pix trainer: Adam(beta_1 = 0.5) with the learning rate decayed linearly to 0."""
    from . import models, training

    shape = (s.size, s.size, 1)
    generator = models.unet(shape, depth=s.depth, base_filters=s.base_filters, norm="instance")
    discriminator = models.patchgan(shape, n_layers=s.d_layers, base_filters=s.d_filters)
    gan = training.Pix2Pix(generator, discriminator)
    total = s.epochs * steps_per_epoch
    gan.compile(training.adam(s.learning_rate, total), training.adam(s.learning_rate, total),
                lambda_l1=s.lambda_l1, gan_loss="vanilla")
    return gan


def evaluate(predictions_hu: dict[str, np.ndarray], split: dict) -> dict[str, dict]:
    """hu_report of each method's synthetic CT against the split's CT, by tissue."""
    from . import metrics

    masks = tissue_masks(split)
    return {name: metrics.hu_report(pred, split["ct"], masks)
            for name, pred in predictions_hu.items()}


def format_table(reports: dict[str, dict]) -> str:
    """A plain-text table: one row per metric, one column per method."""
    methods = list(reports)
    rows = list(next(iter(reports.values())))
    width = max(len(r) for r in rows)
    cols = [max(16, len(m) + 2) for m in methods]
    lines = [" " * width + "".join(f"{m:>{c}}" for m, c in zip(methods, cols))]
    for r in rows:
        lines.append(f"{r:<{width}}" + "".join(f"{reports[m].get(r, np.nan):>{c}.1f}"
                                                for m, c in zip(methods, cols)))
    return "\n".join(lines)


def run(quick: bool | None = None, out: str | Path = "quickstart_output",
        verbose: int = 2) -> dict:
    """The whole quickstart. Returns {"settings", "reports", "seconds"}."""
    import keras
    import matplotlib

    matplotlib.use("Agg")
    from . import baselines, datasets, training, viz

    s = settings(quick)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"mode {s.mode}: {s.size}² images, {s.patients} phantom patients, U-Net depth "
          f"{s.depth} with {s.base_filters} base filters, {s.epochs} epochs "
          f"(stops after {s.minutes:g} min), {s.precision}")
    keras.utils.set_random_seed(s.seed)
    keras.mixed_precision.set_global_policy(s.precision)
    t0 = time.perf_counter()
    data = make_splits(s)
    train = datasets.paired_dataset(data["train"]["x"], data["train"]["y"], s.batch_size,
                                    augment=True, max_shift=4, seed=s.seed)
    val = datasets.paired_dataset(data["val"]["x"], data["val"]["y"], 16, shuffle=False)
    gan = build_pix2pix(s, steps_per_epoch=len(data["train"]["x"]) // s.batch_size)
    history = gan.fit(train, validation_data=val, epochs=s.epochs, verbose=verbose,
                      callbacks=[training.NaNGuard(), training.TimeBudget(s.minutes),
                                 keras.callbacks.CSVLogger(str(out / "history.csv"))])
    train_seconds = time.perf_counter() - t0

    rule = baselines.BulkDensity(n_classes=3).fit(data["val"]["x"][..., 0], data["val"]["ct"])
    test = data["test"]
    sct = datasets.CT_WINDOW.denormalize(gan.generator.predict(test["x"], verbose=0)[..., 0])
    reports = evaluate({"bulk density": rule.predict(test["x"][..., 0]), "pix2pix": sct}, test)
    table = format_table(reports)
    print(f"\nHeld-out patients ({len(np.unique(test['patient']))}, {len(test['x'])} slices); "
          f"{rule}\n{table}\ntraining and data: {train_seconds / 60:.1f} min")

    gan.generator.save(out / "mr_to_ct_generator.keras")
    (out / "results.json").write_text(json.dumps(
        {"settings": dataclasses.asdict(s), "reports": reports, "seconds": train_seconds},
        indent=2))
    viz.panel(test["mr"][:3], sct[:3], test["ct"][:3],
              titles=("MR (T1)", "pix2pix sCT", "CT")).savefig(out / "results.png", dpi=90)
    viz.plot_history(history, ["l1", "psnr", "g_loss", "d_loss"]).savefig(out / "history.png")
    print(f"wrote {out}/: results.json, results.png, history.png, history.csv, "
          "mr_to_ct_generator.keras")
    return {"settings": s, "reports": reports, "seconds": train_seconds}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds-long run (as I2I_QUICK=1)")
    p.add_argument("--out", default="quickstart_output", help="folder for the results")
    a = p.parse_args(argv)
    run(quick=True if a.quick else None, out=a.out)


if __name__ == "__main__":
    main()
