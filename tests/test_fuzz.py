"""The random-graph fuzzer: random programs of every registered operation (shared
subexpressions, broadcasting, indexing, reductions; see `strategies.programs`), each leaf
gradient checked against central finite differences, and a Hessian-vector product from
``grad(..., create_graph=True)`` checked against finite differences too.

A few hundred programs by default, thousands under ``--hypothesis-profile=thorough``.
"""

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tinygrad_edu import Tensor, enable_grad, functions, grad, no_grad, registry
from tinygrad_edu.gradcheck import numerical_gradient
from tinygrad_edu.testing import strategies as tst

BUILT_IN = sorted(
    name
    for name, info in registry.REGISTRY.items()
    if info.function.__module__ == functions.__name__  # not ops other tests register
)
PROGRAMS = max(300, 3 * settings().max_examples)  # 300 by default, 3000 under thorough
FUZZ = settings(
    max_examples=PROGRAMS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

SECOND_DIFFERENCE_STEP = 1e-3
"""h of the second difference D(h) = [f(x + hv) − 2f(x) + f(x − hv)] / h² = vᵀHv +
h²/12 · ∂⁴f/∂v⁴ + O(h⁴). Its truncation error h²/12 · ∂⁴f/∂v⁴ has no bound in advance
(0.010368 for Σ2(x + (xxᵀ)(xxᵀ)ᵀ) at x = 0 along v = (6, 0)), so it is measured:
D(2h) − D(h) = 3 · h²/12 · ∂⁴f/∂v⁴ + O(h⁴). (Over about 3,000 programs that estimate was
within 3% of the true error wherever the error passed 1e-6.) Its rounding error is 4δ/h²,
where δ bounds the rounding of one evaluation of f; δ = 1000·ε·VALUE_BOUND is generous for
values of at most VALUE_BOUND, a few operations deep. A relu input or maximum must be
further than 2h·|v|·(a growth factor) from its kink, so the check runs only for programs
whose kinks are ≥ 0.1 away."""

SECOND_DIFFERENCE_ROUNDING = 4 * 1000 * np.finfo(np.float64).eps * tst.VALUE_BOUND


@st.composite
def programs_and_directions(draw):
    """A random program, and a direction v for each leaf that requires grad."""
    program = draw(tst.programs(ops=BUILT_IN))
    directions = [
        draw(tst.arrays(leaf.shape))
        for leaf, differentiable in zip(program.leaves, program.requires_grad, strict=True)
        if differentiable
    ]
    return program, directions


def _squared_gram_program():
    """Σ2(x + (xxᵀ)(xxᵀ)ᵀ) at x = 0 with x of shape (1, 2): f = 2Σx + 4|x|⁴, so vᵀHv = 0 and
    the second difference along v = (6, 0) is all truncation error, 8·6⁴·h² = 0.010368 —
    more than the 0.0101 the tolerance once allowed."""
    op = registry.REGISTRY
    steps = [
        tst.ProgramStep(op["transpose"], (0,), {"axes": None}),  # v1 = xᵀ
        tst.ProgramStep(op["matmul"], (0, 1)),  # v2 = xxᵀ
        tst.ProgramStep(op["transpose"], (2,), {"axes": None}),  # v3 = (xxᵀ)ᵀ
        tst.ProgramStep(op["matmul"], (2, 3)),  # v4 = (xxᵀ)(xxᵀ)ᵀ
        tst.ProgramStep(op["add"], (0, 4)),  # v5 = x + (xxᵀ)(xxᵀ)ᵀ, shape (1, 2)
    ]
    return tst.Program([np.zeros((1, 2))], [True], steps, np.full((1, 2), 2.0))


def _with(leaves, differentiable):
    """The leaves, with those that require grad replaced by ``differentiable`` in order."""
    replacements = iter(differentiable)
    return [next(replacements) if t.requires_grad else t for t in leaves]


def _gradients(program, leaves, **options):
    differentiable = [t for t in leaves if t.requires_grad]
    output = program.run(*leaves)
    if output.requires_grad:
        found = grad(output, differentiable, allow_unused=True, **options)
    else:  # no leaf that requires grad reaches the output
        found = (None,) * len(differentiable)
    return [
        Tensor(np.zeros(t.shape)) if g is None else g
        for t, g in zip(differentiable, found, strict=True)
    ]


def _directional_derivative(program, leaves, directions):
    """x ↦ Σ ∂f/∂x · v, by autodiff (x: the leaves that require grad): its gradient is H·v."""

    def value(*differentiable):
        with enable_grad():  # numerical_gradient evaluates under no_grad
            gradients = _gradients(program, _with(leaves, differentiable))
        return sum(float((g.data * v).sum()) for g, v in zip(gradients, directions, strict=True))

    return value


@FUZZ
@given(case=programs_and_directions())
@example(case=(_squared_gram_program(), [np.array([[6.0, 0.0]])]))
def test_random_programs_have_the_gradients_and_hessian_products_of_finite_differences(case):
    program, directions = case
    leaves = program.tensors()
    differentiable = [t for t in leaves if t.requires_grad]
    with no_grad():
        value = float(program.run(*leaves).data)
    scale = 1 + abs(value)

    # first derivatives: every leaf that requires grad, against central differences
    gradients = _gradients(program, leaves)
    numeric = numerical_gradient(lambda *ts: program.run(*_with(leaves, ts)), *differentiable)
    for g, expected in zip(gradients, numeric, strict=True):
        np.testing.assert_allclose(g.data, expected, rtol=1e-5, atol=1e-6 * scale)

    # H·v from the recorded backward pass, against central differences of the gradient
    firsts = _gradients(program, leaves, create_graph=True)
    directional = sum(((g * v).sum() for g, v in zip(firsts, directions, strict=True)), Tensor(0.0))
    if directional.requires_grad:
        found = grad(directional, differentiable, allow_unused=True)
        hessian_products = [
            np.zeros(t.shape) if h is None else h.data
            for t, h in zip(differentiable, found, strict=True)
        ]
    else:  # the first derivative is constant: every second derivative is 0
        hessian_products = [np.zeros(t.shape) for t in differentiable]
    numeric_products = numerical_gradient(
        _directional_derivative(program, leaves, directions), *differentiable
    )
    for h, expected in zip(hessian_products, numeric_products, strict=True):
        np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-6 * scale)

    # vᵀH·v against the second difference of f itself, where no kink is within reach; the
    # tolerance is the difference's own error: its truncation, measured, and its rounding
    if program.kink_distance >= 0.1:
        h = SECOND_DIFFERENCE_STEP
        with no_grad():

            def second_difference(step):
                def f(sign):
                    moved = [
                        Tensor(t.data + sign * step * v)
                        for t, v in zip(differentiable, directions, strict=True)
                    ]
                    return float(program.run(*_with(leaves, moved)).data)

                return (f(1) - 2 * value + f(-1)) / step**2

            at_h, at_2h = second_difference(h), second_difference(2 * h)
        curvature = sum(
            float((p * v).sum()) for p, v in zip(hessian_products, directions, strict=True)
        )
        truncation = abs(at_2h - at_h) / 3  # h²/12 · ∂⁴f/∂v⁴, give or take O(h⁴)
        tolerance = 1e-4 * (1 + abs(curvature)) + 2 * truncation + SECOND_DIFFERENCE_ROUNDING / h**2
        assert abs(curvature - at_h) <= tolerance, (curvature, at_h, truncation)
