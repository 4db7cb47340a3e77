"""Every registered operation, checked three ways on Hypothesis-generated inputs:
autodiff against central finite differences, against the operation's independently written
closed-form derivative, and (the backward recorded with create_graph=True) second
derivatives against finite differences of the first."""

import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Function, Tensor, enable_grad, functions, grad, registry
from tinygrad_edu.gradcheck import _nudged_values, numerical_gradient
from tinygrad_edu.testing import strategies as tst

OPS = sorted(registry.REGISTRY)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def _call(case, tensors, cotangent):
    """L = Σ op(inputs) · cotangent: a scalar whose gradient is the op's VJP of cotangent."""
    return (case.op.function.apply(*tensors, **case.options) * cotangent).sum()


def _draw_case(data, name):
    case = data.draw(tst.in_domain(name), label="case")
    with_grad = [Tensor(x, requires_grad=True) for x in case.inputs]
    output_shape = case.op.function.apply(*with_grad, **case.options).shape
    cotangent = data.draw(tst.arrays(output_shape), label="cotangent")
    return case, with_grad, cotangent


def test_every_function_in_functions_is_registered():
    defined = {
        obj
        for _, obj in inspect.getmembers(functions, inspect.isclass)
        if issubclass(obj, Function)
        and obj is not Function
        and obj.__module__ == functions.__name__
    }
    registered = {info.function for info in registry.REGISTRY.values()}
    assert defined - registered == set(), "register every operation in registry.REGISTRY"


def test_every_registered_op_has_a_domain_and_label_per_input():
    for info in registry.REGISTRY.values():
        arity = len(inspect.signature(info.function.forward).parameters) - 1
        arity -= sum(
            p.default is not inspect.Parameter.empty
            for p in inspect.signature(info.function.forward).parameters.values()
        )
        assert len(info.domains) == arity == len(info.labels), info.name


def differences_of_the_output(case, cotangent, eps=1e-6):
    """Σ cotangent · ∂y/∂x by central differences taken on the op's output y element by
    element, then weighted by the cotangent. The outputs a nudge does not reach cancel
    exactly; differences of the sum L = Σ cotangent · y would carry its rounding instead,
    about 1e-16·|L|/eps, which hides a small derivative beside large outputs it does not
    touch (found: ∂/∂b of Σ aᵇ is −0.0347 for b = 3 beside columns where b = −3 make
    |L| ≈ 2·10⁴, and differences of L were off by 1.6·10⁻⁶)."""
    tensors = [Tensor(x) for x in case.inputs]

    def output():
        return case.op.function.apply(*tensors, **case.options).data

    nudged = _nudged_values(output, tensors, eps, cotangent.shape)
    axes = cotangent.ndim
    return [np.tensordot(above - below, cotangent, axes) / (2 * eps) for above, below in nudged]


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_op_grad_matches_finite_differences(name, data):
    case, tensors, cotangent = _draw_case(data, name)
    _call(case, tensors, cotangent).backward()
    numeric = differences_of_the_output(case, cotangent)
    for t, expected in zip(tensors, numeric, strict=True):
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad, expected, **TOLERANCE)


def test_differences_of_the_output_keep_a_small_derivative_beside_large_outputs():
    # the case Hypothesis found: L's own differences lose ∂/∂b₀ to the rounding of L
    a = np.full((4, 3, 1), 0.109375)
    b = np.array([3.0, -3.0, -3.0])
    case = tst.OpCase(registry.REGISTRY["pow"], (a, b), {})
    cotangent = np.ones((4, 3, 3))
    exact = 12 * a[0, 0, 0] ** 3 * np.log(a[0, 0, 0])  # Σ over the 12 copies of aᵇ ln a
    numeric = differences_of_the_output(case, cotangent)[1][0]
    np.testing.assert_allclose(numeric, exact, rtol=1e-7)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_op_grad_matches_closed_form(name, data):
    case, tensors, cotangent = _draw_case(data, name)
    _call(case, tensors, cotangent).backward()
    closed_form = case.op.reference(cotangent, *case.inputs, **case.options)
    for t, expected in zip(tensors, closed_form, strict=True):
        np.testing.assert_allclose(t.grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_op_recorded_backward_gives_second_derivatives(name, data):
    """grad(create_graph=True) runs the same backward on Tensors; differentiating
    Σ(∂L/∂x · v) again must match finite differences of that first derivative."""
    case, tensors, cotangent = _draw_case(data, name)
    directions = [data.draw(tst.arrays(t.shape), label="direction") for t in tensors]

    def directional_first_derivative(*inputs):
        with enable_grad():  # numerical_gradient evaluates under no_grad
            firsts = grad(_call(case, inputs, cotangent), inputs, create_graph=True)
            return sum((g * v).sum() for g, v in zip(firsts, directions, strict=True))

    fast = grad(_call(case, tensors, cotangent), tensors)
    recorded = grad(_call(case, tensors, cotangent), tensors, create_graph=True)
    for f, r in zip(fast, recorded, strict=True):
        np.testing.assert_allclose(r.data, f.data, rtol=1e-12, atol=1e-12)

    # finite differences first: they nudge .data, which moves the versions of the tensors
    # that `first`'s graph saved
    numeric = numerical_gradient(directional_first_derivative, *tensors)
    first = directional_first_derivative(*tensors)
    if first.requires_grad:
        seconds = grad(first, tensors, allow_unused=True)
    else:  # the first derivative is constant (a linear op): every second derivative is 0
        seconds = (None,) * len(tensors)
    for second, expected in zip(seconds, numeric, strict=True):
        actual = np.zeros_like(expected) if second is None else second.data
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_register_reads_the_labels_from_the_class_and_rejects_a_mismatch():
    class Twice(Function):  # y = 2x, one input, but two labels
        labels = ("·2", "·2")

    with pytest.raises(ValueError, match=r"1 domains but Twice.labels has 2"):
        registry.register("twice", Twice, "unary", ("real",), lambda g, x: (2 * g,))
    assert "twice" not in registry.REGISTRY
    assert registry.REGISTRY["sigmoid"].labels is functions.Sigmoid.labels
