"""The helpers in convlab.exercises.core that every chapter's checks share, and the wire format."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from convlab.exercises import wire
from convlab.exercises.answers import Answer, LocalChannel
from convlab.exercises.core import Wrong, as_int, as_tensor, expect_shape, judge_model, rng, same, set_salt, sweep


def test_as_tensor_accepts_tensor_likes_and_refuses_the_rest():
    assert torch.equal(as_tensor([[1, 2]], "f"), torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    with pytest.raises(Wrong, match="f gave 'nope'; it should give a tensor"):
        as_tensor("nope", "f")


def test_expect_shape_names_what_ran_and_what_it_gave():
    expect_shape(torch.zeros(2, 10), (2, 10), "the model")
    with pytest.raises(Wrong, match=r"for 2 images the model gives \(2, 5\); it should give \(2, 10\)"):
        expect_shape(torch.zeros(2, 5), (2, 10), "for 2 images the model")
    with pytest.raises(Wrong, match=r"the model gives \[1, 2\]; it should give \(2, 10\)"):
        expect_shape([1, 2], (2, 10), "the model")


def test_as_int_takes_exact_ints_only():
    assert as_int(3, "n") == 3 and as_int(3.0, "n") == 3 and as_int(torch.tensor(3), "n") == 3
    for bad in (True, 3.5, "3", [3], torch.tensor([3])):
        with pytest.raises(Wrong):
            as_int(bad, "n")


def test_the_tolerance_policy_is_relative_to_the_scale():
    want = torch.tensor([1000.0, 1.0], dtype=torch.float64)
    assert same(want.float() + torch.tensor([1e-3, 0.0]), want)
    assert not same(want + torch.tensor([1.0, 0.0]), want)
    assert not same(want[:1], want)


def test_sweep_keeps_the_fixed_cases_then_draws_and_the_salt_changes_the_draws():
    draw = lambda r: r.randint(0, 10**6)  # noqa: E731
    first = sweep([1, 2], draw, 6, seed=5)
    assert first[:2] == [1, 2] and len(first) == 6 and sweep([1, 2], draw, 6, seed=5) == first
    set_salt(123)
    try:
        assert sweep([1, 2], draw, 6, seed=5) != first
    finally:
        set_salt(0)
    assert rng(5).random() == rng(5).random()


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=12)


@given(plain)
def test_plain_data_survives_the_wire_with_exact_types(value):
    back = wire.loads(wire.dumps(value))
    assert back == value and type(back) is type(value)


@given(st.sampled_from(sorted(wire.DTYPES)), st.lists(st.integers(0, 3), max_size=3))
def test_tensors_cross_as_fresh_copies(dtype, shape):
    tensor = (torch.rand(shape) * 10).to(wire.DTYPES[dtype])
    back = wire.loads(wire.dumps(tensor))
    assert back.dtype == tensor.dtype and tuple(back.shape) == tuple(shape) and torch.equal(back, tensor)
    assert back.data_ptr() != tensor.data_ptr() or tensor.numel() == 0


def test_special_floats_and_subclasses_come_back_as_builtins():
    class Sneaky(int):
        def __eq__(self, other):
            return True

    back = wire.loads(wire.dumps([Sneaky(4), float("nan"), torch.Size([2, 3])]))
    assert type(back[0]) is int and back[0] == 4 and back[0] != 5
    assert math.isnan(back[1]) and back[2] == (2, 3) and type(back[2]) is tuple


@pytest.mark.parametrize("text", [
    '{"$tensor": {"dtype": "float32", "shape": [4], "data": "AAAA"}}',   # 3 bytes for 16
    '{"$tensor": {"dtype": "object", "shape": [1], "data": ""}}',
    '{"$pickle": "gASVAAAAAAAAAAA="}',
    '{"a": 1, "b": 2}',
    "NaN",
    "[" * 100 + "]" * 100,
])
def test_malformed_wire_data_is_refused(text):
    with pytest.raises(wire.WireError):
        wire.loads(text)


def test_a_model_is_judged_by_what_it_computes_with_its_own_weights():
    def task():
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))

    probes = [torch.rand(2, 1, 6, 6)]
    good = task()
    judge_model(Answer(LocalChannel({"m": good}), "m"), task(), probes, "m")

    class Liar(nn.Module):  # holds the right layers, computes something else
        def __init__(self):
            super().__init__()
            self.layers = task()

        def forward(self, x):
            return torch.zeros(x.shape[0], 3)

    with pytest.raises(Wrong, match="computes something else"):
        judge_model(Answer(LocalChannel({"m": Liar()}), "m"), task(), probes, "m")
    missing_relu = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    missing_relu.load_state_dict(good.state_dict(), strict=False)
    with torch.no_grad():
        missing_relu[0].bias.fill_(-0.5)
    with pytest.raises(Wrong, match="computes something else"):
        judge_model(Answer(LocalChannel({"m": missing_relu}), "m"), task(), probes, "m")
    with pytest.raises(Wrong, match="shape"):
        judge_model(Answer(LocalChannel({"m": nn.Sequential(nn.Conv2d(1, 3, 3))}), "m"), nn.Sequential(
            nn.Conv2d(1, 2, 3)), probes, "m")


def test_a_known_mistake_gets_its_own_reason():
    def task(act=None):
        return nn.Sequential(nn.Conv2d(1, 2, 3), act or nn.ReLU(), nn.Conv2d(2, 1, 3))

    wrong = task(nn.Tanh())
    mistakes = [(lambda: task(nn.Sigmoid()), "uses a sigmoid."), (lambda: task(nn.Tanh()), "uses tanh.")]
    with pytest.raises(Wrong, match=r"m on a batch of shape \(1, 1, 7, 7\) uses tanh\."):
        judge_model(Answer(LocalChannel({"m": wrong}), "m"), task(), [torch.randn(1, 1, 7, 7)], "m",
                    mistakes=mistakes)
    with pytest.raises(Wrong, match="m on a batch of shape .* nothing like it"):
        judge_model(Answer(LocalChannel({"m": task(nn.Softsign())}), "m"), task(), [torch.randn(1, 1, 7, 7)],
                    "m", mistakes=mistakes, otherwise="computes nothing like it.")
