"""How fast the phantom generator makes registered MR/CT slices, per image size.

    python benchmarks/phantom_speed.py [--sizes 64 128 256] [--slices 200] [--repeat 3]

Prints slices per second for: the anatomy alone (labels + noise-free HU), the full pair
(anatomy + CT with noise + T1-weighted MR), and a domain-randomised pair as
:func:`i2i_keras.domains.randomized_pairs` makes them (a head, or a limb in 30 % of the
patients, at a random scale; MR and CT each with its noise-free twin; a new acquisition
per slice), on one core, in this one process. Each is the median of ``--repeat`` runs,
after a warm-up of each kind (a first call pays for imports and fresh memory); on a shared
machine the runs can differ by a third.
"""

import argparse
import os
import platform
import statistics
import time

from i2i_keras import domains, phantoms


def rate(size: int, slices: int, with_images: bool) -> float:
    start = time.perf_counter()
    for i in range(slices):
        head = phantoms.head_slice(size, seed=i % 50, z=-0.6 + 1.2 * (i % 13) / 12)
        if with_images:
            head.ct(seed=i)
            head.mr("T1", seed=i)
    return slices / (time.perf_counter() - start)


def randomised_rate(size: int, slices: int) -> float:
    patients = max(1, slices // 8)  # 8 slices a patient (head) or limb
    start = time.perf_counter()
    domains.randomized_pairs(range(patients), 8, size=size, progress=False)
    return patients * 8 / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--slices", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the median is shown")
    a = p.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}")
    rate(64, 5, True)  # warm up (imports, the tables, fresh memory) both paths
    randomised_rate(64, 16)
    print(f"{'size':>6} {'anatomy/s':>10} {'MR+CT pair/s':>13} {'randomised pair/s':>18}"
          f"   (median of {a.repeat})")
    for size in a.sizes:
        n = max(20, a.slices * 128 * 128 // (size * size))
        anatomy, pair, randomised = (
            statistics.median(run(size, n, *args) for _ in range(a.repeat))
            for run, args in ((rate, (False,)), (rate, (True,)), (randomised_rate, ())))
        print(f"{size:>6} {anatomy:>10.0f} {pair:>13.0f} {randomised:>18.0f}")


if __name__ == "__main__":
    main()
