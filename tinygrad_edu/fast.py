"""Faster backwards for the matrix products, beside the plain ones in functions.py.

functions.py writes ``MatMul``'s and ``Linear``'s backward with ``@``, the way a learner
reads them, so that they run on arrays and on Tensors (``create_graph``). On arrays, the
engine (`policies.Bookkeeping.chain_rule`) and the replay run these instead: the same
products, computed faster. tests/test_fast.py checks each against the plain backward.

Why: numpy's ``@`` computes a product whose inner dimension is 1 (the batch-1 weight
gradient, an outer product such as (200, 1) · (1, 784)) in a loop of its own, while
``np.dot`` hands every 2-D product to BLAS. On the 2-core machine of docs/performance.md,
``g @ x.T`` for g (200, 1) and x (784, 1) took 494 µs, ``np.dot(g, x.T)`` 83 µs. And the
gradient of W in ``x @ W.T`` (B is a transposed view) computed as (Gᵀ·A)ᵀ is laid out like
W itself, so the update of W walks its memory in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_edu.autograd import Function, Node
from tinygrad_edu.functions import Linear, MatMul


def _is_transposed(x: np.ndarray) -> bool:
    """Whether ``x`` is laid out column by column (a transposed view, such as ``W.T``)."""
    return x.flags.f_contiguous and not x.flags.c_contiguous


def matmul_backward(ctx: Node, g: np.ndarray) -> tuple[Any, Any]:
    """`MatMul.backward` on arrays: ∂L/∂A = G · Bᵀ, ∂L/∂B = Aᵀ · G, through BLAS."""
    a, b = ctx.saved
    if a.ndim != 2 or b.ndim != 2:
        return MatMul.backward(ctx, g)  # vectors and stacks of matrices: the plain rule
    need_a, need_b = ctx.needs_input_grad
    grad_a = np.dot(g, b.T) if need_a else None
    grad_b = None
    if need_b:
        grad_b = np.dot(g.T, a).T if _is_transposed(b) else np.dot(a.T, g)
    return grad_a, grad_b


def linear_backward(ctx: Node, g: np.ndarray) -> tuple[Any, Any]:
    """`Linear.backward` on arrays: ∂L/∂X = G · W, ∂L/∂W = Gᵀ · X, through BLAS."""
    x, w = ctx.saved
    need_x, need_w = ctx.needs_input_grad
    grad_x = g @ w if need_x else None
    grad_w = None
    if need_w:
        rows_x = x if x.ndim == 2 else x.reshape((-1, w.shape[1]))
        rows_g = g if g.ndim == 2 else g.reshape((-1, w.shape[0]))
        grad_w = np.dot(rows_g.T, rows_x)
    return grad_x, grad_w


BACKWARDS: dict[type[Function], Callable[[Node, Any], Any]] = {
    MatMul: matmul_backward,
    Linear: linear_backward,
}
"""The Functions whose backward on arrays is one of the above."""
