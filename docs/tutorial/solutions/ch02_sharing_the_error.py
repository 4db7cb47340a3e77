"""Solutions to the exercises of chapter 2, "The error, and how it is shared out"."""

from __future__ import annotations

import numpy as np

from tinygrad_edu import Tensor, grad


def proportional_split(weights_hidden_output: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Exercise 1: hidden node j receives Σₖ eₖ · wⱼₖ / Σᵢ wᵢₖ.

    Rows of ``weights_hidden_output`` are output nodes (wⱼₖ is ``W_ho[k, j]``), so output
    k's denominator is the sum of row k.
    """
    shares = weights_hidden_output / weights_hidden_output.sum(axis=1, keepdims=True)
    return shares.T @ errors


def opposite_signs() -> tuple[np.ndarray, np.ndarray]:
    """Exercise 2: positive weights and errors for which each hidden node gets a positive
    share from the split and a negative one from the transpose rule.

    Output 1 has a small sum of weights (1.0) and a positive error, output 2 a large sum
    (10.0) and a negative error. The split divides output 2's error by 10, so output 1
    wins; the transpose rule does not divide, so output 2 wins.
    """
    weights = np.array([[0.5, 0.5], [5.0, 5.0]])  # outputs × hidden, all positive
    errors = np.array([[0.1], [-0.05]])
    return weights, errors


def hidden_error(
    weights_hidden_output: np.ndarray, hidden: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Exercise 3: −∂E/∂h for a sigmoid output layer o = σ(Wₕₒ · h), E = ½Σ(t − o)²."""
    h = Tensor(hidden, requires_grad=True)
    outputs = (Tensor(weights_hidden_output) @ h).sigmoid()
    (gradient,) = grad(0.5 * outputs.squared_error(targets), h)
    assert gradient is not None
    return -gradient.data
