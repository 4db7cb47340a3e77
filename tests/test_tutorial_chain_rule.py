"""Chapter 3 (the chain rule for one weight) runs as a script and prints the text's numbers;
its exercise solutions agree with hand calculations and finite differences."""

import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
from references import sigmoid

from tinygrad_edu import proofs

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "docs" / "tutorial" / "03_chain_rule_for_one_weight.py"
SOLUTIONS = runpy.run_path(str(ROOT / "docs" / "tutorial" / "solutions" / "ch03_chain_rule.py"))
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="the chapter draws with Graphviz: 'dot' is not installed (apt-get install graphviz)",
)


def central_differences(f, x, eps=1e-6):
    """∂f/∂x element by element, f a function of one float64 array."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def worked_example_loss(weights, half=True):
    """The worked example in plain numpy: o = σ(W·[0.4, 0.5]ᵀ), t = σ(2.3) + 0.8."""
    hidden = np.array([[0.4], [0.5]])
    target = sigmoid(2.3) + 0.8
    error = np.sum((target - sigmoid(weights @ hidden)) ** 2)
    return 0.5 * error if half else error


@needs_dot
def test_chapter_runs_and_prints_the_texts_numbers(capsys):
    namespace = runpy.run_path(str(CHAPTER), run_name="__main__")
    out = capsys.readouterr().out
    assert "new w₁₁       2.002650" in out  # the text's 2.00265, from the unrounded slope
    assert "= -0.02656, new w₁₁ = 2.00266" in out  # −0.8 × 0.083 × 0.4, rounded factors
    assert "σ(1 − σ)      0.082820" in out
    np.testing.assert_allclose(
        namespace["weights"].grad, central_differences(worked_example_loss, np.array([[2.0, 3.0]]))
    )


def test_exercise_1_other_weight_matches_finite_differences():
    gradient, new_w21 = SOLUTIONS["other_weight"]()
    numerical = central_differences(worked_example_loss, np.array([[2.0, 3.0]]))[0, 1]
    assert gradient == pytest.approx(numerical, rel=1e-7)
    assert gradient == pytest.approx(-0.0331, abs=5e-5)  # −0.8 × 0.0828 × 0.5 by hand
    assert new_w21 == pytest.approx(3.0 - 0.1 * numerical, rel=1e-9)


def test_exercise_2_without_the_half_the_gradient_doubles():
    prediction, autodiff = SOLUTIONS["without_the_half"]()
    numerical = central_differences(
        lambda w: worked_example_loss(w, half=False), np.array([[2.0, 3.0]])
    )[0, 0]
    assert autodiff == pytest.approx(numerical, rel=1e-7)
    assert prediction == pytest.approx(numerical, rel=1e-7)
    assert prediction == pytest.approx(2 * -0.0265, abs=1e-4)


@needs_dot
def test_exercise_3_reads_the_explorer_of_the_book_network():
    steps = SOLUTIONS["book_network_steps"]()
    named = proofs.tensors_by_name(proofs.book_network_loss())
    w_ih, w_ho = named["W_ih"].data, named["W_ho"].data
    x, t = named["inputs"].data, named["targets"].data
    hidden = sigmoid(w_ih @ x)
    o = sigmoid(w_ho @ hidden)
    sent = central_differences(lambda out: 0.5 * np.sum((t - out) ** 2), o)
    np.testing.assert_allclose(steps["sent_to_final_outputs"], sent, rtol=1e-7)
    np.testing.assert_allclose(steps["o_minus_t"], o - t, rtol=1e-12)
    numerical = central_differences(lambda w: 0.5 * np.sum((t - sigmoid(w @ hidden)) ** 2), w_ho)
    np.testing.assert_allclose(steps["w_ho_grad"], numerical, rtol=1e-6)
    np.testing.assert_allclose(steps["book_matrix_form"], numerical, rtol=1e-6)
