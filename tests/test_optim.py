"""Optimizers against hand-computed updates: PyTorch's SGD (momentum, dampening, nesterov,
weight decay) and Adam, several steps each; state per parameter; dtype; bad input raising
before anything changes; and gradient descent reaching the least-squares solution.

Every expected value comes from the update rule written out again here in plain numpy, or
from a hand calculation with literal numbers in a comment, never from optim.py itself.
"""

import itertools

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_edu import Tensor
from tinygrad_edu.optim import SGD, Adam
from tinygrad_edu.testing import strategies as tst

STEPS = 5


# --------------------------------------------------------------------------- references


def sgd_reference(w0, gradients, lr, momentum=0.0, dampening=0.0, nesterov=False, wd=0.0):
    """PyTorch's SGD rule, one line per equation of its documentation:
    d = g + wd·w; b = d at the first step, then μ·b + (1 − dampening)·d;
    d = d + μ·b (nesterov) or b; w ← w − lr·d."""
    w, buffer, trajectory = w0.copy(), None, []
    for g in gradients:
        d = g + wd * w
        if momentum != 0:
            buffer = d.copy() if buffer is None else momentum * buffer + (1 - dampening) * d
            d = d + momentum * buffer if nesterov else buffer
        w = w - lr * d
        trajectory.append(w)
    return trajectory


def adam_reference(w0, gradients, lr, betas=(0.9, 0.999), eps=1e-8, wd=0.0, start_from=None):
    """Kingma & Ba's Algorithm 1, textbook form (with L2 weight decay added to g):
    m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ),
    w ← w − lr·m̂/(√v̂ + eps).

    Returns the trajectory and, per step, the size |w| + |step| of what was added. With
    ``start_from`` (a trajectory), step t starts from its weights after step t − 1 instead
    of the reference's own: one step of the formulas from the same place."""
    beta1, beta2 = betas
    w, m, v, trajectory, sizes = w0.copy(), np.zeros_like(w0), np.zeros_like(w0), [], []
    for t, g in enumerate(gradients, start=1):
        if start_from is not None and t > 1:
            w = start_from[t - 2]
        g = g + wd * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        step = lr * m_hat / (np.sqrt(v_hat) + eps)
        sizes.append(np.abs(w) + np.abs(step))
        w = w - step
        trajectory.append(w)
    return trajectory, sizes


def run_with_gradients(optimizer_class, w0, gradients, **options):
    """Feed a fixed sequence of gradients through ``.grad``; the trajectory of the weights."""
    w = Tensor(w0, requires_grad=True)
    optimizer = optimizer_class([w], **options)
    trajectory = []
    for g in gradients:
        w.grad = g.copy()
        optimizer.step()
        trajectory.append(w.data.copy())
    return trajectory


@st.composite
def weights_and_gradients(draw, steps=STEPS, domain="real"):
    shape = draw(tst.shapes(max_dims=2))
    w0 = draw(tst.arrays(shape))
    gradients = [draw(tst.arrays(shape, domain=domain)) for _ in range(steps)]
    return w0, gradients


@st.composite
def sgd_options(draw):
    nesterov = draw(st.booleans())
    momentum = draw(st.floats(0.01 if nesterov else 0.0, 0.99))
    return {
        "lr": draw(st.floats(0.0, 1.0)),
        "momentum": momentum,
        "dampening": 0.0 if nesterov else draw(st.floats(0.0, 1.0)),
        "nesterov": nesterov,
        "weight_decay": draw(st.floats(0.0, 0.5)),
    }


@st.composite
def adam_options(draw, weight_decay=True):
    return {
        "lr": draw(st.floats(1e-4, 1.0)),
        "betas": (draw(st.floats(0.0, 0.99)), draw(st.floats(0.0, 0.9999))),
        "eps": draw(st.sampled_from([1e-8, 1e-6, 1e-3])),
        "weight_decay": draw(st.sampled_from([0.0, 0.01, 0.3])) if weight_decay else 0.0,
    }


def assert_trajectories_equal(actual, expected):
    for step, (a, e) in enumerate(zip(actual, expected, strict=True), start=1):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-13, err_msg=f"step {step}")


# --------------------------------------------------------------------------- SGD by hand


def _sgd_three_steps(**options):
    # w = 1.0 and a constant gradient 0.5 (the loss 0.5·w), lr = 0.1
    w = Tensor([1.0], requires_grad=True)
    optimizer = SGD([w], lr=0.1, **options)
    values = []
    for _ in range(3):
        optimizer.zero_grad()
        (0.5 * w).sum().backward()
        optimizer.step()
        values.append(w.item())
    return values


def test_plain_sgd_three_steps_by_hand():
    # w ← w − 0.1·0.5 = w − 0.05: 0.95, 0.90, 0.85
    assert _sgd_three_steps() == pytest.approx([0.95, 0.90, 0.85], rel=1e-14)


def test_sgd_momentum_three_steps_by_hand():
    # μ = 0.9. step 1: b = g = 0.5,              w = 1 − 0.1·0.5      = 0.95
    #          step 2: b = 0.9·0.5 + 0.5 = 0.95,  w = 0.95 − 0.1·0.95  = 0.855
    #          step 3: b = 0.9·0.95 + 0.5 = 1.355, w = 0.855 − 0.1355  = 0.7195
    assert _sgd_three_steps(momentum=0.9) == pytest.approx([0.95, 0.855, 0.7195], rel=1e-14)


def test_sgd_nesterov_three_steps_by_hand():
    # μ = 0.9, d = g + μ·b. step 1: b = 0.5,   d = 0.5 + 0.45   = 0.95,   w = 0.905
    #                       step 2: b = 0.95,  d = 0.5 + 0.855  = 1.355,  w = 0.7695
    #                       step 3: b = 1.355, d = 0.5 + 1.2195 = 1.7195, w = 0.59755
    values = _sgd_three_steps(momentum=0.9, nesterov=True)
    assert values == pytest.approx([0.905, 0.7695, 0.59755], rel=1e-14)


def test_sgd_dampening_scales_later_gradients_but_not_the_first():
    # μ = 0.9, dampening 0.5. step 1: b = g = 0.5 (no dampening), w = 0.95
    #                         step 2: b = 0.45 + 0.5·0.5 = 0.7,   w = 0.95 − 0.07  = 0.88
    #                         step 3: b = 0.63 + 0.25   = 0.88,   w = 0.88 − 0.088 = 0.792
    values = _sgd_three_steps(momentum=0.9, dampening=0.5)
    assert values == pytest.approx([0.95, 0.88, 0.792], rel=1e-14)


def test_sgd_weight_decay_adds_decay_times_weight_to_the_gradient():
    # wd = 0.1. step 1: d = 0.5 + 0.1·1    = 0.6,   w = 1 − 0.06      = 0.94
    #           step 2: d = 0.5 + 0.1·0.94 = 0.594, w = 0.94 − 0.0594 = 0.8806
    #           step 3: d = 0.5 + 0.08806  = 0.58806, w = 0.8806 − 0.058806 = 0.821794
    values = _sgd_three_steps(weight_decay=0.1)
    assert values == pytest.approx([0.94, 0.8806, 0.821794], rel=1e-14)


# --------------------------------------------------------------------------- SGD vs numpy


@given(weights_and_gradients(), sgd_options())
def test_sgd_trajectory_matches_the_numpy_update_rule(case, options):
    w0, gradients = case
    actual = run_with_gradients(SGD, w0, gradients, **options)
    expected = sgd_reference(
        w0,
        gradients,
        options["lr"],
        options["momentum"],
        options["dampening"],
        options["nesterov"],
        options["weight_decay"],
    )
    assert_trajectories_equal(actual, expected)


def test_sgd_on_a_quadratic_loss_matches_numpy_with_gradients_from_backward():
    # L = ½‖Aw − b‖², ∇L = Aᵀ(Aw − b): the gradient depends on w, so every step counts
    rng = np.random.default_rng(0)
    A, b, w0 = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    for options in [
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1},
    ]:
        w = Tensor(w0, requires_grad=True)
        optimizer = SGD([w], lr=0.05, **options)
        w_ref, buffer = w0.copy(), None
        mu = options["momentum"]
        for _ in range(STEPS):
            optimizer.zero_grad()
            residual = Tensor(A) @ w - Tensor(b)
            (0.5 * (residual * residual).sum()).backward()
            optimizer.step()

            d = A.T @ (A @ w_ref - b) + options.get("weight_decay", 0.0) * w_ref
            dampening = options.get("dampening", 0.0)
            buffer = d.copy() if buffer is None else mu * buffer + (1 - dampening) * d
            d = d + mu * buffer if options.get("nesterov") else buffer
            w_ref = w_ref - 0.05 * d
            np.testing.assert_allclose(w.data, w_ref, rtol=1e-12, atol=1e-14, err_msg=options)


def test_sgd_does_not_modify_the_gradient_it_reads():
    w = Tensor([1.0, -2.0], requires_grad=True)
    optimizer = SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    g = np.array([0.3, 0.4])
    w.grad = g.copy()
    optimizer.step()
    optimizer.step()
    np.testing.assert_array_equal(w.grad, g)


@given(
    st.integers(1, 300),
    st.integers(1, 900),
    st.sampled_from(["float64", "float32"]),
    st.floats(1e-4, 2.0),
    st.integers(0, 99),
)
@example(200, 784, "float64", 0.01, 0)  # the book's hidden layer: 10 blocks of 20 rows
@example(3, 20000, "float32", 0.5, 1)  # rows longer than a block: one row at a time
def test_sgd_updates_large_weights_block_by_block_to_exactly_w_minus_lr_g(
    height, width, dtype, lr, seed
):
    """SGD writes lr·g a block of rows at a time, never whole: element by element the same
    two roundings as numpy's w − lr·g on the whole arrays, so the same numbers, exactly."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=(height, width)).astype(dtype)
    g = rng.normal(size=(height, width)).astype(dtype)
    w = Tensor(w0, requires_grad=True)
    w.grad = g.copy()
    SGD([w], lr=lr).step()
    np.testing.assert_array_equal(w.data, w0 - lr * g)
    np.testing.assert_array_equal(w.grad, g)  # the gradient read is left alone
    assert w.version == 1


# --------------------------------------------------------------------------- Adam


def test_adam_two_steps_by_hand():
    # w = 1, constant g = 0.5, lr = 0.1, β = (0.9, 0.999), eps = 1e-8.
    # step 1: m = 0.05, v = 0.00025, m̂ = 0.05/0.1 = 0.5, v̂ = 0.00025/0.001 = 0.25,
    #         w = 1 − 0.1·0.5/(0.5 + 1e-8) = 1 − 0.1/(1 + 2e-8) ≈ 0.900000002
    # step 2: m = 0.045 + 0.05 = 0.095, m̂ = 0.095/0.19 = 0.5;
    #         v = 0.00024975 + 0.00025 = 0.00049975, v̂ = 0.00049975/0.001999 = 0.25,
    #         w ≈ 0.900000002 − 0.099999998 = 0.800000004
    w = Tensor([1.0], requires_grad=True)
    optimizer = Adam([w], lr=0.1)
    values = []
    for _ in range(2):
        optimizer.zero_grad()
        (0.5 * w).sum().backward()
        optimizer.step()
        values.append(w.item())
    assert values == pytest.approx([0.900000002, 0.800000004], rel=1e-12)


@given(weights_and_gradients(), adam_options())
@example(  # whole trajectories differed by 1.8e-11 relative at step 4 here
    (np.array(0.0), [np.array(0.0), np.array(1.0), np.array(0.0), np.array(0.0), np.array(0.0)]),
    {"lr": 1.0, "betas": (1e-08, 0.0), "eps": 1e-08, "weight_decay": 0.01},
)
def test_adam_trajectory_matches_the_textbook_formulas(case, options):
    # Step by step, from the same weights. Both sides compute one step with a handful of
    # roundings in different orders (PyTorch's lr/(1 − β₁ᵗ)·m/(√v/√(1 − β₂ᵗ) + eps) against
    # the textbook's lr·m̂/(√v̂ + eps)), so they differ by a few ulps of |w| + |step|: the
    # bound is 1e-12 of that, not of the result, which cancels (w − step ≈ 0 is common).
    # A whole trajectory could not be held to that: with weight decay g = ∂L/∂w + λw ties
    # the next step to this one's rounding, and where |g| ≈ eps (β₂ = 0 makes √v̂ = |g|)
    # the step lr·g/(|g| + eps) changes by lr/eps per unit of g — one ulp of w becomes 1e-10
    # relative a few steps later (betas (0.99, 0.0) did that). That is the dynamics'
    # sensitivity, not an error of either side.
    w0, gradients = case
    actual = run_with_gradients(Adam, w0, gradients, **options)
    expected, sizes = adam_reference(
        w0,
        gradients,
        options["lr"],
        options["betas"],
        options["eps"],
        options["weight_decay"],
        start_from=actual,
    )
    for step, (a, e, size) in enumerate(zip(actual, expected, sizes, strict=True), start=1):
        assert np.all(np.abs(a - e) <= 1e-12 * size), f"step {step}: {a} against {e}"


@given(
    weights_and_gradients(steps=1, domain="nonzero"),
    st.floats(1e-4, 1.0),
    st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_adam_first_step_moves_each_weight_by_lr_times_sign_of_gradient(case, lr, scale):
    # t = 1: m̂ = g and v̂ = g², so the step is lr·g/(|g| + eps) ≈ lr·sign(g), whatever g's
    # size; the relative gap eps/|g| is at most 1e-8 / 5e-4 = 2e-5 here (|g| ≥ 0.5·1e-3)
    w0, (g,) = case
    (w1,) = run_with_gradients(Adam, w0, [scale * g], lr=lr)
    np.testing.assert_allclose(w1 - w0, -lr * np.sign(g), rtol=3e-5, atol=1e-12)


def test_adam_weight_decay_moves_a_weight_whose_loss_gradient_is_zero():
    # g = 0, wd = 0.1: the decayed gradient is 0.1·w, and the first step is lr·sign(w):
    # w = 2 → 2 − 0.1 = 1.9 and w = −2 → −1.9 (without decay nothing would move)
    w = Tensor([2.0, -2.0], requires_grad=True)
    optimizer = Adam([w], lr=0.1, weight_decay=0.1)
    w.grad = np.zeros(2)
    optimizer.step()
    np.testing.assert_allclose(w.data, [1.9, -1.9], rtol=1e-7)
    w.grad = np.zeros(2)
    Adam([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [1.9, -1.9], rtol=1e-7)


def test_adam_counts_steps_per_parameter():
    # b gets its first gradient at the 4th step: its bias correction must use t = 1
    # (a step of ≈ lr·sign(g)), not t = 4, as in PyTorch
    a = Tensor([1.0], requires_grad=True)
    b = Tensor([1.0], requires_grad=True)
    optimizer = Adam([a, b], lr=0.1)
    for _ in range(3):
        a.grad = np.array([0.5])
        optimizer.step()
    assert b.data[0] == 1.0
    b.grad = np.array([-0.25])
    optimizer.step()
    assert b.data[0] == pytest.approx(1.1, rel=1e-7)


def test_sgd_momentum_buffer_starts_at_the_first_gradient_of_each_parameter():
    # b first gets a gradient at step 3: its buffer starts there as g (step lr·g = 0.05)
    a = Tensor([1.0], requires_grad=True)
    b = Tensor([1.0], requires_grad=True)
    optimizer = SGD([a, b], lr=0.1, momentum=0.9)
    for _ in range(2):
        a.grad = np.array([0.5])
        optimizer.step()
    b.grad = np.array([0.5])
    optimizer.step()
    assert b.data[0] == pytest.approx(0.95, rel=1e-14)


# --------------------------------------------------------------------------- PyTorch


@given(weights_and_gradients(domain="nonzero"), sgd_options(), adam_options(weight_decay=False))
def test_same_numbers_as_torch_optim(case, sgd, adam):
    # Whole trajectories, so the domain keeps each step independent of the last one's
    # rounding: PyTorch orders Adam's arithmetic differently (lerp for m, addcdiv's
    # step·(m/denom) against our (step·m)/denom), and with weight decay, or with |g| near
    # eps, those ulps are amplified from step to step (see the textbook test above). With
    # |g| ≥ 0.5 and no decay, each Adam step lr·m̂/(√v̂ + eps) has √v̂ ≥ 0.5 and differs by
    # about 10 ulps of lr·max|g|/√v̂ ≤ 6: ≤ 1.5e-14 a step, under atol 1e-13 after five
    # steps. SGD is linear with factors ≤ 1 (momentum < 1, 1 − lr·decay), so it keeps decay.
    torch = pytest.importorskip("torch")
    w0, gradients = case

    def torch_trajectory(optimizer_class, **options):
        w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
        optimizer = optimizer_class([w], **options)
        trajectory = []
        for g in gradients:
            w.grad = torch.tensor(g, dtype=torch.float64)
            optimizer.step()
            trajectory.append(w.detach().numpy().copy())
        return trajectory

    assert_trajectories_equal(
        run_with_gradients(SGD, w0, gradients, **sgd), torch_trajectory(torch.optim.SGD, **sgd)
    )
    assert_trajectories_equal(
        run_with_gradients(Adam, w0, gradients, **adam),
        torch_trajectory(torch.optim.Adam, **adam),
    )


# --------------------------------------------------------------------------- bookkeeping


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p)])
def test_parameters_without_grad_are_skipped(make):
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0], requires_grad=True)
    optimizer = make([a, b])
    a.grad = np.array([0.5, -0.5])
    optimizer.step()
    assert not np.array_equal(a.data, [1.0, 2.0])
    np.testing.assert_array_equal(b.data, [3.0])
    assert b.grad is None


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p)])
def test_each_step_bumps_the_version_of_each_updated_parameter_once(make):
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0], requires_grad=True)
    optimizer = make([a, b])
    a.grad = np.array([0.5, -0.5])
    optimizer.step()
    optimizer.step()
    assert (a.version, b.version) == (2, 0)  # b has no gradient: not updated, not bumped


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1), lambda p: Adam(p)])
def test_zero_grad_clears_every_parameters_grad(make):
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([[3.0]], requires_grad=True)
    optimizer = make([a, b])
    ((a * a).sum() + b.sum()).backward()
    assert a.grad is not None and b.grad is not None
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=0.1),
        lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1),
        lambda p: Adam(p, lr=0.01, weight_decay=0.01),
    ],
    ids=["sgd", "nesterov", "dampening", "adam"],
)
def test_float32_parameters_stay_float32(make):
    w = Tensor(np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32), requires_grad=True)
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32))
    optimizer = make([w])
    for _ in range(3):
        optimizer.zero_grad()
        ((w @ x) ** 2).sum().backward()
        optimizer.step()
        assert w.dtype == np.float32
    w.grad = np.ones((2, 2))  # a float64 gradient set by hand does not promote w either
    optimizer.step()
    assert w.dtype == np.float32


# --------------------------------------------------------------------------- bad input


def _good_parameter():
    good = Tensor([1.0, 2.0], requires_grad=True)
    good.grad = np.array([0.1, 0.2])
    return good


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda good: SGD([], lr=0.1), ValueError, "no parameters"),
        (lambda good: Adam(iter([])), ValueError, "no parameters"),
        (lambda good: SGD([good], lr=-0.1), ValueError, "learning rate.*-0.1"),
        (lambda good: Adam([good], lr=float("nan")), ValueError, "learning rate"),
        (lambda good: SGD([good, np.zeros(2)], lr=0.1), ValueError, "parameter 1"),
        (lambda good: SGD([good, Tensor([1.0])], lr=0.1), ValueError, "parameter 1"),
        (lambda good: Adam([good, good * 2]), ValueError, "parameter 1.*leaf"),
        (lambda good: SGD([good, good], lr=0.1), ValueError, "parameter 1 appears twice"),
        (lambda good: SGD([good], lr=0.1, momentum=-0.5), ValueError, "momentum.*-0.5"),
        (lambda good: SGD([good], lr=0.1, nesterov=True), ValueError, "nesterov"),
        (
            lambda good: SGD([good], lr=0.1, momentum=0.9, nesterov=True, dampening=0.1),
            ValueError,
            "nesterov",
        ),
        (lambda good: SGD([good], lr=0.1, weight_decay=-1.0), ValueError, "weight_decay"),
        (lambda good: Adam([good], betas=(1.0, 0.999)), ValueError, "betas"),
        (lambda good: Adam([good], betas=(0.9, -0.1)), ValueError, "betas"),
        (lambda good: Adam([good], betas=(0.9,)), ValueError, "betas"),
        (lambda good: Adam([good], eps=-1e-8), ValueError, "eps"),
        (lambda good: Adam([good], weight_decay=-0.1), ValueError, "weight_decay"),
    ],
    ids=[
        "no_params",
        "no_params_iterator",
        "negative_lr",
        "nan_lr",
        "not_a_tensor",
        "no_requires_grad",
        "not_a_leaf",
        "duplicate",
        "negative_momentum",
        "nesterov_without_momentum",
        "nesterov_with_dampening",
        "negative_weight_decay",
        "beta1_is_1",
        "negative_beta2",
        "one_beta",
        "negative_eps",
        "adam_negative_weight_decay",
    ],
)
def test_bad_optimizer_arguments_raise_and_change_nothing(make, error, match):
    good = _good_parameter()
    with pytest.raises(error, match=match):
        make(good)
    np.testing.assert_array_equal(good.data, [1.0, 2.0])
    np.testing.assert_array_equal(good.grad, [0.1, 0.2])


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=0.1),
        lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: Adam(p, lr=0.1),
    ],
    ids=["sgd", "nesterov", "adam"],
)
def test_grad_of_the_wrong_shape_raises_before_any_parameter_or_state_changes(make):
    first = Tensor([1.0, 2.0], requires_grad=True)
    second = Tensor([[3.0, 4.0]], requires_grad=True)
    optimizer = make([first, second])
    first.grad = np.array([0.5, -0.5])
    second.grad = np.array([1.0, 1.0])  # shape (2,), the parameter is (1, 2)
    with pytest.raises(ValueError, match=r"parameter 1.*\(1, 2\).*\(2,\)"):
        optimizer.step()
    np.testing.assert_array_equal(first.data, [1.0, 2.0])
    np.testing.assert_array_equal(second.data, [[3.0, 4.0]])

    # nothing was counted or remembered either: two steps from here match a fresh optimizer
    fresh_first = Tensor([1.0, 2.0], requires_grad=True)
    fresh_second = Tensor([[3.0, 4.0]], requires_grad=True)
    fresh = make([fresh_first, fresh_second])
    for _ in range(2):
        for p in (first, fresh_first):
            p.grad = np.array([0.5, -0.5])
        for p in (second, fresh_second):
            p.grad = np.array([[1.0, 1.0]])
        optimizer.step()
        fresh.step()
    np.testing.assert_array_equal(first.data, fresh_first.data)
    np.testing.assert_array_equal(second.data, fresh_second.data)


@pytest.mark.parametrize("data", [1.0, [1.0, 2.0]], ids=["scalar", "vector"])
def test_a_tensor_instead_of_a_list_of_tensors_raises_type_error_saying_so(data):
    w = Tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="iterable"):
        SGD(w, lr=0.1)


# --------------------------------------------------------------------------- training


def _least_squares_problem():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(20, 3))
    b = A @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=20)  # inconsistent: residual ≠ 0
    return A, b


def _train(a, b, optimizer_class, steps, **options):
    x = Tensor(np.zeros(3), requires_grad=True)
    optimizer = optimizer_class([x], **options)
    a_t, b_t = Tensor(a), Tensor(b)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        residual = a_t @ x - b_t
        loss = 0.5 * (residual * residual).sum()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return x.data, losses


def test_sgd_on_least_squares_decreases_the_loss_and_reaches_lstsq():
    A, b = _least_squares_problem()
    solution = np.linalg.lstsq(A, b, rcond=None)[0]
    lr = 1.0 / np.linalg.eigvalsh(A.T @ A).max()  # lr ≤ 1/L: each step lowers a convex quadratic
    x, losses = _train(A, b, SGD, 400, lr=lr)
    # never up (beyond rounding, once the loss sits at its minimum), and down by a lot
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(losses))
    assert losses[-1] < 0.1 * losses[0]
    np.testing.assert_allclose(x, solution, atol=1e-8)
    minimum = 0.5 * np.sum((A @ solution - b) ** 2)
    assert losses[-1] == pytest.approx(minimum, rel=1e-10)


def test_sgd_with_momentum_and_adam_also_reach_lstsq():
    A, b = _least_squares_problem()
    solution = np.linalg.lstsq(A, b, rcond=None)[0]
    lr = 1.0 / np.linalg.eigvalsh(A.T @ A).max()
    x, losses = _train(A, b, SGD, 400, lr=lr, momentum=0.5, nesterov=True)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(x, solution, atol=1e-8)
    x, losses = _train(A, b, Adam, 2000, lr=0.01)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(x, solution, atol=1e-3)
