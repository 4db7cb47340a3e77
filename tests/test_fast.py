"""fast.py: the BLAS backwards of MatMul and Linear against the plain ones in functions.py,
and `subtract_product` against the three numpy steps that it stands for, bit for bit."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tinygrad_edu import fast
from tinygrad_edu.functions import Linear, MatMul
from tinygrad_edu.optim import subtract_scaled
from tinygrad_edu.replay import _Context


def three_numpy_steps(w, lr, g, x):
    """What eager training does: the engine's backward of Linear on arrays makes W's
    gradient, and optim.SGD's step subtracts lr times it (`optim.subtract_scaled`)."""
    ctx = _Context((False, True))
    ctx.save_for_backward(x, w)
    _, grad = fast.linear_backward(ctx, g)
    subtract_scaled(w, lr, grad)


def arrays(dtype, batch, rows, columns, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(batch, rows)).astype(dtype)
    x = rng.random((batch, columns)).astype(dtype)
    w = rng.normal(size=(rows, columns)).astype(dtype)
    return w, g, x


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "batch, rows, columns",
    [(1, 200, 784), (3, 200, 784), (64, 200, 784), (1, 10, 200), (2, 130, 129), (700, 128, 128)],
)
def test_subtract_product_gives_the_bits_of_the_three_numpy_steps(dtype, batch, rows, columns):
    w, g, x = arrays(dtype, batch, rows, columns)
    expected = w.copy()
    three_numpy_steps(expected, 0.01, g, x)
    for _ in range(2):  # the call that tries the layout, and one that uses the verdict
        mine = w.copy()
        fast.subtract_product(mine, 0.01, g, x)
        assert mine.dtype == expected.dtype
        np.testing.assert_array_equal(mine, expected)


def strided(w, g, x):
    wide = np.repeat(g, 2, axis=1)  # each column twice: [:, ::2] holds g's numbers, strided
    return w, wide[:, ::2], x


def rows_with_gaps(w, g, x):
    wider = np.zeros((w.shape[0], w.shape[1] + 16))
    wider[:, : w.shape[1]] = w
    return wider[:, : w.shape[1]], g, x


@pytest.mark.parametrize(
    "change",
    [
        strided,
        lambda w, g, x: (w, np.asfortranarray(g), x),
        lambda w, g, x: (w, g.astype(np.float32), x),
        lambda w, g, x: (w, g, w[: len(g)]),
        rows_with_gaps,
    ],
    ids=["strided-g", "fortran-order-g", "mixed-dtypes", "x-is-part-of-w", "w-with-gaps"],
)
def test_arrays_a_blas_call_cannot_take_get_the_numpy_steps(change):
    w, g, x = change(*arrays("float64", 3, 200, 784))
    expected = w.copy()
    three_numpy_steps(expected, 0.01, g, x.copy())  # the product is made before w changes
    fast.subtract_product(w, 0.01, g, x)
    np.testing.assert_array_equal(w, expected)


@pytest.mark.parametrize("lr", [0.0, -0.0, np.inf, np.nan, -0.01])
@pytest.mark.parametrize("bad", [np.inf, np.nan, None], ids=["inf", "nan", "finite"])
def test_special_learning_rates_and_gradients_give_numpys_numbers(lr, bad):
    # a BLAS skips the product when α = 0, where numpy's 0 · ∞ is NaN
    w, g, x = arrays("float64", 1, 200, 784)
    if bad is not None:
        g[0, 3] = bad
    expected = w.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        three_numpy_steps(expected, lr, g, x)
        fast.subtract_product(w, lr, g, x)
    np.testing.assert_array_equal(w, expected)  # NaN where NaN, the same bits elsewhere


def test_a_learning_rate_of_another_type_gives_sgds_numbers():
    # a float64 learning rate makes numpy compute lr·g of float32 arrays in float64
    w, g, x = arrays("float32", 1, 200, 784)
    expected = w.copy()
    three_numpy_steps(expected, np.float64(0.01), g, x)
    fast.subtract_product(w, np.float64(0.01), g, x)
    np.testing.assert_array_equal(w, expected)


def test_a_blas_that_rounds_otherwise_is_not_used(monkeypatch):
    """A BLAS whose update is off by a unit in the last place (as one that fuses the
    multiply and the add is) fails the layout's trial: the numpy steps run."""
    calls = []

    def off_by_a_little(w, alpha, g, x, beta):
        calls.append((alpha, beta))
        w[...] = np.nextafter(alpha * np.dot(g.T, x) + beta * w, np.inf)

    monkeypatch.setattr(fast, "_gemm", off_by_a_little)
    monkeypatch.setattr(fast, "_VERDICTS", {})
    w, g, x = arrays("float64", 1, 200, 784)
    expected = w.copy()
    three_numpy_steps(expected, 0.01, g, x)
    fast.subtract_product(w, 0.01, g, x)
    np.testing.assert_array_equal(w, expected)
    if fast._GEMM[0]:  # this numpy's BLAS was found: the call was tried once, and refused
        assert len(calls) == 1
        assert list(fast._VERDICTS.items()) == [((np.dtype("float64"), 200, 784, 1), False)]
    fast.subtract_product(w, 0.01, g, x)
    assert len(calls) <= 1  # the verdict is kept


def test_trying_a_layout_holds_two_weight_sized_arrays_once():
    w, g, x = arrays("float64", 1, 256, 512, seed=3)
    fast._VERDICTS.pop((w.dtype, 256, 512, 1), None)
    tracemalloc.start()
    try:
        fast.subtract_product(w, 0.01, g, x)
        trying = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        fast.subtract_product(w, 0.01, g, x)
        using = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    small = g.nbytes + x.nbytes + w.size  # the trial's random g and x; a comparison's bools
    assert trying <= 2 * w.nbytes + small + 4096
    assert using <= w.nbytes + 4096  # at most the gradient, where the numpy steps run


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "a_shape, b_shape, transposed",
    [((1, 784), (784, 200), True), ((5, 3), (3, 4), False), ((5, 3), (3, 4), True)],
)
def test_the_blas_matmul_backward_is_the_plain_one(dtype, a_shape, b_shape, transposed):
    rng = np.random.default_rng(4)
    a = rng.normal(size=a_shape).astype(dtype)
    b = rng.normal(size=b_shape[::-1]).astype(dtype).T if transposed else rng.normal(size=b_shape)
    b = b.astype(dtype, copy=False)
    g = rng.normal(size=(a_shape[0], b_shape[1])).astype(dtype)
    ctx = _Context((True, True))
    ctx.save_for_backward(a, b)
    for mine, plain in zip(fast.matmul_backward(ctx, g), MatMul.backward(ctx, g), strict=True):
        np.testing.assert_allclose(mine, plain, rtol=1e-5 if dtype == "float32" else 1e-12)
        assert mine.dtype == plain.dtype and mine.shape == plain.shape


@pytest.mark.parametrize("x_shape", [(1, 784), (7, 784), (2, 3, 784)])
def test_the_blas_linear_backward_is_the_plain_one(x_shape):
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=x_shape), rng.normal(size=(200, 784))
    g = rng.normal(size=(*x_shape[:-1], 200))
    ctx = _Context((True, True))
    ctx.save_for_backward(x, w)
    for mine, plain in zip(fast.linear_backward(ctx, g), Linear.backward(ctx, g), strict=True):
        np.testing.assert_allclose(mine, plain, rtol=1e-12, atol=1e-12)
        assert mine.shape == plain.shape
