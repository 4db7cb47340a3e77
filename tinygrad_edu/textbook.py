"""The source texts' backpropagation formulas as plain numpy, in the book's notation.

Column vectors throughout, as in "Make Your Own Neural Network": inputs and outputs have
shape (n, 1), ``W_ih`` has shape (hidden, inputs) and ``W_ho`` (outputs, hidden), so a
layer computes ``O = σ(W · O_j)``. Nothing here uses autodiff: these are the hand-derived
claims that the tests check the engine against (and, where a text slips, the engine
against them).

The texts' error function is E = ½Σ(t − o)² (see DESIGN.md, "The loss and the factor 2"):
every gradient below is a gradient of that E.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def sigmoid(x: Array) -> Array:
    """σ(x) = 1 / (1 + e⁻ˣ)."""
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x: Array) -> Array:
    """dσ/dx = σ(x)·(1 − σ(x)) — both texts use this identity."""
    s = sigmoid(x)
    return s * (1 - s)


def hidden_errors(weights_hidden_output: Array, output_errors: Array) -> Array:
    """error_hidden = W_hoᵀ · error_output (the book's "backpropagating errors with matrix
    multiplication": the output errors split back along the links, unnormalised)."""
    return weights_hidden_output.T @ output_errors


def weight_update(
    errors: Array, outputs: Array, previous_outputs: Array, learning_rate: float
) -> Array:
    """ΔW = α · (E ∗ O(1 − O)) · O_jᵀ — the book's matrix form of the update.

    ``errors`` E and ``outputs`` O belong to the layer the weights feed (the "next" layer),
    ``previous_outputs`` O_j to the layer they come from. With E = t − o this is
    −α·∂E/∂W for E = ½Σ(t − o)², added to W.
    """
    return learning_rate * (errors * outputs * (1 - outputs)) @ previous_outputs.T


def forward(
    weights_input_hidden: Array, weights_hidden_output: Array, inputs: Array
) -> tuple[Array, Array]:
    """The book's ``query``: hidden = σ(W_ih · x), outputs = σ(W_ho · hidden)."""
    hidden = sigmoid(weights_input_hidden @ inputs)
    return hidden, sigmoid(weights_hidden_output @ hidden)


def exact_weight_updates(
    weights_input_hidden: Array,
    weights_hidden_output: Array,
    inputs: Array,
    targets: Array,
    learning_rate: float,
) -> tuple[Array, Array]:
    """(ΔW_ih, ΔW_ho) of one gradient-descent step on E = ½Σ(t − o)²: −α·∂E/∂W.

    The output layer is the book's rule. For the hidden layer the error that flows back is
    the output error times the output sigmoid's slope, W_hoᵀ · (e ∗ o(1 − o)): the chain
    rule passes through the output sigmoid before it reaches W_ho.
    """
    hidden, outputs = forward(weights_input_hidden, weights_hidden_output, inputs)
    output_errors = targets - outputs
    delta_ho = weight_update(output_errors, outputs, hidden, learning_rate)
    backpropagated = hidden_errors(weights_hidden_output, output_errors * outputs * (1 - outputs))
    delta_ih = weight_update(backpropagated, hidden, inputs, learning_rate)
    return delta_ih, delta_ho


def book_weight_updates(
    weights_input_hidden: Array,
    weights_hidden_output: Array,
    inputs: Array,
    targets: Array,
    learning_rate: float,
) -> tuple[Array, Array]:
    """(ΔW_ih, ΔW_ho) as the book's ``neuralNetwork.train`` computes them.

    Identical to `exact_weight_updates` for W_ho; for W_ih the book back-propagates the raw
    output error, hidden_errors = W_hoᵀ · (t − o), without the output sigmoid's slope — so
    its hidden-layer step is not the gradient of its own E.
    """
    hidden, outputs = forward(weights_input_hidden, weights_hidden_output, inputs)
    output_errors = targets - outputs
    delta_ho = weight_update(output_errors, outputs, hidden, learning_rate)
    delta_ih = weight_update(
        hidden_errors(weights_hidden_output, output_errors), hidden, inputs, learning_rate
    )
    return delta_ih, delta_ho
