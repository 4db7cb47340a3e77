"""One home per derivative: what the step-through page shows as an edge's local factor, and
what the backward drawing writes on the edge, come from the operation's own `Function` (its
backward and its ``labels``), and agree with the registry's independently written closed
forms for every registered operation."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import sigmoid

from tinygrad_edu import Tensor, registry, viz
from tinygrad_edu.autograd import input_gradients
from tinygrad_edu.explore import PRODUCTS, local_factors
from tinygrad_edu.functions import Linear, MatMul, Softmax
from tinygrad_edu.testing import strategies as tst

OPS = sorted(registry.REGISTRY)


def combine(product: str, gradient: np.ndarray, values: np.ndarray) -> np.ndarray:
    """What the page says is sent for ``gradient``: the words of `PRODUCTS`, written out."""
    return {
        "elementwise": lambda: gradient * values,
        "right": lambda: gradient @ values,
        "left": lambda: values @ gradient,
        "transposed": lambda: gradient.T @ values,
    }[product]()


def recorded(case):
    tensors = [Tensor(x, requires_grad=True) for x in case.inputs]
    output = case.op.function.apply(*tensors, **case.options)
    return output, tensors


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_every_factor_the_page_shows_gives_the_closed_form_gradient(name, data):
    case = data.draw(tst.in_domain(name), label="case")
    output, _ = recorded(case)
    gradient = data.draw(tst.arrays(output.shape), label="arriving")
    factors = local_factors(output.grad_fn, np.ones_like(output.data))
    closed_form = case.op.reference(gradient, *case.inputs, **case.options)
    ones = case.op.reference(np.ones_like(output.data), *case.inputs, **case.options)
    assert len(factors) == len(case.inputs)
    engine = input_gradients(output.grad_fn, gradient)  # what every factor is read from
    for index, sent in enumerate(engine):
        np.testing.assert_allclose(sent, closed_form[index], rtol=1e-9, atol=1e-12)
    for index, factor in enumerate(factors):
        if factor is None:
            continue
        assert factor.product in PRODUCTS
        sent = combine(factor.product, gradient, factor.values)
        np.testing.assert_allclose(sent, closed_form[index], rtol=1e-9, atol=1e-12)
        if factor.product == "elementwise":  # the Function's backward of a ones gradient
            np.testing.assert_allclose(factor.values, ones[index], rtol=1e-12, atol=1e-15)


def test_an_empty_result_has_no_matrix_factor_to_read_off():
    # x[:, 0:0] sends nothing back: no factor to show, and no error (Hypothesis found it)
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (factor,) = local_factors(x[:, 0:0].grad_fn, np.ones((2, 0)))
    assert factor is None or factor.values.size == 0


def test_each_kind_of_operation_gets_the_factor_its_formula_names():
    z = np.array([[0.3], [-1.2], [2.0]])
    y = Tensor(z, requires_grad=True).sigmoid()
    ((values, product),) = local_factors(y.grad_fn, np.ones((3, 1)))
    assert product == "elementwise"
    np.testing.assert_allclose(values, sigmoid(z) * (1 - sigmoid(z)), rtol=1e-12)  # σ(1−σ)

    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = Tensor(np.arange(12.0).reshape(3, 4) / 7, requires_grad=True)
    to_a, to_b = local_factors(MatMul.apply(a, b).grad_fn, np.ones((2, 4)))
    assert to_a.product == "right" and to_b.product == "left"  # G · Bᵀ and Aᵀ · G
    np.testing.assert_array_equal(to_a.values, b.data.T)
    np.testing.assert_array_equal(to_b.values, a.data.T)

    x = Tensor(np.arange(8.0).reshape(4, 2) / 3, requires_grad=True)
    w = Tensor(np.arange(6.0).reshape(3, 2) - 2, requires_grad=True)
    to_x, to_w = local_factors(Linear.apply(x, w).grad_fn, np.ones((4, 3)))
    assert to_x.product == "right" and to_w.product == "transposed"  # G · W and Gᵀ · X
    np.testing.assert_array_equal(to_x.values, w.data)
    np.testing.assert_array_equal(to_w.values, x.data)

    total = Tensor([1.0, 2.0, 3.0], requires_grad=True).sum()
    ((values, product),) = local_factors(total.grad_fn, np.ones(()))
    assert product == "elementwise" and values.tolist() == [1.0, 1.0, 1.0]  # copy back

    row = np.array([[0.1, 0.5, -0.3]])
    s = Softmax.apply(Tensor(row, requires_grad=True))
    ((values, product),) = local_factors(s.grad_fn, np.ones((1, 3)))
    p = np.exp(row) / np.exp(row).sum()
    assert product == "right"  # one row: g · (its Jacobian s(δ − s))
    np.testing.assert_allclose(values, np.diag(p[0]) - p.T @ p, rtol=1e-12, atol=1e-15)
    rows = Softmax.apply(Tensor([[0.1, 0.5, -0.3], [2.0, 0.0, 1.0]], requires_grad=True))
    assert local_factors(rows.grad_fn, np.ones((2, 3))) == (None,)  # a Jacobian per row
    constant = Tensor([1.0, 2.0]) * Tensor([3.0, 4.0], requires_grad=True)
    assert local_factors(constant.grad_fn, np.ones(2))[0] is None  # needs no gradient


EDGE = re.compile(r"^\t(\w+) -> (\w+) \[(.*)\]$", re.MULTILINE)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_every_backward_edge_carries_its_functions_label(name, data):
    case = data.draw(tst.in_domain(name), label="case")
    output, _ = recorded(case)
    node = output.grad_fn
    graph = viz.DrawnGraph(output)
    source = viz.draw(output, backward=True).source
    edges = {(tail, head): attributes for tail, head, attributes in EDGE.findall(source)}
    for index, label in enumerate(case.op.function.labels):
        attributes = edges[graph.id(node), graph.input_id(node, index)]
        drawn = re.search(r'label=("[^"]*"|\S+)', attributes).group(1).strip('"')
        assert drawn == label, attributes
