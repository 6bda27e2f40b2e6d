"""Quickstart: MR → synthetic CT with pix2pix on phantom heads, from a terminal.

    python -m i2i_keras.quickstart            # full run: about 10 minutes on a 2-core CPU
    python -m i2i_keras.quickstart --quick    # a few seconds: checks the installation

It makes registered MR/CT phantom pairs, trains pix2pix, and scores it on held-out
patients against the bulk-density rule tuned on the validation patients, in HU. The
table, a figure and the trained generator (``.keras``) are written to ``--out``.
``tutorials/00_quickstart.ipynb`` walks through the same steps one at a time; both
use the same library functions (:mod:`i2i_keras.recipes` for the settings and the
trainer, :mod:`i2i_keras.datasets` for the split, :mod:`i2i_keras.metrics` for the
table), so they agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np


def run(quick: bool | None = None, out: str | Path = "quickstart_output",
        verbose: int = 2) -> dict:
    """The whole quickstart. Returns {"settings", "reports", "seconds"}.

    Seeds Keras (``keras.utils.set_random_seed``) for a reproducible run and restores
    the dtype policy it found."""
    import keras

    from . import baselines, datasets, hardware, metrics, recipes, training, viz

    s = recipes.Settings.for_hardware(quick)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"mode {s.mode}: {s.size}² images, {s.patients} phantom patients, U-Net depth "
          f"{s.depth} with {s.base_filters} base filters, {s.epochs} epochs "
          f"(stops after {s.minutes:g} min), {s.precision}")
    keras.utils.set_random_seed(s.seed)
    with hardware.dtype_policy(s.precision):  # the policy it found is back afterwards
        t0 = time.perf_counter()
        data = datasets.phantom_mr_ct_splits(s.patients, s.slices_per_patient, s.size, s.seed)
        train = datasets.paired_dataset(data["train"]["x"], data["train"]["y"], s.batch_size,
                                        augment=True, max_shift=4, seed=s.seed)
        val = datasets.paired_dataset(data["val"]["x"], data["val"]["y"], 16, shuffle=False)
        gan = recipes.build_pix2pix(s, steps_per_epoch=len(data["train"]["x"]) // s.batch_size)
        history = gan.fit(train, validation_data=val, epochs=s.epochs, verbose=verbose,
                          callbacks=[training.NaNGuard(), training.TimeBudget(s.minutes),
                                     keras.callbacks.CSVLogger(str(out / "history.csv"))])
        train_seconds = time.perf_counter() - t0
        test = data["test"]
        sct = datasets.CT_WINDOW.denormalize(gan.generator.predict(test["x"], verbose=0)[..., 0])

    rule = baselines.BulkDensity(n_classes=3).fit(data["val"]["x"][..., 0], data["val"]["ct"])
    reports = metrics.report({"bulk density": rule.predict(test["x"][..., 0]), "pix2pix": sct},
                             test)
    print(f"\nHeld-out patients ({len(np.unique(test['patient']))}, {len(test['x'])} slices); "
          f"{rule}\n{metrics.format_table(reports)}\n"
          f"training and data: {train_seconds / 60:.1f} min")

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
