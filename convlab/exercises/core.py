"""The question registry, the Wrong verdict and the self-check that students run.

A chapter's checks live in convlab/exercises/cNN_topic.py (see README.md in this
folder) and register themselves with @question. check("01.q3", output_size)
loads chapter 01's module on first use, runs the check and prints a verdict
without ever printing the expected answer. The grader runs the same check
functions (evaluate) inside each submission's kernel.
"""

import contextlib
import copy
import importlib.util
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

QID = re.compile(r"^(\d\d)\.([a-z]\w*)$")
HERE = Path(__file__).resolve().parent
REGISTRY: dict = {}  # qid -> Question


class Wrong(Exception):  # noqa: N818 - a verdict, not an error
    """Raised by a check when the answer is wrong; the message says why (never the answer)."""


class NotAnswered(Wrong):
    """The answer still raises NotImplementedError."""


@dataclass(frozen=True)
class Question:
    qid: str
    points: int
    title: str
    names: tuple
    check: object  # the check function, called with the answers in names' order

    @property
    def chapter(self) -> str:
        return self.qid[:2]


def question(qid: str, points: int, title: str, names):
    """Register the decorated function as the check of question qid."""
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
        REGISTRY[qid] = Question(qid, points, title, names, function)
        return function

    return register


def rng(seed: int) -> random.Random:
    """A private random generator for a check (never the global one)."""
    return random.Random(seed)


def call(function, *args, name=None, **kwargs):
    """Call a student's function; any exception becomes a Wrong that names the call (as `name`)."""
    name = name or getattr(function, "__name__", None) or "your answer"
    if not callable(function):
        raise Wrong(f"{name} should be a function, but it is a {type(function).__name__}.")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise NotAnswered(f"{name} still raises NotImplementedError: not answered yet.") from None
    except Wrong:
        raise
    except Exception as problem:  # noqa: BLE001 - any student error is feedback
        shown = ", ".join([_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()])
        raise Wrong(f"{name}({shown}) raised {type(problem).__name__}: {_clip(str(problem))}") from None


def as_shape(value, name: str) -> tuple:
    """A shape given as a tuple, list or torch.Size, as a tuple of ints; Wrong otherwise."""
    try:
        shape = tuple(value)
    except TypeError:
        raise Wrong(f"{name} should be a shape such as (1, 2, 3), got {_short(value)}.") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise Wrong(f"{name} should hold whole numbers, got {_short(value)}.")
    return shape


def as_int(value, name: str) -> int:
    """An int answer (a whole float or a 0-d integer tensor is accepted); Wrong otherwise."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Wrong(f"{name} should be a whole number, got {_short(value)}.")
    return value


def expect_shape(out, want: tuple, what: str) -> None:
    """Wrong unless out is a tensor of shape want; what names the run ("for a batch of 2 images the model")."""
    if isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(want):
        return
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    raise Wrong(f"{what} gives {shape}; it should give {tuple(want)}.")


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
    return sorted((q for q in REGISTRY.values() if q.chapter == chapter[:2]), key=_order)


def _order(q: Question):
    tail = q.qid[3:]
    digits = re.sub(r"\D", "", tail)
    return (tail[0] != "q", int(digits) if digits else 0, tail)


def place(model) -> dict:
    """The device and dtype of a student's model's parameters, to build its inputs with ({} if it has none)."""
    parameter = next(model.parameters(), None)
    return {} if parameter is None else {"device": parameter.device, "dtype": parameter.dtype}


def leaves(model) -> list:
    """The modules of a model that hold no other modules: its layers, however they are nested."""
    return [m for m in model.modules() if not list(m.children())]


def as_tensor(value, name: str) -> torch.Tensor:
    """A student's result as a float64 CPU tensor; Wrong if it is not tensor-like."""
    try:
        return torch.as_tensor(value).detach().to("cpu", torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{name} returned a {type(value).__name__}; it should return a tensor.") from None


def run_recording_sizes(model, layers, x, name: str):
    """Run a student's model on x, recording each layer's output (h, w): (output or None, sizes, Wrong or None).

    A failure is returned, not raised, so a check can first report the wrong size that usually caused it.
    """
    sizes = []
    hooks = [layer.register_forward_hook(lambda _, __, out: sizes.append(tuple(out.shape[-2:]))) for layer in layers]
    try:
        with torch.no_grad():
            return call(model, x, name=name), sizes, None
    except Wrong as problem:
        return None, sizes, problem
    finally:
        for hook in hooks:
            hook.remove()


def copy_model(model):
    """A copy of the student's model for a check to run, so running it (BatchNorm statistics) leaves theirs alone."""
    try:
        return copy.deepcopy(model)
    except Exception:  # noqa: BLE001 - a model that cannot be copied is run as it is
        return model


@contextlib.contextmanager
def _one_thread():
    """Checks run many tiny torch operations, where more threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def evaluate(q: Question, answers: tuple) -> tuple:
    """Run question q's check on the answers: (passed, reason). Never raises for student errors."""
    try:
        with _one_thread():
            q.check(*answers)
    except NotAnswered as problem:
        return False, str(problem)
    except NotImplementedError:
        return False, "not answered yet (your answer still raises NotImplementedError)."
    except Wrong as problem:
        return False, str(problem)
    except RecursionError:
        return False, "your answer recursed too deeply (RecursionError)."
    except Exception as problem:  # noqa: BLE001 - the answer broke the check: that is feedback
        return False, f"checking your answer raised {type(problem).__name__}: {_clip(str(problem))}"
    return True, "correct"


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
    passed, reason = evaluate(q, answers)
    if passed:
        print(f"✓ {qid}: correct ({q.points} point{'s' if q.points != 1 else ''})")
    else:
        print(f"✗ {qid}: {reason}")
    return Verdict(qid, passed, reason)


def _short(value, limit: int = 60) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<{type(value).__name__} of shape {tuple(value.shape)}>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
