"""The grader's reports: per-student feedback pages, the class report, and flagging similar submissions.

The records are built by hand for a small fake class; no notebook is run.
"""

import base64
import html
import random
import re
import time

import pytest

from convlab.grading import classreport, feedback, similarity
from convlab.grading.records import QuestionResult, Result

HOSTILE = "got <script>alert('pwned')</script> instead of a tuple"
Q2_SEVEN = "count_params(3, 8, 5) returned 7; a Conv2d layer learns more numbers than that"
Q2_NINE = "count_params(3, 8, 5) returned 9; a Conv2d layer learns more numbers than that"
Q2_OTHER = "`count_params` is not defined — not answered yet"


def _questions(q1=(2, True, "correct"), q2=(2, True, "correct"), q3=(3, True, "correct"), cases=None):
    made = []
    for qid, title, top, (points, passed, text) in (("01.q1", "Predict the shapes", 2, q1),
                                                   ("01.q2", "Count the parameters", 2, q2),
                                                   ("01.q3", "Input range", 3, q3)):
        made.append(QuestionResult(qid, title, points, top, passed, text))
    if cases:
        made[2].cases_passed, made[2].cases_total = cases
    return made


def _result(student, status="graded", questions=None, notes=(), sandbox=True, seconds=2.0, chapter="01_conv2d",
            graded_at="2025-03-04T10:11:12+00:00"):
    questions = _questions() if questions is None else questions
    result = Result(f"subs/{student}/{chapter}.ipynb", student, chapter, "0" * 64, status=status, max_score=7,
                    seconds=seconds, sandbox=sandbox, questions=questions, notes=list(notes), graded_at=graded_at)
    result.total()
    return result


@pytest.fixture
def klass():
    zero = (0, False, "not graded")
    ch2 = Result("subs/alice/02_channels.ipynb", "alice", "02_channels", "1" * 64, max_score=4, seconds=3.0,
                 questions=[QuestionResult("02.q1", "Channels in, channels out", 4, 4, True, "correct")],
                 graded_at="2025-03-05T09:00:00+00:00")
    ch2.total()
    return [
        _result("alice"),
        ch2,
        _result("bob", questions=_questions(q2=(0, False, Q2_SEVEN), q3=(1.5, False, "wrong for s=2"), cases=(2, 4)),
                seconds=4.0),
        _result("carol", questions=_questions(q1=(0, False, HOSTILE), q2=(0, False, Q2_NINE)), seconds=6.0),
        _result("dave", questions=_questions(q2=(0, False, Q2_OTHER)), seconds=1.0,
                notes=["cell 7 (in Question 01.q2) raised ZeroDivisionError: division by zero"]),
        _result("erin", status="invalid", questions=_questions(zero, zero, zero), seconds=0.0, graded_at="",
                notes=["not a valid notebook (JSON): Expecting value: line 1 column 1 (char 0)"]),
        _result("frank", status="timeout", questions=_questions(zero, zero, zero), seconds=400.0,
                notes=["grading this submission ran past the hard time limit (400 s); it was stopped and scored 0."]),
        Result("", "gus", None, "", status="missing", graded_at=""),
        _result("hana", sandbox=False, seconds=5.0),
    ]


# --- feedback pages -------------------------------------------------------------------------


def test_feedback_writes_one_escaped_page_and_twin_per_student(klass, tmp_path):
    out = tmp_path / "feedback"
    written = feedback.write(klass, out)
    students = {r.student for r in klass}
    assert {p.name for p in written} == {f"{s}.{ext}" for s in students for ext in ("html", "md")}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)

    carol = (out / "carol.html").read_text(encoding="utf-8")
    assert "<script" not in carol.lower()
    assert html.escape(HOSTILE) in carol
    assert html.escape(Q2_NINE) in carol
    assert re.search(r"3\s*/\s*7", carol)  # 0 + 0 + 3 of 7
    carol_md = (out / "carol.md").read_text(encoding="utf-8")
    assert "<script" not in carol_md.lower() and "pwned" in carol_md

    bob = (out / "bob.html").read_text(encoding="utf-8")
    assert re.search(r"3\.5\s*/\s*7", bob)  # partial credit: 2 + 0 + 1.5
    assert "1.5" in bob and "2/4" in bob
    for text in (Q2_SEVEN, "wrong for s=2", "correct"):
        assert html.escape(text) in bob
    assert "2025-03-04T10:11:12" in bob and "2025-03-04 10:11 UTC" in bob
    assert "not sandboxed" not in bob

    alice = (out / "alice.html").read_text(encoding="utf-8")
    assert "01_conv2d" in alice and "02_channels" in alice and "Channels in, channels out" in alice
    assert alice.index("01_conv2d") < alice.index("02_channels")

    assert "not sandboxed: not a trusted grade" in (out / "hana.html").read_text(encoding="utf-8")
    assert "not sandboxed: not a trusted grade" in (out / "hana.md").read_text(encoding="utf-8")
    assert "ZeroDivisionError: division by zero" in (out / "dave.html").read_text(encoding="utf-8")
    assert "Expecting value" in (out / "erin.html").read_text(encoding="utf-8")
    assert "no submission" in (out / "gus.html").read_text(encoding="utf-8")
    for page in out.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "<script" not in text.lower()


def test_feedback_file_names_are_safe_unique_and_touch_nothing_else(tmp_path):
    out = tmp_path / "fb"
    out.mkdir()
    (out / "index.html").write_text("the class report", encoding="utf-8")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    hostile = ["../evil", "a/b", "a_b", ".hidden", "index", "A_B", "..", "x\\y"]
    results = [_result(name) for name in hostile]
    written = feedback.write(results, out)
    assert len(written) == 2 * len(hostile)
    assert len({p.name.lower() for p in written}) == len(written)
    for path in written:
        assert path.parent == out and not path.name.startswith(".")
        assert "/" not in path.name and "\\" not in path.name
    titles = {html.unescape(re.search(r"<title>Feedback: (.*?)</title>", p.read_text(encoding="utf-8")).group(1))
              for p in written if p.suffix == ".html"}
    assert titles == set(hostile)
    assert (out / "index.html").read_text(encoding="utf-8") == "the class report"
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "evil.html").exists()
    again = feedback.write(results, out)  # a second run replaces its own files and adds none
    assert sorted(again) == sorted(written)
    assert len(list(out.iterdir())) == len(written) + 2


# --- the class report -----------------------------------------------------------------------


def test_status_counts_and_median_time(klass):
    counts = classreport.status_counts(klass)
    assert counts == {"graded": 6, "invalid": 1, "timeout": 1, "error": 0, "missing": 1, "unknown": 0}
    # run: alice 2 and 3, bob 4, carol 6, dave 1, frank 400, hana 5 -> median of 7 values is 4
    assert classreport.median_seconds(klass) == 4.0


def test_misconceptions_group_feedback_that_differs_only_in_numbers_or_quotes(klass):
    assert classreport.reason("got 7") == classreport.reason("got 9")
    assert classreport.reason("expected 'relu' here") == classreport.reason('expected "gelu" here')
    assert classreport.reason("shape (2, 8, 28, 28)") == classreport.reason("shape (2, 8, 30)")
    assert classreport.reason("got 7") != classreport.reason("not answered yet")
    assert "01.q3" in classreport.reason("see 01.q3 again")
    found = classreport.misconceptions(klass)["01.q2"]
    assert [count for _, count, _ in found] == [2, 1]
    assert found[0][2] in (Q2_SEVEN, Q2_NINE)
    assert found[1][2] == Q2_OTHER


def test_class_report_is_self_contained_with_figures_and_counts(klass, tmp_path):
    path = classreport.write(klass, tmp_path / "report", {})
    assert path == tmp_path / "report" / "index.html"
    page = path.read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 4  # two chapters graded: a histogram and a pass-rate chart each
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*(?!["']?data:)""", page)
    assert "<script" not in page.lower() and html.escape(HOSTILE) in page
    cards = dict((label, int(n)) for n, label in re.findall(r'class="n">(\d+)</div><div class="l">(\w+)<', page))
    assert cards == {"graded": 6, "invalid": 1, "timeout": 1, "error": 0, "missing": 1, "unknown": 0}
    assert "4.0 s" in page  # median grading time
    assert "not trusted" in page  # hana was graded without the sandbox
    row = re.search(r"01\.q2<br>.*?</tr>", page, re.S).group(0)
    assert re.search(r'class="num">2</td>', row)  # the "returned 7" and "returned 9" failures, counted together


def test_class_report_of_nothing_graded_still_renders(tmp_path):
    page = classreport.write([Result("", "gus", None, "", status="missing")], tmp_path, {}).read_text("utf-8")
    assert "<img" not in page and re.search(r'class="n">1</div><div class="l">missing<', page)


# --- similarity -----------------------------------------------------------------------------

SETUP = "import torch\nfrom torch import nn\nfrom convlab.exercises import check"
STUB1 = ('def count_params(in_channels, out_channels, kernel_size, bias=True):\n'
         '    """Learnable numbers of nn.Conv2d(in_channels, out_channels, kernel_size)."""\n'
         "    # YOUR CODE HERE\n    raise NotImplementedError()")
STUB2 = ('def conv2d_single(x, w):\n    """Cross-correlate x with w (stride 1, no padding)."""\n'
         "    # YOUR CODE HERE\n    raise NotImplementedError()")
LOOPS = '''def conv2d_single(x, w):
    """Cross-correlate x with w (stride 1, no padding)."""
    kh, kw = w.shape
    height, width = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = torch.zeros(height, width)
    for i in range(height):
        for j in range(width):
            window = x[i:i + kh, j:j + kw]
            out[i, j] = (window * w).sum()
    return out'''
LOOPS_COPY = '''def conv2d_single(image, kernel):
    # slide the kernel over the image, written by me
    a, b = kernel.shape
    rows, cols = image.shape[0] - a + 1, image.shape[1] - b + 1
    result = torch.zeros(rows, cols)
    for r in range(rows):
        for c in range(cols):
            patch = image[r:r + a, c:c + b]   # the patch under the kernel
            result[r, c] = (patch * kernel).sum()
    return result'''
UNFOLD = '''def conv2d_single(x, w):
    patches = x.unfold(0, w.shape[0], 1).unfold(1, w.shape[1], 1)
    return torch.einsum("ijkl,kl->ij", patches.float(), w.float())'''
FUNCTIONAL = '''def conv2d_single(x, w):
    """Use the library: F.conv2d wants (N, C, H, W)."""
    batch = x.reshape(1, 1, *x.shape).float()
    weight = w.reshape(1, 1, *w.shape).float()
    return torch.nn.functional.conv2d(batch, weight).reshape(batch.shape[2] - w.shape[0] + 1, -1)'''
COUNT = '''def count_params(in_channels, out_channels, kernel_size, bias=True):
    weights = in_channels * out_channels * kernel_size ** 2
    return weights + out_channels if bias else weights'''
COUNT_LAYER = '''def count_params(in_channels, out_channels, kernel_size, bias=True):
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias)
    return sum(p.numel() for p in layer.parameters())'''


def _notebook(q1=STUB1, q2=STUB2):
    return [(None, SETUP), ("01.q1", q1), ("01.q1", 'check("01.q1", count_params)'),
            ("01.q2", q2), ("01.q2", 'check("01.q2", conv2d_single)')]


def test_similarity_flags_a_renamed_copy_only():
    sources = {f"subs/t{i}.ipynb": _notebook() for i in range(4)}  # the untouched template
    sources.update({"subs/ann.ipynb": _notebook(COUNT, LOOPS), "subs/ben.ipynb": _notebook(COUNT, LOOPS_COPY),
                    "subs/cat.ipynb": _notebook(COUNT_LAYER, UNFOLD), "subs/dan.ipynb": _notebook(COUNT, FUNCTIONAL)})
    assert similarity.groups(sources) == [["subs/ann.ipynb", "subs/ben.ipynb"]]


def test_similarity_ignores_the_shared_template_and_empty_answers():
    everyone = {f"subs/s{i:02d}.ipynb": _notebook() for i in range(8)}
    assert similarity.groups(everyone) == []
    # most of the class answered identically (the template-like majority) and two left it empty
    majority = {f"subs/m{i}.ipynb": _notebook(COUNT, LOOPS) for i in range(5)}
    majority.update({"subs/e1.ipynb": _notebook(), "subs/e2.ipynb": _notebook()})
    assert similarity.groups(majority) == []


def test_similarity_flags_near_identical_copies_and_sorts_its_groups():
    tweaked = LOOPS_COPY.replace("    return result", "    result = result.float()\n    return result")
    sources = {f"subs/t{i}.ipynb": _notebook() for i in range(3)}
    sources.update({"subs/zed.ipynb": _notebook(COUNT_LAYER, LOOPS), "subs/amy.ipynb": _notebook(COUNT_LAYER, tweaked),
                    "subs/kim.ipynb": _notebook(COUNT, UNFOLD), "subs/joe.ipynb": _notebook(COUNT, UNFOLD)})
    found = similarity.groups(sources)
    assert found == [["subs/amy.ipynb", "subs/zed.ipynb"], ["subs/joe.ipynb", "subs/kim.ipynb"]]
    assert similarity.groups(sources, threshold=1.0) == [["subs/joe.ipynb", "subs/kim.ipynb"]]
    shuffled = dict(sorted(sources.items(), reverse=True))
    assert similarity.groups(shuffled) == found


def test_class_report_lists_flagged_groups(klass, tmp_path):
    sources = {klass[0].path: _notebook(COUNT, LOOPS), klass[2].path: _notebook(COUNT, LOOPS_COPY),
               klass[3].path: _notebook(COUNT_LAYER, UNFOLD)}
    sources.update({f"subs/t{i}.ipynb": _notebook() for i in range(3)})
    page = classreport.write(klass, tmp_path, sources).read_text(encoding="utf-8")
    section = page[page.index("Similar submissions"):page.index("All submissions")]
    assert klass[0].path in section and klass[2].path in section and klass[3].path not in section


def test_similarity_is_fast_for_a_large_class():
    rng = random.Random(0)
    answers = [LOOPS, UNFOLD, FUNCTIONAL, STUB2]
    sources = {}
    for i in range(500):
        body = "\n".join(f"    t{j} = {rng.choice('abk')} {rng.choice('+-*')} {rng.randint(0, 99)}" for j in range(8))
        count = f"def count_params(a, b, k, bias=True):\n{body}\n    return t{rng.randint(0, 7)}"
        sources[f"subs/{i:03d}.ipynb"] = _notebook(count, rng.choice(answers))
    started = time.perf_counter()
    similarity.groups(sources)
    assert time.perf_counter() - started < 10
