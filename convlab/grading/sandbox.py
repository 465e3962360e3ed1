"""One bubblewrap sandbox per submission: what it sees, what it may do, and its limits.

Inside: an unprivileged user (uid 65534), new user, PID, IPC, UTS and network
namespaces (no network, not even loopback to the host), a read-only view of the
system, the interpreter, the virtualenv and the convlab package (not the rest of
the repository: no solutions), a private size-limited /tmp and $HOME (tmpfs), a
work folder that is its own tmpfs, a cleared environment, no capabilities, no
further user namespaces. Nothing on the host is writable from inside. The
sandbox dies with the grader (--die-with-parent), and every process in it dies
with its PID namespace's first process.

Limits: a cgroup per sandbox (memory and number of processes) where the cgroup
v1/v2 hierarchy is writable, and in every case rlimits set by the runner before
any student code (address space, file size, CPU time, core dumps, processes).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import convlab

BWRAP = "bwrap"
HOME = "/home/student"
WORK = HOME + "/work"
RUNNER = Path(__file__).resolve().parent / "runner.py"
CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup/memory"))
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives", "mime.types")
SANDBOX_UID = 65534


class Unavailable(RuntimeError):
    """No sandbox can be made here; the message names the cause and the fix."""


def package_root() -> Path:
    """The convlab package folder (bound alone: the repository's solutions stay outside)."""
    return Path(convlab.__file__).resolve().parent


def read_only_paths() -> list:
    """Host paths the sandbox sees read-only, at the same place: system, interpreter, virtualenv, convlab."""
    paths = [Path("/usr"), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package_root(),
             Path(sysconfig.get_paths()["purelib"]).resolve()]
    paths += [Path("/etc") / name for name in ETC]
    unique = []
    for path in paths:
        if path.exists() and not any(path == p or p in path.parents for p in unique):
            unique = [p for p in unique if path not in p.parents] + [path]
    return unique


def command(argv: list, limits) -> list:
    """The bwrap command line that runs argv in a fresh sandbox."""
    cmd = [BWRAP, "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--unshare-pid",
           "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
           "--disable-userns", "--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL"]
    for link, target in (("/bin", "usr/bin"), ("/lib", "usr/lib"), ("/lib64", "usr/lib64"), ("/sbin", "usr/sbin")):
        if os.path.islink(link):
            cmd += ["--symlink", target, link]
    # The private folders first, then the read-only views: a virtualenv or checkout under /tmp stays visible.
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", HOME,
            "--size", str(limits.tmp_mb << 20), "--tmpfs", WORK]
    for path in read_only_paths():
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--chdir", WORK]
    environment = {"HOME": HOME, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
                   "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib", "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1", "CONVLAB_DEVICE": "cpu", "PYTHONDONTWRITEBYTECODE": "1",
                   "CONVLAB_GRADING": "1",
                   "PYDEVD_DISABLE_FILE_VALIDATION": "1", "IPYTHONDIR": "/tmp/ipython", "TMPDIR": "/tmp"}
    for name, value in environment.items():
        cmd += ["--setenv", name, value]
    return cmd + ["--", *argv]


def runner_argv(limits) -> list:
    return [sys.executable, "-I", "-B", str(RUNNER), str(limits.memory_mb), str(limits.file_mb),
            str(limits.processes), str(int(limits.timeout + limits.cell_timeout * 5 + 120))]


def unsandboxed_command(argv: list, workdir: Path) -> tuple:
    """--no-sandbox: the runner as an ordinary process in a private folder (marked untrusted in every report)."""
    env = {"CONVLAB_GRADING": "1", "HOME": str(workdir), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "CONVLAB_DEVICE": "cpu", "MPLCONFIGDIR": str(workdir / ".mpl"),
           "IPYTHONDIR": str(workdir / ".ipython"), "LANG": "C.UTF-8"}
    return argv, env


def check_available() -> None:
    """Raise Unavailable unless a sandbox can be made here (bwrap present, user namespaces allowed)."""
    if not sys.platform.startswith("linux"):
        raise Unavailable(f"the grading sandbox needs Linux (bubblewrap and namespaces); this is {sys.platform}. "
                          "Grade on a Linux machine, or pass --no-sandbox to grade without one (not trusted).")
    if shutil.which(BWRAP) is None:
        raise Unavailable("bubblewrap (bwrap) is not installed. Install it (Debian/Ubuntu: "
                          "`apt-get install bubblewrap`), or pass --no-sandbox to grade without one (not trusted).")
    limits = type("L", (), {"tmp_mb": 16})()
    try:
        done = subprocess.run(command(["/usr/bin/true"], limits), capture_output=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as problem:
        raise Unavailable(f"bubblewrap could not start: {problem}") from None
    if done.returncode != 0:
        why = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
        raise Unavailable(f"bubblewrap cannot make a sandbox here ({why}). User namespaces may be disabled: "
                          "enable them (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu "
                          "kernel.apparmor_restrict_unprivileged_userns=0), or pass --no-sandbox (not trusted).")


class Cgroup:
    """A cgroup (v1 pids and memory controllers) for one sandbox, where this machine lets us make one."""

    def __init__(self, limits):
        self.paths = []
        name = f"convlab-grade-{uuid.uuid4().hex[:12]}"
        settings = {"pids": {"pids.max": str(limits.processes)},
                    "memory": {"memory.limit_in_bytes": str((limits.memory_mb + 1536) << 20)}}
        for root in CGROUP_ROOTS:
            if not (root / "cgroup.procs").exists() or not os.access(root, os.W_OK):
                continue
            try:
                path = root / name
                path.mkdir()
                self.paths.append(path)
                for key, value in settings[root.name].items():
                    (path / key).write_text(value)
            except OSError:
                continue

    def wrap(self, argv: list) -> list:
        """argv started by a shell that first joins the cgroups, so every process of the sandbox is inside."""
        if not self.paths:
            return argv
        joins = " && ".join(f"echo $$ > '{path}/cgroup.procs'" for path in self.paths)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *argv]

    def kill_and_remove(self) -> int:
        """SIGKILL everything still in the cgroups, then remove them; the number of processes that were left."""
        import signal
        import time

        left = set()
        for _ in range(50):
            pids = set()
            for path in self.paths:
                try:
                    pids |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
                except OSError:
                    pass
            if not pids:
                break
            left |= pids
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        for path in self.paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)
        return len(left)
