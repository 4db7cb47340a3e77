"""The backward engine: `Function`, the graph `Node`, grad mode, `grad()`, `detect_anomaly`.

A forward computation records one `Node` per operation (`Function.apply`). `backward()`
visits those nodes in reverse topological order (Kahn's algorithm, iteratively, so graphs
of any depth work) and calls each operation's `backward(ctx, grad)` to turn the gradient
of its output into gradients of its inputs: the chain rule, one factor per node.
`run_backward` is that loop; each step of it is a named helper below it (`_graph_of`,
`_Pending.start`/`take`/`deliver`/`finish`, `_call_backward`).
"""

from __future__ import annotations

import collections
import functools
import inspect
import threading
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from tinygrad_edu.tensor import Tensor

_F = TypeVar("_F", bound=Callable[..., Any])

# Where a saved array came from: an input (its index), the output, or neither (derived
# from them, so a constant only to a first derivative), or `save_constants`.
_OUTPUT = -1
_CONSTANT = -2
_DECLARED_CONSTANT = -3


# --------------------------------------------------------------------------- modes


class _ThreadState(threading.local):
    grad_enabled = True
    anomaly_enabled = False

    def __init__(self) -> None:  # runs once per thread
        # (switch, the mode it replaced): per thread, so that one no_grad() instance
        # shared by two threads restores each thread's own mode
        self.replaced: list[tuple[_ModeSwitch, bool]] = []


_state = _ThreadState()


def is_grad_enabled() -> bool:
    """Whether operations on this thread record the graph."""
    return _state.grad_enabled


class _ModeSwitch:
    """Sets one per-thread flag inside a ``with`` block or a decorated function
    (``@no_grad()`` or bare ``@no_grad``; generators keep the mode at every step)."""

    _flag = ""
    _value = True

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        switch = super().__new__(cls)
        return switch if func is None else switch(func)

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        pass  # __new__ took func; the mode replaced is kept per thread (_ThreadState)

    def __enter__(self) -> None:
        _state.replaced.append((self, getattr(_state, self._flag)))
        setattr(_state, self._flag, self._value)

    def __exit__(self, *exc_info: object) -> None:
        replaced = _state.replaced
        for position in range(len(replaced) - 1, -1, -1):  # the last one, unless misnested
            if replaced[position][0] is self:
                setattr(_state, self._flag, replaced.pop(position)[1])
                return

    def __call__(self, func: _F) -> _F:
        switch = type(self)
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator(*args: Any, **kwargs: Any) -> Any:
                steps = func(*args, **kwargs)
                sent = None
                while True:
                    try:
                        with switch():
                            item = steps.send(sent)
                    except StopIteration as stop:
                        return stop.value
                    sent = yield item

            return generator  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with switch():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_ModeSwitch):  # noqa: N801 - named like the PyTorch context manager
    """Record no graph: ``with no_grad(): ...`` or ``@no_grad()``. Per thread."""

    _flag = "grad_enabled"
    _value = False


class enable_grad(_ModeSwitch):  # noqa: N801
    """Record the graph again inside a ``no_grad`` block. Per thread."""

    _flag = "grad_enabled"
    _value = True


class detect_anomaly(_ModeSwitch):  # noqa: N801
    """Make a backward pass that produces NaN or inf raise, naming the operation and the
    line of its forward call. Slower: every operation records where it was called."""

    _flag = "anomaly_enabled"
    _value = True


# --------------------------------------------------------------------------- graph


class GraphReleasedError(RuntimeError):
    """Backward through a graph whose saved arrays were freed by an earlier backward."""


class Node:
    """One recorded operation: the ``grad_fn`` of the tensor it produced.

    The same object is the ``ctx`` that the operation's ``forward`` and ``backward`` receive:
    forward stores its options on it (``ctx.axis = axis``) and calls
    ``ctx.save_for_backward(...)``; backward reads them back (``ctx.saved``).
    """

    # Class-level defaults: a node is made for every operation, so __init__ sets one field.
    inputs: tuple[Tensor, ...] = ()
    needs_input_grad: tuple[bool, ...] = ()
    released = False
    forward_stack: traceback.StackSummary | None = None
    _saved_arrays: tuple[Any, ...] = ()
    _saved_sources: tuple[int, ...] = ()
    _constants: tuple[Any, ...] = ()
    _clock = 0  # the change clock when forward saved its arrays
    _output: weakref.ref[Tensor] | None = None
    _recording = False
    _retain_output_grad = False  # set by Tensor.retain_grad()

    def __init__(self, function: type[Function]) -> None:
        self.function = function

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def __getattr__(self, attribute: str) -> Any:
        # Only called for attributes that were never set: an option forward did not store.
        function = self.__dict__.get("function")
        if attribute.startswith("__") or function is None:  # copy/pickle probing, half-built
            raise AttributeError(attribute)
        raise AttributeError(
            f"{function.__name__}Backward has no attribute {attribute!r}; its forward must "
            f"set ctx.{attribute}"
        )

    if TYPE_CHECKING:  # forward stores its options as attributes of any name

        def __setattr__(self, attribute: str, value: Any) -> None: ...

    @property
    def name(self) -> str:
        """``SigmoidBackward`` for the node that ``Sigmoid`` recorded."""
        return f"{self.function.__name__}Backward"

    @property
    def output(self) -> Tensor | None:
        """The tensor this node produced (held weakly: None once nothing else holds it)."""
        return None if self._output is None else self._output()

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep the inputs and the output that ``backward`` needs (``ctx.saved``). Called
        once, in ``forward``, with the very arrays forward received or returned.

        An array derived from them (``3 * x * x``) may be saved too, but only for a first
        derivative: a backward recorded with ``create_graph=True`` could not differentiate
        through it, so reading it then raises. Compute it in backward from the saved
        inputs instead, or, if it is a constant by design, use `save_constants`.
        """
        if self._saved_arrays:  # (a first call that saved nothing has nothing to drop)
            raise RuntimeError(
                f"{self.function.__name__}.forward called ctx.save_for_backward twice; the "
                "second call would drop what the first saved. Save everything in one call"
            )
        self._saved_arrays = arrays

    def save_constants(self, *arrays: Any) -> None:
        """Keep arrays that are constants by design (``ctx.constants``): a mask such as
        [x > 0], tie shares, an index. Under ``create_graph=True`` they stay constants,
        which is right only because the derivative of the op does not flow through them.
        Called at most once, in ``forward``."""
        if self._constants:
            raise RuntimeError(
                f"{self.function.__name__}.forward called ctx.save_constants twice; the second "
                "call would drop what the first saved. Save every constant in one call"
            )
        self._constants = arrays

    @property
    def saved_sources(self) -> tuple[int | str, ...]:
        """Where each saved array came from, in the order forward saved them: an input's
        index (0, 1, …), ``"output"``, ``"derived"`` (an array forward computed, saved with
        `save_for_backward`) or ``"constant"`` (saved with `save_constants`). Kept after
        backward frees the arrays themselves."""
        names = {_OUTPUT: "output", _CONSTANT: "derived", _DECLARED_CONSTANT: "constant"}
        return tuple(names.get(source, source) for source in self._saved_sources)

    @property
    def constants(self) -> tuple[Any, ...]:
        """What forward saved with `save_constants` (plain arrays, also when recording)."""
        if self.released:
            self._raise_released()
        return self._constants

    @property
    def saved(self) -> tuple[Any, ...]:
        """What forward saved: arrays, or Tensors while a backward pass is being recorded.

        When recording (``create_graph=True``), a saved input or output is the graph's own
        Tensor, so the recorded backward pass is differentiated through it; an array derived
        from them would be a constant, which is wrong, so reading it then raises. Each saved
        input and output must still be at the version it had in the forward.
        """
        if self.released:
            self._raise_released()
        if _changes[0] != self._clock:  # some tensor changed since the forward: which?
            self._check_versions()
        if not self._recording:
            return self._saved_arrays
        return tuple(
            self._saved_tensor(position, source)
            for position, source in enumerate(self._saved_sources[: len(self._saved_arrays)])
        )

    def _raise_released(self) -> None:
        raise GraphReleasedError(
            f"{self.name}: trying to backward through the graph a second time, but its "
            "saved arrays were freed by the first backward(). Pass retain_graph=True to "
            "the first backward() (or grad()) to keep them."
        )

    def _check_versions(self) -> None:
        """Refuse a saved input or output that was changed after the forward saved it."""
        for source in self._saved_sources:
            if source >= 0:
                t: Tensor | None = self.inputs[source]
                what = f"its input {source}"
            elif source == _OUTPUT:
                t, what = self.output, "its output"
            else:
                continue
            if t is None:
                continue
            now, last_change, change_before = t._counter()
            if last_change > self._clock:
                saved = f"{now - 1}" if change_before <= self._clock else f"{now - 2} or earlier"
                raise RuntimeError(
                    f"{self.name}: {what} (Tensor{t._label()}, shape {t.shape}) was saved for "
                    f"the backward pass at version {saved} but is now at version {now}: it "
                    "was changed after the forward (by an in-place operator, an optimizer "
                    "step or an assignment to .data), so the gradient would be computed from "
                    "the new values. Run the forward again after the change, or make the "
                    "change after backward()"
                )

    def _saved_tensor(self, position: int, source: int) -> Tensor:
        if source >= 0:
            return self.inputs[source]
        if source == _OUTPUT:
            output = self.output
            if output is None:  # pragma: no cover - a reachable node's output is alive
                raise RuntimeError(f"{self.name}: the output tensor no longer exists")
            return output
        raise RuntimeError(
            f"{self.name}: {self.function.__name__}.forward saved an array that is neither "
            f"an input nor the output (item {position} of ctx.save_for_backward), and "
            "create_graph=True would differentiate the backward through it as if it were a "
            "constant: the second derivative would be wrong. Save the inputs (or the output) "
            "and compute that array in backward from them; if it is a constant by design "
            "(a mask, an index), save it with ctx.save_constants(...)"
        )

    def _release(self) -> None:
        self.released = True
        self._saved_arrays = ()
        self._constants = ()


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

    # The built-in operations never write into their incoming gradient, so the engine hands
    # it to them as it is; any other backward gets a read-only view (functions.py clears it).
    _may_write_into_gradient = True

    @staticmethod
    def forward(ctx: Node, *arrays: Any, **options: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, grad: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Tensor:
        tensor_type = _tensor.Tensor
        tensors: Sequence[Tensor] = inputs
        for x in inputs:
            if type(x) is not tensor_type:
                tensors = _as_tensors(inputs, tensor_type)
                break
        ctx = Node(cls)
        arrays = [t._data for t in tensors]
        raw = cls.forward(ctx, *arrays, **options)
        data = raw if type(raw) is np.ndarray else np.asarray(raw)
        needs_input_grad = tuple([t._requires_grad for t in tensors])
        if not (True in needs_input_grad and _state.grad_enabled):
            out = tensor_type._from_op(data, None)
            if data.base is not None:
                _share_version_with_viewed_input(out, tensors)
            return out
        ctx.inputs = tuple(tensors)
        ctx.needs_input_grad = needs_input_grad
        if _state.anomaly_enabled:
            ctx.forward_stack = traceback.StackSummary.from_list(traceback.extract_stack()[:-2])
        out = tensor_type._from_op(data, ctx)
        if data.base is not None:
            _share_version_with_viewed_input(out, tensors)
        if ctx._saved_arrays or ctx._constants:
            _locate_saved(ctx, ctx._saved_arrays, arrays, raw, data)
        ctx._output = weakref.ref(out)
        return out


_WEAK_DTYPES: dict[tuple[np.dtype[Any], type], np.dtype[Any]] = {}


def _as_tensors(inputs: Sequence[Any], tensor_type: type[Tensor]) -> list[Tensor]:
    """Tensors as they are; arrays become constants; Python numbers are *weak*: they take
    the dtype of the tensors they meet (``2 * x`` keeps float32), as in numpy 2."""
    tensors: list[Any] = list(inputs)
    reference_dtype = None
    for x in inputs:
        if isinstance(x, tensor_type):
            reference_dtype = x._data.dtype
            break
    for i, x in enumerate(tensors):
        if isinstance(x, tensor_type):
            continue
        if isinstance(x, (bool, int, float)) and reference_dtype is not None:
            key = (reference_dtype, type(x))
            dtype = _WEAK_DTYPES.get(key)
            if dtype is None:  # numpy 2's rule for a Python number meeting an array
                dtype = _WEAK_DTYPES[key] = np.result_type(reference_dtype, x)
            tensors[i] = tensor_type._constant(np.asarray(x, dtype=dtype))
        else:
            tensors[i] = tensor_type(x)
    return tensors


_changes = [0]
"""The change clock: how many changes were made to tensors through the library. Each
change stamps the tensor's version with it; a node notes it when forward saves."""


def record_change(versions: list[int]) -> None:
    """Count one change of a tensor: ``versions`` is its ``[count, clock at this change,
    clock at the change before]`` (the last two tell which version a node saved)."""
    _changes[0] += 1
    versions[0] += 1
    versions[2] = versions[1]
    versions[1] = _changes[0]


def _share_version_with_viewed_input(out: Tensor, inputs: Sequence[Tensor]) -> None:
    """A view (reshape, transpose, basic indexing) shares memory with its input, so a change
    to one is a change to the other: they share one version counter, as in PyTorch."""
    base = out._data.base  # numpy points every view at the array that owns the memory
    for t in inputs:
        if t._data is base or t._data.base is base:
            out._versions = t._counter()
            return


def _locate_saved(
    ctx: Node, saved: tuple[Any, ...], inputs: list[Any], raw_output: Any, output: np.ndarray
) -> None:
    """Match each saved array by identity to an input or the output of the operation (the
    rest are constants), and note the change clock: what changes later is stale."""
    sources = []
    for array in saved:
        source = _CONSTANT
        for index, input_array in enumerate(inputs):
            if array is input_array:
                source = index
                break
        else:
            if array is raw_output or array is output:
                source = _OUTPUT
                if array is not output:  # forward returned a scalar or a list
                    saved = tuple(output if a is array else a for a in saved)
        sources.append(source)
    if ctx._constants:
        sources.extend([_DECLARED_CONSTANT] * len(ctx._constants))
    ctx._saved_sources, ctx._saved_arrays = tuple(sources), saved
    ctx._clock = _changes[0]


# --------------------------------------------------------------------------- engine


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Any],
    *,
    retain_graph: bool,
    create_graph: bool = False,
    targets: Sequence[Tensor] | None = None,
) -> list[Any] | None:
    """Propagate ``root_grads`` from ``roots`` back through the graph (Kahn's algorithm).

    Without ``targets`` the gradients are added to the ``.grad`` of every leaf that
    requires grad (and every tensor that called ``retain_grad()``); with ``targets`` they
    are returned, one per target (None for a target the roots do not depend on), and no
    ``.grad`` changes. Nothing is written until the whole pass has succeeded.
    """
    consumers = _graph_of(roots, targets)  # node -> how many nodes still owe it a gradient
    pending = _Pending(consumers, targets)
    pending.start(roots, root_grads)
    ready = [node for node, count in consumers.items() if count == 0]
    while ready:  # a node runs once every consumer of its output has sent its gradient
        node = ready.pop()
        input_grads = _call_backward(node, pending.take(node), create_graph)
        ready += pending.deliver(node, input_grads)  # the inputs' nodes that are complete now
    return pending.finish(retain_graph)


def graph_tensors(root: Tensor) -> list[Tensor]:
    """Every tensor in the graph that produced ``root`` (``root`` included), each once:
    depth first, each operation's inputs in order, iteratively (any depth). For tools that
    read a graph — drawings, explanations — not for the engine, which walks nodes."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        order.append(t)
        if t.grad_fn is not None:
            stack.extend(reversed(t.grad_fn.inputs))
    return order


def _graph_of(roots: Sequence[Tensor], targets: Sequence[Tensor] | None = None) -> dict[Node, int]:
    """Every node that gradients flow through, with how many consumers each one has.

    With ``targets``, only the nodes on some path from a root down to a target: the rest
    of the graph is neither run nor released.
    """
    consumers: dict[Node, int] = {}
    stack = []
    for root in roots:
        if root.grad_fn is not None and root.grad_fn not in consumers:
            consumers[root.grad_fn] = 0
            stack.append(root.grad_fn)
    while stack:  # one pass: count each edge as it is found
        node = stack.pop()
        for index, t in enumerate(node.inputs):
            child = t.grad_fn
            if child is not None and node.needs_input_grad[index]:
                if child in consumers:
                    consumers[child] += 1
                else:
                    consumers[child] = 1
                    stack.append(child)
    if targets is not None:
        kept = set(_leading_to(consumers, targets))
        consumers = dict.fromkeys(kept, 0)
        for node in kept:
            for index, t in enumerate(node.inputs):
                if t.grad_fn in kept and node.needs_input_grad[index]:
                    consumers[t.grad_fn] += 1
    for node in consumers:
        if node.released and node._saved_sources:
            node._raise_released()  # before any gradient is computed
    return consumers


def _leading_to(consumers: dict[Node, int], targets: Sequence[Tensor]) -> list[Node]:
    """The nodes with a target among their inputs, or above such a node. A target's own
    node is run only if it leads to another target, as in PyTorch.

    One pass over the nodes, inputs before the nodes that consume them, so whether a node's
    inputs lead to a target is known when the node is reached: linear in the graph's size.
    """
    target_ids = {id(t) for t in targets}
    leads: set[Node] = set()
    for node in reversed(_outputs_first(consumers)):
        if any(id(t) in target_ids or t.grad_fn in leads for t in node.inputs):
            leads.add(node)
    return [node for node in consumers if node in leads]


def _outputs_first(consumers: dict[Node, int]) -> list[Node]:
    """The nodes in topological order, each after every node that consumes it (Kahn)."""
    waiting = dict(consumers)
    ready = [node for node, count in waiting.items() if count == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for index, t in enumerate(node.inputs):
            child = t.grad_fn
            if child in waiting and node.needs_input_grad[index]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
    return order


class _Pending:
    """The gradients of one backward pass, summed as they arrive; written only at the end,
    so that a pass that raises changes nothing."""

    __slots__ = (
        "at_leaf",
        "at_node",
        "captured",
        "consumers",
        "foreign",
        "retained",
        "target_of",
        "targets",
    )

    def __init__(self, consumers: dict[Node, int], targets: Sequence[Tensor] | None) -> None:
        self.consumers = consumers
        self.targets = targets
        self.at_node: dict[Node, Any] = {}  # ∂L/∂(the node's output), summed so far
        self.at_leaf: dict[int, tuple[Tensor, Any]] = {}  # id -> (tensor, summed gradient)
        self.retained: list[tuple[Tensor, Any]] = []  # outputs that called retain_grad()
        self.captured: dict[int, Any] = {}  # id(target) -> its gradient
        self.target_of = {t.grad_fn: id(t) for t in targets or () if t.grad_fn is not None}
        # The memory of arrays this pass did not make: the starting gradients, and what a
        # backward the library did not write returned (it may be an array kept elsewhere).
        self.foreign: set[int] = set()

    def start(self, roots: Sequence[Tensor], root_grads: Sequence[Any]) -> None:
        """Each root receives its starting gradient (∂L/∂L = 1 for a scalar loss)."""
        for index, (root, grad) in enumerate(zip(roots, root_grads, strict=True)):
            self.foreign.add(id(_memory_of(grad)))
            if _state.anomaly_enabled and not _all_finite(grad):
                raise FloatingPointError(
                    f"detect_anomaly: the gradient given to start backward from output {index} "
                    "holds NaN or inf"
                )
            if root.grad_fn in self.consumers:
                total = self.at_node.get(root.grad_fn)  # a repeated output is summed
                self.at_node[root.grad_fn] = grad if total is None else total + grad
            else:  # a leaf, or a target that is its own root
                self._to_leaf(root, grad)

    def take(self, node: Node) -> Any:
        """The gradient of ``node``'s output, complete now (None if none arrived); kept too
        where it is a target's or a retain_grad() tensor's."""
        grad = self.at_node.pop(node, None)
        if grad is not None:
            if node in self.target_of:
                self.captured[self.target_of[node]] = grad
            if node._retain_output_grad and self.targets is None:
                output = node.output
                if output is not None:
                    self.retained.append((output, grad))
        return grad

    def deliver(self, node: Node, input_grads: Sequence[Any]) -> list[Node]:
        """Add each input's gradient to what that input has received: a leaf's (or, with
        targets, a node's off their paths) is kept for the end, a node's is summed for its
        own backward. Returns the inputs' nodes that every consumer has now delivered to."""
        ready = []
        consumers, at_node = self.consumers, self.at_node
        if node.function._may_write_into_gradient:  # not the library's: see __init__
            self.foreign.update(id(_memory_of(g)) for g in input_grads if g is not None)
        for index, t in enumerate(node.inputs):  # (enumerate: cheaper than zip, per node)
            if not node.needs_input_grad[index]:
                continue
            grad = input_grads[index]
            child = t.grad_fn
            if child is None or child not in consumers:  # a leaf, or off the targets' paths
                if grad is not None:
                    self._to_leaf(t, grad)
                continue
            if grad is not None:
                total = at_node.get(child)
                at_node[child] = grad if total is None else total + grad
            consumers[child] -= 1
            if consumers[child] == 0:
                ready.append(child)
        return ready

    def _to_leaf(self, t: Tensor, grad: Any) -> None:
        total = self.at_leaf.get(id(t))
        self.at_leaf[id(t)] = (t, grad if total is None else total[1] + grad)

    def finish(self, retain_graph: bool) -> list[Any] | None:
        """Free the saved arrays (unless ``retain_graph``), then return the targets'
        gradients, or add the leaves' to their ``.grad``."""
        if not retain_graph:  # only now: a pass that raised leaves the graph usable
            for node in self.consumers:  # every one of them has run (Kahn's visits them all)
                node._release()
        if self.targets is not None:
            for t in self.targets:  # leaves, and targets whose own node was not run
                if id(t) in self.at_leaf:
                    self.captured[id(t)] = self.at_leaf[id(t)][1]
            return [self.captured.get(id(t)) for t in self.targets]
        handed_out = [*self.at_leaf.values(), *self.retained]
        holders = collections.Counter(id(_memory_of(grad)) for _, grad in handed_out)
        for t, grad in handed_out:
            t._add_to_grad(grad, owned=self._owned(grad, holders))
        return None

    def _owned(self, grad: Any, holders: collections.Counter[int]) -> bool:
        """Whether ``grad`` may become a ``.grad`` without a copy: a writeable array whose
        memory this pass made and no other ``.grad`` shares. The library's backwards return
        new arrays or views of the gradient they received, so only the starting gradients
        and other backwards bring in memory from outside (``foreign``). The copy saved is
        weight-sized: 1.25 MB a step for the book's 784 × 200 weights in float64."""
        if type(grad) is not np.ndarray or not grad.flags.writeable:
            return False
        memory = id(_memory_of(grad))
        return memory not in self.foreign and holders[memory] == 1


def _memory_of(array: Any) -> Any:
    """The object that owns an array's memory: the array, or the one it is a view of."""
    base = getattr(array, "base", None)
    return array if base is None else base


def _call_backward(node: Node, grad: Any, create_graph: bool) -> Sequence[Any]:
    """``node``'s backward on ``grad``: one gradient per input, each checked (its input's
    shape; finite under detect_anomaly), None where none is needed. ``grad`` None (nothing
    arrived) gives None for every input, without calling backward."""
    if grad is None:  # nothing flows through this node; its inputs are still counted down
        return (None,) * len(node.inputs)
    if create_graph:  # ctx.saved hands out the graph's Tensors, so backward is recorded
        node._recording = True
        try:
            input_grads = node.function.backward(node, grad)
        finally:
            node._recording = False
    elif node.function._may_write_into_gradient:
        input_grads = _backward_on_read_only(node, grad)
    else:
        input_grads = node.function.backward(node, grad)
    if type(input_grads) is not tuple:
        input_grads = (input_grads,)
    if len(input_grads) != len(node.inputs):
        raise ValueError(
            f"{node.function.__name__}.backward returned {len(input_grads)} "
            f"gradients for {len(node.inputs)} inputs"
        )
    anomaly = _state.anomaly_enabled
    checked = list(input_grads)
    for index, input_grad in enumerate(input_grads):
        if input_grad is None or not node.needs_input_grad[index]:
            continue
        if not create_graph and type(input_grad) is not np.ndarray:
            checked[index] = input_grad = np.asarray(input_grad)
        t = node.inputs[index]
        if input_grad.shape != t._data.shape or anomaly:
            _check_grad(node, index, t, input_grad)
    return checked


def _backward_on_read_only(node: Node, grad: Any) -> Any:
    """Run a backward the library did not write, on a read-only view of its gradient: the
    same array may also be a sibling's gradient (Add hands it to both inputs)."""
    if type(grad) is np.ndarray:  # (a numpy scalar cannot be written into anyway)
        grad = grad.view()
        grad.flags.writeable = False
    try:
        return node.function.backward(node, grad)
    except ValueError as error:
        if "read-only" not in str(error):
            raise
        raise ValueError(
            f"{node.function.__name__}.backward wrote into its incoming gradient, which is "
            "read-only: the engine may hand the same array to other backwards too. Compute "
            "a new array instead (g = g * 2, not g *= 2)"
        ) from error


def _check_grad(node: Node, index: int, tensor: Tensor, grad: Any) -> None:
    if grad.shape != tensor.shape:
        raise ValueError(
            f"{node.function.__name__}.backward returned a gradient of shape {grad.shape} for "
            f"input {index}, which has shape {tensor.shape}; a backward must return one "
            "gradient of each input's shape (sum broadcast axes with unbroadcast)."
        )
    if _state.anomaly_enabled and not _all_finite(grad):
        if node.forward_stack is None:
            where = (
                " (its forward ran outside detect_anomaly(); run the forward inside it "
                "too to see where)"
            )
        else:
            lines = "".join(traceback.format_list(node.forward_stack)[-3:])
            where = f". Its forward was called here:\n{lines}"
        raise FloatingPointError(
            f"detect_anomaly: {node.function.__name__}.backward produced NaN or inf in "
            f"the gradient of input {index} (shape {tensor.shape}){where}"
        )


def _all_finite(grad: Any) -> bool:
    values = grad.data if isinstance(grad, _tensor.Tensor) else grad
    return bool(np.all(np.isfinite(values)))


def initial_gradient(root: Tensor, gradient: Any, caller: str, *, as_tensor: bool) -> Any:
    """∂L/∂root to start a backward pass from: checked against the root's shape."""
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError(
                f"{caller}: Tensor{root._label()} has shape {root.shape}, so the gradient to "
                "start from is ambiguous; pass gradient= (an array of that shape), or reduce "
                "the tensor to one element first (e.g. .sum())"
            )
        ones = np.ones_like(root._data)  # ∂L/∂L = 1, of the root's shape and dtype
        return _tensor.Tensor._constant(ones) if as_tensor else ones
    values: Any
    if isinstance(gradient, _tensor.Tensor):
        values = gradient if as_tensor else gradient.data
    else:
        values = np.asarray(gradient)
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise TypeError(
            f"{caller}: the gradient must hold numbers (an array or Tensor of shape "
            f"{root.shape}), got {gradient!r}"
        )
    if values.shape != root.shape:
        raise ValueError(
            f"{caller}: the gradient has shape {values.shape} but Tensor{root._label()} has "
            f"shape {root.shape}; they must be equal"
        )
    if as_tensor:
        return (
            values
            if isinstance(values, _tensor.Tensor)
            else _tensor.Tensor._constant(values.astype(root.dtype))
        )
    return values.astype(root.dtype, copy=False)


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
    """
    tensor_type = _tensor.Tensor
    output_list = _tensor_list(outputs, "outputs")
    input_list = _tensor_list(inputs, "inputs")
    if grad_outputs is None or isinstance(
        grad_outputs, (tensor_type, np.ndarray, np.generic, int, float)
    ):
        grad_output_list = [grad_outputs] * len(output_list)
    else:
        grad_output_list = list(grad_outputs)
    if len(grad_output_list) != len(output_list):
        raise ValueError(
            f"grad: {len(grad_output_list)} grad_outputs for {len(output_list)} outputs"
        )
    for kind, tensors in (("input", input_list), ("output", output_list)):
        for i, t in enumerate(tensors):
            if not isinstance(t, tensor_type):
                raise TypeError(f"grad: {kind} {i} must be a Tensor, got {type(t).__name__}")
    for i, t in enumerate(input_list):
        if not t.requires_grad:
            raise ValueError(f"grad: input {i} is not a Tensor that requires grad")
    for i, t in enumerate(output_list):
        if not t.requires_grad:
            raise ValueError(
                f"grad: output {i} does not require grad, so it has no graph to "
                "differentiate (was it computed under no_grad(), or from no input that "
                "requires grad?)"
            )
    root_grads = [
        initial_gradient(t, g, "grad", as_tensor=create_graph)
        for t, g in zip(output_list, grad_output_list, strict=True)
    ]
    keep = create_graph if retain_graph is None else retain_graph
    with enable_grad() if create_graph else no_grad():
        found = run_backward(
            output_list,
            root_grads,
            retain_graph=keep,
            create_graph=create_graph,
            targets=input_list,
        )
    assert found is not None
    result: list[Tensor | None] = []
    for i, (t, g) in enumerate(zip(input_list, found, strict=True)):
        if g is None:
            if not allow_unused:
                raise ValueError(
                    f"grad: input {i} (Tensor{t._label()}, shape {t.shape}) was not used to "
                    "compute the outputs; pass allow_unused=True to get None for it"
                )
            result.append(None)
        elif isinstance(g, tensor_type):
            result.append(g)
        else:
            result.append(tensor_type._constant(np.array(g, dtype=t.dtype)))
    return tuple(result)


def _tensor_list(tensors: Any, what: str) -> list[Any]:
    if isinstance(tensors, _tensor.Tensor):
        return [tensors]
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"grad: {what} must be a Tensor or a list or tuple of Tensors, got "
            f"{type(tensors).__name__} {tensors!r}"
        )
    return list(tensors)


# Last, because tensor.py builds on everything above (Tensor's operators are Functions).
from tinygrad_edu import tensor as _tensor  # noqa: E402
