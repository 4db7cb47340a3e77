"""The tools that set the texts beside the engine (`tinygrad_edu.proofs`): the examples as
graphs, the table of comparisons, and `explain`'s chain rule factor by factor."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import book_demo_network, sigmoid

from tinygrad_edu import Tensor, grad, proofs, textbook
from tinygrad_edu.autograd import GraphReleasedError

# --------------------------------------------------------------------------- the graphs


def test_worked_example_network_gives_the_texts_numbers():
    # The text: w₁₁ = 2.0, w₂₁ = 3.0, hidden outputs 0.4 and 0.5, error e₁ = t₁ − o₁ = 0.8,
    # α = 0.1: ∂E/∂w₁₁ = −0.8 · 0.0828 · 0.4 = −0.0265 and w₁₁ becomes 2.00265 (with the slope
    # unrounded: the text's rounded 0.083 would give −0.02656 and 2.00266, erratum E9).
    loss, weights = proofs.worked_example_network(half=True)
    output = proofs.tensors_by_name(loss)["output"]
    (g,) = grad(loss, weights)
    assert output.item() == pytest.approx(0.909, abs=5e-4)
    assert g.data[0, 0] == pytest.approx(-0.0265, abs=5e-5)
    assert 2.0 - 0.1 * g.data[0, 0] == pytest.approx(2.00265, abs=5e-6)
    assert g.data[0, 0] == pytest.approx(textbook.worked_example().gradient, rel=1e-12)


def test_book_network_loss_is_the_demos_network_with_the_books_names():
    loss = proofs.book_network_loss(seed=0)
    w_ih, w_ho, x, t = book_demo_network(seed=0)
    o = sigmoid(w_ho @ sigmoid(w_ih @ x))
    assert loss.item() == pytest.approx(0.5 * np.sum((t - o) ** 2), rel=1e-12)
    tensors = proofs.tensors_by_name(loss)
    assert tensors["loss"] is loss and loss.grad_fn is not None
    np.testing.assert_array_equal(tensors["W_ih"].data, w_ih)
    np.testing.assert_array_equal(tensors["W_ho"].data, w_ho)
    np.testing.assert_allclose(tensors["final_outputs"].data, o, rtol=1e-12)
    assert {"inputs", "targets", "hidden_inputs", "hidden_outputs", "final_inputs"} < set(tensors)
    assert proofs.book_network_loss(seed=1).item() != loss.item()


# --------------------------------------------------------------------------- comparisons


def test_a_comparison_row_is_built_with_keywords_and_an_erratum_means_it_should_differ():
    row = {"closed_form": np.zeros(1), "autodiff": np.zeros(1), "finite_difference": np.zeros(1)}
    with pytest.raises(TypeError):
        proofs.Comparison("a formula", "a source", *row.values())
    right = proofs.Comparison(formula="f", source="s", **row)
    slip = proofs.Comparison(formula="f", source="s", erratum="E1", **row)
    assert right.expected_to_agree and not slip.expected_to_agree


def test_every_comparison_agrees_exactly_unless_a_slip_is_named():
    results = proofs.comparisons(seed=0)
    assert len(results) >= 12
    for c in results:
        assert c.agrees == c.expected_to_agree, c.formula
        np.testing.assert_allclose(c.autodiff, c.finite_difference, rtol=1e-5, atol=1e-8)


def test_comparisons_on_the_demo_network_give_the_numbers_the_pages_quote_by_hand():
    # The rows of `tinygrad-edu check` that docs/errata.md and docs/textbook.md quote, each
    # recomputed here in plain numpy from the demo network's weights.
    w_ih, w_ho, x, t = book_demo_network(seed=0)
    h = sigmoid(w_ih @ x)
    o = sigmoid(w_ho @ h)
    e = t - o
    linear_e = t - w_ho @ h  # a linear output layer, o = Wₕₒ·h
    split = np.array([sum(linear_e[k, 0] * w_ho[k, j] / w_ho[k].sum() for k in range(3))
                      for j in range(3)])  # fmt: skip
    slope_out, slope_hidden = o * (1 - o), h * (1 - h)
    by_hand = {  # erratum: (closed form, autodiff), first elements
        "E1": (split[0], (w_ho.T @ linear_e)[0, 0]),
        "E3": ((-(e * slope_out) @ h.T)[0, 0], 2 * (-(e * slope_out) @ h.T)[0, 0]),
        "E5, E6": ((e * slope_out * o)[0, 0], (-(e * slope_out) @ h.T)[0, 0]),
    }
    hidden_book = 0.3 * ((w_ho.T @ e) * slope_hidden) @ x.T
    hidden_exact = 0.3 * ((w_ho.T @ (e * slope_out)) * slope_hidden) @ x.T
    rows = proofs.comparisons(seed=0)
    differing = {c.erratum: c for c in rows if not c.agrees}
    for erratum, (closed_form, autodiff) in by_hand.items():
        assert np.ravel(differing[erratum].closed_form)[0] == pytest.approx(closed_form)
        assert np.ravel(differing[erratum].autodiff)[0] == pytest.approx(autodiff)
    quoted = {  # as the pages print them
        "E1": ("+2.072847", "-3.742773", "5.8e+00"),
        "E3": ("+0.045756", "+0.091511", "7.9e-02"),
        "E5, E6": ("-0.027387", "+0.045756", "1.1e-01"),
    }
    for erratum, (closed_form, autodiff, difference) in quoted.items():
        row = differing[erratum]
        assert f"{np.ravel(row.closed_form)[0]:+.6f}" == closed_form
        assert f"{np.ravel(row.autodiff)[0]:+.6f}" == autodiff
        assert f"{row.difference:.1e}" == difference
    e8_rows = [c for c in rows if c.erratum == "E8"]
    assert [f"{np.ravel(c.closed_form)[0]:+.6f}" for c in e8_rows] == ["-0.637100", "-0.041688"]
    assert [f"{np.ravel(c.autodiff)[0]:+.6f}" for c in e8_rows] == ["-0.083464", "-0.005461"]
    assert [f"{c.difference:.1e}" for c in e8_rows] == ["5.5e-01", "3.6e-02"]
    np.testing.assert_allclose(e8_rows[0].closed_form, w_ho.T @ e)
    np.testing.assert_allclose(e8_rows[0].autodiff, w_ho.T @ (e * slope_out))
    np.testing.assert_allclose(e8_rows[1].closed_form, hidden_book)
    np.testing.assert_allclose(e8_rows[1].autodiff, hidden_exact)
    np.testing.assert_allclose(np.abs(hidden_book - hidden_exact).max(), e8_rows[1].difference)
    # `demo`'s first number, on docs/textbook.md: E = ½Σ(t − o)² = 0.422943
    assert f"{0.5 * float(np.sum((t - o) ** 2)):.6f}" == "0.422943"
    assert f"{proofs.book_network_loss(seed=0).item():.6f}" == "0.422943"
    # "8 formulas agree with autodiff; 5 differ", the agreeing ones "far below 1e-12"
    assert (sum(c.agrees for c in rows), len(rows) - sum(c.agrees for c in rows)) == (8, 5)
    assert sorted(c.erratum for c in rows if not c.agrees) == ["E1", "E3", "E5, E6", "E8", "E8"]
    assert all(c.difference < 1e-12 for c in rows if c.agrees)


def test_the_row_above_each_documented_slip_is_the_right_formula_and_agrees():
    # docs/errata.md: above the split (E1) the transpose rule on the same linear layer
    # agrees; above the row without the ½ (E3) the row with it agrees
    rows = proofs.comparisons(seed=0)
    for erratum, words in (("E1", "linear output layer"), ("E3", "E = ½Σ(t − o)²")):
        position = next(n for n, c in enumerate(rows) if c.erratum == erratum)
        above = rows[position - 1]
        assert above.agrees and words in above.formula


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
    o_k = sigmoid(2.3)  # the text's σ(2.3), computed here
    assert steps[0].book.startswith("½")
    assert steps[1].book.startswith("2 (from the square)")
    assert steps[2].book == "(oₖ − tₖ) = −eₖ (output error eₖ = 0.8)"
    assert steps[3].book == f"oₖ(1 − oₖ) (sigmoid slope, oₖ = {o_k:.4g})"
    assert steps[4].book == "oⱼ (hidden output 1, 0.4)"  # the input w₁₁ multiplies


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
        assert path.steps[-1].book == f"xᵢ (input 1, {x[0, 0]:.4g})"


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


def test_explain_follows_the_graph_as_recorded_when_a_tensor_changes_in_place():
    # c is used (by d), then changed in place: the paths go through both of its versions,
    # and an operation recorded after the loss is no part of it.
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    c = x * 2
    c.name = "c"
    d = c - x  # loss = Σ (2x − x + 2x + 1): ∂loss/∂x₀ = 3 by three paths: 2, −1 and 2
    c += 1
    loss = (d + c).sum()
    c *= 5  # after the loss: no factor 5 on any path
    explanation = proofs.explain(loss, x, 0, show=False)
    assert sorted(path.product for path in explanation.paths) == [-1.0, 2.0, 2.0]
    assert explanation.total == explanation.autodiff == 3.0
    assert set(proofs.tensors_by_name(loss)) == {"x", "c"}


@pytest.mark.parametrize("half", [True, False])
@pytest.mark.parametrize("weights", [(2.0, 3.0), (2.5, -1.0), (-0.3, 0.7)])
def test_worked_example_from_given_weights_is_a_function_of_the_weights(half, weights):
    # E(w) = [½](t₁ − σ(0.4·w₁₁ + 0.5·w₂₁))² with the text's target t₁ = σ(2.3) + 0.8 kept
    # fixed: its value by hand, and its gradient against central differences of that formula
    def by_hand(w):
        target = 1 / (1 + np.exp(-2.3)) + 0.8
        error = (target - 1 / (1 + np.exp(-(0.4 * w[0] + 0.5 * w[1])))) ** 2
        return 0.5 * error if half else error

    loss, w = proofs.worked_example_network(half=half, weights=weights)
    assert loss.item() == pytest.approx(by_hand(np.array(weights)), rel=1e-12)
    loss.backward()
    h = 1e-6
    for i in range(2):
        up, down = np.array(weights, float), np.array(weights, float)
        up[i] += h
        down[i] -= h
        assert w.grad[0, i] == pytest.approx((by_hand(up) - by_hand(down)) / (2 * h), rel=1e-6)
