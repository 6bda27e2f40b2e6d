"""Shipped weights of each tutorial's full run, for a class that cannot wait.

With ``I2I_PRETRAINED=1`` a tutorial skips training: :func:`fit_or_load` loads the
weights its full run saved (and that run's training curves) and the notebook evaluates
them in seconds, printing the same results table. The weights live in
``i2i_keras/weights/<tutorial>/``, each file's SHA-256 in ``weights/pretrained.json``;
``python data_scripts/make_pretrained.py`` re-makes them (a full run of each notebook
with ``I2I_SAVE_PRETRAINED=1``).

>>> from i2i_keras import pretrained
>>> pretrained.path("03/pix2pix", "generator").name
'pix2pix.generator.weights.h5'
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import keras

from .io import I2IDataError

FOLDER = Path(__file__).parent / "weights"
MANIFEST = FOLDER / "pretrained.json"
REMAKE = "python data_scripts/make_pretrained.py"


def wanted() -> bool:
    """True when ``I2I_PRETRAINED=1``: load shipped weights instead of training."""
    return os.environ.get("I2I_PRETRAINED") == "1"


def saving() -> bool:
    """True when ``I2I_SAVE_PRETRAINED=1`` (set by ``data_scripts/make_pretrained.py``)."""
    return os.environ.get("I2I_SAVE_PRETRAINED") == "1"


def path(name: str, part: str) -> Path:
    """Where the weights of ``part`` (e.g. "generator") of run ``name`` ("03/pix2pix")
    are kept; ``part="history"`` is its training curves (JSON)."""
    tutorial, run = name.split("/")
    return FOLDER / tutorial / (f"{run}.history.json" if part == "history"
                                else f"{run}.{part}.weights.h5")


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def networks_of(trainer: keras.Model) -> dict[str, keras.Model]:
    """The networks worth shipping of a :mod:`i2i_keras.training` trainer: what makes
    its images (the generators, or the supervised network), not its critics."""
    names = ("network", "generator", "generator_ab", "generator_ba")
    found = {n: getattr(trainer, n) for n in names if hasattr(trainer, n)}
    return found or {"network": trainer}


def save(name: str, trainer: keras.Model, history: dict) -> None:
    """Save ``trainer``'s networks and its training curves under ``name``, with hashes."""
    manifest = _manifest()
    for part, net in networks_of(trainer).items():
        file = path(name, part)
        file.parent.mkdir(parents=True, exist_ok=True)
        net.save_weights(file)
        manifest[str(file.relative_to(FOLDER))] = _sha256(file)
    curves = {k: [float(v) for v in values] for k, values in history.items()}
    path(name, "history").write_text(json.dumps(curves))
    MANIFEST.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


def load(name: str, trainer: keras.Model) -> keras.callbacks.History:
    """Load the shipped weights of run ``name`` into ``trainer``'s networks, checking each
    file's SHA-256; return the full run's training curves as a History."""
    manifest = _manifest()
    for part, net in networks_of(trainer).items():
        file = path(name, part)
        key = str(file.relative_to(FOLDER))
        if not file.exists() or key not in manifest:
            raise I2IDataError(f"no pretrained weights {file}: re-make them with `{REMAKE}` "
                               "(a full run of each tutorial), or unset I2I_PRETRAINED to train")
        if _sha256(file) != manifest[key]:
            raise I2IDataError(f"pretrained weights {file} do not match their SHA-256 in "
                               f"{MANIFEST.name} (a changed or damaged file): re-make them with "
                               f"`{REMAKE}`, or unset I2I_PRETRAINED to train")
        net.load_weights(file)
    history = keras.callbacks.History()
    curves = path(name, "history")
    history.history = json.loads(curves.read_text()) if curves.exists() else {}
    history.epoch = list(range(len(next(iter(history.history.values()), []))))
    return history


def fit_or_load(name: str, trainer: keras.Model, *args, **kwargs) -> keras.callbacks.History:
    """``trainer.fit(*args, **kwargs)``, or, with ``I2I_PRETRAINED=1``, the shipped weights
    of the full run called ``name`` ("<tutorial>/<run>") loaded instead (no training).
    With ``I2I_SAVE_PRETRAINED=1`` a fit's networks and curves are saved for shipping."""
    if wanted():
        history = load(name, trainer)
        print(f"{name}: pretrained weights loaded (the full run's {len(history.epoch)} "
              "epochs); no training")
        return history
    history = trainer.fit(*args, **kwargs)
    if saving():
        save(name, trainer, history.history)
    return history
