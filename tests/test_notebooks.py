"""What a student sees when opening a notebook: a badge that opens it in Colab, a first
cell that installs the package from the project's one repository URL, a configuration
block, and no TensorFlow start-up noise or red progress bars in the committed outputs.
(tests/test_install.py runs a notebook alone in a fresh environment.)"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from i2i_keras import environment

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb"))
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def _cells(nb: Path) -> list[dict]:
    return json.loads(nb.read_text())["cells"]


def _text(output: dict) -> str:
    if "text" in output:
        return "".join(output["text"])
    return "".join("".join(v) for k, v in output.get("data", {}).items() if k == "text/plain")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_install_cell_use_the_one_repository_url(nb):
    cells = _cells(nb)
    colab = REPO_URL.replace("https://github.com/", "https://colab.research.google.com/github/")
    assert f"({colab}/blob/main/tutorials/{nb.name})" in "".join(cells[0]["source"])
    first_code = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    assert f'REPO_URL = "{REPO_URL}"' in first_code
    assert 'os.environ.get("I2I_REPO_URL", REPO_URL)' in first_code
    assert "importlib.invalidate_caches()" in first_code  # no kernel restart needed


def test_every_notebook_has_the_same_install_cell():
    """It cannot import a shared helper (it installs the package), so it is copied into
    each notebook: the copies must not drift apart."""
    first = {nb.stem: "".join(next(c for c in _cells(nb) if c["cell_type"] == "code")["source"])
             for nb in NOTEBOOKS}
    assert len(set(first.values())) == 1, sorted(first)


def test_install_cell_without_the_repository_says_what_to_run(tmp_path):
    """A classroom behind a proxy: the first cell stops with a message and the two
    commands to run by hand, not a stack trace."""
    cell = "".join(next(c for c in _cells(NOTEBOOKS[0]) if c["cell_type"] == "code")["source"])
    missing = f"file://{tmp_path}/no_such_repository"
    code = ("import importlib.util, sys\n"
            "real = importlib.util.find_spec\n"  # play a kernel without i2i_keras
            "importlib.util.find_spec = lambda n, *a: None if n == 'i2i_keras' else real(n, *a)\n"
            f"try:\n    exec({cell!r})\n"
            "except SystemExit as e:\n    print('STOPPED:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                              "I2I_REPO_URL": missing, "PIP_NO_INDEX": "1"})
    assert "STOPPED: Could not install i2i_keras (" in out.stdout, out.stdout + out.stderr
    assert f"git clone {missing}" in out.stdout and "pip install ./i2i_keras" in out.stdout
    assert "restart the kernel" in out.stdout and "Traceback" not in out.stdout + out.stderr


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_quiet_and_show_the_configuration(nb):
    outputs = [o for c in _cells(nb) if c["cell_type"] == "code" for o in c.get("outputs", [])]
    text = "\n".join(_text(o) for o in outputs)
    noisy = [line for line in text.splitlines() if environment.is_start_up_noise(line)
             or re.search(r"cuInit|oneDNN custom operations|absl::InitializeLog", line)]
    assert not noisy, noisy[:3]
    red = [_text(o) for o in outputs if o.get("name") == "stderr" and "it/s" in _text(o)]
    assert not red, "progress bars written to standard error show as red in a notebook"
    assert re.search(r"^keras\s+3\.", text, re.M) and re.search(r"^backend\s+\w+", text, re.M)


def test_quiet_start_hides_tensorflow_start_up_notes_only():
    code = ("import sys, i2i_keras as i2i\n"
            "i2i.environment.quiet_start()\n"
            "import tensorflow as tf\n"
            "print(tf.reduce_sum(tf.ones(3)).numpy())\n"
            "print('a real warning', file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert out.stdout.strip() == "3.0"
    assert out.stderr.strip() == "a real warning"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_full_run_carries_no_failed_claim(nb):
    """A notebook's claim checks (i2i_keras.claims.check) print CLAIM HOLDS or CLAIM FAILS;
    the committed outputs are a full run's, where every stated claim must hold."""
    outputs = [o for c in _cells(nb) if c["cell_type"] == "code" for o in c.get("outputs", [])]
    text = "\n".join(_text(o) for o in outputs)
    assert "quick mode:" not in text, "the committed outputs are a quick run's"
    failed = [line for line in text.splitlines() if line.startswith("CLAIM FAILS")]
    assert not failed, failed


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_a_student_reads_fits_a_screen(nb):
    """Cells of about 30 lines (DESIGN.md); 40 is where one has grown past that. Collapsed
    cells (the exercises' solutions) are read on demand and may be longer."""
    long = {i: len(c["source"] if isinstance(c["source"], list) else c["source"].splitlines())
            for i, c in enumerate(_cells(nb)) if c["cell_type"] == "code"
            and not c.get("metadata", {}).get("jupyter", {}).get("source_hidden")}
    assert all(n <= 40 for n in long.values()), {i: n for i, n in long.items() if n > 40}
