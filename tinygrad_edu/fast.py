"""Faster backwards for the matrix products, beside the plain ones in functions.py; and
the replay's one fused kernel, a weight's SGD update that makes its gradient as it goes.

functions.py writes ``MatMul``'s and ``Linear``'s backward with ``@``, the way a learner
reads them, so that they run on arrays and on Tensors (``create_graph``). On arrays, the
engine (`policies.Bookkeeping.chain_rule`) and the replay run these instead: the same
products, computed faster. tests/test_fast.py checks each against the plain backward.

Why: numpy's ``@`` computes a product whose inner dimension is 1 (the batch-1 weight
gradient, an outer product such as (200, 1) · (1, 784)) in a loop of its own, while
``np.dot`` hands every 2-D product to BLAS. On the 2-core machine of docs/performance.md,
``g @ x.T`` for g (200, 1) and x (784, 1) took 494 µs, ``np.dot(g, x.T)`` 83 µs (today:
``python benchmarks/replay_kernels.py``, "outer product"). And the
gradient of W in ``x @ W.T`` (B is a transposed view) computed as (Gᵀ·A)ᵀ is laid out like
W itself, so the update of W walks its memory in order.

`subtract_product` is used by the replay only (`replay.Trace.fused_update`), where nothing
but the update reads a weight's gradient; its docstring gives its measurement.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_edu.autograd import Function, Node
from tinygrad_edu.functions import Linear, MatMul


def is_transposed(x: np.ndarray) -> bool:
    """Whether ``x`` is laid out column by column (a transposed view, such as ``W.T``)."""
    return x.flags.f_contiguous and not x.flags.c_contiguous


def weight_gradient(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gᵀ · X through BLAS, for rows G (B, M) and X (B, N): the gradient of W in X · Wᵀ.
    The backwards below, the replay's deferred gradient and `subtract_product`'s numpy
    steps all make it here, so that they make it the same way, to the bit."""
    return np.dot(g.T, x)


def matmul_backward(ctx: Node, g: np.ndarray) -> tuple[Any, Any]:
    """`MatMul.backward` on arrays: ∂L/∂A = G · Bᵀ, ∂L/∂B = Aᵀ · G, through BLAS."""
    a, b = ctx.saved
    if a.ndim != 2 or b.ndim != 2:
        return MatMul.backward(ctx, g)  # vectors and stacks of matrices: the plain rule
    need_a, need_b = ctx.needs_input_grad
    grad_a = np.dot(g, b.T) if need_a else None
    grad_b = None
    if need_b:
        grad_b = weight_gradient(g, a).T if is_transposed(b) else np.dot(a.T, g)
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
        grad_w = weight_gradient(rows_g, rows_x)
    return grad_x, grad_w


BACKWARDS: dict[type[Function], Callable[[Node, Any], Any]] = {
    MatMul: matmul_backward,
    Linear: linear_backward,
}
"""The Functions whose backward on arrays is one of the above."""


# --------------------------------------------------------------------------- the update


def subtract_product(w: np.ndarray, lr: float, g: np.ndarray, x: np.ndarray) -> None:
    """w ← w − lr · (gᵀ · x) in place, for g of shape (B, M), x (B, N), w (M, N): a plain
    SGD step with the weight gradient of ``Linear`` (or of ``x @ W.T``), with exactly the
    numbers of the steps the engine and `optim.SGD` take: the gradient gᵀ·x, lr times it
    (in the dtype numpy promotes the two to, as SGD's buffer is), subtracted from w.

    Why: at batch 1 those steps make a weight-sized outer product, scale it and subtract it,
    three passes over memory; numpy's own BLAS does the product and the update in one
    (``gemm`` with α = −lr and β = 1, accumulating into w). benchmarks/replay_kernels.py:
    with the book's (200, 784) float64 weight on the 2-core machine of docs/performance.md,
    95 µs against the steps' 225 at batch 1, 539 against 718 at batch 64. Whether a BLAS
    rounds lr · (gᵀ · x) before it adds it to w, as numpy does, depends on its kernels (this
    one does in float64, and fuses the multiply and the add in float32): each layout (dtype
    and shapes) is tried once, on random arrays, against the three steps, and the call is
    used only where it gives the same bits. Elsewhere — no BLAS to call (another numpy
    build), a layout the call does not match, a weight too small for a call to pay
    (`_SMALLEST`) — the three steps run."""
    if _accumulates(w, lr, g, x):
        _gemm(w, -lr, g, x, 1.0)
    else:
        grad = weight_gradient(g, x)
        in_place = np.result_type(grad, lr) == grad.dtype  # a numpy float64 rate promotes
        w -= np.multiply(grad, lr, out=grad if in_place else None)


_SMALLEST = 1 << 14
"""The weight size (elements) from which `subtract_product` calls BLAS: below it the call's
own cost (about 10 µs through ctypes) is more than it saves. The book's (10, 200) output
weight at batch 1 took 19 µs by one call and 9 µs by the three numpy steps
(``python benchmarks/replay_kernels.py``, "small update")."""

_SYMBOLS: dict[np.dtype[Any], str] = {
    np.dtype(np.float64): "scipy_cblas_dgemm64_",
    np.dtype(np.float32): "scipy_cblas_sgemm64_",
}
_ROW_MAJOR, _TRANSPOSED, _AS_IS = 101, 112, 111  # CBLAS's enum values


def _load_gemm() -> dict[np.dtype[Any], Any]:
    """numpy's own BLAS (the OpenBLAS its wheels carry in ``numpy.libs``), or nothing."""
    here = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(here, "numpy.libs", "libscipy_openblas64_*"))):
        try:
            library = ctypes.CDLL(path)
            calls = {dtype: getattr(library, name) for dtype, name in _SYMBOLS.items()}
        except (OSError, AttributeError):
            continue
        for dtype, call in calls.items():
            real = ctypes.c_double if dtype == np.float64 else ctypes.c_float
            size, pointer = ctypes.c_int64, ctypes.c_void_p
            call.restype = None
            call.argtypes = [ctypes.c_int] * 3 + [size] * 3 + [real, pointer, size]
            call.argtypes += [pointer, size, real, pointer, size]
        return calls
    return {}


_GEMM: list[dict[np.dtype[Any], Any]] = []  # loaded when first needed
_VERDICTS: dict[tuple[Any, ...], bool] = {}
_VERDICTS_LOCK = threading.Lock()


def _gemm(w: np.ndarray, alpha: float, g: np.ndarray, x: np.ndarray, beta: float) -> None:
    """w ← alpha · gᵀ · x + beta · w, all C-ordered, in w's dtype."""
    (batch, rows), columns = g.shape, x.shape[1]
    _GEMM[0][w.dtype](
        _ROW_MAJOR, _TRANSPOSED, _AS_IS, rows, columns, batch, alpha,
        g.ctypes.data, rows, x.ctypes.data, columns, beta, w.ctypes.data, columns,
    )  # fmt: skip


def _accumulates(w: np.ndarray, lr: float, g: np.ndarray, x: np.ndarray) -> bool:
    """Whether `subtract_product` may update w by one BLAS call."""
    if w.size < _SMALLEST or type(lr) is not float or w.ndim != 2 or g.ndim != 2:
        return False
    if lr == 0.0 or not math.isfinite(lr):  # BLAS skips the product for α = 0: an ∞ in it
        return False  # would not turn into the NaN that numpy's 0 · ∞ gives
    dtype, (rows, columns), (batch, g_columns) = w.dtype, w.shape, g.shape
    if (
        dtype not in _SYMBOLS
        or g.dtype != dtype
        or x.dtype != dtype
        or x.shape != (batch, columns)
        or g_columns != rows
    ):
        return False
    key = (dtype, rows, columns, batch)
    if key not in _VERDICTS:
        with _VERDICTS_LOCK:
            if not _GEMM:
                _GEMM.append(_load_gemm())
            if key not in _VERDICTS:
                _VERDICTS[key] = _try(dtype, rows, columns, batch)
    if not _VERDICTS[key]:
        return False
    flags = w.flags, g.flags, x.flags
    if not all([f.c_contiguous and f.aligned for f in flags]) or not flags[0].writeable:
        return False
    return not (
        np.may_share_memory(w, g)
        or np.may_share_memory(w, x)
        or np.may_share_memory(g, x)  # numpy multiplies an array by itself otherwise (syrk)
    )


def _try(dtype: np.dtype[Any], rows: int, columns: int, batch: int) -> bool:
    """Whether one BLAS call gives the three numpy steps' bits on random arrays of this
    layout, with a learning rate that is not a power of two (which would round exactly).
    Two weight-sized arrays, once per layout."""
    if dtype not in _GEMM[0]:
        return False
    rng = np.random.default_rng(0)
    g = rng.standard_normal((batch, rows), dtype=dtype)
    x = rng.random((batch, columns), dtype=dtype)
    w = rng.standard_normal((rows, columns), dtype=dtype)
    lr = 0.0123
    expected = weight_gradient(g, x)
    np.subtract(w, np.multiply(expected, lr, out=expected), out=expected)
    _gemm(w, -lr, g, x, 1.0)
    return bool(np.array_equal(w, expected))
