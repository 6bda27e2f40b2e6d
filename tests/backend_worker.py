"""Run by tests/test_backends.py in a subprocess, one per Keras backend (the backend is
fixed when Keras is imported, so each needs its own process):

    KERAS_BACKEND=jax python tests/backend_worker.py WORKDIR

WORKDIR holds ``data.npz`` (x, y: MR and CT phantom slices, 32², in [-1, 1]) and the
initial networks ``init_*.keras`` saved by the test on its own backend. This script
writes ``WORKDIR/<backend>.json`` with

- ``steps``: per trainer, the losses of two train steps on one fixed batch, from the
  shared initial weights with plain SGD (the second step shows the gradients);
- ``fit``: per trainer, the monitored loss in the first and last epoch of a tiny
  ``fit`` that goes on from there;
- ``loaded``: for each ``<backend>_generator.keras`` already in WORKDIR (saved by the
  backends that ran before), the largest difference between this backend's prediction
  with it and the prediction its own backend saved;

and saves the Pix2Pix generator it trained as ``<backend>_generator.keras`` with its
prediction on x[:4] as ``<backend>_prediction.npy``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np

from i2i_keras import training

STEP_KEYS = {"pix2pix": ("g_loss", "d_loss", "l1"), "cyclegan": ("g_loss", "d_loss", "cycle"),
             "supervised": ("loss",)}


def load(work: Path, name: str) -> keras.Model:
    return keras.saving.load_model(work / f"init_{name}.keras")


def trainer(work: Path, kind: str, optimizer):
    """The trainer `kind` on the shared initial weights; optimizer() makes each optimizer."""
    if kind == "pix2pix":
        t = training.Pix2Pix(load(work, "p2p_g"), load(work, "p2p_d"))
        t.compile(optimizer(), optimizer(), lambda_l1=100.0, gan_loss="lsgan")
    elif kind == "cyclegan":
        nets = [load(work, f"cyc_{n}") for n in ("gab", "gba", "da", "db")]
        t = training.CycleGAN(*nets, pool_size=8)
        t.compile(optimizer(), optimizer(), lambda_air=1.0)
    else:
        t = training.Supervised(load(work, "sup"))
        t.compile(optimizer(), loss="l2")
    return t


def steps_then_fit(work: Path, kind: str, x, y):
    """Two train steps on one fixed batch, then a tiny fit that goes on from there with
    the same compiled step (plain SGD: the same update on every backend)."""
    t = trainer(work, kind, lambda: keras.optimizers.SGD(0.1 if kind == "supervised" else 0.01))
    if kind == "cyclegan":
        batch, fit = (x[:2], y[2:4]), dict(x=x[:8], y=y[8:], batch_size=2)
    else:
        batch, fit = (x[:4], y[:4]), dict(x=x, y=y, batch_size=4)
    steps = []
    for _ in range(2):
        t.reset_metrics()
        logs = t.train_on_batch(*batch, return_dict=True)
        steps.append([float(logs[k]) for k in STEP_KEYS[kind]])
    if kind == "pix2pix":
        fit["validation_data"] = (x[:4], y[:4])
    h = t.fit(**fit, epochs=4, shuffle=False, verbose=0).history
    watch = {"pix2pix": "l1", "cyclegan": "cycle", "supervised": "loss"}[kind]
    return t, steps, {"watch": watch, "first": h[watch][0], "last": h[watch][-1],
                      "keys": sorted(h)}


def main(work: Path) -> None:
    backend = keras.backend.backend()
    data = np.load(work / "data.npz")
    x, y = data["x"], data["y"]
    out = {"backend": backend, "steps": {}, "fit": {}, "loaded": {}}
    for kind in STEP_KEYS:
        t, out["steps"][kind], out["fit"][kind] = steps_then_fit(work, kind, x, y)
        if kind == "pix2pix":
            generator = t.generator
    for other in sorted(work.glob("*_generator.keras")):
        name = other.name.split("_")[0]
        theirs = np.load(work / f"{name}_prediction.npy")
        mine = keras.saving.load_model(other).predict(x[:4], verbose=0)
        out["loaded"][name] = float(np.abs(mine - theirs).max())
    generator.save(work / f"{backend}_generator.keras")
    np.save(work / f"{backend}_prediction.npy", generator.predict(x[:4], verbose=0))
    (work / f"{backend}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
