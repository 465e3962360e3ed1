"""The grader exported: Gradescope's autograder zip and GitHub Classroom's workflow.

The zip is built, unpacked into a temporary /autograder tree (source/, submission/, results/) and
its run_autograder entry point (`python -m convlab.grading.gradescope run`, not setup.sh) grades a
solved, a blank and a hostile submission; results.json must follow Gradescope's format and give
each the points its answers earn. The workflow must parse as YAML, run on push and run a valid
`convlab grade`.
"""

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from convlab import cli
from convlab.grading import gradescope, sandbox

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_conv2d.ipynb"
BLANK = ROOT / "exercises" / "01_conv2d.ipynb"
POINTS = {"01.q1": 2, "01.q2": 2, "01.q3": 3, "01.q4": 2, "01.q5": 3, "01.q6": 3}
INT_SUBCLASS = ("class Yes(int):\n    def __eq__(self, other):\n        return True\n"
                "    __hash__ = int.__hash__\nvalue = Yes(7)")
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def hostile() -> str:
    """The solution, but 01.q4 answered by an int that claims to equal anything."""
    notebook = nbformat.read(SOLUTION, as_version=4)
    section = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and "## Question" in cell.source:
            section = cell.source.split()[2]
        elif cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source and section == "01.q4":
            cell.source = INT_SUBCLASS
    return nbformat.writes(notebook)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    return gradescope.build("01", tmp_path_factory.mktemp("export") / "autograder.zip")


def autograder_root(folder: Path, zip_path: Path, submissions: dict) -> Path:
    """folder laid out like Gradescope's /autograder: source/ (the zip), submission/ (name: text), results/.

    venv/bin/python, which run_autograder runs, stands for the one setup.sh makes: this Python.
    """
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder / "source")
        for info in archive.infolist():
            (folder / "source" / info.filename).chmod((info.external_attr >> 16) & 0o777)
    python = folder / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    (folder / "submission").mkdir()
    (folder / "results").mkdir()
    for name, text in submissions.items():
        path = folder / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def valid_results(results: dict) -> dict:
    """results.json checked against Gradescope's documented format; its tests by question id."""
    assert isinstance(results["score"], int | float) and not isinstance(results["score"], bool)
    assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0
    assert isinstance(results["output"], str) and results["output"]
    assert results.get("output_format", "text") in {"text", "html", "simple_format", "md", "ansi"}
    assert results.get("stdout_visibility", "hidden") in VISIBILITY
    assert isinstance(results.get("extra_data", {}), dict)
    tests = {}
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], int | float) and isinstance(test["max_score"], int | float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITY and test.get("status", "passed") in {"passed", "failed"}
        tests[test["name"].split(":")[0]] = test
    assert abs(sum(t["score"] for t in results["tests"]) - results["score"]) < 1e-9
    json.dumps(results, allow_nan=False)  # plain JSON, no NaN
    return tests


# --- the zip -----------------------------------------------------------------------------------------


def test_the_zip_has_gradescopes_layout_and_no_solutions(autograder, tmp_path):
    with zipfile.ZipFile(autograder) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        read = {name: archive.read(name).decode() for name in ("setup.sh", "run_autograder", "requirements.txt",
                                                               gradescope.CONFIG)}
    names = set(infos)
    assert {"setup.sh", "run_autograder", "requirements.txt", "pyproject.toml", gradescope.CONFIG} <= names
    for script in ("setup.sh", "run_autograder"):
        assert (infos[script].external_attr >> 16) & 0o111 == 0o111, f"{script} is not executable"
        assert read[script].startswith("#!/usr/bin/env bash\n")
        assert subprocess.run(["bash", "-n"], input=read[script], text=True).returncode == 0
    assert not any(n.startswith("solutions/") or "/solutions/" in n or n.endswith(".ipynb") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {n for n in names if n.startswith("convlab/")} == {n for n, _ in gradescope.package_files()}
    assert {"convlab/grading/batch.py", "convlab/grading/runner.py", "convlab/exercises/c01_conv2d.py",
            "convlab/grading/gradescope.py"} <= names
    # run_autograder is the two-line script; setup.sh installs bubblewrap, the pins and the package.
    assert read["run_autograder"].splitlines()[1].endswith("-m convlab.grading.gradescope run \"$@\"")
    assert len(read["run_autograder"].splitlines()) == 2 and "CONVLAB_AUTOGRADER_ROOT" in read["run_autograder"]
    assert "apt_install bubblewrap" in read["setup.sh"] and '-r "$SOURCE/requirements.txt"' in read["setup.sh"]
    assert 'pip install --quiet --no-deps "$SOURCE"' in read["setup.sh"]
    pinned = dict(line.split("==") for line in read["requirements.txt"].splitlines() if "==" in line)
    book = dict(re.findall(r"^([\w.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    assert set(pinned) == {"torch", "numpy", "matplotlib", "ipython", "nbformat"}
    assert all(book[name] == version for name, version in pinned.items())
    assert gradescope.PINNED == pinned  # the fallback of an installed convlab agrees with requirements.txt
    assert json.loads(read[gradescope.CONFIG])["chapter"] == "01_conv2d"
    # The same chapter builds the same bytes, whichever way it is named.
    assert gradescope.build("01_conv2d", tmp_path / "again.zip").read_bytes() == autograder.read_bytes()


def test_export_usage_errors_exit_2(tmp_path, capsys):
    assert cli.main(["export", "gradescope", "42", "-o", str(tmp_path / "a.zip")]) == 2
    err = capsys.readouterr().err
    assert "unknown chapter '42'" in err and "01_conv2d" in err and "09_transposed" in err
    assert cli.main(["export", "gradescope", "01", "-o", str(tmp_path / "no" / "a.zip")]) == 2
    assert "no folder" in capsys.readouterr().err
    assert cli.main(["export", "gradescope", "01", "--timeout", "0", "-o", str(tmp_path / "a.zip")]) == 2
    assert "--timeout" in capsys.readouterr().err and not (tmp_path / "a.zip").exists()
    with pytest.raises(SystemExit) as stopped:
        cli.main(["export"])
    assert stopped.value.code == 2
    assert cli.main(["export", "gradescope", "1", "-o", str(tmp_path / "a.zip")]) == 0
    assert "wrote" in capsys.readouterr().out and zipfile.is_zipfile(tmp_path / "a.zip")


# --- run_autograder ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(autograder, tmp_path_factory) -> dict:
    """results.json of a solved, a blank and a hostile submission, each graded by the zip's run_autograder."""
    cases = {"solved": SOLUTION.read_text(encoding="utf-8"), "blank": BLANK.read_text(encoding="utf-8"),
             "hostile": hostile()}
    running = {}
    for case, text in cases.items():
        root = autograder_root(tmp_path_factory.mktemp(case), autograder, {"01_conv2d.ipynb": text})
        env = {**os.environ, gradescope.ROOT_ENV: str(root)}
        running[case] = (root, subprocess.Popen([root / "source" / "run_autograder"], cwd=root, env=env,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    found = {}
    for case, (root, process) in running.items():
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, out
        found[case] = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    return found


def test_a_solved_notebook_gets_full_marks(graded):
    tests = valid_results(graded["solved"])
    assert {q: t["max_score"] for q, t in tests.items()} == POINTS
    assert graded["solved"]["score"] == sum(POINTS.values()) == 15
    assert all(t["status"] == "passed" and t["output"].startswith("✓") for t in tests.values())
    assert graded["solved"]["output"].startswith("Chapter 01_conv2d: 15/15 points.")
    sandboxed = gradescope.sandbox_here()[0]
    assert graded["solved"]["extra_data"]["convlab"]["sandbox"] is sandboxed
    assert ("the container is the sandbox" in graded["solved"]["output"]) is not sandboxed


def test_a_blank_notebook_gets_0(graded):
    tests = valid_results(graded["blank"])
    assert graded["blank"]["score"] == 0 and sum(t["max_score"] for t in tests.values()) == 15
    assert all(t["status"] == "failed" and t["output"] for t in tests.values())


def test_a_hostile_answer_loses_its_question_only(graded):
    tests = valid_results(graded["hostile"])
    assert tests["01.q4"]["score"] == 0 and tests["01.q4"]["status"] == "failed"
    assert graded["hostile"]["score"] == 15 - POINTS["01.q4"]


def test_no_notebook_or_several_score_0_and_say_why(autograder, tmp_path):
    none = autograder_root(tmp_path / "none", autograder, {"notes.txt": "I forgot"})
    results = gradescope.run_autograder(none)
    tests = valid_results(results)
    assert results["score"] == 0 and "No notebook (.ipynb) was submitted" in results["output"]
    assert sum(t["max_score"] for t in tests.values()) == 15
    assert json.loads((none / "results" / "results.json").read_text()) == results
    several = autograder_root(tmp_path / "several", autograder,
                              {"a.ipynb": BLANK.read_text(), "work/b.ipynb": BLANK.read_text(),
                               ".ipynb_checkpoints/a-checkpoint.ipynb": "{}"})
    results = gradescope.run_autograder(several)
    valid_results(results)
    assert results["score"] == 0 and "2 notebooks were submitted (a.ipynb, work/b.ipynb)" in results["output"]


def test_without_bubblewrap_the_container_is_the_sandbox(autograder, tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-that-is-not-installed")
    root = autograder_root(tmp_path / "root", autograder, {"mine.ipynb": hostile()})
    monkeypatch.setenv(gradescope.ROOT_ENV, str(root))
    results = gradescope.run_autograder()
    tests = valid_results(results)
    assert "the container is the sandbox" in results["output"] and "bubblewrap" in results["output"]
    assert results["extra_data"]["convlab"]["sandbox"] is False
    assert tests["01.q4"]["score"] == 0 and results["score"] == 15 - POINTS["01.q4"]  # the judge stays trusted


def test_a_broken_autograder_still_writes_results(tmp_path):
    (tmp_path / "source").mkdir()
    results = gradescope.run_autograder(tmp_path)
    assert results["score"] == 0 and "convlab export gradescope" in results["output"]
    assert (tmp_path / "results" / "results.json").is_file()


# --- GitHub Classroom --------------------------------------------------------------------------------


def steps_of(workflow: dict) -> list:
    (job,) = workflow["jobs"].values()
    return job["steps"]


def test_the_classroom_workflow_runs_a_valid_convlab_grade_on_push(tmp_path, capsys):
    assert yaml.safe_load((gradescope.TEMPLATES / "classroom.yml").read_text())["on"]  # the template itself
    assert cli.main(["export", "classroom", "01_conv2d", "-o", str(tmp_path / "classroom.yml")]) == 0
    text = (tmp_path / "classroom.yml").read_text()
    assert text == gradescope.classroom_workflow("01") and "__" not in text.replace("__main__", "")
    workflow = yaml.safe_load(text)
    assert "push" in workflow["on"]
    steps = steps_of(workflow)
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.11"
    install = next(s["run"] for s in steps if "pip install" in s.get("run", ""))
    assert "torch==2.13.0" in install and f"convlab-book @ git+{gradescope.BOOK_REPOSITORY}@main" in install
    assert all(f"{p}=={v}" in install for p, v in gradescope.pins().items())
    (line,) = [ln for s in steps for ln in s.get("run", "").splitlines() if ln.strip().startswith("convlab grade")]
    args = cli._parser().parse_args(shlex.split(line)[1:])
    assert args.run is cli._grade and args.paths == ["01_conv2d.ipynb"] and args.chapter == "01"
    assert args.sandbox is True and args.json_path == "convlab-grade.json"
    score = next(s for s in steps if "convlab.grading.gradescope classroom" in s.get("run", ""))
    assert shlex.split(score["run"])[4:] == ["convlab-grade.json", "--chapter", "01"]
    reporter = next(s for s in steps if "autograding-grading-reporter" in s.get("uses", ""))
    runner = reporter["with"]["runners"]
    assert reporter["env"][f"{runner.upper()}_RESULTS"] == f"${{{{ steps.{score['id']}.outputs.result }}}}"
    # The book's repository is the one _config.yml names.
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"] == gradescope.BOOK_REPOSITORY
    assert cli.main(["export", "classroom", "07", "--notebook", "my work.ipynb", "--ref", "v1.0"]) == 0
    workflow = yaml.safe_load(capsys.readouterr().out)
    (line,) = [ln for s in steps_of(workflow) for ln in s.get("run", "").splitlines() if "convlab grade" in ln]
    assert cli._parser().parse_args(shlex.split(line)[1:]).paths == ["my work.ipynb"]
    assert cli.main(["export", "classroom", "99"]) == 2


def reported(tmp_path, monkeypatch, summary) -> dict:
    grades = tmp_path / "convlab-grade.json"
    if summary is not None:
        grades.write_text(json.dumps(summary))
    output, step_summary = tmp_path / "github_output", tmp_path / "step_summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    assert gradescope.main(["classroom", str(grades), "--chapter", "01"]) == 0
    (line,) = output.read_text().splitlines()
    assert line.startswith("result=") and "points" in step_summary.read_text()
    return json.loads(base64.b64decode(line.removeprefix("result=")))


def test_the_classroom_score_step_reports_points_per_question(tmp_path, monkeypatch):
    questions = [{"id": q, "title": q, "points": p if q != "01.q4" else 0, "max_points": p, "passed": q != "01.q4",
                  "feedback": "correct" if q != "01.q4" else "wrong"} for q, p in POINTS.items()]
    summary = {"convlab_grade": 1, "submissions": [{"status": "graded", "score": 13, "max_score": 15,
                                                    "questions": questions}]}
    result = reported(tmp_path, monkeypatch, summary)
    assert result["version"] == 1 and result["status"] == "fail" and result["max_score"] == 15
    assert sum(t["score"] for t in result["tests"]) == 13 and len(result["tests"]) == 6
    assert {t["status"] for t in result["tests"]} == {"pass", "fail"}
    (tmp_path / "none").mkdir()
    missing = reported(tmp_path / "none", monkeypatch, None)  # convlab grade stopped: no JSON
    assert missing["status"] == "error" and missing["max_score"] == 15
    assert sum(t["score"] for t in missing["tests"]) == 0 and "no results" in missing["tests"][0]["message"]
