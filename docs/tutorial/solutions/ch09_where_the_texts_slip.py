"""Solutions to the exercises of chapter 9, "Where the texts slip"."""

from __future__ import annotations

import numpy as np

from tinygrad_edu import Tensor, grad

HIDDEN = ((0.4,), (0.5,))  # the worked example's hidden outputs oⱼ, a column
LEARNING_RATE = 0.1


def worked_example_three_ways() -> dict[str, tuple[float, float]]:
    """Exercise 1: (∂E/∂w₁₁, new w₁₁) of the book's worked example computed three ways:
    with the unrounded slope, with the text's rounded factors (0.083), and with E4's
    "+ oⱼ" in place of "· oⱼ"."""
    output = 1 / (1 + np.exp(-(2.0 * 0.4 + 3.0 * 0.5)))
    slope = output * (1 - output)
    gradients = {
        "unrounded": -0.8 * slope * 0.4,
        "rounded": -0.8 * 0.083 * 0.4,
        "plus o_j": -0.8 * slope + 0.4,
    }
    return {name: (float(g), float(2.0 - LEARNING_RATE * g)) for name, g in gradients.items()}


def consistent_gradients(target: float = 0.99) -> np.ndarray:
    """Exercise 2: (∂E/∂w₁₁, ∂E/∂w₂₁) of the worked example with a reachable target,
    E = ½(t₁ − oₖ)², by autodiff."""
    weights = Tensor([[2.0, 3.0]], requires_grad=True)
    output = (weights @ Tensor(HIDDEN)).sigmoid()
    (gradient,) = grad(0.5 * output.squared_error(np.array([[target]])), weights)
    assert gradient is not None
    return gradient.data.ravel()


def newton_step(w11: float, target: float) -> float:
    """Exercise 3: one Newton step w₁₁ − E′/E″ on E = ½(t₁ − σ(w₁₁·0.4 + 3.0·0.5))².

    From w₁₁ = 2.0 with the text's target (1.709, out of a sigmoid's reach) w₁₁ grows by
    about 2.5 per step without end: oₖ creeps towards 1 and E never reaches 0. With
    t₁ = 0.99 the steps converge to w₁₁ = (ln 99 − 1.5)/0.4 ≈ 7.738, where oₖ = 0.99.
    """
    weights = Tensor([[w11, 3.0]], requires_grad=True)
    output = (weights @ Tensor(HIDDEN)).sigmoid()
    loss = 0.5 * output.squared_error(np.array([[target]]))
    (first,) = grad(loss, weights, create_graph=True)
    assert first is not None
    (second,) = grad(first[0, 0], weights)
    assert second is not None
    return float(w11 - first.data[0, 0] / second.data[0, 0])
