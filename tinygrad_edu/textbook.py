"""The source texts' backpropagation formulas as plain numpy, in the book's notation.

Column vectors throughout, as in "Make Your Own Neural Network": inputs and outputs have
shape (n, 1), ``W_ih`` has shape (hidden, inputs) and ``W_ho`` (outputs, hidden), so a
layer computes ``O = σ(W · O_j)``. Nothing here uses autodiff: these are the hand-derived
claims that the tests check the engine against (and, where a text slips, the engine
against them).

`book_network` builds the book's small network with Tensors, so that its graph can be
differentiated, drawn and compared with these formulas.

The texts' error function is E = ½Σ(t − o)² (see DESIGN.md, "The loss and the factor 2"):
every gradient below is a gradient of that E.
"""

from __future__ import annotations

import numpy as np

from tinygrad_edu.tensor import Tensor

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


# --------------------------------------------------------------------------- the graph


def book_network(seed: int = 0, *, retain_grad: bool = False) -> Tensor:
    """The book's 3-3-3 sigmoid network on one sample, in its column layout, as a graph:
    returns loss = ½Σ(t − o)² (``0.5 * final_outputs.squared_error(targets)``), not yet
    differentiated.

    Tensors carry the book's names: W_ih, W_ho (drawn from N(0, 1/3) with ``seed``, as
    ``tinygrad-edu demo`` draws them), inputs, targets, hidden_inputs, hidden_outputs,
    final_inputs, final_outputs, squared_error, loss. ``retain_grad=True`` keeps the
    gradient of every intermediate tensor after ``backward()``, so that a drawing shows the
    errors flowing back.
    """
    rng = np.random.default_rng(seed)
    nodes = 3
    w_ih = Tensor(rng.normal(0, nodes**-0.5, (nodes, nodes)), requires_grad=True, name="W_ih")
    w_ho = Tensor(rng.normal(0, nodes**-0.5, (nodes, nodes)), requires_grad=True, name="W_ho")
    inputs = Tensor([[0.9], [0.1], [0.8]], name="inputs")
    targets = Tensor([[0.01], [0.99], [0.01]], name="targets")

    hidden_inputs = _named(w_ih @ inputs, "hidden_inputs")
    hidden_outputs = _named(hidden_inputs.sigmoid(), "hidden_outputs")
    final_inputs = _named(w_ho @ hidden_outputs, "final_inputs")
    final_outputs = _named(final_inputs.sigmoid(), "final_outputs")
    squared_error = _named(final_outputs.squared_error(targets), "squared_error")
    loss = _named(0.5 * squared_error, "loss")
    if retain_grad:
        for t in (hidden_inputs, hidden_outputs, final_inputs, final_outputs, squared_error):
            t.retain_grad()
    return loss


def _named(t: Tensor, name: str) -> Tensor:
    t.name = name
    return t


def named_tensors(output: Tensor) -> dict[str, Tensor]:
    """Every named tensor in the graph that produced ``output`` (``output`` included), by
    name: ``named_tensors(book_network())["W_ih"]``."""
    found: dict[str, Tensor] = {}
    seen: set[int] = set()
    stack = [output]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.name:
            found.setdefault(t.name, t)
        if t.grad_fn is not None:
            stack.extend(t.grad_fn.inputs)
    return found
