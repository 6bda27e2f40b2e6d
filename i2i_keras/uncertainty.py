"""How sure is a translation? Monte-Carlo dropout, deep ensembles and a calibration report.

A network returns one image however little it knows. Two cheap ways to make it say how
much it varies, both giving a mean image and a standard deviation (SD) per pixel:

* **Monte-Carlo dropout** (Gal & Ghahramani, ICML 2016): keep the dropout layers active
  at prediction time and run ``n`` passes; each pass drops other units, so the passes
  differ most where the network's answer hangs on a few of them. :func:`mc_dropout`
  runs the ``n`` passes as one large batch (the input tiled ``n`` times).
* **Deep ensembles** (Lakshminarayanan et al., NeurIPS 2017): train ``k`` networks from
  different random seeds and look at their spread (:func:`train_ensemble`,
  :class:`Ensemble`). They disagree where the data did not pin the answer down.

Neither SD is the error. :func:`calibration_report` measures how well it ranks the
error: the Spearman correlation of SD and absolute error per pixel, the error in bins
of predicted SD (a calibrated SD equals the RMSE of its bin), and the *sparsification*
curve (Ilg et al., ECCV 2018): remove the pixels the model is least sure of, a growing
fraction at a time, and watch the mean error of the rest. Removing them at random
leaves it flat (1 after normalising); removing the truly worst pixels first (the
*oracle*) is the best any SD could do. The area between the model's curve and the
oracle's (AUSE) is 0 for a perfect ranking.

Example
-------
>>> import numpy as np
>>> from i2i_keras import uncertainty
>>> rng = np.random.default_rng(0)
>>> sd = rng.uniform(1, 10, 10_000)              # predicted SD of each pixel (HU)
>>> error = sd * rng.standard_normal(10_000)     # errors that follow it
>>> r = uncertainty.calibration_report(sd, error)
>>> r.spearman > 0.3, r.area_model < r.area_random, r.area_oracle <= r.area_model
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

Transform = Callable[[np.ndarray], np.ndarray] | None


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of a model, nested models included."""
    out = []
    for layer in model.layers:
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_all_layers(layer))
    return out


def dropout_layers(network: keras.Model) -> list[keras.layers.Layer]:
    """The dropout layers of ``network`` with a rate above 0 (nested models included)."""
    return [layer for layer in _all_layers(network)
            if isinstance(layer, keras.layers.Dropout) and float(layer.rate) > 0]


def _check_mc_network(network: keras.Model) -> list[keras.layers.Layer]:
    drops = dropout_layers(network)
    if not drops:
        raise ValueError(f"{network.name} has no dropout layer with a rate above 0, so "
                         "Monte-Carlo dropout would return the same image n times (SD 0). "
                         "Build it with dropout, e.g. models.unet(..., dropout=0.2), and "
                         "train it that way")
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in _all_layers(network)):
        raise ValueError(f"{network.name} has batch normalisation: in the training mode that "
                         "Monte-Carlo dropout needs, it would normalise with the statistics of "
                         "the batch of passes (and update its running averages). Use "
                         "norm='instance' or norm='none' for a network meant for MC dropout")
    return drops


def _reseed(drops: list[keras.layers.Layer], seed: int) -> None:
    """Restart each dropout layer's random stream from ``seed`` (reproducible passes)."""
    for i, layer in enumerate(drops):
        state = layer.seed_generator.state
        state.assign(np.array([seed * 1009 + i, 0], dtype=state.dtype))
    if keras.backend.backend() == "torch":  # Keras' torch dropout of a layer built without
        import torch  # a seed draws from torch's global generator instead of its own

        torch.manual_seed(seed)


def _mean_sd(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample SD (ddof 1) over axis 0, in float64 then float32."""
    s = samples.astype(np.float64)
    return s.mean(0).astype(np.float32), s.std(0, ddof=1).astype(np.float32)


def mc_dropout(network: keras.Model, x: np.ndarray, n: int = 20, batch_size: int = 64,
               transform: Transform = None, seed: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo dropout: ``n`` passes with dropout on → (mean, SD) per output pixel.

    Args:
        network: a Keras model with dropout (e.g. ``models.unet(..., dropout=0.2)``) and
            no batch normalisation (refused: see the error). Only the dropout layers are
            random at prediction; ``network(x, training=True)`` is what is run.
        x: inputs (N, H, W, C) as the network takes them.
        n: passes (at least 2). The SD's own relative error is about 1/sqrt(2(n-1)):
            n = 20 gives it to ±16 %.
        batch_size: images in one forward call; each call holds batch_size // n inputs
            tiled n times (at least one input).
        transform: applied to every pass before the statistics, e.g. a window's
            ``denormalize`` so mean and SD come out in HU.
        seed: restart the dropout layers' random streams (same seed, same passes).

    Returns:
        (mean, sd), each (N, H, W, C_out) float32; sd is the sample SD (ddof 1).

    >>> import numpy as np
    >>> from i2i_keras import models
    >>> net = models.unet((16, 16, 1), depth=2, base_filters=4, norm="none", dropout=0.5)
    >>> mean, sd = mc_dropout(net, np.ones((3, 16, 16, 1), "float32"), n=8, seed=0)
    >>> mean.shape, bool((sd > 0).any())
    ((3, 16, 16, 1), True)
    """
    if n < 2:
        raise ValueError(f"n must be at least 2 passes to give an SD, got {n}")
    drops = _check_mc_network(network)
    if seed is not None:
        _reseed(drops, seed)
    x = np.asarray(x, dtype="float32")
    per_call = max(1, batch_size // n)
    means, sds = [], []
    for start in range(0, len(x), per_call):
        chunk = x[start:start + per_call]
        tiled = np.repeat(chunk[None], n, axis=0).reshape(-1, *chunk.shape[1:])
        out = keras.ops.convert_to_numpy(network(tiled, training=True))
        out = out.reshape(n, len(chunk), *out.shape[1:])
        if transform is not None:
            out = np.stack([transform(o) for o in out])
        mean, sd = _mean_sd(out)
        means.append(mean)
        sds.append(sd)
    return np.concatenate(means), np.concatenate(sds)


@dataclass
class Ensemble:
    """Networks of one architecture trained from different seeds; :meth:`predict` gives
    their mean and spread. ``networks``: the trained Keras models."""

    networks: list

    def predict(self, x: np.ndarray, batch_size: int = 32,
                transform: Transform = None) -> tuple[np.ndarray, np.ndarray]:
        """(mean, SD) over the members' predictions of ``x`` (N, H, W, C), each
        (N, H, W, C_out) float32 (SD with ddof 1; ``transform`` as in :func:`mc_dropout`).
        Dropout, if any, is off: each member is deterministic."""
        if len(self.networks) < 2:
            raise ValueError(f"an ensemble needs at least 2 networks, got {len(self.networks)}")
        outs = []
        for net in self.networks:
            out = net.predict(np.asarray(x, "float32"), batch_size=batch_size, verbose=0)
            outs.append(out if transform is None else transform(out))
        return _mean_sd(np.stack(outs))


def train_ensemble(build: Callable[[int], keras.Model],
                   train: Callable[[keras.Model, int], object],
                   seeds: Sequence[int] = (0, 1, 2)) -> Ensemble:
    """Deep ensemble: for each seed, seed Keras, ``build(seed)`` a network and
    ``train(network, seed)`` it. Returns the :class:`Ensemble` of the trained networks.

    The members differ only by their random start (and the order of their batches if
    ``train`` draws it from the seed), which is what makes their spread an uncertainty.

    >>> import numpy as np
    >>> from i2i_keras import models
    >>> build = lambda s: models.unet((8, 8, 1), depth=1, base_filters=2, norm="none")
    >>> ens = train_ensemble(build, lambda net, s: None, seeds=(0, 1))
    >>> mean, sd = ens.predict(np.ones((1, 8, 8, 1)))
    >>> bool(sd.max() > 0)    # two seeds, two different (here untrained) networks
    True
    """
    networks = []
    for seed in seeds:
        keras.utils.set_random_seed(int(seed))
        net = build(int(seed))
        train(net, int(seed))
        networks.append(net)
    return Ensemble(networks)


# --------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------


@dataclass
class CalibrationReport:
    """How well a predicted SD ranks and sizes the true error (see the module notes).

    bin_sd, bin_rmse, bin_count: per bin of equal pixel count, in increasing SD: mean
    predicted SD, RMSE of the error, pixels (units of the images, e.g. HU).
    spearman: rank correlation of SD and absolute error (1 = same order, 0 = none).
    fractions: share of pixels removed (most uncertain first); sparsification,
    oracle: the mean absolute error of the rest over that of all pixels, removing by SD
    and by the true error. area_model, area_oracle, area_random: areas under the
    curves over ``fractions`` (random removal keeps the curve at 1). ause: area_model -
    area_oracle (0 = perfect ranking).
    """

    bin_sd: np.ndarray
    bin_rmse: np.ndarray
    bin_count: np.ndarray
    spearman: float
    fractions: np.ndarray
    sparsification: np.ndarray
    oracle: np.ndarray
    area_model: float
    area_oracle: float
    area_random: float

    @property
    def ause(self) -> float:
        return self.area_model - self.area_oracle

    def __str__(self) -> str:
        rows = [f"{'mean SD':>10s} {'RMSE':>10s} {'pixels':>8s}"]
        rows += [f"{s:10.2f} {e:10.2f} {c:8d}"
                 for s, e, c in zip(self.bin_sd, self.bin_rmse, self.bin_count)]
        rows.append(f"Spearman(SD, |error|) = {self.spearman:.3f}; sparsification area "
                    f"{self.area_model:.3f} (oracle {self.area_oracle:.3f}, random "
                    f"{self.area_random:.3f}); AUSE {self.ause:.3f}")
        return "\n".join(rows)


def _curve(order_key: np.ndarray, abs_error: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Mean |error| of the pixels left after removing the ``fraction`` with the largest
    ``order_key``, over the mean of all: exact, from one sort and a cumulative sum."""
    order = np.argsort(-order_key, kind="stable")
    tail = np.cumsum(abs_error[order][::-1])[::-1]  # tail[m] = sum of all but the first m
    n = len(abs_error)
    removed = np.minimum((fractions * n).astype(int), n - 1)
    return (tail[removed] / (n - removed)) / (tail[0] / n)


def _area(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoidal area under y(x) (NumPy 1 and 2 name the function differently)."""
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two arrays of equal size (flattened; scipy's)."""
    from scipy.stats import spearmanr  # ties handled by average ranks

    return float(spearmanr(np.ravel(a), np.ravel(b)).statistic)


def calibration_report(sd: np.ndarray, error: np.ndarray, mask: np.ndarray | None = None,
                       bins: int = 10, fractions: np.ndarray | None = None
                       ) -> CalibrationReport:
    """Calibration of a predicted SD against the true error, over the pixels of ``mask``.

    Args:
        sd: predicted SD per pixel (any shape, e.g. (N, H, W)), in the images' unit.
        error: prediction - truth, same shape and unit (its sign is ignored where only
            its size matters).
        mask: pixels to use (e.g. the body); all if None.
        bins: bins of equal pixel count along the SD.
        fractions: shares of pixels removed for the sparsification curve
            (default 0, 0.02, ..., 0.98).

    Returns:
        A :class:`CalibrationReport`; ``print`` it for the table.
    """
    sd, error = np.asarray(sd, np.float64), np.asarray(error, np.float64)
    if sd.shape != error.shape:
        raise ValueError(f"sd {sd.shape} and error {error.shape} must have the same shape")
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, bool), sd.shape)
        sd, error = sd[mask], error[mask]
    sd, error = sd.ravel(), error.ravel()
    if len(sd) < bins:
        raise ValueError(f"{len(sd)} pixels are too few for {bins} bins")
    if not (np.isfinite(sd).all() and np.isfinite(error).all()):
        raise ValueError("sd and error must be finite (NaN or Inf found)")
    fractions = np.arange(0, 0.99, 0.02) if fractions is None else np.asarray(fractions)
    order = np.argsort(sd, kind="stable")
    groups = np.array_split(order, bins)
    abs_error = np.abs(error)
    model = _curve(sd, abs_error, fractions)
    oracle = _curve(abs_error, abs_error, fractions)
    return CalibrationReport(
        bin_sd=np.array([sd[g].mean() for g in groups]),
        bin_rmse=np.array([np.sqrt(np.mean(error[g] ** 2)) for g in groups]),
        bin_count=np.array([len(g) for g in groups]),
        spearman=spearman(sd, abs_error),
        fractions=fractions, sparsification=model, oracle=oracle,
        area_model=_area(model, fractions), area_oracle=_area(oracle, fractions),
        area_random=float(fractions[-1] - fractions[0]))
