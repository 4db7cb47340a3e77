"""The book's three-layer sigmoid network in its own column-vector layout: one SGD step by
autodiff equals the hand-derived update ΔW = α · E·O(1−O) · O_jᵀ (DESIGN.md, "The loss and
the factor 2": the step is on E = ½Σ(t − o)²)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Tensor, textbook
from tinygrad_edu.testing import strategies as tst


def sigma(x):
    return 1 / (1 + np.exp(-x))


def autodiff_step(w_ih0, w_ho0, x0, t0, lr):
    """One SGD step of the book's network, gradients by the engine."""
    w_ih = Tensor(w_ih0, requires_grad=True, name="W_ih")
    w_ho = Tensor(w_ho0, requires_grad=True, name="W_ho")
    hidden = (w_ih @ Tensor(x0)).sigmoid()
    outputs = (w_ho @ hidden).sigmoid()
    loss = 0.5 * outputs.squared_error(Tensor(t0))
    loss.backward()
    return w_ih0 - lr * w_ih.grad, w_ho0 - lr * w_ho.grad


@st.composite
def book_networks(draw):
    """Weights ~ bounded reals, inputs in the book's (0.01, 1.0], targets in [0.01, 0.99]."""
    n_in, n_hidden, n_out = (draw(st.integers(1, 5)) for _ in range(3))
    w_ih = draw(tst.arrays((n_hidden, n_in)))
    w_ho = draw(tst.arrays((n_out, n_hidden)))
    inputs = draw(tst.arrays((n_in, 1), domain="positive").map(lambda a: a / 3 * 0.99 + 0.01))
    targets = draw(st.lists(st.sampled_from([0.01, 0.99]), min_size=n_out, max_size=n_out))
    lr = draw(st.floats(0.01, 1.0))
    return w_ih, w_ho, inputs, np.array(targets).reshape(n_out, 1), lr


@given(book_networks())
def test_one_sgd_step_matches_the_closed_form_weight_updates(network):
    w_ih, w_ho, x, t, lr = network
    new_ih, new_ho = autodiff_step(w_ih, w_ho, x, t, lr)

    # The closed forms, written out here by hand (column vectors, as in the book).
    o_hidden = sigma(w_ih @ x)
    o_out = sigma(w_ho @ o_hidden)
    e_out = t - o_out
    delta_ho = lr * (e_out * o_out * (1 - o_out)) @ o_hidden.T
    # Hidden layer: the output error times the output sigmoid's slope, sent back by W_hoᵀ.
    e_hidden = w_ho.T @ (e_out * o_out * (1 - o_out))
    delta_ih = lr * (e_hidden * o_hidden * (1 - o_hidden)) @ x.T

    np.testing.assert_allclose(new_ho, w_ho + delta_ho, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(new_ih, w_ih + delta_ih, rtol=1e-12, atol=1e-15)


@given(book_networks())
def test_textbook_exact_updates_equal_autodiff(network):
    w_ih, w_ho, x, t, lr = network
    new_ih, new_ho = autodiff_step(w_ih, w_ho, x, t, lr)
    delta_ih, delta_ho = textbook.exact_weight_updates(w_ih, w_ho, x, t, lr)
    np.testing.assert_allclose(w_ih + delta_ih, new_ih, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w_ho + delta_ho, new_ho, rtol=1e-12, atol=1e-15)


@given(book_networks())
def test_erratum_e8_book_hidden_rule_drops_the_output_slope(network):
    # The book's code sends back W_hoᵀ·e, not W_hoᵀ·(e·o(1−o)): equal for W_ho, not for W_ih.
    w_ih, w_ho, x, t, lr = network
    book_ih, book_ho = textbook.book_weight_updates(w_ih, w_ho, x, t, lr)
    _, exact_ho = textbook.exact_weight_updates(w_ih, w_ho, x, t, lr)
    np.testing.assert_allclose(book_ho, exact_ho, rtol=1e-12, atol=1e-15)
    o_hidden = sigma(w_ih @ x)
    e_raw = w_ho.T @ (t - sigma(w_ho @ o_hidden))
    np.testing.assert_allclose(
        book_ih, lr * (e_raw * o_hidden * (1 - o_hidden)) @ x.T, rtol=1e-12, atol=1e-15
    )


def test_worked_example_w11_becomes_2_00265():
    # The text: w₁₁ = 2.0, w₂₁ = 3.0, hidden outputs 0.4 and 0.5, error e₁ = t₁ − o₁ = 0.8,
    # α = 0.1: ∂E/∂w₁₁ = −0.8 · 0.0828 · 0.4 = −0.0265 and w₁₁ becomes 2.00265 (with the slope
    # unrounded: the text's rounded 0.083 would give −0.02656 and 2.00266, erratum E9).
    w = Tensor([[2.0, 3.0]], requires_grad=True)
    hidden = Tensor([[0.4], [0.5]])
    o = (w @ hidden).sigmoid()
    target = o.data + 0.8  # the text takes e₁ = 0.8 as given
    loss = 0.5 * o.squared_error(Tensor(target))
    loss.backward()
    assert o.item() == pytest.approx(0.909, abs=5e-4)
    assert w.grad[0, 0] == pytest.approx(-0.0265, abs=5e-5)
    assert 2.0 - 0.1 * w.grad[0, 0] == pytest.approx(2.00265, abs=5e-6)


def test_erratum_e3_without_the_half_the_gradient_is_twice_the_books():
    w = Tensor([[2.0, 3.0]], requires_grad=True)
    o = (w @ Tensor([[0.4], [0.5]])).sigmoid()
    o.squared_error(Tensor(o.data + 0.8)).backward()
    assert w.grad[0, 0] == pytest.approx(-0.0530, abs=5e-5)


@given(book_networks())
def test_erratum_e8_book_hidden_rule_is_the_cross_entropy_gradient_of_the_hidden_weights(network):
    # The book's hidden update α·(W_hoᵀ·e ∗ h(1−h))·xᵀ is −α·∂L/∂W_ih for the binary
    # cross-entropy L = −Σ[t·ln o + (1 − t)·ln(1 − o)], whose ∂L/∂(W_ho·h) is o − t = −e.
    w_ih0, w_ho0, x, t, lr = network
    book_ih, _ = textbook.book_weight_updates(w_ih0, w_ho0, x, t, lr)
    w_ih = Tensor(w_ih0, requires_grad=True)
    o = (Tensor(w_ho0) @ (w_ih @ Tensor(x)).sigmoid()).sigmoid()
    cross_entropy = -(t * o.log() + (1 - t) * (1 - o).log()).sum()
    cross_entropy.backward()
    np.testing.assert_allclose(book_ih, -lr * w_ih.grad, rtol=1e-9, atol=1e-15)
