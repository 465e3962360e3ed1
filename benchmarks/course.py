"""A class of 200 on chapter 01: grade, report and export it (a figure, not a test).

    python benchmarks/course.py [--count 200] [--jobs 2] [--out _build/bench/course]

Submissions mix full solutions with the mistakes students make (a missing bias, a flipped
kernel, the weight's axes swapped, a formula that does not round down), copies with renamed
variables, and untouched exercises; the roster has five students who submitted nothing. Prints
the time to grade (sandboxed, with --feedback, --report and --canvas) and the report's size.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MISTAKES = {
    "01.q1": "out_shape = (2, 8, 28, 28)\nweight_shape = (3, 8, 5, 5)\nbias_shape = (8,)",
    "01.q3": "def input_range(o, k, s=1, p=0):\n    i = (o - 1) * s + k - 2 * p\n    return (i, i)",
    "01.q4": "value = 2",
    "01.q5": "def conv2d_single(x, w):\n    w = w.flip(0, 1)\n    kh, kw = w.shape\n"
             "    out = torch.zeros(x.shape[0] - kh + 1, x.shape[1] - kw + 1)\n"
             "    for i in range(out.shape[0]):\n        for j in range(out.shape[1]):\n"
             "            out[i, j] = (x[i:i + kh, j:j + kw] * w).sum()\n    return out",
}


def notebook(replace: dict) -> str:
    nb = nbformat.read(ROOT / "solutions" / "01_conv2d.ipynb", as_version=4)
    section = None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "## Question" in cell.source:
            section = cell.source.split()[2]
        elif cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source and section in replace:
            cell.source = replace[section]
    return nbformat.writes(nb)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "_build" / "bench" / "course"))
    args = parser.parse_args(argv)
    from convlab.grading.batch import grade

    out = Path(args.out)
    subs = out / "submissions"
    draw = random.Random(0)
    blank = (ROOT / "exercises" / "01_conv2d.ipynb").read_text()
    for n in range(args.count):
        folder = subs / f"student{n:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = draw.random()
        mistakes = {q: s for q, s in MISTAKES.items() if draw.random() < 0.25}
        text = blank if kind < 0.05 else notebook(mistakes)
        (folder / "01_conv2d.ipynb").write_text(text)
    names = [f"student{n:03d}" for n in range(args.count + 5)]
    (out / "roster.csv").write_text("student,name,section\n" + "".join(
        f"{s},Student {s[7:]},{'AB'[i % 2]}\n" for i, s in enumerate(names)))
    start = time.perf_counter()
    status = grade([subs], jobs=args.jobs, quiet=True, json_path=out / "grades.json", csv_path=out / "grades.csv",
                   roster=out / "roster.csv", feedback=out / "feedback", report=out / "report",
                   canvas=out / "canvas.csv")
    seconds = time.perf_counter() - start
    size = (out / "report" / "index.html").stat().st_size
    print(f"graded, reported and exported {args.count} submissions of chapter 01 with --jobs {args.jobs} on "
          f"{os.cpu_count()} cores in {seconds:.1f} s ({seconds / args.count:.2f} s per submission, exit {status}); "
          f"report {size / 1024:.0f} KB at {out / 'report' / 'index.html'}")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
