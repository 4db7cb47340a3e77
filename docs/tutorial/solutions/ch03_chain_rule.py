"""Solutions to the exercises of chapter 3, "The chain rule for one weight".

Run it: ``python docs/tutorial/solutions/ch03_chain_rule.py``. Each solution is a function
that returns its numbers, so that ``tests/test_tutorial.py`` can check them
against hand calculations and finite differences.
"""

import math

import numpy as np

from tinygrad_edu import proofs, textbook
from tinygrad_edu.explore import explore


def other_weight(learning_rate: float = 0.1) -> tuple[float, float]:
    """Exercise 1: ∂E/∂w₂₁ and the new w₂₁.

    Only the last factor changes: w₂₁ multiplies hidden node 2's output oⱼ = 0.5, not hidden
    node 1's 0.4. The error and the sigmoid's slope are those of the same output node.
    """
    output = 1 / (1 + math.exp(-(2.0 * 0.4 + 3.0 * 0.5)))
    gradient = -0.8 * output * (1 - output) * 0.5
    return gradient, 3.0 - learning_rate * gradient


def without_the_half() -> tuple[float, float, float]:
    """Exercise 2: with E = (t − o)², the square's 2 is no longer cancelled, so the gradient
    doubles: 2 · (−0.0265) = −0.0530. Returns (the prediction, autodiff's value, the central
    difference of E in w₁₁, built from given weights with the text's target kept fixed)."""
    prediction = 2 * textbook.worked_example().gradient
    loss, weights = proofs.worked_example_network(half=False)
    loss.backward()
    assert weights.grad is not None

    def error(w11: float) -> float:
        return proofs.worked_example_network(half=False, weights=(w11, 3.0))[0].item()

    h = 1e-6
    numerical = (error(2.0 + h) - error(2.0 - h)) / (2 * h)
    return prediction, float(weights.grad[0, 0]), numerical


def book_network_steps(seed: int = 0) -> dict[str, np.ndarray]:
    """Exercise 3: read two steps of the explorer of the book's network.

    At SquaredErrorBackward, the loss ½Σ(t − o)² sends ½ · 2(o − t) = o − t to
    final_outputs. At the step that fills W_ho.grad, the value is the book's matrix form
    ((o − t) · o(1 − o)) · hidden_outputsᵀ (the book writes it with E = t − o and the
    opposite sign, because it adds α·that to the weights).
    """
    loss = proofs.book_network_loss(seed)
    page = explore(loss)
    named = proofs.tensors_by_name(loss)
    (squared_error_step,) = [s for s in page.backward_steps if s.output is named["squared_error"]]
    sent_to_outputs = squared_error_step.sends[0].gradient
    to_w_ho = [
        send for s in page.backward_steps for send in s.sends if send.tensor is named["W_ho"]
    ]
    o, t, hidden = (named[n].data for n in ("final_outputs", "targets", "hidden_outputs"))
    assert sent_to_outputs is not None and to_w_ho[-1].total is not None
    return {
        "sent_to_final_outputs": sent_to_outputs,
        "o_minus_t": o - t,
        "w_ho_grad": to_w_ho[-1].total,
        "book_matrix_form": ((o - t) * o * (1 - o)) @ hidden.T,
    }


if __name__ == "__main__":
    gradient, new_w21 = other_weight()
    print(f"1. ∂E/∂w₂₁ = {gradient:.6f}, new w₂₁ = {new_w21:.5f}")
    prediction, autodiff = without_the_half()
    print(f"2. predicted {prediction:.6f}, autodiff {autodiff:.6f}")
    steps = book_network_steps()
    print("3. sent to final_outputs:", steps["sent_to_final_outputs"].ravel())
    print("   o − t:                 ", steps["o_minus_t"].ravel())
    print(
        "   W_ho.grad equals the book's matrix form:",
        bool(np.allclose(steps["w_ho_grad"], steps["book_matrix_form"])),
    )
