"""Classical baselines that each network must beat, tuned on the validation split.

:class:`BulkDensity` is the rule MR-only radiotherapy planning used before networks:
segment the MR by intensity thresholds and give each class one CT number. Its
thresholds and HU values are tuned to the lowest MAE on the data it is fitted to
(the validation split, never the test split), so the comparison is fair to it.

Example
-------
>>> rule = BulkDensity(n_classes=3).fit(mr_val, ct_val_hu)          # doctest: +SKIP
>>> sct = rule.predict(mr_test)                                     # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def body_mask_from_mr(mr: np.ndarray, threshold: float) -> np.ndarray:
    """Head mask from MR alone: signal above ``threshold``, holes filled (the dark
    skull and sinuses inside the bright scalp belong to the body). (N, H, W) bool."""
    mr = np.asarray(mr)
    mr = mr[None] if mr.ndim == 2 else mr
    out = np.empty(mr.shape, bool)
    for i, m in enumerate(mr):
        fg = ndimage.binary_opening(m > threshold, iterations=1)
        out[i] = ndimage.binary_fill_holes(fg)
    return out


class BulkDensity:
    """Threshold the MR into ``n_classes`` intensity classes inside the head and give
    each class one CT number (HU); outside the head, air (-1000 HU).

    fit(mr, ct_hu) tunes everything for the lowest MAE over the head on the data it is
    given: for each candidate head-mask threshold, the class thresholds are the best
    partition of ``grid`` intensity quantiles into contiguous classes, found exactly by
    dynamic programming over a joint MR-quantile x HU histogram; each class's value is
    the median CT number of its pixels (the MAE-optimal constant). MR values are used
    as given (normalised or not), images (N, H, W).
    """

    def __init__(self, n_classes: int = 3, air_hu: float = -1000.0):
        if n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, got {n_classes}")
        self.n_classes, self.air_hu = n_classes, air_hu
        self.body_threshold: float | None = None
        self.thresholds: np.ndarray | None = None
        self.values_hu: np.ndarray | None = None

    def fit(self, mr: np.ndarray, ct_hu: np.ndarray, body_candidates: int = 8,
            grid: int = 48, hu_bin: float = 5.0) -> BulkDensity:
        """Tune thresholds and HU values to the lowest MAE inside the head on (mr, ct)."""
        mr, ct_hu = np.asarray(mr, np.float64), np.asarray(ct_hu, np.float64)
        if mr.shape != ct_hu.shape:
            raise ValueError(f"mr {mr.shape} and ct {ct_hu.shape} must have the same shape")
        lo, hi = np.percentile(mr, [1, 99])
        head = np.stack([ndimage.binary_fill_holes(c > -500) for c in ct_hu.reshape(
            (-1,) + ct_hu.shape[-2:])]).reshape(ct_hu.shape)
        best = (np.inf, None, None)
        for t_body in lo + (hi - lo) * np.linspace(0.02, 0.3, body_candidates):
            body = body_mask_from_mr(mr, t_body)
            # Total error over the head as the CT shows it (a fixed set of pixels), plus
            # the error on background that the MR mask wrongly calls head.
            outside_cost = np.abs(ct_hu[head & ~body] - self.air_hu).sum()
            mr_v, ct_v = mr[body], ct_hu[body]
            edges = np.unique(np.quantile(mr_v, np.linspace(0, 1, grid + 1)[1:-1]))
            cost, cuts = _best_partition(np.searchsorted(edges, mr_v), len(edges) + 1, ct_v,
                                         self.n_classes, hu_bin)
            score = (cost + outside_cost) / head.sum()
            if score < best[0]:
                best = (score, t_body, edges[np.asarray(cuts, int) - 1])
        _, self.body_threshold, self.thresholds = best
        body = body_mask_from_mr(mr, self.body_threshold)
        cls = np.searchsorted(self.thresholds, mr[body])
        self.values_hu = np.array([np.median(ct_hu[body][cls == k]) if np.any(cls == k)
                                   else self.air_hu for k in range(len(self.thresholds) + 1)])
        return self

    def predict(self, mr: np.ndarray) -> np.ndarray:
        """Synthetic CT in HU, (N, H, W) float32, from MR images (N, H, W)."""
        if self.values_hu is None:
            raise RuntimeError("call fit(mr_val, ct_val) before predict")
        mr = np.asarray(mr, np.float64)
        mr = mr[None] if mr.ndim == 2 else mr
        body = body_mask_from_mr(mr, self.body_threshold)
        pred = self.values_hu[np.searchsorted(self.thresholds, mr)]
        return np.where(body, pred, self.air_hu).astype(np.float32)

    def __repr__(self) -> str:
        if self.values_hu is None:
            return f"BulkDensity(n_classes={self.n_classes}, not fitted)"
        t = ", ".join(f"{v:.3g}" for v in self.thresholds)
        v = ", ".join(f"{v:.0f}" for v in self.values_hu)
        return (f"BulkDensity(body > {self.body_threshold:.3g}; thresholds [{t}]; "
                f"HU [{v}])")


def _best_partition(bins: np.ndarray, n_bins: int, values: np.ndarray, n_classes: int,
                    value_step: float) -> tuple[float, list[int]]:
    """Split bins 0..n_bins-1 into n_classes contiguous runs minimising the total
    absolute deviation of ``values`` from each run's median; exact, by dynamic
    programming on a (bin x value) histogram with ``value_step`` resolution.
    Returns (cost, the first bin of each run after the first)."""
    v_lo = values.min()
    v_idx = ((values - v_lo) / value_step).astype(int)
    n_v = v_idx.max() + 1
    hist = np.bincount(bins * n_v + v_idx, minlength=n_bins * n_v).reshape(n_bins, n_v)
    prefix = np.concatenate([np.zeros((1, n_v)), np.cumsum(hist, axis=0)])
    centres = v_lo + (np.arange(n_v) + 0.5) * value_step
    # cost[a, b]: bins a..b-1 as one class (inf unless a < b).
    runs = prefix[None, :, :] - prefix[:, None, :]  # (a, b, value)
    cum = np.cumsum(runs, axis=2)
    total = cum[..., -1:]
    median = centres[np.argmax(cum >= total / 2, axis=2)]
    cost = (runs * np.abs(centres[None, None, :] - median[..., None])).sum(axis=2)
    a, b = np.meshgrid(np.arange(n_bins + 1), np.arange(n_bins + 1), indexing="ij")
    cost[(a >= b) | (total[..., 0] == 0)] = np.inf
    k_max = min(n_classes, n_bins)
    best = np.full((k_max + 1, n_bins + 1), np.inf)
    best[0, 0] = 0.0
    arg = np.zeros((k_max + 1, n_bins + 1), int)
    for k in range(1, k_max + 1):
        total_k = best[k - 1][:, None] + cost  # (a, b)
        arg[k] = np.argmin(total_k, axis=0)
        best[k] = total_k[arg[k], np.arange(n_bins + 1)]
    k = int(np.argmin(best[1:, n_bins])) + 1  # fewer classes if more cannot help
    cuts, b = [], n_bins
    for kk in range(k, 0, -1):
        b = arg[kk, b]
        cuts.append(b)
    return float(best[k, n_bins]), sorted(cuts)[1:]
