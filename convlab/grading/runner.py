"""The kernel inside a grading sandbox: runs the student's cells, then answers the judge's requests.

    python -I -B runner.py MEMORY_MB FILE_MB PROCESSES CPU_SECONDS

This process is untrusted once the first cell runs: the judge outside treats
everything it says as the student's answer, never as a verdict. It speaks JSON
lines on the pipes it was started with (commands on stdin, replies on stdout),
which it moves to private descriptors before any student code runs; the
student's own stdin, stdout and stderr are /dev/null, and what the notebook
prints is counted, not kept.

Commands:  {"cell": SOURCE}            -> {"done": true, "error": null | {"type", "message"}}
           {"ask": REQUEST}            -> the reply of convlab.exercises.answers.execute
           {"bye": true}               -> exits
At start it says {"ready": true, "printed": 0}; each reply carries "printed",
the number of bytes the notebook has printed so far.
"""

import io
import json
import os
import resource
import sys


class CountingSink(io.TextIOBase):
    """A stdout/stderr that counts what is written and keeps nothing."""

    def __init__(self, counter: list):
        self.counter = counter

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        self.counter[0] += len(str(text))
        return len(str(text))

    def flush(self) -> None:
        pass


def private_pipes():
    """The judge's pipes on new descriptors; 0, 1 and 2 become /dev/null for the student."""
    commands = os.fdopen(os.dup(0), "r", encoding="utf-8", errors="replace")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return commands, replies


def warm() -> None:
    """Import what every notebook imports, before the limits (they would count it)."""
    import IPython.core.interactiveshell  # noqa: F401
    import torch

    import convlab
    import convlab.exercises.answers  # noqa: F401

    torch.set_num_threads(1)
    convlab.seed(0)  # its first call imports more of torch: pay for it here, not in the first cell
    convlab.device()


def virtual_memory() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def set_limits(memory_mb: int, file_mb: int, processes: int, cpu_seconds: int) -> None:
    """Hard limits (soft = hard): the student's code, without capabilities, can lower them but never raise them."""
    limit = virtual_memory() + memory_mb * 1024 * 1024
    for name, value in ((resource.RLIMIT_AS, limit), (resource.RLIMIT_FSIZE, file_mb * 1024 * 1024),
                        (resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, cpu_seconds),
                        (resource.RLIMIT_NPROC, processes)):
        try:
            resource.setrlimit(name, (value, value))
        except (ValueError, OSError):
            pass


def make_shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    shell.showtraceback = _quiet_traceback(shell.showtraceback)
    return shell


def _quiet_traceback(original):
    def show(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except Exception:  # noqa: BLE001 - formatting a traceback must never stop the runner
            return None

    return show


def run_cell(shell, source: str) -> dict:
    result = shell.run_cell(source, store_history=False, silent=False)
    problem = result.error_before_exec or result.error_in_exec
    if problem is None:
        return {"done": True, "error": None}
    return {"done": True, "error": {"type": type(problem).__name__, "message": _text(problem)}}


def _text(problem) -> str:
    try:
        return " ".join(str(problem).split())[:300]
    except BaseException:  # noqa: BLE001 - a student's exception whose str() fails
        return ""


def serve(commands, replies, printed: list, shell) -> None:
    from convlab.exercises.answers import execute

    kept = {}
    say(replies, {"ready": True}, printed)
    for line in commands:
        try:
            command = json.loads(line)
        except ValueError:
            continue
        if not isinstance(command, dict) or command.get("bye"):
            break
        if "cell" in command:
            say(replies, run_cell(shell, str(command["cell"])), printed)
        elif "ask" in command and isinstance(command["ask"], dict):
            say(replies, execute(command["ask"], shell.user_ns, kept), printed)


def say(replies, message: dict, printed: list) -> None:
    message["printed"] = printed[0]
    try:
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        text = json.dumps({"error": {"type": "Unsendable", "message": "the reply could not be written as JSON"},
                           "printed": printed[0]})
    replies.write(text + "\n")
    replies.flush()


def main(argv: list) -> int:
    memory_mb, file_mb, processes, cpu_seconds = (int(a) for a in argv[:4])
    from convlab.grading.procs import die_with_parent

    die_with_parent()  # also without a sandbox (--no-sandbox), where bwrap's --die-with-parent is missing
    commands, replies = private_pipes()
    printed = [0]
    sys.stdout = sys.stderr = CountingSink(printed)
    warm()
    shell = make_shell()
    set_limits(memory_mb, file_mb, processes, cpu_seconds)
    serve(commands, replies, printed, shell)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
