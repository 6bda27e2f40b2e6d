"""How long the classical baselines take to tune, in one process.

    python benchmarks/baseline_speed.py [--slices 8] [--size 64]

Times ``baselines.tune_denoiser`` for each denoiser on quarter-dose phantom CT slices
and ``BulkDensity.fit`` on MR/CT pairs, the steps every tutorial runs before it can
compare a network with its baseline. (The unit tests check what tuning finds, not how
long it takes: a timed assertion would fail on a slow or busy machine.)
"""

import argparse
import os
import platform
import time

import numpy as np

from i2i_keras import baselines, datasets, phantoms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slices", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    a = p.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; {a.slices} slices of {a.size}²")
    heads = [phantoms.head_slice(a.size, seed=s, z=0.1) for s in range(a.slices)]
    clean = np.stack([h.hu for h in heads])
    noisy = np.stack([h.ct(noise_hu=40.0, seed=s) for s, h in enumerate(heads)])
    for method in sorted(baselines.DENOISERS):
        start = time.perf_counter()
        best, _ = baselines.tune_denoiser(method, noisy, clean, (-160.0, 240.0))
        print(f"tune_denoiser({method!r}): {time.perf_counter() - start:6.2f} s -> {best}")
    pairs = phantoms.mr_ct_pairs(range(a.slices), 4, size=a.size, progress=False)
    start = time.perf_counter()
    rule = baselines.BulkDensity(3).fit(datasets.normalize_mr(pairs["mr"]), pairs["ct"])
    print(f"BulkDensity(3).fit on {len(pairs['mr'])} slices: "
          f"{time.perf_counter() - start:6.2f} s -> {rule}")


if __name__ == "__main__":
    main()
