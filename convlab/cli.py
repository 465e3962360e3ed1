"""The `convlab` command line.

    convlab shape conv 304 228 -k 7 -s 2 -p 3      output size of a layer
    convlab shape pool 152 114 -k 3 -s 2 -p 1
    convlab shape transpose 16 -k 4 -s 2 -p 1
    convlab padding 304 228 --to 152 114 -k 7 -s 2 padding for a target size
    convlab assign [--check]                       exercises/ from solutions/
    convlab grade PATH... [--json F] [--csv F]     grade submissions (see README, "Grading")

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
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
