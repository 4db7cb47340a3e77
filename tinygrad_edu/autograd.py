"""The engine: how a forward computation is recorded, and how backward() runs it in reverse.

Read this file first. Each operation is a `Function` with a ``forward`` and a ``backward``;
`Function.apply` runs the forward and records one `Node` (the ``grad_fn`` of its result)
that remembers the inputs. `backward_pass` is the chain rule over the whole graph: it visits
the nodes in reverse topological order (Kahn's algorithm: a node runs once every node that
consumed its output has sent it a gradient), applies each node's own chain rule, and adds
what it sends into what its inputs have collected.

What the engine must do besides (versions of saved arrays, in-place guards, freeing the
graph, anomaly checks, retain_grad, ``grad()``'s targets, ``create_graph``, not copying
gradients) lives in ``policies.py`` and enters here as one marked call each
(``policies.…``). ``functions.py`` holds the operations themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from tinygrad_edu import policies
from tinygrad_edu.modes import (
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
)
from tinygrad_edu.policies import GraphReleasedError, Tape, tape

__all__ = [
    "Function",
    "GraphReleasedError",
    "Node",
    "Step",
    "Tape",
    "backward_pass",
    "backward_steps",
    "consumer_counts",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "graph_tensors",
    "input_gradients",
    "is_grad_enabled",
    "no_grad",
    "tape",
    "topological_order",
    "unbroadcast",
]


class Node(policies.NodeRecords):
    """One recorded operation: the ``grad_fn`` of the tensor it produced.

    The same object is the ``ctx`` that the operation's ``forward`` and ``backward``
    receive: forward stores its options on it (``ctx.axis = axis``) and saves what backward
    needs (``ctx.save_for_backward(y)``); backward reads them back (``ctx.saved``).
    """

    def __init__(self, function: type[Function], inputs: Sequence[Tensor]) -> None:
        self.function = function
        self.inputs = tuple(inputs)  # the tensors the operation was applied to
        self.parents = tuple([t.grad_fn for t in inputs])  # the nodes that made them (None: leaf)
        self.needs_input_grad = tuple([t.requires_grad for t in inputs])

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep what ``backward`` needs: the very arrays ``forward`` received or returned."""
        policies.refuse_a_second_save(self, "save_for_backward", self._saved)
        self._saved = arrays

    @property
    def saved(self) -> tuple[Any, ...]:
        """What forward saved (checked first: not freed, not changed since the forward)."""
        return policies.saved_values(self)


class Function:
    """Base class of every operation: subclass it with two static methods side by side.

    ``forward(ctx, *arrays, **options) -> array`` computes the result from numpy arrays and
    saves what the backward needs with ``ctx.save_for_backward``.
    ``backward(ctx, grad) -> gradient per input`` is the chain rule: given ∂L/∂output it
    returns ∂L/∂input for each tensor input (None where none is needed). Written with the
    operations that numpy arrays and Tensors share, it runs on arrays in an ordinary
    backward pass and on Tensors, recorded, when ``create_graph=True``.

    ``MyOp.apply(*tensors, **options)`` runs the forward and records the node.

    The gradient ``backward`` receives is read-only: the engine may hand the same array to
    several backwards (``Add`` passes its incoming gradient to both inputs), so writing
    into it (``grad *= 2``) would change a sibling's gradient. Return new arrays.
    """

    labels: tuple[str, ...] = ()
    """The chain-rule factor each input's gradient picks up, one short label per tensor input
    (``("·σ(1−σ)",)`` for sigmoid), written beside the formula; drawings show them."""

    @staticmethod
    def forward(ctx: Node, *arrays: Any, **options: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, grad: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays; if an input requires grad, the result
        remembers the node (its ``grad_fn``) so that backward can find its way back."""
        tensors = policies.as_tensors(inputs, Tensor)  # numbers, arrays: constant Tensors
        ctx = Node(cls, tensors)
        arrays = [t.data for t in tensors]
        try:
            raw = cls.forward(ctx, *arrays, **options)
        except ValueError as error:  # policy: numpy's words for a bad shape, in ours
            raise policies.named_error(cls, arrays, error)  # noqa: B904 - keeps its own cause
        recorded = any(ctx.needs_input_grad) and is_grad_enabled()
        out = Tensor._from_op(np.asarray(raw), ctx if recorded else None)
        policies.after_forward(ctx, out, raw, recorded, options)  # saved arrays, views, tapes
        return out


# --------------------------------------------------------------------------- the graph


def consumer_counts(roots: Sequence[Tensor]) -> dict[Node, int]:
    """Every node that the roots were computed through, with how many consumers each one
    has (the number of edges from nodes above it). The one graph walk of the package:
    iterative, so graphs of any depth work."""
    counts: dict[Node, int] = {}
    stack = []
    for root in roots:
        if root.grad_fn is not None and root.grad_fn not in counts:
            counts[root.grad_fn] = 0
            stack.append(root.grad_fn)
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if parent is None:  # a leaf or a constant: no node to visit
                continue
            if parent in counts:
                counts[parent] += 1
            else:
                counts[parent] = 1
                stack.append(parent)
    return counts


class Step(NamedTuple):
    """One node of a backward pass, as `backward_pass` runs it."""

    node: Node
    grad: Any  # ∂L/∂(the node's output): complete, every consumer has sent its part
    input_grads: tuple[Any, ...]  # what the node's chain rule sends to each input (None: nothing)


def backward_pass(
    roots: Sequence[Tensor], root_grads: Sequence[Any], book: policies.Bookkeeping
) -> Iterator[Step]:
    """Send ``root_grads`` (∂L/∂root) back through the graph, one node at a time.

    A node runs once every consumer of its output has sent its gradient (Kahn's algorithm),
    so each node's gradient is complete when its own chain rule is applied. ``book`` keeps
    what the pass produces; `run_backward` writes it at the end.
    """
    waiting = consumer_counts(roots)  # node -> how many consumers have not sent yet
    waiting = book.select(waiting)  # policy: grad()'s targets; nothing freed
    arrived: dict[Node, Any] = {}  # node -> the sum of what its consumers sent so far
    for root, grad in zip(roots, root_grads, strict=True):
        _send(root, root.grad_fn, grad, arrived, waiting, book)
    ready = [node for node, count in waiting.items() if count == 0]
    while ready:  # ready: every consumer of the node's output has sent its part
        node = ready.pop()
        grad = book.complete(node, arrived.pop(node, None))  # policy: targets, retain_grad
        input_grads = book.chain_rule(node, grad)  # node.function.backward(node, grad), checked
        for t, parent, input_grad in zip(node.inputs, node.parents, input_grads, strict=True):
            if input_grad is not None:
                _send(t, parent, input_grad, arrived, waiting, book)
            if parent in waiting:  # one consumer fewer to wait for
                waiting[parent] -= 1
                if waiting[parent] == 0:
                    ready.append(parent)
        yield Step(node, grad, input_grads)


def _send(
    t: Tensor,
    parent: Node | None,
    grad: Any,
    arrived: dict[Node, Any],
    waiting: dict[Node, int],
    book: policies.Bookkeeping,
) -> None:
    """Add ``grad`` (∂L/∂t) to what ``t``'s node has collected: paths add up."""
    if parent in waiting:
        assert parent is not None
        arrived[parent] = grad if parent not in arrived else arrived[parent] + grad
    else:  # a leaf (or, for grad(), a tensor whose node leads to no target)
        book.to_leaf(t, grad)


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``: the adjoint of numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of length 1, so
    the input's gradient is the sum of the gradients of all its copies.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def run_backward(
    roots: Sequence[Tensor], root_grads: Sequence[Any], book: policies.Bookkeeping
) -> list[Any] | None:
    """The whole backward pass, then its results written (``.grad``) or returned
    (``grad()``'s targets). Nothing is written if the pass raises."""
    with book:  # policy: one pass at a time through a graph
        for _ in backward_pass(roots, root_grads, book):
            pass
        return book.finish()


# --------------------------------------------------------------------------- beyond the loop
# Not on the first reading: the public ways to run, watch and walk the engine.


def backward_steps(
    tensor: Tensor, gradient: Any = None, *, retain_graph: bool = False, accumulate: bool = True
) -> Iterator[Step]:
    """``tensor.backward(gradient)``, one `Step` at a time: each node as the engine runs it,
    with the gradient that arrived and what its chain rule sends to each input.

    When the iteration ends, the leaves' gradients are added to their ``.grad`` (unless
    ``accumulate=False``) and the saved arrays freed (unless ``retain_graph=True``), as
    ``backward()`` does; an iteration abandoned halfway writes nothing.
    """
    root_grad = policies.backward_root(tensor, gradient, "backward_steps")
    book = policies.Bookkeeping(
        [tensor], [root_grad], retain_graph=retain_graph, accumulate=accumulate
    )
    with no_grad(), book:
        yield from backward_pass([tensor], [root_grad], book)
        book.finish()


def topological_order(counts: dict[Node, int]) -> list[Node]:
    """The nodes of ``counts`` (from `consumer_counts`), each after every node that
    consumes its output: the order in which `backward_pass` may run them."""
    waiting = dict(counts)
    ready = [node for node, count in waiting.items() if count == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in node.parents:
            if parent in waiting:
                waiting[parent] -= 1
                if waiting[parent] == 0:
                    ready.append(parent)
    return order


def graph_tensors(root: Tensor) -> list[Tensor]:
    """Every tensor in the graph that produced ``root`` (``root`` included), each once:
    depth first, each operation's inputs in order, iteratively (any depth). For tools that
    read a graph as tensors — drawings, explanations."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, Node | None]] = [(root, root.grad_fn)]
    while stack:
        t, node = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        order.append(t)
        if node is not None:  # its inputs, with the nodes that made them when it was recorded
            stack.extend(reversed(list(zip(node.inputs, node.parents, strict=True))))
    return order


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, like ``torch.autograd.grad``.

    Returns one Tensor per input and leaves every ``.grad`` alone. With
    ``create_graph=True`` the backward pass is itself recorded, so the returned gradients
    can be differentiated again (second derivatives, Hessian-vector products).
    ``retain_graph=None`` means the same as ``create_graph``. An input that the outputs do
    not depend on is an error unless ``allow_unused=True`` (then its gradient is None).
    Only the part of the graph between the outputs and the inputs is run.
    """
    output_list, input_list, root_grads = policies.grad_arguments(
        outputs, inputs, grad_outputs, create_graph
    )
    book = policies.Bookkeeping(
        output_list,
        root_grads,
        retain_graph=create_graph if retain_graph is None else retain_graph,
        create_graph=create_graph,
        targets=input_list,
    )
    with enable_grad() if create_graph else no_grad():
        found = run_backward(output_list, root_grads, book)
    assert found is not None
    return policies.grad_results(input_list, found, allow_unused)


def input_gradients(node: Node, grad: Any) -> tuple[Any, ...]:
    """What ``node``'s chain rule sends each of its inputs for ``grad`` (∂L/∂output, an
    array of the output's shape): one gradient per input, each of that input's shape, None
    where none is needed. The operation's own backward, run once outside any pass: nothing
    is recorded or written. For tools that probe a local derivative (the explorer's factors,
    `proofs.explain`'s rows of the Jacobian)."""
    book = policies.Bookkeeping([], [], retain_graph=True)
    with no_grad():
        return book.chain_rule(node, grad)


# Last, because tensor.py builds on everything above (Tensor's operators are Functions).
from tinygrad_edu.tensor import Tensor  # noqa: E402
