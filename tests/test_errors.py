"""The bad-input sweep: one row per way of misusing the library, each checked for the
exception type, a message that starts with (or names) the operation, and that nothing
changed — parameters, their gradients and versions, and the optimizers' state.

Each row has a ``prepare`` step (run before the snapshot: it may legitimately change
things, such as editing a weight after the forward) and the ``call`` that must fail.
docs/errors.md has the same cases as a table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from references import CubeSavingItsSlope

from tinygrad_edu import Function, Tensor, grad, nn, no_grad
from tinygrad_edu.autograd import GraphReleasedError
from tinygrad_edu.optim import SGD, Adam


@dataclass
class World:
    """What a failing call could damage: two parameters with gradients, a constant, a
    small model, and two optimizers that have already taken a step (so they have state)."""

    w: Tensor
    b: Tensor
    x: Tensor
    model: nn.Linear
    sgd: SGD
    adam: Adam
    scratch: dict[str, Any] = field(default_factory=dict)

    def tensors(self) -> list[Tensor]:
        return [self.w, self.b, self.x, self.model.weight, self.model.bias]


def _world() -> World:
    w = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="w")
    b = Tensor([0.5, -0.5], requires_grad=True, name="b")
    x = Tensor([[1.0, -1.0]], name="x")
    model = nn.Linear(2, 2, rng=0)
    sgd = SGD([w, b], lr=0.1, momentum=0.9)
    adam = Adam(model.parameters(), lr=0.01)
    ((x @ w + b).sigmoid().sum() + model(x).sum()).backward()
    sgd.step()
    adam.step()
    return World(w, b, x, model, sgd, adam)


def _snapshot(world: World) -> list[Any]:
    state = []
    for t in world.tensors():
        state.append(
            (t.data.copy(), None if t.grad is None else t.grad.copy(), getattr(t, "version", 0))
        )
    state.append(copy.deepcopy(world.sgd.momentum_buffers))
    adam = world.adam
    state.append((list(adam.steps), copy.deepcopy(adam.first_moments), adam.second_moments[0]))
    return state


def _assert_same(before: list[Any], after: list[Any]) -> None:
    for old, new in zip(before, after, strict=True):
        if isinstance(old, tuple):
            for a, b in zip(old, new, strict=True):
                np.testing.assert_equal(a, b)
        else:
            np.testing.assert_equal(old, new)


class SavesTwice(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_backward(x * 2)
        return x * 2


def _nothing(world: World) -> None:
    pass


def _forward_then(change: Callable[[World], None]) -> Callable[[World], None]:
    """Record a loss that saves w, then change w (through the library)."""

    def prepare(world: World) -> None:
        world.scratch["loss"] = (world.x @ world.w).sum()
        change(world)

    return prepare


def _add_ten_to_w_data(world: World) -> None:
    world.w.data += 10


def _sgd_step(world: World) -> None:
    world.sgd.step()


def _backward_released(world: World) -> None:
    loss = (world.x @ world.w).sum()
    loss.backward()
    world.scratch["loss"] = loss


def _in_place_minus(world: World) -> None:
    world.w -= 0.1 * world.w.grad


def _in_place_under_a_view(world: World) -> None:
    y = world.w * 2
    view = y.T  # noqa: F841 - a view in the graph, sharing y's memory
    y += 1


def _backward_after_in_place_on_a_saved_value(world: World) -> None:
    y = world.x @ world.w
    loss = (y * y).sum()  # saves y
    y += 1
    loss.backward()


def _in_place_new_shape(world: World) -> None:
    with no_grad():
        world.b += world.w


def _in_place_int(world: World) -> None:
    labels = Tensor([1, 2], dtype=np.int64)
    labels /= 2


def _in_place_released_after_no_grad(world: World) -> None:
    with no_grad():
        world.w += 1


STALE_W = (
    r"^MatMulBackward: its input 1 \(Tensor 'w', shape \(2, 2\)\) was saved for the "
    r"backward pass at version 1 but is now at version 2"
)


@dataclass
class Case:
    id: str
    call: Callable[[World], Any]
    error: type[Exception]
    match: str
    prepare: Callable[[World], None] = _nothing


CASES = [
    # in place and versions
    Case("in_place_on_a_parameter", _in_place_minus, RuntimeError,
         r"^-=: Tensor 'w' is a leaf that requires grad.*no_grad.*\.data.*optimizer"),
    Case("in_place_on_a_computed_tensor_with_a_view", _in_place_under_a_view, RuntimeError,
         r"^\+=: Tensor shares its memory with a view in the graph"),
    Case("backward_after_in_place_on_a_saved_computed_tensor",
         _backward_after_in_place_on_a_saved_value, RuntimeError,
         r"^MulBackward: its input 0 \(Tensor, shape \(1, 2\)\) was saved .* version 0 but "
         r"is now at version 1"),
    Case("in_place_changing_the_shape", _in_place_new_shape, ValueError,
         r"^\+=: the result has shape \(2, 2\) but Tensor 'b' has shape \(2,\)"),
    Case("in_place_changing_the_dtype", _in_place_int, TypeError,
         r"^/=: the result has dtype float64"),
    Case("backward_after_w_data_plus_10", lambda world: world.scratch["loss"].backward(),
         RuntimeError, STALE_W, _forward_then(_add_ten_to_w_data)),
    Case("backward_after_an_optimizer_step", lambda world: world.scratch["loss"].backward(),
         RuntimeError, STALE_W, _forward_then(_sgd_step)),
    Case("backward_after_in_place_under_no_grad",
         lambda world: world.scratch["loss"].backward(), RuntimeError,
         r"^MatMulBackward: its input 1 \(Tensor 'w'", _forward_then(
             _in_place_released_after_no_grad)),
    # saving for backward
    Case("derived_saved_array_under_create_graph",
         lambda world: grad(CubeSavingItsSlope.apply(world.w).sum(), world.w,
                            create_graph=True),
         RuntimeError, r"^CubeSavingItsSlopeBackward: .*neither an input nor the output"),
    Case("save_for_backward_twice", lambda world: SavesTwice.apply(world.w), RuntimeError,
         r"^SavesTwice\.forward called ctx\.save_for_backward twice"),
    # iteration
    Case("iterating_a_0d_tensor", lambda world: list(Tensor(1.0)), TypeError,
         r"^iteration over a 0-d tensor"),
    Case("sum_of_a_0d_tensor", lambda world: sum(Tensor(5.0)), TypeError,
         r"^iteration over a 0-d tensor"),
    Case("len_of_a_0d_tensor", lambda world: len(Tensor(1.0)), TypeError,
         r"^len\(\) of a 0-d tensor"),
    Case("in_with_a_string", lambda world: "1" in world.w, TypeError,
         r"^`in` on a Tensor looks for a number"),
    # shapes and axes
    Case("zeros_of_a_float_size", lambda world: Tensor.zeros(2.5), TypeError,
         r"^zeros: the shape must be integers, got 2\.5"),
    Case("zeros_of_a_negative_size", lambda world: Tensor.zeros(-1), ValueError,
         r"^zeros: the shape \(-1,\) has a negative size"),
    Case("reshape_to_a_float_size", lambda world: world.w.reshape(2.9, 2), TypeError,
         r"^reshape: the shape must be integers, got 2\.9"),
    Case("reshape_to_a_string_size", lambda world: world.w.reshape("2", 2), TypeError,
         r"^reshape: the shape must be integers, got '2'"),
    Case("reshape_to_a_wrong_size", lambda world: world.w.reshape(3), ValueError,
         r"^reshape: cannot reshape a tensor of shape \(2, 2\)"),
    Case("sum_over_axis_true", lambda world: world.w.sum(axis=True), TypeError,
         r"^sum: axis must be None, an integer or a tuple of integers, not True"),
    Case("sum_over_a_missing_axis", lambda world: world.w.sum(axis=2), ValueError,
         r"^sum: axis 2 is out of range"),
    Case("softmax_over_an_empty_axis", lambda world: Tensor(np.zeros((2, 0))).softmax(1),
         ValueError, r"^softmax: axis 1 of the tensor of shape \(2, 0\) is empty"),
    Case("log_softmax_over_an_empty_axis",
         lambda world: Tensor(np.zeros((0,)), requires_grad=True).log_softmax(),
         ValueError, r"^log_softmax: axis -1 of the tensor of shape \(0,\) is empty"),
    Case("max_of_an_empty_tensor", lambda world: Tensor(np.zeros(0)).max(), ValueError,
         r"^max: the tensor of shape \(0,\) is empty"),
    # construction
    Case("unknown_dtype", lambda world: Tensor([1.0], dtype="foo"), TypeError,
         r"^Tensor: dtype='foo' is not a numpy dtype"),
    Case("string_data", lambda world: Tensor(["a"]), TypeError,
         r"^Tensor: cannot make a tensor of dtype <U1"),
    Case("requires_grad_on_integers", lambda world: Tensor([1, 2], dtype=np.int64,
                                                         requires_grad=True),
         TypeError, r"^Tensor: only floating tensors can require grad"),
    Case("linear_with_a_float_size", lambda world: nn.Linear(3.5, 3), TypeError,
         r"^Linear: in_features must be an integer, got 3\.5"),
    Case("linear_with_zero_outputs", lambda world: nn.Linear(3, 0), ValueError,
         r"^Linear: in_features and out_features must be positive"),
    # operations
    Case("matmul_shape_mismatch", lambda world: world.w @ Tensor.ones(3, 1), ValueError,
         r"^matmul: shapes \(2, 2\) @ \(3, 1\) do not match"),
    Case("add_shapes_that_do_not_broadcast", lambda world: world.w + Tensor.ones(3),
         ValueError, r"^add: shapes \(2, 2\) and \(3,\) do not broadcast"),
    Case("slice_step_zero", lambda world: world.b[::0], ValueError,
         r"^indexing a tensor of shape \(2,\) with slice\(None, None, 0\): slice step"),
    Case("index_out_of_bounds", lambda world: world.b[5], IndexError,
         r"^indexing a tensor of shape \(2,\) with 5"),
    Case("squared_error_stretching_the_output",
         lambda world: world.b.squared_error(Tensor.ones(2, 1)), ValueError,
         r"^squared_error: the target's shape \(2, 1\) would stretch"),
    Case("linear_layer_on_wrong_features", lambda world: world.model(Tensor.ones(1, 3)),
         ValueError, r"^Linear\(2, 2\): input of shape \(1, 3\)"),
    # backward and grad
    Case("backward_of_a_non_scalar", lambda world: (world.w * 2).backward(), RuntimeError,
         r"^backward: Tensor has shape \(2, 2\), so the gradient to start from is ambiguous"),
    Case("backward_with_a_string_gradient",
         lambda world: (world.b * 2).sum().backward(gradient="a"), TypeError,
         r"^backward: the gradient must hold numbers"),
    Case("backward_with_a_gradient_of_the_wrong_shape",
         lambda world: (world.w * 2).backward(gradient=np.ones(3)), ValueError,
         r"^backward: the gradient has shape \(3,\) but Tensor has shape \(2, 2\)"),
    Case("backward_without_a_graph", lambda world: world.x.sum().backward(), RuntimeError,
         r"^backward: Tensor does not require grad"),
    Case("backward_through_a_released_graph", lambda world: world.scratch["loss"].backward(),
         GraphReleasedError, r"^MatMulBackward: trying to backward through the graph a "
         r"second time", _backward_released),
    Case("grad_of_a_number", lambda world: grad(1.0, world.w), TypeError,
         r"^grad: outputs must be a Tensor or a list or tuple of Tensors, got float 1\.0"),
    Case("grad_with_respect_to_a_number", lambda world: grad(world.w.sum(), 2.0), TypeError,
         r"^grad: inputs must be a Tensor or a list or tuple of Tensors"),
    Case("grad_of_an_unused_input", lambda world: grad(world.w.sum(), [world.w, world.b]),
         ValueError, r"^grad: input 1 \(Tensor 'b', shape \(2,\)\) was not used"),
    # optimizers
    Case("sgd_with_a_string_lr", lambda world: SGD([world.w], lr="0.1"), TypeError,
         r"^SGD: the learning rate lr must be a number, got '0\.1'"),
    Case("adam_with_a_string_lr", lambda world: Adam([world.w], lr="0.1"), TypeError,
         r"^Adam: the learning rate lr must be a number, got '0\.1'"),
    Case("sgd_with_a_negative_lr", lambda world: SGD([world.w], lr=-1.0), ValueError,
         r"^SGD: the learning rate must be ≥ 0, got -1\.0"),
    Case("sgd_with_no_parameters", lambda world: SGD([], lr=0.1), ValueError,
         r"^SGD: got no parameters"),
    Case("adam_with_a_string_beta", lambda world: Adam([world.w], betas=("0.9", 0.99)),
         TypeError, r"^Adam: betas\[0\] must be a number"),
    Case("step_with_a_gradient_of_the_wrong_shape", lambda world: world.sgd.step(), ValueError,
         r"^SGD: parameter 1 has shape \(2,\) but its \.grad has shape \(3,\)",
         lambda world: setattr(world.b, "grad", np.ones(3))),
    Case("load_state_dict_with_a_wrong_shape",
         lambda world: world.model.load_state_dict({"weight": np.ones((2, 2)),
                                                    "bias": np.ones(3)}),
         ValueError, r"^load_state_dict: bias has shape \(3,\)"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_raises_a_named_error_and_changes_nothing(case):
    world = _world()
    case.prepare(world)
    before = _snapshot(world)
    with pytest.raises(case.error, match=case.match):
        case.call(world)
    _assert_same(before, _snapshot(world))


def test_every_case_has_its_own_id():
    assert len({case.id for case in CASES}) == len(CASES)
