"""Solutions to the exercises of chapter 7, "Checking gradients"."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import given, settings

from tinygrad_edu import Tensor
from tinygrad_edu.testing import strategies as tst

Formula = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def central_difference(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Exercise 1: ∂(Σ f(x))/∂x by central differences, one element at a time.

    For an elementwise f (like ``np.sin``) this is f′ at every element.
    """
    x = np.array(x, dtype=np.float64)
    result = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        above, below = x.copy(), x.copy()
        above[index] += eps
        below[index] -= eps
        result[index] = (np.sum(f(above)) - np.sum(f(below))) / (2 * eps)
    return result


def error_orders(
    f: Callable[[float], float], derivative: Callable[[float], float], x: float
) -> tuple[float, float]:
    """Exercise 2: the slopes of log(error) against log(ε) for the forward and the central
    difference, over ε = 1e-1 … 1e-4 (before rounding errors take over): about 1 and 2."""
    steps = 10.0 ** -np.arange(1.0, 5.0)
    exact = derivative(x)
    forward = [abs((f(x + h) - f(x)) / h - exact) for h in steps]
    central = [abs((f(x + h) - f(x - h)) / (2 * h) - exact) for h in steps]
    forward_order = np.polyfit(np.log(steps), np.log(forward), 1)[0]
    central_order = np.polyfit(np.log(steps), np.log(central), 1)[0]
    return float(forward_order), float(central_order)


def formula_matches_autodiff(formula: Formula, examples: int = 20) -> Callable[[], None]:
    """Exercise 3: a Hypothesis test that ``formula(t, o, o_j)`` is ∂E/∂W for one sigmoid
    layer o = σ(W · oⱼ), E = ½Σ(t − o)², on random networks. Call the result to run it;
    it raises AssertionError (with a shrunk example) where the formula is wrong."""

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    @given(tst.networks(min_layers=1, max_layers=1))
    def test_formula(network: tst.Network) -> None:
        weights = Tensor(network.weights[0], requires_grad=True)
        network.loss(weights).backward()
        outputs = 1 / (1 + np.exp(-network.weights[0] @ network.inputs))
        claimed = formula(network.targets, outputs, network.inputs)
        np.testing.assert_allclose(claimed, weights.grad, atol=1e-12)

    return test_formula
