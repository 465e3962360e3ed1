"""House rules for the stored notebooks (CONTRIBUTING.md, DESIGN.md), checked on every notebook.

nbval proves the stored outputs true; these tests make sure there is something
for it to prove: outputs from one top-to-bottom run, no execution noise, every
chapter in the table of contents, and every ignored output justified.

They also hold the "Run All" rules: every notebook in book/ and solutions/ runs
top to bottom the way Colab's and VS Code's Run All do, which ignore cell tags
and stop at the first exception. So no cell is tagged raises-exception (an error
is shown with `convlab.expect_error`, which prints it and goes on), no stored
output is an error, and every code line fits the page's code column (77
characters; the theme hides the rest behind a scroll bar).
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
# The only outputs nbval may skip: wall-clock timings and animations (their HTML carries random ids).
IGNORE_REASONS = ("timing", "animation", "time", "random element ids")
IGNORE_COMMENT = re.compile(r"#\s*nbval-ignore-output")
MAX_LINE = 77  # characters of a code line the page shows at 1280 px


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
def test_ignored_outputs_say_why_in_metadata(path):
    # The reason is for maintainers, so it lives in the cell's metadata, not in a
    # comment every reader sees: metadata["convlab"]["ignore_reason"].
    unexplained, commented = [], []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        if IGNORE_COMMENT.search(cell.source):
            commented.append(index)
        if "nbval-ignore-output" in cell.metadata.get("tags", []):
            reason = cell.metadata.get("convlab", {}).get("ignore_reason")
            if not (isinstance(reason, str) and any(r in reason.lower() for r in IGNORE_REASONS)):
                unexplained.append(index)
    assert not unexplained, (
        f"cells {unexplained} are tagged nbval-ignore-output without a reason: set the cell's "
        'metadata["convlab"]["ignore_reason"] to why its output cannot be stable (a wall-clock '
        "timing, or an animation's random element ids)"
    )
    assert not commented, (
        f"cells {commented} carry a '# nbval-ignore-output' comment: move the reason into "
        'metadata["convlab"]["ignore_reason"] and delete the comment'
    )


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_no_cell_is_tagged_raises_exception(path):
    # Colab's and VS Code's Run All stop at the first exception whatever the tags:
    # show an error with `with convlab.expect_error(SomeError): ...` instead.
    tagged = [i for i, c in enumerate(nbformat.read(path, as_version=4).cells)
              if "raises-exception" in c.metadata.get("tags", [])]
    assert not tagged, f"cells {tagged} are tagged raises-exception: wrap the error in convlab.expect_error"


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_no_stored_output_is_an_error(path):
    # A stored traceback means the cell raised, and Run All would have stopped there.
    failed = [i for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert not failed, f"cells {failed} stored an error: wrap it in convlab.expect_error and re-run the notebook"


@pytest.mark.parametrize("path", EXECUTED, ids=name)
def test_code_lines_fit_the_page(path):
    long = [
        f"cell {index}, line {number} ({len(line)} characters): {line}"
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if cell.cell_type == "code"
        for number, line in enumerate(cell.source.splitlines(), 1)
        if len(line) > MAX_LINE
    ]
    assert not long, (
        f"{len(long)} code lines are longer than {MAX_LINE} characters (wrap them, or move long code "
        "into convlab):\n" + "\n".join(long)
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
