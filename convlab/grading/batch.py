"""Grade a batch of submissions: `convlab grade PATH... [--json F] [--csv F] [--jobs N] ...`.

Each submission is read once (and hashed), graded from those bytes in its own
sandboxed kernel (judge.py), `jobs` at a time, and its result is written as soon
as it is known (the JSON and CSV are rewritten atomically), so a grader stopped
half-way leaves what it finished and `--resume` goes on from there. The
supervisor here enforces each submission's hard wall-clock limit from outside
every sandbox. Originals are never visible to a sandbox; their hashes are
checked again at the end. Exit codes, the JSON schema and the CSV: README.md,
section "Grading".
"""

import hashlib
import json
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from convlab.exercises import core
from convlab.grading import report, sandbox
from convlab.grading.judge import Invalid, Judge, read_cells
from convlab.grading.records import Limits, QuestionResult, Result

STEM = re.compile(r"^(\d\d)_\w+")
QID_IN_TEXT = re.compile(r"(?:Question\s+|check\(\s*[\"'])(\d\d)\.q\d+")
EXIT_OK, EXIT_USAGE, EXIT_GRADER = 0, 2, 3


class UsageError(Exception):
    pass


def find_submissions(paths) -> list:
    found = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts)
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no such file or folder: {name} (give notebooks, or folders that hold them)")
    if not found:
        raise UsageError("no notebooks (*.ipynb) found in " + ", ".join(map(str, paths)))
    return found


def student_name(path: Path) -> str:
    """The file's stem, or its folder's name when the file is named like the chapter (alice/01_conv2d.ipynb)."""
    return path.parent.name if STEM.match(path.stem) and path.parent.name else path.stem


def detect_chapter(path: Path, data: bytes, forced):
    if forced:
        return forced[:2]
    try:
        meta = json.loads(data).get("metadata", {}).get("convlab", {}).get("chapter")
        if isinstance(meta, str) and STEM.match(meta):
            return meta[:2]
    except (ValueError, AttributeError, RecursionError):
        pass
    match = STEM.match(path.stem)
    if match:
        return match.group(1)
    found = QID_IN_TEXT.findall(data[:MAX_SCAN].decode("utf-8", "replace"))
    return max(set(found), key=found.count) if found else None


MAX_SCAN = 4 << 20


def load_extra_checks(folder) -> list:
    """Register the questions of every *.py in folder (trusted instructor code, run here only); their ids."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--extra-checks {folder}: not a folder (give the folder that holds the .py files)")
    added = []
    for path in sorted(folder.glob("*.py")):
        before = set(core.REGISTRY)
        try:
            text = path.read_text(encoding="utf-8")
            name = "convlab_extra_checks_" + re.sub(r"\W", "_", path.stem)
            exec(compile(text, str(path), "exec"), {"__name__": name})
        except Exception as problem:  # noqa: BLE001 - any failure of the instructor's file is a usage error
            raise UsageError(f"--extra-checks: {path} failed to load: {type(problem).__name__}: {problem} "
                             "(fix the file, or move it out of the folder)") from None
        new = set(core.REGISTRY) - before
        if not new:
            raise UsageError(f"--extra-checks: {path} registers no new question (use @question with a new id)")
        added.extend(new)
    return added


def grade(paths, *, json_path=None, csv_path=None, timeout=120, cell_timeout=30, check_timeout=10, jobs=1,
          chapter=None, extra_checks=None, memory_mb=2048, output_limit=1_000_000, quiet=False, out=None,
          hard_limit=None, use_sandbox=True, resume=False) -> int:
    """Grade the notebooks under paths; print tables; write JSON/CSV as results come; return the exit code."""
    out = out or sys.stdout
    saved = dict(core.REGISTRY)
    try:
        return _grade(paths, json_path, csv_path, Limits(timeout, cell_timeout, check_timeout, memory_mb,
                                                         output_limit=output_limit), jobs, chapter, extra_checks,
                      quiet, out, hard_limit, use_sandbox, resume)
    except UsageError as problem:
        print(f"convlab grade: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except sandbox.Unavailable as problem:
        print(f"convlab grade: refusing to grade without a sandbox: {problem}", file=sys.stderr)
        return EXIT_USAGE
    finally:  # hidden checks register for this run only
        core.REGISTRY.clear()
        core.REGISTRY.update(saved)
        core.set_salt(0)


def _grade(paths, json_path, csv_path, limits, jobs, chapter, extra_checks, quiet, out, hard_limit, use_sandbox,
           resume) -> int:
    if chapter is not None and not re.match(r"^\d\d", str(chapter)):
        raise UsageError(f"--chapter {chapter}: give the chapter number, e.g. 01")
    if resume and not json_path:
        raise UsageError("--resume needs --json FILE (the results to continue)")
    submissions = find_submissions(paths)
    load_extra_checks(extra_checks)
    if use_sandbox:
        sandbox.check_available()
    else:
        print("convlab grade: WARNING: --no-sandbox: student code runs unconfined; these grades are not trusted.",
              file=sys.stderr)
    core.set_salt(secrets.randbits(48))  # random cases nobody can know before the batch
    done = previous_results(json_path) if resume else {}
    results = [None] * len(submissions)
    work = []
    for index, path in enumerate(submissions):
        data = _read(path)
        result = prepare(path, data, chapter, use_sandbox)
        key = (str(path), result.sha256)
        if key in done:
            results[index] = done[key]
        elif result.status == "graded":
            work.append((index, path, data, result))
        else:
            results[index] = result
    supervisor = Supervisor(limits, hard_limit, use_sandbox)
    lock = threading.Lock()

    def finished(index, result):
        with lock:
            results[index] = result
            report.write([r for r in results if r is not None], json_path=json_path, csv_path=csv_path,
                         sandboxed=use_sandbox, complete=False)

    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        futures = [pool.submit(supervisor.grade_one, data, result) for _, _, data, result in work]
        for (index, _, _, _), future in zip(work, futures):
            finished(index, future.result())
    status = EXIT_OK
    for path, result in zip(submissions, results):
        verify_unchanged(path, result)
        if result.status == "error":
            status = EXIT_GRADER
        if not quiet:
            print(report.table(result), file=out)
    report.write(results, json_path=json_path, csv_path=csv_path, sandboxed=use_sandbox, complete=True)
    return status


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as problem:
        return f"\0unreadable: {problem.strerror or problem}".encode()


def prepare(path: Path, data: bytes, forced_chapter, use_sandbox: bool) -> Result:
    """The result record of one submission before grading: its questions, or why it cannot be graded."""
    chapters = core.chapters()
    result = Result(str(path), student_name(path), None, hashlib.sha256(data).hexdigest(), sandbox=use_sandbox)
    if data.startswith(b"\0unreadable: "):
        result.status = "invalid"
        result.notes = [f"cannot read {path}: {data[13:].decode()} (check the file's permissions)"]
        return result
    number = detect_chapter(path, data, forced_chapter)
    if number not in chapters:
        result.status = "invalid"
        result.notes = ["cannot tell which chapter this notebook answers (use --chapter NN)" if number is None
                        else f"there are no checks for chapter {number}"]
        return result
    questions = core.load_chapter(number)
    result.chapter = chapters[number].stem[1:]
    result.max_score = sum(q.points for q in questions)
    result.questions = [QuestionResult(q.qid, q.title, 0, q.points, False, "") for q in questions]
    return result


class Supervisor:
    """Grades one submission at a time per worker thread, each under a hard wall-clock limit enforced here."""

    def __init__(self, limits, hard_limit, use_sandbox):
        self.limits, self.hard_limit, self.use_sandbox = limits, hard_limit, use_sandbox

    def grade_one(self, data: bytes, result: Result) -> Result:
        started = time.monotonic()
        questions = [core.REGISTRY[q.id] for q in result.questions]
        try:
            cells = read_cells(data)
        except Invalid as problem:
            result.status, result.notes = "invalid", [str(problem)]
            for q in result.questions:
                q.feedback = str(problem)
            return result
        scratch = None if self.use_sandbox else Path(tempfile.mkdtemp(prefix="convlab-nosandbox-"))
        judge = Judge(cells, questions, self.limits, use_sandbox=self.use_sandbox, workdir=scratch)
        limit = self.hard_limit or self.limits.hard_limit(len(questions))
        timer = threading.Timer(limit, judge.abort)
        timer.start()
        try:
            result.questions = judge.grade()
            result.notes = judge.notes
            if judge.aborted:
                result.status = "timeout"
                result.notes.insert(0, f"grading this submission ran past the hard time limit ({int(limit)} s); "
                                       "it was stopped and scored 0.")
                for q in result.questions:
                    q.points, q.passed = 0, False
        except Exception as problem:  # noqa: BLE001 - a grader bug costs this submission, not the batch
            result.status = "error"
            result.notes.append(f"the grader failed: {type(problem).__name__}: {core.clip(str(problem), 300)}")
        finally:
            timer.cancel()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        result.total()
        result.seconds = round(time.monotonic() - started, 2)
        return result


def previous_results(json_path) -> dict:
    """{(path, sha256): Result} of the finished submissions in an earlier run's JSON (for --resume)."""
    try:
        data = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as problem:
        raise UsageError(f"--resume: cannot read {json_path}: {problem}") from None
    found = {}
    for item in data.get("submissions", []) if isinstance(data, dict) else []:
        try:
            result = Result.from_json(item)
        except (TypeError, KeyError):
            continue
        if result.status in ("graded", "invalid", "timeout"):
            found[(result.path, result.sha256)] = result
    return found


def verify_unchanged(path: Path, result: Result) -> None:
    """The original must still be what was graded; if anything changed it, say so (and never overwrite it)."""
    try:
        now = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        now = None
    if now is not None and now != result.sha256:
        result.notes.append("the submission file changed during grading (by something outside the sandbox); "
                            "the grade is for the version read at the start (sha256 in this record).")
