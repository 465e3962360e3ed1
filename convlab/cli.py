"""The `convlab` command line.

    convlab shape conv 304 228 -k 7 -s 2 -p 3      output size of a layer
    convlab shape pool 152 114 -k 3 -s 2 -p 1
    convlab shape transpose 16 -k 4 -s 2 -p 1
    convlab padding 304 228 --to 152 114 -k 7 -s 2 padding for a target size
    convlab assign [--check]                       exercises/ from solutions/
    convlab grade PATH... [--json F] [--csv F]     grade submissions (see README, "Grading")
    convlab export gradescope 01 -o autograder.zip the grader as a Gradescope autograder
    convlab export classroom 01 [-o FILE]          a GitHub Classroom autograding workflow

Errors print the ConvlabError message and exit with status 2.
"""

import argparse
import sys

from convlab import arithmetic
from convlab.errors import ConvlabError


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result = args.run(args)
        if isinstance(result, int):
            return result
        print(result)
    except ConvlabError as problem:
        print(f"convlab: {problem}", file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convlab", description="Convolution arithmetic and grading.")
    commands = parser.add_subparsers(title="commands")

    shape = commands.add_parser("shape", help="output height and width of a conv, pool or transposed conv")
    shape.add_argument("kind", choices=["conv", "pool", "transpose"])
    shape.add_argument("size", nargs="+", type=int, help="input size: one number or height width")
    _layer_options(shape)
    shape.add_argument("--output-padding", "-a", type=int, default=0)
    shape.add_argument("--ceil-mode", action="store_true", help="pooling: round up")
    shape.set_defaults(run=_shape)

    padding = commands.add_parser("padding", help="the per-side padding that gives a target output size")
    padding.add_argument("size", nargs="+", type=int, help="input size: one number or height width")
    padding.add_argument("--to", nargs="+", type=int, required=True, help="target output size")
    _layer_options(padding)
    padding.set_defaults(run=_padding)

    assign = commands.add_parser("assign", help="write exercises/ from solutions/ (solutions stripped)")
    assign.add_argument("--check", action="store_true", help="only report; exit 1 if exercises/ is stale")
    assign.add_argument("--solutions", default="solutions", help="folder of solution notebooks")
    assign.add_argument("--exercises", default="exercises", help="folder to write the exercises into")
    assign.set_defaults(run=_assign)

    grade = commands.add_parser("grade", help="grade submissions, each in its own sandbox; table, JSON, CSV")
    grade.add_argument("paths", nargs="+", metavar="PATH", help="notebooks, or folders of notebooks")
    grade.add_argument("--json", dest="json_path", metavar="FILE", help="write every result as JSON")
    grade.add_argument("--csv", dest="csv_path", metavar="FILE",
                       help="write a plain gradebook: one row per student per chapter, a column per question")
    grade.add_argument("--timeout", type=float, default=120, metavar="S", help="whole-submission limit (120)")
    grade.add_argument("--cell-timeout", type=float, default=30, metavar="S", help="per-cell limit (30)")
    grade.add_argument("--check-timeout", type=float, default=10, metavar="S", help="per-question check limit (10)")
    grade.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="submissions graded at once (1)")
    grade.add_argument("--chapter", metavar="NN", help="the chapter, when the notebooks do not say")
    grade.add_argument("--extra-checks", metavar="DIR", help="folder of .py files registering more questions")
    grade.add_argument("--memory", type=int, default=2048, metavar="MB", help="memory a submission may add (2048)")
    grade.add_argument("--quiet", "-q", action="store_true", help="do not print the tables")
    grade.add_argument("--resume", action="store_true",
                       help="keep the finished results in the --json file and grade only the rest")
    grade.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                       help="grade without a sandbox where none can be made (marked untrusted in every output)")
    grade.add_argument("--roster", metavar="CSV",
                       help="class list (student[,name,email,section,sis_id,id]): absent students are `missing`")
    grade.add_argument("--only", metavar="QID[,QID]",
                       help="regrade only these questions and merge them into the existing --json file")
    grade.add_argument("--feedback", metavar="DIR", help="write one HTML (and Markdown) feedback file per student")
    grade.add_argument("--report", metavar="DIR", help="write the class report DIR/index.html")
    grade.add_argument("--canvas", metavar="CSV", help="write a CSV for Canvas's gradebook import (uses --roster)")
    grade.set_defaults(run=_grade)
    _export_parser(commands)
    return parser


def _export_parser(commands) -> None:
    export = commands.add_parser("export", help="the grader for Gradescope, or a GitHub Classroom workflow")
    targets = export.add_subparsers(title="targets", dest="target", required=True)
    gradescope = targets.add_parser("gradescope", help="a Gradescope autograder zip that grades one chapter")
    gradescope.add_argument("chapter", metavar="CHAPTER", help="the chapter: 01 or 01_conv2d")
    gradescope.add_argument("--output", "-o", default="autograder.zip", metavar="FILE",
                            help="the zip to write (autograder.zip)")
    gradescope.add_argument("--timeout", type=float, default=120, metavar="S", help="whole-submission limit (120)")
    gradescope.add_argument("--cell-timeout", type=float, default=30, metavar="S", help="per-cell limit (30)")
    gradescope.add_argument("--check-timeout", type=float, default=10, metavar="S",
                            help="per-question check limit (10)")
    gradescope.add_argument("--memory", type=int, default=2048, metavar="MB", help="memory a submission may add (2048)")
    gradescope.add_argument("--hard-limit", type=float, default=480, metavar="S",
                            help="stop grading a submission after S seconds (480); keep it under the "
                                 "assignment's autograder timeout")
    gradescope.set_defaults(run=_export_gradescope)
    classroom = targets.add_parser("classroom", help="a GitHub Classroom workflow (.github/workflows/classroom.yml)")
    classroom.add_argument("chapter", metavar="CHAPTER", help="the chapter: 01 or 01_conv2d")
    classroom.add_argument("--output", "-o", default="-", metavar="FILE",
                           help="where to write it (-: standard output)")
    classroom.add_argument("--notebook", metavar="PATH",
                           help="the notebook in the student's repository (NN_topic.ipynb)")
    classroom.add_argument("--ref", default="main", help="the book's branch or tag to install convlab from (main)")
    classroom.set_defaults(run=_export_classroom)


def _layer_options(parser) -> None:
    parser.add_argument("--kernel", "-k", type=int, nargs="+", required=True)
    parser.add_argument("--stride", "-s", type=int, nargs="+", default=None)
    parser.add_argument("--padding", "-p", type=int, nargs="+", default=[0])
    parser.add_argument("--dilation", "-d", type=int, nargs="+", default=[1])


def _pair(values):
    return values[0] if values is not None and len(values) == 1 else (tuple(values) if values else None)


def _shape(args) -> str:
    size, kernel, padding, dilation = (_pair(v) for v in (args.size, args.kernel, args.padding, args.dilation))
    stride = _pair(args.stride)
    if args.kind == "conv":
        out = arithmetic.conv2d_output_shape(size, kernel, stride or 1, padding, dilation)
    elif args.kind == "pool":
        out = arithmetic.pool2d_output_shape(size, kernel, stride, padding, dilation, args.ceil_mode)
    else:
        out = arithmetic.conv_transpose2d_output_shape(
            size, kernel, stride or 1, padding, args.output_padding, dilation
        )
    return f"{out[0]} {out[1]}"


def _padding(args) -> str:
    pads = arithmetic.padding_for(
        _pair(args.size), _pair(args.to), _pair(args.kernel), _pair(args.stride) or 1, _pair(args.dilation)
    )
    return f"{pads[0]} {pads[1]}"


def _assign(args) -> int:
    from convlab.exercises.assign import assign

    return assign(args.solutions, args.exercises, check=args.check)


def _grade(args) -> int:
    from convlab.grading.batch import grade

    return grade(args.paths, json_path=args.json_path, csv_path=args.csv_path, timeout=args.timeout,
                 cell_timeout=args.cell_timeout, check_timeout=args.check_timeout, jobs=args.jobs,
                 chapter=args.chapter, extra_checks=args.extra_checks, memory_mb=args.memory, quiet=args.quiet,
                 use_sandbox=args.sandbox, resume=args.resume, roster=args.roster, only=args.only,
                 feedback=args.feedback, report=args.report, canvas=args.canvas)


def _export_gradescope(args) -> str:
    from convlab.grading import gradescope

    path = gradescope.build(args.chapter, args.output, timeout=args.timeout, cell_timeout=args.cell_timeout,
                            check_timeout=args.check_timeout, memory_mb=args.memory, hard_limit=args.hard_limit)
    _, name = gradescope.resolve_chapter(args.chapter)
    return (f"wrote {path}: the autograder of chapter {name}; upload it to a Gradescope programming "
            "assignment (docs/grading-at-scale.md)")


def _export_classroom(args) -> int:
    from convlab.grading import gradescope

    text = gradescope.classroom_workflow(args.chapter, notebook=args.notebook, ref=args.ref)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as problem:
        raise gradescope.UsageError(f"cannot write {args.output}: {problem.strerror or problem}") from None
    print(f"wrote {args.output}: commit it to the assignment's template repository as "
          ".github/workflows/classroom.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
