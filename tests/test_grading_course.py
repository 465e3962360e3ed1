"""The instructor's course on top of the grader: roster, partial credit, Canvas export, regrading."""

import csv
import json
from pathlib import Path

import nbformat
import pytest

from convlab.grading import canvas, roster
from convlab.grading.batch import grade

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_conv2d.ipynb"
SQUARE_ONLY = '''def conv2d_single(x, w):
    k = w.shape[0]
    out = torch.zeros(x.shape[0] - k + 1, x.shape[1] - k + 1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + k, j:j + k] * w[:k, :k]).sum()
    return out'''


def with_answer(qid: str, source: str) -> str:
    nb = nbformat.read(SOLUTION, as_version=4)
    section = None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "## Question" in cell.source:
            section = cell.source.split()[2]
        elif cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source and section == qid:
            cell.source = source
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    subs = root / "subs"
    for student, text in {"alice": SOLUTION.read_text(), "bob": with_answer("01.q5", SQUARE_ONLY),
                          "mallory": SOLUTION.read_text()}.items():
        (subs / student).mkdir(parents=True)
        (subs / student / "01_conv2d.ipynb").write_text(text)
    (root / "roster.csv").write_text("student,name,email,section,sis_id,id\n"
                                     "alice,\"Liddell, Alice\",alice@uni.example,A,S1,101\n"
                                     "bob,Bob Builder,bob@uni.example,B,S2,102\n"
                                     "carol,Carol Danvers,carol@uni.example,A,S3,103\n")
    status = grade([subs], json_path=root / "g.json", csv_path=root / "g.csv", canvas=root / "canvas.csv",
                   roster=root / "roster.csv", feedback=root / "feedback", report=root / "report", jobs=2,
                   quiet=True)
    records = {r["student"]: r for r in json.loads((root / "g.json").read_text())["submissions"]}
    return {"root": root, "subs": subs, "status": status, "records": records}


def test_absent_and_unknown_students_are_listed(course):
    records = course["records"]
    assert course["status"] == 0 and set(records) == {"alice", "bob", "carol", "mallory"}
    assert records["carol"]["status"] == "missing" and records["carol"]["score"] == 0
    assert records["carol"]["max_score"] == 15 and records["carol"]["name"] == "Carol Danvers"
    assert records["mallory"]["status"] == "unknown" and records["mallory"]["score"] == 15
    assert records["alice"]["name"] == "Liddell, Alice" and records["alice"]["section"] == "A"
    rows = list(csv.DictReader((course["root"] / "g.csv").open()))
    assert {r["student"]: r["status"] for r in rows}["carol"] == "missing"


def test_partial_credit_counts_the_cases_that_pass(course):
    q5 = next(q for q in course["records"]["bob"]["questions"] if q["id"] == "01.q5")
    assert (q5["cases_passed"], q5["cases_total"]) == (3, 5)  # the two cases with non-square kernels fail
    assert q5["points"] == pytest.approx(3 * 3 / 5) and not q5["passed"]
    assert "3 of 5 cases pass" in q5["feedback"] and "2×3 kernel" in q5["feedback"]
    assert course["records"]["bob"]["score"] == pytest.approx(12 + 1.8)


def test_the_canvas_file_has_canvass_header_rows_and_roster_students(course):
    rows = list(csv.reader((course["root"] / "canvas.csv").open()))
    assert rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[0][5] == canvas.assignment("01_conv2d") and rows[1][0] == "Points Possible" and rows[1][5] == "15"
    by_name = {r[0]: r for r in rows[2:]}
    assert set(by_name) == {"Liddell, Alice", "Bob Builder", "Carol Danvers"}  # mallory is not on the roster
    assert by_name["Liddell, Alice"][1:6] == ["101", "S1", "alice@uni.example", "A", "15"]
    assert by_name["Bob Builder"][5] == "13.80" and by_name["Carol Danvers"][5] == "0"


def test_only_regrades_the_named_questions_and_keeps_the_rest(course, tmp_path, capsys):
    out = tmp_path / "g.json"
    out.write_text((course["root"] / "g.json").read_text())
    before = {r["student"]: r for r in json.loads(out.read_text())["submissions"]}
    (course["subs"] / "alice" / "01_conv2d.ipynb").write_text(with_answer("01.q4", "value = 99"))
    try:
        assert grade([course["subs"] / "alice"], json_path=out, only="01.q4", quiet=True) == 0
    finally:
        (course["subs"] / "alice" / "01_conv2d.ipynb").write_text(SOLUTION.read_text())
    after = {r["student"]: r for r in json.loads(out.read_text())["submissions"]}
    assert after["bob"] == before["bob"] and after["carol"] == before["carol"]
    alice = {q["id"]: q for q in after["alice"]["questions"]}
    assert alice["01.q4"]["points"] == 0 and alice["01.q5"]["points"] == 3 and after["alice"]["score"] == 13
    assert any("regraded 01.q4" in note for note in after["alice"]["notes"])
    assert grade([course["subs"]], json_path=out, only="01.q9") == 2
    err = capsys.readouterr().err
    assert "no question 01.q9" in err and "01.q3" in err
    assert grade([course["subs"]], json_path=out, only="02.q1") == 2
    assert "holds chapter(s) 01" in capsys.readouterr().err


@pytest.mark.parametrize("text, line, phrase", [
    (b"name,email\nalice,a@x\n", 1, "no `student` column"),
    (b"student,name\nalice,A\nbob,B\nalice,C\n", 4, "already on line 2"),
    (b"student,name\nalice,A\nb\xf6b,B\n", 3, "not UTF-8"),
    (b"student,name\nalice,A,extra\n", 2, "3 values for 2 columns"),
])
def test_a_bad_roster_names_its_line(tmp_path, text, line, phrase, capsys):
    path = tmp_path / "roster.csv"
    path.write_bytes(text)
    with pytest.raises(roster.RosterError, match=f"line {line}: .*{phrase}"):
        roster.read(path)
    (tmp_path / "a.ipynb").write_text(SOLUTION.read_text())
    assert grade([tmp_path / "a.ipynb"], roster=path) == 2
    assert f"line {line}" in capsys.readouterr().err


def test_an_excel_roster_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(b"\xef\xbb\xbfstudent,Name\r\nalice,Alice\r\n")
    assert roster.read(path)["alice"].name == "Alice"


def test_feedback_files_and_the_class_report_are_written(course):
    feedback = course["root"] / "feedback"
    assert sorted(p.name for p in feedback.glob("*.html")) == ["alice.html", "bob.html", "carol.html", "mallory.html"]
    bob = (feedback / "bob.html").read_text()
    assert "3 of 5 cases pass" in bob and "01.q5" in bob and "BEGIN SOLUTION" not in bob
    page = (course["root"] / "report" / "index.html").read_text()
    assert "data:image/png;base64," in page and "missing" in page and "unknown" in page
