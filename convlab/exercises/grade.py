"""Grade submissions: each in a fresh Jupyter kernel, checks run after the student's cells.

    convlab grade PATH... [--json FILE] [--csv FILE] [--timeout S] [--cell-timeout S] [--jobs N]
                          [--chapter NN] [--extra-checks DIR] [--memory MB]

PATH is a notebook or a folder (searched recursively for *.ipynb). Every submission
runs in its own worker process (_worker.py) with a hard wall-clock limit; inside,
a fresh kernel runs a preamble (memory, file-size and core-dump limits), the
student's code cells with a per-cell limit and a whole-submission limit, then one
grading cell that loads the checks from source text read before any student code
ran, under fresh module objects, and reports each question through a file tagged
with a random per-run nonce. A cell that hangs or kills the kernel is skipped and
the notebook re-run without it. The submission is read once, graded from a copy in
a temporary folder, and checked byte for byte afterwards (restored if touched).
Exit codes, the JSON schema and the CSV layout: README.md, section "Grading".
"""

import csv
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from convlab.exercises import core

SCHEMA_VERSION = 1
WORKER = Path(__file__).resolve().parent / "_worker.py"
ZYGOTE = Path(__file__).resolve().parent / "_zygote.py"
FORK_KERNEL = Path(__file__).resolve().parent / "_forkkernel.py"
STEM = re.compile(r"^(\d\d)_\w+")
QID_IN_TEXT = re.compile(r"(?:Question\s+|check\(\s*[\"'])(\d\d)\.q\d+")
EXIT_OK, EXIT_USAGE, EXIT_GRADER = 0, 2, 3


HIDDEN_IDS = []  # question ids registered by --extra-checks during the current run


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
            raise UsageError(f"no such file or folder: {name}")
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
    except (ValueError, AttributeError):
        pass
    match = STEM.match(path.stem)
    if match:
        return match.group(1)
    found = QID_IN_TEXT.findall(data.decode("utf-8", "replace"))
    return max(set(found), key=found.count) if found else None


def load_extra_checks(folder) -> list:
    """[(module name, source)] of every *.py in folder, each registered into the REGISTRY once."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--extra-checks {folder}: not a folder")
    modules = []
    for path in sorted(folder.glob("*.py")):
        name = "convlab_extra_checks_" + re.sub(r"\W", "_", path.stem)
        text = path.read_text(encoding="utf-8")
        before = set(core.REGISTRY)
        try:
            exec(compile(text, str(path), "exec"), {"__name__": name})
        except Exception as problem:
            raise UsageError(f"--extra-checks: {path} failed to load: {type(problem).__name__}: {problem}") from None
        HIDDEN_IDS.extend(set(core.REGISTRY) - before)
        if not set(core.REGISTRY) - before:
            raise UsageError(f"--extra-checks: {path} registers no new question (use @question with a new id)")
        modules.append((name, text))
    return modules


def grade(paths, *, json_path=None, csv_path=None, timeout=120, cell_timeout=30, check_timeout=10, jobs=1,
          chapter=None, extra_checks=None, memory_mb=2048, output_limit=1_000_000, quiet=False, out=None,
          fork=True, hard_limit=None) -> int:
    """Grade the notebooks under paths; print tables; write JSON/CSV; return the exit code."""
    out = out or sys.stdout
    saved = dict(core.REGISTRY)
    try:
        return _grade(paths, json_path, csv_path, timeout, cell_timeout, check_timeout, jobs, chapter, extra_checks,
                      memory_mb, output_limit, quiet, out, fork, hard_limit)
    finally:  # hidden checks register for this run only
        for qid in HIDDEN_IDS:
            core.REGISTRY.pop(qid, None)
            if qid in saved:
                core.REGISTRY[qid] = saved[qid]
        HIDDEN_IDS.clear()


def _grade(paths, json_path, csv_path, timeout, cell_timeout, check_timeout, jobs, chapter, extra_checks,
           memory_mb, output_limit, quiet, out, fork, hard_limit) -> int:
    try:
        if chapter is not None and not re.match(r"^\d\d", str(chapter)):
            raise UsageError(f"--chapter {chapter}: give the chapter number, e.g. 01")
        submissions = find_submissions(paths)
        jobs = max(1, int(jobs))
        extras = load_extra_checks(extra_checks)
        sources = {"core": (Path(core.__file__)).read_text(encoding="utf-8")}
    except UsageError as problem:
        print(f"convlab grade: {problem}", file=sys.stderr)
        return EXIT_USAGE
    chapters = core.chapters()
    run_nonce = secrets.token_hex(16)
    scratch = Path(tempfile.mkdtemp(prefix="convlab-grade-"))
    records, pending = [], []
    factory = None
    try:
        kernel = {}
        if fork and sys.platform.startswith("linux") and hasattr(os, "pidfd_open"):
            factory, kernel = start_factory(scratch)
        for index, path in enumerate(submissions):
            data = path.read_bytes()
            number = detect_chapter(path, data, chapter)
            record = {"path": str(path), "student": student_name(path), "chapter": None,
                      "sha256": hashlib.sha256(data).hexdigest(), "status": "graded", "score": 0,
                      "max_score": 0, "questions": [], "notes": [], "seconds": 0.0}
            records.append(record)
            if number not in chapters:
                record.update(status="invalid", notes=["cannot tell which chapter this notebook answers "
                                                       "(use --chapter NN)" if number is None else
                                                       f"there are no checks for chapter {number}"])
                continue
            questions = core.load_chapter(number)
            record.update(chapter=chapters[number].stem[1:], max_score=sum(q.points for q in questions))
            record["questions"] = [{"id": q.qid, "title": q.title, "points": 0, "max_points": q.points,
                                    "passed": False, "feedback": ""} for q in questions]
            folder = scratch / f"{index:05d}"
            work = folder / "work"
            work.mkdir(parents=True)
            (folder / "ipc").mkdir()
            (work / "submission.ipynb").write_bytes(data)
            job = {"path": str(work / "submission.ipynb"), "workdir": str(work), "timeout": timeout,
                   "cell_timeout": cell_timeout, "check_timeout": check_timeout, "memory_mb": memory_mb,
                   "file_mb": 64, "output_limit": output_limit, "nonce": secrets.token_hex(16),
                   "questions": [q.qid for q in questions],
                   "names": {q.qid: list(q.names) for q in questions}, "result": str(folder / "result.json"),
                   "pidfile": str(folder / "kernel.pid"),
                   "ipc_dir": str(folder / "ipc"), "checks_out": str(folder / f"checks-{run_nonce}.jsonl"),
                   "sources": {"core": sources["core"], "modules": [
                       (f"convlab.exercises.{chapters[number].stem}", chapters[number].read_text(encoding="utf-8")),
                       *extras]}, **kernel}
            (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
            pending.append((record, folder, job, data, path))
        questions_most = max((len(job["questions"]) for _, _, job, _, _ in pending), default=0)
        hard = hard_limit or timeout + 4 * (cell_timeout + 10) + questions_most * (check_timeout + 5) * 2 + 60
        for _, folder, job, _, _ in pending:
            job["hard_limit"] = hard + 5  # the worker's own watchdog; the parent kills it at `hard`
            (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
        run_all(pending, jobs, hard_limit=hard)
    finally:
        if factory is not None:
            _killpg(factory.pid)
            factory.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    status = EXIT_OK
    for record in records:
        if record["status"] == "error":
            status = EXIT_GRADER
        if not quiet:
            print(table(record), file=out)
    summary = {"convlab_grade": SCHEMA_VERSION, "submissions": records}
    if json_path:
        Path(json_path).write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if csv_path:
        Path(csv_path).write_text(gradebook(records), encoding="utf-8", newline="")
    return status


def start_factory(scratch: Path):
    """Start the kernel factory (_zygote.py); (process, job options), or (None, {}) if it will not start."""
    socket_path = scratch / "factory.sock"
    spec = scratch / "kernels" / "convlab-grader"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-I", str(FORK_KERNEL), str(socket_path), "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "convlab grader",
                                                  "language": "python"}))
    process = subprocess.Popen([sys.executable, str(ZYGOTE), str(socket_path)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    ready = process.stdout.readline()  # "ready", or "" if it died
    if ready.strip() != b"ready":
        _killpg(process.pid)
        process.wait()
        return None, {}
    return process, {"kernel_name": "convlab-grader", "kernel_dirs": [str(scratch / "kernels")]}


def _killpg(pid) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_all(pending, jobs: int, hard_limit: float) -> None:
    """Run the workers, jobs at a time, killing any that overrun hard_limit seconds."""
    queue, running = list(pending), []
    while queue or running:
        while queue and len(running) < jobs:
            record, folder, job, data, path = queue.pop(0)
            log = open(folder / "worker.log", "wb")
            process = subprocess.Popen([sys.executable, str(WORKER), str(folder / "job.json")], stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            running.append((process, time.monotonic(), log, record, folder, job, data, path))
        time.sleep(0.05)
        still = []
        for item in running:
            process, started, log, record, folder, job, data, path = item
            overran = time.monotonic() - started > hard_limit
            if process.poll() is None and not overran:
                still.append(item)
                continue
            if overran:
                stop(process, folder)
            log.close()
            finish(record, folder, job, data, path, overran, time.monotonic() - started)
        running = still


def stop(process, folder: Path) -> None:
    for pid in (process.pid, _read_pid(folder / "kernel.pid")):
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    process.wait()


def _read_pid(path: Path):
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def finish(record, folder, job, data, path, overran, seconds) -> None:
    """Fill the record from the worker's result; make sure the submission file is untouched."""
    pid = _read_pid(folder / "kernel.pid")
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)  # anything the notebook started in the kernel's session
        except (ProcessLookupError, PermissionError):
            pass
    record["seconds"] = round(seconds, 2)
    try:
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log_path = folder / "worker.log"
        log = log_path.read_bytes()[-600:].decode("utf-8", "replace") if log_path.exists() else ""
        if overran:
            record.update(status="timeout", notes=["grading this submission ran past the hard time limit; "
                                                   "it was stopped and scored 0."])
        else:
            record.update(status="error", notes=["the grader's worker failed: " + " ".join(log.split())[-300:]])
        result = {}
    if result:
        record["status"] = result.get("status", "error")
        record["notes"] = list(result.get("notes", []))
        if result.get("reason"):
            record["notes"].insert(0, result["reason"])
        answers = result.get("answers", {})
        for question in record["questions"]:
            answer = answers.get(question["id"])
            if answer is None:
                question["feedback"] = result.get("reason") or "not graded"
                continue
            question["passed"] = bool(answer.get("passed"))
            question["points"] = question["max_points"] if question["passed"] else 0
            question["feedback"] = "correct" if question["passed"] else answer.get("reason", "wrong")
    record["score"] = sum(q["points"] for q in record["questions"])
    if not Path(path).exists() or Path(path).read_bytes() != data:
        Path(path).write_bytes(data)
        record["notes"].append("the notebook changed the submission file while it was graded; it was restored.")


def table(record) -> str:
    lines = [f"{record['path']} — student {record['student']} — chapter {record['chapter'] or '?'} — "
             f"{record['score']}/{record['max_score']} ({record['status']}, {record['seconds']:.1f} s)"]
    rows = [("question", "points", "max", "feedback")]
    for q in record["questions"]:
        mark = "✓ " if q["passed"] else "✗ "
        rows.append((q["id"], str(q["points"]), str(q["max_points"]), mark + q["feedback"]))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        lines.append(f"  {row[0]:<{width[0]}}  {row[1]:>{width[1]}}  {row[2]:>{width[2]}}  {row[3]}")
    lines.extend(f"  note: {note}" for note in record["notes"])
    return "\n".join(lines) + "\n"


def gradebook(records) -> str:
    """CSV: one row per submission (student), one column per question id, then total, max and status."""
    qids = []
    for record in records:
        for q in record["questions"]:
            if q["id"] not in qids:
                qids.append(q["id"])
    qids.sort(key=lambda qid: (qid[:2], core._order(core.Question(qid, 1, "", ("x",), None))))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "path", "chapter", *qids, "total", "max", "status"])
    for record in records:
        points = {q["id"]: q["points"] for q in record["questions"]}
        writer.writerow([record["student"], record["path"], record["chapter"] or "",
                         *[points.get(qid, "") for qid in qids], record["score"], record["max_score"],
                         record["status"]])
    return buffer.getvalue()
