"""`python -m i2i_keras.tutorials`: README.md and the syllabus agree with the notebooks'
committed outputs (the check CI runs), a disagreement is found and named, a full run's
printed tables and minutes are copied into README.md, and a quick run executes copies."""

import json

import nbformat
import pytest

from i2i_keras import tutorials

README = """# x

<!-- results: 07_demo -->
| | baseline | net |
|---|---:|---:|
| MAE (HU) | 147.5 | **45.3** |
<!-- end of results -->

| notebook | task | full run here |
|---|---|---|
| `07_demo` | a demo | 4.8 min |
"""
SYLLABUS = """| notebook | learning goals | maths |
|---|---|---|
| `07_demo` | goals | maths |

| notebook | full (CPU) | quick | pretrained | measured |
|---|---:|---:|---:|---|
| `07_demo` | 4.8 | 0.3 | 0.3 | 2026-12-01 |
"""
OUTPUT = "baseline MAE 147.46 HU\nnet MAE 45.30 HU\nnotebook wall time: 4.8 min\n"


def test_the_committed_readme_agrees_with_the_committed_notebooks():
    assert tutorials.check() == 0


def test_a_number_the_notebook_never_printed_is_named():
    assert tutorials.disagreements(README, SYLLABUS, {"07_demo": OUTPUT}) == []
    wrong = README.replace("**45.3**", "**44.3**")
    problems = tutorials.disagreements(wrong, SYLLABUS, {"07_demo": OUTPUT})
    assert len(problems) == 1 and "07_demo" in problems[0] and "44.3" in problems[0]
    # a README cell may round what was printed (147.46 -> 147.5), not the other way round
    assert tutorials.unprinted({"147.5", "147.46", "147.4"}, {"147.46"}) == ["147.4"]
    assert tutorials.unprinted({"147.46"}, {"147.5"}) == ["147.46"]


def test_minutes_that_are_not_the_notebooks_are_named_in_both_files():
    slower = OUTPUT.replace("4.8 min", "5.1 min")
    problems = tutorials.disagreements(README, SYLLABUS, {"07_demo": slower})
    assert [p.split(" gives")[0] for p in problems] == ["README.md", "tutorials/README.md"]
    assert all("5.1 min" in p and "4.8" in p for p in problems)


def test_a_full_run_copies_its_printed_table_minutes_and_machine_into_readme(capsys):
    tutorials.readme_table(["", "baseline", "net"], [["MAE (HU)", 150.04, "**40.0**"]])
    printed = capsys.readouterr().out + "notebook wall time: 6.3 min\n"
    new = tutorials.rewrite_readme(README, "07_demo", printed, "2026-12-03 on a 2-core test")
    assert "| MAE (HU) | 150.0 | **40.0** |" in new and "45.3" not in new
    assert "| `07_demo` | a demo | 6.3 min |" in new
    assert "<sub>From the full run of 2026-12-03 on a 2-core test.</sub>" in new
    assert tutorials.disagreements(new, SYLLABUS.replace("| 4.8 |", "| 6.3 |"),
                                   {"07_demo": printed}) == []
    # the printed table now rules: a README edited by hand no longer passes
    edited = new.replace("150.0", "150.04")
    assert tutorials.disagreements(edited, SYLLABUS.replace("| 4.8 |", "| 6.3 |"),
                                   {"07_demo": printed})
    # a second run replaces the stamp instead of adding one
    again = tutorials.rewrite_readme(new, "07_demo", printed, "2026-12-04 on a 4-core test")
    assert again.count("<sub>From the full run") == 1 and "2026-12-04" in again


def test_the_syllabus_records_each_mode_in_its_own_column_only():
    text = tutorials.record_syllabus(SYLLABUS, "07_demo", "pretrained", 1.25, "2026-12-03")
    assert "| `07_demo` | 4.8 | 0.3 | 1.2 | 2026-12-03 |" in text  # 1.25 -> 1.2 (half even)
    assert "| `07_demo` | goals | maths |" in text  # the goals table has no minutes: untouched


def test_the_same_minutes_again_update_the_date_without_a_missing_row_warning(capsys):
    first = tutorials.record_syllabus(SYLLABUS, "07_demo", "pretrained", 1.2, "2026-12-03")
    again = tutorials.record_syllabus(first, "07_demo", "pretrained", 1.2, "2026-12-05")
    assert "| `07_demo` | 4.8 | 0.3 | 1.2 | 2026-12-05 |" in again
    assert "no minutes row" not in capsys.readouterr().out
    tutorials.record_syllabus(SYLLABUS, "08_absent", "pretrained", 1.2, "2026-12-05")
    assert "no minutes row for 08_absent" in capsys.readouterr().out


def test_a_quick_run_executes_a_copy_and_keeps_the_committed_outputs(tmp_path, monkeypatch):
    folder = tmp_path / "tutorials"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint('quick' if os.environ['I2I_QUICK'] == '1' else 'full')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "07_demo.ipynb")
    (folder / "README.md").write_text(SYLLABUS)
    (tmp_path / "README.md").write_text(README)
    monkeypatch.setattr(tutorials, "TUTORIALS", folder)
    monkeypatch.setattr(tutorials, "SYLLABUS", folder / "README.md")
    monkeypatch.setattr(tutorials, "README", tmp_path / "README.md")
    before = (folder / "07_demo.ipynb").read_text()
    assert tutorials.main(["run", "07", "--mode", "quick"]) == 0
    assert (folder / "07_demo.ipynb").read_text() == before  # committed outputs kept
    assert (tmp_path / "README.md").read_text() == README  # quick runs never touch it
    row = next(line for line in (folder / "README.md").read_text().splitlines()
               if line.startswith("| `07_demo` | 4.8 |"))
    assert row.split("|")[5].strip() == tutorials.datetime.date.today().isoformat()
    with pytest.raises(SystemExit, match="no single tutorial called '09'"):
        tutorials.main(["run", "09", "--mode", "quick"])
    assert json.loads(before)["cells"][0]["outputs"] == []
