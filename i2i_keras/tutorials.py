"""Run the tutorials, and keep README.md's numbers equal to the notebooks' outputs.

    python -m i2i_keras.tutorials run 00 03         # full mode, in place: outputs, weights, README
    python -m i2i_keras.tutorials run --mode quick  # every notebook on tiny data, in a temp folder
    python -m i2i_keras.tutorials check             # do README.md and the notebooks agree?

A full run executes each notebook with papermill in place (the committed outputs are a
full run's), saves the networks it trains as the shipped weights (``I2I_SAVE_PRETRAINED=1``,
see :mod:`i2i_keras.pretrained`), then rewrites README.md from the outputs: each results
block's tables from the tables the notebook printed with :func:`readme_table`, the
minutes in the tutorials table from the notebook's own ``notebook wall time`` line, and
the machine and date under each block. Quick and pretrained runs write their executed
copies to a temporary folder (the committed outputs stay those of the full run) and
record their minutes in the syllabus, ``tutorials/README.md``.

README.md marks each block that belongs to a notebook::

    <!-- results: 00_quickstart -->
    ...tables...
    <!-- end of results -->

``check`` fails when a block disagrees with its notebook: a table the notebook printed
for the README must be there unchanged; for a notebook that printed none (its full run
predates this tool), every number in the block's table rows must appear in its outputs.
The minutes of a full run in README.md and in the syllabus must be the notebook's own.

Run it alone on the machine: a busy machine runs slower, and the minutes it records are
then not the notebook's.

>>> readme_table(["", "FBP", "U-Net"], [["PSNR (dB)", 20.97, "**26.60**"]], fmt=".2f")
README table:
| | FBP | U-Net |
|---|---:|---:|
| PSNR (dB) | 20.97 | **26.60** |
end of README table
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
README = ROOT / "README.md"
SYLLABUS = TUTORIALS / "README.md"
MODES = ("full", "quick", "pretrained")

TABLE_START, TABLE_END = "README table:", "end of README table"
BLOCK = re.compile(r"<!-- results: (\S+) -->\n(.*?)<!-- end of results -->", re.S)
STAMP = re.compile(r"^<sub>From the full run of .*</sub>$", re.M)
WALL = re.compile(r"notebook wall time: (\d+(?:\.\d+)?) min")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def readme_table(header: list[str], rows: list[list], fmt: str = ".1f") -> None:
    """Print a markdown table that ``python -m i2i_keras.tutorials run`` copies into README.md.

    Args:
        header: the column titles (the first is the row-label column, often "").
        rows: one list per row: its label, then the cells; numbers are formatted with
            ``fmt``, strings kept as they are (e.g. ``"**26.60**"`` for the best, ``"–"``).
        fmt: the format of numeric cells.
    """
    def cell(value) -> str:
        return value if isinstance(value, str) else format(value, fmt)

    lines = ["| " + " | ".join(header) + " |",
             "|---" + "|---:" * (len(header) - 1) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    lines[0] = lines[0].replace("|  |", "| |")
    print("\n".join([TABLE_START, *lines, TABLE_END]))


def report_table(reports: dict[str, dict[str, float]], fmt: str = ".1f") -> None:
    """:func:`readme_table` of :func:`i2i_keras.metrics.report`'s results, one column per
    method, the best of each row in bold (lowest MAE, smallest |ME|, highest PSNR).

    >>> report_table({"rule": {"MAE body (HU)": 147.5, "ME body (HU)": -110.5},
    ...               "net": {"MAE body (HU)": 45.3, "ME body (HU)": -7.2}})
    README table:
    | | rule | net |
    |---|---:|---:|
    | MAE body (HU) | 147.5 | **45.3** |
    | ME body (HU) | -110.5 | **-7.2** |
    end of README table
    """
    methods = list(reports)
    rows = []
    for key in reports[methods[0]]:
        values = [reports[m][key] for m in methods]
        score = [v if key.startswith("PSNR") else -abs(v) for v in values]
        best = max(range(len(values)), key=score.__getitem__)
        rows.append([key] + [f"**{v:{fmt}}**" if i == best else format(v, fmt)
                             for i, v in enumerate(values)])
    readme_table([""] + methods, rows, fmt)


# --- reading notebooks and README.md --------------------------------------------------


def notebook_path(name: str) -> Path:
    """``tutorials/<name>.ipynb`` for a full name (``03_mr_to_ct_pix2pix``) or its number."""
    found = sorted(TUTORIALS.glob(f"{name}*.ipynb" if name[:2].isdigit() else f"{name}.ipynb"))
    if len(found) != 1 or not re.fullmatch(r"\d\d_\w+\.ipynb", found[0].name):
        known = ", ".join(p.stem for p in sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb")))
        raise SystemExit(f"no single tutorial called {name!r} in {TUTORIALS}; known: {known}")
    return found[0]


def output_text(notebook: Path) -> str:
    """Everything the notebook's code cells printed (stream and text/plain outputs)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def printed_tables(text: str) -> list[str]:
    """The tables a notebook printed with :func:`readme_table`, in order."""
    pattern = re.escape(TABLE_START) + r"\n(.*?)\n" + re.escape(TABLE_END)
    return re.findall(pattern, text, re.S)


def wall_minutes(text: str) -> float | None:
    """The minutes of the notebook's ``notebook wall time`` line (the last one), or None."""
    found = WALL.findall(text)
    return float(found[-1]) if found else None


def _table_rows(block: str) -> list[str]:
    """The body rows of every markdown table in a block (no header, no separator)."""
    rows, lines = [], block.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i >= 2 and lines[i - 1].startswith("|") and \
                not re.fullmatch(r"\|[-:|\s]+", line):
            rows.append(line)
    return rows


def _tables(block: str) -> list[str]:
    """The markdown tables in a block, each as its lines joined."""
    tables, current = [], []
    for line in block.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append("\n".join(current))
            current = []
    return tables


def _numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text.replace("**", "")))


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def unprinted(shown: set[str], printed: set[str]) -> list[str]:
    """The numbers of ``shown`` that are no rounding of a number in ``printed``.

    A README cell may round what the notebook printed (9.55 ms shown as 9.6), never the
    other way round, and never by more than half its last digit.

    >>> unprinted({"9.6", "0.138", "7.1", "12"}, {"9.55", "0.1377", "7.06", "11.4"})
    ['12']
    """
    values = [(float(p), _decimals(p)) for p in printed]
    missing = []
    for number in shown:
        d, value = _decimals(number), float(number)
        if not any(pd >= d and abs(p - value) <= 0.5 * 10.0 ** -d + 1e-9 for p, pd in values):
            missing.append(number)
    return sorted(missing)


# --- check ----------------------------------------------------------------------------


def disagreements(readme: str, syllabus: str, outputs: dict[str, str]) -> list[str]:
    """Every place where README.md or the syllabus says other than the notebooks' outputs.

    Args:
        readme, syllabus: the two files' text.
        outputs: {notebook name: its printed output text} (:func:`output_text`).
    """
    problems = []
    for name, block in BLOCK.findall(readme):
        if name not in outputs:
            problems.append(f"README.md has a results block for {name}, which is not a tutorial")
            continue
        printed = printed_tables(outputs[name])
        if printed:
            shown = _tables(block)
            if shown != printed:
                problems.append(f"README.md's tables for {name} are not the ones the notebook "
                                f"printed; re-run: python -m i2i_keras.tutorials run {name[:2]}")
            continue
        missing = []
        for row in _table_rows(block):
            cells = row.strip("|").split("|")[1:]
            missing += unprinted(_numbers("|".join(cells)), _numbers(outputs[name]))
        if missing:
            problems.append(f"README.md's results for {name} show numbers its outputs do not "
                            f"print: {', '.join(missing)}")
    for where, text in (("README.md", readme), ("tutorials/README.md", syllabus)):
        for name, out in outputs.items():
            minutes = wall_minutes(out)
            for line in re.findall(rf"^\| `{name}` \|(.*)$", text, re.M) if minutes else []:
                cells = line.split("|")
                i = _minutes_cell(cells, None if where == "README.md" else 0)
                if i is None or NUMBER.search(cells[i]) is None:
                    continue
                shown = float(NUMBER.search(cells[i]).group())
                if shown != minutes:
                    problems.append(f"{where} gives {name} a full run of {shown} min; the "
                                    f"notebook printed {minutes:.1f} min")
                break
    return problems


def check() -> int:
    """Print what disagrees between README.md, the syllabus and the notebooks; 1 if anything."""
    outputs = {nb.stem: output_text(nb) for nb in sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))}
    problems = disagreements(README.read_text(encoding="utf-8"),
                             SYLLABUS.read_text(encoding="utf-8"), outputs)
    for p in problems:
        print("DISAGREES:", p)
    if not problems:
        print(f"README.md and tutorials/README.md agree with the outputs of {len(outputs)} "
              "notebooks")
    return 1 if problems else 0


# --- rewrite --------------------------------------------------------------------------


def machine() -> str:
    """A short description of this machine: CPU model, cores, GPU or not."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = re.sub(r"\s+", " ", line.split(":", 1)[1]).strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {model}"


def rewrite_readme(readme: str, name: str, output: str, stamp: str) -> str:
    """README.md with ``name``'s block tables and full-run minutes taken from its output."""
    printed = printed_tables(output)

    def block(match: re.Match) -> str:
        if match.group(1) != name:
            return match.group(0)
        body = match.group(2)
        for old, new in zip(_tables(body), printed):
            body = body.replace(old, new, 1)
        line = f"<sub>From the full run of {stamp}.</sub>"
        body = STAMP.sub(line, body) if STAMP.search(body) else body.rstrip("\n") + \
            f"\n\n{line}\n"
        return f"<!-- results: {name} -->\n{body}<!-- end of results -->"

    readme = BLOCK.sub(block, readme)
    minutes = wall_minutes(output)
    if minutes is not None:
        readme = _set_minutes(readme, name, f"{minutes:.1f}")
    return readme


def _minutes_cell(cells: list[str], column: int | None) -> int | None:
    """Which of a row's cells holds minutes: ``column`` if it holds a number (or "–"),
    else the first "N min" cell; None when the row has no such cell."""
    if column is not None:
        ok = len(cells) > column and re.fullmatch(r"\s*(\d+(\.\d+)?|–)\s*", cells[column])
        return column if ok else None
    return next((i for i, c in enumerate(cells) if re.match(r"\s*\d+(\.\d+)? min", c)), None)


def _set_minutes(text: str, name: str, minutes: str, column: int | None = None) -> str:
    """Put ``minutes`` in the first row of ``name`` that has a minutes cell (see
    :func:`_minutes_cell`): the whole cell for a ``column``, the "N min" part otherwise."""
    lines = text.split("\n")
    for k, line in enumerate(lines):
        if not line.startswith(f"| `{name}` |"):
            continue
        cells = line[len(f"| `{name}` |"):].split("|")
        i = _minutes_cell(cells, column)
        if i is None:
            continue
        cells[i] = f" {minutes} " if column is not None else \
            re.sub(r"\d+(\.\d+)? min", f"{minutes} min", cells[i], count=1)
        lines[k] = f"| `{name}` |" + "|".join(cells)
        break
    return "\n".join(lines)


def record_syllabus(syllabus: str, name: str, mode: str, minutes: float, date: str) -> str:
    """The syllabus with ``name``'s minutes in ``mode`` and the date measured, in the table
    with the columns | notebook | full (CPU) | quick | pretrained | measured |."""
    text = _set_minutes(syllabus, name, f"{minutes:.1f}", MODES.index(mode))
    if _set_minutes(syllabus, name, "?", MODES.index(mode)) == syllabus:  # no such row
        print(f"tutorials/README.md has no minutes row for {name}: add one to its table")
        return syllabus
    return re.sub(rf"^(\| `{name}` \|(?:[^|\n]*\|){{3}})[^|\n]*\|", rf"\g<1> {date} |", text,
                  count=1, flags=re.M)


# --- run ------------------------------------------------------------------------------


def _environment(mode: str) -> dict[str, str]:
    return {"I2I_QUICK": "1" if mode == "quick" else "0",
            "I2I_PRETRAINED": "1" if mode == "pretrained" else "0",
            "I2I_SAVE_PRETRAINED": "1" if mode == "full" else "0"}


def run(names: list[str], mode: str = "full") -> int:
    """Execute notebooks with papermill (in place in full mode), then update the README(s)."""
    import papermill  # a dev dependency: imported here, so `check` works without it
    from tqdm import tqdm

    notebooks = [notebook_path(n) for n in names] or \
        sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))
    os.environ.update(_environment(mode))
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend keeps the figures
    scratch = Path(tempfile.mkdtemp(prefix="i2i_tutorials_"))
    date = datetime.date.today().isoformat()
    stamp = f"{date} on a {machine()}"
    bar = tqdm(notebooks, desc=f"{mode} run", unit="notebook")
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        out = nb if mode == "full" else scratch / nb.name
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(str(nb), str(out), cwd=str(TUTORIALS), progress_bar=True,
                                       kernel_name="python3", log_output=False)
        except papermill.PapermillExecutionError as error:
            print(f"{nb.stem} failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
                  f"the executed copy is {out}")
            return 1
        minutes = (time.perf_counter() - t0) / 60
        tqdm.write(f"{nb.stem}: {minutes:.1f} min ({mode} mode)")
        if mode == "full":
            _tidy(nb)
            text = output_text(nb)
            README.write_text(rewrite_readme(README.read_text(encoding="utf-8"), nb.stem, text,
                                             stamp), encoding="utf-8")
            minutes = wall_minutes(text) or minutes
        SYLLABUS.write_text(record_syllabus(SYLLABUS.read_text(encoding="utf-8"), nb.stem,
                                            mode, minutes, date), encoding="utf-8")
    return check() if mode == "full" else 0


def _tidy(notebook: Path) -> None:
    """Drop the metadata papermill adds (timings, the injected-parameters tag): the
    committed notebook then differs from the last one only where its outputs do."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    nb["metadata"].pop("papermill", None)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m i2i_keras.tutorials",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="execute notebooks (full mode: in place, then README)")
    runner.add_argument("names", nargs="*", help="tutorial numbers or names (default: all)")
    runner.add_argument("--mode", choices=MODES, default="full")
    runner.add_argument("--check", action="store_true", help="only check, run nothing")
    sub.add_parser("check", help="fail when README.md and the notebooks' outputs disagree")
    args = parser.parse_args(argv)
    if args.command == "check" or args.check:
        return check()
    return run(args.names, args.mode)


if __name__ == "__main__":
    sys.exit(main())
