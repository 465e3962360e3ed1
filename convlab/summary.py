"""A per-layer table of a model: output shapes, parameters, multiply-adds, receptive fields.

    >>> net = nn.Sequential(nn.Conv2d(3, 32, 5, 1, 2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8192, 10))
    >>> convlab.summary(net, (1, 3, 32, 32))      # prints as a table in a notebook

summary() runs one forward pass of zeros through the model and records every
layer as it runs. The returned Summary is plain data (rows and totals); its
str() and repr() are the table, so a notebook cell ending in summary(...) shows it.

Counting conventions (per forward pass of the whole batch given):
- Parameters of a row are the module's own (``parameters(recurse=False)``); a
  parameter shared by several layers is counted once, in the first row that uses it.
- Multiply-adds count the multiplications of weights by inputs; bias additions are
  not counted. Conv (1d/2d/3d): output elements × in_channels/groups × kernel area.
  ConvTranspose: input elements × out_channels/groups × kernel area.
  Linear: output elements × in_features (every leading dimension counts).
  Normalisation (BatchNorm, GroupNorm, InstanceNorm, LayerNorm): 1 per output
  element, the y = a·x + b they reduce to at inference (computing statistics is not
  counted). Activations, pooling, dropout, Flatten and other reshaping (the layers
  convlab.arithmetic.LAYER_FACTS marks free): 0.
  A layer convlab has no formula for shows "?" and is left out of the total.
- Receptive field: how many input pixels one output pixel of the layer sees, per
  dimension the model's windows slide over: one number (length) for a 1-D model
  (Conv1d, MaxPool1d, AvgPool1d), h×w for a 2-D one, d×h×w for a 3-D one (Conv3d,
  MaxPool3d, AvgPool3d). Jump, in the same form: how many input pixels apart two
  neighbouring output pixels are.
  They are followed through Conv1d/2d/3d, MaxPool1d/2d/3d, AvgPool1d/2d/3d and
  pointwise layers (convlab.arithmetic.LAYER_FACTS, the table receptive_field reads
  too) while each layer's input is the previous layer's output tensor, starting from
  1 in each dimension of the first window layer in model.modules() (2-D if there is
  none). The cell is "--" where they are not meaningful: after anything else
  (Flatten, Linear, a transposed convolution, adaptive pooling, a functional call in
  forward()), and after a window layer whose number of dimensions differs from the
  field's (a Conv2d fed by a Conv1d through a reshape).
"""

import math
import operator
from dataclasses import dataclass

import torch
from torch import nn

from convlab.arithmetic import conv2d_mult_adds, conv_output_size, layer_facts, pool_output_size
from convlab.checks import layer_output_shape, pool2d_shape
from convlab.errors import ConvlabError, error, plural

CONV_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
TRANSPOSED_CONV_LAYERS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
NORM_LAYERS = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
)
COLUMNS = ("#", "Layer", "Type", "Output shape", "Params", "Mult-adds", "Receptive field", "Jump")
RIGHT_ALIGNED = {"#", "Params", "Mult-adds", "Receptive field", "Jump"}


@dataclass(frozen=True)
class SummaryRow:
    """One layer as it ran. Shapes are tuples; receptive_field and jump are one size per
    dimension ((length,), (h, w) or (d, h, w)) or None."""

    index: int
    name: str
    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    params: int
    mult_adds: int | None
    receptive_field: tuple[int, ...] | None
    jump: tuple[int, ...] | None
    params_shared: bool = False  # its parameters were already counted in an earlier row


@dataclass(frozen=True, repr=False)
class Summary:
    """What summary() found; str() and repr() are the table."""

    model_type: str
    input_shape: tuple[int, ...]
    dtype: torch.dtype
    rows: tuple[SummaryRow, ...]
    total_params: int
    trainable_params: int
    total_mult_adds: int
    input_bytes: int
    params_bytes: int

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def input_size(self) -> int:
        """Number of values in the input tensor."""
        return math.prod(self.input_shape)

    def __str__(self) -> str:
        return _table(self)

    __repr__ = __str__


def summary(model, input_shape, device=None) -> Summary:
    """Run zeros of input_shape through model once and tabulate every layer.

    input_shape is the exact shape of the tensor passed to the model, batch
    included: (1, 3, 32, 32), not (3, 32, 32). No batch dimension is added,
    because a Conv2d accepts an unbatched (C, H, W) image but a later Flatten
    would then flatten the wrong dimensions; summary does not guess.

    device: where the zeros are made; None means the device of the model's
    parameters (cpu for a model without any). The model is not moved.

    The forward pass runs under torch.no_grad() in eval mode (so BatchNorm's
    running statistics are not changed); each module's training flag is restored
    and every hook removed afterwards, also when the forward fails. If a layer
    fails, a ConvlabError names it, the shape it received, what it expected and
    the shapes of the layers that ran before it.

    Rows are the modules that ran and are leaves or hold parameters of their own,
    in the order they finished. See the module docstring for the counting rules.
    """
    _check_model(model)
    shape = _check_shape(input_shape)
    params = list(model.parameters())
    target = _pick_device(params, device)
    dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
    x = torch.zeros(shape, dtype=dtype, device=target)

    ndim = _window_dims(model)
    recorder = _Recorder(model, x, ndim)
    modes = {module: module.training for module in model.modules()}
    handles = []
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(recorder.pre_hook(name)))
            handles.append(module.register_forward_hook(recorder.post_hook(name)))
        model.eval()
        with torch.no_grad():
            model(x)
    except Exception as failure:  # any failure of the user's forward becomes one ConvlabError
        problem = _failure(model, shape, recorder, failure, ndim)
    else:
        problem = None
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    if problem is not None:
        raise problem from None

    rows = tuple(recorder.rows)
    return Summary(
        model_type=type(model).__name__,
        input_shape=shape,
        dtype=dtype,
        rows=rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_mult_adds=sum(row.mult_adds or 0 for row in rows),
        input_bytes=x.numel() * x.element_size(),
        params_bytes=sum(p.numel() * p.element_size() for p in params),
    )


# --- argument guards -------------------------------------------------------------------------


def _check_model(model) -> None:
    if isinstance(model, nn.Module):
        return
    if isinstance(model, type) and issubclass(model, nn.Module):
        raise error(
            f"summary needs a model (an nn.Module instance), got the class {model.__name__} itself.",
            f"create the model first: summary({model.__name__}(...), input_shape).",
        )
    raise error(
        f"summary needs a model (an nn.Module), got {type(model).__name__}.",
        "pass the network, e.g. summary(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (1, 3, 32, 32)).",
    )


def _check_shape(input_shape) -> tuple[int, ...]:
    example = "such as (1, 3, 32, 32) for one 3-channel 32×32 image (batch, channels, height, width)"
    if not isinstance(input_shape, tuple | list) or not input_shape:
        raise error(
            f"input_shape must be a tuple of positive ints {example}, got {input_shape!r}.",
            "pass the full shape of one input tensor, batch included: input_shape=(1, 3, 32, 32).",
        )
    bad = [v for v in input_shape if _positive_int(v) is None]
    if bad:
        raise error(
            f"input_shape must be a tuple of positive ints {example}, got {tuple(input_shape)!r}: "
            f"{bad[0]!r} is not a positive integer.",
            "give every dimension as a whole number of at least 1.",
        )
    return tuple(_positive_int(v) for v in input_shape)


def _positive_int(value) -> int | None:
    """value as an int if it is a whole number of at least 1 (numpy and torch ints too), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = operator.index(value)
    except TypeError:
        return None
    return number if number >= 1 else None


def _pick_device(params, device) -> torch.device:
    if device is None:
        return params[0].device if params else torch.device("cpu")
    try:
        target = torch.device(device)
    except (TypeError, RuntimeError):
        raise error(
            f"device={device!r} is not a device torch knows.",
            "pass e.g. device='cpu', device='cuda', or device=convlab.device(); or leave it out.",
        ) from None
    if params:
        have = params[0].device
        if have.type != target.type or (target.index is not None and have.index != target.index):
            raise error(
                f"The model's parameters are on {have}, but summary was asked to run on {target}.",
                f"move the model first (model.to({str(target)!r})), or leave device out to use {have}.",
            )
    return target


# --- recording the forward pass -----------------------------------------------------------------


def _window_dims(model: nn.Module) -> int:
    """How many dimensions the model's first window layer slides over; 2 if it has none."""
    for module in model.modules():
        facts = layer_facts(module)
        if facts is not None and facts.geometry is not None:
            try:
                return len(facts.geometry(module)[0])
            except ConvlabError:  # a layer torch itself would refuse: the forward pass will say so
                continue
    return 2


class _Recorder:
    """Forward hooks that turn each finished layer into a SummaryRow."""

    def __init__(self, model: nn.Module, x: torch.Tensor, ndim: int):
        self.rows: list[SummaryRow] = []
        self.pending: list[tuple[str, nn.Module, tuple]] = []  # modules whose forward has not returned
        self.counted: set[int] = set()  # ids of parameters already in a row
        # id(tensor) -> (tensor, field, jump). The tensor is kept alive so its id is not reused.
        self.fields: dict[int, tuple] = {id(x): (x, (1,) * ndim, (1,) * ndim)}

    def pre_hook(self, name: str):
        def hook(module, args):
            self.pending.append((name, module, args))

        return hook

    def post_hook(self, name: str):
        def hook(module, args, output):
            self.pending.pop()
            own = list(module.parameters(recurse=False))
            leaf = next(module.children(), None) is None
            if not leaf and not own:
                return
            fresh = [p for p in own if id(p) not in self.counted]
            self.counted.update(id(p) for p in fresh)
            x, y = _first_tensor(args), _first_tensor(output)
            field, jump = self._follow(module, x, y) if leaf else (None, None)
            self.rows.append(
                SummaryRow(
                    index=len(self.rows) + 1,
                    name=name,
                    type=type(module).__name__,
                    input_shape=None if x is None else tuple(x.shape),
                    output_shape=None if y is None else tuple(y.shape),
                    params=sum(p.numel() for p in fresh),
                    mult_adds=_mult_adds(module, x, y),
                    receptive_field=field,
                    jump=jump,
                    params_shared=bool(own) and not fresh,
                )
            )

        return hook

    def _follow(self, module, x, y):
        """Receptive field and jump at y, from those at x, if the chain from the input is unbroken."""
        known = self.fields.get(id(x)) if x is not None else None
        field = jump = None
        facts = layer_facts(module)
        if known is not None and known[1] is not None and facts is not None:
            field, jump = known[1], known[2]
            if facts.geometry is not None:
                span, stride = facts.geometry(module)
                if len(span) == len(field):
                    field = tuple(r + (e - 1) * j for r, e, j in zip(field, span, jump))
                    jump = tuple(j * s for j, s in zip(jump, stride))
                else:  # a window in another number of dimensions: per-dimension fields do not carry over
                    field = jump = None
            elif not facts.pointwise:
                field = jump = None
        if y is not None:
            self.fields[id(y)] = (y, field, jump)  # also overwrites a stale entry of an in-place result
        return field, jump


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, tuple | list):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


def _mult_adds(module, x, y) -> int | None:
    """Multiply-adds of one call (see the module docstring); None where convlab has no formula."""
    try:
        if isinstance(module, nn.Conv2d):
            batch = math.prod(x.shape[:-3])
            return batch * conv2d_mult_adds(
                tuple(x.shape[-2:]), module.in_channels, module.out_channels, module.kernel_size,
                module.stride, module.padding, module.dilation, module.groups,
            )
        if isinstance(module, CONV_LAYERS):
            return y.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        if isinstance(module, TRANSPOSED_CONV_LAYERS):
            return x.numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
        if isinstance(module, nn.Linear):
            return y.numel() * module.in_features
        if isinstance(module, NORM_LAYERS):
            return y.numel()
        facts = layer_facts(module)
        if facts is not None and facts.free:
            return 0
    except (AttributeError, TypeError, ConvlabError):
        return None
    return None


# --- explaining a failure ---------------------------------------------------------------------


_ONE = {1: "signal", 2: "image", 3: "volume"}  # one unbatched input of a model that slides over n dimensions


def _failure(model, shape, recorder: _Recorder, failure: Exception, ndim: int) -> ConvlabError:
    call = f"summary({type(model).__name__}, input_shape={shape})"
    torch_said = str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
    if recorder.pending:
        name, module, args = recorder.pending[-1]
        x = _first_tensor(args)
        received = "no tensor" if x is None else f"shape {tuple(x.shape)}"
        leaf = next(module.children(), None) is None
        if leaf:
            where = f"layer {len(recorder.rows) + 1}, {_describe(name, module)}"
            fix = "compare the shape it received with what the layer was built for."
        else:
            where = f"the forward() code of {_describe(name, module)}, outside its layers"
            fix = (
                f"look at the operations between the layers in {type(module).__name__}.forward() "
                "(view, reshape, flatten, cat, +) and the shapes of the layers that ran."
            )
        explained = _explain(module, x, recorder.rows) if leaf else None
        if explained is None:
            problem = f"{call} failed in {where}: it received {received}.\n  torch said: {torch_said}"
        else:
            reason, fix = explained
            problem = f"{call} failed in {where}: it received {received}. {reason}"
    else:
        problem = f"{call} failed before any layer ran.\n  torch said: {torch_said}"
        fix = "check that the model's forward() takes one tensor of this shape."
    if len(shape) == ndim + 1:
        fix += (
            f" Note: input_shape {shape} has {len(shape)} dimensions and is passed as given; "
            f"for a batch of one {_ONE[ndim]} use {(1, *shape)}."
        )
    return error(f"{problem}\n{_ran(recorder.rows)}", fix)


def _describe(name: str, module: nn.Module) -> str:
    """'features.0' (Conv2d(3, 32, ...)) for a layer; 'block' (Block) for a module with children."""
    leaf = next(module.children(), None) is None
    what = repr(module).splitlines()[0] if leaf else type(module).__name__
    return f"{name!r} ({what})" if name else f"the model ({what})"


def _explain(module, x, rows):
    """(reason, fix) for a failure convlab understands, else None."""
    if x is None:
        return None
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        try:
            layer_output_shape(module, x)
        except ConvlabError as explained:
            return explained.problem, explained.fix or "see above."
        return None
    if isinstance(module, nn.Linear) and x.dim() >= 1 and x.shape[-1] != module.in_features:
        have, want = x.shape[-1], module.in_features
        reason = (
            f"Linear(in_features={want}) needs {want} values in the last dimension, but got {have}."
        )
        source = _flattened(rows[-1], have) if rows else ""
        fix = (
            f"build the layer as nn.Linear({have}, {module.out_features}), or change the layers before it"
            f"{source} so they give {want} features."
        )
        return reason, fix
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d) and x.dim() >= 2:
        if x.shape[1] != module.num_features:
            have, want = x.shape[1], module.num_features
            return (
                f"{type(module).__name__}(num_features={want}) normalises {want} channels (dimension 1), "
                f"but the input has {have}.",
                f"build it as nn.{type(module).__name__}({have}), the out_channels of the layer before it.",
            )
        return None
    if isinstance(module, N_D_WINDOW_LAYERS):
        return _explain_n_d(module, x)
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d) and x.dim() in (3, 4):
        dilation = module.dilation if isinstance(module, nn.MaxPool2d) else 1
        try:
            pool2d_shape(
                x, type(module).__name__, module.kernel_size, module.stride, module.padding, dilation,
                module.ceil_mode, x_name=None,
            )  # fmt: skip
        except ConvlabError as explained:
            return explained.problem, explained.fix or "see above."
    return None


N_D_WINDOW_LAYERS = (nn.Conv1d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool3d)
_LAYOUTS = {1: "(batch, channels, length) or (channels, length)",
            3: "(batch, channels, depth, height, width) or (channels, depth, height, width)"}  # fmt: skip


def _explain_n_d(module, x):
    """(reason, fix) for a Conv1d/Conv3d or 1-D/3-D pooling that failed, else None."""
    kind = type(module).__name__
    n = 1 if kind.endswith("1d") else 3
    if x.dim() not in (n + 1, n + 2):
        return (
            f"{kind} takes {_LAYOUTS[n]}, but the input is {x.dim()}-D.",
            f"give it a {n + 2}-D batch; a {kind} slides over {n} dimension{'s' * (n > 1)} "
            f"after the channels.",
        )
    channels, size = x.shape[-n - 1], tuple(x.shape[-n:])
    if isinstance(module, nn.Conv1d | nn.Conv3d) and channels != module.in_channels:
        return (
            f"{kind}(in_channels={module.in_channels}) expects {plural(module.in_channels, 'channel')} "
            f"(dimension {x.dim() - n - 1}), but the input has {channels}.",
            f"build it as nn.{kind}({channels}, {module.out_channels}, ...), or give it an input with "
            f"{plural(module.in_channels, 'channel')}.",
        )
    try:
        if isinstance(module, nn.Conv1d | nn.Conv3d):
            conv_output_size(size, module.kernel_size, module.stride, module.padding, module.dilation)
        else:
            is_max = isinstance(module, nn.MaxPool1d | nn.MaxPool3d)
            pool_output_size(
                size, module.kernel_size, module.stride, module.padding, module.dilation if is_max else 1,
                module.ceil_mode, kind="max" if is_max else "avg",
            )  # fmt: skip
    except ConvlabError as explained:
        return explained.problem, explained.fix or "see above."
    return None


def _flattened(before: SummaryRow, features: int) -> str:
    """' (layer 7, '6' (Flatten), turns (64, 64, 8, 8) into (64, 4096): 64 × 8 × 8 = 4096)', or ''."""
    shape_in, shape_out = before.input_shape, before.output_shape
    if before.type != "Flatten" or shape_in is None or shape_out is None:
        return ""
    kept = len(shape_out) - 1
    if shape_in[:kept] != shape_out[:kept] or math.prod(shape_in[kept:]) != features:
        return ""
    product = " × ".join(str(v) for v in shape_in[kept:])
    return (
        f" (layer {before.index}, {before.name!r} (Flatten), turns {shape_in} into {shape_out}: "
        f"{product} = {features})"
    )


def _ran(rows) -> str:
    if not rows:
        return "No layer ran before it."
    names = [row.name or "(the model)" for row in rows]
    name_width = max(len(n) for n in names)
    type_width = max(len(row.type) for row in rows)
    lines = ["Layers that ran, with their output shapes:"]
    for row, name in zip(rows, names):
        lines.append(
            f"  {row.index:>4}  {name:<{name_width}}  {row.type:<{type_width}}  "
            f"{'--' if row.output_shape is None else row.output_shape}"
        )
    return "\n".join(lines)


# --- the table ----------------------------------------------------------------------------------


def _table(s: Summary) -> str:
    cells = [
        [
            str(row.index),
            row.name or "(the model)",
            row.type,
            _shape(row.output_shape),
            "(shared)" if row.params_shared else _count(row.params),
            "?" if row.mult_adds is None else _count(row.mult_adds),
            _sizes(row.receptive_field),
            _sizes(row.jump),
        ]
        for row in s.rows
    ]
    widths = [max([len(title)] + [len(line[i]) for line in cells]) for i, title in enumerate(COLUMNS)]

    def line(values) -> str:
        parts = [
            value.rjust(width) if title in RIGHT_ALIGNED else value.ljust(width)
            for value, width, title in zip(values, widths, COLUMNS)
        ]
        return "  ".join(parts).rstrip()

    rule_width = len("  ".join(" " * w for w in widths))
    heavy, light = "=" * rule_width, "-" * rule_width
    dtype = str(s.dtype).removeprefix("torch.")
    out = [f"{s.model_type} on input {s.input_shape} ({dtype})", heavy, line(COLUMNS), light]
    out += [line(values) for values in cells]
    out.append(heavy)
    out.append(f"Total params: {s.total_params:,}")
    out.append(f"Trainable params: {s.trainable_params:,}")
    out.append(f"Non-trainable params: {s.non_trainable_params:,}")
    out.append(f"Total mult-adds: {s.total_mult_adds:,}{_short(s.total_mult_adds)}")
    out.append(f"Input size: {s.input_size:,} values, {s.input_bytes / 1e6:.2f} MB")
    out.append(f"Params size: {s.params_bytes / 1e6:.2f} MB")
    unknown = sorted({row.type for row in s.rows if row.mult_adds is None})
    if unknown:
        out.append(f"Mult-adds marked ? are not in the total (no formula for {', '.join(unknown)}).")
    in_rows = sum(row.params for row in s.rows)
    if in_rows != s.total_params:
        out.append(
            f"{s.total_params - in_rows:,} params are in no row: their modules did not run in this forward pass."
        )
    out.append(heavy)
    return "\n".join(out)


def _count(n: int) -> str:
    return "--" if n == 0 else f"{n:,}"


def _short(n: int) -> str:
    for size, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f" ({n / size:.2f} {unit})"
    return ""


def _sizes(sizes) -> str:
    """'5' for (5,), '3×5' for (3, 5), '2×3×5' for (2, 3, 5); '--' for None."""
    return "--" if sizes is None else "×".join(str(v) for v in sizes)


def _shape(shape) -> str:
    return "--" if shape is None else "[" + ", ".join(str(v) for v in shape) + "]"
