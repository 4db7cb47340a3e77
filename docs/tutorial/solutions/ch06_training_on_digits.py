"""Solutions to the exercises of chapter 6, "Training on real handwritten digits"."""

from __future__ import annotations

import numpy as np

from tinygrad_edu import Tensor, grad


def _binary_cross_entropy(outputs: Tensor, targets: np.ndarray) -> Tensor:
    """L = −Σ [t ln o + (1 − t) ln(1 − o)]."""
    return -(targets * outputs.log() + (1 - targets) * (1 - outputs).log()).sum()


def cross_entropy_hidden_update(
    weights_input_hidden: np.ndarray,
    weights_hidden_output: np.ndarray,
    inputs: np.ndarray,
    targets: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Exercise 1: −α · ∂L/∂Wᵢₕ for the binary cross-entropy L of the book's network (the
    book's own hidden-layer update, erratum E8)."""
    w_ih = Tensor(weights_input_hidden, requires_grad=True)
    hidden = (w_ih @ Tensor(inputs)).sigmoid()
    outputs = (Tensor(weights_hidden_output) @ hidden).sigmoid()
    (gradient,) = grad(_binary_cross_entropy(outputs, targets), w_ih)
    assert gradient is not None
    return -learning_rate * gradient.data


def accuracy_per_digit(confusion: np.ndarray) -> np.ndarray:
    """Exercise 2: for each true digit, the fraction of its test samples predicted right
    (the diagonal of ``confusion[true, predicted]`` over its row sums). The hardest digit
    is ``accuracy_per_digit(result.confusion).argmin()``."""
    confusion = np.asarray(confusion, dtype=np.float64)
    return np.diag(confusion) / confusion.sum(axis=1)


def output_gradients(z: float, target: float) -> tuple[float, float]:
    """Exercise 3: (∂E/∂z, ∂L/∂z) for o = σ(z), E = ½(t − o)², L the cross-entropy.

    The first is −(t − o)·o(1 − o), the second o − t: at z = −6 and t = 0.99 the second is
    1/(o(1 − o)) ≈ 405 times larger, so the cross-entropy corrects a saturated output fast,
    the squared error hardly at all.
    """
    results = []
    for loss_of in (
        lambda o: 0.5 * o.squared_error(np.array(target)),
        lambda o: _binary_cross_entropy(o, np.array(target)),
    ):
        weighted_input = Tensor(float(z), requires_grad=True)
        (gradient,) = grad(loss_of(weighted_input.sigmoid()), weighted_input)
        assert gradient is not None
        results.append(float(gradient.data))
    return results[0], results[1]
