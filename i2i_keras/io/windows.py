"""Window/level presets for showing CT in HU: :data:`WINDOWS`, :func:`window_limits`,
:func:`apply_window`.

A window (level L, width W) maps the HU range [L - W/2, L + W/2] to black..white; HU
outside it are clipped. :mod:`i2i_keras.viz` shows every CT through one of these.
"""

from __future__ import annotations

import numpy as np

# (level, width) in HU. Sources: common radiology presets (e.g. Radiopaedia "windowing (CT)").
WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "soft_tissue": (40.0, 400.0),
    "abdomen": (60.0, 400.0),
    "bone": (400.0, 1800.0),
    "lung": (-600.0, 1500.0),
    "head": (100.0, 2400.0),  # whole head, air to cortical bone in one view
}


def window_limits(window: str | tuple[float, float]) -> tuple[float, float]:
    """(vmin, vmax) in HU for a preset name or a (level, width) pair in HU.

    >>> window_limits("brain")
    (0.0, 80.0)
    >>> window_limits((40, 400))
    (-160.0, 240.0)
    """
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}; choose one of {sorted(WINDOWS)} "
                             "or pass (level, width) in HU")
        level, width = WINDOWS[window]
    else:
        level, width = window
    return float(level - width / 2), float(level + width / 2)


def apply_window(image_hu: np.ndarray, window: str | tuple[float, float]) -> np.ndarray:
    """Map HU to [0, 1] display values through a window (clipped outside it).

    Args:
        image_hu: array of any shape, in HU.
        window: preset name (see :data:`WINDOWS`) or (level, width) in HU.

    Returns:
        float32 array of the same shape, 0 at the window's lower limit, 1 at its upper.

    >>> apply_window(np.array([-1000.0, 40.0, 1000.0]), "brain")
    array([0. , 0.5, 1. ], dtype=float32)
    """
    lo, hi = window_limits(window)
    return np.clip((np.asarray(image_hu, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
