"""The grader outside this machine: a Gradescope autograder and a GitHub Classroom workflow.

    convlab export gradescope 01 -o autograder.zip    build(): the zip Gradescope's autograder takes
    python -m convlab.grading.gradescope run          run_autograder(): what the zip's run_autograder does
    convlab export classroom 01 -o classroom.yml      classroom_workflow(): .github/workflows/classroom.yml
    python -m convlab.grading.gradescope classroom F  classroom(): `convlab grade --json F` for the reporter

Both grade with batch.grade, the same sandbox and the same judge as `convlab grade`.
The zip follows Gradescope's autograder specification: setup.sh and run_autograder
at its root; Gradescope unpacks it into /autograder/source, puts the student's
files in /autograder/submission and reads /autograder/results/results.json
({"score", "execution_time", "output", "tests": [{"name", "score", "max_score",
"output", "visibility", ...}], ...}). CONVLAB_AUTOGRADER_ROOT replaces /autograder
(for tests). Where bubblewrap cannot make a sandbox in Gradescope's container the
submission is graded without one and results.json says so: the container is
the sandbox; the checks still run in the grader. docs/grading-at-scale.md.
"""

import argparse
import base64
import io
import json
import math
import os
import re
import shlex
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import convlab
from convlab.errors import ConvlabError
from convlab.exercises import core

ROOT_ENV = "CONVLAB_AUTOGRADER_ROOT"
DEFAULT_ROOT = "/autograder"
CONFIG = "convlab-autograder.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
BOOK_REPOSITORY = "https://github.com/convlab-book/convlab-book"  # as _config.yml's repository.url
# What grading imports, and what a student's notebook may (matplotlib), pinned as in requirements.txt;
# used as they are when requirements.txt is not beside the package (an installed convlab).
PINNED = {"torch": "2.13.0", "numpy": "2.4.6", "matplotlib": "3.11.2", "ipython": "9.18.1", "nbformat": "5.11.1"}
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # every entry's date: the same chapter builds the same zip
# Gradescope stops run_autograder at the assignment's timeout (10 minutes unless changed); the grader's
# own hard limit per submission must come first, or no results.json is written.
HARD_LIMIT = 480


class UsageError(ConvlabError):
    """A wrong chapter or output path; `convlab export` prints it and exits 2."""


# --- chapters and pins -------------------------------------------------------------------------------


def resolve_chapter(chapter) -> tuple:
    """('01', '01_conv2d') for '01', '1', '01_conv2d' or '01_conv2d.ipynb'; UsageError listing the chapters."""
    known = {number: path.stem[1:] for number, path in core.chapters().items()}
    text = str(chapter).strip().removesuffix(".ipynb")
    if text.isdigit():
        text = text.zfill(2)
    for number, name in known.items():
        if text in (number, name):
            return number, name
    raise UsageError(f"unknown chapter {chapter!r}: the chapters with graded exercises are "
                     f"{', '.join(known.values())} (give the number, e.g. 01, or the name, e.g. 01_conv2d)")


def pins() -> dict:
    """{package: version} of what the autograder installs, from requirements.txt where it is beside the package."""
    found = dict(PINNED)
    requirements = Path(convlab.__file__).resolve().parent.parent / "requirements.txt"
    if requirements.is_file():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line)
            if match and match.group(1).lower() in found:
                found[match.group(1).lower()] = match.group(2)
    return found


# --- the Gradescope zip ------------------------------------------------------------------------------


def build(chapter, output="autograder.zip", *, timeout=120, cell_timeout=30, check_timeout=10, memory_mb=2048,
          hard_limit=HARD_LIMIT) -> Path:
    """Write Gradescope's autograder zip for chapter to output; its path.

    At the zip's root: setup.sh and run_autograder (executable), requirements.txt (the pins),
    pyproject.toml (to install the package), convlab-autograder.json (the chapter and limits) and
    the convlab package (no solutions: they are not in it).
    """
    number, name = resolve_chapter(chapter)
    for label, value in (("--timeout", timeout), ("--cell-timeout", cell_timeout),
                         ("--check-timeout", check_timeout), ("--memory", memory_mb), ("--hard-limit", hard_limit)):
        if not isinstance(value, int | float) or not value > 0:
            raise UsageError(f"{label} {value}: give a positive number")
    output = Path(output)
    if output.is_dir():
        output = output / "autograder.zip"
    if not output.parent.is_dir():
        raise UsageError(f"cannot write {output}: no folder {output.parent} (create it, or give another -o)")
    config = {"convlab_autograder": 1, "chapter": name, "convlab": convlab.__version__,
              "limits": {"timeout": timeout, "cell_timeout": cell_timeout, "check_timeout": check_timeout,
                         "memory_mb": memory_mb, "hard_limit": hard_limit}}
    entries = [("setup.sh", (TEMPLATES / "setup.sh").read_bytes(), True),
               ("run_autograder", (TEMPLATES / "run_autograder").read_bytes(), True),
               ("requirements.txt", requirements_txt().encode(), False),
               ("pyproject.toml", pyproject_toml().encode(), False),
               (CONFIG, (json.dumps(config, indent=1) + "\n").encode(), False)]
    entries += [(entry, path.read_bytes(), False) for entry, path in package_files()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data, executable in entries:
            info = zipfile.ZipInfo(entry, date_time=ZIP_TIME)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(buffer.getvalue())
        os.replace(temporary, output)
    except OSError as problem:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write {output}: {problem.strerror or problem}") from None
    return output


def package_files() -> list:
    """[(name in the zip, path)] of the convlab package's source and data, without caches."""
    package = Path(convlab.__file__).resolve().parent
    found = []
    for path in sorted(package.rglob("*")):
        parts = path.relative_to(package).parts
        if (path.is_file() and not path.is_symlink() and "__pycache__" not in parts
                and not any(part.startswith(".") for part in parts) and path.suffix not in (".pyc", ".pyo", ".ipynb")):
            found.append(("convlab/" + "/".join(parts), path))
    return found


def requirements_txt() -> str:
    lines = ["# Installed by setup.sh (torch: PyTorch's CPU build). Pinned as the book's requirements.txt."]
    return "\n".join(lines + [f"{package}=={version}" for package, version in pins().items()]) + "\n"


def pyproject_toml() -> str:
    return f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "convlab-book"
version = "{convlab.__version__}"
description = "The convlab book's grader, as packaged for a Gradescope autograder (convlab export gradescope)."
requires-python = ">=3.10"

[tool.setuptools.packages.find]
include = ["convlab*"]

[tool.setuptools.package-data]
convlab = ["data/*.json", "grading/templates/*"]
'''


# --- run_autograder ----------------------------------------------------------------------------------


def run_autograder(root=None) -> dict:
    """Grade the one notebook in ROOT/submission, write ROOT/results/results.json; its content.

    ROOT is root, else $CONVLAB_AUTOGRADER_ROOT, else /autograder. Whatever happens, results.json is
    written (a student sees its "output"); the grader's tables go to standard output (Gradescope keeps
    them for the instructor).
    """
    root = Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)
    started = time.monotonic()
    try:
        results = _run(root)
    except Exception as problem:  # noqa: BLE001 - a student must still get a readable results.json
        import traceback

        traceback.print_exc()
        results = {"score": 0, "output": f"The autograder failed before it could grade this submission "
                                         f"({type(problem).__name__}: {core.clip(str(problem), 300)}). "
                                         "Your instructor can see the details in the autograder's log.",
                   "tests": []}
    results["execution_time"] = math.ceil(time.monotonic() - started)
    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".results.json.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, folder / "results.json")
    print(f"convlab autograder: {results['score']} points; wrote {folder / 'results.json'}")
    return results


def _run(root: Path) -> dict:
    try:
        config = json.loads((root / "source" / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise RuntimeError(f"rebuild the autograder with `convlab export gradescope CHAPTER`: cannot read "
                           f"{CONFIG} ({type(problem).__name__})") from None
    number, name = resolve_chapter(config["chapter"])
    limits = {"timeout": 120, "cell_timeout": 30, "check_timeout": 10, "memory_mb": 2048, "hard_limit": HARD_LIMIT,
              **config.get("limits", {})}
    questions = core.load_chapter(number)
    found = submitted_notebooks(root / "submission")
    if len(found) != 1:
        if found:
            listed = ", ".join(str(p.relative_to(root / "submission")) for p in found[:10])
            why = (f"{len(found)} notebooks were submitted ({listed}{', …' if len(found) > 10 else ''}); "
                   f"submit exactly one, your {name}.ipynb. Nothing was graded.")
        else:
            why = (f"No notebook (.ipynb) was submitted: submit your {name}.ipynb, the exercise notebook "
                   "with your answers. Nothing was graded.")
        return not_graded(questions, why, name)
    use_sandbox, why_not = sandbox_here()
    if not use_sandbox:
        print(f"convlab autograder: no sandbox here, grading without one (the container is the sandbox): {why_not}")
    from convlab.grading.batch import grade

    with tempfile.TemporaryDirectory(prefix="convlab-gradescope-") as scratch:
        json_path = Path(scratch) / "grade.json"
        status = grade([found[0]], json_path=str(json_path), chapter=number, use_sandbox=use_sandbox,
                       timeout=limits["timeout"], cell_timeout=limits["cell_timeout"],
                       check_timeout=limits["check_timeout"], memory_mb=limits["memory_mb"],
                       hard_limit=limits["hard_limit"], out=sys.stdout)
        try:
            record = json.loads(json_path.read_text(encoding="utf-8"))["submissions"][0]
        except (OSError, ValueError, KeyError, IndexError):
            return not_graded(questions, f"The grader stopped before grading this submission (exit {status}). "
                                         "Your instructor can see why in the autograder's log.", name)
    return gradescope_results(record, sandbox_note=None if use_sandbox else why_not)


def submitted_notebooks(folder: Path) -> list:
    """The .ipynb files under folder (any depth), leaving out hidden files and folders and links."""
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.rglob("*.ipynb"))
            if path.is_file() and not path.is_symlink()
            and not any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(folder).parts)]


def sandbox_here() -> tuple:
    """(True, None) where bubblewrap can make a sandbox, else (False, the reason)."""
    from convlab.grading import sandbox

    try:
        sandbox.check_available()
    except sandbox.Unavailable as problem:
        return False, str(problem)
    return True, None


def not_graded(questions, why: str, chapter: str) -> dict:
    """results.json when there is nothing to grade: every question at 0, and why."""
    tests = [{"name": f"{q.qid}: {q.title}", "score": 0, "max_score": q.points, "status": "failed",
              "output": "not graded: " + why, "visibility": "visible"} for q in questions]
    total = sum(q.points for q in questions)
    return {"score": 0, "output": f"Chapter {chapter}: 0/{total} points. {why}", "output_format": "text",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"convlab": {"chapter": chapter, "status": "not graded"}}}


def gradescope_results(record: dict, *, sandbox_note=None) -> dict:
    """Gradescope's results.json from one submission of `convlab grade --json` (sandbox_note: why none)."""
    tests = []
    for q in record.get("questions", []):
        tests.append({"name": f"{q['id']}: {q['title']}", "score": q["points"], "max_score": q["max_points"],
                      "status": "passed" if q["passed"] else "failed",
                      "output": ("✓ " if q["passed"] else "✗ ") + (q.get("feedback") or ""),
                      "visibility": "visible"})
    lines = [f"Chapter {record.get('chapter')}: {_number(record['score'])}/{record.get('max_score')} points."]
    status = record.get("status", "graded")
    if status == "invalid":
        lines.append("This file could not be graded as a notebook of this chapter (details below).")
    elif status == "timeout":
        lines.append("Grading this notebook ran past the time limit, so it scored 0: look for a cell that "
                     "runs too long or never ends.")
    elif status == "error":
        lines.append("The grader itself failed on this notebook: tell your instructor (the log has the details).")
    if sandbox_note:
        cause = core.clip(sandbox_note.split(". ")[0].rstrip("."), 160)  # the cause, not the instructor's fixes
        lines.append(f"Graded without bubblewrap, which cannot make a sandbox in this container ({cause}): "
                     "the container is the sandbox. Your notebook's code ran unconfined inside it; every answer "
                     "was still judged by the grader, not by your code.")
    else:
        lines.append("Your notebook ran in a bubblewrap sandbox; every answer was judged by the grader outside it.")
    lines.extend(f"- {note}" for note in record.get("notes", []))
    return {"score": record["score"], "output": "\n".join(lines), "output_format": "text",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"convlab": {"chapter": record.get("chapter"), "status": status,
                                       "sandbox": sandbox_note is None, "sha256": record.get("sha256"),
                                       "file": Path(record.get("path", "")).name,
                                       "seconds": record.get("seconds")}}}


def _number(value):
    return int(value) if float(value).is_integer() else value


# --- GitHub Classroom --------------------------------------------------------------------------------


def classroom_workflow(chapter, *, notebook=None, ref="main", repository=BOOK_REPOSITORY) -> str:
    """The text of .github/workflows/classroom.yml that grades chapter's notebook on every push."""
    number, name = resolve_chapter(chapter)
    if not re.fullmatch(r"[\w./-]+", ref):
        raise UsageError(f"--ref {ref!r}: give a branch, tag or commit of the book's repository")
    notebook = notebook or f"{name}.ipynb"
    if not notebook.endswith(".ipynb") or "\n" in notebook:
        raise UsageError(f"--notebook {notebook!r}: give the path of the student's .ipynb in their repository")
    points = sum(q.points for q in core.load_chapter(number))
    replacements = {"__CHAPTER__": name, "__NUMBER__": number, "__NOTEBOOK__": shlex.quote(notebook),
                    "__PINS__": " ".join(f"{p}=={v}" for p, v in pins().items()), "__REPOSITORY__": repository,
                    "__REF__": ref, "__POINTS__": str(points)}
    text = (TEMPLATES / "classroom.yml").read_text(encoding="utf-8")
    for key, value in replacements.items():
        text = text.replace(key, value)
    return text


def classroom_result(summary, questions, problem=None) -> dict:
    """The autograding reporter's result (version 1) from `convlab grade --json`'s summary, or 0 and problem."""
    max_score = sum(q.points for q in questions)
    records = summary.get("submissions", []) if isinstance(summary, dict) and not problem else []
    if len(records) != 1:
        problem = problem or f"expected the grade of one notebook, found {len(records)}"
        tests = [{"name": f"{q.qid}: {q.title}", "status": "error", "score": 0, "max_score": q.points,
                  "message": problem, "line_no": 0, "execution_time": "0s"} for q in questions]
        return {"version": 1, "status": "error", "max_score": max_score, "tests": tests}
    record = records[0]
    tests = [{"name": f"{q['id']}: {q['title']}", "status": "pass" if q["passed"] else "fail",
              "score": q["points"], "max_score": q["max_points"], "message": q.get("feedback") or "",
              "line_no": 0, "execution_time": "0s"} for q in record.get("questions", [])]
    status = "pass" if tests and all(t["status"] == "pass" for t in tests) else "fail"
    if record.get("status") == "error":
        status = "error"
    return {"version": 1, "status": status, "max_score": record.get("max_score") or max_score, "tests": tests}


def classroom(json_path, chapter) -> int:
    """Print the points; write `result=` (base64) to $GITHUB_OUTPUT and a table to $GITHUB_STEP_SUMMARY."""
    number, _ = resolve_chapter(chapter)
    questions = core.load_chapter(number)
    try:
        summary, problem = json.loads(Path(json_path).read_text(encoding="utf-8")), None
    except (OSError, ValueError) as error:
        summary = None
        problem = (f"convlab grade wrote no results ({error.__class__.__name__}): see the Grade step's log "
                   "(a missing notebook, or no sandbox on this runner)")
    result = classroom_result(summary, questions, problem)
    score = sum(t["score"] for t in result["tests"])
    print(f"Points {_number(round(score, 2))}/{result['max_score']}")
    encoded = base64.b64encode(json.dumps(result).encode()).decode()
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.write(f"result={encoded}\n")
    else:
        print(f"result={encoded}")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        rows = ["| question | points | max | feedback |", "| --- | ---: | ---: | --- |"]
        rows += [f"| {t['name']} | {t['score']} | {t['max_score']} | "
                 f"{'✓' if t['status'] == 'pass' else '✗'} {t['message'].replace('|', '/')} |"
                 for t in result["tests"]]
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(f"### convlab: {_number(round(score, 2))}/{result['max_score']} points\n\n"
                         + "\n".join(rows) + "\n")
    return 0


# --- python -m convlab.grading.gradescope ------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlab.grading.gradescope",
                                     description="Gradescope's run_autograder, and GitHub Classroom's score step.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="grade /autograder/submission into /autograder/results/results.json")
    run.add_argument("--root", help=f"the autograder folder (${ROOT_ENV}, else {DEFAULT_ROOT})")
    score = commands.add_parser("classroom", help="the reporter's result from `convlab grade --json FILE`")
    score.add_argument("json_path", metavar="FILE")
    score.add_argument("--chapter", required=True, metavar="NN")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run_autograder(args.root)
            return 0
        return classroom(args.json_path, args.chapter)
    except ConvlabError as problem:
        print(f"{parser.prog}: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
