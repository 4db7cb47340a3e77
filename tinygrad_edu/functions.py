"""Every operation, one `Function` each: forward and backward side by side.

Notation in the docstrings: the operation computes ``y = f(x)``; ``g`` is the gradient
∂L/∂y arriving from above; backward returns ∂L/∂x = g · ∂y/∂x (the chain rule, one step).
Where numpy broadcast an input, its gradient comes back in the broadcast shape and the
engine sums it back to the input's shape (`unbroadcast`, in autograd.py).
Each backward is written with operations that numpy arrays and Tensors share, so the same
code runs on arrays (an ordinary backward) and on Tensors (``create_graph=True``). Each
class's ``labels`` abbreviate its factors ∂y/∂x for drawings. How every operation is
checked (domains, closed-form references) is in registry.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_edu.autograd import Function, Node
from tinygrad_edu.autograd import unbroadcast as unbroadcast  # also for custom operations

# --------------------------------------------------------------------------- helpers

_NO_ERRSTATE = contextlib.nullcontext()


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


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


def _where(mask: np.ndarray, g: Any) -> Any:
    """g where ``mask`` is true, else 0 (``mask`` of g's shape): a select, so that an
    infinite g where the mask is false gives 0, not ∞ · 0 = NaN. On Tensors (a recorded
    backward) it is the gather and scatter of boolean indexing, which select the same way."""
    if _is_array(g):
        return np.where(mask, g, np.zeros((), dtype=np.result_type(g)))
    return ScatterAdd.apply(g[mask], shape=mask.shape, index=mask)


def _swap_last_axes(x: Any) -> Any:
    if x.ndim == 2:
        return x.T
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return x.transpose(tuple(axes))


def _each_input(
    ctx: Node,
    a_shape: tuple[int, ...],
    a_rule: Callable[[], Any],
    b_shape: tuple[int, ...],
    b_rule: Callable[[], Any],
) -> tuple[Any, Any]:
    """The two gradients of a broadcasting operation y = f(a, b): ``a_rule()`` summed back
    to ``a_shape`` (`unbroadcast`) if ``ctx.needs_input_grad`` asks for it, else None (not
    computed at all); the same for b."""
    need_a, need_b = ctx.needs_input_grad
    return (
        unbroadcast(a_rule(), a_shape) if need_a else None,
        unbroadcast(b_rule(), b_shape) if need_b else None,
    )


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
    """The axis to normalize over, as a tuple: empty for a 0-d tensor, which is its own
    only element (softmax 1, log_softmax 0, gradient 0, as in PyTorch)."""
    if not _is_integer(axis):
        raise TypeError(f"{op}: axis must be one integer, got {axis!r}")
    axes = _normalize_axes(op, axis, x.ndim)
    if axes and x.shape[axes[0]] == 0:
        raise ValueError(
            f"{op}: axis {axis} of the tensor of shape {x.shape} is empty; there is nothing "
            "to normalize over (it needs at least one element)"
        )
    return axes


def _shifted(x: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
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
    """y = a + b.  ∂L/∂a = g, ∂L/∂b = g (the engine sums each back to its input's shape)."""

    labels = ("1", "1")

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        return g, g


class Sub(Function):
    """y = a − b.  ∂L/∂a = g, ∂L/∂b = −g."""

    labels = ("1", "−1")

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        return g, -g


class Mul(Function):
    """y = a · b (elementwise).  ∂L/∂a = g · b, ∂L/∂b = g · a."""

    labels = ("·b", "a·")

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b = ctx.saved
        return g * b, g * a


class Div(Function):
    """y = a / b.  ∂L/∂a = g / b, ∂L/∂b = −g · a / b²."""

    labels = ("·1/b", "·(−a/b²)")

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b = ctx.saved
        return _each_input(ctx, a.shape, lambda: g / b, b.shape, lambda: -g * a / (b * b))


class Neg(Function):
    """y = −x.  ∂L/∂x = −g."""

    labels = ("−1",)

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

    labels = ("·b·a^(b−1)", "·a^b·ln a")

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = a**b
        # Constant masks, 1 only where a = 0 (and b = 0, or b ≥ 0): there b − 1 + mask and
        # a + mask avoid 0·∞; everywhere else they are 0 and the formulas (and their
        # derivatives, for create_graph) are untouched.
        # A mask that is 0 everywhere is kept as one 0: then a constant exponent stays one
        # number in backward, and numpy's fast power for it applies (x ** 1 is x itself).
        a_is_zero = a == 0
        ctx.zero_base = bool(a_is_zero.any())
        both_zero = zero_base_constant = np.zeros((), y.dtype)
        if ctx.zero_base:
            zero_base_constant = (a_is_zero & (b >= 0)).astype(y.dtype)
            if np.any(b == 0):
                both_zero = (a_is_zero & (b == 0)).astype(y.dtype)
        ctx.save_for_backward(a, b, y)
        ctx.save_constants(both_zero, zero_base_constant)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b, y = ctx.saved
        both_zero, zero_base_constant = ctx.constants
        # 0 to a negative power is ∞ and ln 0 is −∞ by design here: no warning for them
        with np.errstate(divide="ignore", invalid="ignore") if ctx.zero_base else _NO_ERRSTATE:
            return _each_input(
                ctx,
                a.shape,
                lambda: g * b * a ** (b - 1 + both_zero),
                b.shape,
                lambda: g * y * _log(a + zero_base_constant),
            )


class MatMul(Function):
    """Y = A · B (numpy's ``@``, batched and 1-D operands included).

    ∂L/∂A = G · Bᵀ, ∂L/∂B = Aᵀ · G. The hidden-error rule of the book, W_hoᵀ · e, is the
    second one: the error flows back through the transpose of the weights. (On arrays the
    engine runs fast.py's version of this backward: the same products, through BLAS.)
    """

    labels = ("·Bᵀ", "Aᵀ·")

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
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # two matrices: the book's case
            return (g @ b.T if need_a else None, a.T @ g if need_b else None)
        return _matmul_grads_of_stacks(a, b, g, need_a, need_b)


def _matmul_grads_of_stacks(a: Any, b: Any, g: Any, need_a: bool, need_b: bool) -> tuple[Any, Any]:
    """MatMul's rule for vectors and stacks of matrices: a vector is a one-row (left) or
    one-column (right) matrix, and batch axes that were broadcast are summed back."""
    a2 = a if a.ndim > 1 else a.reshape((1, a.shape[0]))
    b2 = b if b.ndim > 1 else b.reshape((b.shape[0], 1))
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    g2 = g.reshape((*batch, a2.shape[-2], b2.shape[-1]))
    grad_a = unbroadcast(g2 @ _swap_last_axes(b2), a2.shape).reshape(a.shape) if need_a else None
    grad_b = unbroadcast(_swap_last_axes(a2) @ g2, b2.shape).reshape(b.shape) if need_b else None
    return grad_a, grad_b


class Linear(Function):
    """Y = X · Wᵀ (a layer acting on rows; ``W`` of shape (out, in)).

    ∂L/∂X = G · W, ∂L/∂W = Gᵀ · X (summed over all rows). One node instead of a transpose
    and a matmul: ``nn.Linear`` runs this on every step (on arrays, fast.py's version).
    """

    labels = ("·W", "Gᵀ·")

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

    labels = ("·eˣ",)

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

    labels = ("·1/x",)

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

    labels = ("·σ(1−σ)",)

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

    labels = ("·(1−tanh²)",)

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
    """y = max(x, 0).  ∂L/∂x = g where x > 0, else 0  (so relu′(0) = 0).

    A select, not g · [x > 0]: where x ≤ 0 the gradient is 0 even if g is ±∞ (as after
    x.relu() ** 0.5 at x ≤ 0), where ∞ · 0 would be NaN. PyTorch selects too.
    """

    labels = ("·[x>0]",)

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.save_constants(x > 0)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (positive,) = ctx.constants
        return _where(positive, g)


# --------------------------------------------------------------------------- reductions


class Sum(Function):
    """y = Σ x over ``axis``.  ∂L/∂x = g copied back along the summed axes."""

    labels = ("copy back",)

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

    labels = ("·1/n",)

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

    The gradient goes to the largest element; tied elements share it equally. The others
    get 0 by a select (0 even where g is ±∞), as in Relu.
    """

    labels = ("·[x = max]",)

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
        ctx.save_constants(is_max, winners / winners.sum(axis=axes, keepdims=True))
        ctx.in_shape, ctx.kept_shape = x.shape, y.shape
        return (
            y if keepdims else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
        )

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        is_max, share = ctx.constants
        return _where(is_max, _broadcast_to(g.reshape(ctx.kept_shape), ctx.in_shape)) * share


# --------------------------------------------------------------------------- shape


class Reshape(Function):
    """y = x with a new shape.  ∂L/∂x = g reshaped back."""

    labels = ("reshape back",)

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

    labels = ("transpose back",)

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
        if axes is None:  # all axes reversed: reversing them again turns it back
            ctx.inverse = ()
            return x.transpose()
        in_range = all(-x.ndim <= a < x.ndim for a in axes)
        if not in_range or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of a "
                f"tensor of shape {x.shape}"
            )
        axes = tuple(a % x.ndim for a in axes)
        ctx.inverse = tuple(axes.index(i) for i in range(x.ndim))  # where each axis went
        return x.transpose(axes)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return g.transpose(*ctx.inverse)  # no axes given: all reversed


class Cast(Function):
    """y = x converted to ``dtype`` (unchanged when ``dtype`` is None).  ∂L/∂x = g
    converted back to x's dtype. The engine uses it so that a recorded gradient
    (``create_graph``) has the dtype of its input, as ``.grad`` has."""

    labels = ("1",)

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, dtype: Any = None) -> np.ndarray:
        ctx.in_dtype = x.dtype
        return x.astype(x.dtype if dtype is None else dtype)

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        return g.astype(ctx.in_dtype) if _is_array(g) else Cast.apply(g, dtype=ctx.in_dtype)


class BroadcastTo(Function):
    """y = x copied along new or length-1 axes to ``shape``.  ∂L/∂x = g summed back."""

    labels = ("sum copies",)

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

    labels = ("scatter",)

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

    labels = ("gather",)

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

    labels = ("·s(δ − s)",)

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axis: int = -1) -> np.ndarray:
        axes = _softmax_axis("softmax", axis, x)
        e = np.exp(_shifted(x, axes))
        y = e / e.sum(axis=axes, keepdims=True)
        ctx.axis = axes
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """yᵢ = xᵢ − ln Σⱼ e^xⱼ along ``axis``.  ∂L/∂x = g − softmax(x) · Σ g, softmax = eʸ."""

    labels = ("·(δ − softmax)",)

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, axis: int = -1) -> np.ndarray:
        axes = _softmax_axis("log_softmax", axis, x)
        shifted = _shifted(x, axes)
        y = shifted - np.log(np.exp(shifted).sum(axis=axes, keepdims=True))
        ctx.axis = axes
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return g - _exp(y) * g.sum(axis=ctx.axis, keepdims=True)


class SquaredError(Function):
    """E = Σ (t − o)² over all elements.  ∂L/∂o = g · 2(o − t), ∂L/∂t = g · 2(t − o).

    No ½: the factor 2 is part of the true gradient (docs/design.md, "The loss and the
    factor 2").
    """

    labels = ("·2(o−t)", "·2(t−o)")

    @staticmethod
    def forward(ctx: Node, o: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = t - o
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
        return twice_diff, -twice_diff
