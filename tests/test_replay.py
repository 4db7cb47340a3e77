"""replay.trace against the eager engine: same weights after hundreds of steps, clear errors
for what a trace cannot follow, and each fast kernel equal to its operation's own Function."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_edu import Tensor, functions, grad, nn, replay
from tinygrad_edu.autograd import Function
from tinygrad_edu.optim import SGD, Adam

# ----------------------------------------------------------------------------- helpers


def book_weights(dtype, inputs=784, hidden=200, outputs=10):
    rng = np.random.default_rng(0)
    w_ih = rng.normal(0, inputs**-0.5, (hidden, inputs)).astype(dtype)
    w_ho = rng.normal(0, hidden**-0.5, (outputs, hidden)).astype(dtype)
    return Tensor(w_ih, requires_grad=True), Tensor(w_ho, requires_grad=True)


def book_loss(w_ih, w_ho):
    """The book's network written the way users write it (rows are samples)."""

    def loss_fn(x, t):
        hidden = (x @ w_ih.T).sigmoid()
        out = (hidden @ w_ho.T).sigmoid()
        return ((t - out) ** 2).sum()

    return loss_fn


def book_batches(count, batch, dtype, inputs=784, outputs=10, seed=1):
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(count):
        x = rng.integers(0, 256, (batch, inputs)) / 255 * 0.99 + 0.01
        t = np.full((batch, outputs), 0.01)
        t[np.arange(batch), rng.integers(0, outputs, batch)] = 0.99
        data.append((x.astype(dtype), t.astype(dtype)))
    return data


def eager_steps(loss_fn, optimizer, data):
    """The eager training loop over ``data``: (x, t) pairs, or inputs alone."""
    losses = []
    for arrays in data:
        loss = loss_fn(*[Tensor(a) for a in (arrays if isinstance(arrays, tuple) else (arrays,))])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def largest_difference(a_params, b_params):
    return max(
        float(np.max(np.abs(a.data - b.data))) for a, b in zip(a_params, b_params, strict=True)
    )


# ----------------------------------------------------------------------------- same weights


@pytest.mark.parametrize("batch", [1, 4])
def test_book_network_replay_ends_on_the_eager_weights_float64(batch):
    data = book_batches(200, batch, "float64")
    eager_params = book_weights("float64")
    eager_losses = eager_steps(book_loss(*eager_params), SGD(eager_params, lr=0.01), data)
    replay_params = book_weights("float64")
    step = replay.trace(book_loss(*replay_params), SGD(replay_params, lr=0.01))
    replay_losses = [step(x, t) for x, t in data]
    assert largest_difference(eager_params, replay_params) <= 1e-12
    np.testing.assert_allclose(replay_losses, eager_losses, rtol=1e-12)
    assert eager_losses[-1] < eager_losses[0]  # it trained: the comparison is not trivial


@pytest.mark.parametrize("batch", [1, 2])
def test_without_keep_grad_the_book_network_ends_on_the_same_weights_and_grad_is_none(batch):
    """Both weights' updates come from the factors of their gradients (`_Product`): at
    batch 1 block by block, at batch 2 from the product made whole."""
    data = book_batches(200, batch, "float64")
    eager_params = book_weights("float64")
    eager_steps(book_loss(*eager_params), SGD(eager_params, lr=0.01), data)
    replay_params = book_weights("float64")
    step = replay.trace(book_loss(*replay_params), SGD(replay_params, lr=0.01), keep_grad=False)
    for x, t in data:
        step(x, t)
    (program,) = step.programs.values()
    assert program.private_grads == [True, True]  # both updates overwrite their gradient
    _, grads = program.run(list(data[0]), for_update=True)
    assert [type(g).__name__ for g in grads] == ["_Product"] * 2
    assert all(p.grad is None for p in replay_params)
    assert largest_difference(eager_params, replay_params) <= 1e-12


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_without_keep_grad_shared_gradients_are_not_overwritten(optimizer):
    """w1 + w2 hands both weights the same gradient array: neither gradient is private,
    so scaling one in place would scale the other too."""

    def make():
        rng = np.random.default_rng(3)
        return [Tensor(rng.normal(size=(3, 4)), requires_grad=True) for _ in range(2)]

    def loss_of(w1, w2):
        return lambda x: ((w1 + w2) * x).sum() ** 2

    def make_optimizer(params):
        return SGD(params, lr=0.01) if optimizer == "sgd" else Adam(params, lr=0.01)

    rng = np.random.default_rng(4)
    data = [rng.normal(size=(3, 4)) for _ in range(30)]
    eager_params, replay_params = make(), make()
    eager_steps(loss_of(*eager_params), make_optimizer(eager_params), data)
    step = replay.trace(loss_of(*replay_params), make_optimizer(replay_params), keep_grad=False)
    for x in data:
        step(x)
    (program,) = step.programs.values()
    assert program.private_grads == [False, False]
    assert largest_difference(eager_params, replay_params) <= 1e-12


def test_book_network_replay_float32_stays_within_float32_rounding():
    data = book_batches(200, 4, "float32")
    eager_params = book_weights("float32")
    eager_steps(book_loss(*eager_params), SGD(eager_params, lr=0.01), data)
    replay_params = book_weights("float32")
    step = replay.trace(book_loss(*replay_params), SGD(replay_params, lr=0.01))
    for x, t in data:
        step(x, t)
    assert all(p.dtype == np.float32 for p in replay_params)
    assert largest_difference(eager_params, replay_params) <= 1e-5


def small_model():
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12), nn.ReLU())
    model.layers.append(nn.Linear(12, 3))
    return model


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda ps: SGD(ps, lr=0.05),
        lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda ps: Adam(ps, lr=0.01),
    ],
    ids=["sgd", "sgd-nesterov", "adam"],
)
def test_sequential_with_biases_replay_ends_on_the_eager_weights(make_optimizer):
    rng = np.random.default_rng(2)
    data = [(rng.normal(size=(5, 6)), rng.normal(size=(5, 3))) for _ in range(250)]
    eager_model, replay_model = small_model(), small_model()
    replay_model.load_state_dict(eager_model.state_dict())

    def loss_of(model):
        return lambda x, t: nn.mse(model(x), t) + 0.5 * (model(x) ** 2).mean()

    eager_steps(loss_of(eager_model), make_optimizer(eager_model.parameters()), data)
    step = replay.trace(loss_of(replay_model), make_optimizer(replay_model.parameters()))
    for x, t in data:
        step(x, t)
    params = eager_model.parameters(), replay_model.parameters()
    assert len(params[0]) == 6  # three weights and three biases
    assert largest_difference(*params) <= 1e-12


def test_a_new_shape_records_a_new_trace_and_keeps_matching():
    data = book_batches(3, 1, "float64", inputs=8, outputs=3)
    data += book_batches(3, 5, "float64", inputs=8, outputs=3)
    data += book_batches(3, 1, "float64", inputs=8, outputs=3, seed=2)
    eager_params = book_weights("float64", 8, 4, 3)
    eager_steps(book_loss(*eager_params), SGD(eager_params, lr=0.5), data)
    replay_params = book_weights("float64", 8, 4, 3)
    step = replay.trace(book_loss(*replay_params), SGD(replay_params, lr=0.5))
    for x, t in data:
        step(x, t)
    assert len(step.programs) == 2
    assert largest_difference(eager_params, replay_params) <= 1e-12


def test_integer_arguments_become_float64_as_tensor_makes_them():
    w = Tensor([[0.5, -0.25]], requires_grad=True)
    step = replay.trace(lambda x: (x @ w.T).sum() ** 2, SGD([w], lr=0.1))
    # (1·0.5 + 2·(−0.25))² = 0 and then (3·0.5 − 4·0.25)² = 0.25, by hand
    assert step(np.array([[1, 2]])) == 0.0
    assert step(np.array([[3, 4]])) == 0.25


def test_an_unused_parameter_keeps_no_gradient_and_is_not_updated():
    used = Tensor([1.0, 2.0], requires_grad=True)
    unused = Tensor([3.0], requires_grad=True)
    step = replay.trace(lambda x: (used * x).sum(), SGD([used, unused], lr=0.5))
    step(np.array([1.0, -1.0]))
    assert unused.grad is None
    np.testing.assert_array_equal(unused.data, [3.0])
    np.testing.assert_array_equal(used.data, [0.5, 2.5])  # w − 0.5·x, by hand


def test_operations_on_the_arguments_alone_are_replayed_not_frozen():
    w = Tensor([2.0], requires_grad=True)
    step = replay.trace(lambda x: (w * (x * 3 + 1)).sum(), SGD([w], lr=0.0))
    assert step(np.array([1.0])) == 8.0
    assert step(np.array([2.0])) == 14.0  # 2·(3·2 + 1): the constant part is recomputed


# ----------------------------------------------------------------------------- errors


def test_a_step_that_returns_no_tensor_is_refused():
    w = Tensor([1.0], requires_grad=True)
    step = replay.trace(lambda x: float((w * x).sum().item()), SGD([w], lr=0.1))
    with pytest.raises(replay.TraceError, match="must return the loss as a Tensor, got float"):
        step(np.array([1.0]))


def test_a_loss_with_many_elements_is_refused_naming_its_shape():
    w = Tensor([1.0, 2.0], requires_grad=True)
    step = replay.trace(lambda x: w * x, SGD([w], lr=0.1))
    with pytest.raises(replay.TraceError, match=r"one element, got shape \(2,\)"):
        step(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_a_tensor_that_requires_grad_outside_the_optimizer_is_refused():
    w = Tensor([1.0], requires_grad=True)
    forgotten = Tensor([2.0], requires_grad=True)
    step = replay.trace(lambda x: (w * x * forgotten).sum(), SGD([w], lr=0.1))
    with pytest.raises(replay.TraceError, match="not among the optimizer's parameters"):
        step(np.array([1.0]))
    assert w.grad is None and np.array_equal(w.data, [1.0])


def test_an_argument_that_requires_grad_is_refused():
    w = Tensor([1.0], requires_grad=True)
    step = replay.trace(lambda x: (w * x).sum(), SGD([w], lr=0.1))
    with pytest.raises(replay.TraceError, match="argument 0 is a Tensor that requires grad"):
        step(Tensor([1.0], requires_grad=True))


def test_check_calls_below_one_and_a_non_optimizer_are_refused():
    w = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="check_calls must be at least 1"):
        replay.trace(lambda x: (w * x).sum(), SGD([w], lr=0.1), check_calls=0)
    with pytest.raises(TypeError, match=r"must be a tinygrad_edu\.optim\.Optimizer, got list"):
        replay.trace(lambda x: (w * x).sum(), [w])


def test_python_control_flow_over_values_is_caught_on_the_checked_call():
    w = Tensor([1.0], requires_grad=True)

    def loss_fn(x):
        y = w * x
        return (y * y).sum() if x.data[0] > 0 else y.sum()  # a branch on the data

    step = replay.trace(loss_fn, SGD([w], lr=0.0))
    step(np.array([1.0]))
    with pytest.raises(replay.TraceMismatchError, match="records one path"):
        step(np.array([-1.0]))
    np.testing.assert_array_equal(w.data, [1.0])  # nothing was updated on the bad call


def test_values_computed_outside_operations_are_caught_on_the_checked_call():
    w = Tensor([1.0], requires_grad=True)
    step = replay.trace(lambda x: (w * Tensor(x.data * 2)).sum(), SGD([w], lr=0.0))
    step(np.array([1.0]))
    with pytest.raises(replay.TraceMismatchError, match="the loss"):
        step(np.array([5.0]))


@pytest.mark.parametrize("bad_row", [0, 37, 199])
def test_a_checked_call_catches_one_changed_element_of_a_weight_gradient(bad_row):
    """A checked call compares a matrix gradient G as G·r (Freivalds' check; the replay's
    `_Product` as Gᵀ·(X·r)): one element off by 1e-6 is caught in any row, and so is NaN,
    while the same product, rounded differently, passes."""
    rng = np.random.default_rng(5)
    left, right = rng.normal(size=(200, 1)), rng.normal(size=(1, 784))
    eager = np.dot(left, right)
    fingerprint = replay._fingerprint(eager, with_scale=True)
    replay._compare("w", fingerprint, replay._Product(left, right))  # no error
    changed = eager.copy()
    changed[bad_row, 500] += 1e-6
    with pytest.raises(replay.TraceMismatchError, match=r"largest difference [12][.\d]*e-06"):
        replay._compare(
            "w", replay._fingerprint(changed, with_scale=True), replay._Product(left, right)
        )
    changed[bad_row, 500] = np.nan
    with pytest.raises(replay.TraceMismatchError, match="largest difference nan"):
        replay._compare(
            "w", replay._fingerprint(changed, with_scale=True), replay._Product(left, right)
        )


@pytest.mark.parametrize("batch", [1, 64])
def test_checked_calls_without_keep_grad_hold_one_weight_sized_array_besides_the_weights(batch):
    """The recording call and the checked call need the eager gradient of W (784 × 200),
    but no second copy of it: the replay's own stays factored (`_Product`) and the two are
    compared block by block; the arguments are not copied either."""
    import tracemalloc

    data = book_batches(4, batch, "float64")
    params = book_weights("float64")
    step = replay.trace(book_loss(*params), SGD(params, lr=0.01), keep_grad=False)
    weight_bytes = params[0].data.nbytes
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for x, t in data[:3]:  # recording, checked, replayed
            step(x, t)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    activations = batch * 200 * 8 * 4  # a few hidden-layer-sized arrays
    # one weight-sized array and small blocks (measured: 1.14 W at batch 1); holding the
    # eager gradient and the replay's at once, as the check did before, takes 2 W or more
    assert peak <= weight_bytes * 1.5 + activations


def test_a_traced_step_inside_a_step_being_recorded_is_refused_not_hung():
    w = Tensor([1.0], requires_grad=True)
    inner = replay.trace(lambda x: (w * x).sum(), SGD([w], lr=0.1))
    outer_w = Tensor([2.0], requires_grad=True)

    def outer_loss(x):
        inner(x.data)
        return (outer_w * x).sum()

    outer = replay.trace(outer_loss, SGD([outer_w], lr=0.1))
    with pytest.raises(replay.TraceError, match="another traced step while it was being"):
        outer(np.array([1.0]))
    assert inner(np.array([1.0])) == 1.0  # the lock was released: tracing still works


def test_recording_restores_function_apply_even_when_the_step_raises():
    before = Function.__dict__["apply"]
    w = Tensor([1.0], requires_grad=True)

    def broken(x):
        (w * x).sum()
        raise KeyError("inside the step")

    step = replay.trace(broken, SGD([w], lr=0.1))
    with pytest.raises(KeyError, match="inside the step"):
        step(np.array([1.0]))
    assert Function.__dict__["apply"] is before


# ----------------------------------------------------------------------------- fast kernels


def eager_vjp(function, arrays, g, **options):
    """The operation's own Function through the eager engine: its output and the gradient
    of each input for the output gradient g."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    y = function.apply(*tensors, **options)
    return y.data, [t.data for t in grad(y, tensors, grad_outputs=g)]


def kernel_vjp(kernel, arrays, g):
    y, saved = kernel.forward(*arrays)
    return y, kernel.backward(saved, g)


sizes = st.integers(1, 7)


@given(sizes, sizes, sizes, st.booleans(), st.integers(0, 2**32 - 1))
def test_matmul_kernel_matches_matmul(rows, inner, columns, b_transposed, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(rows, inner))
    b = rng.normal(size=(columns, inner)).T if b_transposed else rng.normal(size=(inner, columns))
    g = rng.normal(size=(rows, columns))
    kernel = replay._MatMul2D((True, True))
    kernel_vjp(kernel, [b.T, a.T], g.T)  # kernels keep nothing from one call to the next
    y, (grad_a, grad_b) = kernel_vjp(kernel, [a, b], g)
    y_ref, (grad_a_ref, grad_b_ref) = eager_vjp(functions.MatMul, [a, b], g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_a, grad_a_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_b, grad_b_ref, rtol=1e-12, atol=1e-14)
    # the gradient keeps its input's memory order: Wᵀ's gradient transposes back to C order
    assert grad_b.T.flags.c_contiguous if b_transposed else grad_b.flags.c_contiguous


@given(sizes, sizes, sizes, st.integers(0, 2**32 - 1))
def test_linear_kernel_matches_linear(rows, inputs, outputs, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(rows, inputs)), rng.normal(size=(outputs, inputs))
    g = rng.normal(size=(rows, outputs))
    y, (grad_x, grad_w) = kernel_vjp(replay._Linear2D((True, True)), [x, w], g)
    y_ref, (grad_x_ref, grad_w_ref) = eager_vjp(functions.Linear, [x, w], g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_x, grad_x_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_w, grad_w_ref, rtol=1e-12, atol=1e-14)


@given(st.lists(sizes, max_size=3), st.data())
def test_sub_kernel_matches_sub_when_broadcasting(shape, data):
    """b's shape: some of a's trailing axes, some of them of length 1."""
    trailing = data.draw(st.integers(0, len(shape)), label="trailing axes")
    b_shape = [data.draw(st.sampled_from([n, 1])) for n in shape[len(shape) - trailing :]]
    a_first = data.draw(st.booleans(), label="a is the larger")
    rng = np.random.default_rng(0)
    big, small = rng.normal(size=shape), rng.normal(size=b_shape)
    a, b = (big, small) if a_first else (small, big)
    g = rng.normal(size=np.broadcast_shapes(a.shape, b.shape))
    kernel = replay._Sub([a.shape, b.shape], (True, True))
    y, (grad_a, grad_b) = kernel_vjp(kernel, [a, b], g)
    y_ref, (grad_a_ref, grad_b_ref) = eager_vjp(functions.Sub, [a, b], g)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(grad_a, grad_a_ref)
    np.testing.assert_array_equal(grad_b, grad_b_ref)


@given(
    st.lists(sizes, max_size=3),
    st.sampled_from(["float64", "float32"]),
    st.sampled_from([None, -1e4, -88.0, -89.0, np.nan]),
    st.integers(0, 99),
)
def test_sigmoid_kernel_matches_sigmoid_exactly(shape, dtype, lowest, seed):
    """Warnings are errors in this suite: an overflow of e⁻ˣ must stay silent on both of
    the kernel's paths (the smallest x at or above −88, or not)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 10, size=shape).astype(dtype)
    if lowest is not None:
        x.flat[0] = lowest  # -1e4: e⁻ˣ overflows and σ = 0; -89: it does in float32
    g = rng.normal(size=shape).astype(dtype)
    y, (grad_x,) = kernel_vjp(replay._Sigmoid(), [x], g)
    y_ref, (grad_ref,) = eager_vjp(functions.Sigmoid, [x], g)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(grad_x, grad_ref)
    assert y.dtype == grad_x.dtype == np.dtype(dtype)
    if lowest == -1e4:
        assert y.flat[0] == 0


@given(st.lists(sizes, max_size=3), st.sampled_from(["float64", "float32"]), st.integers(0, 99))
@example([2, 4], "float32", 4)  # where Pow's power with an array of exponents 1 once
@example([3, 5], "float32", 4)  # rounded a unit or two off, before it kept a scalar 1
def test_square_kernel_matches_pow_by_two_exactly(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape).astype(dtype)
    a.flat[0] = 0.0  # a zero base, where Pow switches to its masks
    g = rng.normal(size=shape).astype(dtype)
    y, (grad_a, _) = kernel_vjp(replay._Square(), [a, np.asarray(2, dtype)], g)
    tensor_a = Tensor(a, requires_grad=True)
    y_ref = tensor_a**2
    (grad_a_ref,) = grad(y_ref, [tensor_a], grad_outputs=g)
    np.testing.assert_array_equal(y, y_ref.data)
    # g · 2 · a rounded once (×2 is exact; a float32 product is exact in float64 and the
    # cast rounds it once), computed apart from both the kernel and Pow.
    exact = (g.astype(np.float64) * 2 * a.astype(np.float64)).astype(dtype)
    np.testing.assert_array_equal(grad_a, exact)
    np.testing.assert_array_equal(grad_a, grad_a_ref.data)
    assert y.dtype == grad_a.dtype == np.dtype(dtype)


@given(
    st.lists(sizes, max_size=3),
    st.sampled_from(["float64", "float32"]),
    st.tuples(st.booleans(), st.booleans()),
    st.integers(0, 99),
)
def test_squared_error_kernel_matches_squared_error_exactly(shape, dtype, needs, seed):
    rng = np.random.default_rng(seed)
    o, t = rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)
    g = np.asarray(rng.normal(), dtype)
    y, grads = kernel_vjp(replay._SquaredError(needs), [o, t], g)
    tensors = [Tensor(a, requires_grad=need) for a, need in zip((o, t), needs, strict=True)]
    y_ref = functions.SquaredError.apply(*tensors)
    np.testing.assert_array_equal(y, y_ref.data)
    assert y.shape == () and y.dtype == np.dtype(dtype)
    wanted = [tensor for tensor, need in zip(tensors, needs, strict=True) if need]
    refs = iter(grad(y_ref, wanted, grad_outputs=g) if wanted else [])
    for mine, need in zip(grads, needs, strict=True):
        if need:
            np.testing.assert_array_equal(mine, next(refs).data)
        else:
            assert mine is None
    # by hand: ∂/∂o Σ (t − o)² = 2(o − t)
    if needs[0]:
        np.testing.assert_allclose(grads[0], 2 * (o - t) * g, rtol=1e-6)


@given(
    sizes, sizes, st.integers(1, 20), st.sampled_from(["float64", "float32"]), st.integers(0, 99)
)
def test_outer_product_update_matches_the_whole_product_exactly(height, width, block, dtype, seed):
    """w − lr·(c · r) by blocks of rows (the last one often shorter) against SGD's formula
    on whole arrays, with the product elementwise by broadcasting rather than BLAS."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(height, width)).astype(dtype)
    column = rng.normal(size=(height, 1)).astype(dtype)
    row = rng.normal(size=(1, width)).astype(dtype)
    expected = w - 0.01 * (column * row)
    replay._Product(column, row).subtract_scaled_from(w, 0.01, block=block)
    np.testing.assert_array_equal(w, expected)


@given(sizes, sizes, st.integers(2, 5), st.integers(1, 20), st.integers(0, 99))
def test_product_rows_and_update_match_the_whole_product(height, width, batch, block, seed):
    """Over several rows: the update is SGD's formula on np.matmul's product, exactly, and
    the rows a check compares block by block are that product's rows (BLAS may round a
    block of rows differently, hence the tolerance there)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(height, width))
    left, right = rng.normal(size=(height, batch)), rng.normal(size=(batch, width))
    whole = np.matmul(left, right)
    expected = w - 0.01 * whole
    product = replay._Product(left, right)
    product.subtract_scaled_from(w, 0.01, block=block)
    np.testing.assert_array_equal(w, expected)
    assert product.shape == whole.shape
    step = max(1, block // width)
    for start in range(0, height, step):
        rows = whole[start : start + step]
        np.testing.assert_allclose(product.rows(start, out=np.empty_like(rows)), rows)


@given(st.lists(sizes, min_size=1, max_size=4), st.data())
def test_transpose_kernel_matches_transpose(shape, data):
    axes = data.draw(st.none() | st.permutations(range(len(shape))).map(tuple))
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    g = rng.normal(size=x.transpose(axes).shape)
    y, (grad_x,) = kernel_vjp(replay._Transpose(len(shape), axes), [x], g)
    y_ref, (grad_ref,) = eager_vjp(functions.Transpose, [x], g, axes=axes)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(grad_x, grad_ref)


@given(st.lists(sizes, max_size=3), st.data())
def test_sum_kernel_matches_sum(shape, data):
    ndim = len(shape)
    axes = st.none() | st.integers(-ndim, ndim - 1) if ndim else st.none()
    axis = data.draw(axes, label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    g = rng.normal(size=np.shape(x.sum(axis=axis, keepdims=keepdims)))
    y, (grad_x,) = kernel_vjp(replay._Sum(tuple(shape), axis, keepdims), [x], g)
    y_ref, (grad_ref,) = eager_vjp(functions.Sum, [x], g, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(grad_x, grad_ref)
    # by hand: every element of x gets the gradient of the sum it went into
    expanded = g if keepdims else np.expand_dims(g, tuple(range(ndim)) if axis is None else axis)
    np.testing.assert_array_equal(grad_x, np.broadcast_to(expanded, shape))


def test_the_book_network_runs_on_the_fast_kernels():
    w_ih, w_ho = book_weights("float64", 8, 4, 3)
    step = replay.trace(book_loss(w_ih, w_ho), SGD([w_ih, w_ho], lr=0.1))
    step(*book_batches(1, 2, "float64", inputs=8, outputs=3)[0])
    (program,) = step.programs.values()
    kernels = [type(op.kernel).__name__ for op in program.ops]
    # x @ W.T: the transpose and the product folded into one kernel; ((t - out) ** 2).sum()
    # the three operations folded into one
    assert kernels == ["_Linear2D", "_Sigmoid", "_Linear2D", "_Sigmoid", "_SquaredError"]


def test_a_difference_read_twice_is_not_folded_and_still_matches():
    def make():
        return [Tensor(np.random.default_rng(7).normal(size=(3, 4)), requires_grad=True)]

    def loss_of(w):
        def loss_fn(x, t):
            d = t - (x @ w.T).sigmoid()  # read by the square and by the second sum
            return (d**2).sum() + d.sum()

        return loss_fn

    data = book_batches(20, 2, "float64", inputs=4, outputs=3)
    eager_params, replay_params = make(), make()
    eager_steps(loss_of(*eager_params), SGD(eager_params, lr=0.1), data)
    step = replay.trace(loss_of(*replay_params), SGD(replay_params, lr=0.1), keep_grad=False)
    for x, t in data:
        step(x, t)
    (program,) = step.programs.values()
    kernels = [type(op.kernel).__name__ for op in program.ops]
    assert "_Square" in kernels and "_SquaredError" not in kernels
    assert largest_difference(eager_params, replay_params) <= 1e-12


def test_the_book_network_in_nn_layers_runs_on_the_fast_kernels():
    model = nn.Sequential(
        nn.Linear(8, 4, bias=False), nn.Sigmoid(), nn.Linear(4, 3, bias=False), nn.Sigmoid()
    )
    step = replay.trace(lambda x, t: nn.squared_error(model(x), t), SGD(model.parameters(), 0.1))
    step(*book_batches(1, 2, "float64", inputs=8, outputs=3)[0])
    (program,) = step.programs.values()
    kernels = [type(op.kernel).__name__ for op in program.ops]
    assert kernels == ["_Linear2D", "_Sigmoid", "_Linear2D", "_Sigmoid", "_SquaredError"]


def test_a_transpose_read_twice_is_not_folded_and_still_matches():
    def make():
        return [Tensor(np.random.default_rng(5).normal(size=(3, 4)), requires_grad=True)]

    def loss_of(w):
        def loss_fn(x):
            w_t = w.T  # one transpose, read by two products
            return ((x @ w_t).sigmoid() + (x * 2) @ w_t).sum()

        return loss_fn

    data = [np.random.default_rng(6).normal(size=(2, 4)) for _ in range(20)]
    eager_params, replay_params = make(), make()
    eager_steps(loss_of(*eager_params), SGD(eager_params, lr=0.1), data)
    step = replay.trace(loss_of(*replay_params), SGD(replay_params, lr=0.1), keep_grad=False)
    for x in data:
        step(x)
    (program,) = step.programs.values()
    assert "_Transpose" in [type(op.kernel).__name__ for op in program.ops]
    assert program.private_grads == [False]
    assert largest_difference(eager_params, replay_params) <= 1e-12
