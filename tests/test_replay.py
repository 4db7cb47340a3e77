"""replay.trace against the eager engine, step by step and bit for bit: the same losses,
weights and gradients after every step, whatever the step function and the optimizer; clear
errors, before any weight changes, for what a trace cannot follow."""

from typing import ClassVar

import numpy as np
import pytest

from tinygrad_edu import Tensor, fast, nn, replay
from tinygrad_edu.autograd import Function
from tinygrad_edu.functions import Linear
from tinygrad_edu.optim import SGD, Adam

# ----------------------------------------------------------------------------- helpers


def book_weights(dtype, inputs=784, hidden=200, outputs=10):
    rng = np.random.default_rng(0)
    w_ih = rng.normal(0, inputs**-0.5, (hidden, inputs)).astype(dtype)
    w_ho = rng.normal(0, hidden**-0.5, (outputs, hidden)).astype(dtype)
    return [Tensor(w_ih, requires_grad=True), Tensor(w_ho, requires_grad=True)]


def book_loss(w_ih, w_ho):
    """The book's network written the way users write it (rows are samples)."""

    def loss_fn(x, t):
        hidden = (x @ w_ih.T).sigmoid()
        out = (hidden @ w_ho.T).sigmoid()
        return ((t - out) ** 2).sum()

    return loss_fn


def book_layers_loss(w_ih, w_ho):
    """The same network as `nn` builds it: Linear (x·Wᵀ as one operation), SquaredError."""

    def loss_fn(x, t):
        hidden = Linear.apply(x, w_ih).sigmoid()
        return nn.squared_error(Linear.apply(hidden, w_ho).sigmoid(), t)

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


def eager_tensor(array):
    """What an eager training loop makes of an argument: Tensor(x), labels kept integers."""
    array = np.asarray(array)
    return Tensor(array, dtype=array.dtype if array.dtype.kind in "iub" else None)


def assert_same_bits(eager, replayed, what):
    if eager is None or replayed is None:
        assert eager is None and replayed is None, what
        return
    eager, replayed = np.asarray(eager), np.asarray(replayed)
    assert (eager.dtype, eager.shape) == (replayed.dtype, replayed.shape), what
    assert eager.tobytes() == replayed.tobytes(), f"{what}: {eager} != {replayed}"


def lockstep(make, loss_of, make_optimizer, data, keep_grad=True, before_step=None):
    """Train two copies of the same tensors one step at a time: in the eager engine, and
    through replay.trace. After every step the losses, every tensor's values and (with
    keep_grad) every .grad must be the same, bit for bit. ``make()`` returns the tensors
    (the optimizer's parameters and any others the step reads); ``before_step(n, tensors)``
    changes both copies alike before step n."""
    eager_tensors, replay_tensors = make(), make()
    eager_optimizer = make_optimizer(eager_tensors)
    eager_loss_fn = loss_of(*eager_tensors)
    step = replay.trace(
        loss_of(*replay_tensors), make_optimizer(replay_tensors), keep_grad=keep_grad
    )
    losses = []
    for n, arrays in enumerate(data):
        arrays = arrays if isinstance(arrays, tuple) else (arrays,)
        if before_step is not None:
            before_step(n, eager_tensors)
            before_step(n, replay_tensors)
        eager_optimizer.zero_grad()
        loss = eager_loss_fn(*[eager_tensor(a) for a in arrays])
        loss.backward()
        eager_optimizer.step()
        replayed = step(*arrays)
        assert_same_bits(np.float64(loss.item()), np.float64(replayed), f"loss of step {n}")
        for index, (mine, theirs) in enumerate(zip(replay_tensors, eager_tensors, strict=True)):
            assert_same_bits(theirs.data, mine.data, f"tensor {index} after step {n}")
            if keep_grad:
                assert_same_bits(theirs.grad, mine.grad, f".grad of tensor {index}, step {n}")
            else:
                assert mine.grad is None
        losses.append(replayed)
    return step, losses


class HalvingSGD(SGD):
    """Scales each gradient in place before the step (as gradient clipping does)."""

    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.grad *= 0.5
        super().step()


def sgd(lr=0.01):
    return lambda params: SGD(params, lr=lr)


# ----------------------------------------------------------------------------- same bits


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("keep_grad", [True, False])
@pytest.mark.parametrize("style", [book_loss, book_layers_loss], ids=["raw", "layers"])
def test_book_network_replay_is_the_eager_engine_bit_for_bit(style, keep_grad, batch, dtype):
    """x @ W.T (a transpose and a product) and Linear; with keep_grad=False, plain SGD and
    one row a step, the weight gradients go straight into the update (fused)."""
    data = book_batches(25, batch, dtype)
    _, losses = lockstep(lambda: book_weights(dtype), style, sgd(0.05), data, keep_grad=keep_grad)
    assert losses[-1] != losses[0]  # it trained: the comparison is not trivial


@pytest.mark.parametrize("fused_update", [True, False])
@pytest.mark.parametrize("batch", [1, 4])
def test_the_fused_update_and_the_plain_one_end_on_the_same_bits(monkeypatch, batch, fused_update):
    """The weight gradients scaled where they are, or by `optim.subtract_scaled`."""
    monkeypatch.setattr(replay.Trace, "fused_update", fused_update)
    data = book_batches(20, batch, "float64", inputs=300, outputs=10)
    lockstep(lambda: book_weights("float64", 300, 40, 10), book_loss, sgd(0.1), data, False)


@pytest.mark.parametrize("batch", [1, 3])
def test_a_numpy_learning_rate_on_float32_weights_gives_sgds_numbers(batch):
    """SGD scales a float32 gradient by a float64 rate in float64 (its buffer's dtype is
    numpy's promotion); scaling it where it is, in float32, would round otherwise."""
    data = book_batches(8, batch, "float32")
    lockstep(lambda: book_weights("float32"), book_layers_loss, sgd(np.float64(0.05)), data, False)


def product_of_a_parameter(p1, p2):
    return lambda t: ((Linear.apply(p1, p2).sigmoid() - t) ** 2).sum()


def product_of_a_view_of_a_parameter(p1, p2):
    return lambda t: (((p1.T @ p2.T).sigmoid() - t) ** 2).sum()


@pytest.mark.parametrize("size", [(3, 4, 5), (130, 140, 150)], ids=["small", "blas"])
@pytest.mark.parametrize(
    "loss_of", [product_of_a_parameter, product_of_a_view_of_a_parameter], ids=["W1", "W1.T"]
)
def test_a_weight_whose_product_reads_another_parameter_is_updated_from_its_old_values(
    loss_of, size
):
    """W1 (or its view W1.T) is the input of W2's product: W2's gradient Gᵀ·W1 must be made
    before W1 changes (the update goes through the parameters in order, W1 first)."""
    batch, inputs, outputs = size
    rng = np.random.default_rng(7)
    w1 = rng.normal(size=(batch, inputs))
    if loss_of is product_of_a_view_of_a_parameter:
        w1 = np.ascontiguousarray(w1.T)  # its transpose is the input
    w2 = rng.normal(size=(outputs, inputs)) * 0.1

    def make():
        return [Tensor(w1, requires_grad=True), Tensor(w2, requires_grad=True)]

    data = [(rng.random((batch, outputs)),) for _ in range(6)]
    _, losses = lockstep(make, loss_of, sgd(0.1), data, keep_grad=False)
    assert losses[-1] != losses[0]


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
@pytest.mark.parametrize("keep_grad", [True, False])
def test_sequential_with_biases_replay_is_the_eager_engine_bit_for_bit(make_optimizer, keep_grad):
    rng = np.random.default_rng(2)
    data = [(rng.normal(size=(5, 6)), rng.normal(size=(5, 3))) for _ in range(60)]
    state = small_model().state_dict()
    model_of = {}  # id(first parameter) -> its model

    def make():
        model = small_model()
        model.load_state_dict(state)
        model_of[id(model.parameters()[0])] = model
        return model.parameters()

    def loss_of(*params):
        model = model_of[id(params[0])]
        return lambda x, t: nn.mse(model(x), t) + 0.5 * (model(x) ** 2).mean()

    lockstep(make, loss_of, make_optimizer, data, keep_grad)


def test_gradients_arriving_by_many_paths_are_added_in_the_engines_order():
    """A weight read five times, and a value read by four operations: float addition is not
    associative, so only the engine's order of adding gives its bits (the numbers are
    chosen so that other orders round differently)."""

    def make():
        return [Tensor(np.array([1.0, 3.0, 1e-3]), requires_grad=True)]

    def loss_of(w):
        def loss_fn(x):
            h = (w * x).sigmoid()
            total = (h * 1e16).sum() + (h * 3.0).sum() - (w * 1e16).sum()
            return total + (h * w).sum() + (w * w * 7.0).sum() + (h.exp() * 0.5).sum()

        return loss_fn

    rng = np.random.default_rng(7)
    lockstep(make, loss_of, sgd(1e-18), [rng.normal(size=3) for _ in range(20)])


def test_a_loss_accumulated_in_place_in_a_loop_is_replayed():
    """`loss += term` rebases the loss onto each addition, as in PyTorch."""

    def make():
        return [Tensor(np.random.default_rng(3).normal(size=(4, 3)), requires_grad=True)]

    def loss_of(w):
        def loss_fn(x):
            loss = (x @ w).sum() * 0.0
            for k in range(3):
                loss += ((x * (k + 1)) @ w).sigmoid().sum()
            return loss

        return loss_fn

    rng = np.random.default_rng(4)
    lockstep(make, loss_of, sgd(0.1), [rng.normal(size=(2, 4)) for _ in range(15)])


def test_a_new_shape_records_a_new_trace_and_keeps_matching():
    data = book_batches(3, 1, "float64", inputs=8, outputs=3)
    data += book_batches(3, 5, "float64", inputs=8, outputs=3)
    data += book_batches(3, 1, "float64", inputs=8, outputs=3, seed=2)
    step, _ = lockstep(lambda: book_weights("float64", 8, 4, 3), book_loss, sgd(0.5), data)
    assert len(step.programs) == 2


class PassOn(Function):
    """y = x, noting whether each x it is given is laid out in C order; its backward passes
    on the very gradient it gets, which the engine hands over read-only."""

    c_ordered: ClassVar[list[bool]] = []

    @staticmethod
    def forward(ctx, x):
        PassOn.c_ordered.append(x.flags.c_contiguous)
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        assert not g.flags.writeable
        return g


def test_a_custom_function_runs_its_own_backward_on_a_read_only_gradient():
    """Its backward returns the (read-only) array it was given: .grad gets a copy it owns."""

    def make():
        return [Tensor([0.5, -0.25], requires_grad=True)]

    def loss_of(w):
        return lambda x: (PassOn.apply(w) * x).sum()

    data = [np.array([1.0, 2.0]) * k for k in range(1, 8)]
    lockstep(make, loss_of, lambda ps: HalvingSGD(ps, lr=0.1), data)


def test_operations_on_the_arguments_alone_are_replayed_not_frozen():
    w = Tensor([2.0], requires_grad=True)
    step = replay.trace(lambda x: (w * (x * 3 + 1)).sum(), SGD([w], lr=0.0))
    assert step(np.array([1.0])) == 8.0
    assert step(np.array([2.0])) == 14.0  # 2·(3·2 + 1): the constant part is recomputed
    assert step(np.array([3.0])) == 20.0  # a replayed call, past the checked ones


def test_an_unused_parameter_keeps_no_gradient_and_is_not_updated():
    used = Tensor([1.0, 2.0], requires_grad=True)
    unused = Tensor([3.0], requires_grad=True)
    step = replay.trace(lambda x: (used * x).sum(), SGD([used, unused], lr=0.5))
    for _ in range(3):
        step(np.array([1.0, -1.0]))
    assert unused.grad is None
    np.testing.assert_array_equal(unused.data, [3.0])
    np.testing.assert_array_equal(used.data, [-0.5, 3.5])  # w − 3 · 0.5·x, by hand


# ----------------------------------------------------------------------------- issue 19


def test_a_parameter_frozen_or_unfrozen_after_tracing_is_treated_as_eager_treats_it():
    """Freezing stops its updates, unfreezing resumes them (a recording per setting)."""

    def make():
        return [Tensor([[0.5, -1.0]], requires_grad=True), Tensor([[2.0]], requires_grad=True)]

    def loss_of(w1, w2):
        return lambda x: ((x @ w1.T) @ w2).sigmoid().sum()

    def switch(n, tensors):
        if n == 3:
            tensors[1].requires_grad = False
        if n == 6:
            tensors[1].requires_grad = True

    rng = np.random.default_rng(5)
    data = [rng.normal(size=(1, 2)) for _ in range(9)]
    step, _ = lockstep(make, loss_of, sgd(0.5), data, before_step=switch)
    assert len(step.programs) == 2


@pytest.mark.parametrize(
    "loss_of",
    [
        lambda a, b: lambda x: ((a + b) * x).sum(),  # Add hands one gradient to both
        lambda a, b: lambda x: a + b * x,  # a's gradient is ∂L/∂L itself
    ],
)
def test_every_gradient_owns_its_memory_so_an_optimizer_may_change_it(loss_of):
    def make():
        return [Tensor([1.0], requires_grad=True), Tensor([0.5], requires_grad=True)]

    data = [np.array([3.0 * k]) for k in range(1, 6)]
    lockstep(make, loss_of, lambda ps: HalvingSGD(ps, lr=0.1), data)
    lockstep(make, loss_of, sgd(0.1), data, keep_grad=False)  # SGD's update, no .grad
    lockstep(make, loss_of, lambda ps: Adam(ps, lr=0.1), data, keep_grad=False)
    a, b = make()
    step = replay.trace(loss_of(a, b), SGD([a, b], lr=0.1))
    for x in data:
        step(x)
    assert a.grad is not b.grad and a.grad.flags.writeable and b.grad.flags.writeable


def test_a_tensor_outside_the_optimizer_is_read_anew_after_data_is_assigned():
    """A frozen teacher whose values are replaced (load_state_dict assigns .data)."""

    def make():
        student = Tensor([[0.1, 0.2, 0.3]], requires_grad=True)
        teacher = Tensor([[1.0, -1.0, 0.5]])
        return [student, teacher]

    def loss_of(student, teacher):
        return lambda x: ((x @ student.T) - (x @ teacher.T)).squared_error(np.zeros((2, 1)))

    def new_teacher(n, tensors):
        if n == 4:
            tensors[1].data = np.array([[-2.0, 0.5, 1.0]])

    rng = np.random.default_rng(6)
    data = [rng.normal(size=(2, 3)) for _ in range(10)]
    lockstep(make, loss_of, lambda ts: SGD(ts[:1], lr=0.05), data, before_step=new_teacher)


@pytest.mark.parametrize("keep_grad", [True, False])
def test_a_float32_model_on_float64_data_is_replayed_without_a_false_mismatch(keep_grad):
    """The gradients are float64 until .grad casts them to the weights' float32."""
    data = book_batches(10, 2, "float64", inputs=30, outputs=4)
    lockstep(
        lambda: book_weights("float32", 30, 8, 4), book_loss, sgd(0.5), data, keep_grad=keep_grad
    )


def test_integer_labels_stay_integers_and_cross_entropy_reads_each_calls_labels():
    def make():
        return [Tensor(np.random.default_rng(8).normal(size=(5, 4)), requires_grad=True)]

    def loss_of(w):
        return lambda x, labels: nn.cross_entropy(x @ w.T, labels)

    rng = np.random.default_rng(9)
    data = [(rng.normal(size=(3, 4)), rng.integers(0, 5, 3)) for _ in range(12)]
    data += [(rng.normal(size=(1, 4)), np.array([k % 5])) for k in range(12)]  # 1 in 5 repeats
    lockstep(make, loss_of, sgd(0.3), data)


def test_integer_inputs_keep_their_dtype_and_give_the_same_numbers():
    w = Tensor([[0.5, -0.25]], requires_grad=True)
    seen = []

    def loss_fn(x):
        seen.append(x.dtype)
        return (x @ w.T).sum() ** 2

    step = replay.trace(loss_fn, SGD([w], lr=0.1))
    # (1·0.5 + 2·(−0.25))² = 0 and then (3·0.5 − 4·0.25)² = 0.25, by hand
    assert step(np.array([[1, 2]])) == 0.0
    assert step(np.array([[3, 4]])) == 0.25
    assert seen == [np.dtype(np.int64)] * 2


@pytest.mark.parametrize("batch", [1, 4])
def test_fortran_ordered_inputs_are_replayed_bit_for_bit(batch):
    """Tensor(x) copies x in C order, and BLAS may round a product of the other order
    differently (by an ulp, on some machines): the replay reads x as that copy."""
    data = [
        tuple(np.asfortranarray(a) for a in arrays)
        for arrays in book_batches(8, batch, "float64", inputs=50, outputs=4)
    ]
    assert data[0][0].flags.f_contiguous

    def loss_of(w_ih, w_ho):
        return lambda x, t: book_loss(w_ih, w_ho)(PassOn.apply(x), t)

    PassOn.c_ordered.clear()
    lockstep(lambda: book_weights("float64", 50, 20, 4), loss_of, sgd(0.1), data)
    assert len(PassOn.c_ordered) == 2 * len(data) + 2  # eager; replay and its 2 checks
    assert all(PassOn.c_ordered)


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
    assert w.grad is None and forgotten.grad is None and np.array_equal(w.data, [1.0])


def test_a_tensor_computed_outside_the_step_is_refused():
    w = Tensor([1.0], requires_grad=True)
    outside = w * 2
    step = replay.trace(lambda x: (outside * x).sum(), SGD([w], lr=0.1))
    with pytest.raises(replay.TraceError, match="computed by MulBackward outside the step"):
        step(np.array([1.0]))


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
    w.grad = np.array([7.0])
    with pytest.raises(replay.TraceMismatchError, match="records one path"):
        step(np.array([-1.0]))
    np.testing.assert_array_equal(w.data, [1.0])  # nothing was updated on the bad call
    np.testing.assert_array_equal(w.grad, [7.0])  # nor .grad


def test_values_computed_outside_operations_are_caught_on_the_checked_call():
    w = Tensor([1.0], requires_grad=True)
    step = replay.trace(lambda x: (w * Tensor(x.data * 2)).sum(), SGD([w], lr=0.0))
    step(np.array([1.0]))
    with pytest.raises(replay.TraceMismatchError, match="the loss"):
        step(np.array([5.0]))


def test_a_gradient_that_differs_while_the_loss_agrees_is_caught():
    """w² + w·c − w.detach()·c is w² whatever c is, but its gradient 2w + c is not: with
    c frozen at the recording call, only the gradient shows it."""
    w = Tensor([1.0], requires_grad=True)

    def loss_fn(x):
        c = Tensor(x.data)  # numpy work on .data: frozen
        return (w * w + w * c - w.detach() * c).sum()

    step = replay.trace(loss_fn, SGD([w], lr=0.0))
    step(np.array([2.0]))
    with pytest.raises(replay.TraceMismatchError, match=r"gradient of parameter 0 \(shape"):
        step(np.array([3.0]))


@pytest.mark.parametrize("batch", [1, 64])
def test_checked_calls_without_keep_grad_hold_one_weight_sized_array_besides_the_weights(batch):
    """The recording call and the checked call need the eager gradient of W (784 × 200),
    but no second copy of it: it is reduced to a digest before the replay runs. Once the
    checks are done, the update makes gᵀ·x and subtracts it in one BLAS call, or scales
    the gradient where it is (no lr·g array). The BLAS call's one check of this layout
    (two weight-sized arrays, once per process: `test_fast.py`) is made beforehand."""
    import tracemalloc

    data = book_batches(6, batch, "float64")
    params = book_weights("float64")
    step = replay.trace(book_loss(*params), SGD(params, lr=0.01), keep_grad=False)
    weight_bytes = params[0].data.nbytes
    g, x = np.ones((batch, 200)), np.ones((batch, 784))
    fast.subtract_product(np.zeros((200, 784)), 0.01, g, x)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for x, t in data[:3]:  # recording, checked, replayed
            step(x, t)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for x, t in data[3:]:
            step(x, t)
        replayed_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    activations = batch * 200 * 8 * 4  # a few hidden-layer-sized arrays
    assert peak <= weight_bytes * 1.5 + activations + data[0][0].nbytes
    assert replayed_peak <= weight_bytes * 1.1 + activations


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
    assert inner(np.array([1.0])) == 1.0  # the flag was reset: tracing still works


def test_recording_leaves_function_apply_alone_even_when_the_step_raises():
    before = Function.__dict__["apply"]
    w = Tensor([1.0], requires_grad=True)

    def broken(x):
        (w * x).sum()
        raise KeyError("inside the step")

    step = replay.trace(broken, SGD([w], lr=0.1))
    with pytest.raises(KeyError, match="inside the step"):
        step(np.array([1.0]))
    assert Function.__dict__["apply"] is before
