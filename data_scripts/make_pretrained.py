#!/usr/bin/env python
"""Re-make the pretrained weights that ship with the package: run each tutorial in full
mode, top to bottom, with ``I2I_SAVE_PRETRAINED=1``, so every network it trains is saved
to ``i2i_keras/weights/<tutorial>/`` with its SHA-256 in ``weights/pretrained.json``
(see :mod:`i2i_keras.pretrained`). The notebooks keep the outputs of that run: they are
the committed results that ``I2I_PRETRAINED=1`` then reproduces without training.

    python data_scripts/make_pretrained.py          # all (about an hour on a 2-core CPU)
    python data_scripts/make_pretrained.py 00 03      # some of them

Run it alone on the machine: the tutorials stop training at a time budget, so a busy
machine trains fewer epochs.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("numbers", nargs="*", help="tutorial numbers, e.g. 00 03 (default: all)")
    args = p.parse_args(argv)
    notebooks = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))
    if args.numbers:
        notebooks = [nb for nb in notebooks if nb.name[:2] in args.numbers]
    if not notebooks:
        p.error(f"no tutorial numbered {args.numbers} in {TUTORIALS}")
    env = {**os.environ, "I2I_SAVE_PRETRAINED": "1", "I2I_QUICK": "0", "I2I_PRETRAINED": "0"}
    for nb in notebooks:
        t0 = time.perf_counter()
        print(f"{nb.name}: running in full mode ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                               "--execute", "--inplace", "--ExecutePreprocessor.timeout=-1",
                               str(nb)], env=env, cwd=TUTORIALS)
        if done.returncode != 0:
            print(f"{nb.name} failed (exit {done.returncode}); its weights were not all saved")
            return done.returncode
        print(f"{nb.name}: done in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
