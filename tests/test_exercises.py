"""Solutions are the source: generated exercises, the format, and the self-check."""

import json
import re
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from torch import nn

from convlab.errors import ConvlabError
from convlab.exercises import core
from convlab.exercises.assign import assign, make_exercise, strip_solutions

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
HEADING = re.compile(r"^## Question (\d\d\.q\d+) — (.+) \((\d+) points?\)$", re.M)
BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$\n?", re.M | re.S)
STUB = re.compile(r'raise NotImplementedError\((.*)\)')


def stub_line(qid=None):
    message = f"Question {qid}: your answer goes here" if qid else "your answer goes here"
    return f'raise NotImplementedError("{message}")'


def sections(notebook):
    """(question id of the section, cell) for every cell; None before the first question."""
    qid = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found = HEADING.findall(cell.source)
            qid = found[-1][0] if found else qid
        yield qid, cell


def test_exercises_are_up_to_date_with_solutions(capsys):
    assert assign(ROOT / "solutions", ROOT / "exercises", check=True) == 0, capsys.readouterr().out


def test_a_stale_exercise_is_reported_and_rewritten(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    (solutions / "01_conv2d.ipynb").write_text((ROOT / "solutions/01_conv2d.ipynb").read_text())
    assert assign(solutions, exercises, check=True) == 1
    assert assign(solutions, exercises) == 0
    first = (exercises / "01_conv2d.ipynb").read_bytes()
    assert assign(solutions, exercises, check=True) == 0
    (exercises / "01_conv2d.ipynb").write_text(first.decode().replace("YOUR CODE HERE", "my code"))
    (exercises / "99_orphan.ipynb").write_text("{}")
    assert assign(solutions, exercises, check=True) == 1
    out = capsys.readouterr().out
    assert "01_conv2d.ipynb is stale" in out and "99_orphan.ipynb has no solution notebook" in out
    assign(solutions, exercises)
    assert (exercises / "01_conv2d.ipynb").read_bytes() == first and not (exercises / "99_orphan.ipynb").exists()


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_nothing_of_the_solution_is_left(path):
    solution = nbformat.read(path, as_version=4)
    exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
    text = (ROOT / "exercises" / path.name).read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    given = {line.strip() for c in exercise.cells for line in c.source.splitlines()}
    outside = {line.strip() for c in solution.cells for line in BLOCK.sub("", c.source).splitlines()}
    stubs = {stub_line(qid) for qid, c in sections(solution) if c.cell_type == "code" and BLOCK.search(c.source)}
    assert given == outside | stubs | {"# YOUR CODE HERE"}
    for cell in solution.cells:
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            for line in block.splitlines():
                if len(line.strip()) > 12 and line.strip() not in outside:
                    assert line.strip() not in text, f"solution line left in the exercise: {line.strip()!r}"
    assert set(exercise.metadata) <= {"kernelspec", "language_info", "convlab"}
    for cell in exercise.cells:
        assert set(cell.metadata) <= {"tags", "convlab"}
        assert set(cell.metadata.get("convlab", {})) <= {"ignore_reason"}
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    count = sum(len(STUB.findall(c.source)) for c in exercise.cells if c.cell_type == "code")
    assert count == sum(c.source.count("### BEGIN SOLUTION") for c in solution.cells) > 0


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_stub_names_its_question(path):
    """Run All stops at the first unanswered question, and the message says which one."""
    exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
    registered = {q.qid for q in core.load_chapter(path.stem[:2])}
    named = set()
    for qid, cell in sections(exercise):
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if STUB.search(line):
                assert line.strip() == stub_line(qid), f"in the section of {qid}: {line.strip()!r}"
                assert len(line) <= 77, f"the stub does not fit the page: {line!r}"
                named.add(qid)
    assert named and named <= registered, (named, registered)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_run_all_on_an_exercise_stops_at_the_first_question(path, monkeypatch):
    """What a student's Run All does: everything before the first answer runs; then the stub's message."""
    monkeypatch.setenv("CONVLAB_DEVICE", "cpu")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
    first = next(qid for qid, c in sections(exercise) if c.cell_type == "code" and STUB.search(c.source))
    client = NotebookClient(exercise, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "exercises")}})
    with pytest.raises(CellExecutionError) as raised:
        client.execute()
    assert raised.value.ename == "NotImplementedError", raised.value
    assert raised.value.evalue == f"Question {first}: your answer goes here"


def test_stub_keeps_indentation_and_surroundings():
    source = ("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    # secret\n    return x\n"
              "    ### END SOLUTION\nprint(1)")
    assert strip_solutions(source, qid="01.q2") == (
        "def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n"
        '    raise NotImplementedError("Question 01.q2: your answer goes here")\nprint(1)'
    )
    assert strip_solutions("### BEGIN SOLUTION\nx = 1\n### END SOLUTION") == (
        '# YOUR CODE HERE\nraise NotImplementedError("your answer goes here")'
    )


def test_a_stub_names_the_question_of_its_section():
    new = nbformat.v4
    block = "### BEGIN SOLUTION\nanswer = 1\n### END SOLUTION"
    ignored = new.new_code_cell("print(1)", metadata={"tags": ["nbval-ignore-output", "hide-input"],
                                                     "convlab": {"ignore_reason": "a wall-clock timing"}})
    notebook = new.new_notebook(cells=[
        new.new_markdown_cell("# Exercises 07: intro"),
        new.new_code_cell(block),                                   # before any question: generic
        new.new_markdown_cell("## Question 07.q1 — First (1 point)\n\nText."),
        new.new_code_cell(block),
        new.new_code_cell('check("07.q1", answer)'),
        new.new_markdown_cell("Some prose between the cells."),     # not a heading: same section
        new.new_code_cell("def f():\n    " + block.replace("\n", "\n    ")),
        new.new_markdown_cell("## Question 07.q2 — Second (2 points)"),
        new.new_code_cell(block),
        ignored,
    ])
    cells = make_exercise(notebook).cells
    assert stub_line() in cells[1].source
    assert stub_line("07.q1") in cells[3].source and "    " + stub_line("07.q1") in cells[6].source
    assert stub_line("07.q2") in cells[8].source
    assert cells[9].metadata == {"tags": ["nbval-ignore-output"], "convlab": {"ignore_reason": "a wall-clock timing"}}
    namespace = {}
    with pytest.raises(NotImplementedError, match=r"^Question 07\.q2: your answer goes here$"):
        exec(cells[8].source, namespace)


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
    "x = 1  ### BEGIN SOLUTION",
])
def test_broken_markers_are_refused(source):
    with pytest.raises(ConvlabError):
        strip_solutions(source)


def test_a_marker_in_markdown_is_refused():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nx")])
    with pytest.raises(ConvlabError, match="markdown"):
        make_exercise(notebook)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_headings_match_the_registered_questions(path):
    notebook = nbformat.read(path, as_version=4)
    chapter = path.stem[:2]
    assert notebook.metadata["convlab"]["chapter"] == path.stem
    registered = core.load_chapter(chapter)
    headings = [m for c in notebook.cells if c.cell_type == "markdown" for m in HEADING.findall(c.source)]
    assert [(q.qid, q.title, q.points) for q in registered] == [(i, t, int(p)) for i, t, p in headings]
    assert 4 <= len(registered) <= 6
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    for q in registered:
        assert f'check("{q.qid}", {", ".join(q.names)})' in code


def test_every_chapter_with_checks_has_solutions_and_exercises():
    for module in core.chapters().values():
        stem = module.stem[1:]
        assert (ROOT / "solutions" / f"{stem}.ipynb").exists(), stem
        assert (ROOT / "exercises" / f"{stem}.ipynb").exists(), stem


def verdict(capsys, qid, *answers):
    result = core.check(qid, *answers)
    return bool(result), capsys.readouterr().out


def count_params(c_in, c_out, k, bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    return c_out * c_in * kh * kw + (c_out if bias else 0)


def test_check_says_right_or_wrong_without_the_answer(capsys):
    ok, out = verdict(capsys, "01.q2", count_params)
    assert ok and out.startswith("✓ 01.q2")
    ok, out = verdict(capsys, "01.q2", lambda c_in, c_out, k, bias=True: count_params(c_in, c_out, k, False))
    assert not ok and out.startswith("✗ 01.q2") and "bias" in out and "131200" not in out
    ok, out = verdict(capsys, "01.q3", lambda o, k, s=1, p=0: ((o - 1) * s + k - 2 * p) / 1)
    assert not ok and "pair" in out
    ok, out = verdict(capsys, "01.q3", lambda o, k, s=1, p=0: ((o - 1) * s + k - 2 * p,) * 2)
    assert not ok and "rounds down" in out and "input_range(" in out


def test_check_explains_errors_and_unanswered(capsys):
    def input_range(o, k, s=1, p=0):
        raise NotImplementedError("Question 01.q3: your answer goes here")

    ok, out = verdict(capsys, "01.q3", input_range)
    assert not ok and "not answered yet" in out
    ok, out = verdict(capsys, "01.q3", lambda o, k, s=1, p=0: o // 0)
    assert not ok and "raised ZeroDivisionError" in out
    ok, out = verdict(capsys, "01.q1", (2, 8, 28, 28), (3, 8, 5, 5), (8,))
    assert not ok and "wrong order" in out


class AlwaysEqual(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def test_only_plain_data_reaches_the_check(capsys):
    """An int whose == is always true is just the int it holds once it crosses to the judge."""
    ok, out = verdict(capsys, "01.q4", AlwaysEqual(7))
    assert not ok and "value = 7" in out
    ok, out = verdict(capsys, "01.q1", *[tuple(AlwaysEqual(1) for _ in range(4))] * 3)
    assert not ok


def test_checks_leave_the_global_rng_alone(capsys):
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16 * 16, 10))
    state = torch.get_rng_state()
    assert core.check("01.q6", model)
    assert core.check("01.q1", (2, 8, 28, 28), (8, 3, 5, 5), (8,))
    assert torch.equal(state, torch.get_rng_state())


def test_check_refuses_unknown_questions():
    with pytest.raises(ValueError, match="no question 01.q9"):
        core.check("01.q9", 1)
    with pytest.raises(ValueError, match="no checks for chapter 98"):
        core.check("98.q1", 1)
    with pytest.raises(TypeError, match="takes 3 answer"):
        core.check("01.q1", (1, 2))


def test_the_verdict_is_truthy_and_quiet_in_a_notebook(capsys):
    result = core.check("01.q2", count_params)
    assert result == True and result.passed and repr(result).startswith("Verdict")  # noqa: E712
    assert result._ipython_display_() is None
    json.dumps({"passed": bool(result)})
