import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(["ruff", "check", "."], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
