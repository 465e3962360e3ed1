"""`--canvas CSV`: a file Canvas's gradebook import accepts.

Canvas reads a CSV whose first columns are Student, ID, SIS User ID, SIS Login ID
and Section, then one column per assignment named "Title (assignment id)" or just
"Title" (Canvas then creates the assignment), and an optional second row
"Points Possible" with each assignment's maximum. Students are matched through
the roster (name, id, sis_id, email as the login, section); one assignment per
chapter, titled like the exercise notebook.
"""

import csv
import io

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def assignment(chapter: str) -> str:
    number, _, topic = chapter.partition("_")
    return f"convlab exercises {number}: {topic.replace('_', ' ')}"


def export(results, roster: dict) -> str:
    """The Canvas CSV text for results (Result records), one row per roster student (or per student seen)."""
    chapters = sorted({r.chapter for r in results if r.chapter})
    best = {}  # (student, chapter) -> score; several submissions of one chapter keep the highest
    maximum = {}
    for r in results:
        if not r.chapter:
            continue
        key = (r.student, r.chapter)
        best[key] = max(best.get(key, 0), r.score)
        maximum[r.chapter] = max(maximum.get(r.chapter, 0), r.max_score)
    students = list(roster) or sorted({r.student for r in results})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER + [assignment(c) for c in chapters])
    writer.writerow(["Points Possible", "", "", "", ""] + [maximum[c] for c in chapters])
    for student in students:
        entry = roster.get(student)
        writer.writerow([entry.name if entry and entry.name else student, entry.id if entry else "",
                         entry.sis_id if entry else "", entry.email if entry else "", entry.section if entry else "",
                         *[_number(best.get((student, c), 0)) for c in chapters]])
    return buffer.getvalue()


def _number(score) -> str:
    return str(int(score)) if float(score).is_integer() else f"{score:.2f}"
