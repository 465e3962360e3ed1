"""The instructor's class report: one self-contained page, folder/index.html.

`write(results, folder, sources)` draws (matplotlib, Agg, PNGs embedded as base64; no external links):

- counts by status and the median grading time;
- per chapter: the score distribution of the graded submissions, each question's pass rate, and the
  most frequent failure reasons per question (the class's misconceptions: feedback strings grouped
  with their numbers and quoted values replaced, so "got 7" and "got 9" count together);
- groups of identical or near-identical submissions (similarity.py), to look at, not a verdict;
- every submission in a folded table.

Pass rates, scores and failure reasons count `graded` submissions only: a timeout or an invalid
notebook scores 0 without its questions having been judged.
"""

import base64
import html
import io
import re
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from convlab.grading import similarity
from convlab.grading.report import write_atomically

STATUSES = ("graded", "invalid", "timeout", "error", "missing", "unknown")
TOP_REASONS = 5
GREEN, AMBER, RED, BLUE = "#2e8b57", "#e0a030", "#c8453c", "#4a78b0"
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a; margin: 1.5em auto;
       max-width: 76em; padding: 0 1.2em; }
h1 { font-size: 1.7em; margin-bottom: .1em; } h2 { font-size: 1.35em; margin: 1.8em 0 .4em;
     border-bottom: 2px solid #dde1e6; padding-bottom: .2em; } h3 { font-size: 1.08em; margin: 1.2em 0 .3em; }
.meta { color: #56606b; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .7em; margin: 1em 0; }
.card { border: 1px solid #dde1e6; border-radius: 8px; padding: .5em 1em; min-width: 7.5em; background: #fafbfc; }
.card .n { font-size: 1.6em; font-weight: 650; font-variant-numeric: tabular-nums; } .card .l { color: #56606b; }
.card.bad .n { color: #b42318; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figures img { max-width: calc(50% - .5em); height: auto; border: 1px solid #eef0f2; }
@media (max-width: 60em) { .figures img { max-width: 100%; } }
table { border-collapse: collapse; margin: .5em 0 1em; width: 100%; }
th, td { border-bottom: 1px solid #dde1e6; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.text { overflow-wrap: anywhere; } small, .ex { color: #56606b; }
.warning { background: #fff4e5; border: 2px solid #d97706; border-radius: 6px; padding: .5em .8em; font-weight: 600; }
code { background: #f3f5f7; padding: 0 .2em; border-radius: 3px; }
"""


def write(results: list, folder: Path, sources: dict) -> Path:
    """Write folder/index.html for this batch of results; sources maps Result.path to its code cells."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    write_atomically(path, render(results, sources))
    return path


# --- numbers --------------------------------------------------------------------------------


def status_counts(results) -> dict:
    counts = Counter(r.status for r in results)
    return {**{s: counts.pop(s, 0) for s in STATUSES}, **dict(sorted(counts.items()))}


def median_seconds(results):
    """The median grading time of the submissions that were run (None when none was)."""
    times = [r.seconds for r in results if r.status in ("graded", "timeout", "error") and r.seconds]
    return statistics.median(times) if times else None


_QUOTED = re.compile(r"(?<!\w)'[^'\n]{0,300}'(?!\w)|\"[^\"\n]{0,300}\"")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\.?[A-Za-z_\d])")
_RUN = re.compile(r"#(?:\s*,\s*(?:#|…))+")


def reason(feedback: str) -> str:
    """A failure reason with its particulars replaced: numbers by #, quoted values by '…', runs by `#, …`."""
    text = _QUOTED.sub("'…'", str(feedback))
    text = _NUMBER.sub("#", text)
    text = _RUN.sub("#, …", text)
    return re.sub(r"\s+", " ", text).strip()


def misconceptions(results) -> dict:
    """{question id: [(reason, count, most frequent actual feedback)]}, most frequent first, failed graded only."""
    found = defaultdict(lambda: defaultdict(Counter))
    for result in results:
        if result.status != "graded":
            continue
        for q in result.questions:
            if not q.passed and q.feedback:
                found[q.id][reason(q.feedback)][q.feedback] += 1
    out = {}
    for qid, groups in found.items():
        rows = [(key, sum(c.values()), c.most_common(1)[0][0]) for key, c in groups.items()]
        out[qid] = sorted(rows, key=lambda row: (-row[1], row[0]))
    return out


def question_key(qid: str):
    chapter, _, tail = qid.partition(".")
    digits = re.sub(r"\D", "", tail)
    return (chapter, not tail.startswith("q"), int(digits) if digits else 0, tail)


def pass_rates(results) -> list:
    """[(id, title, passed, judged, mean points, max points)] over graded submissions, in question order."""
    table = {}
    for result in results:
        if result.status != "graded":
            continue
        for q in result.questions:
            row = table.setdefault(q.id, [q.title, 0, 0, 0.0, q.max_points])
            row[1] += bool(q.passed)
            row[2] += 1
            row[3] += float(q.points or 0)
    return [(qid, t, p, n, s / n if n else 0.0, m) for qid, (t, p, n, s, m) in
            sorted(table.items(), key=lambda item: question_key(item[0]))]


# --- figures --------------------------------------------------------------------------------


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def score_figure(chapter: str, scores: list, max_score: float) -> str:
    fig = Figure(figsize=(5.4, 3.6))
    ax = fig.add_subplot()
    top = max([max_score, *scores, 1])
    edges = np.arange(-0.5, top + 1.0, 1.0) if top <= 40 else np.linspace(0, top, 21)
    counts, _, bars = ax.hist(scores, bins=edges, color=BLUE, edgecolor="white", linewidth=0.8)
    for bar, count in zip(bars, counts):
        if count:
            ax.annotate(f"{int(count)}", (bar.get_x() + bar.get_width() / 2, count), ha="center", va="bottom",
                        fontsize=9, xytext=(0, 2), textcoords="offset points", zorder=5,
                        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"})
    median = statistics.median(scores)
    ax.axvline(median, color=RED, linestyle="--", linewidth=1.5, label=f"median {median:g}")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, max(counts.max() * 1.18, 1))
    ax.yaxis.get_major_locator().set_params(integer=True)
    if top <= 20:
        ax.set_xticks(range(0, int(top) + 1))
    ax.set_xlabel(f"score (out of {max_score:g})", fontsize=11)
    ax.set_ylabel("submissions", fontsize=11)
    ax.set_title(f"Scores, chapter {chapter} ({len(scores)} graded)", fontsize=12)
    ax.legend(fontsize=9, loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def pass_rate_figure(chapter: str, rows: list) -> str:
    fig = Figure(figsize=(5.4, 0.42 * len(rows) + 1.3))
    ax = fig.add_subplot()
    labels = [f"{qid}  {_clip(title, 26)}" for qid, title, *_ in rows]
    rates = [100 * passed / judged if judged else 0 for _, _, passed, judged, *_ in rows]
    colours = [GREEN if r >= 80 else AMBER if r >= 50 else RED for r in rates]
    y = np.arange(len(rows))
    ax.barh(y, rates, color=colours, height=0.65)
    for yi, rate, (_, _, passed, judged, *_) in zip(y, rates, rows):
        ax.annotate(f"{rate:.0f}%  ({passed}/{judged})", (rate, yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=9)
    ax.set_yticks(y, labels, fontsize=9.5)
    ax.invert_yaxis()
    ax.set_xlim(0, 128)
    ax.set_xticks([0, 20, 40, 60, 80, 100])
    ax.set_xlabel("passed (% of graded submissions)", fontsize=11)
    ax.set_title(f"Pass rate per question, chapter {chapter}", fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


# --- the page -------------------------------------------------------------------------------


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _text(text) -> str:
    """Escaped feedback, with its `names` in code style (after escaping, so nothing can get through)."""
    return re.sub(r"`([^`\n]{1,200})`", r"<code>\1</code>", _e(text))


def _clip(text, n) -> str:
    text = str(text or "")
    return text if len(text) <= n else text[:n - 1] + "…"


def _num(value) -> str:
    value = float(value)
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def render(results: list, sources: dict) -> str:
    results = list(results)
    counts = status_counts(results)
    median = median_seconds(results)
    students = {r.student for r in results}
    chapters = sorted({r.chapter for r in results if r.chapter and r.status == "graded"})
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = ["<h1>Class report</h1>",
             f'<p class="meta">{len(results)} submissions from {len(students)} students · '
             f'chapters {_e(", ".join(chapters) or "none graded")} · written {now}</p>']
    unsandboxed = [r for r in results if not r.sandbox and r.status != "missing"]
    if unsandboxed:
        parts.append(f'<p class="warning">⚠ {len(unsandboxed)} submission(s) were graded without the sandbox '
                     "(--no-sandbox): not trusted grades.</p>")
    cards = [f'<div class="card{" bad" if count and status in ("error", "timeout", "invalid") else ""}">'
             f'<div class="n">{count}</div><div class="l">{_e(status)}</div></div>' for status, count in counts.items()]
    cards.append(f'<div class="card"><div class="n">{"–" if median is None else f"{median:.1f} s"}</div>'
                 '<div class="l">median grading time</div></div>')
    parts += ["<h2>Submissions by status</h2>", f'<div class="cards">{"".join(cards)}</div>']
    reasons = misconceptions(results)
    for chapter in chapters:
        parts.append(_chapter(chapter, [r for r in results if r.chapter == chapter], reasons))
    parts.append(_similar(results, sources))
    parts.append(_all(results))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" "
            "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Class report</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def _chapter(chapter: str, results: list, reasons: dict) -> str:
    graded = [r for r in results if r.status == "graded"]
    scores = [float(r.score) for r in graded]
    max_score = max(float(r.max_score) for r in graded)
    rows = pass_rates(graded)
    out = [f"<h2>Chapter {_e(chapter)}</h2>",
           f'<p class="meta">{len(graded)} graded of {len(results)} submissions · median score '
           f"{_num(statistics.median(scores))} / {_num(max_score)} · mean {statistics.fmean(scores):.1f}</p>",
           '<div class="figures">',
           f'<img alt="histogram of the scores in chapter {_e(chapter)}" '
           f'src="{score_figure(chapter, scores, max_score)}">']
    if rows:
        out.append(f'<img alt="pass rate per question in chapter {_e(chapter)}" '
                   f'src="{pass_rate_figure(chapter, rows)}">')
    out.append("</div>")
    if rows:
        out += ["<h3>Questions and their most frequent failure reasons</h3>",
                '<table>\n<tr><th>question</th><th class="num">passed</th><th class="num">mean points</th>'
                '<th class="num">count</th><th>failure reason (numbers → #, quoted values → \'…\')</th></tr>']
        for qid, title, passed, judged, mean, max_points in rows:
            found = reasons.get(qid, [])[:TOP_REASONS]
            span = max(1, len(found))
            head = (f'<td rowspan="{span}">{_e(qid)}<br><small>{_e(title)}</small></td>'
                    f'<td class="num" rowspan="{span}">{passed}/{judged} ({100 * passed / judged:.0f}%)</td>'
                    f'<td class="num" rowspan="{span}">{mean:.2f} / {_num(max_points)}</td>')
            if not found:
                out.append(f'<tr>{head}<td class="num"></td><td class="text"><small>no failures</small></td></tr>')
            for i, (key, count, example) in enumerate(found):
                shown = f"{_text(_clip(key, 300))}" + (f'<br><span class="ex">e.g. {_text(_clip(example, 300))}</span>'
                                         if example != key else "")
                out.append(f'<tr>{head if i == 0 else ""}<td class="num">{count}</td>'
                           f'<td class="text">{shown}</td></tr>')
            hidden = len(reasons.get(qid, [])) - len(found)
            if hidden > 0:
                out.append(f'<tr><td></td><td></td><td></td><td></td><td><small>and {hidden} other reason(s)</small>'
                           "</td></tr>")
        out.append("</table>")
    return "\n".join(out)


def _similar(results: list, sources: dict) -> str:
    found = similarity.analyse(sources) if sources else []
    out = ["<h2>Similar submissions</h2>",
           '<p class="meta">Answer cells compared after removing comments, docstrings and layout and renaming '
           "variables; the template most of the class shares and unanswered stubs are ignored. A flag is a reason "
           "to look, not a verdict.</p>"]
    if not found:
        out.append("<p>No groups of identical or near-identical submissions.</p>")
        return "\n".join(out)
    by_path = {r.path: r for r in results}
    out.append('<table>\n<tr><th class="num">group</th><th>similarity</th><th>student</th><th>chapter</th>'
               '<th class="num">score</th><th>file</th></tr>')
    for number, (paths, score) in enumerate(found, start=1):
        label = "identical" if score >= 1 else f"≥ {100 * score:.0f}%"
        for i, path in enumerate(paths):
            r = by_path.get(path)
            first = (f'<td class="num" rowspan="{len(paths)}">{number}</td><td rowspan="{len(paths)}">{label}</td>'
                     if i == 0 else "")
            cells = (f"<td>{_e(r.student)}</td><td>{_e(r.chapter or '')}</td>"
                     f'<td class="num">{_num(r.score)} / {_num(r.max_score)}</td>' if r else "<td></td>" * 3)
            out.append(f'<tr>{first}{cells}<td class="text"><code>{_e(path)}</code></td></tr>')
    out.append("</table>")
    return "\n".join(out)


def _all(results: list) -> str:
    out = [f"<h2>All submissions</h2>\n<details><summary>{len(results)} submissions</summary>",
           '<table>\n<tr><th>student</th><th>chapter</th><th class="num">score</th><th>status</th>'
           '<th class="num">seconds</th><th>sandbox</th></tr>']
    for r in sorted(results, key=lambda r: (r.student, r.chapter or "", r.path)):
        out.append(f"<tr><td>{_e(r.student)}</td><td>{_e(r.chapter or '')}</td>"
                   f'<td class="num">{_num(r.score)} / {_num(r.max_score)}</td><td>{_e(r.status)}</td>'
                   f'<td class="num">{r.seconds:.1f}</td><td>{"yes" if r.sandbox else "NO"}</td></tr>')
    out.append("</table>\n</details>")
    return "\n".join(out)
