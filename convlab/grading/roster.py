"""The class list: `--roster CSV` with a `student` column (and optional name, email, section, sis_id, id).

A student on the roster with no submission is graded `missing` (0 points); a
submission from a student not on it is listed as `unknown`. Every problem with
the file is a RosterError that names the line and the fix.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from convlab.exercises import core
from convlab.grading.records import QuestionResult, Result

OPTIONAL = ("name", "email", "section", "sis_id", "id")


class RosterError(ValueError):
    pass


@dataclass(frozen=True)
class Student:
    student: str
    name: str = ""
    email: str = ""
    section: str = ""
    sis_id: str = ""
    id: str = ""  # the LMS's own user id (Canvas's "ID" column), when known


def read(path) -> dict:
    """{student: Student} from the roster CSV at path (UTF-8, a header row naming the columns)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as problem:
        raise RosterError(f"--roster {path}: cannot read it ({problem.strerror or problem}).") from None
    text = _decode(raw, path)
    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows, [])]
    if "student" not in header:
        raise RosterError(f"--roster {path}, line 1: no `student` column (found {', '.join(header) or 'nothing'}). "
                          "The first line must name the columns: student[,name,email,section,sis_id,id].")
    roster, first_seen = {}, {}
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise RosterError(f"--roster {path}, line {number}: {len(row)} values for {len(header)} columns; "
                              "quote values that contain commas.")
        values = dict(zip(header, (cell.strip() for cell in row)))
        student = values["student"]
        if not student:
            raise RosterError(f"--roster {path}, line {number}: the student column is empty.")
        if student in roster:
            raise RosterError(f"--roster {path}, line {number}: student {student!r} is already on line "
                              f"{first_seen[student]}; each student must appear once.")
        roster[student] = Student(student, **{k: values.get(k, "") for k in OPTIONAL})
        first_seen[student] = number
    return roster


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):  # Excel's UTF-8 byte-order mark
        raw = raw[3:]
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise RosterError(f"--roster {path}, line {number}: not UTF-8 text. Save the file as UTF-8 "
                              "(in a spreadsheet: CSV UTF-8).") from None
    return raw.decode("utf-8")


def apply(results: list, students: dict, forced_chapter) -> list:
    """Results with roster details, `unknown` for students not on it, and a `missing` record per absent student."""
    chapters = sorted({r.chapter for r in results if r.chapter})
    if not chapters and forced_chapter:
        chapters = [core.chapter_module_path(forced_chapter).stem[1:]]
    for result in results:
        entry = students.get(result.student)
        if entry is None:
            result.notes.append("this student is not on the roster")
            result.status = "unknown" if result.status == "graded" else result.status
            continue
        result.name, result.email, result.section, result.sis_id = entry.name, entry.email, entry.section, entry.sis_id
    seen = {(r.student, r.chapter) for r in results}
    for student, entry in students.items():
        for chapter in chapters:
            if (student, chapter) in seen:
                continue
            questions = core.load_chapter(chapter)
            missing = Result("", student, chapter, "", status="missing", max_score=sum(q.points for q in questions),
                             name=entry.name, email=entry.email, section=entry.section, sis_id=entry.sis_id,
                             notes=["no submission"])
            missing.questions = [QuestionResult(q.qid, q.title, 0, q.points, False, "no submission")
                                 for q in questions]
            results.append(missing)
    return results
