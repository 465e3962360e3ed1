"""The question registry, the Wrong verdict, the self-check, and what every check shares.

A chapter's checks live in convlab/exercises/cNN_topic.py (see README.md in this
folder) and register themselves with @question. A check receives one
`answers.Answer` per name the question asks for: a proxy that asks the student's
side for plain data (a value, a call on inputs the check chose, a state_dict).
The check computes its reference itself, with its own torch, and compares with
exact types. The same check runs in the student's notebook (`check(...)`, a
local channel) and in the grader (a channel to a sandbox), so both see the same.

Shared here: `sweep` (fixed cases, then random ones), `same`/`expect_close` (the
one tolerance policy), `call`, the `as_*` readers, and `judge_model` (a model is
judged by its outputs on probe inputs, compared with the task's architecture
loaded with the student's weights).
"""

import contextlib
import importlib.util
import os
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from convlab.exercises.answers import Answer, ChannelError, LocalChannel, Unanswerable

QID = re.compile(r"^(\d\d)\.([a-z]\w*)$")
HERE = Path(__file__).resolve().parent
REGISTRY: dict = {}  # qid -> Question
# One tolerance policy for every float comparison: the reference is float64, the answer may be float32.
RTOL, ATOL = 1e-4, 1e-5
_SALT = [0]  # mixed into every check's random cases; the grader draws a secret one per batch


class Wrong(Exception):  # noqa: N818 - a verdict, not an error
    """Raised by a check when the answer is wrong; the message says why (never the answer)."""


class NotAnswered(Wrong):
    """The answer still raises NotImplementedError."""


class Undefined(Wrong):
    """A name the question asks for is not defined in the notebook."""

    def __init__(self, name: str):
        super().__init__(f"`{name}` is not defined")
        self.name = name


@dataclass(frozen=True)
class Question:
    qid: str
    points: int
    title: str
    names: tuple
    check: object  # the check function, called with one Answer per name, in names' order
    partial: bool = False  # the check returns [(label, run)] cases; points in proportion to the cases passed

    @property
    def chapter(self) -> str:
        return self.qid[:2]


def question(qid: str, points: int, title: str, names, *, partial: bool = False):
    """Register the decorated function as the check of question qid (partial: credit per case, see evaluate)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if not QID.match(qid):
        raise ValueError(f"question id {qid!r} must look like '01.q3' (chapter, dot, question)")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"question {qid}: points must be a positive int, got {points!r}")
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise ValueError(f"question {qid}: names must be Python names, got {names!r}")

    def register(function):
        if qid in REGISTRY and REGISTRY[qid].check.__qualname__ != function.__qualname__:
            raise ValueError(f"question {qid} is registered twice")
        REGISTRY[qid] = Question(qid, points, title, names, function, partial)
        return function

    return register


# --- random cases ---------------------------------------------------------------------------


def set_salt(salt: int) -> None:
    """The grader's secret per batch: random cases a student cannot know in advance (0: the self-check's)."""
    _SALT[0] = int(salt)


def rng(seed: int) -> random.Random:
    """A private random generator for a check (never the global one)."""
    return random.Random(seed * 1_000_003 + _SALT[0])


def generator(seed: int) -> torch.Generator:
    """A private torch generator for a check's random tensors (never the global one)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + _SALT[0]) % (2**63))


def sweep(fixed, draw, total: int, seed: int) -> list:
    """The fixed cases, then random ones from draw(rng) (None rejects a draw) up to total cases."""
    cases, random_cases = list(fixed), rng(seed)
    for _ in range(50 * total):
        if len(cases) >= total:
            break
        case = draw(random_cases)
        if case is not None:
            cases.append(case)
    return cases


# --- reading answers ------------------------------------------------------------------------


def value_of(answer):
    """The plain data behind an Answer (or a value already plain)."""
    return answer.value() if isinstance(answer, Answer) else answer


def call(function, *args, name=None, **kwargs):
    """Call a student's function (an Answer) on args; its errors become a Wrong that names the call."""
    if not isinstance(function, Answer):
        raise TypeError("call() takes an Answer")
    kind = function.describe()
    if not kind.callable:
        raise Wrong(f"{name or function.label} should be a function, but it is a {kind.type}.")
    shown = None
    if name:
        shown = f"{name}({', '.join([short(a) for a in args] + [f'{k}={short(v)}' for k, v in kwargs.items()])})"
    return function.run(*args, kwargs=kwargs, shown=shown)


def as_shape(value, name: str) -> tuple:
    """A shape given as a tuple, list or torch.Size, as a tuple of ints; Wrong otherwise."""
    value = value_of(value)
    if not isinstance(value, (tuple, list)):
        raise Wrong(f"{name} should be a shape such as (1, 2, 3), got {short(value)}.")
    if not all(type(v) is int for v in value):
        raise Wrong(f"{name} should hold whole numbers, got {short(value)}.")
    return tuple(value)


def as_int(value, name: str) -> int:
    """An int answer (a whole float or a 0-d integer tensor is accepted); Wrong otherwise."""
    value = value_of(value)
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        value = int(value.item()) if value.dtype != torch.bool else value.item()
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise Wrong(f"{name} should be a whole number, got {short(value)}.")
    return value


def as_number(value, name: str) -> float:
    """A real number answer (int, float or a 0-d tensor) as a float; Wrong otherwise."""
    value = value_of(value)
    if isinstance(value, torch.Tensor) and value.ndim == 0 and value.dtype != torch.bool:
        value = value.item()
    if type(value) not in (int, float):
        raise Wrong(f"{name} should be a number, got {short(value)}.")
    return float(value)


def as_tensor(value, name: str) -> torch.Tensor:
    """A result as a float64 CPU tensor (nested lists of numbers are accepted); Wrong otherwise."""
    value = value_of(value)
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise Wrong(f"{name} gave a tensor of {value.dtype}; it should give real numbers.")
        return value.to(torch.float64)
    if isinstance(value, (list, tuple, int, float)) and not isinstance(value, bool):
        try:
            return torch.tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            pass
    raise Wrong(f"{name} gave {short(value)}; it should give a tensor.")


def expect_shape(out, want: tuple, what: str) -> None:
    """Wrong unless out is a tensor of shape want; what names the run ("for a batch of 2 images the model")."""
    if isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(want):
        return
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else short(out)
    raise Wrong(f"{what} gives {shape}; it should give {tuple(want)}.")


def same(got: torch.Tensor, want: torch.Tensor) -> bool:
    """The tolerance policy: same shape, and close within RTOL/ATOL relative to the reference's scale."""
    if tuple(got.shape) != tuple(want.shape):
        return False
    got, want = got.to(torch.float64), want.to(torch.float64)
    scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
    return bool(torch.allclose(got, want, rtol=RTOL, atol=ATOL * scale))  # a NaN never matches


def expect_close(got, want: torch.Tensor, what: str) -> torch.Tensor:
    """Wrong unless got (any tensor-like) has want's shape and values (the tolerance policy); got as float64."""
    got = as_tensor(got, what)
    expect_shape(got, tuple(want.shape), what)
    if not same(got, want):
        raise Wrong(f"{what} gives the right shape but wrong values.")
    return got


def expect_module(answer: Answer, name: str) -> None:
    kind = answer.describe()
    if not kind.module:
        raise Wrong(f"{name} should be an nn.Module (e.g. an nn.Sequential), got a {kind.type}.")


def expect_module_class(answer: Answer, name: str) -> None:
    kind = answer.describe()
    if not kind.module_class:
        raise Wrong(f"{name} should be a class that subclasses nn.Module, got a {kind.type}.")
    if not kind.has_forward:
        raise Wrong(f"{name} has no forward method: define forward(self, x), which computes the output.")


# --- models: judged by behaviour --------------------------------------------------------------


def built(make):
    """make() with the global RNG restored afterwards (building layers draws their initial weights)."""
    with torch.random.fork_rng(devices=[]):
        return make()


def expect_finite(pairs: list, name: str) -> None:
    """Wrong when a model's weights hold NaN or inf (its outputs would then prove nothing)."""
    if not all(bool(torch.isfinite(t).all()) for _, t in pairs if t.is_floating_point()):
        raise Wrong(f"{name}'s weights hold NaN or infinite values: build the layers afresh.")


def load_by_order(model: torch.nn.Module, pairs: list, name: str) -> torch.nn.Module:
    """model (the task's architecture) with the student's parameters and buffers, matched in order."""
    expect_finite(pairs, name)
    mine = list(model.state_dict().items())
    theirs = [(n, t) for n, t in pairs if not n.endswith("num_batches_tracked")]
    mine_kept = [(n, t) for n, t in mine if not n.endswith("num_batches_tracked")]
    if len(theirs) != len(mine_kept):
        raise Wrong(f"{name} holds {len(theirs)} weight tensors (parameters and buffers); the architecture "
                    f"the task describes holds {len(mine_kept)}: check its layers.")
    state = dict(mine)
    for index, ((their_name, tensor), (my_name, reference)) in enumerate(zip(theirs, mine_kept)):
        if tuple(tensor.shape) != tuple(reference.shape):
            raise Wrong(f"{name}'s weight tensor number {index + 1} (`{their_name}`) has shape "
                        f"{tuple(tensor.shape)}, which does not fit the architecture the task describes there.")
        state[my_name] = tensor.to(reference.dtype)
    model.load_state_dict(state)
    return model


def judge_model(answer: Answer, expected: torch.nn.Module, inputs, name: str, *, mistakes=(), pairs=None,
                otherwise: str | None = None) -> None:
    """The student's model must compute what the task's architecture computes with the student's own weights.

    expected: the architecture the question asks for (built on this side); inputs: probe tensors.
    mistakes: (make, reason) pairs: architectures a common mistake builds; when the student's model computes
    what make() computes with the student's weights, the verdict gives that reason (after "<name> on ...").
    pairs: the student's state_dict, when the check has read it already. otherwise: the last resort's reason.
    """
    expect_module(answer, name)
    pairs = answer.state_dict() if pairs is None else pairs
    load_by_order(expected, pairs, name).eval()
    for x in inputs:
        shown = f"{name} on a batch of shape {tuple(x.shape)}"
        got = as_tensor(answer.run(x, no_grad=True, eval=True, copy=True, place=True, shown=shown), shown)
        x = x.to(torch.float64) if _is_double(expected) else x
        with torch.no_grad():
            want = expected(x)
            if same(got, want):
                continue
            for make, reason in mistakes:
                if _computes(make, pairs, x, got):
                    raise Wrong(f"{shown} {reason}")
        expect_shape(got, tuple(want.shape), shown)
        raise Wrong(f"{shown} " + (otherwise or "computes something else than the task's layers with your weights: "
                                   "check the order and kind of the layers (an activation or a pooling missing or "
                                   "extra?)."))


def _computes(make, pairs, x, got) -> bool:
    """Whether make()'s architecture, with the student's weights, computes got from x (False if they do not fit)."""
    try:
        model = load_by_order(built(make), pairs, "the model").eval()
        return same(got, model(x))
    except (Wrong, RuntimeError):
        return False


def _is_double(model) -> bool:
    parameter = next(model.parameters(), None)
    return parameter is not None and parameter.dtype == torch.float64


# --- chapters -------------------------------------------------------------------------------


def chapter_module_path(chapter: str) -> Path:
    """convlab/exercises/cNN_topic.py for chapter 'NN' (or a stem 'NN_topic')."""
    number = chapter[:2]
    found = sorted(HERE.glob(f"c{number}_*.py"))
    if not found:
        raise KeyError(f"no checks for chapter {number}: expected convlab/exercises/c{number}_<topic>.py")
    return found[0]


def chapters() -> dict:
    """{'01': 'convlab/exercises/c01_conv2d.py', ...} for every chapter that has checks."""
    return {p.name[1:3]: p for p in sorted(HERE.glob("c[0-9][0-9]_*.py"))}


def load_chapter(chapter: str) -> list:
    """Import chapter NN's checks (once) and return its questions in order."""
    path = chapter_module_path(chapter)
    name = f"convlab.exercises.{path.stem}"
    if name not in sys.modules or not questions(chapter):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return questions(chapter)


def questions(chapter: str) -> list:
    """The registered questions of chapter NN, in question order."""
    return sorted((q for q in REGISTRY.values() if q.chapter == chapter[:2]), key=order)


def order(q: Question):
    tail = q.qid[3:]
    digits = re.sub(r"\D", "", tail)
    return (tail[0] != "q", int(digits) if digits else 0, tail)


# --- judging --------------------------------------------------------------------------------


@contextlib.contextmanager
def _one_thread():
    """Checks run many tiny torch operations, where more threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Outcome:
    """A question's verdict: passed (all of it), the reason, and the fraction of its points earned."""

    passed: bool
    reason: str
    fraction: float = 0.0
    cases_passed: int | None = None  # questions with partial credit only
    cases_total: int | None = None

    def points(self, q: Question) -> float:
        return q.points if self.passed else round(q.points * self.fraction, 2)


def evaluate(q: Question, channel) -> Outcome:
    """Run question q's check against the answers behind channel. Never raises for student errors.

    A question with partial=True returns its cases from the check: [(label, run)], each run() raising Wrong
    when that case fails; it earns the fraction of its points that its cases pass. Exceptions of the channel
    itself (a sandbox that died or ran out of time) pass through to the grader.
    """
    answers = tuple(Answer(channel, name) for name in q.names)
    with _one_thread(), torch.random.fork_rng(devices=[]):
        if not q.partial:
            failed = _failure(lambda: q.check(*answers))
            return Outcome(True, "correct", 1.0) if failed is None else Outcome(False, failed)
        cases = []
        failed = _failure(lambda: cases.extend(_cases(q.check(*answers))))
        return _partial(q, cases) if failed is None else Outcome(False, failed)


def _cases(cases) -> list:
    if not isinstance(cases, list) or not cases or not all(isinstance(c, tuple) and len(c) == 2 for c in cases):
        raise TypeError("a check with partial=True returns a non-empty list of (label, run) pairs")
    return cases


def _partial(q: Question, cases) -> Outcome:
    failures = {}  # reason -> labels of the cases that fail with it
    for label, run in cases:
        failed = _failure(run)
        if failed is not None and _stops_everything(failed):
            return Outcome(False, failed, 0.0, 0, len(cases))
        if failed is not None:
            failures.setdefault(failed.rstrip("."), []).append(label)
    passed = len(cases) - sum(len(labels) for labels in failures.values())
    if not failures:
        return Outcome(True, "correct", 1.0, passed, len(cases))
    points = round(q.points * passed / len(cases), 2)
    shown = [reason if len(labels) > 1 else f"{labels[0]}: {reason}" for reason, labels in failures.items()]
    more = f"; and {len(shown) - 3} more" if len(shown) > 3 else ""
    reason = (f"{passed} of {len(cases)} cases pass ({points:g} of {q.points} points); failing: "
              f"{'; '.join(shown[:3])}{more}.")
    return Outcome(False, reason, passed / len(cases), passed, len(cases))


def _stops_everything(reason: str) -> bool:
    """Not answered or not defined: no case can pass, so the question is simply 0."""
    return "not answered yet" in reason or " is not defined" in reason


def _failure(run) -> str | None:
    """None if run() passes, else the reason it fails (student errors only; channel errors pass through)."""
    try:
        run()
    except Wrong as problem:
        return str(problem) if str(problem).endswith((".", ")")) else f"{problem}."
    except Unanswerable as problem:
        return f"the notebook's reply could not be read ({problem}); graded 0."
    except ChannelError:
        raise
    except Exception as problem:  # noqa: BLE001 - odd plain data (a tensor where a number was due) is feedback
        return f"your answer could not be checked ({type(problem).__name__}: {clip(str(problem))})."
    return None


class Verdict:
    """What check() returns: truthy when right. It prints itself once, so the notebook shows no Out[]."""

    def __init__(self, qid: str, passed: bool, reason: str):
        self.qid, self.passed, self.reason = qid, passed, reason

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other) -> bool:
        return self.passed == other if isinstance(other, bool) else NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"Verdict({self.qid!r}, passed={self.passed})"

    def _ipython_display_(self) -> None:
        """Already printed by check(); show nothing more."""


def check(qid: str, *answers) -> Verdict:
    """Check your answer to question qid: prints ✓ or ✗ with the reason, returns a truthy/falsy Verdict.

        check("01.q3", output_size)
        check("01.q1", out_shape, weight_shape, bias_shape)
    """
    if not isinstance(qid, str) or not QID.match(qid):
        raise ValueError(f"check needs a question id such as '01.q3', got {qid!r}")
    try:
        load_chapter(qid[:2])
    except KeyError as problem:
        raise ValueError(str(problem).strip("'\"")) from None
    if qid not in REGISTRY:
        known = ", ".join(q.qid for q in questions(qid[:2]))
        raise ValueError(f"there is no question {qid}; chapter {qid[:2]} has {known}")
    q = REGISTRY[qid]
    if len(answers) != len(q.names):
        raise TypeError(f"check({qid!r}, ...) takes {len(q.names)} answer(s): {', '.join(q.names)}")
    if os.environ.get("CONVLAB_GRADING") == "1":  # in the grader's sandbox: the judge outside decides
        return Verdict(qid, False, "checked by the grader")
    outcome = evaluate(q, LocalChannel(dict(zip(q.names, answers))))
    if outcome.passed:
        print(f"✓ {qid}: correct ({q.points} point{'s' if q.points != 1 else ''})")
    else:
        print(f"✗ {qid}: {outcome.reason}")
    return Verdict(qid, outcome.passed, outcome.reason)


def short(value, limit: int = 60) -> str:
    if isinstance(value, dict) and "$layer" in value:
        body = value["$layer"]
        return f"{body.get('type')}(...)"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<{type(value).__name__} of shape {tuple(value.shape)}>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
