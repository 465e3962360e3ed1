"""Grade one submission in a fresh Jupyter kernel (run as a script by convlab.exercises.grade).

    python _worker.py JOB.json

Kept free of torch and convlab imports so it starts fast; the parent kills this
process's session (and the kernel's, whose pid is written to job["pidfile"]) if it
overruns its hard limit. Writes the result JSON to job["result"].
"""

import hashlib
import json
import os
import re
import signal
import sys
import time

SECTION = re.compile(r"Question\s+(\d\d\.\w+)")
ERROR_LIMIT = 300


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


def main(job_path: str) -> int:
    die_with_parent()
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    watchdog(job)
    result = grade(job)
    with open(job["result"], "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


def watchdog(job: dict) -> None:
    """Never outlive the hard limit, even if the kernel client hangs: kill the kernel's session, then exit."""
    import threading

    def expire():
        try:
            with open(job["pidfile"]) as handle:
                kill_group(int(handle.read()))
        except (OSError, ValueError):
            pass
        os._exit(3)

    timer = threading.Timer(job.get("hard_limit", 3600), expire)
    timer.daemon = True
    timer.start()


def grade(job: dict) -> dict:
    start = time.monotonic()
    with open(job["path"], "rb") as handle:
        data = handle.read()
    result = {"status": "graded", "notes": [], "answers": {}, "sha256": hashlib.sha256(data).hexdigest()}
    cells, problem = read_cells(data)
    if problem:
        result.update(status="invalid", reason=problem)
        return result
    run = Runner(job, cells, result)
    try:
        run.run()
    except Exception as problem:  # noqa: BLE001 - the grader must report, never crash the batch
        result.update(status="error", reason=f"the grader failed: {type(problem).__name__}: {clip(str(problem))}")
    result["seconds"] = round(time.monotonic() - start, 2)
    return result


def read_cells(data: bytes):
    """[(index, section, source)] of the code cells, or (None, reason) for a file that is not a notebook."""
    import nbformat

    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not UTF-8 text."
    except Exception as problem:  # noqa: BLE001 - nbformat raises many kinds
        return None, f"not a valid notebook (JSON): {clip(str(problem), 200)}"
    cells, section = [], None
    raw = notebook.get("cells")
    if not isinstance(raw, list):
        return None, "not a valid notebook: it has no list of cells."
    for index, cell in enumerate(raw):
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        if not isinstance(source, str):
            continue
        kind = cell.get("cell_type")
        if kind == "markdown":
            found = SECTION.search(source)
            if found:
                section = found.group(1)
        elif kind == "code" and source.strip():
            tags = (cell.get("metadata") or {}).get("tags") or []
            expected = isinstance(tags, list) and "raises-exception" in tags
            cells.append((index, section, source, expected))
    return cells, None


def clip(text: str, limit: int = ERROR_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """Keeps at most output_limit bytes of output in total; drops the rest."""

        kept = 0
        dropped = False
        output_limit = 1_000_000

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {})))
            if self.kept + size > self.output_limit:
                self.dropped = True
                return None
            self.kept += size
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


class Runner:
    def __init__(self, job, cells, result):
        self.job, self.cells, self.result = job, cells, result
        self.skip_cells, self.skip_questions = set(), set()
        self.fatal_notes = []  # cells that killed or hung the kernel: kept across re-runs
        self.fatal_sections = {}
        self.deadline = time.monotonic() + job["timeout"]
        self.answers = {}

    def run(self) -> None:
        failures = 0
        for _attempt in range(5):
            try:
                if self.attempt():
                    break
            except RuntimeError as problem:  # the kernel did not start (a busy machine): once more
                failures += 1
                if failures > 1 or "didn't respond" not in str(problem):
                    raise
        self.result["answers"] = self.answers
        self.result["notes"] = self.fatal_notes + self.result["notes"]

    def section_label(self, section):
        return f" (in Question {section})" if section else ""

    def attempt(self) -> bool:
        """One kernel: the student's cells, then the checks. False when a re-run is needed."""
        import nbformat
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        job = self.job
        self.result["notes"] = []
        self.cell_errors = dict(self.fatal_sections)
        notebook = nbformat.v4.new_notebook()
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CONVLAB_DEVICE=job.get("device", "cpu"),
                   PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="Agg")
        from jupyter_client import AsyncKernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        # Unix sockets, not TCP ports: parallel kernels cannot race for the same port. The kernel is
        # the kernel factory's (a fork of a process that has imported torch) when the parent runs one.
        options = {}
        if job.get("kernel_dirs"):
            options["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=job["kernel_dirs"])
        manager = AsyncKernelManager(kernel_name=job.get("kernel_name", "python3"), transport="ipc",
                                     ip=os.path.join(job["ipc_dir"], f"kernel-{len(self.fatal_notes)}"), **options)
        client = client_class()(
            notebook, km=manager, timeout=job["cell_timeout"], kernel_name="python3", allow_errors=True,
            interrupt_on_timeout=False, shutdown_kernel="immediate", record_timing=False,
            resources={"metadata": {"path": job["workdir"]}}, iopub_timeout=4,
        )
        client.output_limit = job["output_limit"]
        with client.setup_kernel(env=env, cwd=job["workdir"]):
            kernel_pid = client.km.provisioner.process.pid
            with open(job["pidfile"], "w") as handle:
                handle.write(str(kernel_pid))
            try:
                self.execute(client, preamble(job), timeout=120)
                for index, section, source, expected in self.cells:
                    if index in self.skip_cells:
                        continue
                    remaining = self.deadline - time.monotonic()
                    if remaining <= 0:
                        self.result["notes"].append(
                            f"the submission's time limit ({job['timeout']} s) ran out: cell {index + 1} and "
                            "the cells after it were not run.")
                        break
                    try:
                        cell = self.execute(client, source, timeout=max(1, min(job["cell_timeout"], remaining)))
                    except CellTimeoutError:
                        self.skip_cells.add(index)
                        limit = job["cell_timeout"] if remaining > job["cell_timeout"] else job["timeout"]
                        self.fatal_notes.append(
                            f"cell {index + 1}{self.section_label(section)} ran longer than {int(limit)} s and was "
                            "stopped (an endless loop?); the notebook was re-run without it.")
                        self.fatal_sections.setdefault(section, "its cell ran too long and was stopped")
                        return False
                    except DeadKernelError:
                        self.skip_cells.add(index)
                        self.fatal_notes.append(
                            f"cell {index + 1}{self.section_label(section)} killed the Python kernel (sys.exit/"
                            "os._exit, a crash or running out of memory); the notebook was re-run without it.")
                        self.fatal_sections.setdefault(section, "its cell killed the kernel")
                        return False
                    if not expected:  # a cell tagged raises-exception demonstrates an error on purpose
                        self.record_error(cell, index, section)
                if client.dropped:
                    self.result["notes"].append(
                        f"the notebook printed more than {job['output_limit'] // 1000} kB; the rest was dropped.")
                return self.run_checks(client)
            finally:
                kill_group(kernel_pid)

    def execute(self, client, source, timeout):
        import nbformat

        cell = nbformat.v4.new_code_cell(source)
        client.nb.cells.append(cell)
        client.timeout = int(timeout)
        return client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)

    def record_error(self, cell, index, section) -> None:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                if section in self.cell_errors:
                    return  # the first error of a question's section explains the rest
                name, value = output.get("ename", "Error"), clip(output.get("evalue", ""), 200)
                value = f": {value}" if value else ""
                if name == "NotImplementedError":
                    # the question's feedback says "not answered yet"; no note needed
                    self.cell_errors.setdefault(section, "not answered yet (its cell raises NotImplementedError)")
                else:
                    self.cell_errors.setdefault(section, f"its cell raised {name}{value}")
                    self.result["notes"].append(f"cell {index + 1}{self.section_label(section)} raised {name}{value}")
                return

    def run_checks(self, client) -> bool:
        """One grading cell per question, so a check that never stops costs only its own question."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        job = self.job
        results_path = job["checks_out"]
        if os.path.exists(results_path):
            os.unlink(results_path)
        for qid in job["questions"]:
            if qid in self.answers:
                continue
            try:
                self.execute(client, grading_cell(job, [qid], results_path), timeout=job["check_timeout"] + 5)
            except (CellTimeoutError, DeadKernelError) as problem:
                failed = "killed the kernel" if isinstance(problem, DeadKernelError) else "did not stop"
                self.answers[qid] = {"passed": False, "reason": f"checking your answer {failed} "
                                     "(an endless loop, or a crash); graded 0."}
                return False
            done = read_results(results_path, job["nonce"])
            self.answers[qid] = done.get(qid) or {
                "passed": False, "reason": "the checks could not report on this question "
                                           "(the notebook interfered with the grader)."}
        sections = {name: qid for qid, names in job.get("names", {}).items() for name in names}
        for qid, answer in self.answers.items():
            if answer.get("missing"):
                why = self.cell_errors.get(qid)
                if why is None:  # another question's cell defines this name (a hidden check reusing it)
                    owners = [sections.get(name) for name in answer.get("names", [])]
                    why = next((self.cell_errors[o] for o in owners if o in self.cell_errors), None)
                answer["reason"] = f"{answer['reason']} — {why}" if why else answer["reason"]
        return True


def kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError, OSError):
            pass


def preamble(job) -> str:
    """Run before the student's cells: limits on memory, file size and core dumps; die with the grader."""
    return f"""
import ctypes as _c, resource as _r, signal as _s
try:
    _c.CDLL(None).prctl(1, _s.SIGKILL)
except Exception:
    pass
import torch, convlab, convlab.exercises
torch.set_num_threads(1)
convlab.seed(0)  # its first call imports more of torch: pay for it here, not in the student's first cell
convlab.device()
def _vm():
    for line in open('/proc/self/status'):
        if line.startswith('VmSize:'):
            return int(line.split()[1]) * 1024
    return 0
try:
    _limit = _vm() + {int(job['memory_mb'])} * 1024 * 1024
    _r.setrlimit(_r.RLIMIT_AS, (_limit, _limit))
except (OSError, ValueError):  # no /proc (not Linux): no memory limit
    pass
_r.setrlimit(_r.RLIMIT_FSIZE, ({int(job['file_mb'])} * 1024 * 1024,) * 2)
_r.setrlimit(_r.RLIMIT_CORE, (0, 0))
del _c, _r, _s, _vm
"""


GRADER = r'''
import json, os, signal, sys, time, types

class _Overrun(BaseException):
    pass

def _alarm(signum, frame):
    raise _Overrun()

def _load(name, text):
    module = types.ModuleType(name)
    module.__file__ = "<" + name + ">"
    sys.modules[name] = module
    exec(compile(text, "<" + name + ">", "exec"), module.__dict__)
    return module

core = _load("convlab.exercises.core", SOURCES["core"])
for _name, _text in SOURCES["modules"]:
    _load(_name, _text)
descriptor = os.open(RESULTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
signal.signal(signal.SIGALRM, _alarm)
for qid in QIDS:
    question = core.REGISTRY.get(qid)
    if question is None:
        record = {"passed": False, "reason": "this question's check is missing."}
    else:
        missing = [n for n in question.names if n not in USER]
        if missing:
            listed = ", ".join("`" + n + "`" for n in missing)
            record = {"passed": False, "missing": True, "names": missing,
                      "reason": listed + (" is" if len(missing) == 1 else " are") + " not defined"}
        else:
            signal.setitimer(signal.ITIMER_REAL, CHECK_TIMEOUT)
            try:
                passed, reason = core.evaluate(question, tuple(USER[n] for n in question.names))
            except _Overrun:
                passed, reason = False, "checking took longer than %d s (an endless loop?)." % CHECK_TIMEOUT
            except BaseException as problem:
                passed, reason = False, "checking your answer raised %s." % type(problem).__name__
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            record = {"passed": bool(passed), "reason": str(reason)[:400]}
    record.update(qid=qid, nonce=NONCE)
    os.write(descriptor, (json.dumps(record) + "\n").encode())
os.close(descriptor)
'''


def grading_cell(job, qids, results_path) -> str:
    """The last cell: fresh copies of the checks (sources read before any student code ran), then every check."""
    b = f"_convlab_builtins_{job['nonce']}"
    values = {"SOURCES": job["sources"], "QIDS": qids, "RESULTS": results_path, "NONCE": job["nonce"],
              "CHECK_TIMEOUT": job["check_timeout"]}
    loads = f"{b}.__import__('json').loads({json.dumps(values)!r})"
    return (f"import builtins as {b}\n"
            f"{b}.exec({b}.compile({GRADER!r}, '<convlab-grader>', 'exec'), "
            f"{{'__builtins__': {b}, 'USER': {b}.globals(), **{loads}}})\n")


def read_results(path: str, nonce: str) -> dict:
    done = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("nonce") == nonce and record.get("qid") not in done:
                    done[record["qid"]] = {"passed": bool(record.get("passed")),
                                           "reason": clip(record.get("reason", ""), 400),
                                           "missing": bool(record.get("missing")),
                                           "names": [str(n) for n in record.get("names", [])][:10]}
    except OSError:
        pass
    return done


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
