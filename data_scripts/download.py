#!/usr/bin/env python
"""Download a real data set for the tutorials (hash-checked, resumable, licence shown first).

    python data_scripts/download.py lodopab|ixi|synthrad2023 [--dest DIR] [--parts ...]
    python data_scripts/download.py synthrad2023 --list

Files go to --dest, else $I2I_DATA_DIR/<name>, else the per-user cache. The registry
(URLs, pinned hashes and where they come from, licences) is i2i_keras/downloads.py.
"""

import sys
from pathlib import Path

try:
    from i2i_keras.downloads import main
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from i2i_keras.downloads import main

if __name__ == "__main__":
    sys.exit(main())
