"""Figures: image panels with a stated window/level, difference maps, training curves,
and a callback that shows a sample grid while a network trains.

CT is always shown through a window in HU (see :data:`i2i_keras.io.WINDOWS`); MR,
which has no unit, is scaled to its own 1st-99th percentile.

Example
-------
>>> fig = panel(mr, sct_hu, ct_hu, titles=("MR", "synthetic CT", "CT"))  # doctest: +SKIP
"""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np

from .io import window_limits


def _show(ax, image, window=None, title: str = "", cmap: str = "gray", unit: str = "HU"):
    """One image: through a window (level, width in ``unit``, or a CT preset name), or,
    with window None, scaled to its own 1st-99th percentile."""
    image = np.asarray(image, dtype=np.float32)
    if window is None:
        vmin, vmax = np.percentile(image, [1, 99])
        label = ""
    else:
        vmin, vmax = window_limits(window)
        label = f"\n[{vmin:g}, {vmax:g}] {unit}"
    im = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title + label, fontsize=9)
    ax.axis("off")
    return im


def panel(inputs, outputs, targets, titles=("input", "output", "target"),
          window="head", input_window=None, diff_range: float = 300.0, rows: int | None = None,
          zoom: tuple[slice, slice] | None = None):
    """Rows of input | output | target | output - target, for image stacks (N, H, W).

    window: CT window for output and target (a preset name or (level, width) in HU).
    input_window: None for MR (percentile scaling) or a window if the input is CT.
    diff_range: the difference map's colour scale, ±diff_range HU (red: too dense).
    zoom: optional (row slice, column slice) to crop every image, for details.
    Returns the matplotlib Figure.
    """
    inputs, outputs, targets = (np.asarray(a) for a in (inputs, outputs, targets))
    if inputs.ndim == 2:
        inputs, outputs, targets = inputs[None], outputs[None], targets[None]
    n = len(inputs) if rows is None else min(rows, len(inputs))
    crop = zoom or (slice(None), slice(None))
    fig, axes = plt.subplots(n, 4, figsize=(11, 2.9 * n), squeeze=False)
    for i in range(n):
        _show(axes[i, 0], inputs[i][crop], input_window, titles[0])
        _show(axes[i, 1], outputs[i][crop], window, titles[1])
        _show(axes[i, 2], targets[i][crop], window, titles[2])
        im = axes[i, 3].imshow((outputs[i] - targets[i])[crop], cmap="RdBu_r",
                               vmin=-diff_range, vmax=diff_range, interpolation="nearest")
        axes[i, 3].set_title(f"{titles[1]} - {titles[2]}\n±{diff_range:g} HU", fontsize=9)
        axes[i, 3].axis("off")
    fig.colorbar(im, ax=axes[:, 3].tolist(), shrink=0.8, label="HU")
    return fig


def compare(images: dict[str, np.ndarray], window="head", zoom=None, ncols: int | None = None,
            unit: str = "HU"):
    """Several methods' results for one slice side by side, each titled by its key.

    images: {"MR": mr, "bulk density": ..., "pix2pix": ..., "CT": ...}; entries
    whose key starts with "MR" are scaled by percentiles, the rest use ``window`` (a CT
    preset name, or (level, width) in ``unit``: give MR results one common window to
    compare them fairly, e.g. ``window=(0.5, 1.0), unit="a.u."``).
    """
    keys = list(images)
    ncols = ncols or len(keys)
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.8 * ncols, 2.9 * nrows), squeeze=False)
    crop = zoom or (slice(None), slice(None))
    for ax, k in zip(axes.ravel(), keys):
        _show(ax, np.asarray(images[k])[crop], None if k.startswith("MR") else window, k,
              unit=unit)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_history(history, keys=None):
    """Training curves from ``fit``'s History (or its dict): one axis per metric, with
    the validation curve beside the training one where there is one."""
    h = history.history if hasattr(history, "history") else dict(history)
    keys = keys or [k for k in h if not k.startswith("val_") and k != "learning_rate"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    for ax, k in zip(axes[0], keys):
        ax.plot(np.arange(1, len(h[k]) + 1), h[k], label="train")
        if f"val_{k}" in h:
            ax.plot(np.arange(1, len(h[f"val_{k}"]) + 1), h[f"val_{k}"], label="validation")
            ax.legend(fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_title(k, fontsize=10)
    fig.tight_layout()
    return fig


class SampleGrid(keras.callbacks.Callback):
    """Show (or save) input | output | target for a few fixed images every ``every``
    epochs, so you watch the network learn.

    x, y: (n, H, W, C) normalised images. to_physical: maps network values to HU for
    display (e.g. ``CT_WINDOW.denormalize``). path: save to this PNG ("{epoch}" is
    filled in) instead of showing; in a notebook leave it None.
    """

    def __init__(self, x, y, to_physical, every: int = 5, window="head", path=None):
        super().__init__()
        self.x, self.y, self.to_physical = np.asarray(x), np.asarray(y), to_physical
        self.every, self.window, self.path = every, window, path

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        out = self.to_physical(self.model.predict(self.x, verbose=0)[..., 0])
        fig = panel(self.x[..., 0], out, self.to_physical(self.y[..., 0]),
                    titles=("input", f"output, epoch {epoch + 1}", "target"),
                    window=self.window)
        if self.path:
            fig.savefig(str(self.path).format(epoch=epoch + 1), dpi=80, bbox_inches="tight")
            plt.close(fig)
        else:
            plt.show()
