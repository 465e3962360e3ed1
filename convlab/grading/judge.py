"""Grade one submission: run its cells in a sandboxed kernel, then judge each question here.

The judge runs in the trusted grader process and never runs student code: it
sends the notebook's code cells to the kernel one at a time, then, for each
question, runs the question's check with a channel to the kernel (the check
asks for plain data and computes its references itself). A cell that runs too
long or kills the kernel is skipped and the notebook re-run without it in a
fresh sandbox, so only the questions that need that cell lose their points; a
check that does not finish in time costs its question, and grading goes on in a
fresh sandbox.
"""

import dataclasses
import json
import re
import time

from convlab.exercises import core
from convlab.grading.kernel import Kernel, KernelDied, Late, RemoteChannel
from convlab.grading.records import RESTARTS, QuestionResult

SECTION = re.compile(r"Question\s+(\d\d\.\w+)")
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_CELLS = 2000
MAX_CELL_CHARS = 200_000


class Invalid(Exception):
    """The file is not a notebook this grader can run; the message says why."""


def read_cells(data: bytes) -> list:
    """[(index, section, source, expects_error)] of the notebook's code cells; Invalid if it is not a notebook."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise Invalid(f"not gradable: the file has {len(data) >> 20} MB; a notebook is expected to have "
                      f"at most {MAX_NOTEBOOK_BYTES >> 20} MB (clear its outputs and resubmit).")
    try:
        notebook = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise Invalid("not a notebook: the file is not UTF-8 text.") from None
    except (ValueError, RecursionError) as problem:
        raise Invalid(f"not a valid notebook (JSON): {core.clip(str(problem), 200)}") from None
    raw = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(raw, list):
        raise Invalid("not a valid notebook: it has no list of cells.")
    cells, section = [], None
    for index, cell in enumerate(raw):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            continue
        if cell.get("cell_type") == "markdown":
            found = SECTION.search(source)
            section = found.group(1) if found else section
        elif cell.get("cell_type") == "code" and source.strip():
            tags = (cell.get("metadata") or {}).get("tags") if isinstance(cell.get("metadata"), dict) else []
            cells.append((index, section, source[:MAX_CELL_CHARS], isinstance(tags, list) and
                          "raises-exception" in tags))
    if len(cells) > MAX_CELLS:
        raise Invalid(f"not gradable: {len(cells)} code cells; at most {MAX_CELLS} are run.")
    return cells


class Judge:
    """Grades one submission's questions; fills QuestionResults and notes."""

    def __init__(self, cells, questions, limits, *, use_sandbox=True, workdir=None):
        self.cells, self.questions, self.limits = cells, questions, limits
        self.use_sandbox, self.workdir = use_sandbox, workdir
        self.skip = set()          # cells that hung or killed the kernel
        self.fatal_notes = []      # kept across re-runs
        self.fatal_sections = {}
        self.verdicts = {}         # qid -> core.Outcome
        self.notes = []
        self.deadline = time.monotonic() + limits.timeout
        self.aborted, self.kernel = False, None

    def abort(self) -> None:
        """The supervisor's hard limit: stop now (called from another thread)."""
        self.aborted = True
        if self.kernel is not None:
            self.kernel.stop()

    def grade(self) -> list:
        for _attempt in range(RESTARTS + 1):
            if self.aborted or self.attempt():
                break
        results = []
        for q in self.questions:
            outcome = self.verdicts.get(q.qid, core.Outcome(False, "not graded: the notebook stopped the grader "
                                                                  "too often (cells that hang or crash)."))
            results.append(QuestionResult(q.qid, q.title, outcome.points(q), q.points, outcome.passed,
                                          "correct" if outcome.passed else outcome.reason, outcome.cases_passed,
                                          outcome.cases_total))
        self.notes = self.fatal_notes + self.notes
        return results

    def attempt(self) -> bool:
        """One sandboxed kernel: the cells, then the checks. False when a re-run is needed."""
        self.notes, self.cell_errors = [], dict(self.fatal_sections)
        try:
            kernel = self.kernel = Kernel(self.limits, use_sandbox=self.use_sandbox, workdir=self.workdir)
        except (KernelDied, Late):
            self.fatal_notes.append("the sandboxed kernel did not start (a busy machine?); graded 0.")
            return True
        if self.aborted:
            kernel.kill()
            return True
        try:
            if not self.run_cells(kernel):
                return False
            if kernel.printed > self.limits.output_limit:
                self.notes.append(f"the notebook printed more than {self.limits.output_limit // 1000} kB; "
                                  "the rest was dropped.")
            return self.run_checks(kernel)
        finally:
            kernel.kill()

    def run_cells(self, kernel) -> bool:
        for index, section, source, expected in self.cells:
            if index in self.skip:
                continue
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.notes.append(f"the submission's time limit ({int(self.limits.timeout)} s) ran out: cell "
                                  f"{index + 1} and the cells after it were not run.")
                return True
            where = f"cell {index + 1}" + (f" (in Question {section})" if section else "")
            try:
                reply = kernel.run_cell(source, min(self.limits.cell_timeout, remaining))
            except Late:
                limit = self.limits.cell_timeout if remaining > self.limits.cell_timeout else self.limits.timeout
                self.fatal(index, section, f"{where} ran longer than {int(limit)} s and was stopped (an endless "
                                           "loop?); the notebook was re-run without it.",
                           "its cell ran too long and was stopped")
                return False
            except KernelDied:
                self.fatal(index, section, f"{where} killed the Python kernel (sys.exit/os._exit, a crash or "
                                           "running out of memory); the notebook was re-run without it.",
                           "its cell killed the kernel")
                return False
            error = reply.get("error")
            if isinstance(error, dict) and not expected:
                self.record_error(where, section, error)
        return True

    def fatal(self, index, section, note, why) -> None:
        self.skip.add(index)
        self.fatal_notes.append(note)
        self.fatal_sections.setdefault(section, why)

    def record_error(self, where, section, error) -> None:
        if section in self.cell_errors:
            return  # the first error of a question's section explains the rest
        name = core.clip(str(error.get("type", "Error")), 60)
        value = core.clip(str(error.get("message", "")), 200)
        value = f": {value}" if value else ""
        if name == "NotImplementedError":
            self.cell_errors[section] = "not answered yet (its cell raises NotImplementedError)"
        else:
            self.cell_errors[section] = f"its cell raised {name}{value}"
            self.notes.append(f"{where} raised {name}{value}")

    def run_checks(self, kernel) -> bool:
        """Each question's check, here, with a channel to the kernel; a slow one costs its question only."""
        for q in self.questions:
            if q.qid in self.verdicts:
                continue
            channel = RemoteChannel(kernel, time.monotonic() + self.limits.check_timeout)
            try:
                outcome = core.evaluate(q, channel)
            except Late:
                self.verdicts[q.qid] = core.Outcome(False, "checking your answer ran longer than "
                                                           f"{int(self.limits.check_timeout)} s and did not stop "
                                                           "(an endless loop?); graded 0.")
                return False
            except KernelDied:
                self.verdicts[q.qid] = core.Outcome(False, "checking your answer killed the kernel (a crash, or "
                                                           "running out of memory); graded 0.")
                return False
            if not outcome.passed and outcome.reason.startswith("`") and " is not defined" in outcome.reason:
                outcome = dataclasses.replace(outcome, reason=self.explain_undefined(q, outcome.reason))
            self.verdicts[q.qid] = outcome
        return True

    def explain_undefined(self, q, reason: str) -> str:
        why = self.cell_errors.get(q.qid)
        if why is None:  # another question's cell defines this name (a hidden check reusing it)
            owners = [other.qid for other in self.questions if set(other.names) & set(q.names)]
            why = next((self.cell_errors[o] for o in owners if o in self.cell_errors), None)
        return f"{reason.rstrip('.')} — {why}" if why else reason
