"""Tutorials run where TensorFlow is not installed (a JAX- or PyTorch-only GPU machine):
the quickstart notebook, quick mode, on JAX and on PyTorch, in a kernel that cannot
import TensorFlow, and the pipelines it uses are then i2i_keras.batches' PyDatasets.

"Cannot import" is made by a ``sitecustomize`` on PYTHONPATH whose import hook raises
ModuleNotFoundError for ``tensorflow`` and its submodules, exactly what an environment
without the package raises; a fresh virtual environment would test the same thing and
cost minutes of installing (tests/test_install.py pays that once, for the floor versions).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKER = '''import importlib.abc
import importlib.machinery
import sys


class NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """TensorFlow is not installed, as far as this process can import: ``import
    tensorflow`` raises ModuleNotFoundError. (``find_spec`` still answers, with a spec of
    no file, because torch._dynamo asks importlib.util.find_spec and takes an error from
    it for a crash; where it then looks for the file it finds none.)"""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)

    def exec_module(self, module):
        raise ModuleNotFoundError(f"No module named {module.__name__!r}")


sys.meta_path.insert(0, NoTensorFlow())
'''


def _env(tmp_path: Path, backend: str) -> dict:
    (tmp_path / "site").mkdir(exist_ok=True)
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "KERAS_BACKEND": backend,
            "I2I_QUICK": "1", "I2I_PRETRAINED": "0", "I2I_DATA_DIR": str(tmp_path / "data"),
            "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_the_hook_really_hides_tensorflow(tmp_path):
    code = ("import importlib.util, keras, sys\n"
            "try:\n    import tensorflow\nexcept ModuleNotFoundError:\n    print('hidden')\n"
            "print(keras.backend.backend(), 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path, "jax"),
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["hidden", "jax", "False"], done.stderr[-2000:]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_quickstart_runs_without_tensorflow(tmp_path, backend):
    out = tmp_path / "out"
    # A copy, so that the kernel works in tmp_path (nbconvert runs it in the notebook's
    # folder): the notebook writes and deletes a file in its folder, as the nbval run of
    # the same notebook does, maybe at the same time in another test worker.
    notebook = shutil.copy(ROOT / "tutorials" / "00_quickstart.ipynb", tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         str(notebook), "--output-dir", str(out), "--ExecutePreprocessor.timeout=600"],
        env=_env(tmp_path, backend), cwd=tmp_path, capture_output=True, text=True,
        timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    cells = json.loads((out / "00_quickstart.ipynb").read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))
    assert f"backend       {backend}" in text
    assert "tensorflow" not in text.split("backend")[0]  # no TensorFlow version in the config
    assert "notebook wall time" in text and "reloaded gives the same output: True" in text
