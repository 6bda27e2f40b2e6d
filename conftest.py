"""Test settings shared by the unit tests and the notebook runs (nbval).

Notebooks run in quick mode: the kernels nbval starts inherit this environment.
"""

import os

os.environ.setdefault("I2I_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

# The doctests of the library run (--doctest-modules); the tutorials' paired .py files
# (jupytext) would run whole notebooks on import, and run as notebooks instead (nbval);
# the workers are scripts that tests/test_*.py start in processes of their own.
collect_ignore_glob = ["tutorials/*.py", "tutorials/solutions/*.py", "tests/*_worker.py"]
