"""A student's set-up: the oldest TensorFlow/Keras we support, and a notebook opened alone.

What Colab (or a fresh JupyterLab) gives a student is played here from scratch:

1. a fresh venv (in pytest's temporary folder; pip's own cache is reused) gets ONLY the
   floor versions ``tensorflow==2.20.0`` and ``keras==3.13.2`` from PyPI, plus papermill
   and ipykernel, and a kernelspec of its own (so the kernel is surely this venv's python);
2. the repository is snapshot into a temporary git repository with one commit: the files
   git tracks plus the untracked ones it does not ignore, *as they are in the working tree*,
   so uncommitted work is tested too (deleted files are left out);
3. ``tutorials/00_quickstart.ipynb`` is copied alone into an empty folder and run there by
   papermill in quick mode, with ``I2I_REPO_URL=file://<snapshot>``: its first cell must
   install ``i2i_keras @ git+file://<snapshot>`` (a normal, non-editable install);
4. pip's own report (``pip list --format json``) must show the same tensorflow and keras
   before and after that install, the installed package must hold every module and the
   shipped weights, the weights must load on the floor Keras, and
   ``python -m i2i_keras.quickstart --quick`` must run in that venv.

Marked ``install`` (tests/conftest.py): ``pytest -m "not install"`` leaves it out. It skips
when pip cannot see the floor versions on PyPI (no network, or a Python they have no wheel
for). It takes a few minutes: most of it downloads and installs TensorFlow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = Path("tutorials") / "00_quickstart.ipynb"
# The oldest releases the project works with (measured; pyproject.toml's floors).
FLOOR = {"tensorflow": "2.20.0", "keras": "3.13.2"}
KERNEL = "i2i-floor-venv"


def _run(cmd, *, timeout, **kwargs):
    """Run a command, stdout and stderr together, never raising on a non-zero exit."""
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, **kwargs)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _pypi_lists_floor() -> str | None:
    """None when pip sees every floor version on an index; else why the test must skip."""
    for name, version in FLOOR.items():
        out = _run([sys.executable, "-m", "pip", "index", "versions", name,
                    "--timeout", "15", "--retries", "1"], timeout=120)
        listed = [line.split(":", 1)[1] for line in out.stdout.splitlines()
                  if line.startswith("Available versions:")]
        if not listed or version not in [v.strip() for v in listed[0].split(",")]:
            return (f"pip cannot see {name}=={version} for Python "
                    f"{sys.version_info.major}.{sys.version_info.minor} (is PyPI reachable?): "
                    f"{_tail(out.stdout, 1)}")
    return None


def _versions(python: Path) -> dict[str, str]:
    out = _run([python, "-m", "pip", "list", "--format", "json"], timeout=120)
    assert out.returncode == 0, out.stdout
    start = out.stdout.index("[")  # pip may print warnings before the JSON
    return {p["name"].lower(): p["version"] for p in json.loads(out.stdout[start:])}


def _snapshot(dest: Path) -> None:
    """The working tree (tracked + untracked, not ignored) as a git repository of one commit."""
    listed = _run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                   "--exclude-standard"], timeout=60)
    assert listed.returncode == 0, listed.stdout
    for rel in filter(None, listed.stdout.split("\0")):
        src = ROOT / rel
        if src.is_file():  # a tracked file deleted in the working tree is left out
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-C", dest, "-c", "user.name=i2i tests", "-c", "user.email=tests@localhost"]
    for cmd in (["init", "-q"], ["add", "-A", "-f", "."], ["commit", "-q", "-m", "snapshot"]):
        done = _run(git + cmd, timeout=120)
        assert done.returncode == 0, done.stdout


def _env(venv: Path, **extra: str) -> dict[str, str]:
    """This process's environment without what would leak the repository or its venv in."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KERAS_BACKEND",
                        "JUPYTER_PATH", "PYTEST_CURRENT_TEST"}}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


@pytest.fixture(scope="module")
def floor(tmp_path_factory):
    """Build the venv, snapshot the repository, run the lone notebook; keep what was seen."""
    if shutil.which("git") is None or _run(["git", "-C", ROOT, "rev-parse"],
                                           timeout=60).returncode != 0:
        pytest.skip("needs git and a git checkout of the repository")
    why = _pypi_lists_floor()
    if why:
        pytest.skip(why)

    tmp = tmp_path_factory.mktemp("install")
    venv, snapshot, lone = tmp / "venv", tmp / "i2i_keras_snapshot", tmp / "lone"
    snapshot.mkdir()
    lone.mkdir()
    _snapshot(snapshot)
    shutil.copy2(snapshot / NOTEBOOK, lone / NOTEBOOK.name)

    made = _run([sys.executable, "-m", "venv", venv], timeout=300)
    assert made.returncode == 0, made.stdout
    python = venv / "bin" / "python"
    env = _env(venv)
    for cmd in ([python, "-m", "pip", "install", "-q", "--upgrade", "pip"],
                [python, "-m", "pip", "install", "-q", *[f"{n}=={v}" for n, v in FLOOR.items()],
                 "papermill", "ipykernel"],
                [python, "-m", "ipykernel", "install", "--prefix", venv, "--name", KERNEL]):
        done = _run(cmd, timeout=1200, env=env, cwd=tmp)
        assert done.returncode == 0, f"{cmd} failed:\n{_tail(done.stdout)}"
    before = _versions(python)

    executed = lone / "executed.ipynb"
    run_env = _env(venv, I2I_QUICK="1", I2I_REPO_URL=f"file://{snapshot}")
    notebook = _run([python, "-m", "papermill", lone / NOTEBOOK.name, executed, "-k", KERNEL,
                     "--cwd", lone, "--log-output", "--no-progress-bar"],
                    timeout=1500, env=run_env, cwd=lone)
    yield SimpleNamespace(python=python, venv=venv, snapshot=snapshot, lone=lone, env=env,
                          before=before, after=_versions(python), notebook=notebook)
    shutil.rmtree(venv, ignore_errors=True)  # about 2 GB


def test_venv_has_the_floor_versions(floor):
    assert {n: floor.before.get(n) for n in FLOOR} == FLOOR
    assert "i2i-keras" not in floor.before and "i2i_keras" not in floor.before


def test_lone_notebook_installs_i2i_keras_and_runs(floor):
    assert floor.notebook.returncode == 0, (
        f"{NOTEBOOK.name}, alone in {floor.lone}, failed under papermill:\n"
        f"{_tail(floor.notebook.stdout, 80)}")


def test_install_keeps_tensorflow_and_keras(floor):
    assert "i2i-keras" in floor.after or "i2i_keras" in floor.after, "i2i_keras not installed"
    for name in FLOOR:
        assert floor.after.get(name) == floor.before[name], f"{name} was replaced"


def test_installed_package_is_complete(floor):
    """A normal install holds every module (subpackages too) and the shipped weights."""
    where = _run([floor.python, "-c", "import i2i_keras; print(i2i_keras.__file__)"],
                 timeout=300, env=floor.env, cwd=floor.lone)
    assert where.returncode == 0, _tail(where.stdout)
    installed = Path(where.stdout.strip().splitlines()[-1]).parent
    assert installed.is_relative_to(floor.venv), f"imported from {installed}, not the venv"
    source = floor.snapshot / "i2i_keras"
    wanted = [p.relative_to(source) for p in source.rglob("*")
              if p.suffix in {".py", ".keras", ".h5", ".json"} and "__pycache__" not in p.parts]
    assert (Path("weights") / "feature_net.keras") in wanted
    missing = [str(p) for p in wanted if not (installed / p).is_file()]
    assert not missing, f"the installed package lacks {missing}"


def test_shipped_weights_load_on_floor_keras(floor):
    code = ("import importlib.resources as r, keras; "
            "m = keras.saving.load_model(str(r.files('i2i_keras') / 'weights' / "
            "'feature_net.keras'), compile=False); print(keras.__version__, m.count_params())")
    done = _run([floor.python, "-c", code], timeout=300, env=floor.env, cwd=floor.lone)
    assert done.returncode == 0, (
        "weights/feature_net.keras does not load on Keras " f"{FLOOR['keras']}: save it with "
        f"the floor Keras (data_scripts/train_feature_net.py)\n{_tail(done.stdout, 8)}")


def test_quickstart_runs_on_floor_versions(floor, tmp_path):
    out = tmp_path / "quick"
    done = _run([floor.python, "-m", "i2i_keras.quickstart", "--quick", "--out", out],
                timeout=900, env=_env(floor.venv, I2I_QUICK="1"), cwd=tmp_path)
    assert done.returncode == 0, _tail(done.stdout)
    assert (out / "results.json").is_file()
