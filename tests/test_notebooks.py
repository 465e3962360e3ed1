"""House rules for the stored notebooks (CONTRIBUTING.md), checked on every notebook.

nbval proves the stored outputs true; these tests make sure there is something
for it to prove: outputs from one top-to-bottom run, no execution noise, every
chapter in the table of contents, and every ignored output justified.
"""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
EXECUTED = CHAPTERS + SOLUTIONS
IGNORE_REASONS = ("timing", "animation", "time", "random element ids")


def name(path):
    return f"{path.parent.name}/{path.name}"


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_chapters():
    assert CHAPTERS, "no chapters found in book/"


def test_every_chapter_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = {entry["file"] for part in toc["parts"] for entry in part["chapters"]}
    missing = [f"book/{p.stem}" for p in CHAPTERS if f"book/{p.stem}" not in listed]
    assert not missing, f"add these to _toc.yml: {missing}"


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_first_code_cell_seeds_and_picks_the_device(path):
    first = next(c for c in code_cells(path) if "convlab" in c.source and "google.colab" not in c.source)
    assert "convlab.seed(" in first.source and "convlab.device()" in first.source


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_outputs_come_from_one_run_top_to_bottom(path):
    counts = [c.execution_count for c in code_cells(path) if c.source.strip()]
    assert counts == list(range(1, len(counts) + 1)), "re-run the notebook with make execute"


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_no_execution_noise_is_stored(path):
    for cell in code_cells(path):
        assert "execution" not in cell.metadata, "timing metadata: run tools/execute_notebooks.py"


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_ignored_outputs_say_why(path):
    for cell in code_cells(path):
        if "nbval-ignore-output" in cell.metadata.get("tags", []):
            first_line = cell.source.splitlines()[0].lower()
            assert first_line.startswith("#") and any(r in first_line for r in IGNORE_REASONS), (
                f"an ignored cell must start with a comment giving its reason (timing or animation):\n{cell.source}"
            )


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_no_line_relies_on_a_trailing_semicolon(path):
    # nbval does not honour IPython's trailing ';', so such a cell's stored and re-run outputs differ.
    for cell in code_cells(path):
        last = [line for line in cell.source.splitlines() if line.strip()][-1:] or [""]
        assert not re.search(r";\s*(#.*)?$", last[0]), f"assign instead of ending with ';':\n{cell.source}"


@pytest.mark.parametrize("path", CHAPTERS, ids=name)
def test_a_chapter_explains_and_summarises_with_figures(path):
    notebook = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert re.search(r"^## Summary", text, re.M), "end the chapter with a '## Summary' section"
    figures = sum(
        1
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {}) or "to_html(" in c.source
    )
    assert figures >= 2, "a chapter needs at least two figures or animations"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
