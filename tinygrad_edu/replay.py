"""Replay a recorded training step: the same numbers as the eager engine, without its
per-operation Python cost.

The eager engine builds a Tensor and a Node for every operation on every step; on a small
batch that bookkeeping costs more than the arithmetic. ``trace`` records one step, then
repeats it by calling each operation's own ``Function.forward`` and ``Function.backward`` on
plain arrays. Each new trace is checked against the eager engine (same loss, same
gradients) on its first calls, and ``tests/test_replay.py`` checks that hundreds of replayed
steps end on the eager engine's weights. Read ``autograd.py`` first: this is a fast path
beside it, not a replacement (``docs/replay.md`` explains when to use it).

    step = replay.trace(lambda x, t: nn.squared_error(model(x), t), optimizer)
    for x, t in batches:
        loss = step(x, t)  # forward, backward and optimizer.step(), on arrays
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

import numpy as np

# ----------------------------------------------------------------------------------------
# Everything this module assumes about the core, in one place. Re-check it when the core
# changes (tests/test_replay.py fails loudly if one of these stops holding):
#   1. Every operation runs through ``Function.apply(cls, *inputs, **options)``, a
#      classmethod on ``Function``; recording wraps it for the duration of one eager call.
#   2. ``cls.forward(ctx, *arrays, **options)`` computes from numpy arrays and talks to
#      ``ctx`` only through ``ctx.save_for_backward(*arrays)`` (and ``save_constants``,
#      if the core has it) and attributes it sets itself; ``cls.backward(ctx, grad)``
#      reads ``ctx.saved`` (``ctx.constants``), ``ctx.needs_input_grad`` and those
#      attributes, and returns one gradient (or None) per input, a bare gradient
#      for a one-input operation. Both work on plain arrays without a graph.
#   3. ``Tensor.data`` is the array, ``Tensor.grad_fn`` the Node or None,
#      ``Node.needs_input_grad`` one bool per input, ``Tensor.requires_grad``.
#   4. ``autograd._as_tensors(inputs, Tensor)`` turns the non-Tensor inputs of ``apply``
#      into constants the way ``apply`` does (Python numbers take the tensors' dtype).
#   5. An optimizer has ``.params`` (leaf Tensors), reads each ``.grad`` and updates
#      ``.data`` in ``step()``; ``SGD`` with ``momentum`` and ``weight_decay`` 0 computes
#      w − lr·grad element by element (``optim.subtract_scaled``; ``keep_grad=False``
#      does that itself); assigning ``p.data`` is how the core notices an update.
#   6. The fast kernels below stand for ``functions.MatMul``, ``Linear``, ``Sub``,
#      ``Sigmoid``, ``Pow``, ``SquaredError``, ``Sum`` and ``Transpose`` and compute the
#      formulas in their docstrings (``functions.unbroadcast`` sums a gradient back to an
#      input's shape).
#   7. ``Tensor._constant(array)`` wraps an array as a tensor without copying it (the
#      arguments, read-only); ``autograd.run_backward`` with ``targets`` returns the eager
#      gradients the replay is checked against, as ``tinygrad_edu.grad`` does.
# ----------------------------------------------------------------------------------------
from tinygrad_edu import autograd, functions, policies
from tinygrad_edu.autograd import Function
from tinygrad_edu.optim import SGD, Optimizer, subtract_scaled
from tinygrad_edu.tensor import Tensor


class TraceError(ValueError):
    """A step function that cannot be traced, or arguments a trace cannot take."""


class TraceMismatchError(RuntimeError):
    """The replay disagreed with the eager engine on a checked call."""


# --------------------------------------------------------------------------- recording


@dataclass
class _Call:
    """One operation as the eager run called it."""

    function: type[Function]
    inputs: list[Tensor]
    options: dict[str, Any]
    output: Tensor


class _Recorder(threading.local):
    recording = False


_recorder = _Recorder()


def _record(loss_fn: Callable[..., Any], arguments: Sequence[Tensor]) -> tuple[Tensor, list[_Call]]:
    """Run ``loss_fn`` eagerly once and keep every operation it called, in order (the
    engine's tape)."""
    if _recorder.recording:  # a traced step inside a step being recorded
        raise TraceError(
            "trace: a step function called another traced step while it was being "
            "recorded; trace the combined step as one function instead"
        )
    _recorder.recording = True
    try:
        with autograd.tape() as recorded, autograd.enable_grad():
            loss = loss_fn(*arguments)
    finally:
        _recorder.recording = False
    calls = [
        _Call(entry.function, list(entry.inputs), dict(entry.options), entry.output)
        for entry in recorded
    ]
    return loss, calls


# --------------------------------------------------------------------------- kernels


class _Context:
    """Stands in for the Node as an operation's ``ctx`` during a replay: forward keeps its
    saved arrays and options here, and backward reads them back (assumption 2)."""

    saved: tuple[Any, ...] = ()
    constants: tuple[Any, ...] = ()

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def save_constants(self, *arrays: Any) -> None:  # the core's ctx may offer this too
        self.constants = arrays


class Kernel(Protocol):
    """One operation of a replay. ``forward(*arrays)`` returns the output and what the
    backward needs (``saved``); ``backward(saved, grad)`` returns one gradient (or None)
    per input. The kernel itself keeps no arrays: a step's arrays are freed with the step."""

    @property
    def forward(self) -> Callable[..., tuple[np.ndarray, Any]]: ...

    @property
    def backward(self) -> Callable[[Any, np.ndarray], Sequence[np.ndarray | None]]: ...


class OwnFunction:
    """The operation's own ``Function.forward`` and ``Function.backward``, on arrays, with
    a fresh `_Context` as ``ctx`` each step."""

    def __init__(
        self,
        function: type[Function],
        options: dict[str, Any],
        needs_input_grad: tuple[bool, ...],
    ) -> None:
        self.function, self.options, self.needs_input_grad = function, options, needs_input_grad
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, *arrays: np.ndarray) -> tuple[np.ndarray, _Context]:
        ctx = _Context(self.needs_input_grad)
        self.shapes = [a.shape for a in arrays]
        output = self.function.forward(ctx, *arrays, **self.options)  # type: ignore[arg-type]
        return np.asarray(output), ctx

    def backward(self, ctx: _Context, grad: np.ndarray) -> Sequence[np.ndarray | None]:
        grads = self.function.backward(ctx, grad)  # type: ignore[arg-type]
        grads = grads if type(grads) is tuple else (grads,)
        return tuple(  # summed back to each input's shape, as the engine does
            None if g is None else autograd.unbroadcast(g, shape)
            for g, shape in zip(grads, self.shapes, strict=True)
        )


# Faster kernels for the operations of the book's network. Each computes its operation's
# own formula (the docstring of the Function it stands for), only arranged for speed, and
# tests/test_replay.py checks each one against that Function. Why they are faster:
# - np.dot instead of @ for 2-D products, in the forward too (the engine's backwards use
#   it already: np.matmul runs the batch-1 outer product (200, 1) · (1, 784) in a slow
#   loop, np.dot hands every 2-D product to BLAS; but Gᵀ · X over a batch of rows measured
#   faster with @, the same BLAS product);
# - x @ W.T as one kernel: `_fold_transposes` turns the transpose and the product into a
#   `_Linear2D`, whose gradient Gᵀ · X of W is C-ordered like W itself (the engine gets
#   the same order through the transpose; an unfolded `_MatMul2D` computes (Gᵀ · X)ᵀ too);
# - x ** 2 as x · x: the same numbers, without Pow's look for a zero base (where its
#   limits need masks);
# - no checks of shapes and options on every call: they were checked when recording, and
#   no ctx object per call (the sigmoid keeps its output as what backward needs);
# - fewer new arrays: numpy's ``out=`` writes a step's result over the previous step's
#   temporary where the formula allows it, in the same order of operations.

_Pair = tuple[np.ndarray, np.ndarray]


class _MatMul2D:
    """MatMul of two 2-D arrays: Y = A · B, ∂L/∂A = G · Bᵀ, ∂L/∂B = Aᵀ · G."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_a, self.needs_b = needs_input_grad

    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, _Pair]:
        return np.dot(a, b), (a, b)

    def backward(self, saved: _Pair, g: np.ndarray) -> Sequence[np.ndarray | None]:
        a, b = saved
        grad_a = np.dot(g, b.T) if self.needs_a else None
        grad_b = None
        if self.needs_b:
            # B is usually Wᵀ, a transposed view: give its gradient the same memory order.
            transposed = b.flags.f_contiguous and not b.flags.c_contiguous
            grad_b = np.dot(g.T, a).T if transposed else np.dot(a.T, g)
        return grad_a, grad_b


class _Linear2D:
    """Linear on rows: Y = X · Wᵀ, ∂L/∂X = G · W, ∂L/∂W = Gᵀ · X."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_x, self.needs_w = needs_input_grad

    def forward(self, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, _Pair]:
        return np.dot(x, w.T), (x, w)

    def backward(self, saved: _Pair, g: np.ndarray) -> Sequence[np.ndarray | None]:
        x, w = saved
        grad_x = np.dot(g, w) if self.needs_x else None
        grad_w = None
        if self.needs_w:  # one row: the outer product np.dot does well; more: @ measured faster
            grad_w = np.dot(g.T, x) if len(x) == 1 else np.matmul(g.T, x)
        return grad_x, grad_w

    def backward_for_update(self, saved: _Pair, g: np.ndarray) -> Sequence[Any]:
        """``backward`` where W's gradient goes straight into an in-place SGD update
        (`Trace._sgd_in_place`): it stays the pair of factors Gᵀ and X until then."""
        x, w = saved
        return (np.dot(g, w) if self.needs_x else None), _Product(g.T, x)


# About how many numbers of W one block of an update or a comparison covers (128 kB in
# float64): small enough to stay in the processor's cache.
_BLOCK = 16384


class _Product:
    """The gradient Gᵀ · X of W in Y = X · Wᵀ, kept as its two factors until the update:
    Gᵀ of shape (outputs, batch) and X of shape (batch, inputs), a few kB each where the
    product is weight-sized. A step that keeps no ``.grad`` never needs the product whole:

    - for one row x, the update w ← w − lr·(Gᵀ · X) runs block by block of W's rows through
      one small buffer, so the weight-sized gradient never exists and W stays in the
      processor's cache. Each element is one product g_i · x_j in whichever block: the
      same numbers as the whole product;
    - for more rows it is the whole ``np.matmul(Gᵀ, X)`` that `_Linear2D.backward` makes,
      scaled in place: the same numbers as there;
    - a checked call multiplies it by a vector as Gᵀ · (X · r) (`_fingerprint`), so the
      check needs no weight-sized array for it either.
    """

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        self.left, self.right = left, right
        self.shape = (left.shape[0], right.shape[1])

    def rows(self, start: int, out: np.ndarray) -> np.ndarray:
        """Rows ``start`` to ``start + len(out)`` of Gᵀ · X, written into ``out``."""
        return np.dot(self.left[start : start + len(out)], self.right, out=out)

    def subtract_scaled_from(self, w: np.ndarray, lr: float, block: int = _BLOCK) -> None:
        """w ← w − lr·(Gᵀ · X)."""
        if len(self.right) != 1:
            g = np.matmul(self.left, self.right)
            w -= np.multiply(g, lr, out=g)
            return
        for start, part in _blocks_of(w, block):
            self.rows(start, out=part)
            target = w[start : start + len(part)]
            target -= np.multiply(part, lr, out=part)


def _blocks_of(matrix: np.ndarray, block: int = _BLOCK) -> Iterator[tuple[int, np.ndarray]]:
    """Each block of ``matrix``'s rows — about ``block`` numbers, at least one row — as its
    first row and one reused buffer of its shape (the last block may be shorter)."""
    height, width = matrix.shape
    rows = max(1, block // max(width, 1))
    buffer = np.empty((min(rows, height), width), matrix.dtype)
    for start in range(0, height, rows):
        yield start, buffer[: min(rows, height - start)]


class _Sub:
    """Sub with the shapes recorded: y = a − b, ∂L/∂a = g, ∂L/∂b = −g, each summed back
    to its input's shape (``functions.unbroadcast``)."""

    def __init__(self, shapes: list[tuple[int, ...]], needs_input_grad: tuple[bool, ...]) -> None:
        self.a_shape, self.b_shape = shapes
        self.needs_a, self.needs_b = needs_input_grad

    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, None]:
        return a - b, None

    def backward(self, saved: None, g: np.ndarray) -> Sequence[np.ndarray | None]:
        grad_a = functions.unbroadcast(g, self.a_shape) if self.needs_a else None
        grad_b = functions.unbroadcast(-g, self.b_shape) if self.needs_b else None
        return grad_a, grad_b


class _Sigmoid:
    """Sigmoid: y = 1 / (1 + e⁻ˣ), ∂L/∂x = g · y · (1 − y), as ``functions.Sigmoid``
    computes them (e⁻ˣ overflows to inf for very negative x, and σ(x) is then 0)."""

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The four steps of 1 / (1 + e⁻ˣ) write into one new array instead of four: the same
        # operations and roundings, with less memory to allocate and stream through.
        y = np.negative(x, out=np.empty_like(x))
        # e⁻ˣ can only overflow where x < −88 (float32; −709 in float64): one look at the
        # smallest x costs less than entering np.errstate, which the eager engine does always.
        if x.size and np.minimum.reduce(x, axis=None) >= -88:
            np.exp(y, out=y)
        else:  # also for NaN, which compares False
            with np.errstate(over="ignore"):
                np.exp(y, out=y)
        np.add(1, y, out=y)
        np.divide(1, y, out=y)
        return y, y

    def backward(self, y: np.ndarray, g: np.ndarray) -> Sequence[np.ndarray | None]:
        grad = g * y
        grad *= 1 - y  # (g · y) · (1 − y) in the order Sigmoid computes it, one array fewer
        return (grad,)


class _Square:
    """Pow with the constant exponent 2: y = a · a, ∂L/∂a = g · 2 · a."""

    def forward(self, a: np.ndarray, two: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return a * a, a

    def backward(self, a: np.ndarray, g: np.ndarray) -> Sequence[np.ndarray | None]:
        return g * 2 * a, None


class _SquaredError:
    """SquaredError of an output and a target of the same shape: E = Σ (t − o)²,
    ∂L/∂o = 2(o − t) · g, ∂L/∂t = −2(o − t) · g (``nn.squared_error``)."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_o, self.needs_t = needs_input_grad

    def forward(self, o: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, _Pair]:
        d = t - o
        return np.asarray(np.add.reduce(d * d, axis=None)), (o, t)

    def backward(self, saved: _Pair, g: np.ndarray) -> Sequence[np.ndarray | None]:
        o, t = saved
        twice_diff = 2 * (o - t) * g
        return (twice_diff if self.needs_o else None), (-twice_diff if self.needs_t else None)


class _Sum:
    """Sum over the recorded axes: y = Σ x, ∂L/∂x = g copied back along the summed axes
    (into a new array: numpy's broadcast_to view costs more than the copy at these sizes)."""

    def __init__(self, shape: tuple[int, ...], axis: Any, keepdims: bool) -> None:
        ndim = len(shape)
        if axis is None:
            axes = tuple(range(ndim))
        else:
            axes = tuple(sorted(int(a) % max(ndim, 1) for a in np.atleast_1d(axis)))
        self.shape, self.axes, self.keepdims = shape, axes, keepdims
        self.kept_shape = tuple(1 if i in axes else n for i, n in enumerate(shape))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, None]:
        # np.add.reduce is what x.sum calls, without x.sum's Python wrapper in between.
        total = np.add.reduce(x, axis=self.axes, keepdims=self.keepdims)  # type: ignore[call-overload]
        return np.asarray(total), None

    def backward(self, saved: None, g: np.ndarray) -> Sequence[np.ndarray | None]:
        grad = np.empty(self.shape, g.dtype)
        grad[...] = g.reshape(self.kept_shape)
        return (grad,)


class _Transpose:
    """Transpose with the axes recorded: y = x with its axes permuted, ∂L/∂x = g permuted
    back."""

    def __init__(self, ndim: int, axes: tuple[int, ...] | None) -> None:
        self.axes = tuple(reversed(range(ndim))) if axes is None else tuple(a % ndim for a in axes)
        self.inverse = tuple(int(i) for i in np.argsort(self.axes))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, None]:
        return x.transpose(self.axes), None

    def backward(self, saved: None, g: np.ndarray) -> Sequence[np.ndarray | None]:
        return (g.transpose(self.inverse),)


def _kernel(call: _Call, needs_input_grad: tuple[bool, ...], constant: list[bool]) -> Kernel:
    """The operation's own Function, or a faster kernel where one fits the recorded call."""
    function = call.function
    ndims = [t.data.ndim for t in call.inputs]
    one_float_dtype = len({t.data.dtype for t in call.inputs}) == 1 and all(
        t.data.dtype in _FLOATS for t in call.inputs
    )
    if function is functions.Transpose:
        return _Transpose(ndims[0], call.options.get("axes"))
    if one_float_dtype and function is functions.Sub:
        return _Sub([t.data.shape for t in call.inputs], needs_input_grad)
    if one_float_dtype and function is functions.Sigmoid:
        return _Sigmoid()
    if one_float_dtype and function is functions.Sum:
        options = call.options
        return _Sum(call.inputs[0].shape, options.get("axis"), bool(options.get("keepdims")))
    if one_float_dtype and function is functions.MatMul and ndims == [2, 2]:
        return _MatMul2D(needs_input_grad)
    if one_float_dtype and function is functions.Linear and ndims == [2, 2]:
        return _Linear2D(needs_input_grad)
    if one_float_dtype and function is functions.Pow and _is_two(call.inputs[1], constant[1]):
        return _Square()
    same_shapes = len({t.data.shape for t in call.inputs}) == 1
    if one_float_dtype and function is functions.SquaredError and same_shapes:
        return _SquaredError(needs_input_grad)
    return OwnFunction(function, call.options, needs_input_grad)


_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _is_two(exponent: Tensor, is_constant: bool) -> bool:
    return is_constant and exponent.data.shape == () and bool(exponent.data == 2)


# --------------------------------------------------------------------------- the program


@dataclass
class _Op:
    kernel: Kernel
    inputs: tuple[int, ...]  # slots
    output: int
    needs_input_grad: tuple[bool, ...]  # all False: forward only (no input requires grad)


@dataclass
class _Program:
    """A recorded step as numbered slots and operations. Slot i holds one array: the
    arguments first, then the parameters, then the constants and the operations' outputs
    in the order the step met them."""

    argument_dtypes: list[np.dtype[Any]]  # as Tensor(argument) made them
    parameters: list[Tensor]  # the optimizer's, in its order
    slots: list[Any]  # constants in place, None elsewhere
    ops: list[_Op]
    loss_slot: int
    loss_grad: np.ndarray  # ∂L/∂L = 1, read-only, shared by every step
    private_grads: list[bool]  # per parameter: its gradient is a new array only it uses
    cast_arguments: bool = False  # the arguments' dtypes differ from argument_dtypes
    checks_left: int = 0  # calls still to be compared with the eager engine

    def __post_init__(self) -> None:
        # The two loops of a step, as flat tuples made once (each attribute looked up on
        # every step costs time at batch 1). Backward: the ops that have something to
        # differentiate, each after every op that used its output (reverse recorded order).
        # The forward fetches an op's inputs with one C call (`_fetcher`); the backward
        # visits only the (position, slot) pairs that need a gradient.
        # After its last reader in the forward, an op's result is dropped: backward reads
        # only what each kernel saved, so the memory of, say, x · Wᵀ before the sigmoid is
        # free for the step's next array while it is still in the processor's cache.
        last_reader = {slot: k for k, op in enumerate(self.ops) for slot in op.inputs}
        first_result = len(self.argument_dtypes) + len(self.parameters)
        done_after: dict[int, list[int]] = {}
        for slot, k in last_reader.items():
            if slot >= first_result and self.slots[slot] is None and slot != self.loss_slot:
                done_after.setdefault(k, []).append(slot)
        self.forward_plan = [
            (k, op.kernel.forward, _fetcher(op.inputs), op.output, tuple(done_after.get(k, ())))
            for k, op in enumerate(self.ops)
        ]
        self.backward_plan = [
            (k, op.kernel.backward, op.output, _needed(op))
            for k, op in reversed(list(enumerate(self.ops)))
            if True in op.needs_input_grad
        ]
        self.parameter_dtypes = [p.data.dtype for p in self.parameters]
        # With keep_grad=False and plain SGD, a weight whose only reader is a `_Linear2D`
        # hands the update its gradient's factors (`_Product`) instead of the product.
        first = len(self.argument_dtypes)
        private = {first + i for i, private in enumerate(self.private_grads) if private}
        factored = {
            k: op.kernel.backward_for_update
            for k, op in enumerate(self.ops)
            if isinstance(op.kernel, _Linear2D) and op.inputs[1] in private
        }
        self.update_plan = [
            (k, factored.get(k, backward), output, needed)
            for k, backward, output, needed in self.backward_plan
        ]

    def run(
        self, arguments: Sequence[np.ndarray], for_update: bool = False
    ) -> tuple[np.ndarray, list[Any]]:
        """The loss and each parameter's gradient (None if the loss does not use it);
        ``for_update``: some gradients as a `_Product` for `Trace._sgd_in_place`."""
        values = self.slots.copy()
        first = len(arguments)
        values[:first] = arguments
        values[first : first + len(self.parameters)] = [p.data for p in self.parameters]
        saved: list[Any] = [None] * len(self.ops)
        for k, forward, fetch, output, done in self.forward_plan:
            values[output], saved[k] = forward(*fetch(values))
            for slot in done:
                values[slot] = None
        loss = values[self.loss_slot]
        grads: list[Any] = [None] * len(values)
        grads[self.loss_slot] = self.loss_grad
        for k, backward, output, needed in self.update_plan if for_update else self.backward_plan:
            grad = grads[output]
            if grad is None:  # nothing flows back through this op
                continue
            input_grads = backward(saved[k], grad)
            # Free what is used up, as the engine frees a graph: the next step's arrays
            # then reuse this memory while it is still in the processor's cache.
            saved[k] = grads[output] = values[output] = None
            for position, slot in needed:
                input_grad = input_grads[position]
                if input_grad is not None:
                    total = grads[slot]
                    grads[slot] = input_grad if total is None else total + input_grad
        parameter_grads = grads[first : first + len(self.parameters)]
        for index, (g, dtype) in enumerate(
            zip(parameter_grads, self.parameter_dtypes, strict=True)
        ):
            if g is None or type(g) is _Product:
                continue
            if type(g) is not np.ndarray or g.dtype != dtype:
                parameter_grads[index] = np.asarray(g, dtype=dtype)
        return loss, parameter_grads


def _fetcher(inputs: tuple[int, ...]) -> Callable[[list[Any]], Sequence[Any]]:
    """A C-level function from the slots to an op's input arrays, as a sequence."""
    if len(inputs) == 1:
        return itemgetter(slice(inputs[0], inputs[0] + 1))  # a one-element list
    if len(inputs) == 0:
        return lambda values: ()
    return itemgetter(*inputs)


def _needed(op: _Op) -> tuple[tuple[int, int], ...]:
    """(position, slot) of each input of ``op`` whose gradient the step needs."""
    return tuple(
        (position, slot)
        for position, (slot, needed) in enumerate(zip(op.inputs, op.needs_input_grad, strict=True))
        if needed
    )


def _build(
    loss: Any, calls: list[_Call], arguments: Sequence[Tensor], parameters: list[Tensor]
) -> _Program:
    """Number every array the step used and turn each call into an `_Op` on those numbers."""
    if not isinstance(loss, Tensor):
        raise TraceError(
            f"trace: the step function must return the loss as a Tensor, got {type(loss).__name__}"
        )
    if loss.data.size != 1:
        raise TraceError(
            f"trace: the loss must have one element, got shape {loss.shape}; reduce it "
            "first (e.g. .sum() or .mean())"
        )
    if not loss.requires_grad:
        raise TraceError(
            "trace: the loss does not require grad: it uses none of the optimizer's "
            "parameters (or was computed under no_grad())"
        )
    slot_of: dict[int, int] = {}  # id(tensor) -> slot; the calls keep the tensors alive
    slots: list[Any] = []
    for tensor in (*arguments, *parameters):
        slot_of[id(tensor)] = len(slots)
        slots.append(None)
    ops = []
    for call in calls:
        for tensor in call.inputs:
            if id(tensor) not in slot_of:
                _check_constant(tensor, call)
                slot_of[id(tensor)] = len(slots)
                slots.append(tensor.data)
        node = call.output.grad_fn
        needs = tuple(node.needs_input_grad) if node is not None else (False,) * len(call.inputs)
        slot_of[id(call.output)] = len(slots)
        slots.append(None)
        inputs = tuple(slot_of[id(t)] for t in call.inputs)
        constant = [slots[i] is not None for i in inputs]
        ops.append(_Op(_kernel(call, needs, constant), inputs, slot_of[id(call.output)], needs))
    loss_slot = slot_of.get(id(loss))
    if loss_slot is None or loss_slot < len(arguments) + len(parameters):
        raise TraceError("trace: the loss was not computed by an operation inside the step")
    ops = _fold_squared_errors(_fold_transposes(ops, loss_slot), loss_slot)
    loss_grad = np.ones_like(loss.data)
    loss_grad.flags.writeable = False
    dtypes = [a.data.dtype for a in arguments]
    first = len(arguments)
    private = [_has_private_grad(first + i, ops) for i in range(len(parameters))]
    return _Program(dtypes, parameters, slots, ops, loss_slot, loss_grad, private)


def _fold_transposes(ops: list[_Op], loss_slot: int) -> list[_Op]:
    """``x @ W.T`` was recorded as a transpose and a product; where nothing else reads
    ``W.T``, the pair becomes one ``_Linear2D`` on ``W``: the same np.dot calls on the same
    arrays, two kernel calls a step fewer."""
    readers: dict[int, int] = {}
    for op in ops:
        for slot in op.inputs:
            readers[slot] = readers.get(slot, 0) + 1
    transposes = {
        op.output: op
        for op in ops
        if isinstance(op.kernel, _Transpose) and op.kernel.axes == (1, 0)
        if readers.get(op.output) == 1 and op.output != loss_slot
    }
    replaced: dict[int, _Op] = {}  # id(product) -> the folded op
    dropped: set[int] = set()  # id(transpose)
    for op in ops:
        transpose = transposes.get(op.inputs[1]) if len(op.inputs) == 2 else None
        if isinstance(op.kernel, _MatMul2D) and transpose is not None:
            needs = (op.needs_input_grad[0], op.needs_input_grad[1])
            inputs = (op.inputs[0], transpose.inputs[0])
            replaced[id(op)] = _Op(_Linear2D(needs), inputs, op.output, needs)
            dropped.add(id(transpose))
    return [replaced.get(id(op), op) for op in ops if id(op) not in dropped]


def _fold_squared_errors(ops: list[_Op], loss_slot: int) -> list[_Op]:
    """``((t - o) ** 2).sum()`` was recorded as a Sub, a Square and a Sum of everything;
    where nothing else reads the difference or its square, the three become one
    `_SquaredError`, the same numbers: its 2(o − t) · g is the chain's −((g · 2) · (t − o))
    exactly, as negating and doubling are exact and rounding is symmetric about zero."""
    readers: dict[int, int] = {}
    for op in ops:
        for slot in op.inputs:
            readers[slot] = readers.get(slot, 0) + 1
    made_by = {op.output: op for op in ops}
    replaced: dict[int, _Op] = {}  # id(sum) -> the folded op
    dropped: set[int] = set()  # id(sub), id(square)
    for op in ops:
        kernel = op.kernel
        if not isinstance(kernel, _Sum) or kernel.keepdims or len(kernel.axes) < len(kernel.shape):
            continue
        square = made_by.get(op.inputs[0])
        if square is None or not isinstance(square.kernel, _Square):
            continue
        sub = made_by.get(square.inputs[0])
        if (
            sub is None
            or not isinstance(sub.kernel, _Sub)
            or sub.kernel.a_shape != sub.kernel.b_shape
        ):
            continue
        if readers[sub.output] != 1 or readers[square.output] != 1:
            continue
        if loss_slot in (sub.output, square.output):
            continue
        t, o = sub.inputs
        needs = (sub.needs_input_grad[1], sub.needs_input_grad[0])
        replaced[id(op)] = _Op(_SquaredError(needs), (o, t), op.output, needs)
        dropped.update((id(sub), id(square)))
    return [replaced.get(id(op), op) for op in ops if id(op) not in dropped]


def _has_private_grad(slot: int, ops: list[_Op]) -> bool:
    """Whether the gradient of ``slot`` is always a new array that nothing else holds: it
    has one consumer, a 2-D product (whose gradients are new np.dot results), possibly
    through one transpose (a view of such a result). Only such a gradient may be
    overwritten by the update (`Trace._sgd_in_place`)."""
    consumers = [
        op for op in ops if slot in op.inputs and op.needs_input_grad[op.inputs.index(slot)]
    ]
    if len(consumers) != 1 or consumers[0].inputs.count(slot) != 1:
        return False
    (op,) = consumers
    if isinstance(op.kernel, _Transpose):
        return _has_private_grad(op.output, ops)
    return isinstance(op.kernel, (_MatMul2D, _Linear2D))


def _check_constant(tensor: Tensor, call: _Call) -> None:
    """A tensor the step used that is neither an argument, a parameter nor an operation's
    result is replayed as a constant, so it must not require grad or come from a graph."""
    name = call.function.__name__
    if tensor.grad_fn is not None:
        raise TraceError(
            f"trace: {name} used a tensor computed by {tensor.grad_fn.name} outside the "
            "step function (or by an operation that bypasses Function.apply); compute it "
            "inside the step, or pass it in as an argument"
        )
    if tensor.requires_grad:
        raise TraceError(
            f"trace: {name} used a tensor of shape {tensor.shape} that requires grad but is "
            "not among the optimizer's parameters; give it to the optimizer, or make it a "
            "constant (requires_grad=False)"
        )


# --------------------------------------------------------------------------- the step


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
    optimizer.step()`` does and returns the loss as a float. The first ``check_calls``
    calls of every trace (at least the recording call) are also run by the eager engine
    and must give the same loss and gradients.

    ``keep_grad=False`` leaves ``.grad`` None after each step: the gradients are used up
    by the update, as in a step written by hand in numpy. Plain ``SGD`` (no momentum, no
    weight decay) then scales a weight's gradient by the learning rate in place instead of
    in a new weight-sized array — the same numbers, less memory to stream through.
    """
    return Trace(loss_fn, optimizer, check_calls, keep_grad)


class Trace:
    """A training step recorded once per argument shape and dtype, replayed on arrays."""

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
        arrays = [
            a if type(a) is np.ndarray else _as_argument(index, a)
            for index, a in enumerate(arguments)
        ]
        parameters = self.optimizer.params
        key = (
            tuple([(a.shape, a.dtype) for a in arrays]),
            tuple([(p.data.shape, p.data.dtype) for p in parameters]),
        )
        program = self.programs.get(key)
        eager_loss = None
        if program is None:
            program, eager_loss = self._record_program(arrays)
            self.programs[key] = program
        if program.cast_arguments:  # as Tensor(argument) casts integers to float64
            dtypes = program.argument_dtypes
            arrays = [a.astype(dtype) for a, dtype in zip(arrays, dtypes, strict=True)]
        in_place = not self.keep_grad and _is_plain_sgd(self.optimizer)
        if program.checks_left > 0:  # the eager engine first: its graph is gone before the replay
            program.checks_left -= 1
            try:
                eager = _eager_step(self.loss_fn, arrays, parameters, eager_loss)
                eager_loss = None
                loss, grads = program.run(arrays, for_update=in_place)
                _check(eager, loss, grads, parameters)
            except TraceMismatchError:
                del self.programs[key]
                raise
        else:
            loss, grads = program.run(arrays, for_update=in_place)
        if in_place:
            self._sgd_in_place(program, grads)
            return float(loss.item())
        for p, g in zip(parameters, grads, strict=True):
            p.grad = g
        self.optimizer.step()
        if not self.keep_grad:
            for p in parameters:
                p.grad = None
        return float(loss.item())

    def _record_program(self, arrays: list[np.ndarray]) -> tuple[_Program, Tensor]:
        """Record the step on these arrays: its program, and the eager loss it computed."""
        tensors = [_argument_tensor(a) for a in arrays]
        eager_loss, calls = _record(self.loss_fn, tensors)
        program = _build(eager_loss, calls, tensors, list(self.optimizer.params))
        program.cast_arguments = any(
            a.dtype != t.data.dtype for a, t in zip(arrays, tensors, strict=True)
        )
        program.checks_left = self.check_calls
        return program, eager_loss

    def _sgd_in_place(self, program: _Program, grads: list[Any]) -> None:
        """``SGD.step`` without momentum or weight decay, w ← w − lr·g, with lr·g written
        over g where g is the replay's own new array (the same two roundings), or block by
        block where g is a `_Product`. The parameters go last to first: a network's first
        weights, which the next step's forward reads first, are then the last ones written
        and still in the processor's cache (1–2% faster at batch 64 and 256 on the book's
        network, measured with the parameters in either order)."""
        lr = self.optimizer.lr
        updates = zip(program.parameters, grads, program.private_grads, strict=True)
        for p, g, private in reversed(list(updates)):
            p.grad = None
            if g is None:
                continue
            data = p.data
            if type(g) is _Product:
                g.subtract_scaled_from(data, lr)
            elif private:
                data -= np.multiply(g, lr, out=g)
            else:  # another array may hold g: SGD's own block-by-block update
                subtract_scaled(data, lr, g)
            p.data = data  # an assignment, so the core sees the change (its version, if any)


def _is_plain_sgd(optimizer: Optimizer) -> bool:
    return type(optimizer) is SGD and optimizer.momentum == 0 and optimizer.weight_decay == 0


_MISMATCH_CAUSES = (
    "a trace records one path through the step function: values computed outside "
    "tinygrad_edu operations (numpy on .data, .item(), Python branches or loops over "
    "values, random numbers drawn inside the step) are frozen at the recording call"
)


def _argument_tensor(array: np.ndarray) -> Tensor:
    """The Tensor a step function receives for one of its arrays, with ``Tensor(array)``'s
    dtype; a float array is wrapped read-only rather than copied (the copy of a batch of 256
    digits would be 1.5 MiB), since the step only reads it."""
    if array.dtype not in _FLOATS:
        return Tensor(array)
    view = array.view()
    view.flags.writeable = False
    return Tensor._constant(view)


# What a checked call compares of each gradient: the gradient itself if it has fewer than
# two axes; a matrix G (weight-sized) as G·r, r a fixed vector of numbers between 1 and 2.
_Fingerprint = tuple[np.ndarray, np.ndarray]  # (G·r, |G|·r), or (g, |g|)


def _eager_step(
    loss_fn: Callable[..., Any],
    arrays: list[np.ndarray],
    parameters: Sequence[Tensor],
    loss: Any = None,
) -> tuple[np.ndarray, list[_Fingerprint | None]]:
    """The eager engine's loss and its gradients' fingerprints for the step: from ``loss``
    if recorded already, else from a new forward. Each gradient is reduced to its
    fingerprint: the gradients and the graph are freed when this returns."""
    if loss is None:
        with autograd.enable_grad():
            loss = loss_fn(*[_argument_tensor(a) for a in arrays])
    if not isinstance(loss, Tensor) or not loss.requires_grad or loss.data.size != 1:
        raise TraceMismatchError(
            "trace: on a checked call the step function no longer returned a one-element "
            "loss that requires grad; " + _MISMATCH_CAUSES
        )
    start = policies.initial_gradient(loss, None, "trace", as_tensor=False)
    book = policies.Bookkeeping([loss], [start], retain_graph=False, targets=list(parameters))
    with autograd.no_grad():  # what grad() does, without copying each gradient it returns
        found = autograd.run_backward([loss], [start], book)
    assert found is not None
    return loss.data, [None if g is None else _fingerprint(g, with_scale=True) for g in found]


def _fingerprint(g: Any, with_scale: bool = False) -> _Fingerprint:
    """A gradient as a checked call compares it. A matrix G becomes G·r (and |G|·r, the
    scale its rounding is measured against), r a fixed vector of numbers between 1 and 2:
    two matrices that differ anywhere give different products for almost every r —
    Freivalds' check of a matrix product. Then neither side ever needs a second
    weight-sized array: the eager gradient is freed before the replay runs, and the
    replay's `_Product` Gᵀ·X is multiplied as Gᵀ·(X·r), never whole."""
    if type(g) is not _Product and np.ndim(g) < 2:
        values = np.asarray(g)
        return values, np.abs(values)
    shape = g.shape
    r = np.random.default_rng(0).uniform(1, 2, int(np.prod(shape[1:])))
    if type(g) is _Product:
        r = r.astype(g.left.dtype)
        return g.left @ (g.right @ r), np.zeros(0)
    matrix = g.reshape(shape[0], -1)
    r = r.astype(matrix.dtype)
    if not with_scale:
        return matrix @ r, np.zeros(0)
    scale = np.empty(shape[0], matrix.dtype)
    for first, block in _blocks_of(matrix):  # |G|·r a block of rows at a time
        rows = slice(first, first + len(block))
        np.abs(matrix[rows], out=block)
        np.dot(block, r, out=scale[rows])
    return matrix @ r, scale


def _check(
    eager: tuple[np.ndarray, list[_Fingerprint | None]],
    loss: np.ndarray,
    grads: list[Any],
    parameters: Sequence[Tensor],
) -> None:
    """Compare the replayed loss and gradients with the eager engine's."""
    eager_loss, eager_grads = eager
    _compare("the loss", (eager_loss, np.abs(eager_loss)), loss)
    for index, (mine, theirs) in enumerate(zip(grads, eager_grads, strict=True)):
        what = f"the gradient of parameter {index} (shape {parameters[index].shape})"
        if (mine is None) != (theirs is None):
            raise TraceMismatchError(
                f"trace: the replay and the eager engine disagree on whether {what} "
                "exists; " + _MISMATCH_CAUSES
            )
        if mine is not None and theirs is not None:
            if np.shape(mine) != parameters[index].shape:
                raise TraceMismatchError(
                    f"trace: the replay gave {what} the shape {np.shape(mine)}; " + _MISMATCH_CAUSES
                )
            matrix = len(parameters[index].shape) >= 2
            _compare(what + (" times a fixed random vector" if matrix else ""), theirs, mine)


def _compare(what: str, eager: _Fingerprint, replayed: Any) -> None:
    """Refuse a replayed value (an array or a `_Product`) further from the eager one than
    rounding explains: by more than 1e-10 (float32: 1e-4) of the eager one's scale."""
    values, scales = eager
    tolerance = 1e-10 if values.dtype == np.float64 else 1e-4
    mine = _fingerprint(replayed)[0]
    same_shape = values.shape == mine.shape
    difference = float(np.max(np.abs(values - mine), initial=0.0)) if same_shape else 0.0
    scale = float(np.max(scales, initial=0.0))
    if not same_shape or not difference <= tolerance * scale:
        raise TraceMismatchError(
            f"trace: the replay and the eager engine disagree on {what}: largest "
            f"difference {difference:.3g} (scale {scale:.3g}, allowed {tolerance:g} of it); "
            + _MISMATCH_CAUSES
        )


def _as_argument(index: int, argument: Any) -> np.ndarray:
    if isinstance(argument, Tensor):
        if argument.requires_grad:
            raise TraceError(
                f"trace: argument {index} is a Tensor that requires grad; the arguments are "
                "the step's data (inputs, targets), the parameters belong to the optimizer"
            )
        return argument.data
    try:
        return np.asarray(argument)
    except ValueError as error:
        raise TraceError(f"trace: argument {index} is not an array ({error})") from None
