"""Feedback for students: one self-contained HTML page per student, and its Markdown twin.

`write(results, folder)` writes folder/<student>.html and folder/<student>.md with each of the
student's submissions in the batch: chapter, score, status, every question's points and feedback,
the notes on cells that failed, when it was graded, and a warning when it was not sandboxed.

Everything shown comes from the grade records, so a page never holds a solution or a hidden check's
code. All text is escaped: feedback quotes what a student's code did. A student's name becomes a
safe file name (no separators, no leading dot, never `index`); names that collide get -2, -3, ...
Only the files written are replaced; nothing else in the folder is touched.
"""

import datetime
import html
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

from convlab.grading.report import write_atomically

STATUS_TEXT = {
    "graded": "graded",
    "invalid": "not gradable (see the notes)",
    "timeout": "stopped at the time limit: scored 0",
    "error": "the grader failed on it: ask your instructor",
    "missing": "no submission received",
    "unknown": "submitted by a name that is not on the class list",
}
UNTRUSTED = "not sandboxed: not a trusted grade"
RESERVED = {"index", "con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a; margin: 2em auto;
       max-width: 62em; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin: 1.6em 0 .3em; }
.meta { color: #56606b; margin: .2em 0 .8em; } .score { font-size: 1.15em; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .6em 0; table-layout: fixed; }
code { background: #f3f5f7; padding: 0 .2em; border-radius: 3px; }
th, td { border-bottom: 1px solid #dde1e6; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.feedback { white-space: pre-wrap; overflow-wrap: anywhere; }
.ok { color: #17753a; font-weight: 600; } .no { color: #b42318; font-weight: 600; }
.warning { background: #fff4e5; border: 2px solid #d97706; border-radius: 6px; padding: .5em .8em; font-weight: 600; }
.status { display: inline-block; border-radius: 4px; padding: 0 .4em; background: #e8ecf0; }
.status.bad { background: #fde8e7; color: #8a1c12; }
td small { color: #56606b; }
ul.notes li { white-space: pre-wrap; overflow-wrap: anywhere; }
"""


def write(results: list, folder: Path) -> list:
    """Write folder/<student>.html and .md for every student in results; return the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_student = defaultdict(list)
    for result in results:
        by_student[result.student].append(result)
    names = file_names(by_student)
    written = []
    for student in sorted(by_student):
        submissions = sorted(by_student[student], key=lambda r: (r.chapter or "", r.path))
        for suffix, text in ((".html", page(student, submissions)), (".md", markdown(student, submissions))):
            path = folder / f"{names[student]}{suffix}"
            write_atomically(path, text)
            written.append(path)
    return written


def safe_name(student: str) -> str:
    """A file name (without suffix) for a student: letters, digits, `-`, `_`, `.`; no leading dot."""
    name = unicodedata.normalize("NFC", str(student))
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    name = re.sub(r"_{2,}", "_", name).lstrip(".").rstrip(". ")[:80].rstrip(". ")
    return name or "student"


def file_names(students) -> dict:
    """{student: unique safe name}; names that are already safe keep them, the others take suffixes."""
    used, names = set(RESERVED), {}
    ordered = sorted(students, key=lambda s: (safe_name(s) != s, s))
    for student in ordered:
        base = safe_name(student)
        name, number = base, 2
        while name.lower() in used:
            name, number = f"{base}-{number}", number + 1
        used.add(name.lower())
        names[student] = name
    return names


def points(value) -> str:
    """2, 1.5, 0.67: integers without decimals, partial credit with at most two."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _text(text) -> str:
    """Escaped feedback, with its `names` in code style (after escaping, so nothing can get through)."""
    return re.sub(r"`([^`\n]{1,200})`", r"<code>\1</code>", _e(text))


def when(iso: str) -> str:
    """An ISO 8601 time as 2025-03-04 10:11 UTC (as given when it is not one)."""
    try:
        moment = datetime.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if moment.utcoffset() is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return (moment - moment.utcoffset()).strftime("%Y-%m-%d %H:%M UTC")


def _cases(q) -> str:
    if q.cases_total:
        return f"{q.cases_passed or 0}/{q.cases_total} cases passed"
    return ""


def page(student: str, submissions: list) -> str:
    shown = submissions[0].name or student if submissions else student
    parts = [f"<h1>Feedback for {_e(shown)}</h1>"]
    if shown != student:
        parts.append(f'<p class="meta">student id {_e(student)}</p>')
    for result in submissions:
        parts.append(_submission_html(result))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Feedback: {_e(shown)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def _heading(result) -> str:
    return f"Chapter {result.chapter}" if result.chapter else "Chapter not known"


def _submission_html(result) -> str:
    bad = result.status != "graded"
    status = STATUS_TEXT.get(result.status, result.status)
    score = (f'<span class="score">{_e(points(result.score))} / {_e(points(result.max_score))} points</span> &nbsp;'
             if result.max_score or not bad else "")
    out = [f"<section>\n<h2>{_e(_heading(result))}</h2>",
           f'<p>{score}<span class="status{" bad" if bad else ""}">{_e(status)}</span></p>']
    meta = [f'graded <time datetime="{_e(result.graded_at)}">{_e(when(result.graded_at))}</time>'
            if result.graded_at else "time graded not recorded"]
    if result.path and result.status != "missing":
        meta.append(f"file {_e(Path(result.path).name)}")
    out.append(f'<p class="meta">{" · ".join(meta)}</p>')
    if not result.sandbox:
        out.append(f'<p class="warning">⚠ {UNTRUSTED}: this submission was run without the sandbox; '
                   "the points are provisional.</p>")
    if result.questions:
        out.append('<table>\n<colgroup><col style="width: 26%"><col style="width: 2.2em"><col style="width: 4.5em">'
                   '<col style="width: 3.5em"><col></colgroup>\n<tr><th>question</th><th></th><th class="num">points'
                   '</th><th class="num">max</th><th>feedback</th></tr>')
        for q in result.questions:
            mark = '<span class="ok">✓</span>' if q.passed else '<span class="no">✗</span>'
            title = f"{_e(q.id)}<br><small>{_e(q.title)}</small>" if q.title else _e(q.id)
            feedback = _text(q.feedback) + (f"<br><small>{_e(_cases(q))}</small>" if _cases(q) else "")
            out.append(f'<tr><td>{title}</td><td>{mark}</td><td class="num">{_e(points(q.points))}</td>'
                       f'<td class="num">{_e(points(q.max_points))}</td><td class="feedback">{feedback}</td></tr>')
        out.append("</table>")
    if result.notes:
        out.append("<p><strong>Notes</strong></p>\n<ul class=\"notes\">")
        out.extend(f"<li>{_e(note)}</li>" for note in result.notes)
        out.append("</ul>")
    out.append("</section>")
    return "\n".join(out)


def _md(text) -> str:
    """Text for a Markdown table cell or line: HTML escaped, no links, no table breaks, one line."""
    text = html.escape("" if text is None else str(text), quote=False)
    text = re.sub(r"([\\\[\]|])", r"\\\1", text)
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


def markdown(student: str, submissions: list) -> str:
    shown = submissions[0].name or student if submissions else student
    lines = [f"# Feedback for {_md(shown)}", ""]
    for result in submissions:
        score = (f"**{points(result.score)} / {points(result.max_score)} points** — "
                 if result.max_score or result.status == "graded" else "")
        lines += [f"## {_md(_heading(result))}", "", f"{score}{_md(STATUS_TEXT.get(result.status, result.status))}", "",
                  f"Graded {_md(when(result.graded_at))}" if result.graded_at else "Time graded not recorded.", ""]
        if not result.sandbox:
            lines += [f"> **⚠ {UNTRUSTED}**: this submission was run without the sandbox; "
                      "the points are provisional.", ""]
        if result.questions:
            lines += ["| question | | points | max | feedback |", "| --- | --- | ---: | ---: | --- |"]
            for q in result.questions:
                cases = f" ({_cases(q)})" if _cases(q) else ""
                lines.append(f"| {_md(q.id)} {_md(q.title)} | {'✓' if q.passed else '✗'} | {points(q.points)} | "
                             f"{points(q.max_points)} | {_md(q.feedback)}{_md(cases)} |")
            lines.append("")
        if result.notes:
            lines += ["**Notes**", ""] + [f"- {_md(note)}" for note in result.notes] + [""]
    return "\n".join(lines)
