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

``save(loss, "graph.svg")`` renders by suffix. Building a drawing needs only the
``graphviz`` Python package; rendering it (.svg, .png, .pdf, Jupyter) needs the Graphviz
``dot`` program, and without it raises `GraphvizNotFoundError`, which says how to install it.
"""

from __future__ import annotations

import html
from collections import Counter, deque
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from tinygrad_edu.autograd import Function, Node, grad
from tinygrad_edu.functions import Linear, MatMul, SquaredError
from tinygrad_edu.tensor import Tensor

__all__ = [
    "COLOURS",
    "INSTALL_HINT",
    "LEGEND",
    "SAVED_BORDER",
    "SMALL_TENSOR",
    "Drawing",
    "GraphvizNotFoundError",
    "draw",
    "drawing_ids",
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


class GraphvizNotFoundError(RuntimeError):
    """Rendering needs the Graphviz ``dot`` program, and it is not installed (not on PATH)."""


class Drawing(graphviz.Digraph):  # type: ignore[misc]  # graphviz ships without type hints
    """A `graphviz.Digraph` that, in Jupyter, explains a missing ``dot`` program instead of
    failing with a traceback."""

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **options: Any
    ) -> dict[str, Any]:
        try:
            return super()._repr_mimebundle_(include, exclude, **options)
        except graphviz.ExecutableNotFound:
            return {"text/plain": f"GraphvizNotFoundError: {INSTALL_HINT}"}


# --------------------------------------------------------------------------- the walk


class _Graph:
    """Every tensor and operation reachable from ``root``, nearest first (breadth first, so
    the first n items are connected to the root and the oldest part of the graph is last)."""

    def __init__(self, root: Tensor) -> None:
        self.root = root
        self.items: list[Tensor | Node] = [root]
        self.output_of: dict[int, Tensor] = {}  # id(node) -> the tensor it produced
        seen = {id(root)}
        queue: deque[Tensor | Node] = deque([root])
        while queue:
            item = queue.popleft()
            if isinstance(item, Tensor):
                if item.grad_fn is None:
                    continue
                self.output_of[id(item.grad_fn)] = item
                neighbours: tuple[Tensor | Node, ...] = (item.grad_fn,)
            else:
                neighbours = item.inputs
            for neighbour in neighbours:
                if id(neighbour) not in seen:
                    seen.add(id(neighbour))
                    self.items.append(neighbour)
                    queue.append(neighbour)
        self.ids = {id(item): f"{'t' if isinstance(item, Tensor) else 'op'}{i}"
                    for i, item in enumerate(self.items)}  # fmt: skip
        self.saved: set[int] = set()  # ids of tensors that some operation saved
        self.saved_arrays: Counter[int] = Counter()  # id(node) -> saved arrays not in the graph
        for item in self.items:
            if isinstance(item, Node):
                for source in item.saved_sources:  # an input's index, or output/derived/constant
                    if isinstance(source, int):
                        self.saved.add(id(item.inputs[source]))
                    elif source == "output":
                        self.saved.add(id(self.output_of[id(item)]))
                    else:
                        self.saved_arrays[id(item)] += 1

    def kept(self, max_nodes: int | None) -> int:
        """How many of the items are drawn: all, or max_nodes − 1 and one summary node."""
        if max_nodes is not None and len(self.items) > max_nodes:
            return max_nodes - 1
        return len(self.items)

    def kind(self, t: Tensor) -> str:
        if t is self.root:
            return "output"
        if t.grad_fn is None:
            return "parameter" if t.requires_grad else "constant"
        return "saved" if id(t) in self.saved else "intermediate"


# --------------------------------------------------------------------------- labels


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
        lines.append(f"<b>{html.escape(title)}</b>")
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


def _short(t: Tensor, graph: _Graph) -> str:
    title = _title(t, graph.kind(t))
    return title if title is not None else ("scalar" if t.ndim == 0 else str(t.shape))


def _op_label(node: Node, graph: _Graph, backward: bool) -> str:
    lines = [html.escape(node.name if backward else node.function.__name__)]
    small = '<font point-size="9">{}</font>'
    if backward and len(node.inputs) > 1:
        names = operand_names(node.function, len(node.inputs))
        pairs = [f"{n} = {_short(t, graph)}" for n, t in zip(names, node.inputs, strict=True)]
        lines.append(small.format(html.escape(", ".join(pairs))))
    hidden = graph.saved_arrays[id(node)]
    if hidden:
        lines.append(small.format(f"+ {hidden} saved array{'s' if hidden > 1 else ''}"))
    return _html(lines)


def _legend(backward: bool, collapsed: bool, has_linear: bool = False) -> str:
    rows = ['<tr><td colspan="2"><b>{}</b></td></tr>'.format(
        "backward pass: the gradient flows along the arrows" if backward
        else "forward pass: the data flows along the arrows"
    )]  # fmt: skip
    for kind, text in LEGEND.items():
        if kind == "summary" and not collapsed:
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
    ``max_nodes`` caps the number of nodes drawn: the part of the graph farthest from
    ``tensor`` (the oldest) becomes one summary node that counts the operations it holds.
    ``legend=False`` leaves out the legend (the graph's label, below the drawing).

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
    graph = _Graph(tensor)
    kept = graph.kept(max_nodes)
    drawn = {id(item) for item in graph.items[:kept]}
    collapsed = kept < len(graph.items)

    graph_attributes = {
        "rankdir": rankdir,
        "fontname": _FONT,
        "fontsize": "11",
        "size": f"{MAX_WIDTH_INCHES},{10 * MAX_WIDTH_INCHES}",  # only ever scales down
    }
    has_linear = any(
        isinstance(item, Node) and item.function is Linear for item in graph.items[:kept]
    )
    if legend:  # the graph's label, not a node: it takes nothing from max_nodes
        graph_attributes |= {
            "label": _legend(backward, collapsed, has_linear),
            "labelloc": "b",
            "labeljust": "l",
        }
    dot = Drawing(
        name="backward" if backward else "forward",
        graph_attr=graph_attributes,
        node_attr={"fontname": _FONT, "fontsize": "11"},
        edge_attr={"fontname": _FONT, "fontsize": "10"},
    )
    gradients = _engine_gradients(graph, graph.items[:kept]) if backward and show_grad else {}
    for item in graph.items[:kept]:
        if isinstance(item, Tensor):
            _add_tensor(dot, graph, item, show_data, show_grad, gradients.get(id(item)))
        else:
            _add_operation(dot, graph, item, backward)
    _add_edges(dot, graph, drawn, backward)
    if collapsed:
        dot.node(
            "summary",
            _summary_label(graph, graph.items[kept:], max_nodes),
            shape="note",
            style="filled,dashed",
            fillcolor=COLOURS["summary"],
        )
    return dot


def drawing_ids(tensor: Tensor, max_nodes: int | None = None) -> list[tuple[Tensor | Node, str]]:
    """Each tensor and operation of ``draw(tensor, max_nodes=max_nodes)`` with the name of
    its node in the DOT source ("t0", "op1", …; "summary" for those folded into the summary
    node), nearest to ``tensor`` first: for a page that highlights parts of the drawing."""
    graph = _Graph(tensor)
    kept = graph.kept(max_nodes)
    return [
        (item, graph.ids[id(item)] if position < kept else "summary")
        for position, item in enumerate(graph.items)
    ]


def _engine_gradients(graph: _Graph, drawn: list[Tensor | Node]) -> dict[int, np.ndarray]:
    """id → ∂root/∂t for the drawn tensors that require grad but keep no ``.grad``: 1 for
    a one-element root; for the others the engine's own ``grad()``, while the graph is
    intact (before ``backward()`` frees it) — afterwards only retain_grad() keeps them."""
    root = graph.root
    if root.size != 1 or not root.requires_grad:
        return {}
    found = {id(root): np.ones_like(root.data)}
    if any(isinstance(item, Node) and item.released for item in graph.items):
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
    graph: _Graph,
    t: Tensor,
    show_data: bool,
    show_grad: bool,
    gradient: np.ndarray | None = None,
) -> None:
    kind = graph.kind(t)
    saved = id(t) in graph.saved
    dot.node(
        graph.ids[id(t)],
        _tensor_label(t, kind, show_data, show_grad, gradient),
        shape="box",
        style="filled",
        fillcolor=COLOURS[kind],
        color=SAVED_BORDER if saved else "black",
        penwidth="2.5" if saved else "1",
    )


def _add_operation(dot: graphviz.Digraph, graph: _Graph, node: Node, backward: bool) -> None:
    dot.node(
        graph.ids[id(node)],
        _op_label(node, graph, backward),
        shape="ellipse",
        style="filled,dashed" if node.released else "filled",
        fillcolor=COLOURS["operation"],
    )


def _add_edges(
    dot: graphviz.Digraph,
    graph: _Graph,
    drawn: set[int],
    backward: bool,
) -> None:
    """Forward: input → operation → output, operands named. Backward: output → operation →
    each input, labelled with the operation's chain-rule factor (dotted where an input needs
    no gradient). An edge with one end not drawn goes to the summary node, once."""
    to_summary: set[tuple[str, str]] = set()

    def edge(tail: Tensor | Node, head: Tensor | Node, **attributes: str) -> None:
        tail_drawn, head_drawn = id(tail) in drawn, id(head) in drawn
        if tail_drawn and head_drawn:
            dot.edge(graph.ids[id(tail)], graph.ids[id(head)], **attributes)
        elif tail_drawn or head_drawn:
            ends = (graph.ids[id(tail)] if tail_drawn else "summary",
                    graph.ids[id(head)] if head_drawn else "summary")  # fmt: skip
            if ends not in to_summary:
                to_summary.add(ends)
                dot.edge(*ends, style="dashed")

    for node in graph.items:
        if not isinstance(node, Node):
            continue
        output = graph.output_of[id(node)]
        labels = node.function.labels
        if backward:
            edge(output, node)
            for index, t in enumerate(node.inputs):
                if not node.needs_input_grad[index]:
                    edge(node, t, style="dotted", dir="none", color="#868e96")
                elif len(labels) != len(node.inputs):  # an operation without labels
                    edge(node, t)
                else:
                    label = labels[index]
                    edge(node, t, label=label, fontsize="12", fontcolor=_FACTOR_COLOUR)
        else:
            operands = operand_names(node.function, len(node.inputs))
            for index, t in enumerate(node.inputs):
                edge(t, node, **({"label": operands[index]} if len(node.inputs) > 1 else {}))
            edge(node, output)


def _summary_label(graph: _Graph, hidden: list[Tensor | Node], max_nodes: int | None) -> str:
    """What the summary node stands for: the operations by name, the tensors by kind."""
    operations = Counter(item.function.__name__ for item in hidden if isinstance(item, Node))
    tensors = Counter(graph.kind(item) for item in hidden if isinstance(item, Tensor))
    parts = [f"{count:,} × {name}" for name, count in operations.most_common()]
    parts += [f"{count:,} {kind} tensor{'s' * (count > 1)}" for kind, count in tensors.items()]
    return (
        f"{len(hidden):,} more nodes, the oldest part of the graph\\n"
        f"(not drawn: max_nodes={max_nodes}):\\n" + "\\n".join(parts)
    )


# --------------------------------------------------------------------------- save


def save(
    tensor_or_drawing: Tensor | graphviz.Digraph, path: str | Path, **draw_options: Any
) -> Path:
    """Write a drawing to ``path`` by its suffix: render .svg, .png or .pdf with the Graphviz
    ``dot`` program, or write the DOT source to .dot or .gv (no ``dot`` needed).

    Given a Tensor, draws it first with ``draw_options`` (those of `draw`). Returns the path.
    Raises `GraphvizNotFoundError` (a RuntimeError) when rendering needs ``dot`` and it is
    missing.
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
        image = drawing.pipe(format=_RENDERED[suffix])
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(f"save {str(path)!r}: {INSTALL_HINT}") from None
    path.write_bytes(image)
    return path


# --------------------------------------------------------------------------- the book's network


# --------------------------------------------------------------------------- step through


def explore(loss: Tensor, **options: Any) -> Any:
    """A page that steps through the backward pass of ``loss`` with the engine's numbers:
    `tinygrad_edu.explore.explore` (its options: rankdir, max_nodes, title). Jupyter shows
    it inline; ``.save("page.html")`` writes one self-contained file."""
    # The page builds on this module, so it is loaded only when called (no import cycle);
    # at import time viz depends on the core alone.
    from tinygrad_edu import explore as page

    return page.explore(loss, **options)
