"""The backward engine: order, accumulation, memory, modes and errors."""

import gc
import threading
import weakref

import numpy as np
import pytest
from hypothesis import given
from references import CubeSavingItsSlope, sigmoid

from tinygrad_edu import (
    Function,
    Tensor,
    detect_anomaly,
    enable_grad,
    functions,
    grad,
    no_grad,
    policies,
    registry,
)
from tinygrad_edu.autograd import GraphReleasedError, graph_tensors, is_grad_enabled
from tinygrad_edu.gradcheck import numerical_gradient
from tinygrad_edu.testing import strategies as tst

# --------------------------------------------------------------------------- order and sums


def test_a_100000_node_chain_backpropagates_without_recursion():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


def test_reused_node_gets_the_sum_of_its_gradients():
    a = Tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0


@given(tst.arrays(tst.shapes()))
def test_a_tensor_used_on_many_paths_gets_the_sum_over_paths(x0):
    # f = x·x + exp(x) + x: df/dx = 2x + exp(x) + 1, summed over three paths
    x = Tensor(x0, requires_grad=True)
    (x * x + x.exp() + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x0 + np.exp(x0) + 1, rtol=1e-12)


def test_diamond_graph_waits_for_both_branches_before_going_further():
    # y = s·s with s = σ(x): dy/dx = 2·s·σ'(x); the node of s must receive both gradients
    x = Tensor(0.7, requires_grad=True)
    s = x.sigmoid()
    (s * s).backward()
    expected = 2 * sigmoid(0.7) * sigmoid(0.7) * (1 - sigmoid(0.7))
    assert x.grad == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- leaves and .grad


def test_gradients_accumulate_only_into_leaves_that_require_grad():
    w = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    hidden = w * c
    hidden.sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])
    assert c.grad is None
    assert hidden.grad is None  # a non-leaf keeps no .grad unless it asked to


def test_backward_twice_with_retain_graph_accumulates():
    w = Tensor([1.0, -2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(w.grad, 2 * (2 * np.array([1.0, -2.0])))


def test_zero_grad_clears_the_gradient():
    w = Tensor([1.0], requires_grad=True)
    (w * 3).sum().backward()
    w.zero_grad()
    assert w.grad is None
    (w * 5).sum().backward()
    np.testing.assert_array_equal(w.grad, [5.0])


def test_leaf_grad_is_an_own_writeable_array_not_shared_between_leaves():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad *= 0  # must not change b.grad
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_a_weight_gradient_becomes_grad_without_a_copy_when_nothing_else_holds_it():
    """The book's first layer at batch 1: the only weight-sized array backward makes is the
    gradient itself (x @ W.T's gradient of W), and it becomes .grad as it is."""
    import tracemalloc

    rng = np.random.default_rng(0)
    w = Tensor(rng.normal(size=(200, 784)), requires_grad=True)
    x = Tensor(rng.normal(size=(1, 784)))
    loss = ((x @ w.T).sigmoid() ** 2).sum()
    tracemalloc.start()
    try:
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * w.data.nbytes
    h = sigmoid(x.data @ w.data.T)  # ∂/∂W Σ σ(xWᵀ)² = (2h · h(1 − h))ᵀ x
    np.testing.assert_allclose(w.grad, np.outer(2 * h * h * (1 - h), x.data))
    w.grad[0, 0] += 1.0  # .grad is writeable and the pass kept nothing of it
    assert w.grad.flags.writeable


@pytest.mark.parametrize("batch", [1, 3])
def test_the_gradient_of_w_in_x_at_w_transposed_is_in_ws_memory_order(batch):
    """x @ W.T hands MatMul a transposed view; W's gradient comes back row by row like W
    itself (so SGD's update walks W in order), and equals the closed form Gᵀ · x."""
    rng = np.random.default_rng(1)
    w = Tensor(rng.normal(size=(4, 5)), requires_grad=True)
    x = rng.normal(size=(batch, 5))
    g = rng.normal(size=(batch, 4))
    (Tensor(x) @ w.T).backward(gradient=g)
    assert w.grad.flags.c_contiguous
    np.testing.assert_allclose(w.grad, g.T @ x, rtol=1e-14)


def test_a_leaf_and_a_retained_gradient_never_share_memory():
    """Add hands its incoming gradient to its input as it is, so the leaf w and the
    retained h would receive one array: each gets its own."""
    w = Tensor([1.0, 2.0], requires_grad=True)
    h = w + 1.0
    h.retain_grad()
    (h * 3.0).sum().backward()
    assert not np.shares_memory(w.grad, h.grad)
    w.grad[0] = 99.0
    np.testing.assert_array_equal(h.grad, [3.0, 3.0])


def test_a_starting_gradient_passed_through_to_a_leaf_is_copied_not_kept():
    """w.T's backward returns a view of the gradient it receives: the caller's array."""
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    given_gradient = np.arange(6.0).reshape(3, 2)
    w.T.backward(gradient=given_gradient)
    assert not np.shares_memory(w.grad, given_gradient)
    w.grad[...] = 0.0
    np.testing.assert_array_equal(given_gradient, np.arange(6.0).reshape(3, 2))


class ReturnsItsConstant(Function):
    """y = 2x, whose backward returns an array it keeps (ctx.two), not a new one: a
    backward the library did not write may hand out memory held elsewhere."""

    @staticmethod
    def forward(ctx, x):
        ctx.two = np.full(x.shape, 2.0)
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return ctx.two if np.all(g == 1) else g * ctx.two


def test_an_array_a_custom_backward_returns_is_copied_into_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = ReturnsItsConstant.apply(x)
    y.sum().backward(retain_graph=True)
    kept = y.grad_fn.two
    assert not np.shares_memory(x.grad, kept)
    x.grad[...] = 0.0
    np.testing.assert_array_equal(kept, [2.0, 2.0])


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = Tensor([0.5, -0.5], requires_grad=True)
    hidden = x * 2
    hidden.retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(hidden.grad, 2 * np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad, 2 * 2 * np.array([1.0, -1.0]))


def test_gradient_argument_sets_the_vector_of_a_vector_jacobian_product():
    x0 = np.array([0.1, 0.2, 0.3])
    x = Tensor(x0, requires_grad=True)
    v = np.array([1.0, -2.0, 0.5])
    x.sigmoid().backward(gradient=v)
    np.testing.assert_allclose(x.grad, v * sigmoid(x0) * (1 - sigmoid(x0)))


# --------------------------------------------------------------------------- released graph


def test_second_backward_through_a_freed_graph_says_retain_graph():
    x = Tensor([0.3], requires_grad=True)
    loss = x.sigmoid().sum()
    loss.backward()
    first = x.grad.copy()
    with pytest.raises(GraphReleasedError, match="retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, first)  # nothing half-updated


def test_saved_arrays_are_freed_after_backward_but_the_structure_stays():
    x = Tensor([0.3, 0.4], requires_grad=True, name="x")
    y = x.sigmoid()
    y.sum().backward()
    node = y.grad_fn
    assert node.released
    assert node._saved == ()  # the arrays themselves are gone
    assert node.inputs[0] is x  # the graph can still be walked (and drawn)
    np.testing.assert_allclose(y.data, sigmoid(np.array([0.3, 0.4])))


def test_graph_is_freed_by_reference_counting_alone():
    gc.disable()
    try:
        x = Tensor(np.ones(3), requires_grad=True)
        y = (x * 2).sigmoid()
        node_ref = weakref.ref(y.grad_fn)
        output_ref = weakref.ref(y)
        del y
        assert output_ref() is None
        assert node_ref() is None
    finally:
        gc.enable()


def _identity_calling(hook):
    """An identity operation that saves its input and calls ``hook()`` in its backward."""

    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            hook()
            return g

    return Identity


def test_a_second_pass_through_a_graph_another_thread_is_running_is_refused():
    # thread A is inside the backward of `loss`; a second backward of the same graph must
    # not also succeed (it would add the gradient to .grad twice and free A's arrays)
    inside, proceed = threading.Event(), threading.Event()

    def wait_inside() -> None:
        inside.set()
        proceed.wait(timeout=10)

    Gate = _identity_calling(wait_inside)
    w = Tensor([1.0, 2.0], requires_grad=True)
    loss = Gate.apply(w * 3).sum()
    first: list[BaseException | None] = []

    def run_first() -> None:
        try:
            loss.backward()
            first.append(None)
        except BaseException as error:
            first.append(error)

    thread = threading.Thread(target=run_first)
    thread.start()
    assert inside.wait(timeout=10)
    try:
        with pytest.raises(GraphReleasedError, match="another backward pass"):
            loss.backward()
    finally:
        proceed.set()
        thread.join()
    assert first == [None]
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])  # one pass's gradient, not two
    with pytest.raises(GraphReleasedError, match="retain_graph=True"):
        loss.backward()  # and now the graph is freed, as after any backward


def test_a_pass_that_raised_leaves_the_graph_free_to_run_again():
    failures = [1]

    def fail_once() -> None:
        if failures.pop() if failures else 0:
            raise ValueError("not this time")

    FailsOnce = _identity_calling(fail_once)
    w = Tensor([1.0], requires_grad=True)
    loss = FailsOnce.apply(w * 2).sum()
    with pytest.raises(ValueError, match="not this time"):
        loss.backward()
    loss.backward()  # not refused as "running": the failed pass let go of the graph
    assert w.grad[0] == 2.0


# --------------------------------------------------------------------------- errors


def test_backward_on_a_non_scalar_without_gradient_is_an_error():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*gradient="):
        (x * 2).backward()
    assert x.grad is None


def test_gradient_argument_of_the_wrong_shape_is_an_error():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(gradient=np.ones(3))
    assert x.grad is None


def test_backward_on_a_tensor_without_graph_is_an_error():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        Tensor([1.0]).sum().backward()


def test_custom_backward_returning_a_wrong_shape_names_the_function():
    class Broken(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"Broken\.backward.*shape \(\).*shape \(2,\)"):
        Broken.apply(x).sum().backward()
    assert x.grad is None


# --------------------------------------------------------------------------- custom Function


class Cube(Function):
    """y = x³, ∂L/∂x = g · 3x²."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * 3 * x * x


@given(tst.arrays(tst.shapes()))
def test_user_defined_function_with_save_for_backward(x0):
    x = Tensor(x0, requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x0**2, rtol=1e-12, atol=1e-300)


def test_user_defined_function_has_second_derivatives_through_saved_inputs():
    # d²(x³)/dx² = 6x: possible only if the saved x is the graph's own tensor when recording
    x = Tensor([0.5, -1.5], requires_grad=True)
    (first,) = grad(Cube.apply(x).sum(), x, create_graph=True)
    (second,) = grad(first.sum(), x)
    np.testing.assert_allclose(second.data, 6 * np.array([0.5, -1.5]), rtol=1e-12)


def test_a_derived_saved_array_serves_a_first_derivative():
    x = Tensor([0.5, -1.5], requires_grad=True)
    CubeSavingItsSlope.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad, [0.75, 6.75], rtol=1e-12)  # 3x²


def test_a_derived_saved_array_is_refused_when_the_backward_is_recorded():
    # as a constant it would give d²(x³)/dx² = 0 (or 24 instead of 48 for a loss with
    # another factor of x): refused, naming the operation and what to do instead
    x = Tensor([0.5, -1.5], requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match=r"CubeSavingItsSlopeBackward: .*neither an input nor the output \(item 0.*"
        r"save_constants",
    ):
        grad(CubeSavingItsSlope.apply(x).sum(), x, create_graph=True)
    assert x.grad is None


def test_a_constant_by_design_is_saved_with_save_constants_and_stays_constant():
    class Clip(Function):
        """y = x where |x| < 1, else 0: ∂y/∂x = [|x| < 1], a constant mask."""

        @staticmethod
        def forward(ctx, x):
            mask = (np.abs(x) < 1).astype(x.dtype)
            ctx.save_constants(mask)
            return x * mask

        @staticmethod
        def backward(ctx, g):
            (mask,) = ctx.constants
            return g * mask

    x = Tensor([0.5, 2.0], requires_grad=True)
    (first,) = grad((Clip.apply(x) ** 2).sum(), x, create_graph=True)  # 2x·mask
    (second,) = grad(first.sum(), x)  # 2·mask
    np.testing.assert_array_equal(first.data, [1.0, 0.0])
    np.testing.assert_array_equal(second.data, [2.0, 0.0])


@pytest.mark.parametrize("method", ["save_for_backward", "save_constants"])
def test_a_second_save_call_is_refused_instead_of_dropping_the_first(method):
    class SavesTwice(Function):
        @staticmethod
        def forward(ctx, x):
            getattr(ctx, method)(x)
            getattr(ctx, method)(x)
            return x * 2

    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"SavesTwice.forward called ctx.{method} twice"):
        SavesTwice.apply(x)


class DoubleInPlace(Function):
    """y = 2x, with a backward that (wrongly) doubles its incoming gradient in place."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        g *= 2
        return g


def test_a_custom_backward_cannot_write_into_the_gradient_a_sibling_shares():
    # Add hands one array to both of its inputs: doubling it in place would turn
    # ∂(2x + x)/∂x = 3 into 4 in silence
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"DoubleInPlace.backward wrote into its incoming"):
        (DoubleInPlace.apply(x) + x).sum().backward()
    assert x.grad is None


def test_a_custom_backward_may_be_handed_a_numpy_scalar():
    # 0-d arrays multiply to numpy scalars: Exp's backward hands Cube one (found by the fuzzer)
    x = Tensor(0.5, requires_grad=True)
    Cube.apply(x).exp().backward()
    assert x.grad == pytest.approx(3 * 0.25 * np.exp(0.125), rel=1e-12)  # 3x²·e^(x³)


def test_the_built_in_operations_are_handed_the_gradient_as_it_is():
    # exempt from the read-only view: exactly the operations functions.py defines (and
    # registers), not one registered later by a user
    built_in = {
        f
        for f in vars(functions).values()
        if isinstance(f, type) and issubclass(f, Function) and f.__module__ == functions.__name__
    }
    assert built_in == {
        info.function
        for info in registry.REGISTRY.values()
        if info.function.__module__ == functions.__name__
    }
    assert all(policies.is_built_in(f) for f in built_in)
    assert not policies.is_built_in(DoubleInPlace)

    class SubclassOfABuiltIn(functions.Sigmoid):  # a user's backward: read-only again
        pass

    assert not policies.is_built_in(SubclassOfABuiltIn)


def test_options_are_stored_on_ctx():
    class Scale(Function):
        @staticmethod
        def forward(ctx, x, factor=1.0):
            ctx.factor = factor
            return x * factor

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor

    x = Tensor([1.0, 2.0], requires_grad=True)
    Scale.apply(x, factor=2.5).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.5, 2.5])


# --------------------------------------------------------------------------- grad()


def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (gx,) = grad((x * x).sum(), x)
    np.testing.assert_array_equal(gx.data, [2.0, 4.0])
    assert x.grad is None


def test_grad_of_an_intermediate_tensor():
    x = Tensor([1.0, 2.0], requires_grad=True)
    hidden = x * 3
    (g_hidden, g_x) = grad((hidden * hidden).sum(), [hidden, x])
    np.testing.assert_array_equal(g_hidden.data, 2 * np.array([3.0, 6.0]))
    np.testing.assert_array_equal(g_x.data, 2 * 9 * np.array([1.0, 2.0]))


def test_grad_of_an_unused_input_is_an_error_unless_allowed():
    x = Tensor([1.0], requires_grad=True)
    unused = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="allow_unused=True"):
        grad((x * 2).sum(), [x, unused])
    gx, gu = grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_array_equal(gx.data, [2.0])


@given(tst.arrays(tst.shapes()))
def test_second_derivative_of_sigmoid_is_the_closed_form(x0):
    # σ'' = σ(1 − σ)(1 − 2σ)
    x = Tensor(x0, requires_grad=True)
    (first,) = grad(x.sigmoid().sum(), x, create_graph=True)
    np.testing.assert_allclose(first.data, sigmoid(x0) * (1 - sigmoid(x0)), rtol=1e-12)
    (second,) = grad(first.sum(), x)
    s = sigmoid(x0)
    np.testing.assert_allclose(second.data, s * (1 - s) * (1 - 2 * s), rtol=1e-10, atol=1e-15)


def test_hessian_vector_product_matches_the_hessian():
    # f(x) = Σ tanh(A x) · c, H v by double backward vs the closed-form Hessian
    rng = np.random.default_rng(0)
    a0, c0 = rng.normal(size=(3, 4)), rng.normal(size=3)
    x0, v0 = rng.normal(size=4), rng.normal(size=4)
    x = Tensor(x0, requires_grad=True)
    (g,) = grad(((Tensor(a0) @ x).tanh() * c0).sum(), x, create_graph=True)
    (hv,) = grad((g * v0).sum(), x)
    t = np.tanh(a0 @ x0)
    hessian = a0.T @ np.diag(c0 * -2 * t * (1 - t**2)) @ a0  # d²tanh = −2·tanh·(1 − tanh²)
    np.testing.assert_allclose(hv.data, hessian @ v0, rtol=1e-10)


def test_grad_with_create_graph_keeps_the_graph_for_another_pass():
    x = Tensor([0.2], requires_grad=True)
    y = x.tanh().sum()
    grad(y, x, create_graph=True)
    (again,) = grad(y, x)  # retain_graph defaulted to create_graph
    np.testing.assert_allclose(again.data, 1 - np.tanh(0.2) ** 2)


def test_third_derivative_of_exp_is_exp():
    x = Tensor([0.3, 1.1], requires_grad=True)
    (d1,) = grad(x.exp().sum(), x, create_graph=True)
    (d2,) = grad(d1.sum(), x, create_graph=True)
    (d3,) = grad(d2.sum(), x)
    np.testing.assert_allclose(d3.data, np.exp([0.3, 1.1]), rtol=1e-12)


def test_grad_with_create_graph_returns_each_gradient_in_its_inputs_dtype():
    # L = Σ x²·w with x float32, w float64: ∂L/∂x = 2xw = [6, 16] (by hand), float32 as
    # .grad and grad() without create_graph give it; and it can be differentiated again
    x = Tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    w = Tensor([3.0, 4.0], requires_grad=True)
    (first,) = grad((x * x * w).sum(), x, create_graph=True)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first.data, [6.0, 16.0])
    (second,) = grad(first.sum(), x)  # Σ ∂L/∂x differentiated: 2w
    assert second.dtype == np.float32
    np.testing.assert_array_equal(second.data, [6.0, 8.0])


# --------------------------------------------------------------------------- in place and versions


def test_in_place_update_of_a_parameter_in_grad_mode_is_refused_and_changes_nothing():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    (w * w).sum().backward()
    before = w
    with pytest.raises(RuntimeError, match=r"-=: Tensor 'w' is a leaf.*no_grad.*\.data.*optim"):
        w -= 0.1 * w.grad
    assert w is before and w.is_leaf and w.version == 0
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_in_place_update_under_no_grad_changes_the_leaf_itself():
    w = Tensor([1.0, 2.0], requires_grad=True)
    array = w.data
    with no_grad():
        w -= Tensor([0.5, 0.5])
        w *= 2
        w /= 4
        w += 1
    assert w.is_leaf and w.requires_grad and w.data is array
    np.testing.assert_array_equal(w.data, [1.25, 1.75])  # ((1 − .5)·2/4 + 1, (2 − .5)·2/4 + 1)
    assert w.version == 4


def test_loss_accumulated_with_plus_equals_gives_the_sum_and_its_gradient():
    # L = Σₖ (k·w)² for k = 1, 2, 3 = 14 w², so dL/dw = 28 w (by hand)
    w = Tensor([0.5, -1.0], requires_grad=True)
    loss = Tensor(0.0)
    for k in (1.0, 2.0, 3.0):
        loss += ((k * w) * (k * w)).sum()
    assert loss.item() == pytest.approx(14 * (0.25 + 1.0))
    assert loss.grad_fn is not None and not loss.is_leaf
    loss.backward()
    np.testing.assert_allclose(w.grad, 28 * w.data)


def test_micrograds_c_plus_equals_c_plus_1_rebases_c_as_pytorch_does():
    # c = 2a, then c += c + 1 makes c = 4a + 1: dc/da = 4 (PyTorch gives the same)
    a = Tensor([-4.0, 3.0], requires_grad=True)
    c = a * 2
    before = c
    c += c + 1
    assert c is before  # the same tensor, changed in place, with a new history
    np.testing.assert_array_equal(c.data, [-15.0, 13.0])
    assert c.grad_fn.name == "AddBackward" and c.version == 1
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, [4.0, 4.0])


def test_earlier_uses_of_a_rebased_tensor_keep_its_old_history():
    # z = y + 3 was recorded before y *= 2: ∂z/∂w stays 2 (y's old history: y = 2w), and
    # the new y = 4w has ∂y/∂w = 4
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    z = y + 3
    y *= 2
    (z.sum() + 10 * y.sum()).backward()
    np.testing.assert_array_equal(w.grad, [2.0 + 40.0, 2.0 + 40.0])


def test_an_earlier_use_that_saved_the_old_values_is_refused_by_the_version_counter():
    # z = y · y saved y's values; after y *= 2 they are gone: backward refuses, as in PyTorch
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    z = y * y
    y *= 2
    with pytest.raises(
        RuntimeError, match=r"MulBackward: its input 0 .* version 0 .* now at version 1"
    ):
        z.sum().backward()
    assert w.grad is None


def test_in_place_that_needs_its_own_old_values_keeps_a_copy_of_them():
    # y = 2w; y *= y makes y = 4w²: dy/dw = 8w, from the old y the multiplication saved
    w = Tensor([1.0, -3.0], requires_grad=True)
    y = w * 2
    y *= y
    np.testing.assert_array_equal(y.data, [4.0, 36.0])
    y.sum().backward()
    np.testing.assert_array_equal(w.grad, [8.0, -24.0])


def test_an_alias_of_a_rebased_tensor_is_the_same_tensor():
    w = Tensor([1.0], requires_grad=True)
    c = w * 3
    d = c
    c += 1
    assert d is c and d.data[0] == 4.0
    d.backward()
    assert w.grad[0] == 3.0


def test_in_place_on_a_computed_tensor_with_a_view_in_the_graph_is_refused():
    # the view's values would change without its history: refused, nothing changed
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    v = y.reshape(2, 1)
    with pytest.raises(RuntimeError, match=r"\+=: Tensor shares its memory with a view"):
        y += 1
    np.testing.assert_array_equal(y.data, [2.0, 4.0])
    assert y.version == 0 and v.grad_fn.name == "ReshapeBackward"


def test_in_place_with_an_operand_that_requires_grad_brings_a_constant_into_the_graph():
    # x = [1] then x *= w: x = w, so dx/dw = 1 (PyTorch: x becomes a non-leaf, MulBackward)
    x, w = Tensor([1.0]), Tensor([2.0], requires_grad=True, name="w")
    x *= w
    assert x.requires_grad and x.grad_fn.name == "MulBackward" and x.data[0] == 2.0
    x.backward()
    assert w.grad[0] == 1.0
    y = Tensor([1.0])
    y *= 3  # a constant times a constant stays a constant
    assert y.data[0] == 3.0 and y.version == 1 and y.grad_fn is None


def test_in_place_that_would_change_the_shape_or_dtype_is_refused_and_changes_nothing():
    x, labels = Tensor([1.0, 2.0]), Tensor([1, 2], dtype=np.int64)
    with pytest.raises(ValueError, match=r"\+=: the result has shape \(2, 2\)"):
        x += Tensor([[1.0], [2.0]])
    with pytest.raises(TypeError, match=r"\+=: the result has dtype float64.*int64"):
        labels += 0.5
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    np.testing.assert_array_equal(labels.data, [1, 2])
    assert x.version == 0 and labels.version == 0


def test_a_saved_input_changed_after_the_forward_is_refused_by_backward():
    # d(w·w)/dw = 2w = 2 at w = 1; with w.data += 10 after the forward, the saved arrays
    # would give 2·11 = 22 in silence
    w = Tensor([1.0], requires_grad=True, name="w")
    loss = (w * w).sum()
    w.data += 10
    with pytest.raises(
        RuntimeError,
        match=r"MulBackward: its input 0 \(Tensor 'w'.*at version 0 but is now at version 1",
    ):
        loss.backward()
    assert w.grad is None


def test_a_saved_output_changed_under_no_grad_is_refused_by_backward():
    x = Tensor([0.5], requires_grad=True)
    y = x.exp()
    loss = (y + 3).sum()  # Add saves nothing: only ExpBackward holds y
    with no_grad():
        y += 1
    with pytest.raises(
        RuntimeError, match=r"ExpBackward: its output.*at version 0 but is now at version 1"
    ):
        loss.backward()


def test_an_optimizer_step_between_forward_and_backward_is_refused():
    from tinygrad_edu.optim import SGD

    w = Tensor([[1.0, 2.0]], requires_grad=True, name="w")
    w.grad = np.ones((1, 2))
    loss = (Tensor([[1.0, 1.0]]) @ w.T).sum()  # MatMul saves the view w.T, not w
    SGD([w], lr=0.1).step()
    with pytest.raises(
        RuntimeError, match=r"MatMulBackward: its input 1.*at version 0 but is now at version 1"
    ):
        loss.backward()


def test_views_and_detached_tensors_share_the_version_of_their_memory():
    w = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    views = [w.T, w.reshape(6), w[0], w.detach()]
    with no_grad():
        w *= 2
    assert [v.version for v in views] == [1, 1, 1, 1]
    with no_grad():
        views[1] += 1  # a change through a view is a change to w
    assert w.version == 2
    fancy = w[[0, 1]]  # advanced indexing copies: its own version
    with no_grad():
        w += 1
    assert fancy.version == 0


def test_backward_after_a_change_that_was_undone_by_assigning_data_is_still_refused():
    # the counter counts changes, not values: the conservative answer
    w = Tensor([1.0], requires_grad=True)
    loss = (w * w).sum()
    original = w.data
    w.data = original + 1
    w.data = original
    with pytest.raises(RuntimeError, match=r"at version 0 or earlier but is now at version 2"):
        loss.backward()


# --------------------------------------------------------------------------- grad mode


def test_no_grad_records_nothing():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad


def test_enable_grad_inside_no_grad_records_again():
    x = Tensor([1.0], requires_grad=True)
    with no_grad(), enable_grad():
        y = x * 2
    assert y.requires_grad


def test_no_grad_as_decorator_and_restores_the_mode():
    @no_grad()
    def double(t):
        assert not is_grad_enabled()
        return t * 2

    x = Tensor([1.0], requires_grad=True)
    assert not double(x).requires_grad
    assert is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError), no_grad():
        1 / 0  # noqa: B018
    assert is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    entered, release = threading.Event(), threading.Event()

    def other_thread():
        entered.wait()
        seen.append(is_grad_enabled())
        release.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with no_grad():
        entered.set()
        release.wait()
        assert not is_grad_enabled()
    worker.join()
    assert seen == [True]


def test_one_no_grad_instance_shared_by_two_threads_restores_each_threads_mode():
    # thread A enters with grad on, thread B with grad off; A leaves first. With one stack
    # for the instance A would get B's "off" back.
    shared = no_grad()
    a_inside, b_inside, a_left = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        with shared:
            a_inside.set()
            b_inside.wait()
        seen["a"] = is_grad_enabled()
        a_left.set()

    def thread_b():
        a_inside.wait()
        with no_grad():
            with shared:
                b_inside.set()
                a_left.wait()
            seen["b inside no_grad"] = is_grad_enabled()
        seen["b"] = is_grad_enabled()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": True, "b inside no_grad": False, "b": True}


# --------------------------------------------------------------------------- anomaly


def test_detect_anomaly_names_the_operation_and_its_forward_line():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly(), np.errstate(divide="ignore"):
        y = x.log()  # ∂ log x / ∂x = 1/x: inf at 0
        with pytest.raises(FloatingPointError, match=r"(?s)Log\.backward.*test_engine\.py"):
            y.sum().backward()
    assert x.grad is None


def test_without_detect_anomaly_inf_gradients_pass_silently():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        x.log().sum().backward()
    assert np.isinf(x.grad[0])


# --------------------------------------------------------------------------- finite differences


def test_numerical_gradient_matches_a_hand_derivative():
    # f(a, b) = a²·b: ∂f/∂a = 2ab = 12, ∂f/∂b = a² = 4 at (2, 3)
    da, db = numerical_gradient(lambda a, b: a * a * b, np.array(2.0), np.array(3.0))
    assert da == pytest.approx(12.0, rel=1e-8)
    assert db == pytest.approx(4.0, rel=1e-8)


def test_numerical_gradient_restores_its_inputs():
    x = Tensor([1.0, 2.0], requires_grad=True)
    before = x.data
    numerical_gradient(lambda t: (t * t).sum(), x)
    assert x.data is before
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_numerical_gradient_refuses_float32_and_non_scalar_outputs():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda t: t.sum(), Tensor([1.0], dtype=np.float32))
    with pytest.raises(ValueError, match="one number"):
        numerical_gradient(lambda t: t * 2, np.array([1.0, 2.0]))


def test_a_backward_that_raises_changes_nothing_and_can_be_retried():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        y = (x.log() * 2).sum()
        with detect_anomaly(), pytest.raises(FloatingPointError):
            y.backward()
        assert x.grad is None
        y.backward()  # the failed pass released nothing
    assert np.isinf(x.grad[0]) and x.grad[1] == 2.0


@given(tst.networks())
def test_random_sigmoid_networks_match_finite_differences(network):
    weights = [Tensor(w, requires_grad=True) for w in network.weights]
    network.loss(*weights).backward()
    numeric = numerical_gradient(network.loss, *network.weights)
    for w, expected in zip(weights, numeric, strict=True):
        np.testing.assert_allclose(w.grad, expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("scale", [np.float32(2.0), np.int64(2), 2, 2.0, np.array(2.0)])
def test_grad_accepts_a_number_or_numpy_scalar_as_grad_outputs(scale):
    x = Tensor(1.5, requires_grad=True)
    (g,) = grad(x * x, x, grad_outputs=scale)
    assert g.item() == pytest.approx(2 * 1.5 * 2.0)


def test_grad_of_a_100000_node_chain_with_respect_to_its_input():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    (g,) = grad(y, x)
    assert g.item() == 1.0


def test_grad_of_the_same_output_twice_sums_both():
    x = Tensor([0.3, -1.2], requires_grad=True)
    y = (x * x).sum()
    (g,) = grad([y, y], x)
    np.testing.assert_allclose(g.data, 2 * 2 * x.data)


def test_grad_with_respect_to_an_intermediate_runs_and_frees_only_the_part_above_it():
    x = Tensor([0.5, 2.0], requires_grad=True)
    h = x * x
    loss = h.sigmoid().sum()
    (g_h,) = grad(loss, h)
    s = sigmoid(np.array([0.25, 4.0]))
    np.testing.assert_allclose(g_h.data, s * (1 - s))
    assert not h.grad_fn.released  # the part below h was not run, so it can still be used
    h.backward(gradient=np.ones(2))
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_graph_tensors_lists_each_tensor_of_a_diamond_once_root_first_inputs_in_order():
    x = Tensor([1.0], requires_grad=True, name="x")
    a = (x * 2).sigmoid()
    b = x.exp()
    y = a + b  # x reaches y twice, through a and through b
    walk = graph_tensors(y)
    assert walk[0] is y and walk[1] is a  # depth first, the first input first
    assert [id(t) for t in walk].count(id(x)) == 1
    assert {id(t) for t in walk} == {id(t) for t in (y, a, a.grad_fn.inputs[0], x, b)} | {
        id(a.grad_fn.inputs[0].grad_fn.inputs[1])  # the constant 2
    }


def test_a_detached_operand_is_a_constant_to_a_recorded_backward():
    # f = Σ x·stop(x): ∂f/∂x = stop(x), which no longer depends on x, so the recorded
    # gradient must not pass the detached operand off as x itself.
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = grad((x * x.detach()).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [1.0, 2.0, 3.0])
    assert not g.requires_grad


def test_grad_prunes_a_diamond_whose_paths_reach_the_target_at_different_depths():
    # y = σ(a)·a + a with a = 2x: the target a is reached directly and through σ, so the
    # pruning must see both paths whatever order the graph walk found the nodes in.
    x = Tensor([0.3, -1.2], requires_grad=True)
    a = x * 2
    y = (a.sigmoid() * a + a).sum()
    (g_a, g_x) = grad(y, [a, x])
    s = sigmoid(2 * x.data)
    dy_da = s * (1 - s) * 2 * x.data + s + 1
    np.testing.assert_allclose(g_a.data, dy_da)
    np.testing.assert_allclose(g_x.data, 2 * dy_da)


def test_no_grad_works_bare_nested_and_on_generators():
    x = Tensor([1.0], requires_grad=True)

    @no_grad
    def bare(t):
        return t * 2

    assert not bare(x).requires_grad

    @no_grad()
    def doubles(t):
        yield t * 2
        yield t * 3

    assert [y.requires_grad for y in doubles(x)] == [False, False]
    switch = no_grad()
    with switch:
        with switch:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_anomaly_without_a_recorded_forward_says_how_to_see_it():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        y = x.log().sum()
        with detect_anomaly(), pytest.raises(FloatingPointError, match="outside detect_anomaly"):
            y.backward()


def test_a_node_can_be_copied_without_recursion():
    # copy probes optional dunder methods; the node's own __getattr__ must not recurse
    import copy

    x = Tensor([1.0, 2.0], requires_grad=True)
    node = (x * 2).grad_fn
    for duplicate in (copy.copy(node), copy.deepcopy(node)):
        assert duplicate.function is node.function
    with pytest.raises(AttributeError, match=r"forward must set ctx\.axis"):
        _ = node.axis


def test_grad_of_an_output_with_respect_to_itself_is_the_grad_output():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    (g,) = grad(y, y, grad_outputs=np.array([0.5, -1.0]))
    np.testing.assert_array_equal(g.data, [0.5, -1.0])


def test_anomaly_blames_a_non_finite_starting_gradient_on_itself():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(FloatingPointError, match="start backward"):
        (x * 2).sum().backward(gradient=np.nan)
    assert x.grad is None


def test_saved_sources_say_where_each_saved_array_came_from():
    class SavesADerivedArray(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 2 * x)
            return 3 * x

        @staticmethod
        def backward(ctx, g):
            _, twice = ctx.saved
            return g * twice * 1.5  # 3

    a = Tensor([1.0, 0.0], requires_grad=True)
    b = Tensor([2.0, 3.0], requires_grad=True)
    assert (a * b).grad_fn.saved_sources == (0, 1)  # Mul keeps both inputs
    assert a.sigmoid().grad_fn.saved_sources == ("output",)  # σ′ = y(1 − y)
    assert a.relu().grad_fn.saved_sources == ("constant",)  # the mask [x > 0]
    # Pow: the base, the exponent, the result, and the two masks for a = 0
    assert (a**b).grad_fn.saved_sources == (0, 1, "output", "constant", "constant")
    y = SavesADerivedArray.apply(a)
    assert y.grad_fn.saved_sources == (0, "derived")
    y.sum().backward()
    assert y.grad_fn.released and y.grad_fn.saved_sources == (0, "derived")  # still known


def test_graph_tensors_follows_the_graph_as_recorded_even_after_an_input_is_rebased():
    # y = x·2 is recorded, then x's own history changes in place (x += 1 rebases it): the
    # walk from y still finds y's graph as it was, x · 2, not the addition made after it
    w = Tensor([1.0], requires_grad=True, name="w")
    x = w * 3
    y = x * 2
    x += 1
    walk = graph_tensors(y)
    # y, x, w, the constants 3 and 2: not x's new addition nor the old-x it records
    assert len(walk) == 5 and walk[0] is y and walk[1] is x
    assert any(t is w for t in walk)
    assert not any(t is x.grad_fn.inputs[0] for t in walk)


def test_a_copy_kept_for_an_in_place_backward_is_not_refused_by_later_changes():
    # y = 2w; y *= y keeps the old y (2w) for its backward; a later y += 1 changes y again
    # but not that copy: d(4w² + 1)/dw = 8w, no version error
    w = Tensor([1.0, -3.0], requires_grad=True)
    y = w * 2
    y *= y
    y += 1
    y.sum().backward()
    np.testing.assert_array_equal(w.grad, [8.0, -24.0])


def test_a_custom_forwards_own_value_error_keeps_its_cause():
    class Refuses(Function):
        @staticmethod
        def forward(ctx, x):
            try:
                int("not a number")
            except ValueError as cause:
                raise ValueError("refuses: bad input") from cause

    with pytest.raises(ValueError, match=r"^refuses: bad input$") as info:
        Refuses.apply(Tensor([1.0]))
    assert isinstance(info.value.__cause__, ValueError)  # the user's chain is intact


def test_numpys_broadcast_error_is_named_by_the_operation():
    with pytest.raises(ValueError, match=r"^add: shapes \(2,\) and \(3,\) do not broadcast"):
        Tensor([1.0, 2.0]) + Tensor([1.0, 2.0, 3.0])
