"""A trained model and how to use it, saved together: :func:`save_run`, :func:`translate`.

A network is only half of a model: it learned on inputs scaled one way (an MR volume's
99.5th percentile at +1, CT HU mapped from [-1000, 2000]), at one voxel spacing, in
patches of one size, with one number of channels. Applied with another scaling or at
another spacing it still returns an image, just a wrong one. So the settings are saved
beside the network, in a ``run.json`` a person can read, and :func:`translate` uses
them and refuses an input that does not match, saying what to do, before any work.

``model_dir/`` holds ``model.keras`` (the network; loads with Keras' safe mode) and
``run.json``::

    {"input":  {"modality": "MR", "channels": 1,
                "normalisation": {"kind": "percentile", "percentile": 99.5}},
     "output": {"modality": "CT", "unit": "HU",
                "normalisation": {"kind": "window", "low": -1000, "high": 2000}},
     "spacing_mm": [3.4, 1.7, 1.7],    # (slice, row, col) spacing it was trained at
     "spacing_tolerance": 0.05,         # relative
     "mode": "2d", "context": 0,        # or "2.5d" with `context` neighbours a side
     "patch": [64, 64], "overlap": 0.5, "blend": "gaussian", "align": 8,
     "window": [-160, 240],             # how to show the output (HU)
     "model": {...}}                    # the builder's settings, for the record

Normalisations: ``{"kind": "window", "low", "high"}`` maps [low, high] linearly onto
[-1, 1] (:class:`i2i_keras.datasets.IntensityWindow`; for HU); ``{"kind": "percentile",
"percentile": p}`` maps 0 to -1 and the volume's p-th percentile to +1 (for MR, whose
units are arbitrary: one factor for the whole volume, so slices keep their relation).

Example
-------
>>> import tempfile, keras
>>> from i2i_keras import models, translate, volumes
>>> net = models.unet((None, None, 1), depth=2, base_filters=4, norm="none")
>>> config = translate.example_config(spacing_mm=(2.0, 1.0, 1.0), patch=16)
>>> with tempfile.TemporaryDirectory() as run:
...     _ = translate.save_run(run, net, config)
...     mr = volumes.Volume(np.ones((3, 20, 24), "f4"), np.diag([2.0, 1, 1, 1]))
...     ct = translate.translate(mr, run, progress=False)
...     try:
...         translate.translate(volumes.Volume(mr.array, np.diag([2, .5, .5, 1])), run)
...     except translate.I2IDataError as error:
...         print("refused:", str(error).split(" was ")[1].split(" mm")[0], "mm")
refused: trained at a voxel spacing of (1.0, 1.0) mm
>>> ct.array.shape, ct.spacing_mm
((3, 20, 24), (2.0, 1.0, 1.0))
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import inference, volumes
from .io import I2IDataError, PathLike, require_float
from .volumes import Volume

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
FORMAT = 1
_REQUIRED = ("input", "output", "spacing_mm", "mode", "patch")


def example_config(spacing_mm: Sequence[float], patch: int = 64, channels: int = 1,
                   mode: str = "2d", context: int = 0) -> dict:
    """A run configuration for MR -> CT (per-volume percentile in, HU window out), to
    change where needed: see the module's description of every field.

    >>> example_config((3.0, 1.5, 1.5))["output"]["normalisation"]
    {'kind': 'window', 'low': -1000.0, 'high': 2000.0}
    """
    return {
        "input": {"modality": "MR", "channels": channels,
                  "normalisation": {"kind": "percentile", "percentile": 99.5}},
        "output": {"modality": "CT", "unit": "HU",
                   "normalisation": {"kind": "window", "low": -1000.0, "high": 2000.0}},
        "spacing_mm": [float(s) for s in spacing_mm], "spacing_tolerance": 0.05,
        "mode": mode, "context": context, "patch": [patch, patch], "overlap": 0.5,
        "blend": "gaussian", "align": 8, "window": [-160.0, 240.0], "model": {},
    }


def normalise(array: np.ndarray, spec: dict) -> np.ndarray:
    """Physical values -> network values by a normalisation ``spec`` (see the module).

    >>> normalise(np.array([0.0, 5.0, 10.0]), {"kind": "percentile", "percentile": 100})
    array([-1.,  0.,  1.], dtype=float32)
    """
    x = np.asarray(require_float(array, "volume", "physical values"), np.float64)
    if spec["kind"] == "window":
        low, high = float(spec["low"]), float(spec["high"])
        return ((x - low) * (2.0 / (high - low)) - 1.0).astype(np.float32)
    if spec["kind"] == "percentile":
        scale = max(float(np.percentile(x, spec["percentile"])), 1e-6)
        return (2.0 * x / scale - 1.0).astype(np.float32)
    raise ValueError(f"unknown normalisation kind {spec['kind']!r}: 'window' or 'percentile'")


def denormalise(array: np.ndarray, spec: dict) -> np.ndarray:
    """Network values -> physical values for a ``"window"`` normalisation (the inverse
    of :func:`normalise`; a percentile has no fixed inverse).

    >>> denormalise(np.array([-1.0, 1.0]), {"kind": "window", "low": -1000, "high": 2000})
    array([-1000.,  2000.], dtype=float32)
    """
    if spec["kind"] != "window":
        raise ValueError("an output normalisation must be a 'window' (low, high): a "
                         "percentile scaling cannot be undone for a new image")
    low, high = float(spec["low"]), float(spec["high"])
    return ((np.asarray(array, np.float64) + 1.0) * ((high - low) / 2.0) + low).astype(
        np.float32)


def _input_channels(config: dict) -> int:
    """Channels the network takes: the input's, times the slices of a 2.5D stack."""
    width = 2 * int(config.get("context", 0)) + 1 if config["mode"] == "2.5d" else 1
    return int(config["input"]["channels"]) * width


def save_run(model_dir: PathLike, model, config: dict) -> Path:
    """Save a trained network and its run configuration in ``model_dir`` (created).

    model: a Keras model taking (B, h, w, C_in) patches. config: see the module (start
    from :func:`example_config`). The configuration is checked against the network
    (channels) and stored with the Keras version, backend and parameter count.
    Returns the path of ``run.json``.
    """
    import keras

    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise ValueError(f"the run configuration lacks {missing}; start from "
                         "translate.example_config(...) and change what differs")
    config = copy.deepcopy(config)
    expected = _input_channels(config)
    if model.input_shape[-1] != expected:
        raise ValueError(f"the network takes {model.input_shape[-1]} channels but the "
                         f"configuration describes {expected} (mode {config['mode']!r}, "
                         f"{config['input']['channels']} channel(s) a slice)")
    denormalise(np.zeros(1), config["output"]["normalisation"])  # refuses a percentile
    inference.blend_weights((2,), config.get("blend", "gaussian"))  # refuses unknown blends
    config.update(format=FORMAT, keras_version=keras.__version__,
                  backend=keras.backend.backend(), parameters=int(model.count_params()),
                  network_input_shape=list(model.input_shape[1:]))
    folder = Path(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    path = folder / RUN_FILE
    path.write_text(json.dumps(config, indent=1) + "\n")
    return path


def load_config(model_dir: PathLike) -> dict:
    """The run configuration saved in ``model_dir``."""
    path = Path(model_dir) / RUN_FILE
    if not path.exists():
        raise I2IDataError(f"{path} does not exist: {model_dir} is not a folder written by "
                           "translate.save_run (it needs run.json beside model.keras)")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT:
        raise I2IDataError(f"{path} has format {config.get('format')!r}, this version reads "
                           f"{FORMAT}: save the run again with this version")
    return config


def _as_volume(volume, spacing_mm: Sequence[float] | None) -> Volume:
    """A Volume from a Volume, DicomImage, NiftiImage or array (+ spacing_mm)."""
    from .io import DicomImage, NiftiImage

    if isinstance(volume, Volume):
        return volume
    if isinstance(volume, DicomImage):
        return Volume.from_dicom(volume)
    if isinstance(volume, NiftiImage):
        return Volume.from_nifti(volume)
    if spacing_mm is None:
        raise I2IDataError("an array has no voxel spacing: pass spacing_mm=(dz, dy, dx) in "
                           "mm, or a Volume, DicomImage or NiftiImage, which carry it")
    return Volume(np.asarray(volume), np.diag([*map(float, spacing_mm), 1.0]))


def check_input(volume: Volume, config: dict, where: str) -> list[str]:
    """What keeps ``volume`` from going through the run (channels, spacing), as
    sentences naming the fix; empty when it fits. Spacing: rows and columns always,
    slices too for a 2.5D model (its neighbours must be as far apart as in training)."""
    problems = []
    channels = volume.array.shape[3] if volume.array.ndim == 4 else 1
    wanted = int(config["input"]["channels"])
    if volume.array.ndim not in (3, 4):
        problems.append(f"the input has shape {volume.array.shape}, not (slices, rows, cols"
                        "[, channels])")
    elif channels != wanted:
        fix = ("one image (drop the channel axis, or pick one channel)" if wanted == 1 else
               f"{wanted} registered images stacked on the last axis")
        problems.append(f"the model in {where} takes {wanted} channel(s) a voxel "
                        f"({config['input']['modality']}), the input has {channels}. Give "
                        f"it {fix}")
    trained = np.asarray(config["spacing_mm"], float)
    have = np.asarray(volume.spacing_mm, float)
    axes = slice(0, 3) if config["mode"] == "2.5d" else slice(1, 3)
    tolerance = float(config.get("spacing_tolerance", 0.05))
    if not np.allclose(have[axes], trained[axes], rtol=tolerance, atol=0):
        problems.append(
            f"the model in {where} was trained at a voxel spacing of "
            f"{tuple(np.round(trained[axes], 3).tolist())} mm "
            f"({'slice, ' if axes.start == 0 else ''}row, col), the input has "
            f"{tuple(np.round(have[axes], 3).tolist())} mm. Pass resample=True (the "
            "input is resampled to the model's spacing and the output back to the "
            "input's grid) or resample it yourself with i2i_keras.volumes.resample")
    return problems


def translate(volume, model_dir: PathLike, *, spacing_mm: Sequence[float] | None = None,
              resample: bool = False, batch_size: int = 16,
              progress: bool = True) -> Volume:
    """Translate a whole volume with the run saved in ``model_dir``.

    Args:
        volume: a :class:`~i2i_keras.volumes.Volume`, a
            :class:`~i2i_keras.io.DicomImage` (a series), a
            :class:`~i2i_keras.io.NiftiImage` (reordered to (slices, rows, cols)) or an
            array (slices, rows, cols[, channels]) with ``spacing_mm``; physical units.
        model_dir: a folder written by :func:`save_run`.
        spacing_mm: (dz, dy, dx) of an array input.
        resample: put the input on the model's spacing first and the output back
            on the input's grid (linear interpolation); otherwise a spacing that differs
            from training by more than the run's tolerance is refused.
        batch_size, progress: for :func:`i2i_keras.inference.predict_volume`.

    Returns:
        :class:`~i2i_keras.volumes.Volume`: (slices, rows, cols) in the output unit (HU)
        on the input's grid (same affine).

    Raises:
        I2IDataError: the input does not fit the run (channels, spacing, smaller than a
            patch), before any prediction; the message names the fix.
    """
    import keras

    where = str(model_dir)
    config = load_config(model_dir)
    volume = _as_volume(volume, spacing_mm)
    problems = check_input(volume, config, where)
    if problems and not (resample and len(problems) == 1
                         and "spacing" in problems[0]):
        raise I2IDataError("; and ".join(problems))
    work = volume
    if problems:  # the spacing differs and resampling was asked for
        target = list(config["spacing_mm"])
        if config["mode"] != "2.5d":
            target[0] = volume.spacing_mm[0]  # slice by slice: keep the slices as they are
        work = volumes.resample(volume.array, volume.affine, target)
    array = np.asarray(work.array, np.float32)
    if array.ndim == 3:
        array = array[..., None]
    patch = config["patch"]
    inference._check_fits(array.shape[1:3], patch, "input" if work is volume else
                          "input resampled to the run's spacing")
    x = normalise(array, config["input"]["normalisation"])
    model = keras.saving.load_model(Path(model_dir) / MODEL_FILE, safe_mode=True)
    y = inference.predict_volume(x, model, patch, mode=config["mode"],
                                 context=int(config.get("context", 0)),
                                 overlap=float(config.get("overlap", 0.5)),
                                 blend=config.get("blend", "gaussian"), batch_size=batch_size,
                                 align=int(config.get("align", 1)), progress=progress)
    out = denormalise(y[..., 0] if y.shape[-1] == 1 else y, config["output"]["normalisation"])
    if work is not volume:
        return volumes.resample_to(out, work.affine, volume.affine, volume.array.shape[:3])
    return Volume(out, np.asarray(volume.affine, float))
