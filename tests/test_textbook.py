"""The texts' formulas against the engine: each one either equals what autodiff derives
(property tests on random networks) or differs in exactly the way an erratum says
(docs/errata.md names these tests)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Tensor, grad, proofs, textbook
from tinygrad_edu.autograd import GraphReleasedError
from tinygrad_edu.testing import strategies as tst


def sigma(x):
    return 1 / (1 + np.exp(-x))


@st.composite
def layers(draw, linear=False):
    """W_ho (outputs × hidden), hidden outputs h (a column), targets t."""
    n_hidden, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    w_ho = draw(tst.arrays((n_out, n_hidden)))
    h = draw(tst.arrays((n_hidden, 1), domain="positive").map(lambda a: a / 3))
    t = draw(tst.arrays((n_out, 1), domain="positive").map(lambda a: a / 3))
    return w_ho, h, t


def minus_grad_wrt_hidden(w_ho, h, t, output_sigmoid):
    """−∂E/∂h for E = ½Σ(t − o)², o = σ(W_ho·h) or W_ho·h, by autodiff."""
    hidden = Tensor(h, requires_grad=True)
    z = Tensor(w_ho) @ hidden
    o = z.sigmoid() if output_sigmoid else z
    (g,) = grad(0.5 * o.squared_error(t), hidden)
    return -g.data


# --------------------------------------------------------------------------- equalities


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
    o = sigma(w_ho @ h)
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


def test_worked_example_reproduces_the_texts_numbers():
    example = textbook.worked_example()
    assert example.weighted_sum == pytest.approx(2.3)  # 2.0·0.4 + 3.0·0.5
    assert round(example.output, 3) == 0.909
    assert round(example.slope, 3) == 0.083
    assert round(example.gradient, 4) == -0.0265
    assert round(example.new_weight, 5) == 2.00265


def test_worked_example_gradient_is_what_autodiff_computes():
    loss, weights = proofs.worked_example_network(half=True)
    (g,) = grad(loss, weights)
    assert g.data[0, 0] == pytest.approx(textbook.worked_example().gradient, rel=1e-12)


def test_every_comparison_agrees_exactly_unless_a_slip_is_named():
    results = proofs.comparisons(seed=0)
    assert len(results) >= 12
    for c in results:
        assert c.agrees == c.expected_to_agree, c.formula
        np.testing.assert_allclose(c.autodiff, c.finite_difference, rtol=1e-5, atol=1e-8)


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
    # text 001: e₁ = 0.08 split over weights 0.6, 0.4, 0.1, 0.2 into output 1
    w_ho = np.array([[0.6, 0.4, 0.1, 0.2]])
    share = textbook.proportional_hidden_errors(w_ho, np.array([[0.08]]))
    assert round(share[0, 0], 3) == 0.037  # 0.08 · 0.6 / 1.3 = 0.0369…


def test_erratum_e2_course_matrix_with_one_denominator_is_not_the_proportional_split():
    # Text 001 divides every entry, in both columns, by Σᵢ wᵢ₁; column 2 needs Σᵢ wᵢ₂.
    w = np.array([[0.6, 0.1], [0.4, 0.5], [0.1, 0.3], [0.2, 0.7]])  # w[i, k]: hidden i → out k
    e = np.array([[0.08], [0.05]])
    as_printed = (w / w[:, 0].sum()) @ e
    proportional = textbook.proportional_hidden_errors(w.T, e)
    np.testing.assert_allclose(as_printed[:, 0], w @ e[:, 0] / 1.3)
    assert not np.allclose(as_printed, proportional)
    # with the right denominators the two "columns" scale differently: 1.3 and 1.6
    assert w[:, 0].sum() != pytest.approx(w[:, 1].sum())


def test_erratum_e2_course_last_row_with_w22_is_not_the_transpose_rule():
    # Text 001's unnormalised matrix has last row (w₄₁, w₂₂) where (w₄₁, w₄₂) belongs.
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


def test_erratum_e4_plus_o_j_instead_of_times_o_j_is_not_the_gradient():
    example = textbook.worked_example()
    loss, weights = proofs.worked_example_network(half=True)
    (g,) = grad(loss, weights)
    times = -0.8 * example.slope * 0.4  # "· o_j", the line before
    plus = -0.8 * example.slope + 0.4  # "+ o_j", the stray line
    assert g.data[0, 0] == pytest.approx(times, rel=1e-12)
    assert plus == pytest.approx(0.3337, abs=1e-4)  # −0.0663 + 0.4: not even the sign
    assert abs(plus - g.data[0, 0]) > 0.3


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
    rng = np.random.default_rng(0)
    w_ih, w_ho = rng.normal(0, 3**-0.5, (3, 3)), rng.normal(0, 3**-0.5, (3, 3))
    x, t = np.array([[0.9], [0.1], [0.8]]), np.array([[0.01], [0.99], [0.01]])
    book_ih, book_ho = textbook.book_weight_updates(w_ih, w_ho, x, t, 0.3)
    exact_ih, exact_ho = textbook.exact_weight_updates(w_ih, w_ho, x, t, 0.3)
    np.testing.assert_allclose(book_ho, exact_ho)  # the output layer is right
    assert np.abs(book_ih - exact_ih).max() > 0.01  # the hidden layer is not
    # each output's error is weighted 1 instead of o(1 − o) ≤ 1/4: on this network (and
    # typically) the book's hidden step is much larger
    assert np.linalg.norm(book_ih) > 4 * np.linalg.norm(exact_ih)


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


def test_erratum_e9_worked_example_error_needs_a_target_outside_a_sigmoids_range():
    example = textbook.worked_example()
    target = example.output + 0.8  # t₁ = o₁ + e₁
    assert target == pytest.approx(1.709, abs=1e-3)
    assert target > 1  # no sigmoid output (and none of the book's targets) reaches it


def test_erratum_e9_worked_example_rounded_factors_do_not_give_the_texts_product():
    # The text shows e₁ = 0.8, o_k(1 − o_k) = 0.083 and o_j = 0.4, then "−0.0265": by hand,
    # −0.8 · 0.083 · 0.4 = −0.02656 (→ w₁₁ = 2.002656); only the unrounded slope gives −0.0265.
    example = textbook.worked_example()
    assert round(example.slope, 3) == 0.083
    from_the_texts_factors = -0.8 * round(example.slope, 3) * 0.4
    assert from_the_texts_factors == pytest.approx(-0.02656, abs=1e-12)
    assert round(from_the_texts_factors, 4) != -0.0265
    assert round(2.0 - 0.1 * from_the_texts_factors, 5) == 2.00266
    assert round(example.gradient, 4) == -0.0265  # −0.8 · 0.0828… · 0.4 = −0.026502


# --------------------------------------------------------------------------- explain


def test_explain_shows_the_texts_factors_on_the_worked_example():
    loss, weights = proofs.worked_example_network(half=True)
    explanation = proofs.explain(loss, weights, (0, 0), show=False)
    (path,) = explanation.paths
    factors = [round(step.factor, 4) for step in path.steps]
    assert factors == [0.5, 2.0, -0.8, 0.0828, 0.4]  # ½ and 2 cancel; −0.8·0.0828·0.4
    assert round(explanation.total, 4) == -0.0265
    assert explanation.total == pytest.approx(explanation.autodiff, rel=1e-12)


def test_erratum_e3_explain_without_the_half_keeps_the_factor_2_as_its_own_step():
    loss, weights = proofs.worked_example_network(half=False)
    explanation = proofs.explain(loss, weights, (0, 0), show=False)
    factors = [round(step.factor, 4) for step in explanation.paths[0].steps]
    assert factors == [2.0, -0.8, 0.0828, 0.4]
    assert round(explanation.total, 4) == -0.0530


def test_explain_prints_the_table(capsys):
    loss, weights = proofs.worked_example_network(half=True)
    proofs.explain(loss, weights, (0, 0))
    out = capsys.readouterr().out
    assert "·σ(1−σ)" in out and "W_ho[0, 0]" in out and "-0.0265" in out


def test_explain_names_each_factor_of_the_worked_example_in_the_books_words():
    loss, weights = proofs.worked_example_network(half=True)
    steps = proofs.explain(loss, weights, (0, 0), show=False).paths[0].steps
    o_k = 1 / (1 + np.exp(-2.3))  # the text's σ(2.3), computed here
    assert steps[0].book.startswith("½")
    assert steps[1].book.startswith("2 (from the square)")
    assert steps[2].book == "(o_k − t_k) = −e_k (output error e_k = 0.8)"
    assert steps[3].book == f"o_k(1 − o_k) (sigmoid slope, o_k = {o_k:.4g})"
    assert steps[4].book == "o_j (hidden output 1, 0.4)"  # the input w₁₁ multiplies


def test_explain_names_the_weights_a_hidden_gradient_passes_through():
    loss = proofs.book_network_loss(seed=0)
    tensors = proofs.tensors_by_name(loss)
    w_ho, x = tensors["W_ho"].data, tensors["inputs"].data
    explanation = proofs.explain(loss, tensors["W_ih"], (0, 0), show=False)
    for k, path in enumerate(explanation.paths):  # one path through each output k
        through = path.steps[4]  # the step from output k's weighted sum back to hidden 1
        symbol = "w₁" + "₁₂₃"[k]  # w_jk: from hidden j = 1 to output k
        assert through.book.startswith(f"{symbol} (weight hidden 1 → output {k + 1}, ")
        assert through.factor == pytest.approx(w_ho[k, 0])
        assert f"{w_ho[k, 0]:.4g})" in through.book
        assert path.steps[-1].book == f"x_i (input 1, {x[0, 0]:.4g})"


def test_explain_table_has_aligned_columns():
    loss = proofs.book_network_loss(seed=0)
    w_ih = proofs.tensors_by_name(loss)["W_ih"]
    table = str(proofs.explain(loss, w_ih, (1, 2), show=False)).splitlines()
    header = next(line for line in table if "the book's factor" in line)
    rows = [line for line in table if line.startswith("  ") and "→" in line and line != header]
    assert len(rows) == 3 * 7  # three paths of seven factors
    book_column = header.index("the book's factor")
    arrow = header.index("gradient from → to")
    for row in rows:
        assert len(row) == len(header)  # the numbers end in one column
        assert row[book_column : book_column + 2] == "· "
        assert row[book_column - 2 : book_column] == "  " != row[book_column : book_column + 2]
        assert row[arrow - 2 : arrow] == "  " and row[arrow] != " "


def test_explain_repr_is_one_short_line_and_str_is_the_table():
    loss, weights = proofs.worked_example_network(half=True)
    explanation = proofs.explain(loss, weights, (0, 0), show=False)
    assert "\n" not in repr(explanation) and len(repr(explanation)) < 100
    assert "-0.0265023" in repr(explanation) and "∂E/∂W_ho[0, 0]" in repr(explanation)
    assert "sigmoid slope" in str(explanation) and "sigmoid slope" not in repr(explanation)
    assert "sigmoid slope" in explanation._repr_html_()  # a notebook shows the table once:
    assert proofs.explain(loss, weights, (0, 0), show=True)._repr_html_() is None  # printed


@given(seed=st.integers(0, 2**32 - 1), row=st.integers(0, 2), col=st.integers(0, 2))
def test_explain_paths_sum_to_the_autodiff_gradient(seed, row, col):
    loss = proofs.book_network_loss(seed)
    w_ih = proofs.tensors_by_name(loss)["W_ih"]
    explanation = proofs.explain(loss, w_ih, (row, col), show=False)
    assert len(explanation.paths) == 3  # one path through each output node
    assert explanation.total == pytest.approx(explanation.autodiff, rel=1e-9, abs=1e-15)
    (g,) = grad(loss, w_ih)
    assert explanation.autodiff == pytest.approx(g.data[row, col], rel=1e-12, abs=1e-18)


def test_explain_needs_a_graph_that_was_not_released():
    loss, weights = proofs.worked_example_network(half=True)
    loss.backward()
    with pytest.raises(GraphReleasedError, match="retain_graph=True"):
        proofs.explain(loss, weights, (0, 0), show=False)


def test_explain_refuses_bad_arguments():
    loss, weights = proofs.worked_example_network(half=True)
    with pytest.raises(IndexError, match="shape"):
        proofs.explain(loss, weights, (0, 5), show=False)
    with pytest.raises(ValueError, match="requires grad"):
        proofs.explain(loss, Tensor([1.0]), 0, show=False)
    unrelated = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="does not depend"):
        proofs.explain(loss, unrelated, 0, show=False)
