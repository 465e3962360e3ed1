"""The kernel command when grading with the kernel factory (_zygote.py).

    python -I _forkkernel.py SOCKET CONNECTION_FILE

jupyter_client launches this as "the kernel": it asks the factory for a forked kernel,
then stands in for it: SIGINT is passed on (interrupts), SIGTERM kills it, and this
process exits when the kernel does, so jupyter_client sees a dead kernel as dead.
"""

import json
import os
import select
import signal
import socket
import sys


def die_with_parent() -> None:
    """Linux: get SIGKILL when the process that started this one exits (PR_SET_PDEATHSIG)."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the call
        os._exit(1)


def main(path: str, connection_file: str) -> int:
    die_with_parent()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    request = {"connection_file": os.path.abspath(connection_file), "cwd": os.getcwd(),
               "env": dict(os.environ), "client": os.getpid()}
    client.sendall((json.dumps(request) + "\n").encode())
    kernel = int(client.makefile("r").readline())
    client.close()

    def forward(signum, _frame):
        try:
            os.kill(kernel, signum)
        except OSError:
            pass

    def stop(_signum, _frame):
        for target in (lambda: os.killpg(kernel, signal.SIGKILL), lambda: os.kill(kernel, signal.SIGKILL)):
            try:
                target()
            except OSError:
                pass
        os._exit(1)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, stop)
    try:
        handle = os.pidfd_open(kernel)
    except OSError:  # the kernel is already gone
        return 1
    while True:
        try:
            readable, _, _ = select.select([handle], [], [])
        except InterruptedError:
            continue
        if readable:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
