"""What the engine does besides the chain rule, kept out of its loop.

``autograd.py`` is the engine a learner reads: record a node per operation, run the nodes
in reverse topological order, apply each one's chain rule, add up what arrives. Every
other duty of a reference implementation lives here, each under its own heading, and
enters the engine as one marked call (``policies.…``):

- inputs: Python numbers and arrays become constant tensors (numbers are *weak*);
- saved arrays: where each came from, their versions (an in-place change after the
  forward is refused), freeing them after a pass, handing out Tensors when a backward is
  recorded (``create_graph``);
- in-place operators, on leaves (refused in grad mode) and on computed tensors (rebased,
  as PyTorch does);
- one pass's bookkeeping (`Bookkeeping`): ``grad()``'s targets, ``retain_grad``, checks of
  what each backward returns, ``detect_anomaly``, the fast backwards of ``fast.py``, and
  handing gradients to ``.grad`` without copying them when nothing else holds them;
- the tape: the operations a block of code recorded (`tape`).
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tinygrad_edu import modes

if TYPE_CHECKING:
    from tinygrad_edu.autograd import Function, Node
    from tinygrad_edu.tensor import Tensor

# Where a saved array came from: an input (its index), the output, or neither (derived
# from them, so a constant only to a first derivative), or `save_constants`.
_OUTPUT = -1
_CONSTANT = -2
_DECLARED_CONSTANT = -3


class GraphReleasedError(RuntimeError):
    """Backward through a graph whose saved arrays were freed by an earlier backward."""


# --------------------------------------------------------------------------- inputs


_KEPT_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_array(data: Any, dtype: Any) -> np.ndarray:
    """The array a new Tensor holds: a copy of ``data``. Python numbers, lists and integer
    arrays become float64 unless ``dtype`` says otherwise; float32 and float64 arrays keep
    their dtype; anything else non-numeric is refused."""
    if isinstance(data, _tensor_class()):
        data = data.data
    if dtype is None and type(data) is np.ndarray and data.dtype in _KEPT_FLOAT_DTYPES:
        return data.copy()  # the common case, without the checks below
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(
                f"Tensor: dtype={dtype!r} is not a numpy dtype; give np.float64, np.float32, "
                "an integer or a bool dtype (or their names, such as 'float32')"
            ) from None
    try:
        array = np.array(data, dtype=dtype)
    except ValueError as error:
        raise ValueError(
            f"Tensor: cannot make an array of this data ({error}); nested lists must be "
            "rectangular (every row the same length)"
        ) from None
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"Tensor: complex dtype {array.dtype} is not supported")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(
            f"Tensor: cannot make a tensor of dtype {array.dtype}; give numbers, nested lists "
            "of numbers or a numeric numpy array"
        )
    if dtype is None and array.dtype not in _KEPT_FLOAT_DTYPES:
        array = array.astype(np.float64)
    return array


_WEAK_DTYPES: dict[tuple[np.dtype[Any], type], np.dtype[Any]] = {}


def as_tensors(inputs: Sequence[Any], tensor_type: type[Tensor]) -> Sequence[Tensor]:
    """Tensors as they are; arrays become constants; Python numbers are *weak*: they take
    the dtype of the tensors they meet (``2 * x`` keeps float32), as in numpy 2."""
    for x in inputs:
        if type(x) is not tensor_type:
            break
    else:
        return inputs  # the common case: every input is a Tensor already
    tensors: list[Any] = list(inputs)
    reference_dtype = None
    for x in inputs:
        if isinstance(x, tensor_type):
            reference_dtype = x.data.dtype
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


_ALREADY_NAMED = re.compile(r"^[a-z_]+: ")


def named_error(function: type[Function], arrays: Sequence[Any], error: ValueError) -> ValueError:
    """A ValueError from an operation's forward, in the operation's words: numpy's
    "operands could not be broadcast" becomes which shapes do not broadcast and why; any
    other numpy refusal gets the operation's name and the dtypes. An error the forward
    raised itself (it starts with the operation's name), or a custom operation's, is
    returned as it is, with its own cause."""
    message = str(error)
    if _ALREADY_NAMED.match(message) or len(arrays) != 2:
        return error
    op = re.sub(r"(?<!^)(?=[A-Z])", "_", function.__name__).lower()  # SquaredError: squared_error
    a, b = (np.asarray(x) for x in arrays)
    if "could not be broadcast" in message:
        named = ValueError(
            f"{op}: shapes {a.shape} and {b.shape} do not broadcast; each axis (aligned from "
            "the right) must have equal lengths or length 1"
        )
    else:
        named = ValueError(f"{op}: {message} (dtypes {a.dtype} and {b.dtype})")
    named.__suppress_context__ = True  # it says all that numpy's error said
    return named


# --------------------------------------------------------------------------- nodes


class NodeRecords:
    """What a `Node` keeps besides its function, inputs and saved arrays: the constants
    and where each saved array came from, the output (held weakly: a graph is freed by
    reference counting alone), whether the pass freed it, where its forward was called
    (under ``detect_anomaly``)."""

    # Class-level defaults: a node is made for every operation, so __init__ sets few fields.
    function: type[Function]
    inputs: tuple[Tensor, ...] = ()
    parents: tuple[Node | None, ...] = ()
    needs_input_grad: tuple[bool, ...] = ()
    released = False
    forward_stack: traceback.StackSummary | None = None
    _saved: tuple[Any, ...] = ()
    _saved_sources: tuple[int, ...] = ()
    _constants: tuple[Any, ...] = ()
    _clock = 0  # the change clock when forward saved its arrays
    _output: weakref.ref[Tensor] | None = None
    _recording = False  # a backward recorded for create_graph is running
    _retain_output_grad = False  # set by Tensor.retain_grad()
    _running = False  # a backward pass reading its saved arrays is running (Bookkeeping)

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

    def save_constants(self, *arrays: Any) -> None:
        """Keep arrays that are constants by design (``ctx.constants``): a mask such as
        [x > 0], tie shares, an index. Under ``create_graph=True`` they stay constants,
        which is right only because the derivative of the op does not flow through them.
        Called at most once, in ``forward``."""
        refuse_a_second_save(self, "save_constants", self._constants)
        self._constants = arrays

    @property
    def constants(self) -> tuple[Any, ...]:
        """What forward saved with `save_constants` (plain arrays, also when recording)."""
        if self.released:
            raise_released(self)
        return self._constants

    @property
    def saved_sources(self) -> tuple[int | str, ...]:
        """Where each saved array came from, in the order forward saved them: an input's
        index (0, 1, …), ``"output"``, ``"derived"`` (an array forward computed, saved with
        ``save_for_backward``) or ``"constant"`` (saved with `save_constants`). Kept after
        backward frees the arrays themselves."""
        names = {_OUTPUT: "output", _CONSTANT: "derived", _DECLARED_CONSTANT: "constant"}
        return tuple(names.get(source, source) for source in self._saved_sources)

    def release(self) -> None:
        """Free the saved arrays; the structure (function, inputs, output) stays."""
        self.released = True
        self._saved = ()
        self._constants = ()


def refuse_a_second_save(node: NodeRecords, method: str, already: tuple[Any, ...]) -> None:
    if already:  # (a first call that saved nothing has nothing to drop)
        raise RuntimeError(
            f"{node.function.__name__}.forward called ctx.{method} twice; the second call "
            "would drop what the first saved. Save everything in one call"
        )


def raise_released(node: NodeRecords) -> None:
    raise GraphReleasedError(
        f"{node.name}: trying to backward through the graph a second time, but its saved "
        "arrays were freed by the first backward(). Pass retain_graph=True to the first "
        "backward() (or grad()) to keep them."
    )


def after_forward(
    ctx: Node, out: Tensor, raw: Any, recorded: bool, options: dict[str, Any]
) -> None:
    """What `Function.apply` notes once the forward has run: a view shares its input's
    version; a recorded node locates its saved arrays, keeps its output weakly and, under
    ``detect_anomaly``, where it was called; every open `tape` gets the operation."""
    data = out._data
    state = modes.state
    if data.base is not None:
        _share_version_with_viewed_input(out, ctx.inputs, recorded)
    if recorded:
        if state.anomaly_enabled:
            ctx.forward_stack = traceback.StackSummary.from_list(traceback.extract_stack()[:-3])
        if ctx._saved or ctx._constants:
            _locate_saved(ctx, raw, data)
        ctx._output = weakref.ref(out)
    if state.tapes:
        entry = TapeEntry(ctx.function, ctx.inputs, options, out, ctx if recorded else None)
        for open_tape in state.tapes:
            open_tape.entries.append(entry)


def _locate_saved(ctx: Node, raw_output: Any, output: np.ndarray) -> None:
    """Match each saved array by identity to an input or the output of the operation (the
    rest are constants), and note the change clock: what changes later is stale."""
    saved = ctx._saved
    sources = []
    for array in saved:
        source = _CONSTANT
        for index, t in enumerate(ctx.inputs):
            if array is t._data:
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
    ctx._saved_sources, ctx._saved = tuple(sources), saved
    ctx._clock = _changes[0]


def saved_values(node: Node) -> tuple[Any, ...]:
    """``ctx.saved``: what forward saved — arrays, or the graph's own Tensors while a
    backward pass is recorded (``create_graph=True``), so that the recorded pass is
    differentiated through them. Refused once freed, or if a saved input or output was
    changed after the forward, or (when recording) for an array derived from them, which
    a recorded backward would wrongly treat as a constant."""
    if node.released:
        raise_released(node)
    if _changes[0] != node._clock:  # some tensor changed since the forward: which?
        _check_versions(node)
    if not node._recording:
        return node._saved
    return tuple(
        _saved_tensor(node, position, source)
        for position, source in enumerate(node._saved_sources[: len(node._saved)])
    )


def _saved_tensor(node: Node, position: int, source: int) -> Tensor:
    if source >= 0:
        return node.inputs[source]
    if source == _OUTPUT:
        output = node.output
        if output is None:  # pragma: no cover - a reachable node's output is alive
            raise RuntimeError(f"{node.name}: the output tensor no longer exists")
        return output
    raise RuntimeError(
        f"{node.name}: {node.function.__name__}.forward saved an array that is neither an "
        f"input nor the output (item {position} of ctx.save_for_backward), and "
        "create_graph=True would differentiate the backward through it as if it were a "
        "constant: the second derivative would be wrong. Save the inputs (or the output) "
        "and compute that array in backward from them; if it is a constant by design (a "
        "mask, an index), save it with ctx.save_constants(...)"
    )


# --------------------------------------------------------------------------- versions


_changes = [0]
"""The change clock: how many changes were made to tensors through the library. Each
change stamps the tensor's version with it; a node notes it when forward saves."""

_SHARED_WITH_A_RECORDED_VIEW = 3  # index of the flag in a version counter


def new_counter() -> list[int]:
    """``[how many changes, the clock at the last one, at the one before, shared with a
    recorded view (1) or not (0)]``."""
    return [0, 0, 0, 0]


def record_change(versions: list[int]) -> None:
    """Count one change of a tensor: ``versions`` is its counter (`new_counter`)."""
    _changes[0] += 1
    versions[0] += 1
    versions[2] = versions[1]
    versions[1] = _changes[0]


def _share_version_with_viewed_input(out: Tensor, inputs: Sequence[Tensor], recorded: bool) -> None:
    """A view (reshape, transpose, basic indexing) shares memory with its input, so a change
    to one is a change to the other: they share one version counter, as in PyTorch."""
    base = out.data.base  # numpy points every view at the array that owns the memory
    for t in inputs:
        if t.data is base or t.data.base is base:
            out._versions = t._counter()
            if recorded:
                out._versions[_SHARED_WITH_A_RECORDED_VIEW] = 1
            return


def _check_versions(node: Node) -> None:
    """Refuse a saved input or output that was changed after the forward saved it."""
    for source in node._saved_sources:
        t: Tensor | None
        if source >= 0:
            t, what = node.inputs[source], f"its input {source}"
        elif source == _OUTPUT:
            t, what = node.output, "its output"
        else:
            continue
        if t is None:
            continue
        now, last_change, change_before, _ = t._counter()
        if last_change > node._clock:
            saved = f"{now - 1}" if change_before <= node._clock else f"{now - 2} or earlier"
            raise RuntimeError(
                f"{node.name}: {what} (Tensor{t._label()}, shape {t.shape}) was saved for "
                f"the backward pass at version {saved} but is now at version {now}: it "
                "was changed after the forward (by an in-place operator, an optimizer "
                "step or an assignment to .data), so the gradient would be computed from "
                "the new values. Run the forward again after the change, or make the "
                "change after backward()"
            )


# --------------------------------------------------------------------------- in place


def in_place(tensor: Tensor, function: type[Function], other: Any, symbol: str) -> Tensor:
    """``tensor <op>= other``: the result is written into ``tensor``'s own array and its
    version moves on.

    In grad mode, as in PyTorch: a leaf that requires grad is refused (it would leave the
    graph it is a parameter of); a tensor in the graph, or one that the result must bring
    into it, is *rebased*: its values change in place and its ``grad_fn`` becomes the node
    of the operation, whose input is the tensor's previous history. Nodes recorded earlier
    keep pointing at that history; one that saved the old values for its backward then
    refuses to run, through the version counter.
    """
    other_requires_grad = isinstance(other, _tensor_class()) and other.requires_grad
    records = modes.state.grad_enabled and (tensor.requires_grad or other_requires_grad)
    if records:
        _refuse_in_place_on_a_leaf_or_a_view(tensor, symbol)
    previous = tensor
    if records:  # the old history, as a tensor of its own: the new node's input
        previous = _tensor_class()._from_op(tensor.data, tensor.grad_fn)
        previous._versions = tensor._counter()
        previous.name = tensor.name
    with modes.enable_grad() if records else modes.no_grad():
        result = function.apply(previous, other)
    _check_fits(tensor, result.data, symbol)
    node = result.grad_fn
    if node is not None and 0 in node._saved_sources:  # backward needs the old values
        kept = previous.data.copy()
        node._saved = tuple(kept if a is previous.data else a for a in node._saved)
        previous._data = kept
        previous._versions = new_counter()  # its own memory now: later changes are not its
    np.copyto(tensor.data, result.data, casting="same_kind")
    record_change(tensor._counter())
    if node is not None:
        tensor.grad_fn = node
        tensor._requires_grad = True
        node._output = weakref.ref(tensor)
        node._clock = _changes[0]  # the node's own output is this new version
    return tensor


def _refuse_in_place_on_a_leaf_or_a_view(tensor: Tensor, symbol: str) -> None:
    if tensor.requires_grad and tensor.grad_fn is None:
        raise RuntimeError(
            f"{symbol}: Tensor{tensor._label()} is a leaf that requires grad, and changing it "
            "in place while grad mode is on would take it out of the graph it is a parameter "
            "of. Update its values inside `with no_grad():`, through `.data` "
            f"(w.data {symbol} ...), or with an optimizer (optim.SGD, optim.Adam)"
        )
    if tensor._counter()[_SHARED_WITH_A_RECORDED_VIEW]:
        raise RuntimeError(
            f"{symbol}: Tensor{tensor._label()} shares its memory with a view in the graph "
            "(made by reshape, transpose, indexing or .T); changing it in place would change "
            "the view's values without its history, which this library does not track "
            f"(PyTorch does). Write x = x {symbol[:-1]} y for a new tensor"
        )


def _check_fits(tensor: Tensor, result: np.ndarray, symbol: str) -> None:
    if result.shape != tensor.shape:
        raise ValueError(
            f"{symbol}: the result has shape {result.shape} but Tensor{tensor._label()} has "
            f"shape {tensor.shape}; an in-place operator cannot change the shape (write "
            f"x = x {symbol[:-1]} y for a new tensor)"
        )
    if not np.can_cast(result.dtype, tensor.dtype, "same_kind"):
        raise TypeError(
            f"{symbol}: the result has dtype {result.dtype}, which Tensor{tensor._label()} of "
            f"dtype {tensor.dtype} cannot hold (write x = x {symbol[:-1]} y for a new tensor)"
        )
    if not tensor.data.flags.writeable:
        raise ValueError(f"{symbol}: the array of Tensor{tensor._label()} is read-only")


# --------------------------------------------------------------------------- one pass


_FAST: list[dict[type[Function], Callable[[Node, Any], Any]]] = []


def _unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    from tinygrad_edu.autograd import unbroadcast

    return unbroadcast(grad, shape)


def _fast_backwards() -> dict[type[Function], Callable[[Node, Any], Any]]:
    if not _FAST:  # looked up when first needed: fast.py builds on functions.py, which needs us
        from tinygrad_edu.fast import BACKWARDS

        _FAST.append(BACKWARDS)
    return _FAST[0]


def is_built_in(function: type[Function]) -> bool:
    """The operations of functions.py, which never write into their incoming gradient: the
    engine hands it to them as it is (any other backward gets a read-only view)."""
    return function.__module__ == "tinygrad_edu.functions"


_claims = threading.Lock()  # guards Node._running


class Bookkeeping:
    """What one backward pass keeps besides the gradients in flight: the leaves' sums,
    ``grad()``'s targets, ``retain_grad`` outputs; and how it checks each backward. Nothing
    is written until `finish`, so a pass that raises changes nothing."""

    def __init__(
        self,
        roots: Sequence[Tensor],
        root_grads: Sequence[Any],
        *,
        retain_graph: bool,
        create_graph: bool = False,
        targets: Sequence[Tensor] | None = None,
        accumulate: bool = True,
    ) -> None:
        self.retain_graph, self.create_graph = retain_graph, create_graph
        self.targets, self.accumulate = targets, accumulate
        self.nodes: list[Node] = []
        self.claimed: list[Node] = []
        self.at_leaf: dict[int, tuple[Tensor, Any]] = {}  # id -> (tensor, summed gradient)
        self.retained: list[tuple[Tensor, Any]] = []  # outputs that called retain_grad()
        self.captured: dict[int, Any] = {}  # id(target) -> its gradient
        self.target_of: dict[Node, int] = {}
        self.fast = {} if create_graph else _fast_backwards()
        # The memory of arrays this pass did not make: the starting gradients, and what a
        # backward the library did not write returned (it may be an array kept elsewhere).
        self.foreign = {id(_memory_of(grad)) for grad in root_grads}
        if modes.state.anomaly_enabled:
            for index, grad in enumerate(root_grads):
                if not _all_finite(grad):
                    raise FloatingPointError(
                        f"detect_anomaly: the gradient given to start backward from output "
                        f"{index} holds NaN or inf"
                    )

    def select(self, waiting: dict[Node, int]) -> dict[Node, int]:
        """The nodes to run: with targets, only those on a path from a root down to a
        target (recounted); the rest of the graph is neither run nor freed. Refuses a
        graph freed by an earlier pass before any gradient is computed."""
        if self.targets is not None:
            kept = _leading_to(waiting, self.targets)
            waiting = dict.fromkeys(kept, 0)
            for node in kept:
                for parent in node.parents:
                    if parent in waiting:
                        waiting[parent] += 1
            self.target_of = {t.grad_fn: id(t) for t in self.targets if t.grad_fn is not None}
        for node in waiting:
            if node.released and node._saved_sources:
                raise_released(node)
        self.nodes = list(waiting)
        self._claim([node for node in self.nodes if node._saved_sources])
        return waiting

    def _claim(self, nodes: list[Node]) -> None:
        """Mark the nodes whose saved arrays this pass reads as running, so that a second
        pass through them in another thread is refused instead of both succeeding (one
        of them would free the arrays the other reads, and .grad would get both sums)."""
        with _claims:
            for node in nodes:
                if node._running:
                    raise GraphReleasedError(
                        f"{node.name}: another backward pass (in another thread) is running "
                        "through this graph; a graph is run by one pass at a time. Run the "
                        "passes one after another (the first with retain_graph=True), or "
                        "build one graph per thread"
                    )
            for node in nodes:
                node._running = True
        self.claimed = nodes

    def __enter__(self) -> Bookkeeping:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """The pass is over (done, raised or abandoned): its nodes may run again."""
        with _claims:
            for node in self.claimed:
                node._running = False

    def complete(self, node: Node, grad: Any) -> Any:
        """``node``'s gradient, now complete: kept too where it is a target's or a
        retain_grad() tensor's."""
        if grad is not None:
            if node in self.target_of:
                self.captured[self.target_of[node]] = grad
            if node._retain_output_grad and self.targets is None:
                output = node.output
                if output is not None:
                    self.retained.append((output, grad))
        return grad

    def chain_rule(self, node: Node, grad: Any) -> tuple[Any, ...]:
        """``node``'s backward on ``grad``: one gradient per input, each checked (its
        input's shape, or one that numpy broadcast the input to, which is then summed back
        with `autograd.unbroadcast`; finite under detect_anomaly), None where none is
        needed. ``grad`` None (nothing arrived) gives None for every input, without calling
        backward."""
        inputs = node.inputs
        if grad is None:
            return (None,) * len(inputs)
        function = node.function
        built_in = is_built_in(function)
        if self.create_graph:  # ctx.saved hands out the graph's Tensors: backward is recorded
            node._recording = True
            try:
                input_grads = function.backward(node, grad)
            finally:
                node._recording = False
        elif function in self.fast:
            input_grads = self.fast[function](node, grad)
        elif built_in:
            input_grads = function.backward(node, grad)
        else:
            input_grads = _backward_on_read_only(node, grad)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        if not built_in:  # it may return an array that is kept elsewhere
            self.foreign.update(id(_memory_of(g)) for g in input_grads if g is not None)
        if len(input_grads) != len(inputs):
            raise ValueError(
                f"{function.__name__}.backward returned {len(input_grads)} gradients for "
                f"{len(inputs)} inputs"
            )
        anomaly = modes.state.anomaly_enabled
        needs = node.needs_input_grad
        checked: list[Any] | None = None  # a copy only if something is replaced
        for index, input_grad in enumerate(input_grads):
            if input_grad is None:
                continue
            if not needs[index]:
                checked = checked or list(input_grads)
                checked[index] = None
                continue
            if type(input_grad) is not np.ndarray and not self.create_graph:
                checked = checked or list(input_grads)
                checked[index] = input_grad = np.asarray(input_grad)
            t = inputs[index]
            if input_grad.shape != t._data.shape or anomaly:
                _check_grad(node, index, t, input_grad)
                if input_grad.shape != t._data.shape:  # numpy broadcast t: sum it back
                    checked = checked or list(input_grads)
                    checked[index] = _unbroadcast(input_grad, t._data.shape)
        return input_grads if checked is None else tuple(checked)

    def to_leaf(self, t: Tensor, grad: Any) -> None:
        """Add ``grad`` to what the leaf ``t`` has received in this pass."""
        total = self.at_leaf.get(id(t))
        self.at_leaf[id(t)] = (t, grad if total is None else total[1] + grad)

    def finish(self) -> list[Any] | None:
        """Free the saved arrays (unless ``retain_graph``), then return the targets'
        gradients, or add the leaves' to their ``.grad``."""
        if not self.retain_graph:  # only now: a pass that raised leaves the graph usable
            for node in self.nodes:  # every one of them has run (Kahn's visits them all)
                node.release()
        if self.targets is not None:
            for t in self.targets:  # leaves, and targets whose own node was not run
                if id(t) in self.at_leaf:
                    self.captured[id(t)] = self.at_leaf[id(t)][1]
            return [self.captured.get(id(t)) for t in self.targets]
        if not self.accumulate:
            return None
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


def _leading_to(counts: dict[Node, int], targets: Sequence[Tensor]) -> list[Node]:
    """The nodes with a target among their inputs, or above such a node. A target's own
    node is run only if it leads to another target, as in PyTorch. One pass over the nodes,
    inputs before the nodes that consume them: linear in the graph's size."""
    from tinygrad_edu.autograd import topological_order

    target_ids = {id(t) for t in targets}
    leads: set[Node] = set()
    for node in reversed(topological_order(counts)):
        if any(
            id(t) in target_ids or parent in leads
            for t, parent in zip(node.inputs, node.parents, strict=True)
        ):
            leads.add(node)
    return [node for node in counts if node in leads]


def _memory_of(array: Any) -> Any:
    """The object that owns an array's memory: the array, or the one it is a view of."""
    base = getattr(array, "base", None)
    return array if base is None else base


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
    if grad.shape != tensor.shape and not _broadcasts_to(tensor.shape, grad.shape):
        raise ValueError(
            f"{node.function.__name__}.backward returned a gradient of shape {grad.shape} for "
            f"input {index}, which has shape {tensor.shape}; a backward must return a "
            "gradient of the input's shape (or of the shape numpy broadcast it to, which the "
            "engine sums back)."
        )
    if modes.state.anomaly_enabled and not _all_finite(grad):
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


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _all_finite(grad: Any) -> bool:
    values = grad.data if isinstance(grad, _tensor_class()) else grad
    return bool(np.all(np.isfinite(values)))


# --------------------------------------------------------------------------- starting a pass


def backward_root(root: Tensor, gradient: Any, caller: str) -> Any:
    """∂L/∂root to start ``root.backward(gradient)`` from, checked."""
    if not root.requires_grad:
        raise RuntimeError(
            f"{caller}: Tensor{root._label()} does not require grad and has no grad_fn, so "
            "there is nothing to differentiate; create the inputs with requires_grad=True"
        )
    return initial_gradient(root, gradient, caller, as_tensor=False)


def initial_gradient(root: Tensor, gradient: Any, caller: str, *, as_tensor: bool) -> Any:
    """∂L/∂root to start a backward pass from: checked against the root's shape."""
    tensor_type = _tensor_class()
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"{caller}: Tensor{root._label()} has shape {root.shape}, so the gradient to "
                "start from is ambiguous; pass gradient= (an array of that shape), or reduce "
                "the tensor to one element first (e.g. .sum())"
            )
        ones = np.ones_like(root.data)  # ∂L/∂L = 1, of the root's shape and dtype
        return tensor_type._constant(ones) if as_tensor else ones
    values: Any
    if isinstance(gradient, tensor_type):
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
            if isinstance(values, tensor_type)
            else tensor_type._constant(values.astype(root.dtype))
        )
    return values.astype(root.dtype, copy=False)


def grad_arguments(
    outputs: Any, inputs: Any, grad_outputs: Any, create_graph: bool
) -> tuple[list[Tensor], list[Tensor], list[Any]]:
    """``grad()``'s arguments, checked: the outputs, the inputs, and each output's
    starting gradient."""
    tensor_type = _tensor_class()
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
    return output_list, input_list, root_grads


def grad_results(
    input_list: Sequence[Tensor], found: Sequence[Any], allow_unused: bool
) -> tuple[Tensor | None, ...]:
    """One Tensor per input (None for an unused one, if allowed), of the input's dtype."""
    tensor_type = _tensor_class()
    result: list[Tensor | None] = []
    for i, (t, g) in enumerate(zip(input_list, found, strict=True)):
        if g is None:
            if not allow_unused:
                raise ValueError(
                    f"grad: input {i} (Tensor{t._label()}, shape {t.shape}) was not used to "
                    "compute the outputs; pass allow_unused=True to get None for it"
                )
            result.append(None)
        elif isinstance(g, tensor_type):  # recorded: converted to t's dtype by an operation
            result.append(g if g.dtype == t.dtype else _cast(g, t.dtype))
        else:
            result.append(tensor_type._constant(np.array(g, dtype=t.dtype)))
    return tuple(result)


def _cast(g: Tensor, dtype: np.dtype[Any]) -> Tensor:
    from tinygrad_edu.functions import Cast

    return Cast.apply(g, dtype=dtype)


def _tensor_list(tensors: Any, what: str) -> list[Any]:
    if isinstance(tensors, _tensor_class()):
        return [tensors]
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"grad: {what} must be a Tensor or a list or tuple of Tensors, got "
            f"{type(tensors).__name__} {tensors!r}"
        )
    return list(tensors)


# --------------------------------------------------------------------------- the tape


class TapeEntry(NamedTuple):
    """One operation as `Function.apply` ran it."""

    function: type[Function]
    inputs: tuple[Tensor, ...]
    options: dict[str, Any]  # the keyword options forward was called with (axis=…)
    output: Tensor
    node: Node | None  # the recorded node; None when nothing required grad


class Tape:
    """The operations run on this thread inside a `tape` block, in the order they ran."""

    def __init__(self) -> None:
        self.entries: list[TapeEntry] = []

    def __iter__(self) -> Iterator[TapeEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@contextlib.contextmanager
def tape() -> Iterator[Tape]:
    """Record every operation run on this thread inside the block::

        with tape() as t:
            loss = model(x).squared_error(target)
        [entry.function.__name__ for entry in t]   # ['Linear', 'Sigmoid', …]

    Blocks nest; each sees every operation run while it is open.
    """
    recorded = Tape()
    modes.state.tapes.append(recorded)
    try:
        yield recorded
    finally:
        modes.state.tapes.remove(recorded)


_TENSOR: list[type[Tensor]] = []


def _tensor_class() -> type[Tensor]:
    """The Tensor class: tensor.py builds on the engine, which builds on this module, so
    it is looked up when first needed, never at import (and kept: an import statement
    costs microseconds on every call)."""
    if not _TENSOR:
        from tinygrad_edu.tensor import Tensor

        _TENSOR.append(Tensor)
    return _TENSOR[0]
