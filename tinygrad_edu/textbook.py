"""The source texts' backpropagation formulas as plain numpy, in the book's notation.

Column vectors throughout, as in "Make Your Own Neural Network": inputs and outputs have
shape (n, 1), ``W_ih`` has shape (hidden, inputs) and ``W_ho`` (outputs, hidden), so a
layer computes ``O = σ(W · Oⱼ)``. Nothing here uses autodiff, and nothing here imports
the engine: these are the hand-derived claims, the worked example's arithmetic and the
errata's one-line summaries. `tinygrad_edu.proofs` builds the same examples as graphs and
checks each claim against the engine.

Every gradient below is a gradient of E = ½Σ(t − o)²: python-course.eu's error function,
and the loss whose gradient the book's formulas are (the book writes E = Σ(t − o)² and then
drops the 2 of its derivative, erratum E3; docs/design.md, "The loss and the factor 2").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray


BOOK = (
    'T. Rashid, "Make Your Own Neural Network", pp. 80–100, as a reader\'s study notes quote '
    "its formulas"
)
"""What the project calls "the book"."""

COURSE = 'the chapter "Backpropagation in Neural Networks" of its neural network tutorial'
"""The second source text, called "python-course.eu" where a formula is quoted from it."""

ERRATA: dict[str, str] = {
    "E1": "the proportional split Σₖ eₖ·wⱼₖ/Σᵢwᵢₖ is not −∂E/∂h, nor Wₕₒᵀ·e rescaled: "
    "each output has its own denominator",
    "E2": "python-course.eu divides both columns by Σᵢwᵢ₁ and prints w₂₂ where w₄₂ belongs",
    "E3": "the book's E = Σ(t − o)² gives −2(t − o)·…; the 2 is dropped, so its formulas are "
    "gradients of ½Σ(t − o)²",
    "E4": "a repeated line of the book ends in '+ oⱼ' where '· oⱼ' belongs",
    "E5": "python-course.eu drops the minus sign: ∂E/∂oⱼ = −(tⱼ − oⱼ)",
    "E6": "python-course.eu ends in oⱼ where hᵢ, the input of the weight, belongs",
    "E7": "the book calls gradient descent 'Newton Method'",
    "E8": "the book's code sends Wₕₒᵀ·e back without the output slope o(1 − o): not the "
    "gradient of its own E (it is the cross-entropy gradient)",
    "E9": "the worked example's e₁ = 0.8 with oₖ = 0.909 needs a target of 1.709, outside a "
    "sigmoid's range; its product −0.0265 is right, but the slope 0.083 printed beside it is "
    "rounded (as printed, the factors give −0.02656)",
    "E10": "notation: an index both summed and free, one symbol for two things",
}
"""Each erratum of docs/errata.md in one line: what the slip is."""


def errata_summary(ids: str) -> str:
    """ "E5, E6" → "E5: python-course.eu drops …; E6: …"."""
    return "; ".join(f"{i}: {ERRATA[i]}" for i in (part.strip() for part in ids.split(",")) if i)


def sigmoid(x: Array) -> Array:
    """σ(x) = 1 / (1 + e⁻ˣ)."""
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x: Array) -> Array:
    """dσ/dx = σ(x)·(1 − σ(x)) — both texts use this identity."""
    s = sigmoid(x)
    return s * (1 - s)


def hidden_errors(weights_hidden_output: Array, output_errors: Array) -> Array:
    """The hidden errors Wₕₒᵀ · e, e the output errors (the book's "backpropagating errors
    with matrix multiplication": the output errors split back along the links,
    unnormalised)."""
    return weights_hidden_output.T @ output_errors


def proportional_hidden_errors(weights_hidden_output: Array, output_errors: Array) -> Array:
    """The texts' starting point: each output error eₖ is split back along its incoming
    links in proportion to their weights, so hidden node j receives
    Σₖ eₖ · wⱼₖ / Σᵢ wᵢₖ  (wⱼₖ: hidden j → output k, which is ``W_ho[k, j]``).

    The book writes it as the matrix with entries w₁₁/(w₁₁+w₂₁), w₁₂/(w₁₂+w₂₂), …;
    python-course.eu as e₁·w₁₁/Σᵢwᵢ₁ (0.08 · 0.6/1.3 = 0.037). Dropping the denominators gives
    `hidden_errors`; neither is the gradient (see docs/errata.md).
    """
    shares = weights_hidden_output / weights_hidden_output.sum(axis=1, keepdims=True)
    return shares.T @ output_errors


def output_weight_gradient(targets: Array, outputs: Array, previous_outputs: Array) -> Array:
    """∂E/∂wⱼₖ = −(tₖ − oₖ) · oₖ(1 − oₖ) · oⱼ for a sigmoid layer, E = ½Σ(t − o)²
    (the book's result, with "· oⱼ"; rows k, columns j, like the weight matrix)."""
    return -((targets - outputs) * outputs * (1 - outputs)) @ previous_outputs.T


def course_output_weight_gradient_as_printed(targets: Array, outputs: Array) -> Array:
    """python-course.eu's last formula exactly as printed: ∂E/∂wᵢⱼ = (tⱼ − oⱼ)·σ(1 − σ)·oⱼ.

    Its sign is flipped (∂E/∂oⱼ = −(tⱼ − oⱼ)) and its last factor is oⱼ where the
    input of the weight, hᵢ, belongs; it does not depend on i at all. Returned as a
    column (one value per output j) to show what it says; compare `output_weight_gradient`.
    """
    return (targets - outputs) * outputs * (1 - outputs) * outputs


def weight_update(
    errors: Array, outputs: Array, previous_outputs: Array, learning_rate: float
) -> Array:
    """ΔW = α · (E ∗ O(1 − O)) · Oⱼᵀ — the book's matrix form of the update.

    ``errors`` E and ``outputs`` O belong to the layer the weights feed (the "next" layer),
    ``previous_outputs`` Oⱼ to the layer they come from. With E = t − o this is
    −α·∂E/∂W for E = ½Σ(t − o)², added to W.
    """
    return learning_rate * (errors * outputs * (1 - outputs)) @ previous_outputs.T


def forward(
    weights_input_hidden: Array, weights_hidden_output: Array, inputs: Array
) -> tuple[Array, Array]:
    """The book's ``query``: hidden = σ(Wᵢₕ · x), outputs = σ(Wₕₒ · hidden)."""
    hidden = sigmoid(weights_input_hidden @ inputs)
    return hidden, sigmoid(weights_hidden_output @ hidden)


def exact_weight_updates(
    weights_input_hidden: Array,
    weights_hidden_output: Array,
    inputs: Array,
    targets: Array,
    learning_rate: float,
) -> tuple[Array, Array]:
    """(ΔWᵢₕ, ΔWₕₒ) of one gradient-descent step on E = ½Σ(t − o)²: −α·∂E/∂W.

    The output layer is the book's rule. For the hidden layer the error that flows back is
    the output error times the output sigmoid's slope, Wₕₒᵀ · (e ∗ o(1 − o)): the chain
    rule passes through the output sigmoid before it reaches Wₕₒ.
    """
    return _two_layer_updates(
        weights_input_hidden, weights_hidden_output, inputs, targets, learning_rate, True
    )


def book_weight_updates(
    weights_input_hidden: Array,
    weights_hidden_output: Array,
    inputs: Array,
    targets: Array,
    learning_rate: float,
) -> tuple[Array, Array]:
    """(ΔWᵢₕ, ΔWₕₒ) as the book's ``neuralNetwork.train`` computes them.

    Identical to `exact_weight_updates` for Wₕₒ; for Wᵢₕ the book back-propagates the raw
    output error, hidden_errors = Wₕₒᵀ · (t − o), without the output sigmoid's slope — so
    its hidden-layer step is not the gradient of its own E.
    """
    return _two_layer_updates(
        weights_input_hidden, weights_hidden_output, inputs, targets, learning_rate, False
    )


def _two_layer_updates(
    weights_input_hidden: Array,
    weights_hidden_output: Array,
    inputs: Array,
    targets: Array,
    learning_rate: float,
    through_output_slope: bool,
) -> tuple[Array, Array]:
    """(ΔWᵢₕ, ΔWₕₒ); the hidden layer receives Wₕₒᵀ·(e ∗ o(1 − o)) or Wₕₒᵀ·e."""
    hidden, outputs = forward(weights_input_hidden, weights_hidden_output, inputs)
    output_errors = targets - outputs
    delta_ho = weight_update(output_errors, outputs, hidden, learning_rate)
    sent_back = output_errors * outputs * (1 - outputs) if through_output_slope else output_errors
    delta_ih = weight_update(
        hidden_errors(weights_hidden_output, sent_back), hidden, inputs, learning_rate
    )
    return delta_ih, delta_ho


@dataclass(frozen=True)
class WorkedExample:
    """The numbers of the book's worked example, each computed from the givens, unrounded:
    the text's product −0.0265 and new weight 2.00265 are these; the slope it prints beside
    them, 0.083, is rounded (erratum E9)."""

    weighted_sum: float  # Σⱼ wⱼ₁ · oⱼ = 2.0·0.4 + 3.0·0.5 = 2.3
    output: float  # oₖ = σ(2.3) ≈ 0.909, the output node's output
    slope: float  # oₖ(1 − oₖ) ≈ 0.0828 (the text: 0.083)
    gradient: float  # ∂E/∂w₁₁ = −e₁ · slope · oⱼ ≈ −0.026502 (oⱼ = 0.4, hidden node 1)
    new_weight: float  # w₁₁ − α·∂E/∂w₁₁ ≈ 2.002650


def worked_example(
    w11: float = 2.0,
    w21: float = 3.0,
    hidden_outputs: tuple[float, float] = (0.4, 0.5),
    error: float = 0.8,
    learning_rate: float = 0.1,
) -> WorkedExample:
    """The book's "Weight Update Worked Example": updating w₁₁ (hidden 1 → output 1).

    ``hidden_outputs`` are the oⱼ of hidden nodes 1 and 2. The text takes the output error
    e₁ = t₁ − oₖ = 0.8 as given (from an earlier example), although oₖ = σ(2.3) ≈ 0.909
    would need a target of 1.709, outside a sigmoid's range (erratum E9).
    """
    weighted_sum = w11 * hidden_outputs[0] + w21 * hidden_outputs[1]
    output = float(sigmoid(np.array(weighted_sum)))
    slope = output * (1 - output)
    gradient = -error * slope * hidden_outputs[0]
    return WorkedExample(
        weighted_sum=weighted_sum,
        output=output,
        slope=slope,
        gradient=gradient,
        new_weight=w11 - learning_rate * gradient,
    )
