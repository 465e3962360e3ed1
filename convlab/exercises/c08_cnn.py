"""Checks for chapter 08's exercises (solutions/08_cnn.ipynb): shapes through a small network, seed
003's parameter count, a model whose first Linear has the wrong in_features, a module that accepts
any image size, and the feature count after a stack of layers computed without running it.

Expected values come from torch itself (running the layers on zeros, counting parameters);
networks are built inside torch.random.fork_rng and random cases come from private generators, so
checking never moves the global RNG.
"""


import torch
from torch import nn

from convlab.exercises.core import Wrong, as_int, as_shape, call, copy_model, expect_shape, leaves, place, question, rng


def _built(make):
    """make() with the global RNG restored afterwards (building layers draws their initial weights)."""
    with torch.random.fork_rng(devices=[]):
        return make()


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
    layers = _built(_q1_layers)
    x = torch.zeros(8, 1, 28, 28)
    want = []
    with torch.no_grad():
        for layer in layers:
            x = layer(x)
            want.append(tuple(x.shape))
    if isinstance(shapes, (str, bytes)) or not hasattr(shapes, "__len__"):
        raise Wrong(f"shapes should be a list of shapes (tuples), one per layer, got {type(shapes).__name__}.")
    got = [as_shape(shape, f"shapes[{n}]") for n, shape in enumerate(shapes)]
    if len(got) == len(want) + 1:
        raise Wrong(f"shapes has {len(got)} entries; give one per layer, after the layer (not the input's shape).")
    if len(got) != len(want):
        raise Wrong(f"shapes has {len(got)} entries, but the model has {len(want)} layers: one shape after each.")
    for n, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise Wrong(f"shapes[{n}], the shape after layer {n} ({layers[n]}), is wrong: got {g}.")


def _seed003(third_channels: int = 64, linear_in=None) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, 1, 2), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 5, 1, 2), nn.MaxPool2d(2),
        nn.Conv2d(32, third_channels, 5, 1, 2), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(linear_in or third_channels * 4 * 4, 64), nn.Linear(64, 10),
    )


def _count(model: nn.Module, *, biases: bool = True) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if biases or not name.endswith("bias"))


@question("08.q2", points=2, title="Count seed 003's parameters", names=("n_params", "n_params_wide"))
def q2(n_params, n_params_wide):
    seed, wide = _built(_seed003), _built(lambda: _seed003(128))
    got = as_int(n_params, "n_params")
    if got != _count(seed):
        if got == _count(seed, biases=False):
            raise Wrong("n_params counts the weights only: every Conv2d and Linear here has a bias too.")
        raise Wrong(f"n_params = {got} is not seed 003's parameter count: add up in × out × k × k + out for "
                    "each convolution and in × out + out for each Linear.")
    got = as_int(n_params_wide, "n_params_wide")
    if got != _count(wide):
        if got == _count(_built(lambda: _seed003(128, linear_in=1024))):
            raise Wrong("n_params_wide keeps Linear(1024, 64), but the flattened features change too when the "
                        "third convolution makes 128 channels.")
        if got == _count(wide, biases=False):
            raise Wrong("n_params_wide counts the weights only: every Conv2d and Linear here has a bias too.")
        raise Wrong(f"n_params_wide = {got} is not the wider network's parameter count.")


def _signature(module: nn.Module, *, linear_in: bool = True):
    if isinstance(module, nn.Conv2d):
        return ("Conv2d", module.in_channels, module.out_channels, module.kernel_size, module.stride,
                module.padding, module.dilation, module.groups, module.bias is not None)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return (type(module).__name__, module.kernel_size, module.stride, module.padding,
                getattr(module, "dilation", 1), module.ceil_mode)
    if isinstance(module, nn.Linear):
        return ("Linear", module.in_features if linear_in else None, module.out_features)
    return (type(module).__name__,)


def _q3_broken() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, stride=2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 32), nn.ReLU(),
        nn.Linear(32, 10),
    )


@question("08.q3", points=2, title="Fix the Flatten size", names=("fixed_model",))
def q3(fixed_model):
    if not isinstance(fixed_model, nn.Module):
        raise Wrong(f"fixed_model should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_model).__name__}.")
    broken = leaves(_built(_q3_broken))
    layers = leaves(fixed_model)
    flatten = next((n for n, m in enumerate(broken) if isinstance(m, nn.Flatten)), None)
    if [_signature(m) for m in layers[:flatten + 1]] != [_signature(m) for m in broken[:flatten + 1]]:
        raise Wrong("keep the convolution part of the broken model as it is (every Conv2d, ReLU and MaxPool2d "
                    "up to the Flatten, with the same arguments); only the classifier needs a change.")
    if [_signature(m, linear_in=False) for m in layers] != [_signature(m, linear_in=False) for m in broken]:
        raise Wrong("keep the classifier's layers (Linear → ReLU → Linear, with 32 and then 10 outputs); only "
                    "one number in it is wrong.")
    with torch.no_grad():
        features = nn.Sequential(*broken[:flatten + 1])(torch.zeros(1, 3, 32, 32)).shape[1]
    first = next(m for m in layers if isinstance(m, nn.Linear))
    if first.in_features != features:
        raise Wrong(f"the first Linear expects {first.in_features} features, but the convolution part makes a "
                    "different number from a 3×32×32 image: follow the sizes through each layer.")
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(803)).to(**place(fixed_model))
    with torch.no_grad():
        out = call(copy_model(fixed_model), x, name="fixed_model")
    expect_shape(out, (4, 10), "for a batch of 4 images of 3×32×32 the model")


def _any_size_reference() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


@question("08.q4", points=3, title="A network for any image size", names=("AnySizeNet",))
def q4(AnySizeNet):  # noqa: N803 - the student's class
    if not (isinstance(AnySizeNet, type) and issubclass(AnySizeNet, nn.Module)):
        raise Wrong(f"AnySizeNet should be a class that subclasses nn.Module, got {type(AnySizeNet).__name__}.")
    if AnySizeNet.forward is nn.Module.forward:
        raise Wrong("AnySizeNet has no forward method: define forward(self, x), which computes the scores.")
    with torch.random.fork_rng(devices=[]):
        model = call(AnySizeNet, name="AnySizeNet")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] != [
            (1, 8, (3, 3), (1, 1)), (8, 16, (3, 3), (1, 1))]:
        raise Wrong("AnySizeNet should have the two convolutions of the task: 1 → 8 and 8 → 16 channels, "
                    "3×3 kernels, padding 1.")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 1 or linears[0].out_features != 10:
        raise Wrong("AnySizeNet should end with one Linear layer giving 10 scores.")
    want = _count(_built(_any_size_reference))
    if _count(model) != want:
        raise Wrong(f"AnySizeNet has {_count(model)} parameters, which does not match the layers of the task.")
    model.eval()
    generator = torch.Generator().manual_seed(804)
    for n, h, w in [(3, 8, 8), (2, 28, 28), (1, 13, 9), (2, 64, 48), (1, 2, 3)]:
        x = torch.rand(n, 1, h, w, generator=generator).to(**place(model))
        with torch.no_grad():
            out = call(model, x, name=f"AnySizeNet()(a batch of {n} images of 1×{h}×{w})")
        expect_shape(out, (n, 10), f"for a batch of {n} images of 1×{h}×{w} AnySizeNet")


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
        (list(_seed003())[:7], (3, 32, 32)),
        (leaves(_q3_broken())[:9], (3, 32, 32)),
        (_q1_layers()[:7], (1, 28, 28)),
    ]
    cases = [(layers, shape, _features(layers, shape)) for layers, shape in fixed]
    draw = rng(805)
    while len(cases) < len(fixed) + 20:
        channels = draw.randint(1, 3)
        shape = (channels, draw.randint(6, 32), draw.randint(6, 32))
        layers = []
        for _ in range(draw.randint(2, 5)):
            layer, channels = _random_layer(draw, channels)
            layers.append(layer)
        if draw.random() < 0.5:
            layers.append(nn.Flatten())
        try:
            cases.append((layers, shape, _features(layers, shape)))
        except RuntimeError:
            continue  # the stack shrinks the image to nothing, or a pooling's padding is too large
    return cases


@question("08.q5", points=4, title="Count the features without running the layers", names=("flat_features",))
def q5(flat_features):
    cases = _built(_flat_cases)
    for layers, shape, want in cases:
        got = call(flat_features, list(layers), shape, name="flat_features")
        got = as_int(got, f"flat_features(..., {shape})")
        if got != want:
            raise Wrong(f"flat_features({_describe(layers)}, {shape}) returned {got}; flattening the output of "
                        "those layers gives a different number.")
