"""Finite differences: the independent check of every gradient the engine computes.

``numerical_gradient`` nudges one input element at a time by ±eps and measures how the
output moves — the definition of a partial derivative, with no chain rule involved:

    ∂f/∂xᵢ ≈ (f(x + eps·eᵢ) − f(x − eps·eᵢ)) / (2·eps)

(central differences: the error shrinks like eps², not eps).

``gradcheck`` compares the gradients that ``backward`` computes (analytic) with these
estimates (numeric), element by element, and raises `GradcheckError` at the first input
whose gradient is wrong. ``gradgradcheck`` does the same for second derivatives: it checks
that the backward pass recorded with ``grad(..., create_graph=True)`` is itself
differentiated correctly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygrad_edu.autograd import enable_grad, grad, no_grad
from tinygrad_edu.tensor import Tensor

MAX_JACOBIAN_ROWS = 64
"""Outputs with at most this many elements get their full Jacobian checked, one backward
pass per output element; larger outputs are checked along a few random projections."""

KINK_FACTOR = 10.0
"""One-sided differences that disagree by more than this many tolerances mark a kink."""


# --------------------------------------------------------------------------- finite differences


def _nudged_values(
    evaluate: Callable[[], np.ndarray],
    tensors: Sequence[Tensor],
    eps: float,
    value_shape: tuple[int, ...],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``evaluate()`` at x + eps·eᵢ and at x − eps·eᵢ, for every element i of every tensor.

    Returns, per tensor, the pair (above, below), each of shape ``tensor.shape +
    value_shape``. Runs under ``no_grad``; each tensor's ``.data`` is restored exactly.
    """
    results = []
    with no_grad():
        for t in tensors:
            original = t.data
            above = np.zeros(original.shape + value_shape, dtype=np.float64)
            below = np.zeros(original.shape + value_shape, dtype=np.float64)
            try:
                for index in np.ndindex(original.shape):
                    nudged = original.copy()
                    nudged[index] = original[index] + eps
                    t.data = nudged
                    above[index] = evaluate()
                    nudged[index] = original[index] - eps
                    below[index] = evaluate()
            finally:
                t.data = original
            results.append((above, below))
    return results


def _scalar_value(fn: Callable[..., Any], inputs: list[Tensor]) -> float:
    result = fn(*inputs)
    values = np.asarray(result.data if isinstance(result, Tensor) else result)
    if values.size != 1:
        raise ValueError(
            f"numerical_gradient: fn must return one number (a Tensor with one element), but "
            f"it returned shape {values.shape}; reduce it first, e.g. (fn(x) * weights).sum()"
        )
    return float(values.reshape(()))


def numerical_gradient(
    fn: Callable[..., Any], *inputs: Tensor | np.ndarray, eps: float = 1e-6
) -> list[np.ndarray]:
    """Central-difference estimate of ∂fn/∂input for each input, one array per input.

    ``fn(*inputs)`` must return a Tensor (or number) with a single element. Inputs may be
    Tensors or arrays and must be float64: in float32 a step of 1e-6 is lost in rounding.
    Each input is restored exactly afterwards.
    """
    if eps <= 0:
        raise ValueError(f"numerical_gradient: eps must be positive, got {eps}")
    tensors = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    for i, t in enumerate(tensors):
        if t.dtype != np.float64:
            raise TypeError(
                f"numerical_gradient: input {i} has dtype {t.dtype}; finite differences need "
                "float64 (in float32 a step of 1e-6 is lost in rounding)"
            )
    nudged = _nudged_values(lambda: np.asarray(_scalar_value(fn, tensors)), tensors, eps, ())
    return [(above - below) / (2 * eps) for above, below in nudged]


# --------------------------------------------------------------------------- the error


class GradcheckError(AssertionError):
    """A gradient that disagrees with finite differences.

    An ``AssertionError``: like a failed ``assert``, it says the code under test computes
    the wrong numbers (pytest reports it as a test failure). Its attributes locate the
    mismatch: ``input_index`` (position among fn's arguments), ``input_name`` (the Tensor's
    ``name`` or None), ``element_index`` (the element of that input), ``analytic`` (what
    backward computed), ``numeric`` (central differences), ``difference`` (analytic −
    numeric), ``tolerance`` (atol + rtol·|numeric|), ``output_index`` (the output element,
    i.e. the row of the Jacobian, in full-Jacobian mode, else None), ``projection`` (which
    random cotangent, in projection mode, else None), the one-sided differences
    ``forward_difference`` = (f(x+eps) − f(x))/eps and ``backward_difference`` =
    (f(x) − f(x−eps))/eps, and ``kink`` (they disagree: f may not be differentiable there).
    """

    def __init__(
        self,
        message: str,
        *,
        input_index: int,
        input_name: str | None,
        element_index: tuple[int, ...],
        analytic: float,
        numeric: float,
        tolerance: float,
        output_index: tuple[int, ...] | None,
        projection: int | None,
        forward_difference: float,
        backward_difference: float,
        kink: bool,
    ) -> None:
        super().__init__(message)
        self.input_index = input_index
        self.input_name = input_name
        self.element_index = element_index
        self.analytic = analytic
        self.numeric = numeric
        self.difference = analytic - numeric
        self.tolerance = tolerance
        self.output_index = output_index
        self.projection = projection
        self.forward_difference = forward_difference
        self.backward_difference = backward_difference
        self.kink = kink


@dataclass(frozen=True)
class _Wording:
    caller: str
    quantity: str  # what is being checked, e.g. "the gradient"
    analytic: str  # where the analytic value comes from
    numeric: str  # where the numeric value comes from
    subject: str  # the function whose derivative is checked
    no_graph: str  # why its derivative can come out as 0


_FIRST = _Wording(
    caller="gradcheck",
    quantity="the gradient",
    analytic="backward",
    numeric="central differences of fn",
    subject="fn",
    no_graph="fn's output has no graph (it does not require grad), so every analytic "
    "derivative is 0: was it computed under no_grad(), or from .data or .detach()?",
)
_SECOND = _Wording(
    caller="gradgradcheck",
    quantity="the second derivative (Hessian-vector product ∂/∂x Σ(∂L/∂x · v))",
    analytic="backward of the recorded backward, create_graph=True",
    numeric="central differences of the first derivative",
    subject="the first derivative",
    no_graph="the first derivative has no graph (its recorded backward used constants "
    "only), so every analytic second derivative is 0: does a backward use an array that "
    "forward derived from the inputs and saved? Only saved inputs and outputs are "
    "differentiated through; compute the rest in backward from them.",
)


# --------------------------------------------------------------------------- gradcheck


def gradcheck(
    fn: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    max_jacobian_rows: int = MAX_JACOBIAN_ROWS,
    projections: int = 3,
    seed: int = 0,
) -> bool:
    """Check the gradients of ``fn(*inputs)`` against central finite differences.

    Every input Tensor with ``requires_grad=True`` is checked, every element of it (two
    calls of fn per element); other arguments (arrays, Tensors without grad, options) are
    passed through as constants. Checked inputs must be float64. fn must return a Tensor.

    An output y with at most ``max_jacobian_rows`` elements gets its whole Jacobian
    checked: for each output element k, one backward with the one-hot cotangent eₖ gives
    row k, ∂yₖ/∂x, compared with (yₖ(x + eps·eᵢ) − yₖ(x − eps·eᵢ)) / (2·eps). A larger
    output is checked along ``projections`` random cotangents v (seeded with ``seed``):
    the gradient of the scalar L = Σ y·v against the central differences of L.

    An entry passes when |analytic − numeric| ≤ atol + rtol·|numeric|. Returns True, or
    raises `GradcheckError` naming the first input that fails, its worst element, both
    values and their difference. When the one-sided differences (f(x+eps) − f(x))/eps and
    (f(x) − f(x−eps))/eps disagree there, the message adds that fn may not be
    differentiable at that point (relu at 0, a tie in max).

    The inputs are left untouched: fn is called with leaf copies of the checked tensors.
    """
    args, checked = _prepare("gradcheck", fn, inputs, eps, atol, rtol)
    if max_jacobian_rows < 1 or projections < 1:
        raise ValueError(
            f"gradcheck: max_jacobian_rows and projections must be at least 1, got "
            f"{max_jacobian_rows} and {projections}"
        )
    return _check(_FIRST, fn, args, checked, eps, atol, rtol, max_jacobian_rows, projections, seed)


def gradgradcheck(
    fn: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check the second derivatives of ``fn(*inputs)``: that the backward pass recorded
    with ``grad(..., create_graph=True)`` is itself differentiated correctly.

    With L = Σ fn(x)·u (L = fn(x) when fn returns one element) and random directions vᵢ,
    one per checked input (u and v seeded with ``seed``), it runs `gradcheck` on the
    first derivative

        x ↦ Σᵢ Σ (∂L/∂xᵢ · vᵢ)

    whose gradient is the Hessian-vector product H·v. A first derivative with no graph
    (fn linear in x) has second derivative 0, and finite differences must agree.
    Run `gradcheck` first: this checks how the gradient is differentiated, not the
    gradient itself. Returns True or raises `GradcheckError` as `gradcheck` does.
    """
    args, checked = _prepare("gradgradcheck", fn, inputs, eps, atol, rtol)
    rng = np.random.default_rng(seed)
    output_shape = _output("gradgradcheck", fn, args).shape
    cotangent = None if np.prod(output_shape) == 1 else rng.standard_normal(output_shape)
    directions = [rng.standard_normal(args[i].shape) for i in checked]

    def first_derivative(*arguments: Any) -> Tensor:
        with enable_grad():  # finite differences evaluate under no_grad
            output = _output("gradgradcheck", fn, arguments)
            loss = output.sum() if cotangent is None else (output * cotangent).sum()
            total = Tensor(0.0)
            if not loss.requires_grad:
                return total
            try:
                firsts = grad(
                    loss, [arguments[i] for i in checked], create_graph=True, allow_unused=True
                )
            except TypeError as error:
                explained = backward_on_tensors_error("gradgradcheck", error)
                if explained is None:
                    raise
                raise explained from error
            for first, direction in zip(firsts, directions, strict=True):
                if first is not None:
                    total = total + (first * direction).sum()
            return total

    return _check(_SECOND, first_derivative, args, checked, eps, atol, rtol, 1, 1, seed)


BACKWARD_ON_TENSORS_HOWTO = (
    "Under create_graph=True (gradgradcheck differentiates the gradient this way) a backward "
    "runs on Tensors, not numpy arrays, so that its own operations are recorded; numpy "
    "functions such as np.exp refuse Tensors. Write the backward with what arrays and "
    "Tensors share: the operators + - * / ** @, .T, .sum(axis, keepdims), .reshape(...); "
    "reuse the forward's output where it helps (save it with ctx.save_for_backward: the "
    "built-in Exp's backward is g * y, Sigmoid's g * y * (1 - y)); and where a function is "
    "needed, pick it by type, as the built-ins do: np.exp(x) if isinstance(x, np.ndarray) "
    "else x.exp() (Tensors have .exp(), .log(), .sigmoid(), .tanh(), .relu()). "
    "See docs/gradcheck.md, 'A backward that also runs on Tensors'."
)
"""How to write a backward that works on arrays and, under create_graph, on Tensors."""


def backward_on_tensors_error(caller: str, error: TypeError) -> TypeError | None:
    """A TypeError that says why a backward failed on Tensors and how to write it, or None
    when ``error`` is not numpy refusing a Tensor (then it is re-raised as it is)."""
    message = str(error)
    if "Tensor" not in message or "ufunc" not in message:
        return None
    function = "a Function"
    traceback = error.__traceback__
    while traceback is not None:  # the innermost backward(ctx, ...) that was running
        frame = traceback.tb_frame
        node: Any = frame.f_locals.get("ctx")
        if frame.f_code.co_name == "backward" and hasattr(node, "function"):
            function = node.function.__name__
        traceback = traceback.tb_next
    return TypeError(
        f"{caller}: {function}.backward failed on Tensors: numpy said {message!r}. "
        + BACKWARD_ON_TENSORS_HOWTO
    )


# --------------------------------------------------------------------------- the work


def _prepare(
    caller: str,
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float,
    atol: float,
    rtol: float,
) -> tuple[list[Any], list[int]]:
    """Check the arguments; return fn's arguments, each checked input replaced by a leaf
    copy (so the caller's tensors keep their data and .grad), and the checked positions."""
    if not callable(fn):
        raise TypeError(f"{caller}: fn must be callable, got {type(fn).__name__}")
    if eps <= 0 or atol < 0 or rtol < 0:
        raise ValueError(
            f"{caller}: eps must be positive and atol, rtol not negative; got eps={eps}, "
            f"atol={atol}, rtol={rtol}"
        )
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(
            f"{caller}: no input requires grad, so there is nothing to check; pass the "
            "tensors to differentiate with requires_grad=True"
        )
    args = list(inputs)
    for i in checked:
        t = inputs[i]
        if t.dtype != np.float64:
            raise TypeError(
                f"{caller}: input {i}{_name_suffix(t)} has dtype {t.dtype}; finite differences "
                "need float64 (in float32 a step of 1e-6 is lost in rounding): make it with "
                "dtype=np.float64"
            )
        args[i] = Tensor(t.data, requires_grad=True, name=t.name)
    if sum(args[i].size for i in checked) == 0:
        raise ValueError(f"{caller}: the inputs that require grad have no elements to check")
    return args, checked


def _output(caller: str, fn: Callable[..., Any], args: Sequence[Any]) -> Tensor:
    result = fn(*args)
    if not isinstance(result, Tensor):
        shown = repr(result)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise TypeError(
            f"{caller}: fn must return a Tensor, but it returned {type(result).__name__} "
            f"{shown}; return the Tensor itself (not .data, .item() or a number)"
        )
    if result.dtype != np.float64:
        raise TypeError(
            f"{caller}: fn returned a Tensor of dtype {result.dtype}; finite differences "
            "need a float64 output"
        )
    if result.size == 0:
        raise ValueError(f"{caller}: fn returned an empty Tensor of shape {result.shape}")
    return result


def _check(
    wording: _Wording,
    fn: Callable[..., Any],
    args: list[Any],
    checked: list[int],
    eps: float,
    atol: float,
    rtol: float,
    max_jacobian_rows: int,
    projections: int,
    seed: int,
) -> bool:
    """Compare the analytic and numeric derivatives of fn's output along cotangents.

    Each cotangent c (a one-hot eₖ per output element, or a random v) gives one scalar
    Σ y·c; its analytic gradient is one backward, its numeric one central differences.
    """
    tensors = [args[i] for i in checked]
    with enable_grad():
        output = _output(wording.caller, fn, args)
    if output.size <= max_jacobian_rows:
        cotangents = np.eye(output.size).reshape((output.size, *output.shape))  # one-hot eₖ
        is_jacobian = True
    else:
        rng = np.random.default_rng(seed)
        cotangents = rng.standard_normal((projections, *output.shape))
        is_jacobian = False
    flat_cotangents = cotangents.reshape(len(cotangents), -1)

    def projected(result: Tensor) -> np.ndarray:
        if result.shape != output.shape:
            raise ValueError(
                f"{wording.caller}: fn returned shape {result.shape} for nudged inputs, but "
                f"{output.shape} at the inputs themselves"
            )
        return flat_cotangents @ result.data.reshape(-1)

    centre = projected(output)
    # analytic[p][..., r]: the gradient of Σ y·cotangents[r] with respect to checked input p
    rows = [_analytic_gradients(output, tensors, np.asarray(c)) for c in cotangents]
    analytic = [np.stack([row[p] for row in rows], axis=-1) for p in range(len(tensors))]
    nudged = _nudged_values(
        lambda: projected(_output(wording.caller, fn, args)), tensors, eps, (len(cotangents),)
    )

    mismatches = []
    for p, (above, below) in enumerate(nudged):
        numeric = (above - below) / (2 * eps)
        tolerance = atol + rtol * np.abs(numeric)
        error = np.abs(analytic[p] - numeric)
        wrong = ~(error <= tolerance)  # NaN counts as wrong
        if wrong.any():
            excess = np.nan_to_num(np.where(wrong, error - tolerance, 0.0), nan=np.inf)
            mismatches.append((p, numeric, tolerance, excess, int(np.count_nonzero(wrong))))
    if not mismatches:
        return True

    p, numeric, tolerance, excess, _ = mismatches[0]  # the first input; its worst entry
    where = np.unravel_index(int(np.argmax(excess)), excess.shape)
    element, row = tuple(int(i) for i in where[:-1]), int(where[-1])
    above, below = nudged[p]
    forward = float((above[where] - centre[row]) / eps)
    backward = float((centre[row] - below[where]) / eps)
    gap = abs(forward - backward)
    kink = bool(np.isfinite(gap)) and gap > KINK_FACTOR * float(tolerance[where])
    count = sum(m[4] for m in mismatches)
    position = checked[p]
    t = args[position]
    output_index = (
        tuple(int(i) for i in np.unravel_index(row, output.shape)) if is_jacobian else None
    )
    raise GradcheckError(
        _message(
            wording,
            position=position,
            tensor=t,
            element=element,
            analytic=float(analytic[p][where]),
            numeric=float(numeric[where]),
            tolerance=float(tolerance[where]),
            along=_along(output, output_index, row),
            others=count - 1,
            one_sided=(forward, backward) if kink else None,
            eps=eps,
            has_graph=output.requires_grad,
        ),
        input_index=position,
        input_name=t.name,
        element_index=element,
        analytic=float(analytic[p][where]),
        numeric=float(numeric[where]),
        tolerance=float(tolerance[where]),
        output_index=output_index,
        projection=None if is_jacobian else row,
        forward_difference=forward,
        backward_difference=backward,
        kink=kink,
    )


def _analytic_gradients(
    output: Tensor, tensors: list[Tensor], cotangent: np.ndarray
) -> list[np.ndarray]:
    """∂(Σ output·cotangent)/∂t for each tensor; zeros where the output does not depend on t."""
    if not output.requires_grad:  # no graph: fn's output is constant in every input
        return [np.zeros(t.shape) for t in tensors]
    gradients = grad(output, tensors, cotangent, retain_graph=True, allow_unused=True)
    return [
        np.zeros(t.shape) if g is None else np.asarray(g.data, dtype=np.float64)
        for g, t in zip(gradients, tensors, strict=True)
    ]


def _along(output: Tensor, output_index: tuple[int, ...] | None, row: int) -> str:
    if output.size == 1:
        return ""
    if output_index is not None:
        return f" of output element {output_index} (row {row} of the Jacobian)"
    return (
        f" of Σ output·v for random cotangent v number {row} (the output has "
        f"{output.size} elements, too many to check the Jacobian row by row)"
    )


def _message(
    wording: _Wording,
    *,
    position: int,
    tensor: Tensor,
    element: tuple[int, ...],
    analytic: float,
    numeric: float,
    tolerance: float,
    along: str,
    others: int,
    one_sided: tuple[float, float] | None,
    eps: float,
    has_graph: bool,
) -> str:
    lines = [
        f"{wording.caller}: {wording.quantity}{along} with respect to input {position}"
        f"{_name_suffix(tensor)} (shape {tensor.shape}) is wrong at element {element}:",
        f"  analytic ({wording.analytic}): {analytic:.10g}",
        f"  numeric  ({wording.numeric}, eps={eps:g}): {numeric:.10g}",
        f"  difference (analytic − numeric): {analytic - numeric:.3g}, tolerance "
        f"atol + rtol·|numeric| = {tolerance:.3g}",
    ]
    if others:
        lines.append(f"  ({others} other entries differ too; this one differs the most)")
    if one_sided is not None:
        forward, backward = one_sided
        lines.append(
            f"  Hint: {wording.subject} may not be differentiable at this point: the one-sided "
            f"differences disagree, forward (f(x+eps) − f(x))/eps = {forward:.6g} but backward "
            f"(f(x) − f(x−eps))/eps = {backward:.6g} (a kink such as relu at 0 or a tie in "
            "max). Check at inputs away from it."
        )
    if not has_graph:
        lines.append(f"  Note: {wording.no_graph}")
    return "\n".join(lines)


def _name_suffix(t: Tensor) -> str:
    """The " ('W_ih')" after a named tensor in a message; "" for an unnamed one."""
    return f" ({t.name!r})" if t.name else ""
