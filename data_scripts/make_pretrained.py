#!/usr/bin/env python
"""Re-make the pretrained weights that ship with the package: run each tutorial in full
mode, top to bottom, with ``I2I_SAVE_PRETRAINED=1``, so every network it trains is saved
to ``i2i_keras/weights/<tutorial>/`` with its SHA-256 in ``weights/pretrained.json``
(see :mod:`i2i_keras.pretrained`). The notebooks keep the outputs of that run: they are
the committed results that ``I2I_PRETRAINED=1`` then reproduces without training, and
README.md's results tables and minutes are rewritten from them.

    python data_scripts/make_pretrained.py          # all (about an hour on a 2-core CPU)
    python data_scripts/make_pretrained.py 00 03      # some of them

It is ``python -m i2i_keras.tutorials run [numbers] --mode full`` (see that module).
Run it alone on the machine: a busy machine runs slower, and the minutes it records are
then not the notebook's.
"""

import argparse
import sys

from i2i_keras import tutorials


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("numbers", nargs="*", help="tutorial numbers, e.g. 00 03 (default: all)")
    args = p.parse_args(argv)
    return tutorials.run(args.numbers, "full")


if __name__ == "__main__":
    sys.exit(main())
