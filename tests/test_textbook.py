"""The texts' formulas (`tinygrad_edu.textbook`, plain numpy) against the engine: each one
either equals what autodiff derives, on random networks and on the texts' own numbers, or
differs in exactly the way an erratum says (docs/errata.md names these tests)."""

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import book_demo_network, sigmoid

from tinygrad_edu import Tensor, grad, proofs, textbook
from tinygrad_edu.testing import strategies as tst


@st.composite
def layers(draw):
    """W_ho (outputs × hidden), hidden outputs h (a column), targets t."""
    n_hidden, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    w_ho = draw(tst.arrays((n_out, n_hidden)))
    h = draw(tst.arrays((n_hidden, 1), domain="positive").map(lambda a: a / 3))
    t = draw(tst.arrays((n_out, 1), domain="positive").map(lambda a: a / 3))
    return w_ho, h, t


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


def minus_grad_wrt_hidden(w_ho, h, t, output_sigmoid):
    """−∂E/∂h for E = ½Σ(t − o)², o = σ(W_ho·h) or W_ho·h, by autodiff."""
    hidden = Tensor(h, requires_grad=True)
    z = Tensor(w_ho) @ hidden
    o = z.sigmoid() if output_sigmoid else z
    (g,) = grad(0.5 * o.squared_error(t), hidden)
    return -g.data


def autodiff_step(w_ih0, w_ho0, x0, t0, lr):
    """One SGD step of the book's network, gradients by the engine."""
    w_ih = Tensor(w_ih0, requires_grad=True, name="W_ih")
    w_ho = Tensor(w_ho0, requires_grad=True, name="W_ho")
    hidden = (w_ih @ Tensor(x0)).sigmoid()
    outputs = (w_ho @ hidden).sigmoid()
    loss = 0.5 * outputs.squared_error(Tensor(t0))
    loss.backward()
    return w_ih0 - lr * w_ih.grad, w_ho0 - lr * w_ho.grad


# --------------------------------------------------------------------------- the formulas


def test_the_formulas_are_plain_numpy_and_import_nothing_of_the_engine():
    tree = ast.parse(Path(textbook.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "numpy"}, imported


@given(tst.arrays(tst.shapes()))
def test_sigmoid_derivative_is_sigma_times_one_minus_sigma(x):
    xt = Tensor(x, requires_grad=True)
    (g,) = grad(xt.sigmoid().sum(), xt)
    np.testing.assert_allclose(textbook.sigmoid_derivative(x), g.data, rtol=1e-12, atol=1e-15)


@given(layers())
def test_transpose_rule_is_the_backpropagated_error_of_a_linear_layer(layer):
    w_ho, h, t = layer
    e = t - w_ho @ h
    np.testing.assert_allclose(
        textbook.hidden_errors(w_ho, e), minus_grad_wrt_hidden(w_ho, h, t, False), atol=1e-12
    )


@given(layers())
def test_through_a_sigmoid_layer_the_error_carries_the_output_slope(layer):
    w_ho, h, t = layer
    o = sigmoid(w_ho @ h)
    sent_back = textbook.hidden_errors(w_ho, (t - o) * o * (1 - o))
    np.testing.assert_allclose(sent_back, minus_grad_wrt_hidden(w_ho, h, t, True), atol=1e-12)


@given(layers(), st.floats(0.01, 1.0))
def test_output_weight_gradient_and_update_match_autodiff(layer, lr):
    w_ho, h, t = layer
    w = Tensor(w_ho, requires_grad=True)
    o = (w @ Tensor(h)).sigmoid()
    (g,) = grad(0.5 * o.squared_error(t), w)
    np.testing.assert_allclose(
        textbook.output_weight_gradient(t, o.data, h), g.data, rtol=1e-10, atol=1e-15
    )
    np.testing.assert_allclose(
        textbook.weight_update(t - o.data, o.data, h, lr), -lr * g.data, rtol=1e-10, atol=1e-15
    )


@given(book_networks())
def test_one_sgd_step_matches_the_closed_form_weight_updates(network):
    # ΔW = α · (e ∗ o(1 − o)) · O_jᵀ per layer, the hidden layer receiving W_hoᵀ·(e ∗ o(1 − o)):
    # one SGD step by autodiff on E = ½Σ(t − o)² (docs/design.md, "The loss and the factor 2").
    w_ih, w_ho, x, t, lr = network
    new_ih, new_ho = autodiff_step(w_ih, w_ho, x, t, lr)
    delta_ih, delta_ho = textbook.exact_weight_updates(w_ih, w_ho, x, t, lr)
    np.testing.assert_allclose(w_ih + delta_ih, new_ih, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w_ho + delta_ho, new_ho, rtol=1e-12, atol=1e-15)


def test_worked_example_reproduces_the_texts_numbers():
    example = textbook.worked_example()
    assert example.weighted_sum == pytest.approx(2.3)  # 2.0·0.4 + 3.0·0.5
    assert round(example.output, 3) == 0.909
    assert round(example.slope, 3) == 0.083
    assert round(example.gradient, 4) == -0.0265
    assert round(example.new_weight, 5) == 2.00265


# --------------------------------------------------------------------------- errata


def test_erratum_e1_proportional_split_is_not_the_gradient_nor_a_rescaled_transpose_rule():
    # Output 1 fed by weights 1 and 3, output 2 by 1 and 1 (w_jk = W_ho[k, j]); e = (1, 1).
    w_ho = np.array([[1.0, 3.0], [1.0, 1.0]])
    e = np.array([[1.0], [1.0]])
    split = textbook.proportional_hidden_errors(w_ho, e)
    # by hand: hidden 1 gets 1·1/4 + 1·1/2 = 0.75, hidden 2 gets 1·3/4 + 1·1/2 = 1.25
    np.testing.assert_allclose(split, [[0.75], [1.25]])
    transpose_rule = textbook.hidden_errors(w_ho, e)  # (2, 4): not a multiple of (0.75, 1.25)
    np.testing.assert_allclose(transpose_rule, [[2.0], [4.0]])
    assert not np.allclose(split / split[0], transpose_rule / transpose_rule[0])
    # and the transpose rule, not the split, is the backpropagated error (linear layer)
    h = np.array([[0.5], [0.25]])
    t = w_ho @ h + e
    np.testing.assert_allclose(minus_grad_wrt_hidden(w_ho, h, t, False), transpose_rule)


def test_erratum_e1_course_proportional_example_gives_0_037():
    # python-course.eu: e₁ = 0.08 split over weights 0.6, 0.4, 0.1, 0.2 into output 1
    w_ho = np.array([[0.6, 0.4, 0.1, 0.2]])
    share = textbook.proportional_hidden_errors(w_ho, np.array([[0.08]]))
    assert round(share[0, 0], 3) == 0.037  # 0.08 · 0.6 / 1.3 = 0.0369…


def test_erratum_e2_course_matrix_with_one_denominator_is_not_the_proportional_split():
    # python-course.eu divides every entry, in both columns, by Σᵢ wᵢ₁; column 2 needs Σᵢ wᵢ₂.
    w = np.array([[0.6, 0.1], [0.4, 0.5], [0.1, 0.3], [0.2, 0.7]])  # w[i, k]: hidden i → out k
    e = np.array([[0.08], [0.05]])
    as_printed = (w / w[:, 0].sum()) @ e
    proportional = textbook.proportional_hidden_errors(w.T, e)
    np.testing.assert_allclose(as_printed[:, 0], w @ e[:, 0] / 1.3)
    assert not np.allclose(as_printed, proportional)
    # with the right denominators the two "columns" scale differently: 1.3 and 1.6
    assert w[:, 0].sum() != pytest.approx(w[:, 1].sum())


def test_erratum_e2_course_last_row_with_w22_is_not_the_transpose_rule():
    # python-course.eu's unnormalised matrix has last row (w₄₁, w₂₂) where (w₄₁, w₄₂) belongs.
    w = np.array([[0.6, 0.1], [0.4, 0.5], [0.1, 0.3], [0.2, 0.7]])  # w[i, k]: hidden i → out k
    e = np.array([[0.08], [0.05]])
    as_printed = w.copy()
    as_printed[3, 1] = w[1, 1]  # w₂₂ in place of w₄₂
    right = textbook.hidden_errors(w.T, e)  # W_hoᵀ · e, with W_ho = wᵀ
    np.testing.assert_allclose((as_printed @ e)[:3], right[:3])
    assert (as_printed @ e)[3, 0] == pytest.approx(0.2 * 0.08 + 0.5 * 0.05)  # 0.041, by hand
    assert right[3, 0] == pytest.approx(0.2 * 0.08 + 0.7 * 0.05)  # 0.051


def test_erratum_e3_without_the_half_the_gradient_is_twice_the_texts_formula():
    rng = np.random.default_rng(1)
    w_ho, h = rng.normal(size=(3, 4)), rng.uniform(0.01, 1, (4, 1))
    t = rng.uniform(0.01, 0.99, (3, 1))
    w = Tensor(w_ho, requires_grad=True)
    o = (w @ Tensor(h)).sigmoid()
    formula = textbook.output_weight_gradient(t, o.data, h)
    (g_plain,) = grad(o.squared_error(t), w, retain_graph=True)
    (g_half,) = grad(0.5 * o.squared_error(t), w)
    np.testing.assert_allclose(g_plain.data, 2 * formula, rtol=1e-12)
    np.testing.assert_allclose(g_half.data, formula, rtol=1e-12)


def test_erratum_e3_worked_example_without_the_half_gives_minus_0_053():
    loss, weights = proofs.worked_example_network(half=False)
    (g,) = grad(loss, weights)
    assert round(g.data[0, 0], 4) == -0.0530
    s = sigmoid(2.3)  # by hand, the 2 of the square stays: 2 · (−0.8) · σ(1 − σ) · 0.4
    assert g.data[0, 0] == pytest.approx(2 * -0.8 * s * (1 - s) * 0.4, rel=1e-12)
    assert f"{2 * -0.8 * s * (1 - s) * 0.4:.6f}" == "-0.053005"  # the errata page's number


def test_erratum_e4_plus_o_j_instead_of_times_o_j_is_not_the_gradient():
    example = textbook.worked_example()
    loss, weights = proofs.worked_example_network(half=True)
    (g,) = grad(loss, weights)
    times = -0.8 * example.slope * 0.4  # "· o_j", the line before
    plus = -0.8 * example.slope + 0.4  # "+ o_j", the stray line
    assert g.data[0, 0] == pytest.approx(times, rel=1e-12)
    assert plus == pytest.approx(0.3337, abs=1e-4)  # −0.0663 + 0.4: not even the sign
    assert abs(plus - g.data[0, 0]) > 0.3
    assert abs(plus) > 12 * abs(times)  # the page: "more than twelve times the size"


@given(layers())
def test_erratum_e5_e6_course_formula_has_the_wrong_sign_and_the_wrong_last_factor(layer):
    w_ho, h, t = layer
    w = Tensor(w_ho, requires_grad=True)
    o = (w @ Tensor(h)).sigmoid()
    (g,) = grad(0.5 * o.squared_error(t), w)
    od = o.data
    # corrected: ∂E/∂w_ij = −(t_j − o_j)·σ(1 − σ)·h_i, i.e. minus sign and h (not o) last
    corrected = -((t - od) * od * (1 - od)) @ h.T
    np.testing.assert_allclose(corrected, g.data, rtol=1e-10, atol=1e-15)
    printed = textbook.course_output_weight_gradient_as_printed(t, od)  # one value per j
    # the printed value is −(∂E/∂w_ij) with h_i replaced by o_j:
    np.testing.assert_allclose(printed * h.T / od, -g.data, rtol=1e-9, atol=1e-15)


def test_erratum_e7_gradient_descent_is_not_newtons_method():
    # The text's step is w − α·E′ (2.00265). Newton's method would be w − E′/E″, with E″
    # the second derivative — autodiff gives it, and the step is a different one.
    loss, weights = proofs.worked_example_network(half=True)
    (first,) = grad(loss, weights, create_graph=True)
    (second,) = grad(first[0, 0], weights)
    e1, e2 = first.data[0, 0], second.data[0, 0]
    gradient_step = 2.0 - 0.1 * e1
    newton_step = 2.0 - e1 / e2
    assert round(gradient_step, 5) == 2.00265
    assert abs(newton_step - gradient_step) > 0.1


def test_erratum_e8_book_hidden_rule_is_not_the_gradient_of_its_error():
    w_ih, w_ho, x, t = book_demo_network(seed=0)
    book_ih, book_ho = textbook.book_weight_updates(w_ih, w_ho, x, t, 0.3)
    exact_ih, exact_ho = textbook.exact_weight_updates(w_ih, w_ho, x, t, 0.3)
    np.testing.assert_allclose(book_ho, exact_ho)  # the output layer is right
    assert np.abs(book_ih - exact_ih).max() > 0.01  # the hidden layer is not
    # each output's error is weighted 1 instead of o(1 − o) ≤ 1/4: on this network (and
    # typically) the book's hidden step is much larger. The page: the first entry is
    # −0.041688 against −0.005461, 7.6 times, and the whole matrix 6.7 times as large.
    h = sigmoid(w_ih @ x)
    o = sigmoid(w_ho @ h)
    by_hand_book = 0.3 * ((w_ho.T @ (t - o)) * h * (1 - h)) @ x.T
    by_hand_exact = 0.3 * ((w_ho.T @ ((t - o) * o * (1 - o))) * h * (1 - h)) @ x.T
    np.testing.assert_allclose(book_ih, by_hand_book, rtol=1e-12)
    np.testing.assert_allclose(exact_ih, by_hand_exact, rtol=1e-12)
    assert (f"{book_ih[0, 0]:.6f}", f"{exact_ih[0, 0]:.6f}") == ("-0.041688", "-0.005461")
    assert round(book_ih[0, 0] / exact_ih[0, 0], 1) == 7.6
    assert round(np.linalg.norm(book_ih) / np.linalg.norm(exact_ih), 1) == 6.7


def test_erratum_e8_book_hidden_step_can_point_against_the_gradient_step():
    # h = σ(0) = 0.5; two outputs, both too high for t = 0.01: o = σ(−2.5) ≈ 0.0759 (slope
    # ≈ 0.0701, error e ≈ −0.0659) and o = σ(0.25) ≈ 0.562 (slope ≈ 0.246, e ≈ −0.552). The
    # errors have the same sign; the weights back, −5 and 0.5, do not, so the two outputs
    # pull hidden node 1 opposite ways. The book weighs each error by 1, the gradient by its
    # slope, and a different output wins. By hand, W_hoᵀ·(what is sent back):
    # exact −5·(−0.0659·0.0701) + 0.5·(−0.552·0.246) ≈ 0.0231 − 0.0680 < 0,
    # book  −5·(−0.0659) + 0.5·(−0.552) ≈ 0.329 − 0.276 > 0
    w_ih, w_ho = np.array([[0.0]]), np.array([[-5.0], [0.5]])
    x, t = np.array([[1.0]]), np.array([[0.01], [0.01]])
    book_ih, _ = textbook.book_weight_updates(w_ih, w_ho, x, t, 0.3)
    exact_ih, _ = textbook.exact_weight_updates(w_ih, w_ho, x, t, 0.3)
    assert exact_ih[0, 0] < 0 < book_ih[0, 0]
    # the numbers the page gives, to its three decimals
    o = np.array([sigmoid(-5.0 * 0.5), sigmoid(0.5 * 0.5)])
    e, slope = 0.01 - o, o * (1 - o)
    shown = {
        "o": (0.076, 0.562),
        "e": (-0.066, -0.552),
        "slopes": (0.070, 0.246),
        "weighed by 1": (0.329, -0.276),
        "weighed by the slope": (0.023, -0.068),
    }
    by_hand = {
        "o": o,
        "e": e,
        "slopes": slope,
        "weighed by 1": np.array([-5.0, 0.5]) * e,
        "weighed by the slope": np.array([-5.0, 0.5]) * e * slope,
    }
    for name, values in shown.items():
        np.testing.assert_allclose(by_hand[name], values, atol=5e-4, err_msg=name)


@given(book_networks())
def test_erratum_e8_book_hidden_rule_drops_the_output_slope(network):
    # The book's code sends back W_hoᵀ·e, not W_hoᵀ·(e·o(1−o)): equal for W_ho, not for W_ih.
    w_ih, w_ho, x, t, lr = network
    book_ih, book_ho = textbook.book_weight_updates(w_ih, w_ho, x, t, lr)
    _, exact_ho = textbook.exact_weight_updates(w_ih, w_ho, x, t, lr)
    np.testing.assert_allclose(book_ho, exact_ho, rtol=1e-12, atol=1e-15)
    o_hidden = sigmoid(w_ih @ x)
    e_raw = w_ho.T @ (t - sigmoid(w_ho @ o_hidden))
    np.testing.assert_allclose(
        book_ih, lr * (e_raw * o_hidden * (1 - o_hidden)) @ x.T, rtol=1e-12, atol=1e-15
    )


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


def test_erratum_e9_worked_example_error_needs_a_target_outside_a_sigmoids_range():
    example = textbook.worked_example()
    target = example.output + 0.8  # t₁ = oₖ + e₁
    assert target == pytest.approx(1.709, abs=1e-3)
    assert target > 1  # no sigmoid output (and none of the book's targets) reaches it
    # with any target in [0, 1], e₁ = t₁ − oₖ lies between −0.909 and 0.091
    o_k = sigmoid(2.0 * 0.4 + 3.0 * 0.5)
    assert (round(0 - o_k, 3), round(1 - o_k, 3)) == (-0.909, 0.091)
    # with t₁ = 0.99 the gradient is "about ten times smaller": −0.8 becomes 0.99 − oₖ
    with_099 = -(0.99 - o_k) * o_k * (1 - o_k) * 0.4
    assert round(with_099, 5) == -0.00269
    assert 9.5 < example.gradient / with_099 < 10.5


def test_erratum_e9_worked_example_product_is_right_but_its_printed_slope_is_rounded():
    # The text shows e₁ = 0.8, oₖ(1 − oₖ) = 0.083 and oⱼ = 0.4, then "−0.0265": that product
    # is right (the unrounded slope gives −0.026502), but the printed 0.083 is rounded, and
    # by hand −0.8 · 0.083 · 0.4 = −0.02656 (→ w₁₁ = 2.002656).
    example = textbook.worked_example()
    assert round(example.slope, 3) == 0.083
    from_the_texts_factors = -0.8 * round(example.slope, 3) * 0.4
    assert from_the_texts_factors == pytest.approx(-0.02656, abs=1e-12)
    assert round(from_the_texts_factors, 4) != -0.0265
    assert round(2.0 - 0.1 * from_the_texts_factors, 5) == 2.00266
    assert round(example.gradient, 4) == -0.0265  # −0.8 · 0.0828… · 0.4 = −0.026502
