"""The registry: every operation of functions.py, described for its checks.

For each operation: the domain of each tensor input (where its derivative exists and is
tested), how the property tests build its inputs (`Signature`), and its vector-Jacobian
product written a second time, independently, as plain numpy from the closed-form
derivative. `testing.strategies.in_domain` and tests/test_registry.py enumerate it, so a
registered operation is checked against finite differences and its closed form at once.
No tool reads it: the drawings and the explorer take an operation's labels from its class
and its factors from its own backward.

Core or test metadata? Metadata. The engine never reads it: ``Tensor``, ``Function`` and
the operations work without this module ever being imported, and the chain-rule label of
each operation lives on its `Function` class, beside the formula it abbreviates. What is
here is the other side of each formula: its checks. The references must not share code
with the backwards (they sum broadcast axes with their own `_sum_to`, use the textbook
sigmoid, build matmul from ``einsum``, index one element at a time), so that the two can
disagree; keeping them in another module keeps them honest. So the dependency points one
way: this module imports functions, and no core module imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tinygrad_edu.autograd import Function
from tinygrad_edu.functions import (
    Add,
    BroadcastTo,
    Cast,
    Div,
    Exp,
    GetItem,
    Linear,
    Log,
    LogSoftmax,
    MatMul,
    Max,
    Mean,
    Mul,
    Neg,
    Pow,
    Relu,
    Reshape,
    ScatterAdd,
    Sigmoid,
    Softmax,
    SquaredError,
    Sub,
    Sum,
    Tanh,
    Transpose,
)

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
    independently, as plain numpy from the closed-form derivative (the textbook's claim).
    """

    name: str
    function: type[Function]
    signature: Signature
    domains: tuple[Domain, ...]
    reference: Callable[..., tuple[np.ndarray, ...]]

    @property
    def labels(self) -> tuple[str, ...]:
        """The chain-rule factor each input's gradient picks up, for drawings: the
        operation's own ``labels``, written beside its formula in functions.py."""
        return self.function.labels


REGISTRY: dict[str, OpInfo] = {}


def register(
    name: str,
    function: type[Function],
    signature: Signature,
    domains: tuple[Domain, ...],
    reference: Callable[..., tuple[np.ndarray, ...]],
) -> None:
    """Add ``function`` to `REGISTRY` under ``name``: one domain per tensor input, and its
    closed-form vector-Jacobian product. Its labels come from ``function.labels``."""
    if name in REGISTRY:
        raise ValueError(f"register: an operation named {name!r} is registered already")
    labels = function.labels
    if len(domains) != len(labels):
        raise ValueError(
            f"register: {name} has {len(domains)} domains but {function.__name__}.labels has "
            f"{len(labels)}; give the class one label per tensor input "
            '(labels = ("·2x",) for y = x²)'
        )
    REGISTRY[name] = OpInfo(name, function, signature, domains, reference)


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
register("add", Add, "binary", ("real", "real"),
         lambda g, a, b: (_sum_to(g, a.shape), _sum_to(g, b.shape)))
register("sub", Sub, "binary", ("real", "real"),
         lambda g, a, b: (_sum_to(g, a.shape), _sum_to(-g, b.shape)))
register("mul", Mul, "binary", ("real", "real"),
         lambda g, a, b: (_sum_to(g * b, a.shape), _sum_to(g * a, b.shape)))
register("div", Div, "binary", ("real", "nonzero"),
         lambda g, a, b: (_sum_to(g / b, a.shape), _sum_to(-g * a / b**2, b.shape)))
register("neg", Neg, "unary", ("real",), lambda g, x: (-g,))
register("pow", Pow, "binary", ("positive", "real"),
         lambda g, a, b: (_sum_to(g * b * a ** (b - 1), a.shape),
                          _sum_to(g * a**b * np.log(a), b.shape)))
register("matmul", MatMul, "matmul", ("real", "real"), _matmul_reference)
register("linear", Linear, "linear", ("real", "real"), _linear_reference)
register("exp", Exp, "unary", ("real",), lambda g, x: (g * np.exp(x),))
register("log", Log, "unary", ("positive",), lambda g, x: (g / x,))
register("sigmoid", Sigmoid, "unary", ("real",),
         lambda g, x: (g * _sigmoid_reference(x) * (1 - _sigmoid_reference(x)),))
register("tanh", Tanh, "unary", ("real",), lambda g, x: (g * (1 - np.tanh(x) ** 2),))
register("relu", Relu, "unary", ("away_from_zero",), lambda g, x: (np.where(x > 0, g, 0.0),))
register("sum", Sum, "reduce", ("real",),
         lambda g, x, axis=None, keepdims=False: (_spread(g, x.shape, axis, keepdims),))
register("mean", Mean, "reduce", ("real",),
         lambda g, x, axis=None, keepdims=False: (
             _spread(g, x.shape, axis, keepdims) / _reduced_count(x.shape, axis),))
register("max", Max, "reduce", ("distinct",), _max_reference)
register("reshape", Reshape, "reshape", ("real",), lambda g, x, shape=(): (g.reshape(x.shape),))
register("transpose", Transpose, "transpose", ("real",),
         lambda g, x, axes=None: (np.transpose(g, None if axes is None else np.argsort(axes)),))
register("broadcast_to", BroadcastTo, "broadcast_to", ("real",),
         lambda g, x, shape=(): (_sum_to(g, x.shape),))
register("cast", Cast, "unary", ("real",), lambda g, x, dtype=None: (g,))
register("getitem", GetItem, "getitem", ("real",), _getitem_reference)
register("scatter_add", ScatterAdd, "scatter_add", ("real",), _scatter_add_reference)
register("softmax", Softmax, "softmax", ("real",), _softmax_reference)
register("log_softmax", LogSoftmax, "softmax", ("real",), _log_softmax_reference)
register("squared_error", SquaredError, "target", ("real", "real"),
         lambda g, o, t: (_sum_to(2 * g * (o - t), o.shape), _sum_to(2 * g * (t - o), t.shape)))
# fmt: on
