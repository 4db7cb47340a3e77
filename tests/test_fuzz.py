"""The random-graph fuzzer: random programs of every registered operation (shared
subexpressions, broadcasting, indexing, reductions; see `strategies.programs`), each leaf
gradient checked against central finite differences, and a Hessian-vector product from
``grad(..., create_graph=True)`` checked against finite differences too.

A few hundred programs by default, thousands under ``--hypothesis-profile=thorough``.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
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
"""h of the second difference [f(x + hv) − 2f(x) + f(x − hv)] / h²: its rounding error is
about 4·ε·|f|/h² ≈ 1e-9·|f|, its truncation error h²/12 · ∂⁴f/∂v⁴ ≈ 1e-7 for the bounded
values of a program. A relu input or maximum must be further than h·|v|·(a growth factor)
from its kink, so the check runs only for programs whose kinks are ≥ 0.1 away."""


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
@given(program=tst.programs(ops=BUILT_IN), data=st.data())
def test_random_programs_have_the_gradients_and_hessian_products_of_finite_differences(
    program, data
):
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
    directions = [data.draw(tst.arrays(t.shape), label="direction") for t in differentiable]
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

    # vᵀH·v against the second difference of f itself, where no kink is within reach
    if program.kink_distance >= 0.1:
        h = SECOND_DIFFERENCE_STEP
        with no_grad():

            def f(sign):
                moved = [
                    Tensor(t.data + sign * h * v)
                    for t, v in zip(differentiable, directions, strict=True)
                ]
                return float(program.run(*_with(leaves, moved)).data)

            second_difference = (f(1) - 2 * value + f(-1)) / h**2
        curvature = sum(
            float((p * v).sum()) for p, v in zip(hessian_products, directions, strict=True)
        )
        assert (
            abs(curvature - second_difference) <= 1e-4 * (1 + abs(curvature)) + 1e-8 * scale / h**2
        )
