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

    fit(mr, ct_hu) tunes, by coordinate descent on a grid of intensity quantiles,
    the body threshold and the class thresholds; each class's HU value is the median
    CT number of its pixels, which is the MAE-optimal constant. MR values are as
    given (normalised or not), images (N, H, W).
    """

    def __init__(self, n_classes: int = 3, air_hu: float = -1000.0):
        if n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, got {n_classes}")
        self.n_classes, self.air_hu = n_classes, air_hu
        self.body_threshold: float | None = None
        self.thresholds: np.ndarray | None = None
        self.values_hu: np.ndarray | None = None

    def _assign(self, mr_values: np.ndarray, thresholds) -> np.ndarray:
        return np.searchsorted(np.asarray(thresholds), mr_values)

    def _fit_values(self, mr_v, ct_v, thresholds):
        cls = self._assign(mr_v, thresholds)
        values = np.array([np.median(ct_v[cls == k]) if np.any(cls == k) else 0.0
                           for k in range(self.n_classes)])
        return values, float(np.abs(ct_v - values[cls]).mean())

    def fit(self, mr: np.ndarray, ct_hu: np.ndarray, body_candidates: int = 8,
            grid: int = 40, rounds: int = 3, max_pixels: int = 200_000,
            seed: int = 0) -> BulkDensity:
        """Tune thresholds and HU values to the lowest MAE inside the head on (mr, ct)."""
        mr, ct_hu = np.asarray(mr, np.float64), np.asarray(ct_hu, np.float64)
        if mr.shape != ct_hu.shape:
            raise ValueError(f"mr {mr.shape} and ct {ct_hu.shape} must have the same shape")
        rng = np.random.default_rng(seed)
        best = (np.inf, None, None, None)
        lo, hi = np.percentile(mr, [1, 99])
        for t_body in np.linspace(lo + 0.02 * (hi - lo), lo + 0.3 * (hi - lo), body_candidates):
            body = body_mask_from_mr(mr, t_body)
            # Score over the true head (CT above -500 HU or inside the MR mask): a rule
            # that loses part of the head pays for it.
            region = body | (ct_hu > -500)
            idx = np.flatnonzero(region)
            if len(idx) > max_pixels:
                idx = rng.choice(idx, max_pixels, replace=False)
            mr_v, ct_v, in_body = mr.ravel()[idx], ct_hu.ravel()[idx], body.ravel()[idx]
            cand = np.quantile(mr_v[in_body], np.linspace(0.02, 0.98, grid))
            thresholds = np.quantile(mr_v[in_body], np.linspace(0, 1, self.n_classes + 1)[1:-1])
            for _ in range(rounds):
                for j in range(len(thresholds)):
                    scores = []
                    for c in cand:
                        t = np.sort(np.r_[thresholds[:j], c, thresholds[j + 1:]])
                        scores.append(self._score(mr_v, ct_v, in_body, t))
                    thresholds[j] = cand[int(np.argmin(scores))]
                    thresholds = np.sort(thresholds)
            score = self._score(mr_v, ct_v, in_body, thresholds)
            if score < best[0]:
                values, _ = self._fit_values(mr_v[in_body], ct_v[in_body], thresholds)
                best = (score, t_body, thresholds.copy(), values)
        _, self.body_threshold, self.thresholds, self.values_hu = best
        return self

    def _score(self, mr_v, ct_v, in_body, thresholds) -> float:
        values, _ = self._fit_values(mr_v[in_body], ct_v[in_body], thresholds)
        pred = np.where(in_body, values[self._assign(mr_v, thresholds)], self.air_hu)
        return float(np.abs(pred - ct_v).mean())

    def predict(self, mr: np.ndarray) -> np.ndarray:
        """Synthetic CT in HU, (N, H, W) float32, from MR images (N, H, W)."""
        if self.values_hu is None:
            raise RuntimeError("call fit(mr_val, ct_val) before predict")
        mr = np.asarray(mr, np.float64)
        mr = mr[None] if mr.ndim == 2 else mr
        body = body_mask_from_mr(mr, self.body_threshold)
        pred = self.values_hu[self._assign(mr, self.thresholds)]
        return np.where(body, pred, self.air_hu).astype(np.float32)

    def __repr__(self) -> str:
        if self.values_hu is None:
            return f"BulkDensity(n_classes={self.n_classes}, not fitted)"
        t = ", ".join(f"{v:.3g}" for v in self.thresholds)
        v = ", ".join(f"{v:.0f}" for v in self.values_hu)
        return (f"BulkDensity(body > {self.body_threshold:.3g}; thresholds [{t}]; "
                f"HU [{v}])")
