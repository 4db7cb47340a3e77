"""Step through the backward pass: one self-contained HTML page that replays the engine's run.

``explore(loss)`` records what the engine does when it differentiates ``loss``: for every
operation, in the engine's own order, the gradient that arrives from above, the local
chain-rule factor (the operation's label written out with numbers, σ(1−σ) = 0.08282) and
the product it sends to each input, with the running sum where a tensor is used more than
once (and, where the last contribution arrives, each one and their sum). On the book's
network (`book_layers`) a line at a step says which formula of the book it is, or where
the book's code does otherwise (erratum E8, linked). It returns an `Explorer`: Jupyter
shows it inline, ``.save("page.html")`` writes the page. The page draws the graph with
`viz.draw` (inline SVG from Graphviz) and steps through the pass with buttons, arrow keys,
a slider and "play"; a forward mode shows the values being computed in order.

The numbers come from the engine itself, not from a second backprop in JavaScript: the
recording runs the engine's `backward_steps` on the graph and keeps, for every node, the
gradient that arrived and what its chain rule sent (`record_backward`); each local factor
is read off the operation's own backward (`local_factors`), and its label is the
operation's ``labels``. The page's script only shows one pre-rendered step after another.
"""

from __future__ import annotations

import html
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tinygrad_edu import functions, viz
from tinygrad_edu.autograd import GraphReleasedError, Node, backward_steps, input_gradients
from tinygrad_edu.functions import SquaredError
from tinygrad_edu.tensor import Tensor

__all__ = [
    "ERRATA_URL",
    "MAX_PROBES",
    "PRODUCTS",
    "BackwardStep",
    "BookLayers",
    "Explorer",
    "Factor",
    "ForwardStep",
    "Send",
    "book_layers",
    "explore",
    "forward_order",
    "local_factors",
    "record_backward",
]

SMALL = 16
"""Arrays with at most this many elements are shown in full; larger ones by their range."""


# --------------------------------------------------------------------------- the record


@dataclass
class Send:
    """What one operation sends to one of its inputs in one step of the backward pass."""

    tensor: Tensor  # the input, as the drawing's box shows it
    operand: str  # the input's role in the operation: "x", or "A"/"B", "a"/"b", "o"/"t"
    label: str  # the operation's chain-rule label (`Function.labels`), e.g. "·σ(1−σ)"
    factor: np.ndarray | None  # the local factor's values, where backward has one (`Factor`)
    gradient: np.ndarray | None  # what backward returned for this input (None: not needed)
    product: str = ""  # how gradient is made of arriving and factor: a key of `PRODUCTS`
    total: np.ndarray | None = None  # the tensor's gradient summed so far, this one included
    count: int = 0  # how many contributions the total holds
    uses: int = 0  # how many contributions the tensor gets in the whole pass


@dataclass
class BackwardStep:
    """One call of an operation's backward, as the engine made it."""

    node: Node
    output: Tensor  # the tensor the operation produced; its gradient is ``arriving``
    arriving: np.ndarray  # ∂loss/∂output, given to backward
    sends: list[Send] = field(default_factory=list)


@dataclass
class ForwardStep:
    """One operation of the forward pass: its inputs' values and the value it computed."""

    node: Node
    output: Tensor


def record_backward(
    loss: Tensor, graph: viz.DrawnGraph | None = None
) -> tuple[list[BackwardStep], dict[int, np.ndarray]]:
    """Run the engine on ``loss`` (`backward_steps`) and keep every step: the gradient that
    arrived at each node and what its backward sent to each input, in the engine's order.

    Returns the steps and each leaf's gradient, summed as the engine sums it (by id).
    Nothing changes: no ``.grad`` is written and the graph is retained. ``graph`` (the
    drawing's `viz.DrawnGraph`) says which Tensor stands for each input; the local factors
    (`local_factors`) are read for the operations it draws.
    """
    graph = graph or viz.DrawnGraph(loss)
    steps = []
    try:
        for step in backward_steps(loss, retain_graph=True, accumulate=False):
            node = step.node
            output = graph.output(node)
            arriving = np.zeros_like(output.data) if step.grad is None else np.asarray(step.grad)
            drawn = graph.id(node) != "summary"  # a folded step shows no factor
            factors = local_factors(node, arriving) if drawn else (None,) * len(node.inputs)
            operands = viz.operand_names(node.function, len(node.inputs))
            labels = node.function.labels or ("?",) * len(node.inputs)
            sends = []
            for index, sent in enumerate(step.input_grads):
                gradient = None if sent is None else np.asarray(sent)
                t = graph.tensors[graph.box(node, index)]
                factor = factors[index] if gradient is not None else None
                values, product = (None, "") if factor is None else factor
                sends.append(Send(t, operands[index], labels[index], values, gradient, product))
            steps.append(BackwardStep(node, output, arriving, sends))
    except GraphReleasedError as error:
        raise GraphReleasedError(
            "explore: backward() has already freed this graph's saved arrays, so its backward "
            "pass cannot be replayed. Call explore(loss) before loss.backward(), or call "
            f"loss.backward(retain_graph=True). ({error})"
        ) from None
    totals = _running_sums(steps)
    leaves = {key for key, box in graph.box_of.items() if isinstance(box, int)}
    return steps, {key: total for key, total in totals.items() if key in leaves}


def _running_sums(steps: list[BackwardStep]) -> dict[int, np.ndarray]:
    """Add each tensor's contributions up in the engine's order (a sum as the engine forms
    it: the first contribution, then + each next). Returns the totals by id."""
    totals: dict[int, np.ndarray] = {}
    counts: Counter[int] = Counter()
    for step in steps:
        for send in step.sends:
            if send.gradient is None:
                continue
            key = id(send.tensor)
            totals[key] = send.gradient if key not in totals else totals[key] + send.gradient
            counts[key] += 1
            send.total, send.count = totals[key], counts[key]
    for step in steps:
        for send in step.sends:
            send.uses = counts[id(send.tensor)]
    return totals


def forward_order(loss: Tensor, graph: viz.DrawnGraph | None = None) -> list[ForwardStep]:
    """The operations in an order the forward pass computes them: each after the operations
    that made its inputs (the engine's topological order, reversed)."""
    graph = graph or viz.DrawnGraph(loss)
    return [ForwardStep(node, graph.output(node)) for node in reversed(graph.nodes)]


# --------------------------------------------------------------------------- local factors


class Factor(NamedTuple):
    """The local factor of one input, read off the operation's own backward: what the
    arriving gradient g is multiplied by, element by element (``g × values``), or as a
    matrix product (``g · values``, ``values · g``, ``gᵀ · values``)."""

    values: np.ndarray
    product: str  # "elementwise", "right", "left" or "transposed": a key of `PRODUCTS`


PRODUCTS = {
    "elementwise": "arriving × factor, element by element",
    "right": "arriving · factor (a matrix product)",
    "left": "factor · arriving (a matrix product)",
    "transposed": "arrivingᵀ · factor (a matrix product)",
}
"""How the gradient sent to an input is formed from the arriving one, by `Factor.product`."""

MAX_PROBES = 64
"""A matrix factor is read one row or column at a time, one backward call each; wider ones
are not shown as arrays."""


def local_factors(node: Node, arriving: np.ndarray) -> tuple[Factor | None, ...]:
    """The local factor of each of ``node``'s inputs, from the operation's own backward (no
    second table of derivatives): backward applied to a gradient of ones is the factor of an
    elementwise step (σ(1−σ) for a sigmoid, and the copy of a sum), and applied to one-hot
    gradients it gives a matrix product's factor row by row (Bᵀ for A·B). A form is taken
    only when backward applied to a random gradient gives exactly that product, an
    elementwise one first where the input has the output's shape, then a matrix product;
    None where no form fits (a softmax), for an input that needs no gradient, and for
    operations defined outside functions.py (their backward runs once, by the engine).

    ``arriving`` is any array of the shape and dtype of the node's output.
    """
    if node.function.__module__ != functions.__name__:
        return (None,) * len(node.inputs)
    probe = np.random.default_rng(0).uniform(0.5, 1.5, arriving.shape).astype(arriving.dtype)
    ones, probed = input_gradients(node, np.ones_like(probe)), input_gradients(node, probe)
    factors: list[Factor | None] = []
    for index, needed in enumerate(node.needs_input_grad):
        if not needed or ones[index] is None:
            factors.append(None)
            continue
        answer, elementwise = np.asarray(probed[index]), np.asarray(ones[index])
        factor = None
        if answer.shape == probe.shape:
            factor = _elementwise(answer, probe, elementwise)
        # a matrix product, else a reduction's copy of the gradient (the probe broadcast)
        factor = factor or _matrix_factor(node, index, probe, answer)
        factors.append(factor or _elementwise(answer, probe, elementwise))
    return tuple(factors)


def _elementwise(answer: np.ndarray, probe: np.ndarray, ones: np.ndarray) -> Factor | None:
    """``ones`` as an elementwise factor, if backward's ``answer`` for ``probe`` is
    probe × ones (the probe copied along the axes a reduction removed)."""
    try:
        product = probe * ones
    except ValueError:  # shapes that do not broadcast: a reshape, an index
        return None
    return Factor(ones, "elementwise") if _fits(answer, product) else None


def _matrix_factor(node: Node, index: int, probe: np.ndarray, answer: np.ndarray) -> Factor | None:
    """The matrix M with sent(g) = g · M, M · g or gᵀ · M for input ``index``, read one
    one-hot gradient g at a time, if one of them is what backward gives for ``probe``."""
    if probe.ndim != 2 or answer.ndim != 2 or probe.size == 0 or max(probe.shape) > MAX_PROBES:
        return None  # (an empty gradient has no matrix to read off)
    (m, n), (p, q) = probe.shape, answer.shape

    def sent(i: int, j: int) -> np.ndarray:
        one_hot = np.zeros_like(probe)
        one_hot[i, j] = 1
        return np.asarray(input_gradients(node, one_hot)[index])

    if p == m:  # sent(g) = g · M
        right = np.stack([sent(0, j)[0] for j in range(n)])
        if _fits(answer, probe @ right):
            return Factor(right, "right")
    if q == n:  # sent(g) = M · g
        left = np.stack([sent(i, 0)[:, 0] for i in range(m)], axis=1)
        if _fits(answer, left @ probe):
            return Factor(left, "left")
    if p == n:  # sent(g) = gᵀ · M
        transposed = np.stack([sent(i, 0)[0] for i in range(m)])
        if _fits(answer, probe.T @ transposed):
            return Factor(transposed, "transposed")
    return None


def _fits(answer: np.ndarray, product: np.ndarray) -> bool:
    """Whether ``product`` is ``answer``, to rounding."""
    if product.shape != answer.shape:
        return False
    rtol = 1e4 * float(np.finfo(np.result_type(answer.dtype, np.float32)).eps)
    scale = float(np.max(np.abs(answer), initial=0.0))
    return bool(np.allclose(product, answer, rtol=rtol, atol=rtol * scale, equal_nan=True))


# --------------------------------------------------------------------------- the book's formulas

ERRATA_URL = "../../errata/"
"""The docs site's errata page as seen from a tutorial chapter (``tutorial/<chapter>/``),
whose explorers the site shows inline: a link to erratum E8 goes to ``ERRATA_URL + "#e8"``.
`explore`'s ``errata_url`` points a page elsewhere (the page says "erratum E8" in words,
so it reads without the link too)."""


@dataclass(frozen=True)
class BookLayers:
    """Where the book's network is in a graph: the output layer ``o = σ(W_ho · h)`` whose
    ``½Σ(t − o)²`` (``halved``) or ``Σ(t − o)²`` is the loss, and the hidden layer
    ``h = σ(W_ih · x)`` below it, if the graph has one (the worked example has not)."""

    output_layer: Node  # the MatMul W_ho · hidden_outputs
    output: Tensor  # o, the output layer's sigmoid
    halved: bool  # the loss is ½ · the squared error (the book's formulas are its gradient)
    hidden_layer: Node | None  # the MatMul W_ih · inputs that feeds hidden_outputs' sigmoid


def book_layers(graph: viz.DrawnGraph) -> BookLayers | None:
    """The book's layers in ``graph``, recognised by the names that
    `proofs.book_network_loss` and `proofs.worked_example_network` give them (``W_ho``,
    ``hidden_outputs``; ``W_ih`` below) and by what was computed from them: W_ho and
    hidden_outputs go into one matrix product, then a sigmoid, then the squared error
    against a target, which (halved or not) is the loss, each used nowhere else; the
    hidden layer likewise, a sigmoid of ``W_ih · x``. None where that is not so: then no
    formula of the book is about this graph."""
    root = graph.root.grad_fn
    for node in graph.nodes:
        if node.function is not functions.MatMul or len(node.inputs) != 2:
            continue
        weights, hidden = node.inputs
        if weights.name != "W_ho" or hidden.name != "hidden_outputs":
            continue
        if weights.grad_fn is not None or not _used_once(graph, node, 0):
            continue
        sigmoid = _only_consumer(graph, node, functions.Sigmoid)
        error = sigmoid and _only_consumer(graph, sigmoid, SquaredError)
        if error is None or sigmoid is None or error.parents[1] is sigmoid:
            continue
        halved = False
        if error is not root:
            half = _only_consumer(graph, error, functions.Mul)
            if half is None or half is not root or not _is_one_half(half, error):
                continue
            halved = True
        return BookLayers(node, graph.output(sigmoid), halved, _hidden_layer(graph, node))
    return None


def _hidden_layer(graph: viz.DrawnGraph, output_layer: Node) -> Node | None:
    """The MatMul W_ih · inputs of h = σ(W_ih · inputs), if hidden_outputs is that h and
    the output layer is its only use."""
    sigmoid = output_layer.parents[1]
    if sigmoid is None or sigmoid.function is not functions.Sigmoid:
        return None
    if not _used_once(graph, output_layer, 1):
        return None
    layer = sigmoid.parents[0]
    if layer is None or layer.function is not functions.MatMul:
        return None
    if _only_consumer(graph, layer, functions.Sigmoid) is not sigmoid:
        return None
    weights = layer.inputs[0]
    if weights.name != "W_ih" or weights.grad_fn is not None or not _used_once(graph, layer, 0):
        return None
    return layer


def _used_once(graph: viz.DrawnGraph, node: Node, index: int) -> bool:
    """Whether input ``index`` of ``node`` is used there once and by no other operation."""
    box = graph.box(node, index)
    others = [i for i in range(len(node.inputs)) if graph.box(node, i) == box]
    return graph.consumers.get(box) == [node] and others == [index]


def _only_consumer(graph: viz.DrawnGraph, node: Node, function: type) -> Node | None:
    """The one operation that uses ``node``'s output, once, if it is a ``function``."""
    users = graph.consumers.get(node, [])
    if len(users) != 1 or users[0].function is not function:
        return None
    return users[0] if list(users[0].parents).count(node) == 1 else None


def _is_one_half(half: Node, error: Node) -> bool:
    """Whether ``half`` multiplies ``error``'s output by a constant ½."""
    (other,) = [
        t for t, parent in zip(half.inputs, half.parents, strict=True) if parent is not error
    ]
    return (
        other.grad_fn is None
        and not other.requires_grad
        and other.data.size == 1
        and (float(other.data.item()) == 0.5)
    )


# --------------------------------------------------------------------------- the page


def _number(value: float) -> str:
    return f"{value:.4g}"


def _name(t: Tensor) -> str:
    if t.name:
        return viz.printable(t.name)
    if t.grad_fn is None and not t.requires_grad and t.data.size == 1:
        return _number(float(t.data.item()))
    return "scalar" if t.ndim == 0 else f"tensor{tuple(t.shape)}"


def _distinct_names(tensors: list[Tensor]) -> dict[int, str]:
    """Names with the shape added where two named tensors share one: the two layers'
    "weight" become "weight (3, 2)" and "weight (1, 3)", as their boxes in the drawing say.
    (Nameless tensors are told apart by the highlighting.)"""
    names = {id(t): _name(t) for t in tensors}
    counts = Counter(names[id(t)] for t in tensors if t.name)
    for t in tensors:
        if t.name and counts[names[id(t)]] > 1:
            names[id(t)] += f" {tuple(t.shape)}"
    return names


def _array_html(array: np.ndarray, role: str) -> str:
    """The values as a small table (a column vector as a column), the range when large."""
    values = np.asarray(array, dtype=float)
    if values.size > SMALL:
        return (
            f'<span class="range" data-role="{role}">shape {tuple(values.shape)}: '
            f"{_number(float(values.min()))} … {_number(float(values.max()))}</span>"
        )
    if values.ndim == 0 or (values.size == 1 and values.ndim <= 1):
        return f'<span class="num" data-role="{role}">{_number(float(values.ravel()[0]))}</span>'
    rows = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None, :]
    body = "".join(
        "<tr>" + "".join(f"<td>{_number(float(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    shape = ",".join(map(str, values.shape))
    return f'<table class="m" data-role="{role}" data-shape="{shape}">{body}</table>'


class Arrival(NamedTuple):
    """One contribution to a tensor's gradient, as the page numbers it."""

    number: int  # the page's step that sent it
    operation: str  # e.g. "MulBackward"
    operand: str  # the tensor's role there: "a", "b", "x", …
    gradient: np.ndarray


def _terms(send: Send, arriving: np.ndarray) -> np.ndarray | None:
    """Where a matrix product sums over the arriving gradient (W_hoᵀ · g: every output
    sends to every hidden output), its terms: row j, column k holds what arriving element k
    adds to element j of what is sent, so each row adds up to it. None for other steps,
    for one arriving element, and for more terms than the page shows in full."""
    if send.factor is None:
        return None
    factor, g = send.factor, np.asarray(arriving)
    if send.product == "left" and g.ndim == 2 and g.shape[1] == 1:  # factor · column
        terms = factor * g.T
    elif send.product == "right" and g.ndim == 2 and g.shape[0] == 1:  # row · factor
        terms = (g.T * factor).T
    else:
        return None
    return terms if g.size > 1 and terms.size <= SMALL else None


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _book_row(formula: str, text: str) -> str:
    """A row of a step's table that says which formula of the book this is."""
    return (
        f'<tr class="book"><td colspan="2"><div data-book="{formula}"><b>The book.</b> {text}'
        "</div></td></tr>"
    )


def _row(label: str, value: str, cls: str = "") -> str:
    return f'<tr class="{cls}"><th>{label}</th><td>{value}</td></tr>'


def _step(
    name: str,
    node: str,
    edges: list[str] | None = None,
    lit: list[str] | None = None,
    filled: list[str] | None = None,
    panel: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "node": node,
        "edges": edges or [],
        "lit": lit or [],
        "filled": filled or [],
        "panel": panel,
    }


class Explorer:
    """The step-through page of one graph. Jupyter shows it inline; `save` writes it."""

    def __init__(
        self,
        loss: Tensor,
        *,
        rankdir: str = "TB",
        max_nodes: int | None = None,
        title: str | None = None,
        errata_url: str = ERRATA_URL,
    ) -> None:
        if not isinstance(loss, Tensor):
            raise TypeError(f"explore: expected a Tensor, got {type(loss).__name__}")
        if loss.grad_fn is None or loss.data.size != 1:
            raise ValueError(
                "explore: the loss must be a one-element Tensor computed from tensors that "
                f"require grad; got shape {loss.shape}"
                + ("" if loss.grad_fn is not None else " with no recorded graph (a leaf)")
            )
        self.loss = loss
        self._drawings = {  # drawn first: draw checks rankdir and max_nodes
            backward: viz.draw(
                loss,
                show_grad=False,
                rankdir=rankdir,
                max_nodes=max_nodes,
                backward=backward,
                legend=False,
            )
            for backward in (True, False)
        }
        self.title = title or (f"backward pass of {loss.name}" if loss.name else "backward pass")
        self.rankdir = rankdir
        self.max_nodes = max_nodes
        self.errata_url = errata_url
        self.graph = viz.DrawnGraph(loss, max_nodes)  # what the drawings show, and their ids
        self.backward_steps, self.leaf_grads = record_backward(loss, self.graph)
        self.forward_steps = forward_order(loss, self.graph)
        self._tensors = [item for item in self.graph.items if isinstance(item, Tensor)]
        self.leaves = [t for t in self._tensors if id(t) in self.leaf_grads]
        self._names = _distinct_names(self._tensors)
        self.book = book_layers(self.graph)

    def _name(self, t: Tensor) -> str:
        return self._names[id(t)]

    # ---------------------------------------------------------------- ids in the drawing

    def _id(self, item: Tensor | Node) -> str:
        return self.graph.id(item)

    def _svg(self, backward: bool) -> str:
        try:
            svg = viz.render(self._drawings[backward], "svg").decode("utf-8")
        except viz.GraphvizNotFoundError:
            raise viz.GraphvizNotFoundError(f"explore: {viz.INSTALL_HINT}") from None
        except viz.RenderError as error:
            raise viz.RenderError(f"explore: {error}") from None
        return svg[svg.index("<svg") :]

    # ---------------------------------------------------------------- the steps as data
    # Each step is a dict: name, node (the DOT id to highlight), edges, lit (tensors that
    # receive a value), filled (leaves whose .grad is complete from this step on) and panel
    # (the HTML of the numbers). The script marks the nodes of earlier steps as visited.

    def _backward_data(self) -> list[dict[str, Any]]:
        leaf_totals: dict[int, Send] = {}
        arrivals: dict[int, list[Arrival]] = {}  # each tensor's contributions so far
        lines = self._book_lines()
        loss = _e(self._name(self.loss))
        start = _step(
            "start",
            self._id(self.loss),
            panel='<p class="lead">The backward pass starts at the loss: '
            f"∂{loss}/∂{loss} = {_array_html(np.ones_like(self.loss.data), 'arriving')}.</p>"
            "<p>Each step runs one operation's backward: the gradient that arrives from "
            "above, times the operation's local factor, is sent to each input.</p>"
            "<p>Press <b>Next ▶</b> or the → key to run the first operation.</p>"
            + self._leaf_table(leaf_totals, set()),
        )
        numbers = itertools.count(1)  # _grouped makes the page's steps in order
        steps = self._grouped(
            self.backward_steps,
            lambda step: self._one_backward(step, next(numbers), leaf_totals, arrivals, lines),
            lambda steps: self._hidden_backward(steps, next(numbers), leaf_totals, arrivals),
        )
        if steps:
            steps[-1]["panel"] += (
                '<p class="lead"><b>The backward pass is complete</b>: every parameter\'s '
                ".grad holds ∂" + loss + "/∂parameter. A gradient descent step would now "
                "subtract α·.grad from each parameter.</p>"
            )
        return [start, *steps]

    def _grouped(
        self,
        steps: list[Any],
        one: Callable[[Any], dict[str, Any]],
        hidden: Callable[[list[Any]], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """One page step per drawn operation; a run of operations in the part of the graph
        that is not drawn (max_nodes) is one step."""
        data: list[dict[str, Any]] = []
        pending: list[Any] = []
        for step in steps:
            if self._id(step.node) == "summary":
                pending.append(step)
                continue
            if pending:
                data.append(hidden(pending))
                pending = []
            data.append(one(step))
        if pending:
            data.append(hidden(pending))
        return data

    def _one_backward(
        self,
        step: BackwardStep,
        number: int,
        leaf_totals: dict[int, Send],
        arrivals: dict[int, list[Arrival]],
        lines: dict[tuple[int, int], str],
    ) -> dict[str, Any]:
        node = step.node
        op = self._id(node)
        out_name, loss = _e(self._name(step.output)), _e(self._name(self.loss))
        gathered = arrivals.get(id(step.output), [])
        summed = ""
        if len(gathered) > 1:  # the sum of what its consumers sent, shown where they sent it
            where = ", ".join(str(arrival.number) for arrival in gathered)
            summed = (
                f"<br><small>the sum of its {len(gathered)} contributions (steps {where})</small>"
            )
        rows = [
            f'<p class="lead"><b>{_e(viz.printable(node.name))}</b>: the operation that made '
            f"<b>{out_name}</b> passes its gradient on to its inputs.</p>",
            '<table class="step">',
            _row(
                f"arriving from above<br><small>∂{loss}/∂{out_name}</small>{summed}",
                _array_html(step.arriving, "arriving"),
            ),
        ]
        edges, receivers, filled, changed = [f"{self._id(step.output)}->{op}"], [], [], set()
        for index, send in enumerate(step.sends):
            target = _e(self._name(send.tensor))
            if send.gradient is None:
                rows.append(
                    _row(
                        f"to {send.operand} = {target}",
                        '<span class="none">needs no gradient: nothing is sent</span>',
                        "send",
                    )
                )
                continue
            receivers.append(self.graph.input_id(node, index))
            edges.append(f"{op}->{self.graph.input_id(node, index)}")
            label = _e(viz.printable(send.label))
            if send.factor is None:
                factor = f'{label} <span class="none">(an operation on the whole array)</span>'
                product = f"the operation's backward of arriving ({send.label.strip('·')})"
            else:  # the transposed product's label names the gradient (Gᵀ·), not the factor
                named = "factor" if send.product == "transposed" else send.label.strip("·")
                factor = (
                    f'<span class="eq">{_e(viz.printable(named))}<br><small>'
                    f"{self._operands(step)}</small></span> = " + _array_html(send.factor, "factor")
                )
                product = PRODUCTS[send.product]
            rows.append(
                f'<tr class="send"><th colspan="2">to {send.operand} = <b>{target}</b></th></tr>'
            )
            rows.append(_row(f"local factor<br><small>{label}</small>", factor))
            rows.append(
                _row(
                    f"sent<br><small>∂{loss}/∂{target} from here</small>",
                    _array_html(send.gradient, "sent") + f"<br><small>= {_e(product)}</small>",
                )
            )
            terms = _terms(send, step.arriving)
            if terms is not None:  # one sum per element: what each arriving element adds
                rows.append(
                    _row(
                        f"from each element of {out_name}<br><small>column k: what "
                        f"{out_name}[k] sends;<br>each row adds up to what is sent</small>",
                        _array_html(terms, "terms"),
                        "terms",
                    )
                )
            assert send.total is not None
            arrivals.setdefault(id(send.tensor), []).append(
                Arrival(number, viz.printable(node.name), send.operand, send.gradient)
            )
            leaf = send.tensor.grad_fn is None
            if leaf:
                leaf_totals[id(send.tensor)] = send
                changed.add(id(send.tensor))
                if send.count == send.uses:
                    filled.append(self._id(send.tensor))
            if send.uses > 1 and send.count == send.uses:  # the last one: all of them, summed
                rows.extend(self._contributions(send, arrivals[id(send.tensor)], leaf))
            elif send.uses > 1 or leaf:
                what = (
                    ".grad so far" if leaf and send.uses > 1 else ".grad" if leaf else "running sum"
                )
                plural = "s" if send.uses > 1 else ""
                rows.append(
                    _row(
                        f"{what}<br><small>{send.count} of {send.uses} contribution{plural}"
                        "</small>",
                        _array_html(send.total, "total"),
                        "total",
                    )
                )
            if (id(node), index) in lines:
                rows.append(lines[id(node), index])
        rows.append("</table>")
        if node.function is SquaredError and np.all(step.arriving == 0.5):
            rows.append(
                '<p class="lead">½ · 2(o−t) = o − t: the ½ of E = ½Σ(t − o)² '
                "cancels the square's 2, so what is sent is o − t = −e, the output error "
                "with its sign turned.</p>"
            )
        panel = "".join(rows) + self._leaf_table(leaf_totals, changed)
        return _step(viz.printable(node.name), op, edges, receivers, filled, panel)

    def _book_lines(self) -> dict[tuple[int, int], str]:
        """The rows that say which formula of the book a step is, by (id of the operation,
        input index): −α × the gradient of W_ho is the book's ΔWₕₒ; at the hidden layer the
        book's code sends Wₕₒᵀ·e instead (erratum E8); −α × the gradient of W_ih is the
        book's ΔWᵢₕ with the hidden errors this step sent, not the book code's. None for a
        graph that is not the book's network (`book_layers`)."""
        book = self.book
        if book is None:
            return {}

        def name(t: Tensor) -> str:
            return _e(self._name(t))

        layer = book.output_layer
        weights, hidden = layer.inputs
        o = name(book.output)
        if book.halved:
            loss_words = (
                "here the loss is ½Σ(t − o)², the loss whose gradient the book's formulas are"
            )
            times, sent, reached = "", "(o − t) ∗ o(1 − o)) = −Wₕₒᵀ·(e ∗ o(1 − o)", "−1"
        else:
            loss_words = (
                "here the loss is Σ(t − o)², without the ½, and the book drops the 2 of its "
                f"derivative ({self._erratum('E3')})"
            )
            times, sent, reached = "twice ", "2(o − t) ∗ o(1 − o)) = −2Wₕₒᵀ·(e ∗ o(1 − o)", "−½"
        lines = {}
        gradient = self._sent(layer, 0)
        if gradient is not None:
            w, change = float(weights.data.flat[0]), -0.1 * float(gradient.flat[0])
            lines[id(layer), 0] = _book_row(
                "delta-w-ho",
                f"−α × this gradient is {times}the book's update "
                f"ΔWₕₒ = α·(E ∗ O(1 − O))·Oⱼᵀ, with E = t − o the output error, O = {o} and "
                f"Oⱼ = {name(hidden)}: {loss_words}. With α = 0.1, as in the book's worked "
                f"example, w₁₁ goes from {w:.6g} to {w + change:.6g} ({change:+.4g}).",
            )
        if self._sent(layer, 1) is not None:
            lines[id(layer), 1] = _book_row(
                "hidden-errors",
                f"The book's code sends Wₕₒᵀ·e back to {name(hidden)} here instead, e = t − o: "
                "the output error without the output sigmoid's slope o(1 − o). This step sends "
                f"the gradient, Wₕₒᵀ·({sent}), slope included; see {self._erratum('E8')}.",
            )
        if book.hidden_layer is not None and self._sent(book.hidden_layer, 0) is not None:
            inputs = name(book.hidden_layer.inputs[1])
            lines[id(book.hidden_layer), 0] = _book_row(
                "delta-w-ih",
                f"−α × this gradient is {times}the book's update for this layer, "
                f"ΔWᵢₕ = α·(Eₕ ∗ Oₕ(1 − Oₕ))·Iᵀ with Oₕ = {name(hidden)} and I = {inputs}, "
                "when the hidden errors are Eₕ = Wₕₒᵀ·(e ∗ o(1 − o)), slope included "
                f"({reached} × what reached {name(hidden)}). The book's code takes "
                f"Eₕ = Wₕₒᵀ·e, so its ΔWᵢₕ is not this step's ({self._erratum('E8')}).",
            )
        return lines

    def _sent(self, node: Node, index: int) -> np.ndarray | None:
        """What ``node``'s step sent to input ``index`` (None: it needs no gradient)."""
        (step,) = [step for step in self.backward_steps if step.node is node]
        return step.sends[index].gradient

    def _erratum(self, erratum: str) -> str:
        """ "erratum E8", linked to its section of the errata page (a new tab: in Jupyter
        and on the docs site the page is a frame)."""
        href = _e(f"{self.errata_url}#{erratum.lower()}")
        return f'<a href="{href}" target="_blank" rel="noopener">erratum {erratum}</a>'

    def _contributions(self, send: Send, arrived: list[Arrival], leaf: bool) -> list[str]:
        """The rows of a tensor's last contribution: every contribution, where it came from,
        and their sum (its .grad, or what arrives at the operation that made it)."""
        target = _e(self._name(send.tensor))
        rows = [
            f'<tr class="meet"><th colspan="2">the {len(arrived)} contributions to '
            f"<b>{target}</b> meet: all have arrived</th></tr>"
        ]
        for arrival in arrived:
            rows.append(
                _row(
                    f"+ from step {arrival.number}<br><small>{_e(arrival.operation)}, "
                    f"as {_e(arrival.operand)}</small>",
                    _array_html(arrival.gradient, "contribution"),
                    "contribution",
                )
            )
        what = ".grad" if leaf else f"arrives at the operation that made {target}"
        assert send.total is not None
        rows.append(
            _row(f"= their sum<br><small>{what}</small>", _array_html(send.total, "total"), "total")
        )
        return rows

    def _hidden_backward(
        self,
        steps: list[BackwardStep],
        number: int,
        leaf_totals: dict[int, Send],
        arrivals: dict[int, list[Arrival]],
    ) -> dict[str, Any]:
        changed = set()
        for step in steps:
            for send in step.sends:
                if send.gradient is None or send.total is None:
                    continue
                arrivals.setdefault(id(send.tensor), []).append(
                    Arrival(number, f"{len(steps)} hidden", send.operand, send.gradient)
                )
                if send.tensor.grad_fn is None:
                    leaf_totals[id(send.tensor)] = send
                    changed.add(id(send.tensor))
        return _step(
            f"{len(steps)} hidden",
            "summary",
            panel=self._hidden_text([step.node for step in steps])
            + self._leaf_table(leaf_totals, changed),
        )

    def _hidden_text(self, nodes: list[Node]) -> str:
        names = Counter(viz.printable(node.function.__name__) for node in nodes)
        parts = ", ".join(f"{count} × {name}" for name, count in names.most_common())
        return (
            f'<p class="lead">{len(nodes)} operation{"s" * (len(nodes) > 1)} in the part of '
            f"the graph that is not drawn (max_nodes={self.max_nodes}): {_e(parts)}.</p>"
        )

    def _leaf_table(self, latest: dict[int, Send], changed: set[int]) -> str:
        rows = []
        for t in self.leaves[:12]:
            send = latest.get(id(t))
            if send is None or send.total is None:
                value = '<span class="none">not yet</span>'
            else:
                value = _array_html(send.total, "leaf")
                if send.count < send.uses:
                    value += f" <small>{send.count} of {send.uses} contributions so far</small>"
            rows.append(_row(_e(self._name(t)), value, "changed" if id(t) in changed else ""))
        more = len(self.leaves) - 12
        if more > 0:
            rows.append(_row("…", f"and {more} more parameters"))
        return '<h3>the parameters\' .grad</h3><table class="leaves">' + "".join(rows) + "</table>"

    def _forward_data(self) -> list[dict[str, Any]]:
        first_use: dict[int, int] = {}  # the leaves in the order the forward pass uses them
        for step in self.forward_steps:
            for index in range(len(step.node.inputs)):
                t = self.graph.tensors[self.graph.box(step.node, index)]
                first_use.setdefault(id(t), len(first_use))
        leaves = sorted(
            (t for t in self._tensors if t.grad_fn is None),
            key=lambda t: first_use.get(id(t), len(first_use)),
        )
        start_rows = "".join(
            _row(_e(self._name(t)), _array_html(t.data, "value")) for t in leaves[:12]
        )
        start = _step(
            "inputs",
            "",
            lit=[self._id(t) for t in leaves],
            panel='<p class="lead">The forward pass starts from the leaves: the data, the '
            'targets and the parameters.</p><table class="step">' + start_rows + "</table>",
        )
        steps = self._grouped(
            self.forward_steps,
            self._one_forward,
            lambda steps: _step(
                f"{len(steps)} hidden",
                "summary",
                panel=self._hidden_text([step.node for step in steps]),
            ),
        )
        return [start, *steps]

    def _one_forward(self, step: ForwardStep) -> dict[str, Any]:
        node, function = step.node, viz.printable(step.node.function.__name__)
        op = self._id(node)
        operands = viz.operand_names(node.function, len(node.inputs))
        inputs = [self.graph.tensors[self.graph.box(node, i)] for i in range(len(node.inputs))]
        rows = [
            f'<p class="lead"><b>{_e(function)}</b> computes '
            f"<b>{_e(self._name(step.output))}</b> = {_e(function)}({', '.join(operands)})</p>",
            '<table class="step">',
            *(
                _row(f"{o} = {_e(self._name(t))}", _array_html(t.data, "input"))
                for o, t in zip(operands, inputs, strict=True)
            ),
            _row(_e(self._name(step.output)), _array_html(step.output.data, "value")),
            "</table>",
        ]
        edges = [f"{self.graph.input_id(node, i)}->{op}" for i in range(len(inputs))]
        edges.append(f"{op}->{self._id(step.output)}")
        return _step(function, op, edges, [self._id(step.output)], [], "".join(rows))

    def _operands(self, step: BackwardStep) -> str:
        """What the letters of a label stand for: "A = W_ho, B = hidden_outputs"; for one
        input, the input and the output ("x = final_inputs, output final_outputs")."""
        node = step.node
        operands = viz.operand_names(node.function, len(node.inputs))
        names = [self._name(send.tensor) for send in step.sends]
        pairs = [f"{o} = {n}" for o, n in zip(operands, names, strict=True)]
        if len(pairs) == 1:
            pairs.append(f"output {self._name(step.output)}")
        return _e(", ".join(pairs))

    # ---------------------------------------------------------------- output

    def html(self) -> str:
        """The whole page: one HTML document with everything inline."""
        root = f"tge-{uuid.uuid4().hex[:8]}"
        data = {
            "backward": self._backward_data(),
            "forward": self._forward_data(),
        }
        # No <, > or & in the script element: a name like "<!--<script>" would otherwise keep
        # the HTML parser from ever closing it, and the page's script would not run.
        payload = json.dumps(data, ensure_ascii=False)
        for character, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            payload = payload.replace(character, escape)
        legend = "".join(
            f'<span class="key"><i style="background:{viz.COLOURS[kind]}"></i>{kind}</span>'
            for kind in ("parameter", "constant", "intermediate", "saved", "output", "operation")
        )
        return _PAGE.format(
            title=_e(self.title),
            root=root,
            css=_CSS.replace("ROOT", f"#{root}"),
            backward_svg=self._svg(backward=True),
            forward_svg=self._svg(backward=False),
            legend=legend,
            data=payload,
            script=_SCRIPT,
        )

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path``, one self-contained .html or .htm file, and return the
        path. Another suffix is refused before anything is written (``--out weights.npz``
        must not turn the weights into a page). As `io.save` replaces weights, the page goes
        to a temporary file beside the target, flushed to disk, then renamed over it: a
        failed write leaves the old file as it was and no temporary behind."""
        import contextlib
        import os

        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise ValueError(
                f"save: the page is HTML; give a path ending in .html or .htm, not {str(path)!r}"
            )
        page = self.html().encode("utf-8")
        target = Path(os.path.realpath(path))  # through a symbolic link, the file it names
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            with os.fdopen(os.open(temporary, flags, 0o666), "wb") as file:
                file.write(page)
                file.flush()
                os.fsync(file.fileno())
            if target.exists():  # keep the permissions of the page it replaces
                os.chmod(temporary, target.stat().st_mode & 0o7777)
            os.replace(temporary, target)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if isinstance(error, OSError):
                left = "the file there is unchanged" if target.exists() else "nothing was written"
                raise OSError(
                    f"save: could not write {path} ({error.strerror or error}); {left}"
                ) from error
            raise
        return path

    def _repr_html_(self) -> str:
        # An iframe keeps the page's ids, styles and keys apart from the notebook's and from
        # other explorers on the same page.
        return (
            f'<iframe srcdoc="{_e(self.html())}" style="width:100%;height:760px;border:1px '
            'solid #ced4da" title="step through the backward pass"></iframe>'
        )


def explore(
    loss: Tensor,
    *,
    rankdir: str = "TB",
    max_nodes: int | None = None,
    title: str | None = None,
    errata_url: str = ERRATA_URL,
) -> Explorer:
    """A page that steps through the backward pass of ``loss``, node by node, with the
    engine's numbers (and through the forward pass, value by value).

    ``loss`` is a one-element Tensor whose graph has not been released by ``backward()``
    (explore first, or ``backward(retain_graph=True)``); nothing about it changes.
    ``rankdir`` and ``max_nodes`` are those of `viz.draw`: a large graph's oldest part is
    drawn as one summary node, and its operations are one step. ``errata_url`` is where
    the links to an erratum point (`ERRATA_URL`: the docs site's errata page, as its
    tutorial chapters see it). Rendering needs Graphviz's ``dot``.
    """
    return Explorer(loss, rankdir=rankdir, max_nodes=max_nodes, title=title, errata_url=errata_url)


# --------------------------------------------------------------------------- template

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body>
<div class="tge" id="{root}">
<header>
  <span class="title">{title}</span>
  <span class="modes">
    <button type="button" data-mode="backward" class="mode on">backward pass</button>
    <button type="button" data-mode="forward" class="mode">forward pass</button>
  </span>
  <span class="controls">
    <button type="button" class="back" title="previous step (←)">◀ Back</button>
    <button type="button" class="play" title="play / pause (space)">▶ Play</button>
    <button type="button" class="next" title="next step (→)">Next ▶</button>
    <input type="range" class="slider" min="0" max="0" value="0" aria-label="step">
    <span class="counter"></span>
  </span>
</header>
<main>
  <div class="graph">
    <div class="svg backward">{backward_svg}</div>
    <div class="svg forward" hidden>{forward_svg}</div>
  </div>
  <aside class="panel"><h2 class="stepname"></h2><div class="body"></div></aside>
</main>
<footer>{legend}<span class="key"><i class="cur"></i>this step</span>
<span class="key"><i class="lit"></i>receives a value</span>
<span class="key"><i class="filled"></i>.grad complete</span>
<span class="help">keys: ← → step, Home/End, space: play</span></footer>
<script type="application/json" class="data">{data}</script>
<script>{script}</script>
</div>
</body></html>
"""

_CSS = """
body { margin: 0; }
ROOT { font: 14px/1.4 Helvetica, Arial, sans-serif; color: #212529; display: flex;
  flex-direction: column; height: 100vh; min-height: 480px; }
ROOT header { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center;
  padding: 6px 10px; background: #f1f3f5; border-bottom: 1px solid #ced4da; }
ROOT .title { font-weight: bold; }
ROOT button { font: inherit; padding: 3px 10px; border: 1px solid #adb5bd;
  border-radius: 4px; background: #fff; cursor: pointer; }
ROOT button.on { background: #364fc7; color: #fff; border-color: #364fc7; }
ROOT .slider { width: 180px; vertical-align: middle; }
ROOT .counter { font-variant-numeric: tabular-nums; }
ROOT main { flex: 1; display: flex; min-height: 0; }
ROOT .graph { flex: 0 0 44%; overflow: auto; border-right: 1px solid #ced4da;
  padding: 6px; box-sizing: border-box; }
ROOT .panel { flex: 1; overflow: auto; padding: 6px 14px; }
@media (max-width: 760px) {  /* narrow (a notebook or docs column): graph above the panel */
  ROOT main { flex-direction: column; }
  ROOT .graph { flex: 0 0 55%; border-right: none; border-bottom: 1px solid #ced4da; }
}
ROOT .panel h2 { margin: 4px 0; font-size: 17px; }
ROOT .panel h3 { margin: 14px 0 4px; font-size: 14px; }
ROOT .lead { margin: 4px 0 8px; }
ROOT table.step, ROOT table.leaves { border-collapse: collapse; }
ROOT table.step > tbody > tr > th, ROOT table.leaves > tbody > tr > th { text-align: left;
  font-weight: normal; padding: 3px 10px 3px 0; vertical-align: middle; white-space: nowrap; }
ROOT table.step > tbody > tr > td, ROOT table.leaves > tbody > tr > td { padding: 3px 0; }
ROOT tr.send > th { padding-top: 10px !important; border-top: 1px solid #dee2e6;
  color: #c92a2a; }
ROOT tr.total > th, ROOT tr.changed > th { font-weight: bold !important; }
ROOT tr.changed > td table.m, ROOT tr.changed > td .num { background: #d3f9d8; }
ROOT small { color: #868e96; }
ROOT .none { color: #868e96; font-style: italic; }
ROOT table.m { display: inline-table; border-collapse: collapse; border-left: 2px solid #495057;
  border-right: 2px solid #495057; font: 13px/1.3 Menlo, Consolas, monospace;
  vertical-align: middle; }
ROOT table.m td { padding: 1px 6px; text-align: right; }
ROOT .eq { display: inline-block; vertical-align: middle; text-align: right; }
ROOT .num { font: 13px Menlo, Consolas, monospace; padding: 1px 4px; }
ROOT footer { padding: 4px 10px; border-top: 1px solid #ced4da; font-size: 12px;
  background: #f8f9fa; }
ROOT .key { margin-right: 12px; white-space: nowrap; }
ROOT .key i { display: inline-block; width: 12px; height: 12px; border: 1px solid #495057;
  margin-right: 4px; vertical-align: -2px; }
ROOT .key i.cur { border: 3px solid #e03131; width: 8px; height: 8px; }
ROOT .key i.lit { border: 3px solid #1c7ed6; width: 8px; height: 8px; }
ROOT .key i.filled { border: 3px solid #2f9e44; width: 8px; height: 8px; }
ROOT .help { color: #868e96; }
ROOT tr.book > td { padding: 6px 0 !important; }
ROOT tr.book > td > div { width: 0; min-width: calc(100% - 13px); padding: 6px 10px;
  background: #fff9db; border-left: 3px solid #f59f00; }  /* wraps: never widens the table */
ROOT tr.meet > th { padding-top: 8px !important; font-weight: normal; }
ROOT tr.contribution > th { padding-left: 12px !important; }
ROOT button.next:disabled { cursor: default; color: #2b8a3e; border-color: #8ce99a;
  background: #ebfbee; }
ROOT svg { height: auto; }
ROOT g.node.visited { opacity: 0.55; }
ROOT g.node.cur > ellipse, ROOT g.node.cur > polygon, ROOT g.node.cur > path {
  stroke: #e03131; stroke-width: 4px; }
ROOT g.node.lit > polygon, ROOT g.node.lit > ellipse { stroke: #1c7ed6; stroke-width: 4px; }
ROOT g.node.filled > polygon { stroke: #2f9e44; stroke-width: 4px; }
ROOT g.edge.cur > path { stroke: #e03131; stroke-width: 3px; }
ROOT g.edge.cur > polygon { stroke: #e03131; fill: #e03131; }
"""

_SCRIPT = r"""
(function () {
  var scripts = document.getElementsByTagName("script");
  var root = scripts[scripts.length - 1].parentNode;
  var data = JSON.parse(root.querySelector("script.data").textContent);
  var mode = "backward", step = 0, timer = null;
  var q = function (s) { return root.querySelector(s); };
  var slider = q(".slider");
  function items(view, kind) {
    var found = {};
    view.querySelectorAll("g." + kind).forEach(function (g) {
      found[g.querySelector("title").textContent] = g;
    });
    return found;
  }
  var views = {};
  ["backward", "forward"].forEach(function (m) {
    var view = q(".svg." + m);
    views[m] = { view: view, nodes: items(view, "node"), edges: items(view, "edge") };
  });
  function show() {
    var steps = data[mode], s = steps[step], v = views[mode];
    var visited = {}, filled = {};
    for (var k = 0; k <= step; k++) {
      if (k < step) { visited[steps[k].node] = true; }
      steps[k].filled.forEach(function (id) { filled[id] = true; });
    }
    Object.keys(v.nodes).forEach(function (id) {
      var c = v.nodes[id].classList;
      c.toggle("cur", id === s.node);
      c.toggle("lit", s.lit.indexOf(id) >= 0);
      c.toggle("visited", id in visited && id !== s.node);
      c.toggle("filled", id in filled);
    });
    Object.keys(v.edges).forEach(function (id) {
      v.edges[id].classList.toggle("cur", s.edges.indexOf(id) >= 0);
    });
    q(".stepname").textContent = "step " + step + " of " + (steps.length - 1) + ": " + s.name;
    q(".panel .body").innerHTML = s.panel;
    q(".counter").textContent = step + " / " + (steps.length - 1);
    slider.max = steps.length - 1;
    slider.value = step;
    var last = step === steps.length - 1, next = q(".next");
    next.disabled = last;
    next.textContent = last ? "✓ The " + mode + " pass is over" : "Next ▶";
    next.title = last ? "the last step: ← or Home goes back" : "next step (→)";
    focus(v, s);
  }
  function focus(v, s) {
    // Centre the step's node in the graph's pane (scrollIntoView would scroll a notebook
    // too); with none (the forward pass's inputs), the nodes that receive a value if they
    // fit, else the first of them.
    var pane = q(".graph"), p = pane.getBoundingClientRect();
    var shown = (v.nodes[s.node] ? [s.node] : s.lit).filter(function (id) {
      return id in v.nodes;
    }).map(function (id) { return v.nodes[id].getBoundingClientRect(); });
    if (!shown.length) { return; }
    var r = shown.reduce(function (a, b) {
      return { top: Math.min(a.top, b.top), left: Math.min(a.left, b.left),
               bottom: Math.max(a.bottom, b.bottom), right: Math.max(a.right, b.right) };
    });
    if (r.bottom - r.top > p.height || r.right - r.left > p.width) { r = shown[0]; }
    pane.scrollTop += (r.top + r.bottom) / 2 - (p.top + p.height / 2);
    pane.scrollLeft += (r.left + r.right) / 2 - (p.left + p.width / 2);
  }
  function go(n) {
    step = Math.max(0, Math.min(data[mode].length - 1, n));
    show();
  }
  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    q(".play").textContent = "▶ Play";
  }
  function play() {
    if (timer) { stop(); return; }
    if (step === data[mode].length - 1) { go(0); }
    q(".play").textContent = "❚❚ Pause";
    timer = setInterval(function () {
      if (step >= data[mode].length - 1) { stop(); } else { go(step + 1); }
    }, 1200);
  }
  q(".next").addEventListener("click", function () { stop(); go(step + 1); });
  q(".back").addEventListener("click", function () { stop(); go(step - 1); });
  q(".play").addEventListener("click", play);
  slider.addEventListener("input", function () { stop(); go(parseInt(slider.value, 10)); });
  root.querySelectorAll("button.mode").forEach(function (b) {
    b.addEventListener("click", function () {
      stop();
      mode = b.getAttribute("data-mode");
      root.querySelectorAll("button.mode").forEach(function (o) {
        o.classList.toggle("on", o === b);
      });
      views.backward.view.hidden = mode !== "backward";
      views.forward.view.hidden = mode !== "forward";
      go(0);
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.target && e.target.tagName === "INPUT" && e.target.type !== "range") { return; }
    var keys = { ArrowRight: step + 1, ArrowDown: step + 1, ArrowLeft: step - 1,
                 ArrowUp: step - 1, Home: 0, End: data[mode].length - 1 };
    if (e.key in keys) { stop(); go(keys[e.key]); e.preventDefault(); }
    else if (e.key === " ") { play(); e.preventDefault(); }
  });
  go(0);
})();
"""
