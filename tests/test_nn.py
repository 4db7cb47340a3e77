"""Layers, containers and losses: Linear against numpy and its two initialisations;
gradients of layers and small networks against finite differences; parameter discovery and
naming; state_dict copies and all-or-nothing loading; Sequential; the three losses against
hand-computed values and independent numpy formulas, their gradients, stability at ±1e4,
and their errors.

Every expected value comes from plain numpy written here, a hand calculation or finite
differences (``gradcheck.numerical_gradient``), never from the code under test.
"""

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tinygrad_edu import Tensor, nn
from tinygrad_edu.gradcheck import numerical_gradient
from tinygrad_edu.nn import (
    Linear,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    cross_entropy,
    mse,
    squared_error,
)
from tinygrad_edu.optim import SGD
from tinygrad_edu.testing import strategies as tst

sizes = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)


def _log_softmax_reference(z):
    """zᵢ − ln Σⱼ e^zⱼ per row, with numpy's own stable log-sum-exp."""
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def _sigmoid_reference(x):
    return 0.5 * (1 + np.tanh(x / 2))


@st.composite
def batches(draw, features=None):
    """An input of shape (batch, features): rows are samples."""
    features = draw(sizes) if features is None else features
    return draw(tst.arrays((draw(sizes), features)))


# --------------------------------------------------------------------------- Linear


@given(st.data(), sizes, sizes, seeds)
def test_linear_computes_x_times_weight_transposed_plus_bias(data, n_in, n_out, seed):
    layer = Linear(n_in, n_out, rng=seed)
    x = data.draw(batches(n_in))
    assert layer.weight.shape == (n_out, n_in)
    assert layer.bias.shape == (n_out,)
    y = layer(Tensor(x))
    np.testing.assert_allclose(y.data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-12)


def test_linear_weight_is_the_books_hidden_by_inputs_matrix():
    # Linear(64, 100).weight is the book's W_ih: 100 hidden rows × 64 input columns
    assert Linear(64, 100, rng=0).weight.shape == (100, 64)


def test_linear_without_bias_has_no_bias_parameter():
    layer = Linear(3, 2, bias=False, rng=0)
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.weight.data.T, rtol=1e-12)


def test_pytorch_init_stays_within_one_over_root_fan_in_and_fills_the_range():
    n_in = 100
    bound = 1 / np.sqrt(n_in)  # 0.1
    layer = Linear(n_in, 200, init="pytorch", rng=0)
    for values in (layer.weight.data, layer.bias.data):
        assert np.all(np.abs(values) <= bound)
    # U(−0.1, 0.1) over 20000 draws: the extremes come close to ±0.1, std ≈ 0.1/√3
    w = layer.weight.data
    assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
    assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.03)


def test_book_init_has_std_one_over_root_fan_in_and_zero_bias():
    n_in, n_out = 400, 500
    layer = Linear(n_in, n_out, init="book", rng=0)
    w = layer.weight.data
    # 200000 normal draws: sample std within ~0.2 % (1/√(2N)), mean within 3σ/√N
    assert w.std() == pytest.approx(n_in**-0.5, rel=0.03)
    assert abs(w.mean()) < 3 * n_in**-0.5 / np.sqrt(w.size)
    np.testing.assert_array_equal(layer.bias.data, np.zeros(n_out))


@pytest.mark.parametrize("init", ["pytorch", "book"])
def test_linear_with_the_same_seed_or_generator_is_reproducible(init):
    a, b = Linear(5, 4, init=init, rng=7), Linear(5, 4, init=init, rng=7)
    c = Linear(5, 4, init=init, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    np.testing.assert_array_equal(a.weight.data, c.weight.data)
    assert not np.array_equal(a.weight.data, Linear(5, 4, init=init, rng=8).weight.data)


def test_linear_dtype_float32_gives_float32_parameters_and_outputs():
    layer = Linear(3, 2, rng=0, dtype=np.float32)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert layer(Tensor(np.ones((4, 3), dtype=np.float32))).dtype == np.float32


@pytest.mark.parametrize(("n_in", "n_out"), [(0, 3), (3, 0), (-2, 3)])
def test_linear_with_a_nonpositive_size_raises_naming_both_sizes(n_in, n_out):
    with pytest.raises(ValueError, match=rf"positive.*{n_in} and {n_out}"):
        Linear(n_in, n_out)


def test_linear_with_an_unknown_init_raises_naming_it_and_the_choices():
    with pytest.raises(ValueError, match=r"'pytorch' or 'book'.*'xavier'"):
        Linear(3, 2, init="xavier")


@pytest.mark.parametrize("shape", [(4, 5), (5,), (3, 2), (2, 3, 2)])
def test_linear_input_with_the_wrong_number_of_features_raises_naming_the_shapes(shape):
    layer = Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=rf"Linear\(3, 2\).*{re.escape(str(shape))}.*3 features"):
        layer(Tensor(np.ones(shape)))


# --------------------------------------------------------------------------- gradients


def _weighted_sum(output, weights):
    """A scalar whose gradient with respect to ``output`` is ``weights``."""
    return (output * Tensor(weights)).sum()


@given(st.data(), sizes, sizes, seeds)
def test_linear_gradients_match_finite_differences_and_the_closed_form(data, n_in, n_out, seed):
    layer = Linear(n_in, n_out, rng=seed)
    x = Tensor(data.draw(batches(n_in)), requires_grad=True)
    upstream = data.draw(tst.arrays((x.shape[0], n_out)))

    def loss(*_):
        return _weighted_sum(layer(x), upstream)

    loss().backward()
    inputs = [x, layer.weight, layer.bias]
    for tensor, numerical in zip(inputs, numerical_gradient(loss, *inputs), strict=True):
        np.testing.assert_allclose(tensor.grad, numerical, rtol=1e-5, atol=1e-7)
    # and the closed forms: ∂L/∂W = Gᵀx, ∂L/∂b = Σ_rows G, ∂L/∂x = G·W
    np.testing.assert_allclose(layer.weight.grad, upstream.T @ x.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, upstream.sum(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad, upstream @ layer.weight.data, rtol=1e-12, atol=1e-14)


@given(st.data(), sizes, sizes, sizes, seeds, st.sampled_from(["tanh", "relu"]))
def test_two_layer_network_gradients_match_finite_differences(
    data, n_in, n_hidden, n_out, seed, last
):
    rng = np.random.default_rng(seed)
    model = Sequential(
        Linear(n_in, n_hidden, rng=rng),
        Sigmoid(),
        Linear(n_hidden, n_out, rng=rng),
        Tanh() if last == "tanh" else ReLU(),
    )
    x = Tensor(data.draw(batches(n_in)), requires_grad=True)
    upstream = data.draw(tst.arrays((x.shape[0], n_out)))
    if last == "relu":  # keep the pre-activations away from relu's kink at 0
        first, second = model[0], model[2]
        hidden = _sigmoid_reference(x.data @ first.weight.data.T + first.bias.data)
        assume(np.all(np.abs(hidden @ second.weight.data.T + second.bias.data) > 1e-3))

    def loss(*_):
        return _weighted_sum(model(x), upstream)

    loss().backward()
    inputs = [x, *model.parameters()]
    for tensor, numerical in zip(inputs, numerical_gradient(loss, *inputs), strict=True):
        np.testing.assert_allclose(tensor.grad, numerical, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- parameters


def test_sequential_names_parameters_by_layer_index():
    model = Sequential(Linear(2, 3, rng=0), Sigmoid(), Linear(3, 1, rng=1), ReLU())
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    expected = [model[0].weight, model[0].bias, model[2].weight, model[2].bias]
    assert [id(p) for p in model.parameters()] == [id(p) for p in expected]


class _Custom(Module):
    def __init__(self):
        self.scale = Tensor(1.0, requires_grad=True)
        self.constant = Tensor([2.0, 3.0])  # does not require grad: not a parameter
        self.encoder = Linear(2, 3, rng=0)
        self.blocks = [Linear(3, 3, rng=1), Tanh(), Linear(3, 1, rng=2)]
        self.tied = self.encoder.weight  # the same tensor again: listed once
        self.steps = 5

    def forward(self, x):
        h = self.encoder(x) * self.scale
        for block in self.blocks:
            h = block(h)
        return h


def test_custom_module_finds_every_parameter_once_in_attribute_order():
    module = _Custom()
    names = [name for name, _ in module.named_parameters()]
    assert names == [
        "scale",
        "encoder.weight",
        "encoder.bias",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.2.weight",
        "blocks.2.bias",
    ]
    expected = [
        module.scale,
        module.encoder.weight,
        module.encoder.bias,
        module.blocks[0].weight,
        module.blocks[0].bias,
        module.blocks[2].weight,
        module.blocks[2].bias,
    ]
    assert [id(p) for p in module.parameters()] == [id(p) for p in expected]


def test_a_tensor_shared_by_two_submodules_is_listed_once():
    class Tied(Module):
        def __init__(self):
            self.encoder = Linear(2, 2, rng=0)
            self.decoder = Linear(2, 2, rng=1)
            self.decoder.weight = self.encoder.weight

    names = [name for name, _ in Tied().named_parameters()]
    assert names == ["encoder.weight", "encoder.bias", "decoder.bias"]


def test_sequential_with_a_layer_used_twice_lists_its_parameters_once():
    layer = Linear(2, 2, rng=0)
    model = Sequential(layer, Sigmoid(), layer)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_an_optimizer_accepts_the_parameters_of_a_sequential_with_a_shared_layer():
    layer = Linear(2, 2, rng=0)
    SGD(Sequential(layer, Sigmoid(), layer).parameters(), lr=0.1)


def test_module_zero_grad_clears_every_parameters_grad():
    module = _Custom()
    module(Tensor(np.ones((2, 2)))).sum().backward()
    assert all(p.grad is not None for p in module.parameters())
    module.zero_grad()
    assert all(p.grad is None for p in module.parameters())


# --------------------------------------------------------------------------- state_dict


def _model(seed):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(3, 4, rng=rng), Sigmoid(), Linear(4, 2, rng=rng))


def _data(model):
    return [p.data.copy() for p in model.parameters()]


def test_state_dict_holds_copies_by_name():
    model = _model(0)
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    before = _data(model)
    for array in state.values():
        array += 100.0
    for p, original in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, original)


def test_load_state_dict_round_trips_and_copies_its_input():
    source, target = _model(0), _model(1)
    x = Tensor(np.random.default_rng(2).normal(size=(5, 3)))
    state = source.state_dict()
    target.load_state_dict(state)
    np.testing.assert_array_equal(target(x).data, source(x).data)
    for array in state.values():
        array *= 0.0  # changing the dict afterwards must not reach the model
    np.testing.assert_array_equal(target(x).data, source(x).data)


def test_load_state_dict_keeps_the_parameters_dtype():
    model = Sequential(Linear(2, 2, rng=0, dtype=np.float32))
    model.load_state_dict({"0.weight": np.ones((2, 2)), "0.bias": np.zeros(2)})
    assert model[0].weight.dtype == np.float32
    np.testing.assert_array_equal(model[0].weight.data, np.ones((2, 2)))


def _last_wrong_shape(state):
    state["2.bias"] = np.zeros(3)
    return state


def _missing(state):
    del state["0.bias"]
    return state


def _unexpected(state):
    state["3.weight"] = np.zeros((2, 2))
    return state


def _integer(state):
    state["2.weight"] = np.ones((2, 4), dtype=np.int64)
    return state


@pytest.mark.parametrize(
    ("corrupt", "error", "match"),
    [
        (_missing, KeyError, r"missing \['0.bias'\]"),
        (_unexpected, KeyError, r"unexpected \['3.weight'\]"),
        (_last_wrong_shape, ValueError, r"2.bias.*\(3,\).*\(2,\)"),
        (_integer, TypeError, r"2.weight.*int64"),
    ],
    ids=["missing_key", "unexpected_key", "wrong_shape_in_last", "integer_array"],
)
def test_load_state_dict_is_all_or_nothing(corrupt, error, match):
    model = _model(0)
    before = _data(model)
    state = corrupt(_model(1).state_dict())  # every other entry would have changed the model
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    for p, original in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, original)


# --------------------------------------------------------------------------- Sequential


def test_sequential_indexing_length_and_iteration():
    layers = [Linear(2, 3, rng=0), Sigmoid(), Linear(3, 1, rng=1)]
    model = Sequential(*layers)
    assert len(model) == 3
    assert model[0] is layers[0] and model[-1] is layers[2]
    assert list(model) == layers


def test_sequential_applies_its_layers_in_order():
    model = _model(0)
    x = np.random.default_rng(3).normal(size=(4, 3))
    first, last = model[0], model[2]
    hidden = _sigmoid_reference(x @ first.weight.data.T + first.bias.data)
    expected = hidden @ last.weight.data.T + last.bias.data
    np.testing.assert_allclose(model(Tensor(x)).data, expected, rtol=1e-12)


def test_sequential_with_a_non_module_raises_type_error_naming_it():
    with pytest.raises(TypeError, match=r"argument 1.*not a Module"):
        Sequential(Linear(2, 2), np.tanh)


# --------------------------------------------------------------------------- losses


def test_squared_error_by_hand():
    # o = (0.2, 0.9), t = (0, 1): E = 0.2² + 0.1² = 0.05; ∂E/∂o = 2(o − t) = (0.4, −0.2)
    o = Tensor([0.2, 0.9], requires_grad=True)
    loss = squared_error(o, np.array([0.0, 1.0]))
    assert loss.item() == pytest.approx(0.05, rel=1e-14)
    loss.backward()
    np.testing.assert_allclose(o.grad, [0.4, -0.2], rtol=1e-14)


def test_mse_by_hand_is_the_mean():
    # the same numbers: mean = 0.05/2 = 0.025; ∂/∂o = 2(o − t)/n = (0.2, −0.1)
    o = Tensor([0.2, 0.9], requires_grad=True)
    loss = mse(o, Tensor([0.0, 1.0]))
    assert loss.item() == pytest.approx(0.025, rel=1e-14)
    loss.backward()
    np.testing.assert_allclose(o.grad, [0.2, -0.1], rtol=1e-14)


@given(tst.arrays(tst.shapes()), st.data())
def test_squared_error_and_mse_match_numpy_with_gradients_two_times_difference(o0, data):
    # E = Σ(t − o)², ∂E/∂o = 2(o − t); mse = E/n, ∂/∂o = 2(o − t)/n; and ∂/∂t = −∂/∂o
    t0 = data.draw(tst.arrays(o0.shape))
    o, t = Tensor(o0, requires_grad=True), Tensor(t0, requires_grad=True)
    loss = squared_error(o, t)
    np.testing.assert_allclose(loss.item(), np.sum((t0 - o0) ** 2), rtol=1e-12, atol=1e-15)
    loss.backward()
    np.testing.assert_allclose(o.grad, 2 * (o0 - t0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.grad, 2 * (t0 - o0), rtol=1e-12, atol=1e-15)

    o, t = Tensor(o0, requires_grad=True), Tensor(t0, requires_grad=True)
    loss = mse(o, t)
    np.testing.assert_allclose(loss.item(), np.mean((t0 - o0) ** 2), rtol=1e-12, atol=1e-15)
    loss.backward()
    np.testing.assert_allclose(o.grad, 2 * (o0 - t0) / o0.size, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.grad, 2 * (t0 - o0) / o0.size, rtol=1e-12, atol=1e-15)


@given(tst.output_target_pairs())
def test_broadcast_losses_average_over_the_output_shape_and_match_finite_differences(pair):
    o0, t0 = pair
    diff = np.broadcast_to(t0 - o0, o0.shape)
    for loss_fn, expected in [(squared_error, np.sum(diff**2)), (mse, np.mean(diff**2))]:
        o, t = Tensor(o0, requires_grad=True), Tensor(t0, requires_grad=True)
        loss = loss_fn(o, t)
        np.testing.assert_allclose(loss.item(), expected, rtol=1e-12, atol=1e-15)
        loss.backward()
        numerical_o, numerical_t = numerical_gradient(loss_fn, o, t)
        np.testing.assert_allclose(o.grad, numerical_o, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(t.grad, numerical_t, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss_fn", [squared_error, mse])
def test_a_target_that_would_stretch_the_output_is_refused(loss_fn):
    column = Tensor([[0.2], [0.5], [0.9]], requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 1\).*\(3, 3\)"):
        loss_fn(column, np.array([0.2, 0.5, 0.9]))  # a row: the book's classic slip
    assert column.grad is None


@st.composite
def logits_and_labels(draw, bound=20.0):
    batch, classes = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    logits = draw(st.lists(elements, min_size=batch * classes, max_size=batch * classes))
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch))
    return np.array(logits).reshape(batch, classes), np.array(labels)


@given(logits_and_labels())
def test_cross_entropy_matches_numpy_and_its_gradient_is_softmax_minus_onehot(case):
    z, labels = case
    batch, classes = z.shape
    log_p = _log_softmax_reference(z)
    expected_loss = -np.mean(log_p[np.arange(batch), labels])
    onehot = np.eye(classes)[labels]
    expected_grad = (np.exp(log_p) - onehot) / batch

    logits = Tensor(z, requires_grad=True)
    loss = cross_entropy(logits, labels)
    np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-12, atol=1e-13)
    loss.backward()
    np.testing.assert_allclose(logits.grad, expected_grad, rtol=1e-10, atol=1e-13)


def test_cross_entropy_by_hand_with_two_classes():
    # logits (0, ln 3): softmax = (1/4, 3/4). label 1: −ln(3/4); label 0: −ln(1/4) = ln 4.
    # mean over the batch of 2 = (ln 4 − ln 3 + ln 4)/2; gradient row 0 (label 1):
    # ((1/4, 3/4) − (0, 1))/2 = (1/8, −1/8); row 1 (label 0): (−3/8, 3/8)
    logits = Tensor([[0.0, np.log(3.0)], [0.0, np.log(3.0)]], requires_grad=True)
    loss = cross_entropy(logits, Tensor(np.array([1, 0]), dtype=np.int64))
    assert loss.item() == pytest.approx((2 * np.log(4) - np.log(3)) / 2, rel=1e-14)
    loss.backward()
    np.testing.assert_allclose(logits.grad, [[1 / 8, -1 / 8], [-3 / 8, 3 / 8]], rtol=1e-12)


def test_cross_entropy_with_logits_of_1e4_is_finite_and_warning_free():
    # row 0: label on the huge logit, loss ≈ 0; row 1: label 1e4 below the top, loss 2e4.
    # mean = 1e4. gradient: softmax rows are one-hot at the top logit: (0, 0, 0) and
    # ((0, 1, 0) − (1, 0, 0))/2 = (−½, ½, 0)
    logits = Tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = cross_entropy(logits, [0, 0])
        loss.backward()
    assert loss.item() == pytest.approx(1e4, rel=1e-12)
    np.testing.assert_allclose(logits.grad, [[0.0, 0.0, 0.0], [-0.5, 0.5, 0.0]], atol=1e-12)


@given(logits_and_labels(bound=1e4))
def test_cross_entropy_stays_finite_for_any_logits_up_to_1e4(case):
    z, labels = case
    logits = Tensor(z, requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = cross_entropy(logits, labels)
        loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad))
    batch = z.shape[0]
    expected = -np.mean(_log_softmax_reference(z)[np.arange(batch), labels])
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    ("logits", "labels", "error", "match"),
    [
        (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, "integers.*float64"),
        (np.zeros((2, 3)), np.array([True, False]), TypeError, "integers.*bool"),
        (np.zeros((2, 3)), np.array([[0], [1]]), ValueError, r"labels of shape \(2,\).*\(2, 1\)"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError, r"labels of shape \(2,\).*\(3,\)"),
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"\[0, 3\).*0 to 3"),
        (np.zeros((2, 3)), np.array([-1, 0]), ValueError, r"\[0, 3\).*-1 to 0"),
        (np.zeros(3), np.array([0]), ValueError, r"\(batch, classes\).*\(3,\)"),
        (np.zeros((1, 2, 3)), np.array([0]), ValueError, r"\(batch, classes\).*\(1, 2, 3\)"),
        (np.zeros((0, 3)), np.zeros(0, dtype=np.int64), ValueError, "empty"),
    ],
    ids=[
        "float_labels",
        "bool_labels",
        "2d_labels",
        "too_many_labels",
        "label_too_large",
        "negative_label",
        "1d_logits",
        "3d_logits",
        "empty_batch",
    ],
)
def test_cross_entropy_bad_input_raises_a_clear_error(logits, labels, error, match):
    with pytest.raises(error, match=rf"cross_entropy: .*{match}"):
        cross_entropy(Tensor(logits, requires_grad=True), labels)


def test_a_frozen_parameter_stays_in_the_state_dict_but_leaves_the_optimizer():
    layer = Linear(3, 2, rng=0)
    layer.bias.requires_grad = False
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    fresh = Linear(3, 2, rng=1)
    fresh.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(fresh.bias.data, layer.bias.data)


def test_linear_accepts_a_list_or_array_input():
    layer = Linear(3, 2, rng=0)
    expected = np.array([[1.0, 2.0, 3.0]]) @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer([[1.0, 2.0, 3.0]]).data, expected)


def test_containers_give_their_layers_tensors_the_dotted_names_of_named_parameters():
    model = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2))
    assert [t.name for t in model.parameters()] == [n for n, _ in model.named_parameters()]
    assert [t.name for t in model.parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    outer = nn.Sequential(nn.Linear(2, 4), model)  # nested: the full dotted name
    assert [t.name for t in outer.parameters()] == [n for n, _ in outer.named_parameters()]

    class Net(nn.Module):
        def __init__(self):
            self.fc1 = nn.Linear(2, 2)
            self.blocks = [nn.Linear(2, 2, bias=False)]

    assert [t.name for t in Net().parameters()] == ["fc1.weight", "fc1.bias", "blocks.0.weight"]
    named = nn.Linear(2, 2, bias=False)
    named.weight.name = "W_ih"  # a name the user chose stays
    assert nn.Sequential(named)[0].weight.name == "W_ih"
