"""gradcheck and gradgradcheck: they pass on correct gradients, catch wrong ones and say
exactly where, refuse what they cannot check, and leave their inputs alone.

Expected values come from hand derivatives of the small functions below (written next to
each test), never from gradcheck's own output."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import CubeSavingItsSlope

from tinygrad_edu import Function, Tensor, no_grad, registry
from tinygrad_edu.gradcheck import MAX_JACOBIAN_ROWS, GradcheckError, gradcheck, gradgradcheck
from tinygrad_edu.nn import cross_entropy
from tinygrad_edu.testing import strategies as tst

OPS = sorted(registry.REGISTRY)
CHECKERS = [gradcheck, gradgradcheck]


# --------------------------------------------------------------------------- custom Functions


class SquareMissingTwo(Function):
    """y = x², with the factor 2 of its derivative forgotten: backward gives g·x, not 2g·x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * x


class MulWrongSign(Function):
    """y = a·b, with the sign of ∂y/∂b flipped: backward gives (g·b, −g·a)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * b, -g * a


class ScaleWrongAtOneElement(Function):
    """y = 3x (elementwise), with backward wrong at element (1, 2) only: 4g there."""

    @staticmethod
    def forward(ctx, x):
        return 3 * x

    @staticmethod
    def backward(ctx, g):
        gradient = 3 * g
        gradient[1, 2] = 4 * g[1, 2]
        return gradient


class Cumsum(Function):
    """yₖ = Σ_{i≤k} xᵢ, so ∂yₖ/∂xᵢ = [i ≤ k] and ∂L/∂xᵢ = Σ_{k≥i} gₖ. With ``drop`` set,
    backward forgets g₂ in the gradient of x₀: Jacobian entry (row 2, column 0) becomes 0."""

    @staticmethod
    def forward(ctx, x, drop=False):
        ctx.drop = drop
        return np.cumsum(x)

    @staticmethod
    def backward(ctx, g):
        gradient = np.cumsum(g[::-1])[::-1].copy()
        if ctx.drop:
            gradient[0] -= g[2]
        return gradient


class CountingTanh(Function):
    """y = tanh x, counting its backward calls."""

    calls = 0

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        CountingTanh.calls += 1
        (y,) = ctx.saved
        return g * (1 - y * y)


class CubeWithConstantSlope(Function):
    """y = x³; forward declares the slope 3x² it derived a constant (the engine cannot tell
    it is not), so the recorded backward multiplies by a constant: the first derivative is
    right, the second comes out 0 instead of 6x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_constants(3 * x * x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (slope,) = ctx.constants
        return g * slope


def _leaf(values, name=None):
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True, name=name)


# --------------------------------------------------------------------------- correct gradients pass


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_gradcheck_passes_on_every_registered_op(name, data):
    case = data.draw(tst.in_domain(name), label="case")
    tensors = [Tensor(x, requires_grad=True) for x in case.inputs]
    output_size = case.op.function.apply(*case.inputs, **case.options).size
    if output_size == 0 or sum(t.size for t in tensors) == 0:
        with pytest.raises(ValueError, match=r"empty|no elements"):  # nothing to check
            gradcheck(lambda *ts: case.op.function.apply(*ts, **case.options), *tensors)
        return
    assert gradcheck(lambda *ts: case.op.function.apply(*ts, **case.options), *tensors) is True


def test_gradcheck_passes_under_no_grad():
    x = _leaf([0.3, -1.2])
    with no_grad():
        assert gradcheck(lambda t: t.sigmoid(), x) is True


def test_constant_arguments_are_passed_through_unchecked():
    # cross_entropy with integer labels (which cannot require grad) and a weight array
    logits = _leaf([[0.2, -1.0, 0.5], [1.5, 0.1, -0.3]])
    labels = Tensor(np.array([2, 0]), dtype=np.int64)
    scale = np.array([1.0, 2.0, 0.5])
    assert gradcheck(lambda z, y, s: cross_entropy(z * s, y), logits, labels, scale) is True


def test_an_input_the_output_does_not_use_passes_with_zero_gradient():
    x, unused = _leaf([1.0, 2.0]), _leaf([3.0])
    assert gradcheck(lambda a, b: (a * a).sum(), x, unused) is True


# --------------------------------------------------------------------------- wrong gradients


def test_missing_factor_two_is_reported_with_both_values():
    # f(x) = Σx²: analytic (the bug) x, numeric 2x; the worst element is x₁ = 3: 3 vs 6
    x = _leaf([1.0, 3.0], name="x")
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda t: SquareMissingTwo.apply(t).sum(), x)
    error = caught.value
    assert (error.input_index, error.input_name, error.element_index) == (0, "x", (1,))
    assert error.analytic == pytest.approx(3.0, rel=1e-12)
    assert error.numeric == pytest.approx(6.0, rel=1e-8)
    assert error.difference == pytest.approx(-3.0, rel=1e-8)
    assert error.output_index == () and error.projection is None
    message = str(error)
    assert "input 0 ('x')" in message and "element (1,)" in message
    assert "analytic (backward): 3" in message and "numeric" in message and ": 6" in message


def test_wrong_sign_is_blamed_on_the_second_input_by_position_and_name():
    # y = a·b elementwise: ∂yᵢⱼ/∂bᵢⱼ = aᵢⱼ, the bug gives −aᵢⱼ; worst where |a| = 4, at (1, 1)
    a = _leaf([[1.0, 2.0], [3.0, 4.0]], name="a")
    b = _leaf([[0.5, -1.0], [2.0, 1.5]], name="weights")
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda x, y: MulWrongSign.apply(x, y), a, b)
    error = caught.value
    assert (error.input_index, error.input_name, error.element_index) == (1, "weights", (1, 1))
    assert error.output_index == (1, 1)  # ∂y₁₁/∂b₁₁: the other entries of that column are 0
    assert error.analytic == pytest.approx(-4.0, rel=1e-12)
    assert error.numeric == pytest.approx(4.0, rel=1e-8)
    assert error.difference == pytest.approx(-8.0, rel=1e-8)
    assert "input 1 ('weights')" in str(error)
    assert "3 other entries differ" in str(error)  # the other three elements of b


def test_a_bug_at_one_element_is_located_past_constant_arguments():
    # L = Σ c·(3x): ∂L/∂x = 3c, the bug gives 4c at (1, 2) where c = 2: 8 instead of 6
    c = np.full((2, 3), 2.0)
    x = _leaf(np.arange(6.0).reshape(2, 3))
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda weights, t: (ScaleWrongAtOneElement.apply(t) * weights).sum(), c, x)
    error = caught.value
    assert (error.input_index, error.input_name, error.element_index) == (1, None, (1, 2))
    assert error.analytic == pytest.approx(8.0, rel=1e-12)
    assert error.numeric == pytest.approx(6.0, rel=1e-8)
    assert "input 1 " in str(error) and "other entries" not in str(error)


def test_an_output_without_a_graph_is_never_a_silent_pass():
    # fn builds a new Tensor from .data: backward sees a constant, finite differences see 2x
    x = _leaf([1.0, -2.0])
    with pytest.raises(GradcheckError, match="no graph") as caught:
        gradcheck(lambda t: Tensor(t.data * 2).sum(), x)
    assert caught.value.analytic == 0.0
    assert caught.value.numeric == pytest.approx(2.0, rel=1e-8)


# --------------------------------------------------------------------------- kinks


def test_kink_hint_appears_for_relu_at_zero():
    # relu′(0) = 0 (the convention), central difference (eps − 0)/(2eps) = ½;
    # one-sided: forward (eps − 0)/eps = 1, backward (0 − 0)/eps = 0
    x = _leaf([0.0, 1.0])
    with pytest.raises(GradcheckError, match="may not be differentiable") as caught:
        gradcheck(lambda t: t.relu(), x)
    error = caught.value
    assert error.element_index == (0,) and error.output_index == (0,)
    assert error.analytic == 0.0
    assert error.numeric == pytest.approx(0.5, rel=1e-8)
    assert error.kink is True
    assert error.forward_difference == pytest.approx(1.0, rel=1e-8)
    assert error.backward_difference == pytest.approx(0.0, abs=1e-8)


def test_kink_hint_is_absent_for_an_ordinary_wrong_gradient():
    x = _leaf([1.0, 3.0])
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda t: SquareMissingTwo.apply(t).sum(), x)
    assert caught.value.kink is False
    assert "differentiable" not in str(caught.value)
    # one-sided differences of Σx² at x₁ = 3: 6 ± eps, both close to the central 6
    assert caught.value.forward_difference == pytest.approx(6.0, rel=1e-5)
    assert caught.value.backward_difference == pytest.approx(6.0, rel=1e-5)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
def test_float32_input_is_refused(check):
    x = Tensor([1.0, 2.0], requires_grad=True, dtype=np.float32)
    with pytest.raises(TypeError, match=r"float32.*float64"):
        check(lambda t: (t * t).sum(), x)


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "inputs",
    [(Tensor([1.0, 2.0]),), (np.array([1.0, 2.0]),), ()],
    ids=["tensor_without_grad", "array", "nothing"],
)
def test_a_call_where_no_input_requires_grad_is_refused(check, inputs):
    with pytest.raises(ValueError, match="no input requires grad"):
        check(lambda *ts: Tensor(1.0), *inputs)


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("returns", "type_name"),
    [(lambda t: (t * t).data, "ndarray"), (lambda t: (t * t).sum().item(), "float"),
     (lambda t: None, "NoneType")],
    ids=["ndarray", "float", "None"],
)  # fmt: skip
def test_fn_returning_something_other_than_a_tensor_is_refused(check, returns, type_name):
    with pytest.raises(TypeError, match=f"must return a Tensor, but it returned {type_name}"):
        check(returns, _leaf([1.0, 2.0]))


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("options", [{"eps": 0.0}, {"atol": -1.0}, {"rtol": -1e-3}])
def test_meaningless_tolerances_are_refused(check, options):
    with pytest.raises(ValueError, match="eps must be positive"):
        check(lambda t: t.sum(), _leaf([1.0]), **options)


# --------------------------------------------------------------------------- non-scalar outputs


def test_full_jacobian_passes_on_a_correct_non_scalar_op():
    assert gradcheck(lambda t: Cumsum.apply(t), _leaf([0.5, -1.0, 2.0, 0.25])) is True


def test_full_jacobian_catches_one_wrong_entry():
    # cumsum's Jacobian is lower triangular with ones: entry (row 2, column 0) should be 1,
    # the bug makes it 0; every other entry is right
    x = _leaf([0.5, -1.0, 2.0, 0.25])
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda t: Cumsum.apply(t, drop=True), x)
    error = caught.value
    assert error.output_index == (2,) and error.element_index == (0,)
    assert error.projection is None
    assert error.analytic == 0.0
    assert error.numeric == pytest.approx(1.0, rel=1e-8)
    assert "output element (2,)" in str(error) and "other entries" not in str(error)


@given(tst.arrays((5, 13)), tst.arrays((13, 6)))
def test_random_projections_pass_on_correct_ops_with_large_outputs(a, b):
    # a (5, 13) @ b (13, 6) has 30 elements; its sigmoid over a (5, 13) input has 65
    left, right = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    assert gradcheck(lambda x, y: (x @ y).tanh(), left, right, max_jacobian_rows=8) is True
    assert gradcheck(lambda x: x.sigmoid(), left) is True


def test_random_projections_catch_a_wrong_backward_on_a_large_output():
    x = _leaf(np.linspace(-1.0, 1.0, 100).reshape(10, 10))
    with pytest.raises(GradcheckError) as caught:  # ∂(Σ 3x·v)/∂x = 3v, the bug: 4v at (1, 2)
        gradcheck(lambda t: ScaleWrongAtOneElement.apply(t), x)
    error = caught.value
    assert error.element_index == (1, 2)
    assert error.output_index is None and error.projection in (0, 1, 2)
    assert error.analytic == pytest.approx(error.numeric * 4 / 3, rel=1e-6)  # 4v vs 3v
    assert "random cotangent" in str(error)


@pytest.mark.parametrize(
    ("size", "backward_calls"),
    [(MAX_JACOBIAN_ROWS, MAX_JACOBIAN_ROWS), (MAX_JACOBIAN_ROWS + 1, 3)],
)
def test_outputs_up_to_the_threshold_get_one_backward_per_row_larger_ones_three(
    size, backward_calls
):
    CountingTanh.calls = 0
    assert gradcheck(lambda t: CountingTanh.apply(t), _leaf(np.linspace(-1, 1, size)))
    assert CountingTanh.calls == backward_calls


# --------------------------------------------------------------------------- second derivatives


@pytest.mark.parametrize(
    ("op", "domain"),
    [("sigmoid", "real"), ("tanh", "real"), ("exp", "real"), ("log", "positive")],
)
@given(data=st.data())
def test_gradgradcheck_passes_on_elementwise_ops(op, domain, data):
    x = data.draw(tst.tensors(tst.shapes(max_dims=2), domain=domain), label="x")
    assert gradgradcheck(lambda t: getattr(t, op)(), x) is True


@given(tst.matmul_pairs())
def test_gradgradcheck_passes_on_matmul(pair):
    a, b = (Tensor(x, requires_grad=True) for x in pair)
    assert gradgradcheck(lambda x, y: x @ y, a, b) is True


@given(tst.tensors(tst.shapes(min_dims=1, max_dims=2)))
def test_gradgradcheck_passes_on_softmax(x):
    assert gradgradcheck(lambda t: t.softmax(axis=-1), x) is True


def test_gradgradcheck_passes_on_a_two_layer_network():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(3, 4))
    targets = np.array([[0.01, 0.99], [0.99, 0.01], [0.5, 0.5]])
    w_ih = Tensor(rng.normal(0, 0.5, (4, 5)), requires_grad=True, name="W_ih")
    w_ho = Tensor(rng.normal(0, 0.5, (5, 2)), requires_grad=True, name="W_ho")

    def loss(x, w1, w2, t):
        return 0.5 * ((x @ w1).sigmoid() @ w2).sigmoid().squared_error(t)

    assert gradgradcheck(loss, inputs, w_ih, w_ho, targets) is True


def test_gradgradcheck_passes_on_a_linear_function():
    # f(x) = 3x + 1: the first derivative is constant (no graph), the second is 0
    assert gradgradcheck(lambda t: 3 * t + 1, _leaf([[1.0, -2.0], [0.5, 4.0]])) is True


def test_gradgradcheck_catches_a_backward_that_treats_a_derived_slope_as_constant():
    x = _leaf([0.5, -1.0, 2.0], name="x")

    def fn(t):
        return CubeWithConstantSlope.apply(t).sum()

    assert gradcheck(fn, x) is True  # the first derivative 3x² is right
    with pytest.raises(GradcheckError, match="second derivative") as caught:
        gradgradcheck(fn, x)
    error = caught.value
    # the recorded backward is g·(a constant): its derivative is 0, the truth is 6x·v
    assert error.input_index == 0 and error.input_name == "x"
    assert error.analytic == 0.0
    assert abs(error.numeric) > error.tolerance
    assert "no graph" in str(error)


def test_gradgradcheck_of_a_backward_that_reads_a_derived_saved_array_is_refused_by_the_engine():
    x = _leaf([0.5, -1.0, 2.0], name="x")

    def fn(t):
        return CubeSavingItsSlope.apply(t).sum()

    assert gradcheck(fn, x) is True  # a first derivative may use it
    with pytest.raises(RuntimeError, match=r"CubeSavingItsSlopeBackward:.*save_constants"):
        gradgradcheck(fn, x)


# --------------------------------------------------------------------------- inputs left alone


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
@given(x0=tst.arrays(tst.shapes(max_dims=2)), g0=st.floats(-2, 2))
def test_inputs_keep_their_data_and_grad(check, x0, g0):
    x = Tensor(x0, requires_grad=True, name="x")
    x.grad = np.full(x.shape, g0)
    data, grad_before = x.data, x.grad
    assert check(lambda t: (t * t).tanh(), x) is True
    assert x.data is data and x.grad is grad_before
    np.testing.assert_array_equal(x.data, x0)
    np.testing.assert_array_equal(x.grad, np.full(x0.shape, g0))


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
def test_inputs_keep_their_data_and_grad_when_the_check_fails(check):
    x = _leaf([0.5, -1.0, 2.0])
    x.grad = np.array([1.0, 2.0, 3.0])
    fn = SquareMissingTwo if check is gradcheck else CubeWithConstantSlope
    with pytest.raises(GradcheckError):
        check(lambda t: fn.apply(t).sum(), x)
    np.testing.assert_array_equal(x.data, [0.5, -1.0, 2.0])
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])


class ExpWithNumpyInBackward(Function):
    """y = eˣ, with a backward that calls np.exp: right on arrays, refused on Tensors."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * np.exp(x)


class ExpReusingItsOutput(Function):
    """The same y = eˣ, written the way that also runs on Tensors: g · y, y saved."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y


def test_gradgradcheck_explains_a_backward_that_calls_numpy_on_tensors():
    x = Tensor([0.5, -1.0], requires_grad=True)
    assert gradcheck(lambda t: ExpWithNumpyInBackward.apply(t), x)  # right on arrays
    with pytest.raises(TypeError) as failure:
        gradgradcheck(lambda t: ExpWithNumpyInBackward.apply(t), x)
    message = str(failure.value)
    assert message.startswith("gradgradcheck: ExpWithNumpyInBackward.backward failed on Tensors")
    assert "create_graph=True" in message and "runs on Tensors" in message
    assert "x.exp()" in message and "save_for_backward" in message
    assert "does not support ufuncs" in message  # numpy's own words are kept
    assert gradgradcheck(lambda t: ExpReusingItsOutput.apply(t), x)  # the how-to works
