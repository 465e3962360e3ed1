"""What the grader writes: a table per submission, the JSON summary and the CSV gradebook."""

import csv
import io
import json
import os
from pathlib import Path

from convlab.exercises import core

SCHEMA_VERSION = 1  # fields are only ever added


def table(result) -> str:
    lines = [f"{result.path} — student {result.student} — chapter {result.chapter or '?'} — "
             f"{result.score}/{result.max_score} ({result.status}, {result.seconds:.1f} s"
             f"{'' if result.sandbox else ', NOT SANDBOXED'})"]
    rows = [("question", "points", "max", "feedback")]
    for q in result.questions:
        rows.append((q.id, str(q.points), str(q.max_points), ("✓ " if q.passed else "✗ ") + q.feedback))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        lines.append(f"  {row[0]:<{width[0]}}  {row[1]:>{width[1]}}  {row[2]:>{width[2]}}  {row[3]}")
    lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines) + "\n"


def summary(results, *, sandboxed: bool, complete: bool) -> dict:
    return {"convlab_grade": SCHEMA_VERSION, "sandbox": sandboxed, "complete": complete,
            "submissions": [r.to_json() for r in results]}


def gradebook(results) -> str:
    """CSV: one row per submission (a student's notebook for one chapter), a column per question, total, max."""
    qids = []
    for result in results:
        qids.extend(q.id for q in result.questions if q.id not in qids)
    qids.sort(key=lambda qid: (qid[:2], core.order(core.Question(qid, 1, "", ("x",), None))))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "path", "chapter", *qids, "total", "max", "status"])
    for result in sorted(results, key=lambda r: (r.student, r.chapter or "", r.path)):
        points = {q.id: q.points for q in result.questions}
        writer.writerow([result.student, result.path, result.chapter or "", *[points.get(q, "") for q in qids],
                         result.score, result.max_score, result.status])
    return buffer.getvalue()


def write_atomically(path, text: str) -> None:
    """Write text to path through a temporary file beside it, so a reader never sees half a file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


def write(results, *, json_path=None, csv_path=None, sandboxed=True, complete=True) -> None:
    if json_path:
        text = json.dumps(summary(results, sandboxed=sandboxed, complete=complete), indent=1, ensure_ascii=False)
        write_atomically(json_path, text + "\n")
    if csv_path:
        write_atomically(csv_path, gradebook(results))
