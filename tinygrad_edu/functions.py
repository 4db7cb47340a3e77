"""Every operation, one `Function` each: forward and backward side by side; and the registry.

Notation in the docstrings: the operation computes ``y = f(x)``; ``g`` is the gradient
∂L/∂y arriving from above; backward returns ∂L/∂x = g · ∂y/∂x (the chain rule, one step).
Each backward is written with operations that numpy arrays and Tensors share, so the same
code runs on arrays (an ordinary backward) and on Tensors (``create_graph=True``).

The registry at the bottom lists every operation with an independently written
closed-form derivative, a label of its chain-rule factor per input (for drawings) and the
domain of its inputs; the property tests enumerate it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tinygrad_edu.autograd import Function, Node

# --------------------------------------------------------------------------- helpers

_NO_ERRSTATE = contextlib.nullcontext()


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``: the adjoint of numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of length 1, so
    the input's gradient is the sum of the gradients of all its copies.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _exp(x: Any) -> Any:
    return np.exp(x) if _is_array(x) else x.exp()


def _log(x: Any) -> Any:
    return np.log(x) if _is_array(x) else x.log()


def _broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    return np.broadcast_to(x, shape) if _is_array(x) else BroadcastTo.apply(x, shape=shape)


def _scatter_add(grad: Any, shape: tuple[int, ...], index: Any) -> Any:
    if _is_array(grad):
        return _scatter_add_array(grad, shape, index)
    return ScatterAdd.apply(grad, shape=shape, index=index)


def _scatter_add_array(values: Any, shape: tuple[int, ...], index: Any) -> np.ndarray:
    result = np.zeros(shape, dtype=np.result_type(values))
    if _is_basic_index(index):
        result[index] += values  # basic indexing never picks an element twice
    else:
        np.add.at(result, index, values)
    return result


def _swap_last_axes(x: Any) -> Any:
    if x.ndim == 2:
        return x.T
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return x.transpose(tuple(axes))


def _broadcast_error(op: str, a: np.ndarray, b: np.ndarray, error: ValueError) -> ValueError:
    """The error to raise when numpy refused ``a op b``: a clear one if the shapes do not
    broadcast, numpy's own reason (named by the operation) otherwise."""
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        return ValueError(
            f"{op}: shapes {a.shape} and {b.shape} do not broadcast; each axis (aligned from "
            "the right) must have equal lengths or length 1"
        )
    return ValueError(f"{op}: {error} (dtypes {a.dtype} and {b.dtype})")


def _normalize_axes(op: str, axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(_is_integer(a) for a in axes):
        raise TypeError(f"{op}: axis must be None, an integer or a tuple of integers, not {axis!r}")
    result = []
    for a in axes:
        if not -ndim <= a < ndim and not (ndim == 0 and a in (0, -1)):
            raise ValueError(
                f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions "
                f"(accepted: {-ndim} to {ndim - 1})"
            )
        result.append(int(a) % max(ndim, 1))
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: axis {axis} names the same axis twice")
    return tuple(sorted(result)) if ndim else ()


def _softmax_axis(op: str, axis: int, x: np.ndarray) -> tuple[int, ...]:
    if x.ndim == 0:
        raise ValueError(f"{op}: needs a tensor with at least one dimension, got a scalar")
    if not _is_integer(axis):
        raise TypeError(f"{op}: axis must be one integer, got {axis!r}")
    axes = _normalize_axes(op, axis, x.ndim)
    if x.shape[axes[0]] == 0:
        raise ValueError(
            f"{op}: axis {axis} of the tensor of shape {x.shape} is empty; there is nothing "
            "to normalize over (it needs at least one element)"
        )
    return axes


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """x − max x along ``axis``: every exponent ≤ 0, so e^x cannot overflow. The
    subtraction itself overflows to −inf only for a spread beyond the float range
    (−1e308 next to 1e308), where e^−inf = 0 is the right answer: no warning for it."""
    with np.errstate(over="ignore"):
        return x - x.max(axis=axis, keepdims=True)


def _is_integer(value: Any) -> bool:
    """An int or numpy integer, but not a bool (True is no axis), as numpy requires."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def normalize_index(index: Any) -> Any:
    """Tensors inside an index become their (integer or boolean) arrays."""
    if isinstance(index, tuple):
        return tuple(normalize_index(i) for i in index)
    data = getattr(index, "data", None)
    if isinstance(data, np.ndarray) and not isinstance(index, np.ndarray):
        if np.issubdtype(data.dtype, np.floating):
            raise IndexError(
                f"indexing: an index tensor must have an integer or bool dtype, not "
                f"{data.dtype}; make it with dtype=np.int64"
            )
        return data
    return index


def _own_index(index: Any) -> Any:
    """A copy of the arrays and lists in an index: the recorded index must not change when
    the caller later changes theirs (that would change the gradient)."""
    if isinstance(index, tuple):
        return tuple(_own_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return index.copy()
    if isinstance(index, list):
        return np.array(index) if index else np.array([], dtype=np.intp)  # numpy's [] is ints
    return index


def _is_basic_index(index: Any) -> bool:
    """Ints, slices, None and Ellipsis: indexing that never picks an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


# --------------------------------------------------------------------------- arithmetic


class Add(Function):
    """y = a + b.  ∂L/∂a = g, ∂L/∂b = g (each summed back to its input's shape)."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            y = a + b
        except ValueError as error:
            raise _broadcast_error("add", a, b, error) from None
        ctx.shapes = (a.shape, b.shape)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a_shape, b_shape = ctx.shapes
        grad_a = unbroadcast(g, a_shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(g, b_shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Sub(Function):
    """y = a − b.  ∂L/∂a = g, ∂L/∂b = −g."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            y = a - b
        except ValueError as error:
            raise _broadcast_error("sub", a, b, error) from None
        ctx.shapes = (a.shape, b.shape)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a_shape, b_shape = ctx.shapes
        grad_a = unbroadcast(g, a_shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(-g, b_shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Mul(Function):
    """y = a · b (elementwise).  ∂L/∂a = g · b, ∂L/∂b = g · a."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            y = a * b
        except ValueError as error:
            raise _broadcast_error("mul", a, b, error) from None
        ctx.save_for_backward(a, b)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b = ctx.saved
        grad_a = unbroadcast(g * b, a.shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(g * a, b.shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """y = a / b.  ∂L/∂a = g / b, ∂L/∂b = −g · a / b²."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            y = a / b
        except ValueError as error:
            raise _broadcast_error("div", a, b, error) from None
        ctx.save_for_backward(a, b)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b = ctx.saved
        grad_a = unbroadcast(g / b, a.shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(-g * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    """y = −x.  ∂L/∂x = −g."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        return -x

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return -g


class Pow(Function):
    """y = aᵇ.  ∂L/∂a = g · b · aᵇ⁻¹, ∂L/∂b = g · aᵇ · ln a (needs a > 0).

    At a = 0 the limits are used, as in PyTorch: ∂y/∂a = 0 where also b = 0 (y = 1 is
    constant) and ∂y/∂b = 0 where b ≥ 0 (y = 0ᵇ is constant there), instead of the
    0·(−∞) = NaN of the raw formulas. For b < 0 the formulas stand: y = 0ᵇ = ∞ and
    ∂y/∂b = 0ᵇ · ln 0 = ∞ · (−∞) = −∞, ∂y/∂a = b · 0ᵇ⁻¹ = −∞.
    """

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            y = a**b
        except ValueError as error:
            raise _broadcast_error("pow", a, b, error) from None
        # Constant masks, 1 only where a = 0 (and b = 0, or b ≥ 0): there b − 1 + mask and
        # a + mask avoid 0·∞; everywhere else they are 0 and the formulas (and their
        # derivatives, for create_graph) are untouched.
        a_is_zero = a == 0
        both_zero = (a_is_zero & (b == 0)).astype(y.dtype)
        zero_base_constant = (a_is_zero & (b >= 0)).astype(y.dtype)
        ctx.save_for_backward(a, b, y)
        ctx.save_constants(both_zero, zero_base_constant)
        ctx.zero_base = bool(a_is_zero.any())
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b, y = ctx.saved
        both_zero, zero_base_constant = ctx.constants
        # 0 to a negative power is ∞ and ln 0 is −∞ by design here: no warning for them
        with np.errstate(divide="ignore", invalid="ignore") if ctx.zero_base else _NO_ERRSTATE:
            grad_a = grad_b = None
            if ctx.needs_input_grad[0]:
                grad_a = unbroadcast(g * b * a ** (b - 1 + both_zero), a.shape)
            if ctx.needs_input_grad[1]:
                grad_b = unbroadcast(g * y * _log(a + zero_base_constant), b.shape)
        return grad_a, grad_b


class MatMul(Function):
    """Y = A · B (numpy's ``@``, batched and 1-D operands included).

    ∂L/∂A = G · Bᵀ, ∂L/∂B = Aᵀ · G. The hidden-error rule of the book, W_hoᵀ · e, is the
    second one: the error flows back through the transpose of the weights.
    """

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: operands must have at least one dimension, got shapes {a.shape} @ "
                f"{b.shape}; use * to multiply by a scalar"
            )
        inner_a = a.shape[-1]
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if inner_a != inner_b:
            raise ValueError(
                f"matmul: shapes {a.shape} @ {b.shape} do not match: the last axis of the left "
                f"operand ({inner_a}) must equal the "
                f"{'only' if b.ndim == 1 else 'second-to-last'} axis of the right one ({inner_b})"
            )
        try:
            y = a @ b
        except ValueError:
            raise ValueError(
                f"matmul: the batch axes of shapes {a.shape} @ {b.shape} do not broadcast"
            ) from None
        ctx.save_for_backward(a, b)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b = ctx.saved
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshapes
            grad_a = g @ b.T if ctx.needs_input_grad[0] else None
            grad_b = a.T @ g if ctx.needs_input_grad[1] else None
            return grad_a, grad_b
        a2 = a if a.ndim > 1 else a.reshape((1, a.shape[0]))
        b2 = b if b.ndim > 1 else b.reshape((b.shape[0], 1))
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape((*batch, a2.shape[-2], b2.shape[-1]))
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(g2 @ _swap_last_axes(b2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(_swap_last_axes(a2) @ g2, b2.shape).reshape(b.shape)
        return grad_a, grad_b


class Linear(Function):
    """Y = X · Wᵀ (a layer acting on rows; ``W`` of shape (out, in)).

    ∂L/∂X = G · W, ∂L/∂W = Gᵀ · X (summed over all rows). One node instead of a transpose
    and a matmul: ``nn.Linear`` runs this on every step.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} and weight of shape {w.shape} do not fit: "
                "the weight must be (out_features, in_features) and the input's last axis "
                "must have in_features elements"
            )
        ctx.save_for_backward(x, w)
        return x @ w.T

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        x, w = ctx.saved
        grad_x = g @ w if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            rows_x = x if x.ndim == 2 else x.reshape((-1, w.shape[1]))
            rows_g = g if g.ndim == 2 else g.reshape((-1, w.shape[0]))
            grad_w = rows_g.T @ rows_x
        return grad_x, grad_w


# --------------------------------------------------------------------------- elementwise


class Exp(Function):
    """y = eˣ.  ∂L/∂x = g · y."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return g * y


class Log(Function):
    """y = ln x.  ∂L/∂x = g / x."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (x,) = ctx.saved
        return g / x


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ).  ∂L/∂x = g · σ(x)(1 − σ(x)) = g · y(1 − y).

    For x below about −709 (float64) e⁻ˣ overflows to inf and σ(x) correctly becomes 0;
    that overflow is expected, so its warning is silenced (nothing else here can overflow).
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            y = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return g * y * (1 - y)


class Tanh(Function):
    """y = tanh x.  ∂L/∂x = g · (1 − y²)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return g * (1 - y * y)


class Relu(Function):
    """y = max(x, 0).  ∂L/∂x = g · [x > 0]  (so relu′(0) = 0)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.save_constants((x > 0).astype(x.dtype))
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (mask,) = ctx.constants
        return g * mask


# --------------------------------------------------------------------------- reductions


class Sum(Function):
    """y = Σ x over ``axis``.  ∂L/∂x = g copied back along the summed axes."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        axes = _normalize_axes("sum", axis, x.ndim)
        ctx.in_shape, ctx.kept_shape = x.shape, _kept_shape(x.shape, axes)
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return _broadcast_to(g.reshape(ctx.kept_shape), ctx.in_shape)


class Mean(Function):
    """y = (1/n) Σ x over ``axis`` (n elements each).  ∂L/∂x = g / n, copied back."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        axes = _normalize_axes("mean", axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"mean: the tensor of shape {x.shape} is empty")
        ctx.in_shape, ctx.kept_shape = x.shape, _kept_shape(x.shape, axes)
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return x.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return _broadcast_to(g.reshape(ctx.kept_shape) / ctx.count, ctx.in_shape)


class Max(Function):
    """y = max x over ``axis``.  ∂L/∂x = g · [x = y] / (number of tied maxima).

    The gradient goes to the largest element; tied elements share it equally.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        axes = _normalize_axes("max", axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"max: the tensor of shape {x.shape} is empty")
        y = x.max(axis=axes, keepdims=True)
        is_max = x == y
        if np.isnan(y).any():  # numpy's max is NaN where a NaN is: it gets the gradient
            is_max |= np.isnan(x) & np.isnan(y)
        winners = is_max.astype(x.dtype)
        ctx.save_constants(winners / winners.sum(axis=axes, keepdims=True))
        ctx.in_shape, ctx.kept_shape = x.shape, y.shape
        return (
            y if keepdims else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
        )

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (share,) = ctx.constants
        return _broadcast_to(g.reshape(ctx.kept_shape), ctx.in_shape) * share


# --------------------------------------------------------------------------- shape


class Reshape(Function):
    """y = x with a new shape.  ∂L/∂x = g reshaped back."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, shape: tuple[int, ...] = ()) -> np.ndarray:
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into "
                f"shape {shape}; the number of elements must stay the same"
            ) from None

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return g.reshape(ctx.in_shape)


class Transpose(Function):
    """y = x with its axes permuted (reversed when ``axes`` is None).
    ∂L/∂x = g with the inverse permutation."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
        if axes is None:
            axes = tuple(reversed(range(x.ndim)))
        in_range = all(-x.ndim <= a < x.ndim for a in axes)
        if not in_range or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of a "
                f"tensor of shape {x.shape}"
            )
        axes = tuple(a % x.ndim for a in axes)
        ctx.inverse = tuple(int(i) for i in np.argsort(axes))
        return x.transpose(axes)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return g.transpose(ctx.inverse)


class BroadcastTo(Function):
    """y = x copied along new or length-1 axes to ``shape``.  ∂L/∂x = g summed back."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, shape: tuple[int, ...] = ()) -> np.ndarray:
        ctx.in_shape = x.shape
        try:
            return np.array(np.broadcast_to(x, shape))
        except ValueError:
            raise ValueError(
                f"broadcast_to: a tensor of shape {x.shape} cannot be broadcast to {shape}"
            ) from None

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return unbroadcast(g, ctx.in_shape)


class GetItem(Function):
    """y = x[index] (numpy indexing).  ∂L/∂x = zeros with g added at the indexed places
    (added, not written: an element picked twice gets both gradients)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, index: Any = None) -> np.ndarray:
        index = _own_index(index)
        ctx.in_shape, ctx.index = x.shape, index
        try:
            return x[index]
        except IndexError as error:
            raise IndexError(
                f"indexing a tensor of shape {x.shape} with {index!r}: {error}"
            ) from None
        except ValueError as error:  # x[::0]
            raise ValueError(
                f"indexing a tensor of shape {x.shape} with {index!r}: {error}"
            ) from None

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return _scatter_add(g, ctx.in_shape, ctx.index)


class ScatterAdd(Function):
    """y = zeros(shape) with x added at ``index`` — the backward of indexing.
    ∂L/∂x = g[index]."""

    @staticmethod
    def forward(
        ctx: Node, x: np.ndarray, shape: tuple[int, ...] = (), index: Any = None
    ) -> np.ndarray:
        ctx.index = index = _own_index(index)
        return _scatter_add_array(x, shape, index)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return g[ctx.index]


# --------------------------------------------------------------------------- composite


class Softmax(Function):
    """yᵢ = e^xᵢ / Σⱼ e^xⱼ along ``axis``.  ∂L/∂x = y · (g − Σ g·y)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axis: int = -1) -> np.ndarray:
        (axis,) = _softmax_axis("softmax", axis, x)
        e = np.exp(_shifted(x, axis))
        y = e / e.sum(axis=axis, keepdims=True)
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """yᵢ = xᵢ − ln Σⱼ e^xⱼ along ``axis``.  ∂L/∂x = g − softmax(x) · Σ g, softmax = eʸ."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axis: int = -1) -> np.ndarray:
        (axis,) = _softmax_axis("log_softmax", axis, x)
        shifted = _shifted(x, axis)
        y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return g - _exp(y) * g.sum(axis=ctx.axis, keepdims=True)


class SquaredError(Function):
    """E = Σ (t − o)² over all elements.  ∂L/∂o = g · 2(o − t), ∂L/∂t = g · 2(t − o).

    No ½: the factor 2 is part of the true gradient (DESIGN, "The loss and the factor 2").
    """

    @staticmethod
    def forward(ctx: Node, o: np.ndarray, t: np.ndarray) -> np.ndarray:
        try:
            d = t - o
        except ValueError as error:
            raise _broadcast_error("squared_error", o, t, error) from None
        if d.shape != o.shape:  # a column against a row would silently square a grid
            raise ValueError(
                f"squared_error: the target's shape {t.shape} would stretch the output's "
                f"shape {o.shape} to {d.shape}; give a target of shape {o.shape} (or one that "
                "broadcasts to it)"
            )
        ctx.save_for_backward(o, t)
        return (d * d).sum()

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        o, t = ctx.saved
        twice_diff = 2 * (o - t) * g
        grad_o = unbroadcast(twice_diff, o.shape) if ctx.needs_input_grad[0] else None
        grad_t = unbroadcast(-twice_diff, t.shape) if ctx.needs_input_grad[1] else None
        return grad_o, grad_t


# --------------------------------------------------------------------------- registry

Domain = Literal["real", "positive", "nonzero", "away_from_zero", "distinct"]
"""Where an input's elements may lie for the derivative to exist and be tested:
``positive`` (log, a base raised to a tensor power), ``nonzero`` (a divisor),
``away_from_zero`` (relu's kink), ``distinct`` (no ties for max)."""

Signature = Literal[
    "unary", "binary", "target", "matmul", "linear", "reduce", "softmax", "reshape", "transpose",
    "broadcast_to", "getitem", "scatter_add",
]  # fmt: skip
"""How the property tests build an op's inputs and options (see testing/strategies.py)."""


@dataclass(frozen=True)
class OpInfo:
    """One registered operation.

    ``reference(g, *inputs, **options)`` is its vector-Jacobian product written again,
    independently, as plain numpy from the closed-form derivative (the textbook's claim);
    ``labels`` name the chain-rule factor each input's gradient picks up, for drawings.
    """

    name: str
    function: type[Function]
    signature: Signature
    domains: tuple[Domain, ...]
    labels: tuple[str, ...]
    reference: Callable[..., tuple[np.ndarray, ...]]


REGISTRY: dict[str, OpInfo] = {}


def register(
    name: str,
    function: type[Function],
    signature: Signature,
    domains: tuple[Domain, ...],
    labels: tuple[str, ...],
    reference: Callable[..., tuple[np.ndarray, ...]],
) -> None:
    if name in REGISTRY:
        raise ValueError(f"register: an operation named {name!r} is registered already")
    if len(domains) != len(labels):
        raise ValueError(f"register: {name} has {len(domains)} domains but {len(labels)} labels")
    REGISTRY[name] = OpInfo(name, function, signature, domains, labels, reference)


def _sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reference reduction for the closed forms, kept apart from `unbroadcast` on purpose:
    it adds the copies up one axis at a time."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def _sigmoid_reference(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _spread(g: np.ndarray, shape: tuple[int, ...], axis: Any, keepdims: bool) -> np.ndarray:
    axes = tuple(range(len(shape))) if axis is None else np.atleast_1d(axis) % max(len(shape), 1)
    if not keepdims:
        g = np.expand_dims(g, tuple(sorted(int(a) for a in axes)))
    return np.broadcast_to(g, shape)


def _reduced_count(shape: tuple[int, ...], axis: Any) -> int:
    if axis is None:
        return int(np.prod(shape))
    return int(np.prod([shape[a] for a in np.atleast_1d(axis)]))


def _matmul_reference(g: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Element by element: ∂y[..., i, j]/∂a[..., i, k] = b[..., k, j] (1-D operands promoted).
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g.reshape((*np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]), a2.shape[-2], b2.shape[-1]))
    grad_a = np.einsum("...ij,...kj->...ik", g2, np.broadcast_to(b2, g2.shape[:-2] + b2.shape[-2:]))
    grad_b = np.einsum("...ik,...ij->...kj", np.broadcast_to(a2, g2.shape[:-2] + a2.shape[-2:]), g2)
    return _sum_to(grad_a, a2.shape).reshape(a.shape), _sum_to(grad_b, b2.shape).reshape(b.shape)


def _linear_reference(g: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # y[..., o] = Σᵢ x[..., i]·w[o, i]: ∂y/∂x[..., i] = w[o, i], ∂y/∂w[o, i] = x[..., i]
    grad_x = np.einsum("...o,oi->...i", g, w)
    batch_axes = list(range(g.ndim - 1))
    grad_w = np.tensordot(g, x, axes=(batch_axes, batch_axes))
    return grad_x, grad_w


def _max_reference(
    g: np.ndarray, x: np.ndarray, axis: Any = None, keepdims: bool = False
) -> tuple[np.ndarray]:
    top = x.max(axis=axis, keepdims=True)
    is_max = x == top
    return (_spread(g, x.shape, axis, keepdims) * is_max / is_max.sum(axis=axis, keepdims=True),)


def _softmax_reference(g: np.ndarray, x: np.ndarray, axis: int = -1) -> tuple[np.ndarray]:
    # Jacobian of softmax: ∂sᵢ/∂xⱼ = sᵢ(δᵢⱼ − sⱼ); contract it with g along the axis.
    s = np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)
    return (s * g - s * (s * g).sum(axis=axis, keepdims=True),)


def _log_softmax_reference(g: np.ndarray, x: np.ndarray, axis: int = -1) -> tuple[np.ndarray]:
    # ∂(xᵢ − ln Σ eˣ)/∂xⱼ = δᵢⱼ − softmax(x)ⱼ
    s = np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)
    return (g - s * g.sum(axis=axis, keepdims=True),)


def _getitem_reference(g: np.ndarray, x: np.ndarray, index: Any = None) -> tuple[np.ndarray]:
    # ∂y[k]/∂x[m] = 1 where element m was picked as y's element k: count every pick.
    grad = np.zeros(x.size)
    positions = np.arange(x.size).reshape(x.shape)[index]
    for position, value in zip(np.ravel(positions), np.ravel(g), strict=True):
        grad[position] += value
    return (grad.reshape(x.shape),)


def _scatter_add_reference(
    g: np.ndarray, x: np.ndarray, shape: tuple[int, ...] = (), index: Any = None
) -> tuple[np.ndarray]:
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    return (np.ravel(g)[np.ravel(positions)].reshape(x.shape),)


# fmt: off
register("add", Add, "binary", ("real", "real"), ("1", "1"),
         lambda g, a, b: (_sum_to(g, a.shape), _sum_to(g, b.shape)))
register("sub", Sub, "binary", ("real", "real"), ("1", "−1"),
         lambda g, a, b: (_sum_to(g, a.shape), _sum_to(-g, b.shape)))
register("mul", Mul, "binary", ("real", "real"), ("·b", "a·"),
         lambda g, a, b: (_sum_to(g * b, a.shape), _sum_to(g * a, b.shape)))
register("div", Div, "binary", ("real", "nonzero"), ("·1/b", "·(−a/b²)"),
         lambda g, a, b: (_sum_to(g / b, a.shape), _sum_to(-g * a / b**2, b.shape)))
register("neg", Neg, "unary", ("real",), ("−1",), lambda g, x: (-g,))
register("pow", Pow, "binary", ("positive", "real"), ("·b·a^(b−1)", "·a^b·ln a"),
         lambda g, a, b: (_sum_to(g * b * a ** (b - 1), a.shape),
                          _sum_to(g * a**b * np.log(a), b.shape)))
register("matmul", MatMul, "matmul", ("real", "real"), ("·Bᵀ", "Aᵀ·"), _matmul_reference)
register("linear", Linear, "linear", ("real", "real"), ("·W", "Gᵀ·"), _linear_reference)
register("exp", Exp, "unary", ("real",), ("·eˣ",), lambda g, x: (g * np.exp(x),))
register("log", Log, "unary", ("positive",), ("·1/x",), lambda g, x: (g / x,))
register("sigmoid", Sigmoid, "unary", ("real",), ("·σ(1−σ)",),
         lambda g, x: (g * _sigmoid_reference(x) * (1 - _sigmoid_reference(x)),))
register("tanh", Tanh, "unary", ("real",), ("·(1−tanh²)",),
         lambda g, x: (g * (1 - np.tanh(x) ** 2),))
register("relu", Relu, "unary", ("away_from_zero",), ("·[x>0]",),
         lambda g, x: (np.where(x > 0, g, 0.0),))
register("sum", Sum, "reduce", ("real",), ("copy back",),
         lambda g, x, axis=None, keepdims=False: (_spread(g, x.shape, axis, keepdims),))
register("mean", Mean, "reduce", ("real",), ("·1/n",),
         lambda g, x, axis=None, keepdims=False: (
             _spread(g, x.shape, axis, keepdims) / _reduced_count(x.shape, axis),))
register("max", Max, "reduce", ("distinct",), ("·[x = max]",), _max_reference)
register("reshape", Reshape, "reshape", ("real",), ("reshape back",),
         lambda g, x, shape=(): (g.reshape(x.shape),))
register("transpose", Transpose, "transpose", ("real",), ("transpose back",),
         lambda g, x, axes=None: (np.transpose(g, None if axes is None else np.argsort(axes)),))
register("broadcast_to", BroadcastTo, "broadcast_to", ("real",), ("sum copies",),
         lambda g, x, shape=(): (_sum_to(g, x.shape),))
register("getitem", GetItem, "getitem", ("real",), ("scatter",), _getitem_reference)
register("scatter_add", ScatterAdd, "scatter_add", ("real",), ("gather",), _scatter_add_reference)
register("softmax", Softmax, "softmax", ("real",), ("·s(δ − s)",), _softmax_reference)
register("log_softmax", LogSoftmax, "softmax", ("real",), ("·(δ − softmax)",),
         _log_softmax_reference)
register("squared_error", SquaredError, "target", ("real", "real"), ("·2(o−t)", "·2(t−o)"),
         lambda g, o, t: (_sum_to(2 * g * (o - t), o.shape), _sum_to(2 * g * (t - o), t.shape)))
# fmt: on

for _info in REGISTRY.values():  # every built-in operation: see Function._may_write_into_gradient
    _info.function._may_write_into_gradient = False
