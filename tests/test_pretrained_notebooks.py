"""I2I_PRETRAINED=1 reproduces a notebook's committed results table without training.

The quickstart is run here (seconds of evaluation on the shipped weights); the other
tutorials were checked the same way by hand when their weights were made
(``data_scripts/make_pretrained.py``), their evaluation taking minutes.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
ROW = re.compile(r"^(MAE|ME|PSNR) .*\(.*\)\s+-?\d")  # the rows of metrics.format_table


def table_rows(nb) -> list[str]:
    texts = ["".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
             for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    return [line.rstrip() for t in texts for line in t.splitlines() if ROW.match(line)]


@pytest.mark.parametrize("name", ["00_quickstart"])
def test_pretrained_mode_prints_the_committed_table(name, monkeypatch, tmp_path):
    committed = nbformat.read(TUTORIALS / f"{name}.ipynb", as_version=4)
    rows = table_rows(committed)
    assert len(rows) >= 7, "the committed notebook shows no results table"
    monkeypatch.setenv("I2I_PRETRAINED", "1")
    monkeypatch.setenv("I2I_QUICK", "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run = json.loads(json.dumps(committed))  # a copy, outputs cleared by the client
    client = NotebookClient(nbformat.from_dict(run), timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    executed = client.execute()
    assert table_rows(executed) == rows
    text = "\n".join("".join(o.get("text", "")) for c in executed["cells"]
                     if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "pretrained weights loaded" in text and "epochs of training" in text
