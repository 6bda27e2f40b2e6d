"""The repository is ruff clean. ruff is a dev dependency (pyproject.toml): without it this
test fails instead of skipping, so a CI that lost it cannot pass silently."""

import importlib.util
import subprocess
import sys
from pathlib import Path


def test_ruff_clean():
    assert importlib.util.find_spec("ruff") is not None, (
        "ruff is not installed, so the lint check cannot run. It is a dev dependency: "
        "pip install -e \".[dev]\" (or pip install ruff)")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
