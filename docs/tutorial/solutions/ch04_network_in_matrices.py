"""Solutions to the exercises of chapter 4, "The network in matrices"."""

from __future__ import annotations

import numpy as np

from tinygrad_edu import Tensor, grad


def minibatch_update(
    weights_hidden_output: np.ndarray,
    hidden: np.ndarray,
    targets: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Exercise 1: −α · ∂E/∂Wₕₒ for a minibatch, samples as the columns of ``hidden`` and
    ``targets``, E = ½Σ(T − O)² divided by the number of samples (the mean of the
    per-sample losses, so the step is the mean of the per-sample steps)."""
    w = Tensor(weights_hidden_output, requires_grad=True)
    outputs = (w @ Tensor(hidden)).sigmoid()
    samples = hidden.shape[1]
    (gradient,) = grad(0.5 * outputs.squared_error(targets) / samples, w)
    assert gradient is not None
    return -learning_rate * gradient.data


def hidden_weight_update(
    weights_input_hidden: np.ndarray,
    weights_hidden_output: np.ndarray,
    inputs: np.ndarray,
    targets: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Exercise 2: −α · ∂E/∂Wᵢₕ for the book's two-layer network, E = ½Σ(t − o)²."""
    w_ih = Tensor(weights_input_hidden, requires_grad=True)
    hidden = (w_ih @ Tensor(inputs)).sigmoid()
    outputs = (Tensor(weights_hidden_output) @ hidden).sigmoid()
    (gradient,) = grad(0.5 * outputs.squared_error(targets), w_ih)
    assert gradient is not None
    return -learning_rate * gradient.data


def steps_with_and_without_the_half(
    weights_hidden_output: np.ndarray,
    hidden: np.ndarray,
    targets: np.ndarray,
    learning_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Exercise 3: the new Wₕₒ after one step on Σ(t − o)² with α/2, and after one step
    on ½Σ(t − o)² with α. They are the same matrix."""
    new_weights = []
    for half, rate in ((False, learning_rate / 2), (True, learning_rate)):
        w = Tensor(weights_hidden_output, requires_grad=True)
        error = (w @ Tensor(hidden)).sigmoid().squared_error(targets)
        (gradient,) = grad(0.5 * error if half else error, w)
        assert gradient is not None
        new_weights.append(weights_hidden_output - rate * gradient.data)
    return new_weights[0], new_weights[1]
