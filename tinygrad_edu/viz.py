"""Drawings of the computation graph, forward and backward, with Graphviz.

``draw(loss)`` walks the graph from ``loss`` back to its leaves (iteratively, so graphs of
any depth draw) and returns a `graphviz.Digraph`, which Jupyter shows inline:

- one box per tensor (its name, shape and dtype; its data and gradient on request), filled
  by its role: a parameter (a leaf that requires grad), a constant (a leaf that does not),
  an intermediate result, one an operation saved for backward, or the output;
- one ellipse per operation, and arrows the way the data flows.

``draw(loss, backward=True)`` draws the backward pass over the same graph: arrows point the
way the gradient flows, from the output to the leaves, and each carries the chain-rule
factor that step multiplies the gradient by, the operation's own ``labels`` (``·σ(1−σ)``
for sigmoid, ``·Bᵀ`` and ``Aᵀ·`` for a matrix product A·B).

Large graphs stay quick to draw: at most `MAX_NODES` nodes unless ``max_nodes`` says
otherwise (the oldest part becomes one summary node), and a tensor that many operations use
is drawn once and named again beside each further use (`SHARED_USES`).

``save(loss, "graph.svg")`` renders by suffix. Building a drawing needs only the
``graphviz`` Python package; rendering it (.svg, .png, .pdf, Jupyter) needs the Graphviz
``dot`` program, and without it raises `GraphvizNotFoundError`, which says how to install it.
`render` runs ``dot`` with a time and memory limit, and turns its failures into
`RenderError`. Every name and label is escaped for Graphviz (`printable`).
"""

from __future__ import annotations

import html
import shutil
import signal
import subprocess
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from tinygrad_edu.autograd import Function, Node, consumer_counts, grad, topological_order
from tinygrad_edu.functions import Linear, MatMul, SquaredError
from tinygrad_edu.tensor import Tensor

try:
    import resource  # POSIX: a memory limit for dot
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

__all__ = [
    "COLOURS",
    "INSTALL_HINT",
    "LEGEND",
    "MAX_NODES",
    "RENDER_MEMORY",
    "RENDER_SECONDS",
    "SAVED_BORDER",
    "SHARED_USES",
    "SMALL_TENSOR",
    "Drawing",
    "DrawnGraph",
    "GraphvizNotFoundError",
    "RenderError",
    "draw",
    "drawing_ids",
    "operand_names",
    "printable",
    "render",
    "save",
]

COLOURS: dict[str, str] = {
    "parameter": "#a5d8ff",  # blue
    "constant": "#dee2e6",  # grey
    "intermediate": "#ffffff",  # white
    "saved": "#ffc078",  # orange
    "output": "#b2f2bb",  # green
    "operation": "#e5dbff",  # lavender
    "summary": "#fff3bf",  # pale yellow
}
"""The fill colour of each kind of node."""

SAVED_BORDER = "#e8590c"
"""The border colour of every tensor that an operation saved for its backward (dark orange):
a saved intermediate is also filled orange, a saved leaf or output keeps its own fill."""

LEGEND: dict[str, str] = {
    "parameter": "parameter: a leaf that requires grad (backward fills its .grad)",
    "constant": "constant: a leaf that needs no gradient (data, targets, numbers)",
    "intermediate": "intermediate result",
    "saved": "saved for backward by an operation (a leaf or the output: orange border)",
    "output": "output: the tensor drawn from",
    "operation": "operation (dashed once backward() has freed what it saved)",
    "summary": "the part of the graph not drawn (max_nodes)",
}
"""What each colour means, as the legend of every drawing says it."""

SMALL_TENSOR = 16
"""Data and gradients of tensors with at most this many elements are printed in full; larger
ones show their range."""

INSTALL_HINT = (
    "rendering needs the Graphviz 'dot' program, which is not on PATH. Install Graphviz: "
    "'sudo apt-get install graphviz' (Debian, Ubuntu) or 'brew install graphviz' (macOS, "
    "Homebrew); others: https://graphviz.org/download/. Without it, draw() still builds the "
    "graph and save() still writes DOT source (.dot, .gv)."
)
"""What `GraphvizNotFoundError` says: how to install the ``dot`` program."""
_RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
_SOURCE = (".dot", ".gv")
_RANKDIRS = ("LR", "RL", "TB", "BT")
_FONT = "Helvetica,Arial,sans-serif"
_FACTOR_COLOUR = "#c92a2a"  # the chain-rule factors of the backward view (dark red)
MAX_WIDTH_INCHES = 8.3
"""Drawings wider than this are scaled down to it (Graphviz's ``size``): about 800 pixels
on a screen, so that a drawing fits a notebook or a docs page."""
_OPERANDS: dict[type[Function], tuple[str, ...]] = {
    MatMul: ("A", "B"),
    Linear: ("X", "W"),
    SquaredError: ("o", "t"),
}
"""Operand names of the operations' labels ("·Bᵀ" for A·B); other binary ops use a and b."""

MAX_NODES = 300
"""How many nodes a drawing has when ``max_nodes`` is None: enough for the book's network
many times over, few enough that ``dot`` lays any graph out in seconds."""

SHARED_USES = 4
"""A tensor used by more drawn operations than this is drawn once, and named again in a
small dashed box beside each further use: edges from one weight to every step of an RNN
would cross the whole drawing, and laying them out is what makes ``dot`` slow."""

RENDER_SECONDS = 60.0
"""How long `render` lets ``dot`` work before it stops it."""

RENDER_MEMORY = 4 * 2**30
"""The memory `render` lets ``dot`` take (on POSIX systems), in bytes."""


class GraphvizNotFoundError(RuntimeError):
    """Rendering needs the Graphviz ``dot`` program, and it is not installed (not on PATH)."""


class RenderError(RuntimeError):
    """The Graphviz ``dot`` program failed, crashed, or ran out of time or memory."""


class Drawing(graphviz.Digraph):  # type: ignore[misc]  # graphviz ships without type hints
    """A `graphviz.Digraph` that Jupyter shows as SVG through `render` (so ``dot`` is
    bounded in time and memory), and that explains a missing or failing ``dot`` instead of
    failing with a traceback."""

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **options: Any
    ) -> dict[str, Any]:
        try:
            return {"image/svg+xml": render(self, "svg").decode("utf-8")}
        except GraphvizNotFoundError:
            return {"text/plain": f"GraphvizNotFoundError: {INSTALL_HINT}"}
        except RenderError as error:
            return {"text/plain": f"RenderError: {error}"}


# --------------------------------------------------------------------------- the walk

Box = int | Node
"""A tensor's box in a drawing: ``id(leaf)`` for a leaf, and for any other tensor the node
that computed it (one value per node, whichever Tensor object carries it now)."""


class DrawnGraph:
    """What `draw` shows of the graph that computed ``root``: one box per tensor and one
    ellipse per operation, and which of them fit in ``max_nodes`` (None: `MAX_NODES`).

    Built on the engine's walk (`consumer_counts`, `topological_order`), which follows each
    node's ``parents``, the nodes that made its inputs when it ran: a tensor changed in place
    afterwards (``c += 1``) is drawn as the graph recorded it. ``items`` lists the tensors
    and operations so that each comes after everything that consumes it: the first n are
    connected to ``root``, and the oldest part of the graph is last (``hidden``). A tensor
    that more than `SHARED_USES` drawn operations use keeps its box at the nearest one and
    is named again in a small dashed box beside each of the others (``references``), so no
    edge runs across the drawing.
    """

    def __init__(self, root: Tensor, max_nodes: int | None = None) -> None:
        self.root = root
        self.max_nodes = MAX_NODES if max_nodes is None else max_nodes
        self.nodes = topological_order(consumer_counts([root]))
        root_box = root.grad_fn if root.grad_fn is not None else id(root)
        self.tensors: dict[Box, Tensor] = {root_box: root}  # the Tensor that each box shows
        self.consumers: dict[Box, list[Node]] = {}
        for node in self.nodes:
            for index, (t, parent) in enumerate(zip(node.inputs, node.parents, strict=True)):
                box = self.box(node, index)
                users = self.consumers.setdefault(box, [])
                if not users or users[-1] is not node:  # x * x: one use
                    users.append(node)
                shown = self.tensors.get(box)
                if shown is None or (t.grad_fn is parent and shown.grad_fn is not parent):
                    self.tensors[box] = t  # prefer a Tensor that still holds this value
        self.items: list[Tensor | Node] = [root]
        placed: set[Box] = {root_box}
        for node in self.nodes:  # each box right after its nearest consumer, in input order
            self.items.append(node)
            for index in range(len(node.inputs)):
                box = self.box(node, index)
                if box not in placed:
                    placed.add(box)
                    self.items.append(self.tensors[box])
        self.box_of = {id(t): box for box, t in self.tensors.items()}
        shared = {box for box, users in self.consumers.items() if len(users) > SHARED_USES}
        again: dict[Node, list[Box]] = {}  # operation -> the shared boxes it names again
        for node in self.nodes:
            inputs = dict.fromkeys(self.box(node, index) for index in range(len(node.inputs)))
            again[node] = [b for b in inputs if b in shared and self.consumers[b][0] is not node]
        costs = [1 + len(again[item]) if isinstance(item, Node) else 1 for item in self.items]
        drawn = len(self.items)
        if sum(costs) > self.max_nodes:  # keep what fits beside the summary node
            room, drawn = self.max_nodes - 1, 0
            while drawn < len(self.items) and costs[drawn] <= room:
                room -= costs[drawn]
                drawn += 1
        self.hidden = self.items[drawn:]
        self.ids = {id(item): f"{'op' if isinstance(item, Node) else 't'}{position}"
                    for position, item in enumerate(self.items[:drawn])}  # fmt: skip
        self.references: dict[tuple[Node, Box], str] = {}  # (operation, box) -> "r…"
        for item in self.items[:drawn]:
            if isinstance(item, Node):
                for box in again[item]:
                    self.references[item, box] = f"r{len(self.references)}"
        self.saved: set[Box] = set()  # boxes of tensors that an operation saved for backward
        self.saved_arrays: Counter[Node] = Counter()  # arrays saved that are not in the graph
        for node in self.nodes:
            for source in node.saved_sources:  # an input's index, or output/derived/constant
                if isinstance(source, int):
                    self.saved.add(self.box(node, source))
                elif source == "output":
                    self.saved.add(node)
                else:
                    self.saved_arrays[node] += 1

    def box(self, node: Node, index: int) -> Box:
        """The box of ``node``'s input ``index``."""
        parent = node.parents[index]
        return id(node.inputs[index]) if parent is None else parent

    def output(self, node: Node) -> Tensor:
        """The tensor ``node`` computed, as its box shows it."""
        return self.tensors[node]

    def id(self, item: Tensor | Node) -> str:
        """The DOT node of a tensor (as ``tensors`` holds it) or an operation: "t0", "op1",
        or "summary" for one in the part of the graph that is not drawn."""
        return self.ids.get(id(item), "summary")

    def input_id(self, node: Node, index: int) -> str:
        """The DOT node that ``node``'s edge for input ``index`` meets: the input's box, or
        the dashed box that names it again beside ``node`` (see ``references``)."""
        box = self.box(node, index)
        return self.references.get((node, box)) or self.id(self.tensors[box])

    def kind(self, t: Tensor) -> str:
        """parameter, constant, output, saved or intermediate: the box's fill (`COLOURS`)."""
        box = self.box_of[id(t)]
        if t is self.root:
            return "output"
        if isinstance(box, int):
            return "parameter" if t.requires_grad else "constant"
        return "saved" if box in self.saved else "intermediate"

    def is_saved(self, t: Tensor) -> bool:
        return self.box_of[id(t)] in self.saved


# --------------------------------------------------------------------------- labels


def printable(text: str) -> str:
    """``text`` with each character that Graphviz or XML refuses (control characters, lone
    surrogates, U+FFFE, U+FFFF) written as its Python escape (``\\x01``): names and labels
    come from the user and reach ``dot``, an SVG and a page."""
    return "".join(
        character
        if unicodedata.category(character) not in ("Cc", "Cs") and character not in "\ufffe\uffff"
        else ascii(character)[1:-1]
        for character in text
    )


def _text(text: str) -> str:
    """Any text as the content of an HTML-like label: escaped and printable, and each
    backslash doubled (``dot`` reads ``\\N`` as the node's name even there)."""
    return html.escape(printable(text)).replace("\\", "\\\\")


def _html(lines: list[str]) -> str:
    return "<" + "<br/>".join(lines) + ">"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def _values(what: str, array: np.ndarray) -> list[str]:
    """``data = [0.9 0.1 0.8]ᵀ``: in full for small arrays (columns as transposed rows),
    the range for larger ones."""
    if array.size > SMALL_TENSOR:
        low, high = float(np.min(array)), float(np.max(array))
        return [f"{what} ∈ [{low:.3g}, {high:.3g}]"]
    if array.ndim == 0:
        text = _number(array.item())
    elif array.ndim == 2 and array.shape[1] == 1:
        text = np.array2string(array.ravel(), precision=4, suppress_small=True) + "ᵀ"
    else:
        text = np.array2string(array, precision=4, suppress_small=True)
    prefix = f"{what} = "
    rows = [prefix + text.split("\n")[0]]
    rows += [" " * len(prefix) + row for row in text.split("\n")[1:]]
    return [
        '<font face="monospace" point-size="10">'
        + html.escape(row).replace(" ", "&#160;")
        + "</font>"
        for row in rows
    ]


def _title(t: Tensor, kind: str) -> str | None:
    """The name, or the value of a nameless one-element constant (the 0.5 in 0.5 * E)."""
    return t.name or _number_title(t, kind)


def _number_title(t: Tensor, kind: str) -> str | None:
    if t.name or kind != "constant" or t.data.size != 1:
        return None
    return _number(t.data.item())


def _tensor_label(
    t: Tensor, kind: str, show_data: bool, show_grad: bool, gradient: np.ndarray | None = None
) -> str:
    """Name, shape and dtype; data and gradient on request. ``gradient`` is what the engine
    says when ``t.grad`` is not kept (see `_engine_gradients`)."""
    lines = []
    title = _title(t, kind)
    if title is not None:
        lines.append(f"<b>{_text(title)}</b>")
    shape = "scalar" if t.ndim == 0 else str(t.shape)
    lines.append(f'<font point-size="10">{shape} {t.dtype}</font>')
    if show_data and title != _number_title(t, kind):  # not "0.5" again under 0.5
        lines += _values("data", t.data)
    if show_grad and t.grad is not None:
        lines += _values("grad", t.grad)
    elif show_grad and gradient is not None:
        lines += _values("grad", gradient)
    return _html(lines)


def operand_names(function: type[Function], count: int) -> tuple[str, ...]:
    """The names an operation's labels give its inputs: A and B for A·B (its "·Bᵀ"), x for
    one input, a and b for other binary operations."""
    if count == 1:
        return ("x",)
    if function in _OPERANDS:
        return _OPERANDS[function]
    return ("a", "b") if count == 2 else tuple(f"x{i + 1}" for i in range(count))


def _short(t: Tensor, graph: DrawnGraph) -> str:
    title = _title(t, graph.kind(t))
    return title if title is not None else ("scalar" if t.ndim == 0 else str(t.shape))


def _op_label(node: Node, graph: DrawnGraph, backward: bool) -> str:
    lines = [_text(node.name if backward else node.function.__name__)]
    small = '<font point-size="9">{}</font>'
    if backward and len(node.inputs) > 1:
        names = operand_names(node.function, len(node.inputs))
        shown = [graph.tensors[graph.box(node, i)] for i in range(len(node.inputs))]
        pairs = [f"{n} = {_short(t, graph)}" for n, t in zip(names, shown, strict=True)]
        lines.append(small.format(_text(", ".join(pairs))))
    hidden = graph.saved_arrays[node]
    if hidden:
        lines.append(small.format(f"+ {hidden} saved array{'s' if hidden > 1 else ''}"))
    return _html(lines)


def _legend(backward: bool, graph: DrawnGraph, has_linear: bool = False) -> str:
    rows = ['<tr><td colspan="2"><b>{}</b></td></tr>'.format(
        "backward pass: the gradient flows along the arrows" if backward
        else "forward pass: the data flows along the arrows"
    )]  # fmt: skip
    for kind, text in LEGEND.items():
        if kind == "summary" and not graph.hidden:
            continue
        border = f' color="{SAVED_BORDER}"' if kind == "saved" else ""
        rows.append(
            f'<tr><td bgcolor="{COLOURS[kind]}"{border} width="24"></td>'
            f'<td align="left">{html.escape(text)}</td></tr>'
        )
    notes = (
        [
            "edge label: the chain-rule factor of that step (each operation's labels)",
            "A, B (a, b): the operands of the operation, as its box says",
            *(["G (Linear's Gᵀ·): the gradient arriving at the operation's output"] * has_linear),
            "grad = 1 on the output: where the backward pass starts (∂output/∂output)",
            "grad on a box: ∂output/∂tensor; an intermediate keeps it after backward() only "
            "if it called retain_grad()",
            "dotted line: an input that needs no gradient",
        ]
        if backward
        else ["A, B (a, b) on an edge: which operand of the operation it is"]
    )
    if graph.references:
        notes.append(
            f"dashed box: a tensor used by more than {SHARED_USES} operations, drawn once and "
            "named again beside each further use"
        )
    rows += [f'<tr><td colspan="2" align="left">{html.escape(n)}</td></tr>' for n in notes]
    table = '<table border="0" cellborder="1" cellspacing="0" cellpadding="4">{}</table>'
    return "<" + table.format("".join(rows)) + ">"


# --------------------------------------------------------------------------- draw


def draw(
    tensor: Tensor,
    show_data: bool = False,
    show_grad: bool = True,
    rankdir: str = "TB",
    max_nodes: int | None = None,
    backward: bool = False,
    *,
    legend: bool = True,
) -> Drawing:
    """The graph that computed ``tensor``, as a `graphviz.Digraph` (Jupyter shows it inline).

    ``show_data``/``show_grad`` print each tensor's values and gradient (in full when it has
    at most `SMALL_TENSOR` elements, else their range). ``rankdir`` is Graphviz's direction:
    "TB" (top to bottom, the default, as ``tinygrad-edu graph``), "LR" (left to right), "RL"
    or "BT". A drawing wider than `MAX_WIDTH_INCHES` is scaled down to that width.
    ``max_nodes`` caps the number of nodes drawn (None: `MAX_NODES`, so that any graph
    renders in seconds): the part of the graph farthest from ``tensor`` (the oldest)
    becomes one summary node that counts the operations it holds. A tensor used by more
    than `SHARED_USES` drawn operations (a weight shared across the steps of an RNN) is
    drawn once and named again beside each further use. ``legend=False`` leaves out the
    legend (the graph's label, below the drawing).

    ``backward=True`` draws the backward pass: arrows the way the gradient flows, labelled
    with each step's chain-rule factor. With ``show_grad`` the output shows grad = 1 (where
    the pass starts) and every tensor that requires grad its gradient: ``.grad`` where the
    engine kept it, else, while the graph is intact, the engine's ``grad()`` of the output
    with respect to it. Works before and after ``backward()``. Needs no ``dot`` program
    (rendering does).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw: expected a Tensor, got {type(tensor).__name__}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"draw: rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or max_nodes < 2):
        raise ValueError(
            "draw: max_nodes must be an integer of at least 2 (the tensor and a summary node "
            f"of the rest), got {max_nodes!r}"
        )
    graph = DrawnGraph(tensor, max_nodes)
    drawn = [item for item in graph.items if id(item) in graph.ids]
    graph_attributes = {
        "rankdir": rankdir,
        "fontname": _FONT,
        "fontsize": "11",
        "size": f"{MAX_WIDTH_INCHES},{10 * MAX_WIDTH_INCHES}",  # only ever scales down
    }
    has_linear = any(isinstance(item, Node) and item.function is Linear for item in drawn)
    if legend:  # the graph's label, not a node: it takes nothing from max_nodes
        graph_attributes |= {
            "label": _legend(backward, graph, has_linear),
            "labelloc": "b",
            "labeljust": "l",
        }
    dot = Drawing(
        name="backward" if backward else "forward",
        graph_attr=graph_attributes,
        node_attr={"fontname": _FONT, "fontsize": "11"},
        edge_attr={"fontname": _FONT, "fontsize": "10"},
    )
    gradients = _engine_gradients(graph, drawn) if backward and show_grad else {}
    for item in drawn:
        if isinstance(item, Tensor):
            _add_tensor(dot, graph, item, show_data, show_grad, gradients.get(id(item)))
        else:
            _add_operation(dot, graph, item, backward)
    for (node, box), name in graph.references.items():
        _add_reference(dot, graph, name, graph.tensors[box], node)
    _add_edges(dot, graph, backward)
    if graph.hidden:
        dot.node(
            "summary",
            _summary_label(graph, max_nodes),
            shape="note",
            style="filled,dashed",
            fillcolor=COLOURS["summary"],
        )
    return dot


def drawing_ids(tensor: Tensor, max_nodes: int | None = None) -> list[tuple[Tensor | Node, str]]:
    """Each tensor and operation of ``draw(tensor, max_nodes=max_nodes)`` with the name of
    its node in the DOT source ("t0", "op1", …; "summary" for those folded into the summary
    node), nearest to ``tensor`` first: for a page that highlights parts of the drawing.
    (`DrawnGraph` tells more: the boxes of each operation's inputs, the shared tensors.)"""
    graph = DrawnGraph(tensor, max_nodes)
    return [(item, graph.id(item)) for item in graph.items]


def _engine_gradients(graph: DrawnGraph, drawn: list[Tensor | Node]) -> dict[int, np.ndarray]:
    """id → ∂root/∂t for the drawn tensors that require grad but keep no ``.grad``: 1 for
    a one-element root; for the others the engine's own ``grad()``, while the graph is
    intact (before ``backward()`` frees it) — afterwards only retain_grad() keeps them."""
    root = graph.root
    if root.size != 1 or not root.requires_grad:
        return {}
    found = {id(root): np.ones_like(root.data)}
    if any(node.released for node in graph.nodes):
        return found
    wanted = [
        t
        for t in drawn
        if isinstance(t, Tensor) and t is not root and t.requires_grad and t.grad is None
    ]
    if not wanted:
        return found
    try:
        gradients = grad(root, wanted, retain_graph=True, allow_unused=True)
    except Exception:  # an operation whose backward fails: draw without these values
        return found
    for t, g in zip(wanted, gradients, strict=True):
        if g is not None:
            found[id(t)] = g.data
    return found


def _add_tensor(
    dot: graphviz.Digraph,
    graph: DrawnGraph,
    t: Tensor,
    show_data: bool,
    show_grad: bool,
    gradient: np.ndarray | None = None,
) -> None:
    kind = graph.kind(t)
    saved = graph.is_saved(t)
    dot.node(
        graph.id(t),
        _tensor_label(t, kind, show_data, show_grad, gradient),
        shape="box",
        style="filled",
        fillcolor=COLOURS[kind],
        color=SAVED_BORDER if saved else "black",
        penwidth="2.5" if saved else "1",
    )


def _add_reference(
    dot: graphviz.Digraph, graph: DrawnGraph, name: str, t: Tensor, node: Node
) -> None:
    """A small dashed box beside ``node`` that names a shared tensor drawn elsewhere."""
    box = graph.box_of[id(t)]
    uses = graph.consumers[box]
    lines = [f"<b>{_text(_short(t, graph))}</b>"]
    small = '<font point-size="9">{}</font>'
    lines.append(small.format(f"again: use {uses.index(node) + 1} of {len(uses)}"))
    dot.node(
        name,
        _html(lines),
        shape="box",
        style="filled,dashed",
        fillcolor=COLOURS[graph.kind(t)],
        fontsize="10",
    )


def _add_operation(dot: graphviz.Digraph, graph: DrawnGraph, node: Node, backward: bool) -> None:
    dot.node(
        graph.id(node),
        _op_label(node, graph, backward),
        shape="ellipse",
        style="filled,dashed" if node.released else "filled",
        fillcolor=COLOURS["operation"],
    )


def _add_edges(dot: graphviz.Digraph, graph: DrawnGraph, backward: bool) -> None:
    """Forward: input → operation → output, operands named. Backward: output → operation →
    each input, labelled with the operation's chain-rule factor (dotted where an input needs
    no gradient). An edge with one end not drawn goes to the summary node, once."""
    to_summary: set[tuple[str, str]] = set()

    def edge(tail: str, head: str, **attributes: str) -> None:
        if "summary" not in (tail, head):
            dot.edge(tail, head, **attributes)
        elif (tail, head) != ("summary", "summary") and (tail, head) not in to_summary:
            to_summary.add((tail, head))
            dot.edge(tail, head, style="dashed")

    for node in graph.nodes:
        op, output = graph.id(node), graph.id(graph.output(node))
        if op == "summary" and output == "summary":
            continue
        labels = node.function.labels
        inputs = [graph.input_id(node, index) for index in range(len(node.inputs))]
        if backward:
            edge(output, op)
            for index, head in enumerate(inputs):
                if not node.needs_input_grad[index]:
                    edge(op, head, style="dotted", dir="none", color="#868e96")
                elif len(labels) != len(node.inputs):  # an operation without labels
                    edge(op, head)
                else:
                    label = graphviz.escape(printable(labels[index]))
                    edge(op, head, label=label, fontsize="12", fontcolor=_FACTOR_COLOUR)
        else:
            operands = operand_names(node.function, len(node.inputs))
            for index, tail in enumerate(inputs):
                edge(tail, op, **({"label": operands[index]} if len(node.inputs) > 1 else {}))
            edge(op, output)


def _summary_label(graph: DrawnGraph, max_nodes: int | None) -> str:
    """What the summary node stands for: the operations by name, the tensors by kind."""
    hidden = graph.hidden
    operations = Counter(item.function.__name__ for item in hidden if isinstance(item, Node))
    tensors = Counter(graph.kind(item) for item in hidden if isinstance(item, Tensor))
    parts = [f"{count:,} × {name}" for name, count in operations.most_common()]
    parts += [f"{count:,} {kind} tensor{'s' * (count > 1)}" for kind, count in tensors.items()]
    budget = (
        f"max_nodes={max_nodes}"
        if max_nodes
        else f"max_nodes=None draws at most {MAX_NODES:,}; pass more to draw more"
    )
    lines = [
        f"{len(hidden):,} more nodes, the oldest part of the graph",
        f"(not drawn: {budget}):",
        *parts,
    ]
    return _html([_text(line) for line in lines])


# --------------------------------------------------------------------------- render and save


def render(drawing: graphviz.Digraph, format: str, timeout: float | None = None) -> bytes:
    """The drawing rendered by the Graphviz ``dot`` program (``format``: "svg", "png",
    "pdf", …), within ``timeout`` seconds (None: `RENDER_SECONDS`) and `RENDER_MEMORY`
    bytes of memory.

    ``dot`` is always stopped when this returns or raises. Raises `GraphvizNotFoundError`
    when ``dot`` is missing and `RenderError` when it fails, crashes or runs out of time
    or memory.
    """
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    seconds = RENDER_SECONDS if timeout is None else timeout
    size = f"{len(drawing.body):,} statements"
    try:
        done = subprocess.run(
            [program, f"-T{format}"],
            input=drawing.source.encode("utf-8"),
            capture_output=True,
            timeout=seconds,
            preexec_fn=_limit_memory if resource is not None else None,
            check=False,
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        raise RenderError(
            f"dot did not finish drawing this graph ({size}) in {seconds:g} s and was "
            "stopped; draw fewer nodes (max_nodes)"
        ) from None
    if done.returncode != 0:
        said = " ".join(done.stderr.decode("utf-8", "replace").split())[:500] or "no message"
        if done.returncode > 0 and "memory" not in said:
            raise RenderError(f"dot failed (exit status {done.returncode}): {said}")
        how = (
            f"crashed ({signal.Signals(-done.returncode).name})"
            if done.returncode < 0
            else f"failed (exit status {done.returncode})"
        )
        raise RenderError(
            f"dot {how} drawing this graph ({size}): {said}; it may use "
            f"{RENDER_MEMORY / 2**30:g} GiB of memory: draw fewer nodes (max_nodes)"
        )
    return done.stdout


def _limit_memory() -> None:  # runs in the child, before dot starts
    assert resource is not None
    resource.setrlimit(resource.RLIMIT_AS, (RENDER_MEMORY, RENDER_MEMORY))


def save(
    tensor_or_drawing: Tensor | graphviz.Digraph, path: str | Path, **draw_options: Any
) -> Path:
    """Write a drawing to ``path`` by its suffix: render .svg, .png or .pdf with the Graphviz
    ``dot`` program (`render`), or write the DOT source to .dot or .gv (no ``dot`` needed).

    Given a Tensor, draws it first with ``draw_options`` (those of `draw`). Returns the path.
    Raises `GraphvizNotFoundError` (a RuntimeError) when rendering needs ``dot`` and it is
    missing, `RenderError` when ``dot`` fails.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _RENDERED and suffix not in _SOURCE:
        accepted = ", ".join([*_RENDERED, *_SOURCE])
        raise ValueError(
            f"save: cannot tell the format of {str(path)!r}; use a suffix of {accepted}"
        )
    if isinstance(tensor_or_drawing, Tensor):
        drawing = draw(tensor_or_drawing, **draw_options)
    elif isinstance(tensor_or_drawing, graphviz.Digraph):
        if draw_options:
            raise TypeError(
                f"save: drawing options {sorted(draw_options)} apply to a Tensor only; this is "
                "a finished graphviz.Digraph"
            )
        drawing = tensor_or_drawing
    else:
        raise TypeError(
            f"save: expected a Tensor or a graphviz.Digraph, got {type(tensor_or_drawing).__name__}"
        )
    if suffix in _SOURCE:
        path.write_text(drawing.source, encoding="utf-8")
        return path
    try:
        image = render(drawing, _RENDERED[suffix])
    except GraphvizNotFoundError:
        raise GraphvizNotFoundError(f"save {str(path)!r}: {INSTALL_HINT}") from None
    except RenderError as error:
        raise RenderError(f"save {str(path)!r}: {error}") from None
    path.write_bytes(image)
    return path


# --------------------------------------------------------------------------- step through


def explore(loss: Tensor, **options: Any) -> Any:
    """A page that steps through the backward pass of ``loss`` with the engine's numbers:
    `tinygrad_edu.explore.explore` (its options: rankdir, max_nodes, title). Jupyter shows
    it inline; ``.save("page.html")`` writes one self-contained file."""
    # The page builds on this module, so it is loaded only when called (no import cycle);
    # at import time viz depends on the core alone.
    from tinygrad_edu import explore as page

    return page.explore(loss, **options)
