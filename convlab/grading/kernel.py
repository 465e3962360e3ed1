"""The trusted side's handle on one sandboxed kernel: start it, send cells and requests, enforce deadlines.

Everything read back is parsed as plain data with a size limit; a kernel that is
late is killed from here (its whole sandbox), whatever it does inside.
"""

import json
import os
import select
import subprocess
import time

from convlab.exercises import wire
from convlab.exercises.answers import ChannelError
from convlab.grading import procs, sandbox
from convlab.grading.records import START_TIMEOUT


class KernelDied(ChannelError):
    """The sandboxed kernel exited (os._exit, a signal, out of memory) or broke the protocol."""


class Late(ChannelError):
    """The sandboxed kernel did not answer before its deadline; it has been killed."""


class Kernel:
    def __init__(self, limits, *, use_sandbox: bool = True, workdir=None):
        self.limits, self.printed = limits, 0
        argv = sandbox.runner_argv(limits)
        self.cgroup = None
        if use_sandbox:
            self.cgroup = sandbox.Cgroup(limits)
            argv, env, cwd = self.cgroup.wrap(sandbox.command(argv, limits)), {"PATH": "/usr/bin:/bin"}, "/"
        else:
            argv, env = sandbox.unsandboxed_command(argv, workdir)
            cwd = str(workdir)
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
        self.buffer = b""
        self.started = time.monotonic()
        self.read(time.monotonic() + START_TIMEOUT)  # {"ready": true}

    def send(self, message: dict) -> None:
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise KernelDied("the kernel stopped reading") from None

    def read(self, deadline: float) -> dict:
        """The next JSON line from the kernel, parsed; Late (after killing it) past deadline."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise Late()
            try:
                ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
                chunk = os.read(fd, 1 << 20) if ready else None
            except (OSError, ValueError):  # killed from another thread (the supervisor's hard limit)
                raise KernelDied("the kernel was stopped") from None
            if chunk is None:
                continue
            if not chunk:
                self.kill()
                raise KernelDied("the kernel exited")
            self.buffer += chunk
            if len(self.buffer) > wire.MAX_MESSAGE_BYTES:
                self.kill()
                raise KernelDied("the kernel sent a message over the size limit")
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            message = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            message = None
        if not isinstance(message, dict):
            return {"error": {"type": "Garbled", "message": "the kernel's reply was not a JSON object"}}
        printed = message.get("printed")
        if type(printed) is int:
            self.printed = max(self.printed, printed)
        return message

    def run_cell(self, source: str, timeout: float) -> dict:
        self.send({"cell": source})
        return self.read(time.monotonic() + timeout)

    def stop(self) -> None:
        """Kill the sandbox (safe from another thread: the pipes stay open, the reader sees the end)."""
        procs.kill_group(self.process.pid)
        if self.cgroup is not None:
            self.cgroup.kill_and_remove()

    def kill(self) -> None:
        """Kill the sandbox and release its pipes (from the thread that reads them)."""
        self.stop()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.send({"bye": True})
        except KernelDied:
            pass
        self.kill()


class RemoteChannel:
    """The judge's channel to the student's answers in a sandboxed kernel, with a deadline per question."""

    def __init__(self, kernel: Kernel, deadline: float):
        self.kernel, self.deadline = kernel, deadline

    def ask(self, request: dict) -> dict:
        self.kernel.send({"ask": request})
        return self.kernel.read(self.deadline)
