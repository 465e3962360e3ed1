"""Checks for chapter 08's exercises (solutions/08_cnn.ipynb): shapes through a small network, the
parameter count of the CIFAR network's design for any widths and image size, a model whose first Linear has
the wrong in_features, a module that accepts any image size, and the feature count after a stack of
layers computed without running it.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: layers on the 'meta' device for counts, layers run on zeros for shapes, the task's
architecture loaded with the student's weights for a model. Random cases come from private
generators, so checking never moves the global RNG.
"""

import torch
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
    as_shape,
    built,
    call,
    expect_finite,
    expect_module,
    expect_module_class,
    generator,
    judge_model,
    question,
    short,
    sweep,
    value_of,
)


def _q1_layers() -> list:
    return [
        nn.Conv2d(1, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 3 * 3, 10),
    ]


@question("08.q1", points=2, title="Shapes after each layer", names=("shapes",))
def q1(shapes):
    layers = built(_q1_layers)
    x = torch.zeros(8, 1, 28, 28)
    want = []
    with torch.no_grad():
        for layer in layers:
            x = layer(x)
            want.append(tuple(x.shape))
    given = value_of(shapes)
    if not isinstance(given, (list, tuple)):
        raise Wrong(f"shapes should be a list of shapes (tuples), one per layer, got {short(given)}.")
    got = [as_shape(shape, f"shapes[{n}]") for n, shape in enumerate(given)]
    if len(got) == len(want) + 1:
        raise Wrong(f"shapes has {len(got)} entries; give one per layer, after the layer (not the input's shape).")
    if len(got) != len(want):
        raise Wrong(f"shapes has {len(got)} entries, but the model has {len(want)} layers: one shape after each.")
    for n, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise Wrong(f"shapes[{n}], the shape after layer {n} ({layers[n]}), is wrong: got {g}.")


# --- 08.q2: the CIFAR network's design, any widths and image size ------------------------------------


def _cifar_convs(channels, device=None) -> list:
    c1, c2, c3 = channels
    return [nn.Conv2d(3, c1, 5, 1, 2, device=device), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, 1, 2, device=device), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 5, 1, 2, device=device), nn.MaxPool2d(2), nn.Flatten()]


def _cifar(channels=(32, 32, 64), size: int = 32, linear_in=None, device=None) -> nn.Sequential:
    """The CIFAR-10 network of chapter 08 with other widths; by default the first Linear takes what Flatten gives."""
    if linear_in is None:  # what Flatten gives, by torch on the meta device
        meta = nn.Sequential(*_cifar_convs(channels, device="meta"))
        linear_in = meta(torch.empty(1, 3, size, size, device="meta")).shape[1]
    return nn.Sequential(*_cifar_convs(channels, device), nn.Linear(linear_in, 64, device=device),
                         nn.Linear(64, 10, device=device))


def _count(model: nn.Module, *, biases: bool = True) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if biases or not name.endswith("bias"))


def _params(channels, size, linear_in=None, biases=True) -> int:
    """the CIFAR network's design counted by torch (on the meta device: shapes without numbers)."""
    return _count(_cifar(channels, size, linear_in, device="meta"), biases=biases)


def _draw_cifar(draw):
    return (draw.randint(1, 128), draw.randint(1, 128), draw.randint(1, 256)), draw.randint(8, 100)


@question("08.q2", points=2, title="Count the CIFAR network's parameters", names=("cifar_params",))
def q2(cifar_params):
    fixed = [((32, 32, 64), 32), ((32, 32, 128), 32), ((16, 32, 64), 64), ((8, 8, 8), 8), ((3, 5, 7), 20),
             ((1, 1, 1), 15), ((64, 128, 256), 96), ((6, 16, 120), 28), ((32, 32, 64), 47)]
    for channels, size in sweep(fixed, _draw_cifar, 28, seed=802):
        shown = f"cifar_params({channels}, {size})"
        got = as_int(call(cifar_params, channels, size, name="cifar_params"), shown)
        want = _params(channels, size)
        if got == want:
            continue
        c3, pooled = channels[2], size // 2 // 2 // 2
        if got == _params(channels, size, biases=False):
            raise Wrong(f"{shown} counts the weights only: every Conv2d and Linear here has a bias too.")
        if got == _params(channels, size, linear_in=1024) and c3 * pooled * pooled != 1024:
            raise Wrong(f"{shown} keeps Linear(1024, 64), but the first Linear takes what Flatten gives, which "
                        "changes with the third convolution's channels and with the image size.")
        if got in (_params(channels, size, linear_in=c3 * size * size),
                   _params(channels, size, linear_in=c3 * (size // 2 // 2) ** 2)):
            raise Wrong(f"{shown} is wrong in the first Linear's in_features: each of the three MaxPool2d(2) "
                        "halves the height and width.")
        if got == _params(channels, size, linear_in=c3 * (-(-size // 8)) ** 2):
            raise Wrong(f"{shown} rounds the pooled size up; MaxPool2d(2) drops a last row or column that does "
                        "not fill a window (it rounds down).")
        if got == _params(channels, size, linear_in=c3 * 16):
            raise Wrong(f"{shown} keeps 4×4 maps after the last pooling, but those are for 32×32 images: "
                        "the image size changes them.")
        raise Wrong(f"{shown} returned {got}, which is not that network's parameter count: add up "
                    "in × out × k × k + out for each convolution and in × out + out for each Linear.")


# --- 08.q3: the first Linear's in_features --------------------------------------------------


def _q3_layers(linear_in: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, stride=2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(linear_in, 32), nn.ReLU(),
        nn.Linear(32, 10),
    )


def _q3_broken() -> nn.Sequential:
    return _q3_layers(64 * 4 * 4)


def _q3_features() -> int:
    """What the convolution part of the broken model gives a 3×32×32 image (torch, on the meta device)."""
    convs = nn.Sequential(*list(built(lambda: _q3_layers(1)))[:9]).to("meta")
    return convs(torch.empty(1, 3, 32, 32, device="meta")).shape[1]


@question("08.q3", points=2, title="Fix the Flatten size", names=("fixed_model",))
def q3(fixed_model):
    expect_module(fixed_model, "fixed_model")
    features = _q3_features()
    expected = built(lambda: _q3_layers(features))
    pairs = fixed_model.state_dict()
    expect_finite(pairs, "fixed_model")
    theirs = [t for n, t in pairs if not n.endswith("num_batches_tracked")]
    mine = [t for t in expected.state_dict().values()]
    linear_at = 6  # three convolutions' weights and biases come first
    if (len(theirs) == len(mine) and all(tuple(a.shape) == tuple(b.shape) for a, b in zip(theirs[:6], mine[:6]))
            and theirs[linear_at].ndim == 2 and theirs[linear_at].shape[1] != features):
        probe = torch.rand(1, 3, 32, 32, generator=generator(813))
        try:
            fixed_model.run(probe, no_grad=True, eval=True, copy=True, place=True)
        except Wrong:
            raise Wrong(f"the first Linear expects {theirs[linear_at].shape[1]} features, but the convolution "
                        "part makes a different number from a 3×32×32 image: follow the sizes through each "
                        "layer.") from None
        raise Wrong("fixed_model runs, but not with the convolution part of the broken model: keep every Conv2d, "
                    "ReLU and MaxPool2d up to the Flatten with the same arguments; only the classifier needs a "
                    "change.")
    random_tensors = generator(803)
    probes = [torch.rand(4, 3, 32, 32, generator=random_tensors), torch.randn(1, 3, 32, 32, generator=random_tensors)]
    judge_model(fixed_model, expected, probes, "fixed_model")


# --- 08.q4: a module for any image size -----------------------------------------------------


def _any_size_reference(pool) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        pool(1), nn.Flatten(), nn.Linear(16, 10),
    )


class _InShapeOrder:
    """An Answer whose state_dict is put in the reference's order when every reference tensor has its own
    shape (a module's tensors come in the order its __init__ created the layers, which the task leaves free)."""

    def __init__(self, answer, reference: nn.Module):
        self.answer, self.label = answer, answer.label
        self.shapes = [tuple(t.shape) for t in reference.state_dict().values()]

    def describe(self):
        return self.answer.describe()

    def run(self, *args, **kwargs):
        return self.answer.run(*args, **kwargs)

    def state_dict(self) -> list:
        pairs = self.answer.state_dict()
        kept = [(n, t) for n, t in pairs if not n.endswith("num_batches_tracked")]
        theirs = sorted(tuple(t.shape) for _, t in kept)
        if len(set(self.shapes)) != len(self.shapes) or theirs != sorted(self.shapes):
            return pairs
        by_shape = {tuple(t.shape): (n, t) for n, t in kept}
        return [by_shape[shape] for shape in self.shapes]


def _draw_size(draw):
    return draw.randint(1, 3), draw.randint(2, 70), draw.randint(2, 70)


@question("08.q4", points=3, title="A network for any image size", names=("AnySizeNet",))
def q4(AnySizeNet):  # noqa: N803 - the student's class
    expect_module_class(AnySizeNet, "AnySizeNet")
    model = AnySizeNet.new(shown="AnySizeNet()")
    expect_finite(model.state_dict(), "AnySizeNet()")
    random_tensors = generator(804)
    sizes = sweep([(3, 8, 8), (2, 28, 28), (1, 13, 9), (2, 64, 48), (1, 2, 3), (1, 3, 2)], _draw_size, 9, seed=804)
    probes = [torch.rand(n, 1, h, w, generator=random_tensors) for n, h, w in sizes]
    first = None
    # "a layer that reduces each map to a single number": the average or the maximum
    for pool in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        reference = built(lambda pool=pool: _any_size_reference(pool))
        try:
            judge_model(_InShapeOrder(model, reference), reference, probes, "AnySizeNet()")
            return
        except Wrong as problem:
            first = first or problem
    raise first


# --- 08.q5: the feature count from the layers' settings -------------------------------------


def _describe(layers) -> str:
    return "[" + ", ".join(str(layer) for layer in layers) + "]"


def _random_layer(draw, channels: int):
    kind = draw.choice(["conv", "conv", "max", "max", "avg", "relu"])
    if kind == "conv":
        k = draw.randint(1, 5) if draw.random() < 0.7 else (draw.randint(1, 5), draw.randint(1, 5))
        out = draw.randint(1, 4)
        layer = nn.Conv2d(channels, out, k, stride=draw.randint(1, 3), padding=draw.randint(0, 2),
                          dilation=draw.choice([1, 1, 2]))
        return layer, out
    if kind in ("max", "avg"):
        k = draw.randint(2, 4)
        stride = draw.choice([None, 1, 2, 3])
        padding = draw.randint(0, k // 2)
        ceil_mode = draw.random() < 0.5
        if kind == "max":
            return nn.MaxPool2d(k, stride, padding, dilation=draw.choice([1, 1, 2]), ceil_mode=ceil_mode), channels
        return nn.AvgPool2d(k, stride, padding, ceil_mode=ceil_mode), channels
    return nn.ReLU(), channels


def _features(layers, shape):
    """What nn.Flatten gives after the layers for one zero image of the given shape (torch itself)."""
    with torch.no_grad():
        return nn.Sequential(*layers).eval()(torch.zeros(1, *shape)).numel()


def _draw_stack(draw):
    channels = draw.randint(1, 3)
    shape = (channels, draw.randint(6, 32), draw.randint(6, 32))
    layers = []
    for _ in range(draw.randint(2, 5)):
        layer, channels = _random_layer(draw, channels)
        layers.append(layer)
    if draw.random() < 0.5:
        layers.append(nn.Flatten())
    try:
        return layers, shape, _features(layers, shape)
    except RuntimeError:
        return None  # the stack shrinks the image to nothing, or a pooling's padding is too large


def _flat_cases() -> list:
    """(layers, in_shape, features): fixed stacks, then random ones that torch accepts."""
    fixed = [
        ([nn.Conv2d(3, 6, 3)], (3, 32, 32)),
        ([nn.MaxPool2d(3)], (6, 30, 30)),
        ([nn.MaxPool2d(2, 2, 1, ceil_mode=True)], (1, 5, 5)),
        ([nn.MaxPool2d(3, 2, ceil_mode=True)], (2, 6, 6)),
        ([nn.AvgPool2d(3, 2, 1, ceil_mode=True)], (1, 9, 8)),
        ([nn.Conv2d(2, 4, (3, 5), stride=(2, 1), padding=(1, 2))], (2, 11, 10)),
        ([nn.Conv2d(1, 3, 3, dilation=2)], (1, 12, 9)),
        ([nn.MaxPool2d(2, dilation=2)], (1, 9, 9)),
        ([nn.MaxPool2d((2, 3), stride=(1, 2), padding=(1, 0))], (3, 7, 7)),
        ([nn.ReLU(), nn.BatchNorm2d(4), nn.Flatten()], (4, 5, 6)),
        (list(_cifar())[:7], (3, 32, 32)),
        (list(_q3_broken())[:9], (3, 32, 32)),
        (_q1_layers()[:7], (1, 28, 28)),
    ]
    cases = [(layers, shape, _features(layers, shape)) for layers, shape in fixed]
    return sweep(cases, _draw_stack, len(fixed) + 20, seed=805)


@question("08.q5", points=4, title="Count the features without running the layers", names=("flat_features",))
def q5(flat_features):
    cases = built(_flat_cases)
    for layers, shape, want in cases:
        shown = f"flat_features({_describe(layers)}, {shape})"
        got = as_int(call(flat_features, list(layers), shape, name="flat_features"), shown)
        if got != want:
            raise Wrong(f"{shown} returned {got}; flattening the output of those layers gives a different "
                        "number.")
