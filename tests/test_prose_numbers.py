"""Every number quoted in a notebook's prose comes from that notebook's execution.

DESIGN.md: "A number in prose is printed (or glued) by a cell". So each number
token of a markdown cell that looks computed (three or more significant digits,
or any decimal point) must appear in the same notebook's code, in a stored
output (printed text, text/plain results, error messages) or in a value glued
with MyST-NB's `glue(...)`. A decimal in prose may quote a printed one with
fewer digits (0.731 for a printed 0.7311); everything else must match exactly,
ignoring thousands separators and sign. Glued values are pasted into the prose
with {glue:text}`name`; every such name must be glued by the notebook.

A few numbers are true constants, not results, and are listed in ALLOWED with
the reason. Issue numbers (#46558) and links are not numbers of the page.
"""

import re
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))

# Constants a page may quote without a cell printing them (versions, years of
# cited papers). Keep it short: a computed value belongs in a cell's output.
ALLOWED = {
    "1.8": "the PyTorch release whose pooling pages gained the ceil_mode Note (chapter 06)",
    "2015": "a publication year (Lavin and Gray, 2015)",
    "2016": "a publication year (Dumoulin and Visin; Odena et al., 2016)",
    "2018": "a publication year (Wang et al., 2018, hybrid dilated convolution)",
}

NUMBER = re.compile(
    r"""(?<![\w.#/])               # not inside a word, a longer number, an issue ref or a path
        (?:\d{1,3}(?:,\d{3})+|\d+)  # an integer part, maybe with thousands separators
        (?:\.\d+)*                  # decimals (a version has several)
        (?:[eE][-+]?\d+)?           # an exponent
        (?![\w])""",
    re.X,
)
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]*)`")
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
GLUE_PREFIX = "application/papermill.record/"


def tokens(text):
    return [m.group(0).replace(",", "") for m in NUMBER.finditer(text)]


def looks_computed(token):
    if "." in token:
        return True
    digits = token.split("e")[0].split("E")[0].strip("0")
    return len(digits) >= 3


def glued(output):
    return "scrapbook" in output.get("metadata", {})


def output_texts(cell):
    """Text a reader sees (or the build pastes) from a code cell's stored outputs."""
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            yield output["text"]
        elif output["output_type"] == "error":
            yield f"{output['ename']}: {output['evalue']}"
        else:
            data = output.get("data", {})
            for key in ("text/plain", GLUE_PREFIX + "text/plain", "text/markdown", GLUE_PREFIX + "text/markdown"):
                if key in data:
                    yield data[key]


def glue_names(notebook):
    return {
        output["metadata"]["scrapbook"]["name"]
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if glued(output)
    }


def decimals(token):
    return len(token.split(".")[1]) if "." in token and token.count(".") == 1 else 0


def found(token, known, known_decimals):
    if token in known:
        return True
    if token.count(".") != 1 or "e" in token.lower():
        return False  # integers and versions must match exactly
    places = decimals(token)
    quantum = Decimal(1).scaleb(-places)
    value = Decimal(token)
    # a printed decimal, quoted in prose with fewer digits
    return any(d.quantize(quantum, rounding=ROUND_HALF_EVEN) == value
               for d in known_decimals if -d.as_tuple().exponent >= places)


def unexplained_numbers(notebook):
    """[(cell index, token)] for every prose number no cell or glue accounts for."""
    haystack = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            haystack.append(cell.source)
            haystack.extend(output_texts(cell))
    known = set(tokens("\n".join(haystack)))
    known_decimals = [Decimal(t) for t in known if t.count(".") == 1 and "e" not in t.lower()]
    missing = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        prose = LINK_TARGET.sub(" ", GLUE_ROLE.sub(" ", cell.source))
        for token in tokens(prose):
            if looks_computed(token) and token not in ALLOWED and not found(token, known, known_decimals):
                missing.append((index, token))
    return missing


def name(path):
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=name)
def test_numbers_in_prose_come_from_execution(path):
    missing = unexplained_numbers(nbformat.read(path, as_version=4))
    assert not missing, (
        "these numbers in markdown cells are neither printed nor glued by a cell of the notebook "
        "(print them, or glue them and paste with {glue:text}`name`; a true constant goes in ALLOWED "
        "with its reason):\n" + "\n".join(f"  cell {index}: {token}" for index, token in missing)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=name)
def test_every_pasted_value_is_glued(path):
    notebook = nbformat.read(path, as_version=4)
    names = glue_names(notebook)
    pasted = {
        (index, role.rsplit(":", 1)[0] if ":" in role else role)
        for index, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"
        for role in GLUE_ROLE.findall(cell.source)
    }
    unknown = sorted((index, key) for index, key in pasted if key not in names)
    assert not unknown, f"pasted but never glued (cell, name): {unknown}"


def test_a_number_typed_into_prose_is_caught():
    # The check must be able to fail: a computed-looking number that no cell prints or glues.
    glued_value = nbformat.v4.new_output(
        "display_data", data={GLUE_PREFIX + "text/plain": "'0.507'"},
        metadata={"scrapbook": {"name": "layout", "mime_prefix": GLUE_PREFIX}})
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(round(1 / 128 + 1 / 9, 4))", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="0.1189\n")]),
        nbformat.v4.new_code_cell('glue("layout", f"{ratio:.3f}", display=False)', outputs=[glued_value]),
        nbformat.v4.new_markdown_cell(
            "The ratio is 0.1189, about 0.119, for 1,024 inputs; 0.1198 is a typo. Layout: "
            "{glue:text}`layout` (0.507), not 0.508; pytorch#46558 is an issue, 2016 a year."),
    ])
    assert unexplained_numbers(notebook) == [(2, "1024"), (2, "0.1198"), (2, "0.508")]
    assert glue_names(notebook) == {"layout"}
