"""Write exercises/ from solutions/: the solutions are the single source.

    convlab assign            solutions/NN_topic.ipynb -> exercises/NN_topic.ipynb
    convlab assign --check    exit 1 (and name the files) if exercises/ is stale

Each block between `### BEGIN SOLUTION` and `### END SOLUTION` (markers included,
comments inside included) becomes, at the block's indentation,

    # YOUR CODE HERE
    raise NotImplementedError("Question 01.q2: your answer goes here")

naming the question whose section the cell is in (the last `## Question NN.qM`
heading above it); a block outside every question says only "your answer goes
here". So a student's "Run All" stops at the first unanswered question and says
which one it is; the grader and `check` read a NotImplementedError as "not
answered yet" (convlab/exercises/answers.py, convlab/grading/judge.py).

Outputs and execution counts are cleared; notebook metadata keeps only kernelspec,
language_info's name and convlab.chapter; cell metadata keeps only the tags in
KEPT_TAGS and, beside an nbval-ignore-output tag, its reason
(metadata["convlab"]["ignore_reason"]). The JSON written is a pure function of
the solution notebook, so a stale exercise is a byte difference.
"""

import re
from pathlib import Path

import nbformat

from convlab.errors import error

BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
MARKER = re.compile(r"###\s*(BEGIN|END) SOLUTION")
STUB_COMMENT = "# YOUR CODE HERE"
STUB_MESSAGE = "your answer goes here"
# The heading that opens a question's section (the grader reads sections the same way).
QUESTION = re.compile(r"^#{1,6}\s+Question\s+(\d\d\.[a-z]\w*)", re.M)
KEPT_TAGS = ("raises-exception", "nbval-ignore-output")
STEM = re.compile(r"^\d\d_\w+$")


def stub(qid: str | None = None) -> tuple:
    """The two lines that replace a solution block, naming its question when known."""
    message = f"Question {qid}: {STUB_MESSAGE}" if qid else STUB_MESSAGE
    return STUB_COMMENT, f'raise NotImplementedError("{message}")'


def strip_solutions(source: str, where: str = "a cell", qid: str | None = None) -> str:
    """Replace every solution block in a code cell's source by the stub (naming question qid)."""
    lines, out, inside, indent = source.split("\n"), [], False, ""
    for number, line in enumerate(lines, 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if inside:
                raise error(f"{where}, line {number}: BEGIN SOLUTION inside another solution block.",
                            "close the first block with ### END SOLUTION.")
            inside, indent = True, begin.group(1)
            out.extend(indent + s for s in stub(qid))
        elif end:
            if not inside:
                raise error(f"{where}, line {number}: END SOLUTION without a BEGIN SOLUTION.",
                            "add ### BEGIN SOLUTION before the solution, on a line of its own.")
            inside = False
        elif MARKER.search(line):
            raise error(f"{where}, line {number}: a solution marker must be alone on its line: {line.strip()!r}.",
                        "write ### BEGIN SOLUTION / ### END SOLUTION on lines of their own.")
        elif not inside:
            out.append(line)
    if inside:
        raise error(f"{where}: a BEGIN SOLUTION block is never closed.", "add ### END SOLUTION after the solution.")
    return "\n".join(out)


def make_exercise(solution) -> nbformat.NotebookNode:
    """The exercise notebook for a solution notebook (a NotebookNode, not modified)."""
    cells, qid = [], None
    for index, cell in enumerate(solution.cells):
        where = f"cell {index}"
        if cell.cell_type == "markdown":
            headings = QUESTION.findall(cell.source)
            qid = headings[-1] if headings else qid
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(strip_solutions(cell.source, where, qid))
        elif MARKER.search(cell.source):
            raise error(f"{where} is a {cell.cell_type} cell with a solution marker.",
                        "solutions belong in code cells only.")
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source)
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        tags = [t for t in cell.metadata.get("tags", []) if t in KEPT_TAGS]
        if tags:
            new.metadata["tags"] = tags
        reason = cell.metadata.get("convlab", {}).get("ignore_reason")
        if "nbval-ignore-output" in tags and reason:
            new.metadata["convlab"] = {"ignore_reason": reason}
        new.id = cell.get("id") or f"cell-{index}"
        cells.append(new)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.nbformat_minor = max(solution.get("nbformat_minor", 5), 5)
    metadata = solution.metadata
    if "kernelspec" in metadata:
        notebook.metadata["kernelspec"] = dict(metadata["kernelspec"])
    notebook.metadata["language_info"] = {"name": metadata.get("language_info", {}).get("name", "python")}
    chapter = metadata.get("convlab", {}).get("chapter")
    if chapter:
        notebook.metadata["convlab"] = {"chapter": chapter}
    nbformat.validate(notebook)
    return notebook


def exercise_text(solution_path: Path) -> str:
    """The exact text exercises/NN_topic.ipynb must hold for solutions/NN_topic.ipynb."""
    solution = nbformat.read(solution_path, as_version=4)
    return nbformat.writes(make_exercise(solution)) + "\n"


def plan(solutions: Path, exercises: Path) -> dict:
    """{exercise path: text to write, or None to delete} for every exercise that is stale."""
    wanted = {exercises / p.name: exercise_text(p) for p in sorted(solutions.glob("*.ipynb")) if STEM.match(p.stem)}
    changes = {}
    for path, text in wanted.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            changes[path] = text
    for path in sorted(exercises.glob("*.ipynb")):
        if STEM.match(path.stem) and path not in wanted:
            changes[path] = None
    return changes


def assign(solutions="solutions", exercises="exercises", check: bool = False) -> int:
    """Write (or with check=True, only report) stale exercises; 0 when up to date, 1 when stale (check)."""
    solutions, exercises = Path(solutions), Path(exercises)
    if not solutions.is_dir():
        raise error(f"there is no solutions folder {str(solutions)!r}.",
                    "run convlab assign from the top folder of the book, or pass --solutions DIR.")
    changes = plan(solutions, exercises)
    if check:
        for path, text in changes.items():
            state = "has no solution notebook" if text is None else "is stale"
            print(f"{path} {state}; run `convlab assign` to regenerate exercises/")
        if not changes:
            print(f"{exercises}/ is up to date with {solutions}/")
        return 1 if changes else 0
    exercises.mkdir(parents=True, exist_ok=True)
    for path, text in changes.items():
        if text is None:
            path.unlink()
            print(f"removed {path}")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if not changes:
        print(f"{exercises}/ is up to date with {solutions}/")
    return 0
