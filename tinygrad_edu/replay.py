"""Replay a recorded training step: the eager engine's numbers, bit for bit, without its
per-operation Python cost.

The eager engine builds a Tensor and a Node for every operation on every step; on a small
batch that bookkeeping costs more than the arithmetic. ``trace`` records one step with the
engine's tape (`autograd.tape`), watches the engine's backward pass run it
(`autograd.backward_steps`), and from then on repeats the step on plain arrays: each
operation's own ``Function.forward``, then each ``Function.backward`` — fast.py's version
where the engine runs that one — in the order the engine ran them, adding up the gradients
in the order the engine adds them. The same operations on the same arrays in the same
order give the same bits, and the first calls of every recording check that they do. Read
``autograd.py`` first: this is a fast path beside it (``docs/replay.md``).

    step = replay.trace(lambda x, t: nn.squared_error(model(x), t), optimizer)
    for x, t in batches:
        loss = step(x, t)  # forward, backward and optimizer.step(), on arrays
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tinygrad_edu import autograd, fast, policies
from tinygrad_edu.autograd import Function, Node
from tinygrad_edu.functions import Linear, MatMul, Transpose
from tinygrad_edu.optim import SGD, Optimizer, subtract_scaled
from tinygrad_edu.policies import TapeEntry
from tinygrad_edu.tensor import Tensor


class TraceError(ValueError):
    """A step function that cannot be traced, or arguments a trace cannot take."""


class TraceMismatchError(RuntimeError):
    """The replay disagreed with the eager engine on a checked call."""


_MISMATCH_CAUSES = (
    "a trace records one path through the step function: values computed outside "
    "tinygrad_edu operations (numpy on .data, .item(), Python branches or loops over "
    "values, random numbers drawn inside the step) are frozen at the recording call"
)


def trace(
    loss_fn: Callable[..., Any],
    optimizer: Optimizer,
    check_calls: int = 2,
    keep_grad: bool = True,
) -> Trace:
    """Record ``loss_fn`` once per argument shape and replay it as whole training steps.

    ``loss_fn(*tensors)`` takes Tensors made from the step's arrays (inputs, targets) and
    returns the loss, using the optimizer's parameters; ``trace(loss_fn, optimizer)(x, t)``
    then does what ``optimizer.zero_grad(); loss_fn(Tensor(x), Tensor(t)).backward();
    optimizer.step()`` does, with the same numbers bit for bit, and returns the loss as a
    float. Integer and bool arrays keep their dtype (labels, indices). The first
    ``check_calls`` calls of every recording (at least the recording call) are also run by
    the eager engine, and must give the same loss and gradients before any weight changes.

    ``keep_grad=False`` leaves ``.grad`` None after each step: the gradients are used up by
    the update, as in a step written by hand in numpy. With plain ``SGD`` (no momentum, no
    weight decay) a weight's gradient Gᵀ·X, which nothing else reads, is then made by the
    update itself, w ← w − lr·(Gᵀ·X) in one BLAS call where that gives SGD's numbers
    (`Trace.fused_update`, `fast.subtract_product`).
    """
    return Trace(loss_fn, optimizer, check_calls, keep_grad)


class Trace:
    """A training step recorded once per shape and dtype of the arguments (and per shape,
    dtype and ``requires_grad`` of the parameters), replayed on arrays."""

    fused_update = True
    """With ``keep_grad=False`` and plain `SGD`, leave a weight's gradient Gᵀ·X (of a
    ``Linear`` or of ``x @ W.T``, which nothing but the update reads) to the update:
    `fast.subtract_product` makes it and subtracts lr times it, with SGD's numbers: in one
    BLAS call where the BLAS gives those numbers (float64 here), else in numpy's three
    steps, the gradient scaled where it is. Switched off, the gradient is made and
    `optim.subtract_scaled` subtracts it. benchmarks/replay_kernels.py
    and book_network_speed.py ("replay nn unfused") measure what it buys."""

    def __init__(
        self,
        loss_fn: Callable[..., Any],
        optimizer: Optimizer,
        check_calls: int = 2,
        keep_grad: bool = True,
    ) -> None:
        if not callable(loss_fn):
            raise TypeError(f"trace: loss_fn must be callable, got {type(loss_fn).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"trace: optimizer must be a tinygrad_edu.optim.Optimizer, got "
                f"{type(optimizer).__name__}"
            )
        if check_calls < 1:
            raise ValueError(
                f"trace: check_calls must be at least 1 (the recording call), got {check_calls}"
            )
        self.loss_fn, self.optimizer, self.check_calls = loss_fn, optimizer, check_calls
        self.keep_grad = keep_grad
        self.programs: dict[Any, _Program] = {}

    def __call__(self, *arguments: Any) -> float:
        if _recording.active:
            raise TraceError(
                "trace: a step function called another traced step while it was being "
                "recorded; trace the combined step as one function instead"
            )
        arrays = [_argument(index, a) for index, a in enumerate(arguments)]
        key = (
            tuple([(a.shape, a.dtype) for a in arrays]),
            tuple([(p.data.shape, p.data.dtype, p.requires_grad) for p in self.optimizer.params]),
        )
        program = self.programs.get(key)
        if program is None or program.checks_left:
            program, loss, grads = self._checked_call(key, program, arrays)
            return self._update(program, loss, grads)
        return self._update(program, *program.run(arrays, self._fuses()))

    def _checked_call(
        self, key: Any, program: _Program | None, arrays: list[np.ndarray]
    ) -> tuple[_Program, np.ndarray, list[Any]]:
        """A call that the eager engine runs too (recording the step if ``program`` is
        None): the replay must give its loss and gradients, bit for bit. Each eager gradient
        is reduced to a digest and freed before the replay runs, so no weight-sized array
        is held twice. On an error every ``.grad`` is put back."""
        parameters = self.optimizer.params
        before = [p.grad for p in parameters]
        try:
            tensors = [Tensor(a, dtype=a.dtype) for a in arrays]  # copies, as in an eager loop
            with _recording_call(), autograd.tape() as tape, autograd.enable_grad():
                loss = self.loss_fn(*tensors)
            problem = _loss_problem(loss)
            if problem is not None and program is None:
                raise TraceError(f"trace: {problem}")
            if problem is not None:
                raise TraceMismatchError(f"trace: on a checked call, {problem}; {_MISMATCH_CAUSES}")
            nodes = None
            if program is None:
                program, nodes = _record(loss, tape.entries, tensors, parameters, self.check_calls)
            del tape
            for p in parameters:
                p.grad = None
            order = [step.node for step in autograd.backward_steps(loss)]  # ends like backward()
            if nodes is not None:
                program.follow(order, nodes)
            eager = (loss.item(), _digest(loss.data), [_digest(p.grad) for p in parameters])
            for p in parameters:
                p.grad = None
            del loss, tensors, order, nodes
            replayed_loss, grads = program.run(arrays)
            _compare(eager, replayed_loss, grads, parameters)
        except BaseException as error:
            for p, grad in zip(parameters, before, strict=True):
                p.grad = grad
            if isinstance(error, TraceMismatchError):
                self.programs.pop(key, None)
            raise
        program.checks_left -= 1
        self.programs[key] = program
        return program, replayed_loss, grads

    def _plain_sgd_update(self) -> bool:
        """Whether the update is plain SGD whose gradients nobody keeps: w ← w − lr·g."""
        optimizer = self.optimizer
        return (
            not self.keep_grad
            and type(optimizer) is SGD
            and optimizer.momentum == 0
            and optimizer.weight_decay == 0
        )

    def _fuses(self) -> bool:
        """Whether the update may scale a weight's gradient where it is, or make it itself:
        plain SGD whose gradients nobody keeps, and a rate that is a Python float, which
        numpy applies in the gradient's own dtype as `SGD.step`'s buffer does (a float64
        rate would make that buffer float64 for float32 weights, and round otherwise)."""
        return self.fused_update and self._plain_sgd_update() and type(self.optimizer.lr) is float

    def _update(
        self,
        program: _Program,
        loss: np.ndarray,
        grads: list[Any],
    ) -> float:
        """``optimizer.step()`` with the replayed gradients, as after ``zero_grad()`` and
        ``backward()``; the loss as a float."""
        parameters = self.optimizer.params
        if self._plain_sgd_update():  # `SGD.step`, with no .grad to hand over
            lr, fuse = self.optimizer.lr, self._fuses()
            program.make_shared_products(grads)
            for p, grad, private in zip(parameters, grads, program.private, strict=True):
                p.grad = None
                if grad is None:
                    continue
                data = p.data
                if type(grad) is _Product:  # w − lr·(gᵀ·x), gᵀ·x made by the update itself
                    fast.subtract_product(data, lr, grad.g, grad.x)
                elif private and fuse and grad.dtype == data.dtype:  # lr·g over g
                    data -= np.multiply(grad, lr, out=grad)
                else:  # .grad would hold the gradient in the parameter's dtype
                    subtract_scaled(data, lr, grad.astype(data.dtype, copy=False))
                p.data = data  # an assignment: the parameter's version moves on
            return float(loss.item())
        # Hand the gradients to .grad as backward() does: the engine's bookkeeping gives
        # each .grad memory of its own, in the parameter's dtype.
        book = policies.Bookkeeping((), [program.loss_grad], retain_graph=True)
        for p, grad in zip(parameters, grads, strict=True):
            p.grad = None
            if grad is not None:
                book.to_leaf(p, grad)
        book.finish()
        self.optimizer.step()
        if not self.keep_grad:
            for p in parameters:
                p.grad = None
        return float(loss.item())


# --------------------------------------------------------------------------- recording


class _RecordingState(threading.local):
    active = False  # a step is being run by the eager engine for a trace, on this thread


_recording = _RecordingState()


@contextlib.contextmanager
def _recording_call() -> Iterator[None]:
    _recording.active = True
    try:
        yield
    finally:
        _recording.active = False


_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _argument(index: int, argument: Any) -> np.ndarray:
    """One argument as the replay reads it: what ``Tensor(argument)`` holds (float32 and
    float64 kept, other numbers float64, C order), except that integer and bool arrays keep
    their dtype (labels and indices). A C-ordered float array is used as it is."""
    if isinstance(argument, Tensor):
        if argument.requires_grad:
            raise TraceError(
                f"trace: argument {index} is a Tensor that requires grad; the arguments are "
                "the step's data (inputs, targets), the parameters belong to the optimizer"
            )
        argument = argument.data
    try:
        array = argument if type(argument) is np.ndarray else np.asarray(argument)
    except ValueError as error:
        raise TraceError(f"trace: argument {index} is not an array ({error})") from None
    if array.dtype not in _FLOATS and array.dtype.kind not in "iub":
        array = Tensor(array).data
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _loss_problem(loss: Any) -> str | None:
    if not isinstance(loss, Tensor):
        return f"the step function must return the loss as a Tensor, got {type(loss).__name__}"
    if loss.data.size != 1:
        return (
            f"the loss must have one element, got shape {loss.shape}; reduce it first "
            "(e.g. .sum() or .mean())"
        )
    if not loss.requires_grad:
        return (
            "the loss does not require grad: it uses none of the optimizer's parameters "
            "(or was computed under no_grad())"
        )
    return None


class _Context:
    """An operation's ``ctx`` in a replay, in place of its Node: what its forward saves
    and sets, and which inputs need a gradient (all that a backward reads)."""

    saved: tuple[Any, ...] = ()
    constants: tuple[Any, ...] = ()

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def save_constants(self, *arrays: Any) -> None:
        self.constants = arrays


class _Argument:
    """Stands in an operation's options for one of the step's arguments (the labels in
    `nn.cross_entropy`'s index): each replay puts in that call's array."""

    def __init__(self, index: int) -> None:
        self.index = index


class _OptionsWithArguments(dict[str, Any]):
    """An operation's options that hold some of the step's arguments (`_Argument`)."""

    def with_arguments(self, arguments: Sequence[np.ndarray]) -> dict[str, Any]:
        def fill(value: Any) -> Any:
            if isinstance(value, tuple):
                return tuple(fill(v) for v in value)
            return arguments[value.index] if type(value) is _Argument else value

        return {name: fill(value) for name, value in self.items()}


def _mark_arguments(options: dict[str, Any], argument_of: dict[int, int]) -> dict[str, Any]:
    """``options`` with each array that is one of the arguments replaced by an `_Argument`."""
    found = False

    def mark(value: Any) -> Any:
        nonlocal found
        if isinstance(value, tuple):
            return tuple(mark(v) for v in value)
        if type(value) is np.ndarray and id(value) in argument_of:
            found = True
            return _Argument(argument_of[id(value)])
        return value

    marked = {name: mark(value) for name, value in options.items()}
    return _OptionsWithArguments(marked) if found else options


def _record(
    loss: Tensor,
    entries: list[TapeEntry],
    arguments: Sequence[Tensor],
    parameters: Sequence[Tensor],
    checks: int,
) -> tuple[_Program, dict[Node, int]]:
    """The step that the tape recorded, as a `_Program`; and which operation each node is."""
    slot_of = {id(t): slot for slot, t in enumerate((*arguments, *parameters))}
    argument_of = {id(t.data): index for index, t in enumerate(arguments)}
    external: list[Tensor] = []
    op_of_node: dict[Node, int] = {}
    op_of_tensor: dict[int, int] = {}  # id(output) of the operations that recorded no node

    def source(t: Tensor, parent: Node | None, function: type[Function]) -> int:
        """Where an input comes from: a slot, or operation k as −1 − k."""
        if parent is not None:
            if parent not in op_of_node:
                raise TraceError(
                    f"trace: {function.__name__} used a tensor computed by {parent.name} "
                    "outside the step function (or by an operation that bypasses "
                    "Function.apply); compute it inside the step, or pass it in as an argument"
                )
            return -1 - op_of_node[parent]
        if id(t) in slot_of:
            return slot_of[id(t)]
        if id(t) in op_of_tensor:
            return -1 - op_of_tensor[id(t)]
        if t.requires_grad:
            raise TraceError(
                f"trace: {function.__name__} used a tensor of shape {t.shape} that requires "
                "grad but is not among the optimizer's parameters; give it to the optimizer, "
                "or make it a constant (requires_grad=False)"
            )
        slot_of[id(t)] = len(slot_of)  # read again on every replay: .data may be reassigned
        external.append(t)
        return slot_of[id(t)]

    ops = []
    for k, entry in enumerate(entries):
        node = entry.node
        parents = node.parents if node is not None else [t.grad_fn for t in entry.inputs]
        inputs = [
            source(t, parent, entry.function)
            for t, parent in zip(entry.inputs, parents, strict=True)
        ]
        if node is not None:
            op_of_node[node] = k
            needs = tuple(node.needs_input_grad)
        else:
            op_of_tensor[id(entry.output)] = k
            needs = (False,) * len(inputs)
        options = _mark_arguments(entry.options, argument_of)
        signature = ([(t.shape, t.dtype) for t in entry.inputs], entry.output.dtype)
        ops.append((entry.function, inputs, options, needs, signature))
    if loss.grad_fn not in op_of_node:
        raise TraceError("trace: the loss was not computed by an operation inside the step")
    first_result = len(slot_of)
    for op in ops:
        op[1][:] = [s if s >= 0 else first_result - 1 - s for s in op[1]]
    loss_slot = first_result + op_of_node[loss.grad_fn]
    program = _Program(len(arguments), parameters, external, ops, loss_slot, loss.data, checks)
    return program, op_of_node


# --------------------------------------------------------------------------- the program


_Send = tuple[int, int, tuple[int, ...]]  # (input position, its slot, its shape)


class _Product:
    """A parameter's gradient gᵀ·x not made yet: the update makes it, as it subtracts it
    (`fast.subtract_product`). g holds the gradients of a product's rows, x its inputs."""

    def __init__(self, g: np.ndarray, x: np.ndarray) -> None:
        self.g, self.x = g, x

    def array(self) -> np.ndarray:
        """The gradient itself, as `fast.linear_backward` and `fast.matmul_backward` make it."""
        return fast.weight_gradient(self.g, self.x)


class _Program:
    """A recorded step on numbered slots. On each replay slot i holds one array: the
    arguments first, then the parameters, then the other tensors the step read (their
    ``.data`` of the moment), then each operation's result in the order they ran."""

    def __init__(
        self,
        arguments: int,
        parameters: Sequence[Tensor],
        external: list[Tensor],
        ops: list[Any],
        loss_slot: int,
        loss: np.ndarray,
        checks: int,
    ) -> None:
        self.arguments, self.parameters, self.external = arguments, list(parameters), external
        self.first_result = arguments + len(parameters) + len(external)
        self.forward = [op[:4] for op in ops]  # (function, input slots, options, needs)
        self.signatures = [op[4] for op in ops]
        last_use = {slot: k for k, op in enumerate(ops) for slot in op[1]}
        done_after: list[list[int]] = [[] for _ in ops]  # results no later forward reads
        for slot, k in last_use.items():
            if slot >= self.first_result and slot != loss_slot:
                done_after[k].append(slot)
        self.calls = [  # what `run` does for each operation, in order
            (function.forward, inputs, options, needs, done)
            for (function, inputs, options, needs), done in zip(
                self.forward, done_after, strict=True
            )
        ]
        self.loss_slot, self.checks_left = loss_slot, checks
        self.loss_grad = np.ones_like(loss)  # ∂L/∂L = 1, shared by every replay: read-only
        self.loss_grad.flags.writeable = False
        self.backward: list[tuple[int, Callable[..., Any], int, tuple[_Send, ...]]] = []
        self.private = [False] * len(self.parameters)
        self.deferred: dict[int, int] = {}  # operation -> the parameter whose product it defers
        self.aliasing_checked = False

    def follow(self, order: list[Node], op_of_node: dict[Node, int]) -> None:
        """Plan the backward pass as the engine ran it: ``order`` holds its nodes, in the
        order `autograd.backward_steps` gave them."""
        senders: dict[int, list[tuple[int, int]]] = {}  # slot -> (operation, input position)
        for node in order:
            k = op_of_node[node]
            function, inputs, _, needs = self.forward[k]
            sends = tuple(
                (i, slot, node.inputs[i].shape)
                for i, (slot, need) in enumerate(zip(inputs, needs, strict=True))
                if need
            )
            for i, slot, _ in sends:
                senders.setdefault(slot, []).append((k, i))
            self.backward.append((k, _backward_of(function), self.first_result + k, sends))
        for index in range(len(self.parameters)):
            product = self._made_by_a_product(index, senders)
            self.private[index] = product is not None
            if product is not None:
                self.deferred[product] = index

    def _made_by_a_product(
        self, index: int, senders: dict[int, list[tuple[int, int]]]
    ) -> int | None:
        """The operation whose product gives parameter ``index`` its one gradient, Gᵀ·X of
        a ``Linear`` or of ``x @ W.T`` (a transpose and a product), in its own dtype: a new
        array (`fast.linear_backward`, `fast.matmul_backward`) that nothing else reads.
        None if it has no such gradient."""
        sender = senders.get(self.arguments + index, [])
        product: type[Function] = Linear
        if len(sender) == 1 and self.forward[sender[0][0]][0] is Transpose:
            transpose = sender[0][0]
            if len(self.signatures[transpose][0][0][0]) != 2:
                return None
            sender, product = senders.get(self.first_result + transpose, []), MatMul
        if len(sender) != 1 or sender[0][1] != 1 or self.forward[sender[0][0]][0] is not product:
            return None
        (_, x_dtype), (w_shape, w_dtype) = self.signatures[sender[0][0]][0]
        dtype = self.parameters[index].data.dtype
        return sender[0][0] if len(w_shape) == 2 and x_dtype == w_dtype == dtype else None

    def _defer(self, k: int, ctx: _Context, grad: np.ndarray) -> _Product | None:
        """The weight gradient of operation ``k``, a ``Linear`` or the product of
        ``x @ W.T``, as a `_Product`, when the engine would make it as Gᵀ·X (``ctx`` then
        stops asking for it); else None."""
        x, w = ctx.saved
        if grad.dtype != w.dtype:
            return None
        if self.forward[k][0] is Linear:  # x (…, in), w (out, in)
            x = x if x.ndim == 2 else x.reshape((-1, w.shape[1]))
            g = grad if grad.ndim == 2 else grad.reshape((-1, w.shape[0]))
        elif x.ndim == 2 and grad.ndim == 2 and w.ndim == 2 and fast.is_transposed(w):
            g = grad  # `fast.matmul_backward` makes (Gᵀ·X)ᵀ, the transpose turns it back
        else:
            return None
        ctx.needs_input_grad = (ctx.needs_input_grad[0], False)
        return _Product(g, x)

    def make_shared_products(self, grads: list[Any]) -> None:
        """Make now each deferred gradient whose arrays share memory with a parameter (which
        the update would change before the product is made), and stop deferring it. Its
        operations make the same views on every replay: checked on the first one."""
        if self.aliasing_checked or not any(type(grad) is _Product for grad in grads):
            return
        weights = [p.data for p in self.parameters]
        for index, grad in enumerate(grads):
            if type(grad) is _Product and any(
                np.may_share_memory(a, w) for a in (grad.g, grad.x) for w in weights
            ):
                grads[index] = grad.array()
                self.deferred = {k: i for k, i in self.deferred.items() if i != index}
        self.aliasing_checked = True

    def run(
        self, arguments: Sequence[np.ndarray], defer: bool = False
    ) -> tuple[np.ndarray, list[Any]]:
        """The loss and each parameter's gradient (None if the loss does not use it), summed
        as the engine sums them. With ``defer``, a gradient Gᵀ·X that the update alone reads
        (`private`) is left to the update to make, as a `_Product`."""
        products: dict[int, _Product] = {}
        values: list[Any] = [*arguments, *[p.data for p in self.parameters]]
        values += [t.data for t in self.external]
        contexts: list[Any] = []
        for forward, inputs, options, needs, done in self.calls:
            ctx = _Context(needs)
            if type(options) is _OptionsWithArguments:
                options = options.with_arguments(arguments)
            raw = forward(ctx, *[values[slot] for slot in inputs], **options)
            values.append(raw if type(raw) is np.ndarray else np.asarray(raw))
            contexts.append(ctx)
            for slot in done:  # what a backward needs, its ctx saved: memory to reuse now
                values[slot] = None
        loss = values[self.loss_slot]
        grads: list[Any] = [None] * len(values)
        grads[self.loss_slot] = self.loss_grad
        deferred = self.deferred if defer else {}
        for k, backward, output, sends in self.backward:  # `autograd.backward_pass`'s loop
            grad = grads[output]
            if grad is None:  # nothing arrived: the engine sends nothing on either
                continue
            if k in deferred:
                product = self._defer(k, contexts[k], grad)
                if product is not None:
                    products[deferred[k]] = product
                    if not contexts[k].needs_input_grad[0]:  # nothing left to send
                        contexts[k] = grads[output] = None
                        continue
            input_grads = backward(contexts[k], grad)
            contexts[k] = grads[output] = None  # used up: memory to reuse
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            for i, slot, shape in sends:
                input_grad = input_grads[i]
                if input_grad is not None:
                    if type(input_grad) is not np.ndarray:
                        input_grad = np.asarray(input_grad)
                    if input_grad.shape != shape:  # broadcast: summed back, as the engine does
                        input_grad = autograd.unbroadcast(input_grad, shape)
                    total = grads[slot]
                    grads[slot] = input_grad if total is None else total + input_grad
        first = self.arguments
        weight_grads = grads[first : first + len(self.parameters)]
        for index, product in products.items():
            weight_grads[index] = product
        return loss, weight_grads


def _backward_of(function: type[Function]) -> Callable[[Any, Any], Any]:
    """The backward the engine runs on arrays for ``function``: fast.py's where there is
    one. A backward the library did not write gets a read-only gradient, as in the engine,
    and its results are copied: it may return an array that it keeps elsewhere."""
    if function in fast.BACKWARDS:
        return fast.BACKWARDS[function]
    if policies.is_built_in(function):
        return function.backward

    def backward(ctx: Any, grad: Any) -> tuple[Any, ...]:
        if type(grad) is np.ndarray:
            grad = grad.view()
            grad.flags.writeable = False
        results = function.backward(ctx, grad)
        results = results if type(results) is tuple else (results,)
        return tuple(None if g is None else np.array(g) for g in results)

    return backward


# --------------------------------------------------------------------------- the check


def _digest(array: Any) -> tuple[str, tuple[int, ...], bytes] | None:
    """An array's dtype, shape and a hash of its bits: two arrays with the same digest
    are the same, bit for bit (None for no array)."""
    if array is None:
        return None
    array = np.asarray(array)
    bits = hashlib.blake2b(np.ascontiguousarray(array).data, digest_size=20).digest()
    return array.dtype.str, array.shape, bits


def _compare(
    eager: tuple[float, Any, list[Any]],
    loss: np.ndarray,
    grads: list[Any],
    parameters: Sequence[Tensor],
) -> None:
    """Refuse a replayed loss or gradient that is not the eager engine's, bit for bit
    (each gradient as ``.grad`` would hold it, in its parameter's dtype)."""
    eager_loss, eager_loss_digest, eager_grads = eager
    if _digest(loss) != eager_loss_digest:
        raise TraceMismatchError(
            f"trace: the replay and the eager engine disagree on the loss: {loss.item()!r} "
            f"replayed, {eager_loss!r} eager; " + _MISMATCH_CAUSES
        )
    for index, (p, theirs, mine) in enumerate(zip(parameters, eager_grads, grads, strict=True)):
        what = f"the gradient of parameter {index} (shape {p.shape})"
        if (mine is None) != (theirs is None):
            raise TraceMismatchError(
                f"trace: the replay and the eager engine disagree on whether {what} "
                "exists; " + _MISMATCH_CAUSES
            )
        if mine is not None and _digest(mine.astype(p.dtype, copy=False)) != theirs:
            raise TraceMismatchError(
                f"trace: the replay and the eager engine disagree on {what}: not the same "
                "numbers, bit for bit; " + _MISMATCH_CAUSES
            )
