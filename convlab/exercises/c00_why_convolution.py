"""Checks for chapter 00's exercises (solutions/00_why_convolution.ipynb): the parameters of a fully
connected, a locally connected and a convolution layer on the same image, where a shift and a padded
convolution stop commuting, which shifts survive a stack of strided layers, one step of gradient
descent on a kernel, and a convolution's weight gradient written as a correlation.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: layers and tensors on the 'meta' device for counts, the convolutions themselves on random
tensors for equivariance and shifts, torch.optim.SGD for a step, autograd for gradients. Random cases
come from private generators, so checking never moves the global RNG.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
    as_tensor,
    call,
    expect_close,
    generator,
    question,
    same,
    short,
    sweep,
    value_of,
)

# --- 00.q1: three layers, one image -----------------------------------------------------------------


def _three_counts(c_in, h, w, c_out, k) -> tuple:
    """(fully connected, locally connected, convolution) parameters, counted by torch on the meta device."""
    out_h, out_w = h - k + 1, w - k + 1
    linear = nn.Linear(c_in * h * w, c_out * out_h * out_w, device="meta")
    conv = nn.Conv2d(c_in, c_out, k, device="meta")
    local = (torch.empty(c_out, out_h, out_w, c_in, k, k, device="meta"),  # a kernel per output value
             torch.empty(c_out, out_h, out_w, device="meta"))                # a bias per output value
    return (sum(p.numel() for p in linear.parameters()), sum(t.numel() for t in local),
            sum(p.numel() for p in conv.parameters()))


Q1_LAYER = (3, 32, 32, 16, 5)  # c_in, h, w, c_out, k: a CIFAR-sized image, 16 maps, 5×5 kernels, no padding


@question("00.q1", points=2, title="Three layers, one image",
          names=("fully_connected", "locally_connected", "convolution"))
def q1(fully_connected, locally_connected, convolution):
    c_in, h, w, c_out, k = Q1_LAYER
    want = _three_counts(*Q1_LAYER)
    same_size = _same_size_counts(*Q1_LAYER)
    out_values = c_out * (h - k + 1) * (w - k + 1)
    names = ("fully_connected", "locally_connected", "convolution")
    got = [as_int(v, name) for v, name in zip((fully_connected, locally_connected, convolution), names)]
    for name, g, v, s in zip(names, got, want, same_size):
        if g == v:
            continue
        if g == s:
            raise Wrong(f"{name} counts outputs of {h}×{w}, but without padding a {k}×{k} kernel gives "
                        "smaller maps.")
        if name == "fully_connected" and g == v - out_values:
            raise Wrong("fully_connected counts the weights only: the layer has a bias for every output value.")
        if name == "locally_connected" and g in (v - out_values, v - out_values + c_out):
            raise Wrong("locally_connected has the wrong number of biases: every output value has its own.")
        if name == "convolution" and g in (v - c_out, v - c_out + out_values):
            raise Wrong("convolution has the wrong number of biases: nn.Conv2d has one per output channel.")
        raise Wrong(f"{name} is wrong: count what each output value is connected to, whether positions share "
                    "those weights, and the biases.")


def _same_size_counts(c_in, h, w, c_out, k) -> tuple:
    """The counts a student gets by forgetting that the maps shrink (outputs of h × w)."""
    linear = c_in * h * w * c_out * h * w + c_out * h * w
    local = c_out * h * w * (c_in * k * k + 1)
    return linear, local, c_out * c_in * k * k + c_out


# --- 00.q2: where equivariance breaks ---------------------------------------------------------------


def _differ(h, w, k, shift, seed) -> torch.Tensor:
    """Where conv(roll(x)) and roll(conv(x)) differ for a zero-padded k × k conv, on two random inputs."""
    random_tensors = generator(seed)
    mask = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(2):
        x = torch.rand(1, 1, h, w, generator=random_tensors, dtype=torch.float64)
        signs = torch.where(torch.rand(1, 1, k, k, generator=random_tensors) < 0.5, -1.0, 1.0)
        kernel = (torch.rand(1, 1, k, k, generator=random_tensors, dtype=torch.float64) + 0.5) * signs
        of_shifted = F.conv2d(torch.roll(x, shift, dims=(2, 3)), kernel, padding=k // 2)
        shifted = torch.roll(F.conv2d(x, kernel, padding=k // 2), shift, dims=(2, 3))
        mask |= ((of_shifted - shifted).abs() > 1e-9)[0, 0]
    return mask


def _as_mask(got, shown, h, w) -> torch.Tensor:
    got = value_of(got)
    if isinstance(got, torch.Tensor):
        if got.is_complex() or got.is_floating_point() and not bool(((got == 0) | (got == 1)).all()):
            raise Wrong(f"{shown} should give True/False per position, got a tensor of {got.dtype}.")
        mask = got.to("cpu").bool()
    else:
        try:
            mask = torch.tensor(got, dtype=torch.int64)
        except (TypeError, ValueError, RuntimeError):
            raise Wrong(f"{shown} returned {short(got)}; it should return an h × w tensor of booleans.") from None
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise Wrong(f"{shown} should give True/False per position.")
        mask = mask.bool()
    if tuple(mask.shape) != (h, w):
        raise Wrong(f"{shown} gives shape {tuple(mask.shape)}; it should be the output's shape, ({h}, {w}).")
    return mask


def _draw_shift_case(draw):
    k = draw.choice([1, 3, 3, 5, 7])
    h, w = draw.randint(k, 24), draw.randint(k, 24)
    dy = 0 if draw.random() < 0.2 else draw.randrange(h)
    dx = 0 if draw.random() < 0.2 else draw.randrange(w)
    return h, w, k, (dy, dx)


@question("00.q2", points=3, title="Where equivariance breaks", names=("differs",))
def q2(differs):
    fixed = [(12, 12, 3, (3, 5)), (10, 14, 3, (0, 4)), (9, 9, 5, (2, 0)), (8, 8, 3, (0, 0)), (11, 7, 1, (4, 3)),
             (12, 16, 5, (1, 15)), (7, 9, 7, (6, 2))]
    for index, (h, w, k, shift) in enumerate(sweep(fixed, _draw_shift_case, 30, seed=2)):
        shown = f"differs({h}, {w}, {k}, {shift})"
        got = _as_mask(call(differs, h, w, k, shift, name="differs"), shown, h, w)
        want = _differ(h, w, k, shift, seed=200 + index)
        if torch.equal(got, want):
            continue
        extra, missed = (got & ~want).nonzero().tolist(), (want & ~got).nonzero().tolist()
        if missed:
            i, j = missed[0]
            p = k // 2
            if p <= i < h - p and p <= j < w - p:
                raise Wrong(f"{shown} misses position ({i}, {j}), where the two outputs differ. That window of the "
                            "rolled image stays clear of the padding: compare it, pixel by pixel, with the "
                            "window of x that the roll moved there.")
            raise Wrong(f"{shown} misses position ({i}, {j}), where the two outputs differ: look at which "
                        "pixels that window reads in each, padding zeros included.")
        i, j = extra[0]
        if shift[0] == 0 or shift[1] == 0:
            raise Wrong(f"{shown} marks position ({i}, {j}), where the two outputs agree: think about what a "
                        "shift of 0 along one dimension changes along it.")
        raise Wrong(f"{shown} marks position ({i}, {j}), where the two outputs agree: only windows that reach "
                    "the padding, in either image, can differ.")


# --- 00.q3: shifts through a stack of strided layers ---------------------------------------------------


def _stack(strides, kinds) -> nn.Sequential:
    layers = []
    for stride, kind in zip(strides, kinds):
        if kind == "conv":
            layers.append(nn.Conv2d(1, 1, 3, stride=stride, padding=1, padding_mode="circular",
                                    dtype=torch.float64))
        else:
            layers.append(nn.MaxPool2d(stride))
    return nn.Sequential(*layers)


def _output_shift(t, strides, width, seed) -> int | None:
    """The roll r of the stack's output that equals its output on the input rolled by t, found by trying.

    Two random inputs with at least 16 output values each, so that no roll matches by chance (max pooling
    can give equal values for a few windows of a wrong shift, never for all of them on both inputs).
    """
    random_tensors = generator(seed)
    kinds = ["conv" if torch.rand(1, generator=random_tensors).item() < 0.5 else "pool" for _ in strides]
    stack = _stack(strides, kinds)
    height = 4 * math.prod(strides)  # every layer keeps at least four rows
    found = set(range(width // math.prod(strides)))
    with torch.no_grad():
        for parameter in stack.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=random_tensors, dtype=torch.float64))
        for _ in range(2):
            x = torch.rand(1, 1, height, width, generator=random_tensors, dtype=torch.float64)
            out, of_shifted = stack(x), stack(torch.roll(x, t, dims=3))
            found &= {r for r in range(out.shape[3]) if torch.allclose(of_shifted, torch.roll(out, r, dims=3))}
    return min(found) if found else None


def _draw_stack(draw):
    strides = [draw.choice([1, 2, 2, 3]) for _ in range(draw.randint(1, 4))]
    total = math.prod(strides)
    if total > 24:
        return None
    width = total * draw.randint(4, max(4, 64 // total))
    t = draw.randrange(width) if draw.random() < 0.5 else total * draw.randrange(width // total)
    return t, strides, width


@question("00.q3", points=2, title="Shifts through strided layers", names=("output_shift",))
def q3(output_shift):
    fixed = [(2, [2], 16), (3, [2], 16), (0, [2, 2], 16), (2, [2, 2], 16), (4, [1, 2, 2], 16), (6, [3, 2], 24),
             (9, [3, 1], 18), (5, [1], 8)]
    for index, (t, strides, width) in enumerate(sweep(fixed, _draw_stack, 30, seed=3)):
        shown = f"output_shift({t}, {strides}, {width})"
        got = value_of(call(output_shift, t, list(strides), width, name="output_shift"))
        if got is not None:
            got = as_int(got, shown)
        want = _output_shift(t, strides, width, seed=300 + index)
        if got == want:
            continue
        if want is None:
            raise Wrong(f"{shown} returned {got}, but no roll of the output equals the output of the shifted "
                        "input there (return None): follow the shift through the layers one at a time.")
        if got is None:
            raise Wrong(f"{shown} returned None, but the output of the shifted input is a roll of the output.")
        raise Wrong(f"{shown} returned {got}: the output of the shifted input is a roll of the output, but by "
                    "a different amount (give it between 0 and the output's width − 1).")


# --- 00.q4: one step of gradient descent ----------------------------------------------------------------


def _step(x, target, w, lr) -> tuple:
    """(the kernel after one torch.optim.SGD step on the mean squared error, the gradient it used)."""
    kernel = w.clone()[None, None].requires_grad_()
    optimizer = torch.optim.SGD([kernel], lr=lr)
    loss = ((F.conv2d(x[None, None], kernel)[0, 0] - target) ** 2).mean()
    loss.backward()
    grad = kernel.grad[0, 0].clone()
    optimizer.step()
    return kernel.detach()[0, 0], grad


def _step_case(random_tensors, h, w, k, lr):
    x = torch.randn(h, w, generator=random_tensors, dtype=torch.float64)
    target = torch.randn(h - k + 1, w - k + 1, generator=random_tensors, dtype=torch.float64)
    kernel = torch.randn(k, k, generator=random_tensors, dtype=torch.float64)
    return x, target, kernel, lr


@question("00.q4", points=2, title="One step of gradient descent", names=("sgd_step",))
def q4(sgd_step):
    random_tensors = generator(4)
    sizes = [(8, 8, 3, 0.1), (12, 9, 3, 0.05), (10, 10, 5, 0.01), (6, 11, 2, 0.2), (7, 7, 1, 0.3)]
    for h, w, k, lr in sizes:
        x, target, kernel, lr = _step_case(random_tensors, h, w, k, lr)
        shown = f"sgd_step on a {h}×{w} image with a {k}×{k} kernel and lr={lr}"
        got = as_tensor(call(sgd_step, x, target, kernel, lr, name="sgd_step"), shown)
        want, grad = _step(x, target, kernel, lr)
        if tuple(got.shape) == (k, k) and same(got, want):
            continue
        n = target.numel()
        if tuple(got.shape) == (k, k):
            for wrong, reason in [
                (kernel + lr * grad, "moves the kernel uphill: step against the gradient"),
                (grad, "returns the gradient, not the kernel after the step"),
                (kernel - lr * grad * n, "takes a step as large as for the sum of the squared errors; the loss "
                                         "is their mean"),
                (kernel - lr * grad / 2, "forgets the 2 in the derivative of a square"),
                (kernel, "does not change the kernel"),
            ]:
                if same(got, wrong):
                    raise Wrong(f"{shown} {reason}.")
        expect_close(got, want, shown)


# --- 00.q5: the weight gradient as a correlation -----------------------------------------------------------

Q5_CASES = [  # (h, w, k, stride, padding)
    (8, 8, 3, 1, 0), (9, 12, 3, 1, 2), (10, 7, 2, 1, 0), (11, 11, 3, 2, 0), (12, 10, 3, 2, 1), (13, 14, 4, 3, 1),
]


@question("00.q5", points=4, title="The weight gradient as a correlation", names=("weight_grad",), partial=True)
def q5(weight_grad):
    """Credit per case: the stride-1 cases follow the chapter; the strided ones need the idea extended."""
    random_tensors = generator(5)
    cases = []
    for h, w, k, s, p in Q5_CASES:
        x = torch.randn(h, w, generator=random_tensors, dtype=torch.float64)
        out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        g = torch.randn(out_h, out_w, generator=random_tensors, dtype=torch.float64)
        label = f"a {h}×{w} input, a {k}×{k} kernel, stride {s}, padding {p}"
        cases.append((label, lambda x=x, g=g, k=k, s=s, p=p: _one_weight_grad(weight_grad, x, g, k, s, p)))
    return cases


def _autograd_weight_grad(x, g, k, s, p) -> torch.Tensor:
    kernel = torch.zeros(1, 1, k, k, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x[None, None], kernel, stride=s, padding=p)
    (grad,) = torch.autograd.grad(y, kernel, grad_outputs=g[None, None])
    return grad[0, 0]


def _one_weight_grad(weight_grad, x, g, k, s, p) -> None:
    want = _autograd_weight_grad(x, g, k, s, p)
    got = as_tensor(call(weight_grad, x, g, k, stride=s, padding=p, name="weight_grad"), "weight_grad")
    if tuple(got.shape) != (k, k):
        raise Wrong(f"weight_grad gives shape {tuple(got.shape)}; the gradient has the kernel's shape, ({k}, {k}).")
    if same(got, want):
        return
    if same(got, want.flip(0, 1)):
        raise Wrong("weight_grad gives the gradient turned by 180°: correlate, do not flip")
    if s > 1:
        undilated = F.conv2d(x[None, None], g[None, None], padding=p)[0, 0]
        if undilated.shape[0] >= k and undilated.shape[1] >= k and same(got, undilated[:k, :k]):
            raise Wrong(f"weight_grad slides g over x one pixel at a time, but with stride {s} neighbouring "
                        f"output pixels read input pixels {s} apart")
    raise Wrong("weight_grad gives the right shape but wrong values")
