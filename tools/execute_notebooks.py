"""Re-run notebooks in place so their stored outputs come from execution.

    python tools/execute_notebooks.py book/01_conv2d.ipynb [...]

Each notebook runs top to bottom in a fresh kernel of this environment with
CONVLAB_DEVICE=cpu (stored outputs are the CPU's; nbval checks them on a GPU
too). Timing metadata and other execution noise are dropped so diffs stay small.
Any cell that fails stops the run, whatever its tags, as Colab's and VS Code's
"Run All" do: a page shows an error with convlab.expect_error instead of raising.
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOISY_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        force_raise_errors=True,  # tags do not excuse an error: Run All ignores them
        # Stored tracebacks show only the error line: the page teaches the message, and a
        # full traceback would print this machine's paths into the book (nbval compares
        # only the exception's name and text, so this changes nothing it checks).
        extra_arguments=["--InteractiveShell.xmode=Minimal"],
    )
    client.execute()
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        for key in NOISY_METADATA:
            cell.metadata.pop(key, None)
    notebook.metadata.pop("widgets", None)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return seconds


def main(paths: list[str]) -> int:
    os.environ.setdefault("CONVLAB_DEVICE", "cpu")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if not paths:
        print("usage: execute_notebooks.py NOTEBOOK...", file=sys.stderr)
        return 2
    for name in paths:
        seconds = execute(Path(name))
        print(f"{name}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
