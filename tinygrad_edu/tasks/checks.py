"""The checks of each task, in order: fixed inputs first (the book's numbers, where the
texts have some), then finite differences through the engine, then random inputs.

Every expected value comes from a source independent of the learner's code: a closed form
(`tinygrad_edu.textbook`, or a derivative written out by hand below), central differences
(`tinygrad_edu.gradcheck.numerical_gradient`, which differentiates nothing), or the
engine's own backward pass. Each check lists the typical mistakes it can recognise
(`grading.Mistake`): the value the mistake would give on the same input, and its hint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tinygrad_edu import proofs, textbook
from tinygrad_edu.autograd import Node, consumer_counts, grad
from tinygrad_edu.functions import MatMul, Sigmoid, SquaredError
from tinygrad_edu.gradcheck import numerical_gradient
from tinygrad_edu.tasks.grading import (
    Context,
    HypothesisMissingError,
    Mistake,
    as_gradient,
    call,
    compare,
    describe,
    holds_for_random_inputs,
)
from tinygrad_edu.tasks.learner import (
    BROADCAST_HINT,
    ChainRule,
    LearnerFunctions,
    learner_sum_back,
    matmul_gradients,
    run_loop,
)
from tinygrad_edu.tensor import Tensor

DEFAULT_EXAMPLES = 20
"""Random inputs per property (Hypothesis's ``max_examples``): few, so a check is quick."""

FINITE_DIFFERENCES = "finite differences: the change of L when an input is nudged by ±1e-6"
FD_RTOL, FD_ATOL = 1e-4, 1e-6  # central differences are good to about 1e-9 here


def frozen(values: Any) -> np.ndarray:
    """A read-only float64 copy: what the learner's code is given, as in the engine."""
    array = np.array(values, dtype=np.float64)
    array.flags.writeable = False
    return array


# --------------------------------------------------------------------------- task 1

SIGMOID_GENERIC = (
    "∂L/∂x = grad · y(1 − y), element by element (*, not @), where y = σ(x) is the "
    "sigmoid's output and grad = ∂L/∂y arrives from above"
)


def sigmoid_mistakes(y: np.ndarray, g: np.ndarray) -> list[Mistake]:
    s = 1 / (1 + np.exp(-y))
    return [
        Mistake(
            y * (1 - y),
            "your sigmoid backward returns σ(1−σ) without multiplying by the gradient "
            "arriving from above: ∂L/∂x = grad · y(1 − y), where grad = ∂L/∂y is what the "
            "operations above send back (at the book's output nodes −(tₖ − oₖ), the factor "
            "before σ(1−σ) in its ∂E/∂wⱼₖ)",
        ),
        Mistake(
            g * s * (1 - s),
            "you applied σ to y, but y is already σ(x), the sigmoid's output: its slope "
            "σ(x)(1 − σ(x)) is y(1 − y)",
        ),
        Mistake(
            -g * y * (1 - y),
            "the sign is flipped: σ rises everywhere, its slope y(1 − y) is positive, so "
            "∂L/∂x = grad · y(1 − y) has the sign of grad",
        ),
        Mistake(g * y, "the factor (1 − y) is missing: the slope of σ is y(1 − y)"),
    ]


ELEMENTWISE_RAISED = (
    "this backward works element by element: multiply with *, not @ (its arrays all have "
    "the same shape, or numpy broadcasts them)"
)


def task_1(context: Context, examples: int) -> None:
    context.extra_hints["sigmoid_backward"] = ELEMENTWISE_RAISED
    x = np.array([[2.3], [-0.5], [0.0]])  # 2.3: the worked example's Σ wⱼₖ·oⱼ
    g = np.array([[0.8], [-0.3], [1.5]])
    sigmoid_closed_form(context, x, g, "\n(y = σ(x) at x = 2.3, −0.5, 0)", " of the book")

    ops = LearnerFunctions(context)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, (2, 3))
    weights = rng.normal(0, 1, (2, 3))  # so that ∂L/∂y = weights is not all ones
    found = _engine_gradients(lambda t: (ops.Sigmoid.apply(t) * weights).sum(), x)
    expected = numerical_gradient(lambda t: (Sigmoid.apply(t) * weights).sum(), x)[0]
    y = textbook.sigmoid(x)
    context.inputs = f"L = Σ(w ∗ σ(x)), so the arriving grad = w\n{describe(x=x, w=weights)}"
    compare(
        context,
        FINITE_DIFFERENCES,
        "∂L/∂x",
        expected,
        found[0],
        SIGMOID_GENERIC,
        sigmoid_mistakes(y, weights),
        rtol=FD_RTOL,
        atol=FD_ATOL,
    )

    def random_input(example: tuple[np.ndarray, np.ndarray]) -> None:
        sigmoid_closed_form(context, *example)

    _on_random_inputs(context, _same_shape_pairs, random_input, examples)


def sigmoid_closed_form(
    context: Context, x: np.ndarray, g: np.ndarray, note: str = "", source: str = ""
) -> None:
    """The learner's sigmoid_backward at y = σ(x) against grad · σ(x)(1 − σ(x))."""
    y = textbook.sigmoid(x)
    context.inputs = describe(y=y, grad=g) + note
    got = sigmoid_backward(context, y, g)
    compare(
        context,
        f"the closed form{source}, ∂L/∂x = grad · σ(x)(1 − σ(x))",
        "∂L/∂x",
        g * textbook.sigmoid_derivative(x),
        got,
        SIGMOID_GENERIC,
        sigmoid_mistakes(y, g),
    )


def sigmoid_backward(context: Context, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    got = call(context, "sigmoid_backward", frozen(y), frozen(g))
    return as_gradient(context, "sigmoid_backward", got, y.shape, "∂L/∂x")


# --------------------------------------------------------------------------- task 2

SQUARED_ERROR_GENERIC = (
    "E = Σ(t − o)², so ∂E/∂o = −2(t − o) element by element, and ∂L/∂o = grad · ∂E/∂o"
)
FACTOR_2_HINT = (
    "the factor 2 of the square is lost: E = Σ(t − o)² gives ∂E/∂o = −2(t − o). The book "
    "writes this 2 and then drops it, so its formulas are the gradients of ½Σ(t − o)²; the "
    "E here has no ½, so the 2 stays"
)


def squared_error_mistakes(o: np.ndarray, t: np.ndarray, g: float) -> list[Mistake]:
    e = t - o
    return [
        Mistake(-g * e, FACTOR_2_HINT),
        Mistake(
            2 * g * e,
            "the sign is flipped: ∂E/∂o = −2(t − o), the minus from the inner derivative "
            "∂(t − o)/∂o = −1 (the python-course.eu chapter drops it too: erratum E5)",
        ),
        Mistake(g * e, "the factor 2 is lost and the sign flipped: ∂E/∂o = −2(t − o)"),
        Mistake(
            -2 * e,
            "the gradient arriving from above is dropped: ∂L/∂o = grad · (−2(t − o)), and "
            f"grad = ∂L/∂E is {g:g} here",
        ),
    ]


def task_2(context: Context, examples: int) -> None:
    context.extra_hints["squared_error_backward"] = ELEMENTWISE_RAISED
    o = textbook.sigmoid(np.array([[2.3], [-0.5], [0.0]]))  # outputs of the book's network
    t = np.array([[0.01], [0.99], [0.01]])  # the book's targets
    for g, check in (
        (1.0, "the book's ∂E/∂oₖ = −2(tₖ − oₖ), for L = E"),
        (0.5, "the book's −(tₖ − oₖ) = −eₖ, for L = ½E (the ½ cancels the 2)"),
    ):
        context.inputs = describe(o=o, t=t, grad=g)
        got = squared_error_backward(context, o, t, g)
        compare(
            context,
            check,
            "∂L/∂o",
            -2 * g * (t - o),
            got,
            SQUARED_ERROR_GENERIC,
            squared_error_mistakes(o, t, g),
        )

    ops = LearnerFunctions(context)
    rng = np.random.default_rng(2)
    o = rng.uniform(0, 1, (3, 2))
    t = np.array([0.01, 0.99])  # one target row, broadcast to every row of o
    scale = 1.5
    found = _engine_gradients(lambda v: scale * ops.SquaredError.apply(v, Tensor(t)), o)
    expected = numerical_gradient(lambda v: scale * SquaredError.apply(v, Tensor(t)), o)[0]
    context.inputs = f"L = {scale} · Σ(t − o)², so the arriving grad = {scale}\n" + describe(
        o=o, t=t
    )
    compare(
        context,
        FINITE_DIFFERENCES,
        "∂L/∂o",
        expected,
        found[0],
        SQUARED_ERROR_GENERIC,
        squared_error_mistakes(o, np.broadcast_to(t, o.shape), scale),
        rtol=FD_RTOL,
        atol=FD_ATOL,
    )

    def random_input(example: tuple[np.ndarray, np.ndarray, float]) -> None:
        o, t, g = example
        context.inputs = describe(o=o, t=t, grad=g)
        got = squared_error_backward(context, o, t, g)
        compare(
            context,
            "the closed form, ∂L/∂o = grad · (−2(t − o))",
            "∂L/∂o",
            -2 * g * (t - o),
            got,
            SQUARED_ERROR_GENERIC,
            squared_error_mistakes(o, np.broadcast_to(t, o.shape), g),
        )

    _on_random_inputs(context, _outputs_targets_and_scales, random_input, examples)


def squared_error_backward(context: Context, o: np.ndarray, t: np.ndarray, g: float) -> np.ndarray:
    got = call(context, "squared_error_backward", frozen(o), frozen(t), frozen(g))
    return as_gradient(context, "squared_error_backward", got, o.shape, "∂L/∂o")


# --------------------------------------------------------------------------- task 3

UNBROADCAST_GENERIC = (
    "each copy that broadcasting made receives a gradient, and the operand's gradient is "
    "their sum: sum over the added leading axes and over the axes where shape has a 1"
)
MATMUL_GENERIC = "∂L/∂A = G · Bᵀ and ∂L/∂B = Aᵀ · G, each summed back to its operand's shape"
MATMUL_RAISED = (
    "∂L/∂A = G · Bᵀ has A's shape and ∂L/∂B = Aᵀ · G has B's shape; a product whose shapes "
    "do not fit is usually a missing transpose (x.mT)"
)
TRANSPOSE_HINT = (
    "a transpose is missing: the book's error_hidden = Wₕₒᵀ · error_output sends the error "
    "back through the transpose of the weights, so ∂L/∂B = Aᵀ · G (and ∂L/∂A = G · Bᵀ); "
    "you multiplied by the matrix itself"
)


def unbroadcast_mistakes(g: np.ndarray, shape: tuple[int, ...]) -> list[Mistake]:
    added = g.ndim - len(shape)
    leading = g.sum(axis=tuple(range(added)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and leading.shape[i] != 1)
    copies = g.size // max(int(np.prod(shape)), 1)
    return [
        Mistake(g, BROADCAST_HINT),
        Mistake(
            leading,
            "the added leading axes are summed, but not the axes where shape has a 1: sum "
            "over those too, keeping them with length 1 (keepdims=True)",
        ),
        Mistake(
            leading.sum(axis=stretched),
            "the right axes are summed but dropped: keep the axes where shape has a 1, with "
            "length 1 (keepdims=True), so that the result has exactly that shape",
        ),
        Mistake(
            _reference_sum(g, shape) / max(copies, 1),
            "you averaged the copies' gradients: each copy of the operand adds its own "
            "gradient, so sum them, do not take the mean",
        ),
    ]


def _reference_sum(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """∂/∂x Σ(g ∗ broadcast(x)), by central differences (it is linear: exact up to rounding)."""

    def spread(x: Tensor) -> Tensor:
        return (x * Tensor(g)).sum()

    return numerical_gradient(spread, np.zeros(shape))[0]


def unbroadcast_check(context: Context, g: np.ndarray, shape: tuple[int, ...], check: str) -> None:
    context.inputs = f"{describe(grad=g)}, shape = {shape}"
    got = call(context, "unbroadcast", frozen(g), shape)
    mistakes = unbroadcast_mistakes(g, shape)
    expected = _reference_sum(g, shape)
    got = as_gradient(context, "unbroadcast", got, shape, "its result", mistakes, expected)
    compare(context, check, "the sum", expected, got, UNBROADCAST_GENERIC, mistakes)


def matmul_mistakes(a: np.ndarray, b: np.ndarray, g: np.ndarray, side: int) -> list[Mistake]:
    """G · B for ∂L/∂A (side 0), A · G for ∂L/∂B (side 1): the transpose left out, where
    the shapes allow the product at all."""
    left, right = (g, b) if side == 0 else (a, g)
    if left.shape[-1] != right.shape[-2]:
        return []
    return [Mistake(left @ right, TRANSPOSE_HINT)]


def matmul_check(
    context: Context,
    a: np.ndarray,
    b: np.ndarray,
    g: np.ndarray,
    expected: Sequence[np.ndarray],
    check: str,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    got: Sequence[np.ndarray] | None = None,
) -> None:
    """Compare the learner's ∂L/∂A and ∂L/∂B (their matmul_backward on ``a``, ``b``, ``g``,
    or ``got`` when found another way) with ``expected``."""
    if got is None:
        got = matmul_gradients(context, frozen(a), frozen(b), frozen(g))
    for side, name in ((0, "∂L/∂A"), (1, "∂L/∂B")):
        compare(
            context,
            check,
            name,
            expected[side],
            got[side],
            MATMUL_GENERIC,
            matmul_mistakes(a, b, g, side),
            rtol=rtol,
            atol=atol,
        )


def task_3(context: Context, examples: int) -> None:
    context.extra_hints["matmul_backward"] = MATMUL_RAISED
    context.extra_hints["unbroadcast"] = UNBROADCAST_GENERIC
    rng = np.random.default_rng(3)
    for g, shape in (
        (rng.normal(size=(2, 3)), (3,)),  # a bias of 3 added to both rows of a (2, 3) matrix
        (rng.normal(size=(2, 3, 4)), (3, 1)),
        (rng.normal(size=(3, 4)), (3, 4)),
    ):
        unbroadcast_check(context, g, shape, "the sum over the copies (finite differences)")

    w_ih = np.random.default_rng(0).normal(0, 3**-0.5, (3, 3))
    w_ho = np.random.default_rng(1).normal(0, 3**-0.5, (3, 3))
    x = np.array([[0.9], [0.1], [0.8]])
    t = np.array([[0.01], [0.99], [0.01]])
    hidden, o = textbook.forward(w_ih, w_ho, x)
    g = -(t - o) * o * (1 - o)  # ∂(½E)/∂final_inputs, arriving at Wₕₒ · Oⱼ
    context.inputs = (
        "the book's 3-3-3 network: final_inputs = Wₕₒ · Oⱼ, grad = −e ∗ o(1 − o)\n"
        + describe(W_ho=w_ho, O_j=hidden, grad=g)
    )
    matmul_check(
        context,
        w_ho,
        hidden,
        g,
        (textbook.output_weight_gradient(t, o, hidden), textbook.hidden_errors(w_ho, g)),
        "the book's ∂E/∂wⱼₖ = −eₖ·oₖ(1 − oₖ)·oⱼ, and its transpose rule: Wₕₒᵀ · (the "
        "error that arrives)",
    )

    ops = LearnerFunctions(context)
    for a_shape, b_shape, what in (
        ((2, 3), (3, 4), ""),
        ((2, 3, 3), (3, 2), ", B shared by a stack of 2 matrices A"),
    ):
        a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
        weights = rng.normal(size=(a @ b).shape)
        found = _engine_gradients(lambda p, q, w=weights: (ops.MatMul.apply(p, q) * w).sum(), a, b)
        expected = numerical_gradient(lambda p, q, w=weights: (MatMul.apply(p, q) * w).sum(), a, b)
        context.inputs = f"L = Σ(w ∗ (A · B)), so the arriving grad = w{what}\n" + describe(
            A=a, B=b, w=weights
        )
        matmul_check(
            context, a, b, weights, expected, FINITE_DIFFERENCES, FD_RTOL, FD_ATOL, got=found
        )

    def random_sum(example: tuple[np.ndarray, tuple[int, ...]]) -> None:
        unbroadcast_check(context, *example, "the sum over the copies (finite differences)")

    _on_random_inputs(context, _gradients_and_shapes, random_sum, examples)

    def random_product(example: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        a, b, g = example
        expected = numerical_gradient(
            lambda p, q: (MatMul.apply(p, q) * g).sum(), a.copy(), b.copy()
        )
        context.inputs = describe(a=a, b=b, grad=g)
        matmul_check(context, a, b, g, (expected[0], expected[1]), FINITE_DIFFERENCES, 1e-4, 1e-6)

    _on_random_inputs(context, _stacked_products, random_product, examples)


# --------------------------------------------------------------------------- task 4

LOOP_GENERIC = (
    "run each node once, after all of its consumers, with the sum of what they sent; a "
    "leaf's gradient is the sum of what every node that uses it sends"
)


def overwritten_hint(name: str, count: int) -> str:
    return (
        f"a gradient was overwritten instead of added where paths meet: {name} is used "
        f"{count} times, so {count} gradients arrive for it, and ∂L/∂{name} is their sum. "
        "Your loop kept one of them; add each arriving gradient to what is already there "
        "(as a hidden node of the book collects the errors of all the output nodes it feeds)"
    )


def task_4(context: Context, examples: int) -> None:
    x = Tensor(3.0, requires_grad=True, name="x")
    z = x * x + x
    loop_check(
        context,
        z,
        [(x, np.array(7.0))],
        "L = x·x + x at x = 3, whose dL/dx = 2x + 1 = 7 (by hand)",
        "fan-out: one value used three times",
    )

    for order in ("a ∗ b", "b ∗ a"):
        x_values = np.array([0.5, -1.0])
        x = Tensor(x_values, requires_grad=True, name="x")
        a = x.sigmoid()
        a.name = "a"
        b = a.sigmoid()
        b.name = "b"
        loss = (a * b if order == "a ∗ b" else b * a).sum()
        av = textbook.sigmoid(x_values)
        bv = textbook.sigmoid(av)
        by_hand = (bv + av * bv * (1 - bv)) * av * (1 - av)  # (∂L/∂a, both paths) · σ'(x)
        loop_check(
            context,
            loss,
            [(x, by_hand)],
            f"a = σ(x), b = σ(a), L = Σ({order}) at x = [0.5, −1.0]\n"
            "(a reaches L directly and through b: ∂L/∂a = b + a·b(1 − b), by hand)",
            "two paths of different lengths",
        )

    loss, weights = proofs.worked_example_network(half=True)
    example = textbook.worked_example()
    mirrored = textbook.worked_example(w11=3.0, w21=2.0, hidden_outputs=(0.5, 0.4))
    loop_check(
        context,
        loss,
        [(weights, np.array([[example.gradient, mirrored.gradient]]))],
        "the book's worked example: L = ½(t − σ(w₁₁·0.4 + w₂₁·0.5))², w₁₁ = 2.0, w₂₁ = 3.0, "
        "e₁ = 0.8",
        "the worked example's ∂E/∂w₁₁ = −0.0265",
    )

    loss = proofs.book_network_loss(0)
    named = proofs.tensors_by_name(loss)
    alpha = 0.3
    args = (named["W_ih"].data, named["W_ho"].data, named["inputs"].data, named["targets"].data)
    delta_ih, delta_ho = textbook.exact_weight_updates(*args, alpha)
    loop_check(
        context,
        loss,
        [(named["W_ih"], -delta_ih / alpha), (named["W_ho"], -delta_ho / alpha)],
        "the book's 3-3-3 network (seed 0), L = ½Σ(t − o)²",
        "the book's ΔW = α · E·O(1 − O) · Oⱼᵀ, as −α · ∂L/∂W",
    )

    def random_program(program: Any) -> None:
        leaves = program.tensors()
        loss = program.run(*leaves)
        if loss.grad_fn is None:
            return
        wanted = [t for t in leaves if t.requires_grad]
        found = grad(loss, wanted, retain_graph=True, allow_unused=True)
        expected = [(t, None if g is None else g.data) for t, g in zip(wanted, found, strict=True)]
        loop_check(
            context, loss, expected, f"a random program:\n{program!r}", "the engine's backward()"
        )

    _on_random_inputs(context, _programs, random_program, examples)


def loop_check(
    context: Context,
    loss: Tensor,
    expected: list[tuple[Tensor, np.ndarray | None]],
    graph: str,
    check: str,
) -> None:
    """Run the learner's loop on ``loss``'s graph, then read what it did: the order in which
    it ran the nodes, what it handed each one, and what it returned for each leaf."""
    context.inputs = graph
    counts = consumer_counts([loss])
    complete = _complete_gradients(loss, list(counts))
    chain_rule = ChainRule(context)
    found = run_loop(context, loss, chain_rule)

    _check_order(context, check, chain_rule, counts, complete)
    sent_to: dict[int, list[np.ndarray]] = {}  # id(tensor) -> what each use sent it
    for done in chain_rule.calls:
        for t, parent, g in zip(done.node.inputs, done.node.parents, done.sent, strict=True):
            if g is not None:
                sent_to.setdefault(id(t) if parent is None else id(parent), []).append(g)
    for done in chain_rule.calls:
        node = done.node
        if node not in complete:
            continue  # not a node of this graph
        name = _value_name(node)
        what = f"{check}: the gradient your loop handed {_node_text(node)}"
        _compare_sum(context, what, name, complete[node], done.grad, sent_to.get(id(node), []))
    for leaf, value in expected:
        got = found.get(id(leaf))
        if value is None:  # no path leads from the loss to this leaf
            continue
        name = leaf.name or "the leaf"
        if got is None:
            missing = [_node_text(node) for node in counts if node not in _ran(chain_rule)]
            raise context.fail(
                f"{check}: your backward_loop returned no gradient for {name}",
                "every leaf that a gradient reaches belongs in the dict"
                + (f"; these nodes never ran: {', '.join(missing)}" if missing else ""),
            )
        _compare_sum(context, check, name, value, got, sent_to.get(id(leaf), []))


def _compare_sum(
    context: Context, check: str, name: str, expected: Any, got: Any, arrived: list[Any]
) -> None:
    """A gradient that is the sum of what ``arrived``: if it equals one of them, the loop
    overwrote where it should have added."""
    compare(
        context,
        check,
        f"∂L/∂{name}",
        expected,
        got,
        LOOP_GENERIC,
        [Mistake(g, overwritten_hint(name, len(arrived))) for g in arrived]
        if len(arrived) > 1
        else [],
        rtol=1e-7,
        atol=1e-10,
    )


def _check_order(
    context: Context,
    check: str,
    chain_rule: ChainRule,
    counts: dict[Node, int],
    complete: dict[Node, np.ndarray],
) -> None:
    """Fail at the first node the loop ran before all of its consumers, or twice."""
    sent: dict[Node, int] = dict.fromkeys(counts, 0)
    ran: set[Node] = set()
    for done in chain_rule.calls:
        node = done.node
        if node not in counts:
            continue
        name = _value_name(node)
        if node in ran:
            raise context.fail(
                f"{check}: your loop ran {_node_text(node)} twice",
                "run each node once, with its complete gradient: first collect what every "
                "consumer of its output sends. Running a node once per path that reaches it "
                "(as a recursion from the loss does) sends its inputs partial gradients, and "
                "takes a time that grows with the number of paths",
                problem=f"{_node_text(node)} ran a second time",
            )
        if sent[node] < counts[node]:
            waiting = [
                _node_text(other)
                for other in counts
                if other not in ran and any(parent is node for parent in other.parents)
            ]
            context.checks_run += 1
            got, expected = np.asarray(done.grad), complete[node]
            wrong = ~np.isclose(got, expected, rtol=1e-7, atol=1e-10)
            index = tuple(int(i) for i in np.argwhere(wrong)[0]) if wrong.any() else None
            raise context.fail(
                f"{check}: your loop ran {_node_text(node)} too early",
                "a node must run only after every node that consumes its output has sent its "
                f"part: {_node_text(node)} ran when {sent[node]} of its {counts[node]} "
                "consumers had sent, so the gradient it passed on was incomplete (a hidden "
                "node of the book likewise collects the errors of all the output nodes it "
                "feeds before it passes its own back). Count each node's consumers first, and "
                "run a node when its count reaches 0 (Kahn's algorithm)",
                problem=f"{_node_text(node)} ran before "
                + " and ".join(waiting)
                + " had sent its gradient",
                quantity=f"∂L/∂{name}",
                index=index,
                expected=float(expected[index]) if index is not None else None,
                got=float(got[index]) if index is not None else None,
            )
        ran.add(node)
        for parent in node.parents:
            if parent in sent:
                sent[parent] += 1


def _ran(chain_rule: ChainRule) -> set[Node]:
    return {done.node for done in chain_rule.calls}


def _complete_gradients(loss: Tensor, nodes: list[Node]) -> dict[Node, np.ndarray]:
    """∂L/∂(each node's output), from the engine (the graph is kept for the learner)."""
    outputs = [node.output for node in nodes]
    assert all(o is not None for o in outputs)
    found = grad(loss, outputs, retain_graph=True, allow_unused=True)  # type: ignore[arg-type]
    return {
        node: np.zeros(out.shape) if g is None else g.data  # type: ignore[union-attr]
        for node, out, g in zip(nodes, outputs, found, strict=True)
    }


def _value_name(node: Node) -> str:
    output = node.output
    if output is not None and output.name:
        return output.name
    return f"(the output of the {node.function.__name__} node)"


def _node_text(node: Node) -> str:
    """``the Sigmoid node that computed a``."""
    output = node.output
    text = f"the {node.function.__name__} node"
    return f"{text} that computed {output.name}" if output is not None and output.name else text


# --------------------------------------------------------------------------- task 5

SGD_GENERIC = "new wⱼₖ = old wⱼₖ − α · ∂E/∂wⱼₖ, for every weight at once"
SIGN_HINT = (
    "the update's sign is flipped: new wⱼₖ = old wⱼₖ − α · ∂E/∂wⱼₖ. The gradient points "
    "uphill, where the error grows; the step goes the other way (in the worked example w₁₁ "
    "grows from 2.0 to 2.00265 because ∂E/∂w₁₁ = −0.0265 is negative)"
)


def sgd_mistakes(w: np.ndarray, g: np.ndarray, alpha: float) -> list[Mistake]:
    return [
        Mistake(w + alpha * g, SIGN_HINT),
        Mistake(w - g, "the learning rate α is missing: the step is α · ∂E/∂wⱼₖ"),
        Mistake(
            -alpha * g,
            "you returned the step ΔW = −α · ∂E/∂W, not the new weights: add it to the old ones",
        ),
        Mistake(w - alpha * w, "the step multiplies α by the weights; it is α · ∂E/∂wⱼₖ"),
    ]


def one_step(
    context: Context,
    build: Callable[[LearnerFunctions, list[Tensor]], Tensor],
    weights: list[np.ndarray],
    alpha: float,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One step of the learner's whole engine: the graph recorded with their operations,
    their loop (and unbroadcast), their SGD step: (new weights, gradient) per matrix."""
    ops = LearnerFunctions(context)
    tensors = [Tensor(w, requires_grad=True) for w in weights]
    loss = build(ops, tensors)
    inputs = context.inputs
    found = run_loop(context, loss, ChainRule(context, learner_sum_back(context)))
    context.inputs = inputs  # (the learner's backwards set it while they ran)
    new = []
    for t in tensors:
        g = found.get(id(t))
        if g is None:
            raise context.fail(
                "your backward_loop gave no gradient for a weight matrix",
                "every leaf that requires grad belongs in the dict backward_loop returns",
            )
        stepped = call(context, "sgd_step", frozen(t.data), frozen(g), alpha)
        new.append((as_gradient(context, "sgd_step", stepped, t.shape, "the new weights"), g))
    return new


def task_5(context: Context, examples: int) -> None:
    example = textbook.worked_example()
    mirrored = textbook.worked_example(w11=3.0, w21=2.0, hidden_outputs=(0.5, 0.4))
    hidden = np.array([[0.4], [0.5]])
    w = np.array([[2.0, 3.0]])
    target = textbook.sigmoid(w @ hidden) + 0.8  # the text's e₁ = 0.8

    def worked_example(ops: LearnerFunctions, tensors: list[Tensor]) -> Tensor:
        output = ops.Sigmoid.apply(ops.MatMul.apply(tensors[0], Tensor(hidden)))
        return 0.5 * ops.SquaredError.apply(output, Tensor(target))

    context.inputs = (
        "the book's worked example, run by your whole engine: w₁₁ = 2.0, w₂₁ = 3.0, "
        "oⱼ = 0.4, 0.5, e₁ = 0.8, α = 0.1, L = ½(t − o)²"
    )
    ((new_w, g),) = one_step(context, worked_example, [w], 0.1)
    compare(
        context,
        "the book's worked example, new w₁₁ = 2.00265",
        "new W",
        [[example.new_weight, mirrored.new_weight]],
        new_w,
        SGD_GENERIC,
        sgd_mistakes(w, g, 0.1),
    )

    rng = np.random.default_rng(0)
    w_ih = rng.normal(0, 3**-0.5, (3, 3))
    w_ho = rng.normal(0, 3**-0.5, (3, 3))
    x = np.array([[0.9], [0.1], [0.8]])
    t = np.array([[0.01], [0.99], [0.01]])
    alpha = 0.3

    def book_network(ops: LearnerFunctions, tensors: list[Tensor]) -> Tensor:
        hidden = ops.Sigmoid.apply(ops.MatMul.apply(tensors[0], Tensor(x)))
        outputs = ops.Sigmoid.apply(ops.MatMul.apply(tensors[1], hidden))
        return 0.5 * ops.SquaredError.apply(outputs, Tensor(t))

    context.inputs = (
        "one step of the book's 3-3-3 network (seed 0), run by your whole engine, α = 0.3"
    )
    (new_ih, g_ih), (new_ho, g_ho) = one_step(context, book_network, [w_ih, w_ho], alpha)
    delta_ih, delta_ho = textbook.exact_weight_updates(w_ih, w_ho, x, t, alpha)
    for name, new, old, delta, g in (
        ("new W_ho", new_ho, w_ho, delta_ho, g_ho),
        ("new W_ih", new_ih, w_ih, delta_ih, g_ih),
    ):
        compare(
            context,
            "the book's ΔW = α · E·O(1 − O) · Oⱼᵀ, added to W",
            name,
            old + delta,
            new,
            SGD_GENERIC,
            sgd_mistakes(old, g, alpha),
        )

    def random_step(example: tuple[np.ndarray, np.ndarray, float]) -> None:
        w, g, alpha = example
        context.inputs = describe(weights=w, grad=g, learning_rate=alpha)
        got = call(context, "sgd_step", frozen(w), frozen(g), alpha)
        got = as_gradient(context, "sgd_step", got, w.shape, "the new weights")
        compare(
            context,
            "the closed form, new W = W − α · ∂E/∂W",
            "new W",
            w - alpha * g,
            got,
            SGD_GENERIC,
            sgd_mistakes(w, g, alpha),
        )

    _on_random_inputs(context, _steps, random_step, examples)


# --------------------------------------------------------------------------- shared


TASKS: dict[int, Callable[[Context, int], None]] = {
    1: task_1,
    2: task_2,
    3: task_3,
    4: task_4,
    5: task_5,
}


def run_task(
    number: int,
    module: ModuleType,
    examples: int = DEFAULT_EXAMPLES,
    code_files: frozenset[Path] = frozenset(),
) -> Context:
    """Run task ``number``'s checks on the learner's ``module``: returns the context (how
    many checks ran, whether random inputs were skipped) or raises `TaskFailedError`.
    ``code_files``: where the learner's code is, when it is not the module's own file."""
    context = Context(task=number, module=module, code_files=code_files)
    TASKS[number](context, examples)
    return context


def _engine_gradients(loss_of: Callable[..., Tensor], *arrays: np.ndarray) -> list[np.ndarray]:
    """The engine's gradients of ``loss_of(*tensors)`` with respect to each array."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    found = grad(loss_of(*tensors), tensors)
    return [np.asarray(g.data) for g in found if g is not None]


def _on_random_inputs(
    context: Context, strategy: Callable[[], Any], check: Callable[[Any], None], examples: int
) -> None:
    if examples <= 0:
        return
    try:
        holds_for_random_inputs(context, strategy, check, examples)
    except HypothesisMissingError:
        context.random_inputs_skipped = True


# Strategies, built when Hypothesis is there (it is a test-time dependency).


def _same_shape_pairs() -> Any:
    from hypothesis import strategies as st

    from tinygrad_edu.testing import strategies as tst

    return tst.shapes().flatmap(lambda shape: st.tuples(tst.arrays(shape), tst.arrays(shape)))


def _outputs_targets_and_scales() -> Any:
    from hypothesis import strategies as st

    from tinygrad_edu.testing import strategies as tst

    return st.tuples(tst.output_target_pairs(), tst.elements(bound=2.0)).map(
        lambda pair: (*pair[0], pair[1])
    )


def _gradients_and_shapes() -> Any:
    from hypothesis import strategies as st

    from tinygrad_edu.testing import strategies as tst

    return tst.shapes().flatmap(
        lambda shape: st.tuples(tst.arrays(shape), tst.shapes_broadcasting_to(shape))
    )


def _stacked_products() -> Any:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from tinygrad_edu.testing import strategies as tst

    @st.composite
    def products(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
        batches = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2))
        a_batch, b_batch = batches.input_shapes
        a = draw(tst.arrays((*a_batch, n, k)))
        b = draw(tst.arrays((*b_batch, k, m)))
        return a, b, draw(tst.arrays((a @ b).shape))

    return products()


def _programs() -> Any:
    from tinygrad_edu.testing import strategies as tst

    return tst.programs(max_steps=6)


def _steps() -> Any:
    from hypothesis import strategies as st

    from tinygrad_edu.testing import strategies as tst

    return tst.shapes(min_dims=1).flatmap(
        lambda shape: st.tuples(tst.arrays(shape), tst.arrays(shape), st.floats(0.01, 1.0))
    )
