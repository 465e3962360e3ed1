"""How fast does `convlab grade` go? Grades N copies of chapter 01's submissions (a figure, not a test).

    python benchmarks/grading.py [--count 100] [--jobs 2] [--chapter 01_conv2d]

The batch mixes full solutions (80 %), untouched exercises (10 %) and solutions with
one cell that raises (10 %). Grades the batch twice, in sandboxes and with --no-sandbox, and
prints the wall-clock seconds per submission of each and their difference: the sandbox's own cost.
The goal: at most 1.0 s per submission with the sandbox, 2 cores, --jobs 2.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--chapter", default="01_conv2d")
    args = parser.parse_args(argv)

    from convlab.grading.batch import grade

    solution = (ROOT / "solutions" / f"{args.chapter}.ipynb").read_text()
    exercise = (ROOT / "exercises" / f"{args.chapter}.ipynb").read_text()
    raising = solution.replace("### BEGIN SOLUTION", "### BEGIN SOLUTION\\n\",\n    \"1 / 0", 1)
    with tempfile.TemporaryDirectory(prefix="convlab-bench-") as folder:
        for n in range(args.count):
            text = exercise if n % 10 == 1 else raising if n % 10 == 2 else solution
            path = Path(folder) / f"student{n:03d}" / f"{args.chapter}.ipynb"
            path.parent.mkdir()
            path.write_text(text)
        figures = {}
        for sandboxed in (True, False):
            start = time.perf_counter()
            status = grade([folder], jobs=args.jobs, quiet=True, csv_path=Path(folder) / "grades.csv",
                           use_sandbox=sandboxed)
            seconds = time.perf_counter() - start
            rows = (Path(folder) / "grades.csv").read_text().splitlines()[1:]
            full = sum(1 for row in rows if row.split(",")[-3] == row.split(",")[-2])
            figures[sandboxed] = seconds / args.count
            print(f"{'sandboxed' if sandboxed else 'no sandbox'}: graded {args.count} submissions of "
                  f"{args.chapter} with --jobs {args.jobs} on {os.cpu_count()} cores in {seconds:.1f} s: "
                  f"{seconds / args.count:.2f} s per submission (exit status {status}, {full} with full marks)")
    print(f"the sandbox's own cost: {figures[True] - figures[False]:+.2f} s per submission")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
