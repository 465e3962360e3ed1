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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from convlab.exercises import core
from convlab.grading import canvas, earlier, report, roster, sandbox
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


@dataclass
class Options:
    """What `convlab grade` was asked to do besides the limits (see the CLI's help)."""

    json_path: str | None = None
    csv_path: str | None = None
    jobs: int = 1
    chapter: str | None = None
    extra_checks: str | None = None
    quiet: bool = False
    out: object = None
    hard_limit: float | None = None
    use_sandbox: bool = True
    resume: bool = False
    roster: str | None = None
    only: str | None = None      # "01.q3,01.q5": regrade these and merge them into json_path
    feedback: str | None = None  # folder for one HTML (and Markdown) file per student
    report: str | None = None    # folder for the class report (index.html)
    canvas: str | None = None    # Canvas gradebook import CSV


def grade(paths, *, timeout=120, cell_timeout=30, check_timeout=10, memory_mb=2048, output_limit=1_000_000,
          **options) -> int:
    """Grade the notebooks under paths; print tables; write the outputs as results come; return the exit code."""
    limits = Limits(timeout, cell_timeout, check_timeout, memory_mb, output_limit=output_limit)
    run = Options(**options)
    run.out = run.out or sys.stdout
    saved = dict(core.REGISTRY)
    try:
        return _grade(paths, limits, run)
    except (UsageError, earlier.EarlierError, roster.RosterError) as problem:
        print(f"convlab grade: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except sandbox.Unavailable as problem:
        print(f"convlab grade: refusing to grade without a sandbox: {problem}", file=sys.stderr)
        return EXIT_USAGE
    finally:  # hidden checks register for this run only
        core.REGISTRY.clear()
        core.REGISTRY.update(saved)
        core.set_salt(0)


def _grade(paths, limits: Limits, run: Options) -> int:
    if run.chapter is not None and not re.match(r"^\d\d", str(run.chapter)):
        raise UsageError(f"--chapter {run.chapter}: give the chapter number, e.g. 01")
    if (run.resume or run.only) and not run.json_path:
        raise UsageError(f"{'--resume' if run.resume else '--only'} needs --json FILE (the results to continue)")
    students = roster.read(run.roster) if run.roster else None
    submissions = find_submissions(paths)
    load_extra_checks(run.extra_checks)
    only = _only(run.only)
    previous = earlier.load(run.json_path, only) if run.resume or only else []
    if run.use_sandbox:
        sandbox.check_available()
    else:
        print("convlab grade: WARNING: --no-sandbox: student code runs unconfined; these grades are not trusted.",
              file=sys.stderr)
    core.set_salt(secrets.randbits(48))  # random cases nobody can know before the batch
    done = {(r.path, r.sha256): r for r in previous if r.status in ("graded", "invalid", "timeout")}
    results, work, sources = [None] * len(submissions), [], {}
    for index, path in enumerate(submissions):
        data = _read(path)
        result = prepare(path, data, run.chapter, run.use_sandbox)
        sources[str(path)] = _code_cells(data)
        if only:
            result.questions = [q for q in result.questions if q.id in only]
        if not only and (str(path), result.sha256) in done:
            results[index] = done[(str(path), result.sha256)]
        elif result.status == "graded" and result.questions:
            work.append((index, data, result))
        else:
            results[index] = result
    supervisor, lock = Supervisor(limits, run.hard_limit, run.use_sandbox), threading.Lock()

    def outputs(complete: bool) -> list:
        found = [r for r in results if r is not None]
        found = earlier.merge(previous, found) if only else found
        return roster.apply(found, students, run.chapter) if complete and students is not None else found

    def finished(index, result):
        with lock:
            results[index] = result
            report.write(outputs(False), json_path=run.json_path, csv_path=run.csv_path,
                         sandboxed=run.use_sandbox, complete=False)

    with ThreadPoolExecutor(max_workers=max(1, int(run.jobs))) as pool:
        futures = [pool.submit(supervisor.grade_one, data, result) for _, data, result in work]
        for (index, _, _), future in zip(work, futures):
            finished(index, future.result())
    for path, result in zip(submissions, results):
        verify_unchanged(path, result)
    final = outputs(True)
    if not run.quiet:
        for result in final:
            print(report.table(result), file=run.out)
    write_outputs(final, run, sources)
    return EXIT_GRADER if any(r.status == "error" for r in final) else EXIT_OK


def write_outputs(results, run: Options, sources: dict) -> None:
    report.write(results, json_path=run.json_path, csv_path=run.csv_path, sandboxed=run.use_sandbox, complete=True)
    if run.canvas:
        report.write_atomically(run.canvas, canvas.export(results, roster.read(run.roster) if run.roster else {}))
    if run.feedback:
        from convlab.grading import feedback

        feedback.write(results, Path(run.feedback))
    if run.report:
        from convlab.grading import classreport

        classreport.write(results, Path(run.report), sources)


def _code_cells(data: bytes) -> list:
    """[(section, source)] of a submission's code cells, for the class report's similarity ([] if unreadable)."""
    try:
        return [(section, source) for _, section, source, _ in read_cells(data)]
    except Invalid:
        return []


def _only(text) -> set:
    """The question ids of --only, each checked against the registry (chapters loaded on demand)."""
    if not text:
        return set()
    wanted = {qid.strip() for qid in text.split(",") if qid.strip()}
    for qid in wanted:
        try:
            core.load_chapter(qid[:2])
        except KeyError:
            pass
    unknown = sorted(q for q in wanted if q not in core.REGISTRY)
    if unknown:
        known = ", ".join(sorted(core.REGISTRY, key=lambda q: (q[:2], core.order(core.REGISTRY[q]))))
        raise UsageError(f"--only: no question {', '.join(unknown)}; the questions are: {known}")
    return wanted


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
        result.graded_at = datetime.now(UTC).isoformat(timespec="seconds")
        return result


def verify_unchanged(path: Path, result: Result) -> None:
    """The original must still be what was graded; if anything changed it, say so (and never overwrite it)."""
    try:
        now = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        now = None
    if now is not None and now != result.sha256:
        result.notes.append("the submission file changed during grading (by something outside the sandbox); "
                            "the grade is for the version read at the start (sha256 in this record).")
