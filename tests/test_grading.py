"""The autograder: full marks for the solutions, zero for untouched exercises, and a batch of
broken submissions that must each lose only the questions they break (tests/test_redteam.py holds
the hostile ones)."""

import csv
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from convlab.grading.batch import grade

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_conv2d.ipynb"
ALL = {"01.q1", "01.q2", "01.q3", "01.q4", "01.q5", "01.q6", "01.x1"}

EXTRA_CHECK = '''
from convlab.exercises.core import Wrong, call, question


@question("01.x1", points=1, title="Hidden: a large layer", names=("count_params",))
def x1(count_params):
    if call(count_params, 1000, 7, 3) != 1000 * 7 * 9 + 7:
        raise Wrong("wrong for a large layer.")
'''


def variant(replace=None, append=None):
    """The solution notebook with question qid's solution cell replaced, and cells appended."""
    notebook = nbformat.read(SOLUTION, as_version=4)
    section = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and "## Question" in cell.source:
            section = cell.source.split()[2]
        elif cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source and section in (replace or {}):
            cell.source = replace.pop(section)
    assert not replace
    for source in append or []:
        notebook.cells.append(nbformat.v4.new_code_cell(source))
    return nbformat.writes(notebook)


SOLVED = {  # the solution of each question, reused by the variants
    "01.q1": "out_shape = (2, 8, 28, 28)\nweight_shape = (8, 3, 5, 5)\nbias_shape = (8,)",
    "01.q2": "def count_params(i, o, k, bias=True):\n    k = (k, k) if isinstance(k, int) else k\n"
             "    return o * i * k[0] * k[1] + (o if bias else 0)",
}

# student -> (notebook text, the questions it must lose, a phrase its feedback or notes must contain)
CASES = {
    "solution": (SOLUTION.read_text(), set(), ""),
    "untouched": ((ROOT / "exercises" / "01_conv2d.ipynb").read_text(), ALL, "not answered yet"),
    "not_json": ("{ this is not json", ALL, "not a valid notebook"),
    "syntax_error": (variant({"01.q3": "def input_range(o, k, s=1, p=0)\n    return 1"}), {"01.q3"}, "SyntaxError"),
    "raises": (variant({"01.q2": "count_params = 1 / 0"}), {"01.q2", "01.x1"}, "ZeroDivisionError"),
    "endless_loop": (variant({"01.q4": "while True:\n    pass"}), {"01.q4"}, "ran longer than"),
    "memory_hog": (variant({"01.q1": "hog = bytearray(6 * 1024 ** 3)\n" + SOLVED["01.q1"]}), {"01.q1"},
                   "MemoryError"),
    "prints_megabytes": (variant({"01.q2": "for _ in range(30):\n    print('x' * 200_000)\n" + SOLVED["01.q2"]}),
                         set(), "was dropped"),
    "exits": (variant({"01.q5": "import sys\nsys.exit(3)"}), {"01.q5"}, "01.q5"),
    "os_exit": (variant({"01.q6": "import os\nos._exit(0)"}), {"01.q6"}, "killed the Python kernel"),
    "kills_kernel": (variant({"01.q3": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"}),
                     {"01.q3"}, "killed the Python kernel"),
    "spawns_and_sleeps": (variant({"01.q2": "import subprocess\nsubprocess.Popen(['sleep', '1000'])\n"
                                            + SOLVED["01.q2"]}), set(), ""),
    "check_loops": (variant({"01.q3": "def input_range(o, k, s=1, p=0):\n    while True:\n        pass"}),
                    {"01.q3"}, "longer than"),
    "check_never_stops": (variant({"01.q3": "def input_range(o, k, s=1, p=0):\n    while True:\n        try:\n"
                                            "            while True:\n                pass\n"
                                            "        except BaseException:\n            pass"}),
                          {"01.q3"}, "did not stop"),
    "redefines_checks": (variant({"01.q4": "value = 99"}, append=[
        "import convlab.exercises.core as c\nimport convlab.exercises as e\n"
        "c.REGISTRY.clear()\nc.evaluate = lambda q, a: (True, 'correct')\ne.check = c.check = None\n"
        "import json\nprint(json.dumps({'qid': '01.q4', 'passed': True, 'nonce': 'guess'}))"]), {"01.q4"}, ""),
    "edits_files": (None, set(), ""),  # built in the fixture: it needs its own path
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    submissions, extra = root / "submissions", root / "hidden"
    extra.mkdir()
    (extra / "large.py").write_text(EXTRA_CHECK)
    for student, (text, _, _) in CASES.items():
        path = submissions / student / "01_conv2d.ipynb"
        path.parent.mkdir(parents=True)
        if text is None:  # delete everything in its folder, overwrite the submission and a file beside it
            text = variant(append=[
                "import glob, os\nfor name in glob.glob('*') + glob.glob('../*'):\n    os.remove(name) "
                f"if os.path.isfile(name) else None\nopen({str(path)!r}, 'w').write('gone')\n"
                f"open({str(path.parent / 'other.txt')!r}, 'w').write('written')"])
        path.write_text(text)
    hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in submissions.rglob("*.ipynb")}
    status = grade([submissions], json_path=root / "grades.json", csv_path=root / "grades.csv", jobs=2,
                   timeout=60, cell_timeout=10, check_timeout=3, memory_mb=1024, extra_checks=extra, quiet=True)
    results = json.loads((root / "grades.json").read_text())
    return {"status": status, "results": results, "root": root, "hashes": hashes}


def by_student(batch):
    return {r["student"]: r for r in batch["results"]["submissions"]}


def test_the_batch_is_graded_and_exits_0(batch):
    assert batch["status"] == 0
    assert batch["results"]["convlab_grade"] == 1
    assert set(by_student(batch)) == set(CASES)


@pytest.mark.parametrize("student", list(CASES))
def test_each_submission_loses_only_what_it_breaks(batch, student):
    record = by_student(batch)[student]
    _, lost, phrase = CASES[student]
    failed = {q["id"] for q in record["questions"] if not q["passed"]}
    assert failed == lost, record
    assert record["max_score"] == 16
    assert record["score"] == 16 - sum(q["max_points"] for q in record["questions"] if q["id"] in lost)
    text = " ".join([*record["notes"], *(q["feedback"] for q in record["questions"])])
    assert phrase in text, record
    for q in record["questions"]:
        assert q["points"] in (0, q["max_points"]) and q["feedback"]


def test_submission_files_are_never_modified(batch):
    for path, digest in batch["hashes"].items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
    assert not list(batch["root"].rglob("other.txt"))  # the sandbox cannot see, let alone write, the batch


def test_an_invalid_notebook_is_reported_as_invalid(batch):
    record = by_student(batch)["not_json"]
    assert record["status"] == "invalid" and record["score"] == 0


def test_the_csv_gradebook_has_a_row_per_student_and_a_column_per_question(batch):
    with open(batch["root"] / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["student"] for r in rows] == sorted(CASES)
    assert list(rows[0])[3:] == ["01.q1", "01.q2", "01.q3", "01.q4", "01.q5", "01.q6", "01.x1", "total", "max",
                                 "status"]
    solution = next(r for r in rows if r["student"] == "solution")
    assert solution["total"] == solution["max"] == "16" and solution["01.q3"] == "3"


def test_the_command_line_grades_one_notebook_and_writes_json(tmp_path):
    out = tmp_path / "one.json"
    done = subprocess.run([str(Path(sys.executable).parent / "convlab"), "grade", str(SOLUTION), "--json", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "15/15" in done.stdout and "01.q6" in done.stdout
    record = json.loads(out.read_text())["submissions"][0]
    assert record["score"] == record["max_score"] == 15 and record["status"] == "graded"


def test_a_submission_past_the_hard_limit_is_stopped_and_the_batch_goes_on(tmp_path):
    for student, text in [("sleeper", variant({"01.q1": "import time\ntime.sleep(600)"})),
                          ("solved", SOLUTION.read_text())]:
        (tmp_path / student).mkdir()
        (tmp_path / student / "01_conv2d.ipynb").write_text(text)
    started = time.monotonic()
    status = grade([tmp_path], json_path=tmp_path / "out.json", jobs=2, cell_timeout=600, timeout=600,
                   hard_limit=20, quiet=True)
    assert time.monotonic() - started < 120
    records = {r["student"]: r for r in json.loads((tmp_path / "out.json").read_text())["submissions"]}
    assert status == 0
    assert records["sleeper"]["status"] == "timeout" and records["sleeper"]["score"] == 0
    assert "hard time limit" in records["sleeper"]["notes"][0] and records["sleeper"]["sandbox"] is True
    assert records["solved"]["score"] == 15


def test_usage_errors_exit_2(tmp_path, capsys):
    assert grade([tmp_path / "missing.ipynb"]) == 2
    assert grade([tmp_path]) == 2  # no notebooks
    (tmp_path / "bad.py").write_text("raise RuntimeError('broken')")
    (tmp_path / "a.ipynb").write_text("{}")
    assert grade([tmp_path / "a.ipynb"], extra_checks=tmp_path) == 2
    assert "failed to load" in capsys.readouterr().err


@pytest.fixture(scope="module")
def every_chapter(tmp_path_factory):
    """Every solution notebook and every untouched exercise, graded in one batch."""
    root = tmp_path_factory.mktemp("chapters")
    for kind in ("solutions", "exercises"):
        for path in sorted((ROOT / kind).glob("[0-9][0-9]_*.ipynb")):
            target = root / kind / path.stem / path.name
            target.parent.mkdir(parents=True)
            target.write_bytes(path.read_bytes())
    status = grade([root], json_path=root / "all.json", jobs=2, quiet=True)
    records = json.loads((root / "all.json").read_text())["submissions"]
    return status, {(Path(r["path"]).parent.parent.name, r["chapter"]): r for r in records}


STEMS = sorted(p.stem for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("stem", STEMS)
def test_every_solution_scores_full_marks(every_chapter, stem):
    status, records = every_chapter
    record = records[("solutions", stem)]
    assert status == 0 and record["status"] == "graded"
    assert record["score"] == record["max_score"] > 0, [q for q in record["questions"] if not q["passed"]]


@pytest.mark.parametrize("stem", STEMS)
def test_every_untouched_exercise_scores_zero(every_chapter, stem):
    _, records = every_chapter
    record = records[("exercises", stem)]
    assert record["status"] == "graded" and record["score"] == 0, record
    assert all(q["feedback"] for q in record["questions"])
