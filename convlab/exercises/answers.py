"""A student's answers as the judge sees them: proxies that ask, never objects that answer.

A check never holds a student's object. It holds an `Answer` for each name the
question asks for and asks it things: its value, a call on inputs the judge chose,
its state_dict, what kind of object it is. Each question is a request (plain
data, see wire.py) executed next to the student's objects by `execute`, and each
reply is decoded into fresh objects of exact types. In the student's own kernel
(`check(...)`) the channel is local: requests run in the same process, but
through the same JSON round trip, so a self-check and the grader see the same
data. When grading, the channel is the sandbox's pipe (convlab.grading.sandbox).

Requests:

    {"op": "value", "target": T}                      the value, encoded
    {"op": "describe", "target": T}                   an $object description
    {"op": "call", "target": T, "args": [...], "kwargs": {...},
     "mode": {"no_grad": bool, "eval": bool, "copy": bool, "place": bool}, "keep": "m1"}
    {"op": "state_dict", "target": T}                 [[name, tensor], ...] of parameters and buffers

T is a name the notebook defined, or "$m1" for an object an earlier call kept.
A reply is {"ok": data}, {"undefined": true} or {"error": {"type": ..., "message": ...}}.
"""

import copy
import json

import torch

from convlab.exercises import wire

LAYERS = {  # the layers a judge may ask the student side to build as arguments ($layer)
    "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "ReLU",
    "BatchNorm2d", "Flatten", "Linear", "Identity", "Sequential", "Dropout", "Sigmoid", "Tanh", "LeakyReLU"}


class ChannelError(Exception):
    """The channel itself failed (a sandbox that died or ran out of time): the grader decides, not the check."""


class Unanswerable(Exception):
    """A reply the judge cannot use (malformed, from an interfering notebook); the question scores 0."""


# --- the student side: run one request next to the student's objects --------------------------


def execute(request: dict, namespace: dict, kept: dict) -> dict:
    """Run one request (a dict parsed from JSON) against namespace; the reply as a JSON-ready dict."""
    try:
        target = _target(request.get("target"), namespace, kept)
    except KeyError:
        return {"undefined": True}
    op = request.get("op")
    try:
        if op == "value":
            return {"ok": wire.encode(target)}
        if op == "describe":
            return {"ok": wire.describe(target)}
        if op == "state_dict":
            return {"ok": _state(target)}
        if op == "call":
            result = _call(target, request, kept)
            if request.get("keep"):
                kept[str(request["keep"])] = result
                return {"ok": wire.describe(result)}
            return {"ok": wire.encode(result)}
    except BaseException as problem:  # noqa: BLE001 - whatever the student's code raises is the reply
        if isinstance(problem, KeyboardInterrupt):
            raise
        return {"error": {"type": type(problem).__name__, "message": _message(problem),
                          "not_implemented": isinstance(problem, NotImplementedError)}}
    return {"error": {"type": "BadRequest", "message": f"unknown op {op!r}", "not_implemented": False}}


def _target(name, namespace, kept):
    if isinstance(name, str) and name.startswith("$"):
        return kept[name[1:]]
    return namespace[name]


def _call(target, request, kept):
    mode = request.get("mode") or {}
    args = [_argument(a, kept) for a in request.get("args", [])]
    kwargs = {k: _argument(v, kept) for k, v in (request.get("kwargs") or {}).items()}
    if mode.get("copy") and isinstance(target, torch.nn.Module):
        target = copy.deepcopy(target)
    if mode.get("place") and isinstance(target, torch.nn.Module):
        parameter = next(target.parameters(), None)
        if parameter is not None:
            args = [a.to(parameter.device, parameter.dtype) if isinstance(a, torch.Tensor) else a for a in args]
    if mode.get("eval") and isinstance(target, torch.nn.Module):
        target.eval()
    with torch.random.fork_rng(devices=[]):  # a call never moves the notebook's RNG
        with torch.no_grad() if mode.get("no_grad") else _nothing():
            return target(*args, **kwargs)


class _nothing:  # noqa: N801 - a null context manager without importing contextlib's
    def __enter__(self):
        return None

    def __exit__(self, *_):
        return False


def _argument(data, kept):
    """A request's argument: wire data, with $layer built here and $ref looked up."""
    if isinstance(data, dict) and len(data) == 1:
        (tag, body), = data.items()
        if tag == "$layer":
            return _layer(body, kept)
        if tag == "$ref":
            return kept[str(body)]
    if isinstance(data, list):
        return [_argument(v, kept) for v in data]
    if isinstance(data, dict) and "$tuple" in data:
        return tuple(_argument(v, kept) for v in data["$tuple"])
    return wire.decode(data)


def _layer(body, kept):
    kind = body.get("type")
    if kind not in LAYERS:
        raise ValueError(f"layer {kind!r} may not be built")
    args = [_argument(a, kept) for a in body.get("args", [])]
    kwargs = {k: _argument(v, kept) for k, v in (body.get("kwargs") or {}).items()}
    with torch.random.fork_rng(devices=[]):
        return getattr(torch.nn, kind)(*args, **kwargs)


def _state(target) -> list:
    if not isinstance(target, torch.nn.Module):
        raise TypeError(f"a {type(target).__name__} has no state_dict (it is not an nn.Module)")
    return [[name, wire.encode(tensor)] for name, tensor in target.state_dict().items()]


def _message(problem) -> str:
    try:
        return " ".join(str(problem).split())[:300]
    except BaseException:  # noqa: BLE001 - a str() that raises
        return ""


# --- the judge side: proxies -----------------------------------------------------------------


class LocalChannel:
    """Requests run in this process, through a JSON round trip (the self-check in a student's notebook)."""

    def __init__(self, namespace: dict):
        self.namespace, self.kept = namespace, {}

    def ask(self, request: dict) -> dict:
        text = json.dumps(execute(json.loads(json.dumps(request)), self.namespace, self.kept),
                          separators=(",", ":"), allow_nan=False)
        return json.loads(text)


class Answer:
    """One name of the student's notebook, as the judge asks about it (see the module docstring)."""

    def __init__(self, channel, target: str, label: str | None = None):
        self.channel, self.target, self.label = channel, target, label or target
        self._kept, self._kind = 0, None

    def __repr__(self) -> str:
        return f"Answer({self.label!r})"

    def _ask(self, request: dict):
        from convlab.exercises.core import NotAnswered, Undefined, Wrong

        reply = self.channel.ask({"target": self.target, **request})
        if not isinstance(reply, dict):
            raise Unanswerable("the reply is not an object")
        if reply.get("undefined") is True:
            raise Undefined(self.label)
        error = reply.get("error")
        if isinstance(error, dict):
            kind, text = str(error.get("type", "Error"))[:60], str(error.get("message", ""))[:300]
            if error.get("not_implemented") is True:
                raise NotAnswered(f"{self.label} still raises NotImplementedError: not answered yet.")
            raise Wrong(f"{{call}} raised {kind}" + (f": {text}" if text else ""))
        if "ok" not in reply:
            raise Unanswerable("the reply has neither ok nor error")
        try:
            return wire.decode(reply["ok"])
        except wire.WireError as problem:
            raise Unanswerable(str(problem)) from None

    def value(self):
        """The value, as fresh plain data (an object that is not data comes back as a wire.Described)."""
        return self._rephrase(lambda: self._ask({"op": "value"}), f"reading {self.label}")

    def describe(self) -> wire.Described:
        if self._kind is not None:
            return self._kind
        found = self._rephrase(lambda: self._ask({"op": "describe"}), f"reading {self.label}")
        if not isinstance(found, wire.Described):
            raise Unanswerable("describe did not describe")
        self._kind = found
        return found

    def __call__(self, *args, **kwargs):
        return self.run(*args, kwargs=kwargs)

    def run(self, *args, kwargs=None, no_grad=False, eval=False, copy=False, place=False, shown=None):
        """Call the answer on args (tensors, numbers, shapes, wire.layer specs); the result as plain data."""
        request = {"op": "call", "args": [_outgoing(a) for a in args],
                   "kwargs": {k: _outgoing(v) for k, v in (kwargs or {}).items()},
                   "mode": {"no_grad": no_grad, "eval": eval, "copy": copy, "place": place}}
        return self._rephrase(lambda: self._ask(request), shown or _shown_call(self.label, args, kwargs or {}))

    def new(self, *args, shown=None) -> "Answer":
        """Call the answer (a class, a factory) and keep the result on the student side: an Answer for it."""
        self._kept += 1
        key = f"{self.target.strip('$')}{self._kept}"
        request = {"op": "call", "args": [_outgoing(a) for a in args], "kwargs": {}, "keep": key,
                   "mode": {"no_grad": False, "eval": False, "copy": False, "place": False}}
        shown = shown or _shown_call(self.label, args, {})
        self._rephrase(lambda: self._ask(request), shown)
        return Answer(self.channel, "$" + key, shown)

    def state_dict(self) -> list:
        """[(name, tensor)] of the model's parameters and buffers, in the model's order."""
        pairs = self._rephrase(lambda: self._ask({"op": "state_dict"}), f"{self.label}.state_dict()")
        if not isinstance(pairs, list) or not all(
                isinstance(p, list) and len(p) == 2 and type(p[0]) is str and isinstance(p[1], torch.Tensor)
                for p in pairs):
            raise Unanswerable("a state_dict is a list of [name, tensor] pairs")
        return [(name, tensor) for name, tensor in pairs]

    @staticmethod
    def _rephrase(ask, shown: str):
        from convlab.exercises.core import Wrong

        try:
            return ask()
        except Wrong as problem:
            if "{call}" in problem.args[0]:
                raise type(problem)(problem.args[0].replace("{call}", shown, 1)) from None
            raise


def layer(kind: str, *args, **kwargs) -> dict:
    """An argument the student side builds as torch.nn.<kind>(*args, **kwargs) (for questions taking layers)."""
    if kind not in LAYERS:
        raise ValueError(f"{kind} is not in answers.LAYERS")
    return {"$layer": {"type": kind, "args": [_outgoing(a) for a in args],
                       "kwargs": {k: _outgoing(v) for k, v in kwargs.items()}}}


def layer_of(module: torch.nn.Module) -> dict:
    """The $layer spec that rebuilds module's configuration (weights are not sent)."""
    kind = type(module).__name__
    spec = {
        "Conv2d": lambda m: ((m.in_channels, m.out_channels, m.kernel_size),
                             dict(stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups,
                                  bias=m.bias is not None)),
        "MaxPool2d": lambda m: ((m.kernel_size,), dict(stride=m.stride, padding=m.padding, dilation=m.dilation,
                                                       ceil_mode=m.ceil_mode)),
        "AvgPool2d": lambda m: ((m.kernel_size,), dict(stride=m.stride, padding=m.padding, ceil_mode=m.ceil_mode,
                                                       count_include_pad=m.count_include_pad)),
        "BatchNorm2d": lambda m: ((m.num_features,), {}),
        "Linear": lambda m: ((m.in_features, m.out_features), {}),
        "ReLU": lambda m: ((), {}), "Flatten": lambda m: ((), {}), "Identity": lambda m: ((), {}),
    }
    if kind not in spec:
        raise ValueError(f"layer_of does not know {kind}")
    args, kwargs = spec[kind](module)
    return layer(kind, *args, **kwargs)


def _outgoing(value):
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("$layer", "$ref"):
        return value
    if isinstance(value, torch.nn.Module):
        return layer_of(value)
    if isinstance(value, list):
        return [_outgoing(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_outgoing(v) for v in value]}
    return wire.encode(value)


def _shown_call(label: str, args, kwargs) -> str:
    from convlab.exercises.core import short

    shown = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{label}({', '.join(shown)})"
