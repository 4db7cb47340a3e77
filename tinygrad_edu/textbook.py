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

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_edu.autograd import Node, grad
from tinygrad_edu.functions import MatMul, Mul, Sigmoid, SquaredError, Sum
from tinygrad_edu.registry import REGISTRY
from tinygrad_edu.tensor import Tensor

Array = np.ndarray


BOOK = 'T. Rashid, "Make Your Own Neural Network" (text 000: a reader\'s notes on pp. 80–100)'
"""What the project calls "the book"."""

COURSE = (
    'the chapter "Backpropagation in Neural Networks" of its neural network tutorial (text 001)'
)
"""The second source text, called "python-course.eu" where a formula is quoted from it."""

ERRATA: dict[str, str] = {
    "E1": "the proportional split e_k·w_jk/Σᵢw_ik is not −∂E/∂h, nor W_hoᵀ·e rescaled: "
    "each output has its own denominator",
    "E2": "python-course.eu divides both columns by Σᵢwᵢ₁ and prints w₂₂ where w₄₂ belongs",
    "E3": "the book's E = Σ(t − o)² gives −2(t − o)·…; the 2 is dropped, so its formulas are "
    "gradients of ½Σ(t − o)²",
    "E4": "a repeated line of the book ends in '+ o_j' where '· o_j' belongs",
    "E5": "python-course.eu drops the minus sign: ∂E/∂o_j = −(t_j − o_j)",
    "E6": "python-course.eu ends in o_j where h_i, the input of the weight, belongs",
    "E7": "the book calls gradient descent 'Newton Method'",
    "E8": "the book's code sends W_hoᵀ·e back without the output slope o(1 − o): not the "
    "gradient of its own E (it is the cross-entropy gradient)",
    "E9": "the worked example's e₁ = 0.8 with o_k = 0.909 needs a target of 1.709, outside a "
    "sigmoid's range; its rounded factors give 0.02656, not 0.0265",
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
    """error_hidden = W_hoᵀ · error_output (the book's "backpropagating errors with matrix
    multiplication": the output errors split back along the links, unnormalised)."""
    return weights_hidden_output.T @ output_errors


def proportional_hidden_errors(weights_hidden_output: Array, output_errors: Array) -> Array:
    """The texts' starting point: each output error e_k is split back along its incoming
    links in proportion to their weights, so hidden node j receives
    Σ_k e_k · w_jk / Σ_i w_ik  (w_jk: hidden j → output k, which is ``W_ho[k, j]``).

    The book writes it as the matrix with entries w₁₁/(w₁₁+w₂₁), w₁₂/(w₁₂+w₂₂), …;
    python-course.eu as e₁·w₁₁/Σᵢwᵢ₁ (0.08 · 0.6/1.3 = 0.037). Dropping the denominators gives
    `hidden_errors`; neither is the gradient (see docs/errata.md).
    """
    shares = weights_hidden_output / weights_hidden_output.sum(axis=1, keepdims=True)
    return shares.T @ output_errors


def output_weight_gradient(targets: Array, outputs: Array, previous_outputs: Array) -> Array:
    """∂E/∂w_jk = −(t_k − o_k) · o_k(1 − o_k) · o_j for a sigmoid layer, E = ½Σ(t − o)²
    (the book's result, with "· o_j"; rows k, columns j, like the weight matrix)."""
    return -((targets - outputs) * outputs * (1 - outputs)) @ previous_outputs.T


def course_output_weight_gradient_as_printed(targets: Array, outputs: Array) -> Array:
    """python-course.eu's last formula exactly as printed: ∂E/∂w_ij = (t_j − o_j)·σ(1 − σ)·o_j.

    Its sign is flipped (∂E/∂o_j = −(t_j − o_j)) and its last factor is o_j where the
    input of the weight, h_i, belongs; it does not depend on i at all. Returned as a
    column (one value per output j) to show what it says; compare `output_weight_gradient`.
    """
    return (targets - outputs) * outputs * (1 - outputs) * outputs


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
    """(ΔW_ih, ΔW_ho) as the book's ``neuralNetwork.train`` computes them.

    Identical to `exact_weight_updates` for W_ho; for W_ih the book back-propagates the raw
    output error, hidden_errors = W_hoᵀ · (t − o), without the output sigmoid's slope — so
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
    """(ΔW_ih, ΔW_ho); the hidden layer receives W_hoᵀ·(e ∗ o(1 − o)) or W_hoᵀ·e."""
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
    """The numbers of the book's worked example, each computed from the givens (unrounded;
    the text rounds the slope to 0.083 but multiplies as if it were 0.0828, see E9)."""

    weighted_sum: float  # Σ_j w_j1 · o_j = 2.0·0.4 + 3.0·0.5 = 2.3
    output: float  # o_k = σ(2.3) ≈ 0.909, the output node's output
    slope: float  # o_k(1 − o_k) ≈ 0.0828 (the text: 0.083)
    gradient: float  # ∂E/∂w₁₁ = −e₁ · slope · o_j ≈ −0.026502 (o_j = 0.4, hidden node 1)
    new_weight: float  # w₁₁ − α·∂E/∂w₁₁ ≈ 2.002650


def worked_example(
    w11: float = 2.0,
    w21: float = 3.0,
    hidden_outputs: tuple[float, float] = (0.4, 0.5),
    error: float = 0.8,
    learning_rate: float = 0.1,
) -> WorkedExample:
    """The book's "Weight Update Worked Example": updating w₁₁ (hidden 1 → output 1).

    ``hidden_outputs`` are the o_j of hidden nodes 1 and 2. The text takes the output error
    e₁ = t₁ − o_k = 0.8 as given (from an earlier example), although o_k = σ(2.3) ≈ 0.909
    would need a target of 1.709, outside a sigmoid's range (erratum E9).
    """
    weighted_sum = w11 * hidden_outputs[0] + w21 * hidden_outputs[1]
    output = float(sigmoid(np.array(weighted_sum)))
    slope = output * (1 - output)
    gradient = -error * slope * hidden_outputs[0]
    return WorkedExample(weighted_sum, output, slope, gradient, w11 - learning_rate * gradient)


def worked_example_network(
    half: bool = True, example: WorkedExample | None = None
) -> tuple[Tensor, Tensor]:
    """The worked example as a graph: (loss, weights) with weights [[w₁₁, w₂₁]] = [[2, 3]].

    The target is set so that t₁ − o₁ = 0.8, as the text takes it. ``half=True`` makes the
    loss the texts' E = ½(t − o)²; ``half=False`` the plain squared error (t − o)².
    """
    weights = Tensor([[2.0, 3.0]], requires_grad=True, name="W_ho")
    hidden = Tensor([[0.4], [0.5]], name="hidden_outputs")
    weighted_sum = weights @ hidden
    weighted_sum.name = "weighted_sum"
    output = weighted_sum.sigmoid()
    output.name = "output"
    target = Tensor(output.data + 0.8, name="target")
    squared_error = output.squared_error(target)
    squared_error.name = "squared_error"
    loss = 0.5 * squared_error if half else squared_error
    loss.name = "E"
    return loss, weights


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Comparison:
    """One formula of the texts against the engine, on the same numbers.

    ``closed_form`` is the formula evaluated in plain numpy, ``autodiff`` what the engine
    computes for the quantity the formula claims to be, ``finite_difference`` the same
    quantity by central differences (the independent check of ``autodiff``).
    """

    formula: str
    source: str
    closed_form: Array
    autodiff: Array
    finite_difference: Array
    expected_to_agree: bool
    erratum: str = ""

    @property
    def difference(self) -> float:
        """max |closed form − autodiff|."""
        return float(np.max(np.abs(self.closed_form - self.autodiff)))

    @property
    def agrees(self) -> bool:
        scale = max(1.0, float(np.max(np.abs(self.autodiff))))
        return self.difference <= 1e-9 * scale


def comparisons(seed: int = 0, learning_rate: float = 0.3) -> list[Comparison]:
    """Every formula of the texts, checked on the book's 3-3-3 network (``seed``) and on the
    worked example. Each entry says whether the formula should agree with the engine and,
    if not, which erratum (docs/errata.md) explains the difference."""
    from tinygrad_edu.gradcheck import numerical_gradient

    rng = np.random.default_rng(seed)
    w_ih = rng.normal(0, 3**-0.5, (3, 3))
    w_ho = rng.normal(0, 3**-0.5, (3, 3))
    x = np.array([[0.9], [0.1], [0.8]])
    t = np.array([[0.01], [0.99], [0.01]])
    hidden, outputs = forward(w_ih, w_ho, x)
    e = t - outputs

    def gradients(loss_of: Any, *arrays: Array) -> tuple[list[Array], list[Array]]:
        """(autodiff, finite differences) of a scalar function of Tensors."""
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        found = grad(loss_of(*tensors), tensors)
        return [g.data for g in found if g is not None], numerical_gradient(loss_of, *arrays)

    def half_se(o: Tensor) -> Tensor:
        return 0.5 * o.squared_error(t)

    def sigmoid_sum(z: Tensor) -> Tensor:
        return z.sigmoid().sum()

    def linear_error(h: Tensor) -> Tensor:
        return half_se(Tensor(w_ho) @ h)  # a linear output layer, o = W_ho·h

    def sigmoid_error_of_hidden(h: Tensor) -> Tensor:
        return half_se((Tensor(w_ho) @ h).sigmoid())

    def network_error(a: Tensor, b: Tensor) -> Tensor:
        return half_se((b @ (a @ Tensor(x)).sigmoid()).sigmoid())

    def plain_error(b: Tensor) -> Tensor:
        return (b @ Tensor(hidden)).sigmoid().squared_error(t)

    def cross_entropy(a: Tensor) -> Tensor:
        o = (Tensor(w_ho) @ (a @ Tensor(x)).sigmoid()).sigmoid()
        return -(t * o.log() + (1 - t) * (1 - o).log()).sum()

    results = []
    z = w_ih @ x
    (ad,), (fd,) = gradients(sigmoid_sum, z)
    results.append(
        Comparison(
            "σ′(x) = σ(x)(1 − σ(x))",
            "the book; python-course.eu",
            sigmoid_derivative(z),
            ad,
            fd,
            True,
        )
    )
    linear_e = t - w_ho @ hidden
    (ad,), (fd,) = gradients(linear_error, hidden)
    results.append(
        Comparison(
            "error_hidden = W_hoᵀ · e  (linear output layer: −∂E/∂h)",
            "the book; python-course.eu's e_who = who.T · e",
            hidden_errors(w_ho, linear_e),
            -ad,
            -fd,
            True,
        )
    )
    results.append(
        Comparison(
            "error_hidden by proportional split e_k·w_jk/Σᵢw_ik  (linear output layer: −∂E/∂h)",
            "the book's first matrix; python-course.eu's e₁·w₁₁/Σwᵢ₁",
            proportional_hidden_errors(w_ho, linear_e),
            -ad,
            -fd,
            False,
            "E1",
        )
    )
    (ad,), (fd,) = gradients(sigmoid_error_of_hidden, hidden)
    results.append(
        Comparison(
            "error_hidden = W_hoᵀ · (e ∗ o(1 − o))  (sigmoid output layer: −∂E/∂h)",
            "chain rule (not in the texts)",
            hidden_errors(w_ho, e * outputs * (1 - outputs)),
            -ad,
            -fd,
            True,
        )
    )
    results.append(
        Comparison(
            "error_hidden = W_hoᵀ · e  (sigmoid output layer, as the book's code sends it)",
            "the book's code (train)",
            hidden_errors(w_ho, e),
            -ad,
            -fd,
            False,
            "E8",
        )
    )
    (ad_ih, ad_ho), (fd_ih, fd_ho) = gradients(network_error, w_ih, w_ho)
    results.append(
        Comparison(
            "∂E/∂w_jk = −(t_k − o_k)·o_k(1 − o_k)·o_j,  E = ½Σ(t − o)²",
            "the book's gradient descent",
            output_weight_gradient(t, outputs, hidden),
            ad_ho,
            fd_ho,
            True,
        )
    )
    (ad_plain,), (fd_plain,) = gradients(plain_error, w_ho)
    results.append(
        Comparison(
            "the same ∂E/∂w_jk,  E = Σ(t − o)² (no ½)",
            "the book: E = Σ(t − o)², then the 2 dropped",
            output_weight_gradient(t, outputs, hidden),
            ad_plain,
            fd_plain,
            False,
            "E3",
        )
    )
    printed = np.broadcast_to(course_output_weight_gradient_as_printed(t, outputs), (3, 3))
    results.append(
        Comparison(
            "∂E/∂w_ij = (t_j − o_j)·σ(1 − σ)·o_j  (as printed)",
            "python-course.eu's last formula",
            printed,
            ad_ho,
            fd_ho,
            False,
            "E5, E6",
        )
    )
    exact_ih, exact_ho = exact_weight_updates(w_ih, w_ho, x, t, learning_rate)
    book_ih, _ = book_weight_updates(w_ih, w_ho, x, t, learning_rate)
    alpha = learning_rate
    results.append(
        Comparison(
            "ΔW_ho = α·(e ∗ o_k(1 − o_k))·o_jᵀ  (= −α·∂E/∂W_ho)",
            "the book's matrix update",
            exact_ho,
            -alpha * ad_ho,
            -alpha * fd_ho,
            True,
        )
    )
    results.append(
        Comparison(
            "ΔW_ih = α·(W_hoᵀ(e ∗ o(1 − o)) ∗ h(1 − h))·xᵀ  (= −α·∂E/∂W_ih)",
            "chain rule",
            exact_ih,
            -alpha * ad_ih,
            -alpha * fd_ih,
            True,
        )
    )
    results.append(
        Comparison(
            "ΔW_ih = α·(W_hoᵀ·e ∗ h(1 − h))·xᵀ, the book's code  (vs −α·∂E/∂W_ih)",
            "the book's code (train)",
            book_ih,
            -alpha * ad_ih,
            -alpha * fd_ih,
            False,
            "E8",
        )
    )
    (ad,), (fd,) = gradients(cross_entropy, w_ih)
    results.append(
        Comparison(
            "the book's ΔW_ih  (vs −α·∂L/∂W_ih, L the binary cross-entropy)",
            "the book's code (train)",
            book_ih,
            -alpha * ad,
            -alpha * fd,
            True,
        )
    )
    example = worked_example()
    loss, weights = worked_example_network(half=True)
    (example_grad,) = grad(loss, weights)
    assert example_grad is not None
    w = weights.data.copy()

    def example_loss(v: Tensor) -> Tensor:
        o = (v @ Tensor([[0.4], [0.5]])).sigmoid()
        return 0.5 * o.squared_error(Tensor(sigmoid(w @ np.array([[0.4], [0.5]])) + 0.8))

    (fd,) = numerical_gradient(example_loss, w)
    results.append(
        Comparison(
            "worked example: ∂E/∂w₁₁ = −e₁·o_k(1 − o_k)·o_j = −0.0265",
            "the book's worked example",
            np.array(example.gradient),
            np.array(example_grad.data[0, 0]),
            np.array(fd[0, 0]),
            True,
        )
    )
    return results


# --------------------------------------------------------------------------- explain


@dataclass(frozen=True)
class Step:
    """One factor of a chain-rule path: ∂(output element)/∂(input element) of one node."""

    operation: str  # the node, e.g. "Sigmoid"
    formula: str  # the registry's label of the factor, e.g. "·σ(1−σ)"
    output: str  # the element the gradient comes from, e.g. "output[0, 0]"
    input: str  # the element it goes to
    factor: float
    book: str = ""  # the factor in the book's words, e.g. "o_j (hidden output 1, 0.4)"


@dataclass(frozen=True)
class ChainPath:
    steps: tuple[Step, ...]

    @property
    def product(self) -> float:
        return float(np.prod([step.factor for step in self.steps]))


_HEADINGS = ("operation", "engine", "the book's factor", "gradient from → to", "factor", "product")


@dataclass(frozen=True)
class Explanation:
    """The chain rule for one element of a gradient: every path from the loss down to the
    element, factor by factor; the paths' products sum to the gradient.

    ``str()`` (and ``print``) gives the table; the ``repr`` is one line. In a notebook, a
    cell ending in ``explain(...)`` shows the table once: printed (``show=True``) and then
    the one-line summary, or, with ``show=False``, as the cell's output (``_repr_html_``).
    """

    target: str
    paths: tuple[ChainPath, ...]
    total: float  # Σ over paths of the products of their factors
    autodiff: float  # the same element from the engine's backward pass
    loss: str = "loss"  # the name of the loss the gradient is of
    printed: bool = field(default=False, compare=False, repr=False)  # explain(show=True)

    def __str__(self) -> str:
        rows: list[tuple[str, ...]] = []  # one per step; None-free, aligned below
        for path in self.paths:
            running = 1.0
            for step in path.steps:
                running *= step.factor
                rows.append(
                    (
                        step.operation,
                        step.formula,
                        "· " + step.book if step.book else "",
                        f"{step.output} → {step.input}",
                        f"{step.factor:+.6g}",
                        f"{running:+.6g}",
                    )
                )
        widths = [
            max(len(cell) for cell in column) for column in zip(_HEADINGS, *rows, strict=True)
        ]

        def line(cells: tuple[str, ...]) -> str:
            left = [cell.ljust(width) for cell, width in zip(cells[:4], widths[:4], strict=True)]
            right = [cell.rjust(width) for cell, width in zip(cells[4:], widths[4:], strict=True)]
            return ("  " + "  ".join(left + right)).rstrip()

        count = len(self.paths)
        lines = [f"∂{self.loss}/∂{self.target}: {count} path{'s' * (count != 1)} from the loss"]
        position = 0
        for number, path in enumerate(self.paths, 1):
            lines.append(f"path {number}:")
            lines.append(line(_HEADINGS))
            for _ in path.steps:
                lines.append(line(rows[position]))
                position += 1
            lines.append(f"  product {path.product:+.6g}")
        lines.append(f"sum over paths {self.total:+.6g}; autodiff {self.autodiff:+.6g}")
        return "\n".join(lines)

    def _repr_html_(self) -> str | None:
        """The table for Jupyter, unless explain() has printed it already (then None, and
        Jupyter shows the one-line repr)."""
        return None if self.printed else f"<pre>{html.escape(str(self))}</pre>"

    def __repr__(self) -> str:
        count = len(self.paths)
        return (
            f"<Explanation ∂{self.loss}/∂{self.target}: {count} path{'s' * (count != 1)}, "
            f"sum {self.total:+.6g}, autodiff {self.autodiff:+.6g}>"
        )


def _element_name(t: Tensor, index: tuple[int, ...]) -> str:
    name = t.name or f"tensor{list(t.shape)}"
    return f"{name}[{', '.join(map(str, index))}]" if index else name


_BOOK_SYMBOLS: dict[str, tuple[str, str]] = {
    "inputs": ("x_i", "input"),
    "hidden_outputs": ("o_j", "hidden output"),
    "final_outputs": ("o_k", "output"),
    "output": ("o_k", "output"),
    "targets": ("t_k", "target"),
    "target": ("t_k", "target"),
}
"""The book's symbol and words for the tensors that `book_network` and
`worked_example_network` name (columns: element [n, 0] is node n + 1)."""

_BOOK_WEIGHTS: dict[str, tuple[str, str]] = {
    "W_ho": ("hidden", "output"),
    "W_ih": ("input", "hidden"),
}
"""Weight matrices by name: row = the node fed, column = the node feeding (w_jk = W[k, j])."""

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _describe(t: Tensor, index: tuple[int, ...]) -> str:
    """One element in the book's words: "o_j (hidden output 1, 0.4)", "w₂₁ (weight
    hidden 2 → output 1, 3)"; a tensor the book does not name by its own name."""
    value = f"{float(t.data[index]):.4g}"
    if t.name in _BOOK_SYMBOLS and t.ndim == 2 and t.shape[1] == 1:
        symbol, words = _BOOK_SYMBOLS[t.name]
        return f"{symbol} ({words} {index[0] + 1}, {value})"
    if t.name in _BOOK_WEIGHTS and t.ndim == 2:
        feeding, fed = _BOOK_WEIGHTS[t.name]
        row, column = index
        symbol = f"w{column + 1}{row + 1}".translate(_SUBSCRIPTS)
        return f"{symbol} (weight {feeding} {column + 1} → {fed} {row + 1}, {value})"
    return f"{_element_name(t, index)} ({value})"


def _book_factor(
    node: Node,
    output: Tensor,
    position: int,
    element: tuple[int, ...],
    source_element: tuple[int, ...],
) -> str:
    """The chain-rule factor of one step in the book's words, or "" where there are none."""
    function, inputs = node.function, node.inputs
    if function is Mul:
        other = inputs[1 - position]
        if other.size == 1 and not other.name:
            number = float(other.data.item())
            return "½ (E = ½Σ(t − o)²)" if number == 0.5 else f"{number:g} (a constant)"
        if other.shape == inputs[position].shape:
            return _describe(other, source_element)
        return ""
    if function is Sigmoid:
        symbol = _BOOK_SYMBOLS.get(output.name or "", ("σ", ""))[0]
        value = float(output.data[element])
        return f"{symbol}(1 − {symbol}) (sigmoid slope, {symbol} = {value:.4g})"
    if function is MatMul and all(t.ndim == 2 for t in inputs):
        row, column = element
        a, b = inputs
        if position == 0:  # ∂Y[i, j]/∂A[i, k] = B[k, j]: what the weight multiplies
            return _describe(b, (source_element[1], column))
        return _describe(a, (row, source_element[0]))  # ∂Y[i, j]/∂B[k, j] = A[i, k]
    if function is Sum:
        return "1 (a sum passes it on)"
    return ""


def _error_factor(node: Node, position: int, half_factor: float) -> str:
    """The (o − t) of a squared error's 2(o − t), with the output error e = t − o."""
    if position == 1:
        return "(t − o) = e (the output error)"
    symbol = _BOOK_SYMBOLS.get(node.inputs[0].name or "", ("o", ""))[0]
    target = symbol.replace("o", "t", 1)
    error = symbol.replace("o", "e", 1)
    return f"({symbol} − {target}) = −{error} (output error {error} = {-half_factor:.4g})"


def _graph_tensors(output: Tensor) -> list[Tensor]:
    """Every tensor in the graph that produced ``output``, each once (walked iteratively)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack = [output]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        order.append(t)
        if t.grad_fn is not None:
            stack.extend(t.grad_fn.inputs)
    return order


def _feeds_target(output: Tensor, target: Tensor) -> set[int]:
    """ids of the tensors on some path between ``target`` and ``output`` (both included)."""
    order = _graph_tensors(output)
    feeding = {id(target)}
    changed = True
    while changed:  # a tensor feeds the target's paths if one of its inputs does
        changed = False
        for t in order:
            inputs = () if t.grad_fn is None else t.grad_fn.inputs
            if id(t) not in feeding and any(id(i) in feeding for i in inputs):
                feeding.add(id(t))
                changed = True
    return feeding


def explain(
    loss: Tensor, tensor: Tensor, index: Any = (), show: bool = True, max_paths: int = 64
) -> Explanation:
    """The chain rule for one element of ∂loss/∂tensor, factor by factor along each path.

    Walks the recorded graph from ``loss`` (one element) down to ``tensor[index]``: each
    step is one operation's local derivative ∂y[j]/∂x[i] for the elements on the path,
    got from the operation's own backward with a one-hot gradient. A squared error's
    factor 2(o − t) is shown as two steps, the 2 and (o − t), so that the ½ of the texts'
    E = ½Σ(t − o)² is seen to cancel it. Prints the table unless ``show=False``; returns it
    as data. Needs a graph that ``backward()`` has not released.
    """
    if loss.size != 1:
        raise ValueError(f"explain: the loss must have one element, it has shape {loss.shape}")
    if not isinstance(tensor, Tensor) or not tensor.requires_grad:
        raise ValueError("explain: the tensor must be a Tensor that requires grad")
    index = (index,) if isinstance(index, (int, np.integer)) else tuple(index)
    if len(index) != tensor.ndim or not all(
        0 <= i < n for i, n in zip(index, tensor.shape, strict=True)
    ):
        raise IndexError(f"explain: index {index} does not name an element of shape {tensor.shape}")
    feeding = _feeds_target(loss, tensor)
    if id(loss) not in feeding:
        raise ValueError("explain: the loss does not depend on this tensor")
    labels = {info.function: info.labels for info in REGISTRY.values()}
    paths: list[ChainPath] = []
    stack: list[tuple[Tensor, tuple[int, ...], tuple[Step, ...]]] = [(loss, (0,) * loss.ndim, ())]
    while stack:
        current, element, steps = stack.pop()
        if current is tensor:
            if element == index:
                paths.append(ChainPath(steps))
                if len(paths) > max_paths:
                    raise ValueError(
                        f"explain: more than {max_paths} paths lead to this element; pass a "
                        "larger max_paths, or explain a smaller graph"
                    )
            continue
        node = current.grad_fn
        if node is None:
            continue
        one_hot = np.zeros(current.shape, dtype=current.dtype)
        one_hot[element] = 1
        local = node.function.backward(node, one_hot)  # row `element` of the Jacobian
        local = local if isinstance(local, tuple) else (local,)
        name = node.function.__name__
        for position, (source, partials) in enumerate(zip(node.inputs, local, strict=True)):
            if partials is None or id(source) not in feeding:
                continue
            partials = np.broadcast_to(np.asarray(partials), source.shape)
            formula = labels.get(node.function, ("",) * len(node.inputs))[position]
            for source_element in (i for i in np.ndindex(partials.shape) if partials[i] != 0):
                factor = float(partials[source_element])
                here = (_element_name(current, element), _element_name(source, source_element))
                if node.function is SquaredError:  # 2(o − t) = 2 · (o − t)
                    new_steps: tuple[Step, ...] = (
                        Step(name, "·2", *here, 2.0, "2 (from the square)"),
                        Step(
                            name,
                            formula.replace("·2", "·"),
                            *here,
                            factor / 2,
                            _error_factor(node, position, factor / 2),
                        ),
                    )
                else:
                    book = _book_factor(node, current, position, element, source_element)
                    new_steps = (Step(name, formula, *here, factor, book),)
                stack.append((source, tuple(map(int, source_element)), steps + new_steps))
    paths.reverse()
    (autodiff,) = grad(loss, tensor, retain_graph=True)
    assert autodiff is not None
    result = Explanation(
        _element_name(tensor, index),
        tuple(paths),
        float(sum(path.product for path in paths)),
        float(autodiff.data[index]),
        loss.name or "loss",
        printed=show,
    )
    if show:
        print(result)
    return result


# --------------------------------------------------------------------------- the graph


def book_network(seed: int = 0, *, retain_grad: bool = False) -> Tensor:
    """The book's 3-3-3 sigmoid network on one sample, in its column layout, as a graph:
    returns loss = ½Σ(t − o)² (``0.5 * final_outputs.squared_error(targets)``), not yet
    differentiated.

    Tensors carry the book's names: W_ih, W_ho (drawn from N(0, σ = 3^−½) with ``seed``, as
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
    for t in _graph_tensors(output):
        if t.name:
            found.setdefault(t.name, t)
    return found
