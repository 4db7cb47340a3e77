"""The Tensor surface: construction and dtype rules, weak Python scalars, constructors,
attributes, errors on bad input (and that they change nothing), numerical stability of the
exp-based operations, and forward values against plain numpy on Hypothesis inputs.

Every expected value comes from plain numpy, a closed form or a hand calculation.
"""

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_edu import Function, Tensor, grad, no_grad
from tinygrad_edu.testing import strategies as tst

FLOAT_DTYPES = [np.float32, np.float64]


def _sigmoid_closed_form(x):
    """σ(x) = (1 + tanh(x/2)) / 2: the same function, with no exponential to overflow."""
    return 0.5 * (1 + np.tanh(x / 2))


def _log_softmax_closed_form(x, axis):
    """xᵢ − ln Σⱼ e^xⱼ with numpy's own stable log-sum-exp."""
    return x - np.logaddexp.reduce(x, axis=axis, keepdims=True)


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    "data",
    [3, 2.5, True, [1, 2, 3], [[0.5, 1], [2, 3]], np.arange(4), np.arange(4, dtype=np.int32)],
    ids=["int", "float", "bool", "int_list", "mixed_list", "int64_array", "int32_array"],
)
def test_numbers_lists_and_int_arrays_become_float64(data):
    t = Tensor(data)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


def test_bool_array_becomes_float64_zeros_and_ones():
    t = Tensor(np.array([True, False, True]))
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, [1.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_float32_and_float64_arrays_keep_their_dtype(dtype):
    source = np.array([[0.1, 0.2], [0.3, 0.4]], dtype=dtype)
    t = Tensor(source)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, source)


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([1, 2, 3], np.int64),
        ([1.5, 2.5], np.float32),
        (np.array([0.1, 0.2], dtype=np.float32), np.float64),
        (np.array([0.1, 0.2], dtype=np.float64), np.float32),
        ([1, 0, 1], np.bool_),
    ],
    ids=["list_to_int64", "list_to_float32", "f32_to_f64", "f64_to_f32", "list_to_bool"],
)
def test_explicit_dtype_wins(data, dtype):
    t = Tensor(data, dtype=dtype)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, np.asarray(data).astype(dtype))


def test_an_int64_tensor_can_exist_and_index_another_tensor():
    labels = Tensor([2, 0], dtype=np.int64)
    values = Tensor([10.0, 20.0, 30.0])
    assert labels.dtype == np.int64
    assert not labels.requires_grad
    np.testing.assert_array_equal(values[labels].data, [30.0, 10.0])


@pytest.mark.parametrize(
    ("source", "dtype"),
    [
        (np.array([1.0, 2.0, 3.0]), None),
        (np.array([1.0, 2.0, 3.0], dtype=np.float32), None),
        (np.array([1.0, 2.0, 3.0]), np.float64),
        (np.array([1, 2, 3]), np.int64),
    ],
    ids=["float64", "float32", "float64_with_dtype", "int64_with_dtype"],
)
def test_tensor_copies_its_input_array(source, dtype):
    t = Tensor(source, dtype=dtype)
    source[0] = 99
    assert t.data[0] == 1
    assert not np.shares_memory(t.data, source)


def test_tensor_from_a_tensor_copies_its_data():
    original = Tensor([1.0, 2.0])
    copy = Tensor(original)
    original.data[0] = 99.0
    assert copy.data[0] == 1.0


@pytest.mark.parametrize(
    "data",
    ["abc", ["1", "2"], [None, 1.0], np.array([1.0, 2.0], dtype=object), {"a": 1}],
    ids=["string", "string_list", "none_in_list", "object_array", "dict"],
)
def test_object_and_string_data_raise_type_error(data):
    with pytest.raises(TypeError, match="dtype"):
        Tensor(data)


@pytest.mark.parametrize("dtype", [object, str], ids=["object", "str"])
def test_object_and_string_explicit_dtype_raise_type_error(dtype):
    with pytest.raises(TypeError, match="dtype"):
        Tensor([1.0, 2.0], dtype=dtype)


def test_complex_explicit_dtype_raises_type_error():
    with pytest.raises(TypeError, match="complex"):
        Tensor([1.0], dtype=np.complex128)


@pytest.mark.parametrize("data", [1 + 2j, np.array([1 + 2j, 3 - 1j])], ids=["scalar", "array"])
def test_complex_data_raises_type_error(data):
    with pytest.raises(TypeError, match="complex"):
        Tensor(data)


# --------------------------------------------------------------------------- requires_grad


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_requires_grad_on_integer_tensor_raises_type_error_naming_dtype(dtype):
    with pytest.raises(TypeError, match=str(np.dtype(dtype))):
        Tensor([1, 0], dtype=dtype, requires_grad=True)


def test_setting_requires_grad_on_integer_tensor_raises_and_changes_nothing():
    labels = Tensor([1, 2], dtype=np.int64)
    with pytest.raises(TypeError, match="int64"):
        labels.requires_grad = True
    assert labels.requires_grad is False


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_float_tensor_can_require_grad(dtype):
    assert Tensor(np.ones(2, dtype=dtype), requires_grad=True).requires_grad is True


def test_setting_requires_grad_false_on_non_leaf_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(ValueError, match="MulBackward"):
        y.requires_grad = False
    assert y.requires_grad is True


def test_setting_requires_grad_false_on_leaf_is_allowed():
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.requires_grad = False
    assert x.requires_grad is False
    assert (x * 2).grad_fn is None


# --------------------------------------------------------------------------- float32


def test_float32_computation_keeps_float32_outputs_and_grads():
    rng = np.random.default_rng(0)
    X_values = rng.standard_normal((4, 3)).astype(np.float32)
    W_values = rng.standard_normal((3, 2)).astype(np.float32)
    X = Tensor(X_values)
    W = Tensor(W_values, requires_grad=True)

    z = X @ W
    h = z.sigmoid()
    scaled = 2 * h
    shifted = scaled + 1
    flipped = 1 - shifted
    loss = flipped.sum()
    for t in (z, h, scaled, shifted, flipped, loss):
        assert t.dtype == np.float32, t
    loss.backward()
    assert W.grad is not None and W.grad.dtype == np.float32

    # loss = Σ(1 − (2σ(XW) + 1)) = −2 Σ σ(XW)  ⇒  ∂loss/∂W = Xᵀ · (−2 σ(1 − σ)), in float64.
    s = 1 / (1 + np.exp(-(X_values.astype(np.float64) @ W_values.astype(np.float64))))
    expected = X_values.astype(np.float64).T @ (-2 * s * (1 - s))
    np.testing.assert_allclose(W.grad, expected, rtol=1e-5, atol=1e-6)


def test_float32_backward_computes_in_float32_before_any_cast():
    """`.grad` is cast to the leaf's dtype, which would hide a float64 promotion inside the
    backward pass; the recorded gradients of grad(create_graph=True) are not cast."""
    x = Tensor(np.array([0.5, -1.0, 2.0], dtype=np.float32), requires_grad=True)
    W = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    loss = ((W @ (2 * x + 1)).sigmoid() * (1 - x[:2]) / 3).sum() + (x**2).sum() + (2**x).sum()
    grad_x, grad_W = grad(loss, [x, W], create_graph=True)
    assert grad_x.dtype == np.float32
    assert grad_W.dtype == np.float32


# --------------------------------------------------------------------------- weak scalars

SCALAR_OPS = {
    "2*x": lambda x: 2 * x,
    "x*2": lambda x: x * 2,
    "x+1": lambda x: x + 1,
    "1+x": lambda x: 1 + x,
    "x-1": lambda x: x - 1,
    "1-x": lambda x: 1 - x,
    "1/x": lambda x: 1 / x,
    "x/2": lambda x: x / 2,
    "x**2": lambda x: x**2,
    "2**x": lambda x: 2**x,
    "x*0.5": lambda x: x * 0.5,
    "0.5-x": lambda x: 0.5 - x,
}


@pytest.mark.parametrize("expression", sorted(SCALAR_OPS))
@given(
    values=tst.arrays(tst.shapes(), domain="nonzero"),
    dtype=st.sampled_from(FLOAT_DTYPES),
)
def test_python_scalar_on_either_side_matches_numpy_and_keeps_dtype(expression, values, dtype):
    apply = SCALAR_OPS[expression]
    x = values.astype(dtype)
    result = apply(Tensor(x))
    expected = np.asarray(apply(x))  # numpy 2 treats Python scalars as weak too
    assert isinstance(result, Tensor)
    assert result.dtype == x.dtype == expected.dtype
    np.testing.assert_allclose(result.data, expected, rtol=1e-6)


ARRAY_ON_LEFT = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


@pytest.mark.parametrize("symbol", sorted(ARRAY_ON_LEFT))
def test_numpy_array_on_the_left_returns_a_tensor(symbol):
    op = ARRAY_ON_LEFT[symbol]
    left = np.array([[1.0, 2.0], [3.0, 4.0]])
    right = np.array([0.5, 2.0])
    x = Tensor(right, requires_grad=True)
    result = op(left, x)
    assert isinstance(result, Tensor), type(result)
    assert result.grad_fn is not None
    np.testing.assert_allclose(result.data, op(left, right))


def test_numpy_array_on_the_left_of_matmul_returns_a_tensor():
    left = np.array([[1.0, 2.0], [3.0, 4.0]])
    right = np.array([[0.5], [-1.0]])
    result = left @ Tensor(right, requires_grad=True)
    assert isinstance(result, Tensor)
    np.testing.assert_allclose(result.data, left @ right)


@pytest.mark.parametrize(
    "scalar",
    [np.float64(3.0), np.float32(3.0), np.int64(2)],
    ids=["float64", "float32", "int64"],
)
@pytest.mark.parametrize("symbol", sorted(ARRAY_ON_LEFT))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_numpy_scalar_on_the_left_matches_numpy(scalar, symbol, dtype):
    op = ARRAY_ON_LEFT[symbol]
    x = np.array([0.5, 2.0, 4.0], dtype=dtype)
    result = op(scalar, Tensor(x))
    expected = op(scalar, x)
    assert isinstance(result, Tensor), type(result)
    assert result.dtype == expected.dtype
    np.testing.assert_allclose(result.data, expected, rtol=1e-6)


def test_weak_scalar_gradients_match_hand_calculation():
    x = Tensor([1.0, 2.0, 4.0], requires_grad=True)
    # d/dx [2x + (1 − x) + 1/x + x² + 2ˣ] = 2 − 1 − 1/x² + 2x + 2ˣ ln 2
    (2 * x + (1 - x) + 1 / x + x**2 + 2**x).sum().backward()
    v = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(x.grad, 1 - 1 / v**2 + 2 * v + 2**v * np.log(2))


# --------------------------------------------------------------------------- constructors

CONSTRUCTORS = {
    "zeros": Tensor.zeros,
    "ones": Tensor.ones,
    "randn": Tensor.randn,
    "uniform": Tensor.uniform,
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
@given(shape=tst.shapes(min_dims=0, max_dims=4, min_side=0))
def test_constructor_shape_given_as_ints_or_one_tuple(name, shape):
    make = CONSTRUCTORS[name]
    assert make(*shape).shape == shape
    assert make(shape).shape == shape
    assert make(list(shape)).shape == shape


def test_zeros_and_ones_hold_zeros_and_ones():
    np.testing.assert_array_equal(Tensor.zeros(2, 3).data, np.zeros((2, 3)))
    np.testing.assert_array_equal(Tensor.ones((3, 1)).data, np.ones((3, 1)))


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_constructor_requires_grad_makes_a_leaf_that_requires_grad(name):
    t = CONSTRUCTORS[name](2, 3, requires_grad=True)
    assert t.requires_grad is True
    assert t.grad_fn is None
    assert t.grad is None


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_constructor_defaults_to_float64_without_grad(name):
    t = CONSTRUCTORS[name](2)
    assert t.dtype == np.float64
    assert t.requires_grad is False


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_constructor_float_dtype_is_kept(name, dtype):
    assert CONSTRUCTORS[name](2, 2, dtype=dtype).dtype == dtype


@pytest.mark.parametrize("name", ["zeros", "ones"])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_constructor_explicit_integer_dtype_is_kept(name, dtype):
    assert CONSTRUCTORS[name](3, dtype=dtype).dtype == dtype


@pytest.mark.parametrize("name", ["zeros", "ones"])
def test_constructor_requires_grad_with_integer_dtype_raises_type_error(name):
    with pytest.raises(TypeError, match="int64"):
        CONSTRUCTORS[name](3, dtype=np.int64, requires_grad=True)


@given(seed=st.integers(0, 2**32 - 1), shape=tst.shapes(min_dims=1))
def test_randn_with_a_seed_matches_numpy_default_rng(seed, shape):
    expected = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_array_equal(Tensor.randn(*shape, rng=seed).data, expected)
    np.testing.assert_array_equal(Tensor.randn(shape, rng=seed).data, expected)


def test_randn_with_a_generator_matches_numpy_and_advances_it():
    rng = np.random.default_rng(5)
    first, second = Tensor.randn(3, rng=rng), Tensor.randn(3, rng=rng)
    reference = np.random.default_rng(5)
    np.testing.assert_array_equal(first.data, reference.standard_normal(3))
    np.testing.assert_array_equal(second.data, reference.standard_normal(3))


@pytest.mark.parametrize("name", ["randn", "uniform"])
def test_random_constructor_same_seed_same_data_other_seed_other_data(name):
    make = CONSTRUCTORS[name]
    np.testing.assert_array_equal(make(4, 5, rng=11).data, make(4, 5, rng=11).data)
    assert not np.array_equal(make(4, 5, rng=11).data, make(4, 5, rng=12).data)


def test_uniform_with_a_seed_matches_numpy_default_rng():
    expected = np.random.default_rng(3).uniform(-2.0, 5.0, (4, 6))
    actual = Tensor.uniform(4, 6, low=-2.0, high=5.0, rng=3).data
    np.testing.assert_array_equal(actual, expected)


@given(
    low=st.floats(-100, 100),
    width=st.floats(1e-3, 100),
    seed=st.integers(0, 2**32 - 1),
)
def test_uniform_stays_within_low_high(low, width, seed):
    high = low + width
    t = Tensor.uniform(200, low=low, high=high, rng=seed)
    assert np.all(t.data >= low)
    assert np.all(t.data < high)


def test_uniform_spreads_over_the_whole_interval():
    t = Tensor.uniform(2000, low=2.0, high=5.0, rng=0)
    assert 2.0 <= t.data.min() < 2.05
    assert 4.95 < t.data.max() < 5.0


def test_numpy_integers_are_accepted_as_sizes_and_axes():
    x = Tensor.zeros(np.int64(2), np.int32(3))
    assert x.shape == (2, 3)
    assert x.reshape(np.int64(3), 2).shape == (3, 2)
    assert x.sum(axis=np.int64(1)).shape == (2,)


# --------------------------------------------------------------------------- attributes


@given(values=tst.arrays(tst.shapes(min_dims=0, max_dims=4)), dtype=st.sampled_from(FLOAT_DTYPES))
def test_shape_ndim_size_dtype_match_numpy(values, dtype):
    x = values.astype(dtype)
    t = Tensor(x)
    assert t.shape == x.shape
    assert t.ndim == x.ndim
    assert t.size == x.size
    assert t.dtype == x.dtype


@given(values=tst.arrays(tst.shapes(min_dims=1, max_dims=4)))
def test_len_is_the_length_of_the_first_axis(values):
    assert len(Tensor(values)) == values.shape[0]


def test_len_of_a_zero_dimensional_tensor_raises_type_error():
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(Tensor(1.0))


@given(values=tst.arrays(tst.shapes(min_dims=1, max_dims=3)))
def test_iteration_gives_the_rows_as_numpy_does(values):
    rows = list(Tensor(values))
    assert len(rows) == len(values)
    for row, expected in zip(rows, values, strict=True):
        np.testing.assert_array_equal(row.data, expected)


def test_iteration_records_each_row_so_gradients_flow_back():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    first, second = x
    (first * 2 + second * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0], [3.0, 3.0]])


def test_a_zero_dimensional_tensor_is_not_iterable():
    # before, iteration fell back to __getitem__: list(Tensor(1.0)) was [], sum(...) 0
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(Tensor(1.0))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        sum(Tensor(5.0))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, True), (2, True), (3.0, False), (np.float32(2.0), True), (Tensor(1.0), True)],
)
def test_in_looks_for_an_equal_element_as_numpy_does(value, expected):
    values = np.array([1.0, 2.0])
    assert (value in Tensor(values)) is expected
    assert (np.asarray(value) in values) is expected  # numpy's answer, for the record


def test_in_refuses_a_value_that_is_not_a_number():
    with pytest.raises(TypeError, match="looks for a number"):
        "a" in Tensor([1.0])  # noqa: B015


@given(values=tst.arrays(tst.shapes(min_dims=0, max_dims=4)))
def test_T_equals_numpy_transpose(values):
    np.testing.assert_array_equal(Tensor(values).T.data, np.transpose(values))


@pytest.mark.parametrize(("value", "kind"), [(2.5, float), (np.float32(-1.5), float)])
def test_item_returns_the_python_number(value, kind):
    item = Tensor(np.array([[value]])).item()
    assert type(item) is kind
    assert item == float(value)


def test_item_of_an_int64_tensor_returns_an_int():
    item = Tensor(7, dtype=np.int64).item()
    assert type(item) is int and item == 7


def test_item_of_several_elements_raises_value_error():
    with pytest.raises(ValueError):
        Tensor([1.0, 2.0]).item()


def test_numpy_returns_the_data_array():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    array = t.numpy()
    assert isinstance(array, np.ndarray)
    assert array is t.data
    np.testing.assert_array_equal(array, [[1.0, 2.0], [3.0, 4.0]])


def test_np_asarray_of_a_tensor_gives_its_values():
    np.testing.assert_array_equal(np.asarray(Tensor([1.0, 2.0])), [1.0, 2.0])


def test_detach_shares_data_and_leaves_the_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    detached = y.detach()
    assert np.shares_memory(detached.data, y.data)
    assert detached.grad_fn is None
    assert detached.requires_grad is False
    assert (detached * 2).grad_fn is None
    y.data[0] = -1.0
    assert detached.data[0] == -1.0


def test_name_is_kept_and_defaults_to_none():
    assert Tensor([1.0], name="W_ho").name == "W_ho"
    assert Tensor([1.0]).name is None


def test_repr_of_a_named_leaf_contains_its_name():
    text = repr(Tensor([1.0, 2.0], requires_grad=True, name="W_ho"))
    assert "W_ho" in text
    assert "requires_grad=True" in text


def test_repr_of_a_computed_tensor_contains_name_and_grad_fn():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.name = "doubled"
    text = repr(y)
    assert "doubled" in text
    assert "grad_fn" in text and "MulBackward" in text


def test_repr_shows_a_non_default_dtype():
    assert "float32" in repr(Tensor(np.ones(2, dtype=np.float32)))


def test_np_array_of_a_tensor_is_a_copy_and_np_asarray_a_view():
    t = Tensor([1.0, 2.0])
    copied = np.array(t)
    copied[0] = 99.0
    assert t.data[0] == 1.0
    assert np.asarray(t) is t.data


# --------------------------------------------------------------------------- bad input

BROADCASTING_OPERATORS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}


@pytest.mark.parametrize(
    ("left", "right"),
    [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (4,)), ((5, 2, 3), (2, 4))],
)
def test_matmul_inner_dimension_mismatch_names_both_shapes(left, right):
    a = Tensor(np.ones(left), requires_grad=True)
    b = Tensor(np.ones(right), requires_grad=True)
    with pytest.raises(ValueError, match="matmul") as error:
        a @ b
    assert str(left) in str(error.value)
    assert str(right) in str(error.value)


@pytest.mark.parametrize("name", sorted(BROADCASTING_OPERATORS))
@pytest.mark.parametrize(("left", "right"), [((2, 3), (4,)), ((3, 1), (2, 4)), ((2,), (3,))])
def test_shapes_that_do_not_broadcast_raise_value_error_naming_both(name, left, right):
    op = BROADCASTING_OPERATORS[name]
    a = Tensor(np.ones(left), requires_grad=True)
    b = Tensor(np.ones(right), requires_grad=True)
    with pytest.raises(ValueError, match=name) as error:
        op(a, b)
    assert str(left) in str(error.value)
    assert str(right) in str(error.value)


@pytest.mark.parametrize("name", sorted(BROADCASTING_OPERATORS))
def test_numpy_array_that_does_not_broadcast_raises_value_error_naming_both(name):
    op = BROADCASTING_OPERATORS[name]
    with pytest.raises(ValueError) as error:
        op(np.ones(4), Tensor(np.ones((2, 3))))
    assert "(4,)" in str(error.value)
    assert "(2, 3)" in str(error.value)


def test_reshape_to_a_wrong_size_names_both_shapes():
    with pytest.raises(ValueError, match="reshape") as error:
        Tensor(np.ones((2, 3))).reshape(4, 2)
    assert "(2, 3)" in str(error.value)
    assert "(4, 2)" in str(error.value)


@pytest.mark.parametrize("axes", [(0, 0), (0,), (1, 0, 2)], ids=["repeated", "short", "long"])
def test_transpose_with_a_bad_permutation_raises_value_error(axes):
    with pytest.raises(ValueError, match="transpose") as error:
        Tensor(np.ones((2, 3))).transpose(*axes)
    assert str(axes) in str(error.value)
    assert "(2, 3)" in str(error.value)


@pytest.mark.parametrize("axes", [(0, 3), (-3, 0), (2, 1)], ids=["3", "-3", "2"])
def test_transpose_with_an_out_of_range_axis_raises_value_error(axes):
    # (0, 3) and (-3, 0) would be permutations if the axes were taken modulo 2.
    with pytest.raises(ValueError, match="transpose") as error:
        Tensor(np.ones((2, 3))).transpose(*axes)
    assert str(axes) in str(error.value)


@pytest.mark.parametrize("method", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [2, -3, (0, 5)])
def test_reduction_with_an_out_of_range_axis_raises_value_error(method, axis):
    with pytest.raises(ValueError, match=method) as error:
        getattr(Tensor(np.ones((2, 3))), method)(axis=axis)
    message = str(error.value)
    assert "out of range" in message and "2 dimensions" in message


@pytest.mark.parametrize("index", [5, (0, 3), -3, (slice(None), 7)])
def test_indexing_out_of_bounds_raises_index_error_naming_the_shape(index):
    with pytest.raises(IndexError) as error:
        Tensor(np.ones((2, 3)))[index]
    assert "(2, 3)" in str(error.value)


def test_indexing_with_a_float_tensor_raises_index_error_naming_the_dtype():
    with pytest.raises(IndexError, match="float64"):
        Tensor(np.ones((2, 3)))[Tensor([0.0, 1.0])]


def test_indexing_with_a_float_number_raises_index_error():
    with pytest.raises(IndexError):
        Tensor(np.ones((2, 3)))[1.0]


FAILING_OPS = {
    "matmul": lambda a, b: a @ b,
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "reshape": lambda a, b: a.reshape(5),
    "transpose": lambda a, b: a.transpose(0, 0),
    "sum": lambda a, b: a.sum(axis=4),
    "getitem": lambda a, b: a[9],
    "float_index": lambda a, b: a[Tensor([0.0])],
}


@pytest.mark.parametrize("name", sorted(FAILING_OPS))
def test_a_failed_op_records_nothing(name):
    a_values, b_values = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0])
    a = Tensor(a_values, requires_grad=True)
    b = Tensor(b_values, requires_grad=True)
    with pytest.raises((ValueError, IndexError)):
        FAILING_OPS[name](a, b)
    for t, values in ((a, a_values), (b, b_values)):
        assert t.grad is None
        assert t.grad_fn is None
        assert t.requires_grad is True
        np.testing.assert_array_equal(t.data, values)
    # The inputs still work, and their gradients are exactly those of the new graph:
    # d/da Σ 3a = 3, d/db Σ b² = 2b.
    ((a * 3).sum() + (b * b).sum()).backward()
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 3.0))
    np.testing.assert_array_equal(b.grad, 2 * b_values)


def test_backward_with_a_wrong_gradient_shape_names_shapes_and_changes_no_grad():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(ValueError) as error:
        y.backward(np.ones(2))
    assert "(2,)" in str(error.value) and "(3,)" in str(error.value)
    assert x.grad is None


class _WrongShapeBackward(Function):
    """y = x, but the backward returns a gradient of the wrong shape."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g.sum()


def test_a_failed_backward_changes_no_grad():
    good = Tensor([1.0, 2.0], requires_grad=True)
    bad = Tensor([3.0, 4.0], requires_grad=True)
    good.grad = np.array([10.0, 20.0])
    loss = (good * 2).sum() + _WrongShapeBackward.apply(bad).sum()
    with pytest.raises(ValueError, match="shape"):
        loss.backward()
    np.testing.assert_array_equal(good.grad, [10.0, 20.0])
    assert bad.grad is None


def test_integer_power_error_is_numpys_not_a_broadcast_complaint():
    base = Tensor([1, 2, 3], dtype=np.int64)
    with pytest.raises(ValueError) as error:
        base ** Tensor([-1], dtype=np.int64)
    assert "broadcast" not in str(error.value)


def test_a_non_integer_axis_is_refused_by_name():
    with pytest.raises(TypeError, match=r"sum: axis must be"):
        Tensor([1.0, 2.0]).sum(axis=1.7)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: Tensor.zeros(2.5), r"zeros: the shape must be integers, got 2.5"),
        (lambda: Tensor.ones(True, 2), r"ones: the shape must be integers, got True"),
        (lambda: Tensor.randn("3"), r"randn: the shape must be integers, got '3'"),
        (lambda: Tensor.uniform((2, 1.0)), r"uniform: the shape must be integers"),
        (lambda: Tensor.zeros(4).reshape(2.9, 2), r"reshape: the shape must be integers, got 2.9"),
        (lambda: Tensor.zeros(4).reshape("2", 2), r"reshape: the shape must be integers, got '2'"),
        (lambda: Tensor.zeros(2, 3).transpose(1.0, 0), r"transpose: the axes must be integers"),
        (lambda: Tensor.zeros(3).broadcast_to(2, 3.0), r"broadcast_to: the shape must be"),
        (lambda: Tensor.zeros(2, 3).sum(axis=True), r"sum: axis must be"),
        (lambda: Tensor.zeros(2, 3).max(axis=(0, False)), r"max: axis must be"),
        (lambda: Tensor.zeros(2, 3).softmax(axis=True), r"softmax: axis must be one integer"),
    ],
)
def test_shapes_and_axes_must_be_integers_not_floats_strings_or_bools(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize("name", ["zeros", "ones", "randn", "uniform"])
def test_a_negative_size_is_refused_by_the_constructor(name):
    with pytest.raises(ValueError, match=rf"{name}: the shape \(2, -1\) has a negative size"):
        getattr(Tensor, name)(2, -1)


def test_ragged_lists_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="rectangular"):
        Tensor([[1, 2], [3]])


# --------------------------------------------------------------------------- stability

EXTREME_ROWS = np.array(
    [[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4], [1e4, 0.0, 1.0]]
)
STABLE_OPS = ["sigmoid", "tanh", "softmax", "log_softmax"]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", STABLE_OPS)
def test_extreme_inputs_give_finite_values_and_grads_without_warnings(name, dtype):
    x = Tensor(EXTREME_ROWS.astype(dtype), requires_grad=True)
    cotangent = Tensor(np.arange(EXTREME_ROWS.size, dtype=dtype).reshape(EXTREME_ROWS.shape))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = getattr(x, name)()
        (y * cotangent).sum().backward()
    assert y.dtype == dtype
    assert np.all(np.isfinite(y.data))
    assert np.all(np.isfinite(x.grad))


@given(
    values=hnp.arrays(
        np.float64,
        tst.shapes(min_dims=1),
        elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
    ),
    axis_seed=st.integers(0, 2),
)
def test_stable_ops_match_closed_forms_for_all_inputs_up_to_1e4(values, axis_seed):
    axis = axis_seed % values.ndim
    x = Tensor(values, requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = x.sigmoid()
        th = x.tanh()
        sm = x.softmax(axis=axis)
        lsm = x.log_softmax(axis=axis)
        (s.sum() + th.sum() + (sm * values).sum() + lsm.sum()).backward()
        expected_lsm = _log_softmax_closed_form(values, axis)
        expected_sm = np.exp(expected_lsm)
    np.testing.assert_allclose(s.data, _sigmoid_closed_form(values), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(th.data, np.tanh(values), rtol=1e-15)
    np.testing.assert_allclose(sm.data, expected_sm, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(lsm.data, expected_lsm, rtol=1e-12, atol=1e-9)
    assert np.all((s.data >= 0) & (s.data <= 1))
    assert np.all(np.isfinite(x.grad))


def test_sigmoid_at_plus_minus_1e4_is_one_and_zero():
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = Tensor([1e4, -1e4]).sigmoid().data
    assert s[0] == 1.0
    assert 0.0 <= s[1] < 1e-300  # e^(−10000) is far below the smallest float64


def test_sigmoid_grad_at_plus_minus_1e4_is_zero():
    # σ′(x) = σ(1 − σ) = e^(−|x|) / (1 + e^(−|x|))², which underflows to 0 at |x| = 1e4.
    x = Tensor([1e4, -1e4], requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        x.sigmoid().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_tanh_at_plus_minus_1e4_is_plus_minus_one_with_zero_grad():
    x = Tensor([1e4, -1e4], requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = x.tanh()
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [1.0, -1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_softmax_of_mixed_extreme_row_is_one_hot():
    x = Tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = x.softmax()
        (y * Tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])).sum().backward()
    np.testing.assert_allclose(y.data, [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], atol=1e-300)
    # ∂/∂x Σ g·s = s·(g − Σ g·s): row 1: s = e₀ ⇒ 0; row 2: Σ g·s = 2.5 ⇒ [0, −0.25, 0.25].
    np.testing.assert_allclose(x.grad, [[0.0, 0.0, 0.0], [0.0, -0.25, 0.25]], atol=1e-300)


def test_log_softmax_of_extreme_rows_matches_hand_calculation():
    x = Tensor([[1e4, 0.0], [1e4, -1e4]], requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = x.log_softmax()
        (y * Tensor([[1.0, 2.0], [1.0, 2.0]])).sum().backward()
    # ln Σ e^x = 1e4 + ln(1 + e^(−1e4)) = 1e4 in float64, so y = x − 1e4.
    np.testing.assert_allclose(y.data, [[0.0, -1e4], [0.0, -2e4]], rtol=1e-15, atol=1e-12)
    # ∂/∂x Σ g·y = g − softmax(x)·Σ g, with softmax = [1, 0] and Σ g = 3.
    np.testing.assert_allclose(x.grad, [[-2.0, 2.0], [-2.0, 2.0]], rtol=1e-15)


def test_max_of_data_holding_nan_is_nan_without_a_warning_and_sends_the_gradient_there():
    # numpy's max propagates NaN; as in PyTorch the NaN is the maximum that gets the gradient
    x = Tensor([[1.0, np.nan, 2.0], [3.0, 4.0, 0.0]], requires_grad=True)
    y = x.max(axis=1)
    assert np.isnan(y.data[0]) and y.data[1] == 4.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_values_spread_beyond_the_float_range_gives_no_warning(name):
    # −1e308 − 1e308 overflows to −inf, whose exponential 0 is the right weight
    x = Tensor([-1e308, 1e308], requires_grad=True)
    y = getattr(x, name)()
    expected = [0.0, 1.0] if name == "softmax" else [-np.inf, 0.0]
    np.testing.assert_array_equal(y.data, expected)
    (y * Tensor([1.0, 0.0]) if name == "softmax" else y[1]).sum().backward()
    assert np.all(np.isfinite(x.grad))


def test_pow_at_a_zero_base_and_negative_exponent_has_minus_infinite_derivatives():
    # y = 0ᵇ = ∞ for b < 0: ∂y/∂b = 0ᵇ·ln 0 = ∞·(−∞) = −∞ and ∂y/∂a = b·0ᵇ⁻¹ = −∞ (PyTorch
    # agrees); for b > 0, y = 0ᵇ = 0 is constant in b (∂y/∂b = 0) and ∂y/∂a = b·0ᵇ⁻¹ = 0
    a = Tensor([0.0, 0.0, 0.0], requires_grad=True)
    b = Tensor([-1.0, -2.5, 1.5], requires_grad=True)
    with np.errstate(divide="ignore"):  # the forward's 0⁻¹ = ∞ is numpy's to warn about
        y = a**b
    y.backward(np.ones(3))
    np.testing.assert_array_equal(b.grad, [-np.inf, -np.inf, 0.0])
    np.testing.assert_array_equal(a.grad, [-np.inf, -np.inf, 0.0])


def test_pow_at_a_zero_base_uses_the_limits_not_nan():
    # d(x⁰)/dx = 0 everywhere; d(0ᵇ)/db = 0 for b > 0; d(3ᵇ)/db = 3ᵇ·ln 3
    x = Tensor([0.0, 2.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    b = Tensor(2.0, requires_grad=True)
    (Tensor([0.0, 3.0]) ** b).sum().backward()
    assert b.grad == pytest.approx(9 * np.log(3), rel=1e-12)
    y = Tensor([0.0, 1.5], requires_grad=True)
    (y**2).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 3.0])


# --------------------------------------------------------------------------- masks select


def test_relu_sends_zero_where_x_is_negative_even_when_the_gradient_there_is_infinite():
    # d/dx √relu(x) at x = −1: relu′ = 0, so 0 (PyTorch: 0), though √′(0) = ∞; at x = 4,
    # 1/(2√4) = 0.25. g · [x > 0] would give ∞ · 0 = NaN.
    x = Tensor([-1.0, 4.0], requires_grad=True)
    (x.relu() ** 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])
    y = Tensor([-1.0, 4.0], requires_grad=True)
    (recorded,) = grad((y.relu() ** 0.5).sum(), y, create_graph=True)
    np.testing.assert_array_equal(recorded.data, [0.0, 0.25])


def test_max_sends_zero_to_the_other_elements_even_when_the_gradient_is_infinite():
    # ∂/∂x of 1/(max x − 3) at x = [1, 3, 3]: the gradient arriving at max is −1/0² = −∞,
    # shared by the two tied maxima; the 1 gets 0, not ∞ · 0 = NaN
    x = Tensor([1.0, 3.0, 3.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        (1 / (x.max() - 3)).backward()
    np.testing.assert_array_equal(x.grad, [0.0, -np.inf, -np.inf])


@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_of_a_0d_tensor_is_one_and_log_softmax_zero_with_gradient_zero(axis):
    # a 0-d tensor is its own only element: e^x / e^x = 1, ln 1 = 0; both constant in x
    for method, value in (("softmax", 1.0), ("log_softmax", 0.0)):
        x = Tensor(2.5, requires_grad=True)
        y = getattr(x, method)(axis)
        assert y.shape == () and y.item() == value
        y.backward()
        assert x.grad == 0.0


# --------------------------------------------------------------------------- forward values

UNARY = {
    "exp": (Tensor.exp, np.exp, "real"),
    "log": (Tensor.log, np.log, "positive"),
    "sigmoid": (Tensor.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "real"),
    "tanh": (Tensor.tanh, lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1), "real"),
    "relu": (Tensor.relu, lambda x: np.where(x > 0, x, 0.0), "real"),
    "neg": (Tensor.__neg__, lambda x: -x, "real"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary_forward_matches_numpy_formula(name, data):
    method, formula, domain = UNARY[name]
    values = data.draw(tst.arrays(tst.shapes(), domain=domain), label="x")
    np.testing.assert_allclose(method(Tensor(values)).data, formula(values), rtol=1e-12, atol=1e-15)


BINARY = {
    "add": (operator.add, ("real", "real")),
    "sub": (operator.sub, ("real", "real")),
    "mul": (operator.mul, ("real", "real")),
    "div": (operator.truediv, ("real", "nonzero")),
    "pow": (operator.pow, ("positive", "real")),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_forward_matches_numpy_with_broadcasting(name, data):
    op, domains = BINARY[name]
    a, b = data.draw(tst.broadcastable_pairs(domains), label="pair")
    result = op(Tensor(a), Tensor(b))
    expected = np.asarray(op(a, b))
    assert result.shape == expected.shape
    np.testing.assert_allclose(result.data, expected, rtol=1e-12)


@given(pair=tst.matmul_pairs())
def test_matmul_forward_matches_numpy(pair):
    a, b = pair
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, np.matmul(a, b), rtol=1e-12)


@pytest.mark.parametrize("method", ["sum", "mean", "max"])
@given(data=st.data())
def test_reduction_forward_matches_numpy(method, data):
    values = data.draw(tst.arrays(tst.shapes()), label="x")
    axis = data.draw(tst.axes(values.ndim), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    result = getattr(Tensor(values), method)(axis=axis, keepdims=keepdims)
    expected = np.asarray(getattr(np, method)(values, axis=axis, keepdims=keepdims))
    assert result.shape == expected.shape
    np.testing.assert_allclose(result.data, expected, rtol=1e-12, atol=1e-15)


@given(data=st.data())
def test_softmax_and_log_softmax_forward_match_formula(data):
    values = data.draw(tst.arrays(tst.shapes(min_dims=1)), label="x")
    axis = data.draw(st.integers(-values.ndim, values.ndim - 1), label="axis")
    e = np.exp(values)
    softmax = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(Tensor(values).softmax(axis=axis).data, softmax, rtol=1e-12)
    np.testing.assert_allclose(
        Tensor(values).log_softmax(axis=axis).data, np.log(softmax), rtol=1e-12, atol=1e-14
    )


@given(data=st.data())
def test_transpose_matches_numpy_transpose(data):
    values = data.draw(tst.arrays(tst.shapes(max_dims=4)), label="x")
    axes = data.draw(st.permutations(range(values.ndim)).map(tuple), label="axes")
    x = Tensor(values)
    np.testing.assert_array_equal(x.transpose(*axes).data, np.transpose(values, axes))
    np.testing.assert_array_equal(x.transpose(axes).data, np.transpose(values, axes))
    np.testing.assert_array_equal(x.transpose().data, np.transpose(values))


@given(data=st.data())
def test_reshape_matches_numpy_reshape(data):
    values = data.draw(tst.arrays(tst.shapes(max_dims=4)), label="x")
    target = data.draw(
        st.sampled_from(
            [(values.size,), values.shape[::-1], (1, *values.shape), (*values.shape, 1), (-1,)]
        ),
        label="shape",
    )
    x = Tensor(values)
    np.testing.assert_array_equal(x.reshape(*target).data, np.reshape(values, target))
    np.testing.assert_array_equal(x.reshape(target).data, np.reshape(values, target))


@given(data=st.data())
def test_getitem_matches_numpy_indexing(data):
    values = data.draw(tst.arrays(tst.shapes(max_dims=3)), label="x")
    index = data.draw(tst.indices(values.shape), label="index")
    result = Tensor(values)[index]
    expected = np.asarray(values[index])
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result.data, expected)


@given(values=tst.arrays(tst.shapes(min_dims=1, max_dims=3)), data=st.data())
def test_getitem_with_an_int_tensor_matches_numpy_integer_indexing(values, data):
    rows = data.draw(
        st.lists(st.integers(-values.shape[0], values.shape[0] - 1), min_size=1, max_size=5)
    )
    result = Tensor(values)[Tensor(rows, dtype=np.int64)]
    np.testing.assert_array_equal(result.data, values[np.array(rows)])


# --------------------------------------------------------------------------- indexing


@pytest.mark.parametrize("make_index", [lambda: np.array([0, 0]), lambda: [0, 0]])
def test_the_index_is_copied_when_recorded(make_index):
    # x[idx] with idx = [0, 0] picks x₀ twice: ∂/∂x = [2, 0], whatever idx becomes later
    x = Tensor([1.0, 2.0], requires_grad=True)
    idx = make_index()
    y = x[idx]
    idx[0] = idx[1] = 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0])


def test_an_index_tensor_is_copied_when_recorded():
    x = Tensor([1.0, 2.0], requires_grad=True)
    idx = Tensor([0, 0], dtype=np.int64)
    y = x[idx]
    with no_grad():
        idx += 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0])
