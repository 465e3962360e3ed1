"""A kernel factory for grading: imports torch, convlab and ipykernel once, then forks a kernel per request.

    python _zygote.py SOCKET

Starting a Jupyter kernel and importing torch costs a few CPU seconds, the larger part of
grading one submission. This process pays it once per batch: _forkkernel.py (the kernel
command jupyter_client launches) sends it {connection_file, cwd, env, client}, and it forks
a child that becomes an ordinary IPython kernel in its own session, in that folder, with
that environment. The child dies with its client (checked every 0.2 s here, since a child
busy in C code might not run its own threads), and with this process (PR_SET_PDEATHSIG).
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


def warm() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import ipykernel.kernelapp  # noqa: F401
    import IPython  # noqa: F401
    import torch

    import convlab
    import convlab.exercises  # noqa: F401

    torch.set_num_threads(1)
    convlab.seed(0)  # its first call imports more of torch
    convlab.device()
    _warm_tracebacks()


def _warm_tracebacks() -> None:
    """Format one traceback the way IPython does: the first error of every kernel then costs far less."""
    try:
        from IPython.core import ultratb

        try:
            torch_error()
        except Exception:  # noqa: BLE001
            ultratb.VerboseTB().structured_traceback(*sys.exc_info())
            ultratb.FormattedTB(mode="Context").structured_traceback(*sys.exc_info())
    except Exception:  # noqa: BLE001 - warming is optional
        pass


def torch_error() -> None:
    import torch

    torch.nn.Conv2d(2, 1, 1)(torch.zeros(1, 1, 1, 1))


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    print("ready", flush=True)
    children = {}  # client pid -> kernel pid
    while True:
        readable, _, _ = select.select([listener], [], [], 0.2)
        for client, child in list(children.items()):
            if not _alive(client) or not _alive(child):
                _kill(child)
                del children[client]
        if not readable:
            continue
        connection, _ = listener.accept()
        try:
            request = json.loads(connection.makefile("r").readline())
        except ValueError:
            connection.close()
            continue
        pid = os.fork()
        if pid == 0:
            listener.close()
            connection.close()
            become_kernel(request)  # never returns
        children[int(request["client"])] = pid
        connection.sendall(f"{pid}\n".encode())
        connection.close()


def become_kernel(request) -> None:
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop("JPY_PARENT_PID", None)
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=["-f", request["connection_file"]])
        code = 0
    finally:
        os._exit(code)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass


if __name__ == "__main__":
    die_with_parent()
    warm()
    serve(sys.argv[1])
