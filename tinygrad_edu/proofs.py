"""The texts' examples as graphs, and the tools that check the texts against the engine.

`tinygrad_edu.textbook` states the texts' claims in plain numpy; this module is where the
engine answers them, which is what the project means by "autodiff proves the formulas"
(hence the name; some of the answers are that a text slipped, see docs/errata.md):

- `worked_example_network` and `book_network_loss` build the book's two examples as
  graphs of Tensors, with the book's names on them (`tensors_by_name` finds them again);
- `comparisons` puts every formula of `textbook` beside autodiff and finite differences on
  the same numbers, one `Comparison` row per formula (``tinygrad-edu check`` prints them);
- `explain` walks a recorded graph from the loss down to one weight and shows the chain
  rule factor by factor, in the book's words (``tinygrad-edu worked-example``).

Everything here differentiates; nothing in `textbook` does.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_edu.autograd import (
    Node,
    consumer_counts,
    grad,
    input_gradients,
    topological_order,
)
from tinygrad_edu.functions import MatMul, Mul, Sigmoid, SquaredError, Sum
from tinygrad_edu.gradcheck import numerical_gradient
from tinygrad_edu.tensor import Tensor
from tinygrad_edu.textbook import (
    book_weight_updates,
    course_output_weight_gradient_as_printed,
    exact_weight_updates,
    forward,
    hidden_errors,
    output_weight_gradient,
    proportional_hidden_errors,
    sigmoid,
    sigmoid_derivative,
    worked_example,
)

Array = np.ndarray

# --------------------------------------------------------------------------- the graphs


def worked_example_network(
    half: bool = True, weights: tuple[float, float] = (2.0, 3.0)
) -> tuple[Tensor, Tensor]:
    """The worked example as a graph: (loss, weights) with weights [[w₁₁, w₂₁]], the
    text's [[2, 3]] unless ``weights`` gives others.

    The target is the text's: set so that t₁ − oₖ = 0.8 at the text's weights, and kept
    there for any others, so the loss is a function of the weights (finite differences
    can be taken of it). ``half=True`` makes the loss E = ½(t − o)², whose gradient the
    book's formulas are; ``half=False`` the plain squared error (t − o)², the book's own E
    (erratum E3).
    """
    w11, w21 = (float(w) for w in weights)
    hidden_values = np.array([[0.4], [0.5]])
    text_output = 1 / (1 + np.exp(-(2.0 * 0.4 + 3.0 * 0.5)))  # σ(2.3) at the text's weights
    weight_tensor = Tensor([[w11, w21]], requires_grad=True, name="W_ho")
    hidden = Tensor(hidden_values, name="hidden_outputs")
    weighted_sum = _with_name(weight_tensor @ hidden, "weighted_sum")
    output = _with_name(weighted_sum.sigmoid(), "output")
    target = Tensor([[text_output + 0.8]], name="target")
    squared_error = _with_name(output.squared_error(target), "squared_error")
    loss = _with_name(0.5 * squared_error if half else squared_error, "E")
    return loss, weight_tensor


def book_network_loss(seed: int = 0, *, retain_grad: bool = False) -> Tensor:
    """The book's 3-3-3 sigmoid network on one sample, in its column layout, as a graph:
    returns loss = ½Σ(t − o)² (``0.5 * final_outputs.squared_error(targets)``), not yet
    differentiated.

    Tensors carry the book's names: W_ih, W_ho (drawn from N(0, σ = 3^−½) with ``seed``, as
    ``tinygrad-edu demo`` draws them), inputs, targets, hidden_inputs, hidden_outputs,
    final_inputs, final_outputs, squared_error, loss; `tensors_by_name` finds them.
    ``retain_grad=True`` keeps the gradient of every intermediate tensor after
    ``backward()``, so that a drawing shows the errors flowing back.
    (`tinygrad_edu.training.book_network` is the same architecture as an ``nn`` model, of
    any size, for training.)
    """
    rng = np.random.default_rng(seed)
    nodes = 3
    w_ih = Tensor(rng.normal(0, nodes**-0.5, (nodes, nodes)), requires_grad=True, name="W_ih")
    w_ho = Tensor(rng.normal(0, nodes**-0.5, (nodes, nodes)), requires_grad=True, name="W_ho")
    inputs = Tensor([[0.9], [0.1], [0.8]], name="inputs")
    targets = Tensor([[0.01], [0.99], [0.01]], name="targets")

    hidden_inputs = _with_name(w_ih @ inputs, "hidden_inputs")
    hidden_outputs = _with_name(hidden_inputs.sigmoid(), "hidden_outputs")
    final_inputs = _with_name(w_ho @ hidden_outputs, "final_inputs")
    final_outputs = _with_name(final_inputs.sigmoid(), "final_outputs")
    squared_error = _with_name(final_outputs.squared_error(targets), "squared_error")
    loss = _with_name(0.5 * squared_error, "loss")
    if retain_grad:
        for t in (hidden_inputs, hidden_outputs, final_inputs, final_outputs, squared_error):
            t.retain_grad()
    return loss


def tensors_by_name(output: Tensor) -> dict[str, Tensor]:
    """Every named tensor in the graph that produced ``output`` (``output`` included), by
    name: ``tensors_by_name(book_network_loss())["W_ih"]``. (A model's own parameters
    are ``Module.named_tensors()``.)"""
    found: dict[str, Tensor] = {output.name: output} if output.name else {}
    for node in topological_order(consumer_counts([output])):  # nearest first
        for t in node.inputs:
            if t.name:
                found.setdefault(t.name, t)
    return found


def _with_name(t: Tensor, name: str) -> Tensor:
    t.name = name
    return t


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """One formula of the texts against the engine, on the same numbers: a row of the table
    that `comparisons` returns (and ``tinygrad-edu check`` prints).

    ``closed_form`` is the formula evaluated in plain numpy (`tinygrad_edu.textbook`),
    ``autodiff`` what the engine computes for the quantity the formula claims to be,
    ``finite_difference`` the same quantity by central differences (the independent check
    of ``autodiff``). ``erratum`` names the slips of docs/errata.md that explain why the
    formula differs ("E5, E6"); it is empty for a formula that is right.
    """

    formula: str
    source: str
    closed_form: Array
    autodiff: Array
    finite_difference: Array
    erratum: str = ""

    @property
    def expected_to_agree(self) -> bool:
        """A formula should agree with the engine unless an erratum says why it does not."""
        return not self.erratum

    @property
    def difference(self) -> float:
        """max |closed form − autodiff|."""
        return float(np.max(np.abs(self.closed_form - self.autodiff)))

    @property
    def agrees(self) -> bool:
        scale = max(1.0, float(np.max(np.abs(self.autodiff))))
        return self.difference <= 1e-9 * scale


def comparisons(seed: int = 0, learning_rate: float = 0.3) -> list[Comparison]:
    """Every formula of the texts, checked on the book's 3-3-3 network (``seed``, the
    weights of `book_network_loss`) and on the worked example: one `Comparison` a formula,
    each naming the erratum (docs/errata.md) that explains a difference."""
    rng = np.random.default_rng(seed)
    w_ih = rng.normal(0, 3**-0.5, (3, 3))
    w_ho = rng.normal(0, 3**-0.5, (3, 3))
    x = np.array([[0.9], [0.1], [0.8]])
    t = np.array([[0.01], [0.99], [0.01]])
    hidden, outputs = forward(w_ih, w_ho, x)
    e = t - outputs
    alpha = learning_rate

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

    z = w_ih @ x
    (ad_z,), (fd_z,) = gradients(sigmoid_sum, z)
    (ad_linear,), (fd_linear,) = gradients(linear_error, hidden)
    (ad_hidden,), (fd_hidden,) = gradients(sigmoid_error_of_hidden, hidden)
    (ad_ih, ad_ho), (fd_ih, fd_ho) = gradients(network_error, w_ih, w_ho)
    (ad_plain,), (fd_plain,) = gradients(plain_error, w_ho)
    (ad_ce,), (fd_ce,) = gradients(cross_entropy, w_ih)
    linear_e = t - w_ho @ hidden
    exact_ih, exact_ho = exact_weight_updates(w_ih, w_ho, x, t, learning_rate)
    book_ih, _ = book_weight_updates(w_ih, w_ho, x, t, learning_rate)
    course_as_printed = np.broadcast_to(
        course_output_weight_gradient_as_printed(t, outputs), (3, 3)
    )
    example = worked_example()
    example_ad, example_fd = _worked_example_gradients()

    return [
        Comparison(
            formula="σ′(x) = σ(x)(1 − σ(x))",
            source="the book; python-course.eu",
            closed_form=sigmoid_derivative(z),
            autodiff=ad_z,
            finite_difference=fd_z,
        ),
        Comparison(
            formula="hidden errors Wₕₒᵀ · e  (linear output layer: −∂E/∂h)",
            source="the book; python-course.eu's e_who = who.T · e",
            closed_form=hidden_errors(w_ho, linear_e),
            autodiff=-ad_linear,
            finite_difference=-fd_linear,
        ),
        Comparison(
            formula="hidden errors by proportional split Σₖ eₖ·wⱼₖ/Σᵢwᵢₖ  "
            "(linear output layer: −∂E/∂h)",
            source="the book's first matrix; python-course.eu's e₁·w₁₁/Σwᵢ₁",
            closed_form=proportional_hidden_errors(w_ho, linear_e),
            autodiff=-ad_linear,
            finite_difference=-fd_linear,
            erratum="E1",
        ),
        Comparison(
            formula="hidden errors Wₕₒᵀ · (e ∗ o(1 − o))  (sigmoid output layer: −∂E/∂h)",
            source="chain rule (not in the texts)",
            closed_form=hidden_errors(w_ho, e * outputs * (1 - outputs)),
            autodiff=-ad_hidden,
            finite_difference=-fd_hidden,
        ),
        Comparison(
            formula="hidden errors Wₕₒᵀ · e  (sigmoid output layer, as the book's code sends them)",
            source="the book's code (train)",
            closed_form=hidden_errors(w_ho, e),
            autodiff=-ad_hidden,
            finite_difference=-fd_hidden,
            erratum="E8",
        ),
        Comparison(
            formula="∂E/∂wⱼₖ = −(tₖ − oₖ)·oₖ(1 − oₖ)·oⱼ,  E = ½Σ(t − o)²",
            source="the book's gradient descent",
            closed_form=output_weight_gradient(t, outputs, hidden),
            autodiff=ad_ho,
            finite_difference=fd_ho,
        ),
        Comparison(
            formula="the same ∂E/∂wⱼₖ,  E = Σ(t − o)² (no ½)",
            source="the book: E = Σ(t − o)², then the 2 dropped",
            closed_form=output_weight_gradient(t, outputs, hidden),
            autodiff=ad_plain,
            finite_difference=fd_plain,
            erratum="E3",
        ),
        Comparison(
            formula="∂E/∂wᵢⱼ = (tⱼ − oⱼ)·σ(1 − σ)·oⱼ  (as printed)",
            source="python-course.eu's last formula",
            closed_form=course_as_printed,
            autodiff=ad_ho,
            finite_difference=fd_ho,
            erratum="E5, E6",
        ),
        Comparison(
            formula="ΔWₕₒ = α·(e ∗ oₖ(1 − oₖ))·oⱼᵀ  (= −α·∂E/∂Wₕₒ)",
            source="the book's matrix update",
            closed_form=exact_ho,
            autodiff=-alpha * ad_ho,
            finite_difference=-alpha * fd_ho,
        ),
        Comparison(
            formula="ΔWᵢₕ = α·(Wₕₒᵀ(e ∗ o(1 − o)) ∗ h(1 − h))·xᵀ  (= −α·∂E/∂Wᵢₕ)",
            source="chain rule",
            closed_form=exact_ih,
            autodiff=-alpha * ad_ih,
            finite_difference=-alpha * fd_ih,
        ),
        Comparison(
            formula="ΔWᵢₕ = α·(Wₕₒᵀ·e ∗ h(1 − h))·xᵀ, the book's code  (vs −α·∂E/∂Wᵢₕ)",
            source="the book's code (train)",
            closed_form=book_ih,
            autodiff=-alpha * ad_ih,
            finite_difference=-alpha * fd_ih,
            erratum="E8",
        ),
        Comparison(
            formula="the book's ΔWᵢₕ  (vs −α·∂L/∂Wᵢₕ, L the binary cross-entropy)",
            source="the book's code (train)",
            closed_form=book_ih,
            autodiff=-alpha * ad_ce,
            finite_difference=-alpha * fd_ce,
        ),
        Comparison(
            formula="worked example: ∂E/∂w₁₁ = −e₁·oₖ(1 − oₖ)·oⱼ = −0.0265",
            source="the book's worked example",
            closed_form=np.array(example.gradient),
            autodiff=example_ad,
            finite_difference=example_fd,
        ),
    ]


def _worked_example_gradients() -> tuple[Array, Array]:
    """∂E/∂w₁₁ of the worked example: (autodiff on its graph, finite differences)."""
    loss, weights = worked_example_network(half=True)
    (gradient,) = grad(loss, weights)
    assert gradient is not None
    w = weights.data.copy()
    hidden = np.array([[0.4], [0.5]])
    target = sigmoid(w @ hidden) + 0.8  # the text's e₁ = 0.8

    def example_loss(v: Tensor) -> Tensor:
        return 0.5 * (v @ Tensor(hidden)).sigmoid().squared_error(Tensor(target))

    (fd,) = numerical_gradient(example_loss, w)
    return np.array(gradient.data[0, 0]), np.array(fd[0, 0])


# --------------------------------------------------------------------------- explain


@dataclass(frozen=True)
class Step:
    """One factor of a chain-rule path: ∂(output element)/∂(input element) of one node."""

    operation: str  # the node, e.g. "Sigmoid"
    formula: str  # the operation's label of the factor (`Function.labels`), e.g. "·σ(1−σ)"
    output: str  # the element the gradient comes from, e.g. "output[0, 0]"
    input: str  # the element it goes to
    factor: float
    book: str = ""  # the factor in the book's words, e.g. "oⱼ (hidden output 1, 0.4)"


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
    "inputs": ("xᵢ", "input"),
    "hidden_outputs": ("oⱼ", "hidden output"),
    "final_outputs": ("oₖ", "output"),
    "output": ("oₖ", "output"),
    "targets": ("tₖ", "target"),
    "target": ("tₖ", "target"),
}
"""The book's symbol and words for the tensors that `book_network_loss` and
`worked_example_network` name (columns: element [n, 0] is node n + 1)."""

_BOOK_WEIGHTS: dict[str, tuple[str, str]] = {
    "W_ho": ("hidden", "output"),
    "W_ih": ("input", "hidden"),
}
"""Weight matrices by name: row = the node fed, column = the node feeding (wⱼₖ = W[k, j])."""

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _describe(t: Tensor, index: tuple[int, ...]) -> str:
    """One element in the book's words: "oⱼ (hidden output 1, 0.4)", "w₂₁ (weight
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


def _leading_to(output: Tensor, target: Tensor) -> set[Node]:
    """The nodes on some path from ``output`` down to ``target``: those with ``target`` as
    an input, or an input made by such a node (the engine's walk, taken leaves first)."""
    leading: set[Node] = set()
    for node in reversed(topological_order(consumer_counts([output]))):
        if any(t is target or p in leading for t, p in zip(node.inputs, node.parents, strict=True)):
            leading.add(node)
    return leading


def explain(
    loss: Tensor, tensor: Tensor, index: Any = (), show: bool = True, max_paths: int = 64
) -> Explanation:
    """The chain rule for one element of ∂loss/∂tensor, factor by factor along each path.

    Walks the recorded graph from ``loss`` (one element) down to ``tensor[index]``: each
    step is one operation's local derivative ∂y[j]/∂x[i] for the elements on the path,
    got from the operation's own backward with a one-hot gradient. A squared error's
    factor 2(o − t) is shown as two steps, the 2 and (o − t), so that the ½ of
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
    leading = _leading_to(loss, tensor)
    if loss is not tensor and loss.grad_fn not in leading:
        raise ValueError("explain: the loss does not depend on this tensor")
    paths: list[ChainPath] = []
    stack: list[tuple[Tensor, Node | None, tuple[int, ...], tuple[Step, ...]]] = [
        (loss, loss.grad_fn, (0,) * loss.ndim, ())
    ]
    while stack:
        current, node, element, steps = stack.pop()  # node: the one that made current
        if current is tensor:
            if element == index:
                paths.append(ChainPath(steps))
                if len(paths) > max_paths:
                    raise ValueError(
                        f"explain: more than {max_paths} paths lead to this element; pass a "
                        "larger max_paths, or explain a smaller graph"
                    )
            continue
        if node is None:
            continue
        one_hot = np.zeros(current.shape, dtype=current.dtype)
        one_hot[element] = 1
        local = input_gradients(node, one_hot)  # row `element` of the Jacobian
        name = node.function.__name__
        for position, (source, parent, partials) in enumerate(
            zip(node.inputs, node.parents, local, strict=True)
        ):
            if partials is None or not (source is tensor or parent in leading):
                continue
            partials = np.broadcast_to(np.asarray(partials), source.shape)
            formula = (node.function.labels or ("",) * len(node.inputs))[position]
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
                stack.append((source, parent, tuple(map(int, source_element)), steps + new_steps))
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
