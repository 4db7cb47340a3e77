"""The tutorial: every chapter runs as a script, what its prose says matches what it prints,
and every exercise solution is right.

Each chapter runs once per test session (`run_chapter`), cell by cell as the site build runs
it, and the tests read its namespace and what each cell printed. A number in a chapter's
prose must be one that the chapter prints, or one of the givens listed here; a claim about
the printed numbers is checked against a value found independently: a closed form written
here, finite differences in plain numpy, or a hand calculation. The same holds for the
solutions.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from references import book_demo_network, sigmoid

from tinygrad_edu import Tensor, autograd, grad, proofs
from tinygrad_edu.gradcheck import gradgradcheck

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial"
CHAPTERS = sorted(TUTORIAL.glob("[0-9][0-9]_*.py"))
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="the chapter draws with Graphviz: 'dot' is not installed (apt-get install graphviz)",
)


def _solutions(name: str) -> ModuleType:
    path = TUTORIAL / "solutions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tutorial_solutions_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _finite_differences(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """∂f/∂x by central differences, element by element, in plain numpy."""
    x = np.array(x, dtype=np.float64)
    result = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        result[i] = (f(up) - f(down)) / (2 * eps)
    return result


def _worked_example_error(
    weights: np.ndarray | list[float], target: float | None = None, half: bool = True
) -> float:
    """The worked example in plain numpy: E = ½(t₁ − σ(w₁₁·0.4 + w₂₁·0.5))² (without the ½
    if ``half=False``), ``weights`` holding w₁₁ and w₂₁; by default the text's target
    t₁ = σ(2.3) + 0.8, which makes e₁ = 0.8 at w₁₁ = 2, w₂₁ = 3."""
    w11, w21 = np.ravel(weights)
    t1 = sigmoid(2.3) + 0.8 if target is None else target
    error = float((t1 - sigmoid(w11 * 0.4 + w21 * 0.5)) ** 2)
    return 0.5 * error if half else error


# --------------------------------------------------------------------------- the chapters


WRITTEN = [
    "01_one_neuron.py",
    "02_sharing_the_error.py",
    "03_chain_rule_for_one_weight.py",
    "04_network_in_matrices.py",
    "05_what_backward_does.py",
    "06_training_on_digits.py",
    "07_checking_gradients.py",
    "08_your_own_operation.py",
    "09_where_the_texts_slip.py",
]


def test_the_chapters_are_there() -> None:
    assert set(WRITTEN) <= {c.name for c in CHAPTERS}


@dataclass(frozen=True)
class Cell:
    kind: str  # "markdown" or "code"
    source: str  # a markdown cell's text without its "# " prefixes
    line: int  # 1-based line of the cell's "# %%" marker
    printed: str = ""  # what a code cell printed


@dataclass(frozen=True)
class ChapterRun:
    cells: tuple[Cell, ...]
    namespace: dict[str, Any]

    @property
    def printed(self) -> str:
        return "".join(cell.printed for cell in self.cells)

    @property
    def prose(self) -> str:
        return "\n".join(cell.source for cell in self.cells if cell.kind == "markdown")


def chapter_cells(path: Path) -> list[Cell]:
    """The cells of a chapter in jupytext's percent format (`# %%`, `# %% [markdown]`)."""
    cells: list[Cell] = []
    kind, start, lines = "", 0, []  # text before the first marker (the header) is no cell

    def close() -> None:
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line[1:] for line in lines)
            cells.append(Cell(kind, text.strip(), start))
        elif kind == "code":
            cells.append(Cell(kind, "\n".join(lines).strip() + "\n", start))

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# %%"):
            close()
            kind, start, lines = ("markdown" if "[markdown]" in line else "code"), number, []
        else:
            lines.append(line)
    close()
    return cells


@functools.cache
def run_chapter(name: str) -> ChapterRun:
    """Runs a chapter once, as `python docs/tutorial/<name>` does but cell by cell, from the
    repository root and headless, and keeps what each code cell printed."""
    path = TUTORIAL / name
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    cells = []
    saved_backend, saved_cwd = os.environ.get("MPLBACKEND"), Path.cwd()
    os.environ["MPLBACKEND"] = "Agg"  # headless: a plot must never open a window
    os.chdir(ROOT)
    try:
        for cell in chapter_cells(path):
            if cell.kind == "code":
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed):
                    exec(compile(cell.source, f"{path}:{cell.line}", "exec"), namespace)
                cell = Cell(cell.kind, cell.source, cell.line, printed.getvalue())
            cells.append(cell)
    finally:
        os.chdir(saved_cwd)
        if saved_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved_backend
        if "matplotlib.pyplot" in sys.modules:  # plt.show() under Agg keeps them open
            sys.modules["matplotlib.pyplot"].close("all")
    return ChapterRun(tuple(cells), namespace)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_runs_as_a_script(chapter: Path) -> None:
    run = run_chapter(chapter.name)
    assert run.printed  # a chapter shows its numbers
    assert [c.kind for c in run.cells].count("code") == len(
        [line for line in chapter.read_text(encoding="utf-8").splitlines() if line == "# %%"]
    )


NUMBER = re.compile(r"(?<![\w.])[−+-]?\d+\.\d+(?:e[−+-]?\d+)?(?!\w)")

GIVENS: dict[str, set[str]] = {
    "02_sharing_the_error.py": {"0.2", "0.3", "0.4"},  # weights and outputs chosen, not computed
    "06_training_on_digits.py": {"0.5"},  # the learning rate
    "07_checking_gradients.py": {"2.3"},  # the point the slope is measured at
    "09_where_the_texts_slip.py": {"0.5", "3.0"},  # the worked example's givens
}
"""Numbers a chapter's prose states as givens (its inputs), which it need not print."""


def _shown_as(value: str, printed: float) -> bool:
    """Whether ``printed``, rounded to the digits of ``value``, reads as ``value``."""
    mantissa, _, exponent = value.lower().partition("e")
    digits = len(mantissa.split(".")[1])
    if exponent:
        return f"{abs(printed):.{digits}e}" == f"{abs(float(value)):.{digits}e}"
    return round(abs(printed), digits) == abs(float(value))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_every_number_in_a_chapters_prose_is_one_it_prints_or_a_given(chapter: Path) -> None:
    run = run_chapter(chapter.name)
    printed = [float(n.replace("−", "-")) for n in NUMBER.findall(run.printed)]
    prose = re.sub(r"`[^`]*`", "", run.prose)  # code spans name things, they print nothing
    unbacked = [
        value
        for value in (n.replace("−", "-") for n in NUMBER.findall(prose))
        if value.lstrip("+-") not in GIVENS.get(chapter.name, set())
        and not any(_shown_as(value, p) for p in printed)
    ]
    assert not unbacked, f"{chapter.name}: prose numbers that the chapter never prints: {unbacked}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_no_chapter_heading_holds_inline_code(chapter: Path) -> None:
    # the notebook's table of contents drops code from a heading ("The slope of σ, found by")
    headings = [
        line
        for cell in chapter_cells(chapter)
        if cell.kind == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]
    assert headings and not [h for h in headings if "`" in h]


def test_the_chapters_before_chapter_9_name_only_the_errata_it_says_they_showed() -> None:
    # chapter 9: "The chapters before have shown E1, E2, E3 and E8 already ... E4 to E7, E9
    # and E10 are new"
    named = set()
    for chapter in CHAPTERS[:8]:
        named |= set(re.findall(r"\bE(?:10|[1-9])\b", run_chapter(chapter.name).prose))
    assert named == {"E1", "E2", "E3", "E8"}
    assert "have shown E1, E2, E3 and E8 already" in " ".join(
        run_chapter("09_where_the_texts_slip.py").prose.split()
    )


def _slug(heading: str) -> str:
    """The anchor the site gives a heading (Python-Markdown's toc)."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def test_every_chapters_solutions_are_on_the_solutions_page_and_linked_from_it() -> None:
    page = (TUTORIAL / "solutions.md").read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^## (.+)$", page, re.M)}
    included = set(re.findall(r'--8<-- "([^"]+)"', page))
    assert included == {p.name for p in (TUTORIAL / "solutions").glob("ch*.py")}
    for chapter in CHAPTERS:
        text = chapter.read_text(encoding="utf-8")
        links = re.findall(r"\(\.\./solutions/#([\w-]+)\)", text)
        assert len(links) == 1 and links[0] in anchors, chapter.name
        number = int(chapter.name[:2])
        assert links[0].startswith(f"chapter-{number}-")


# --------------------------------------------------------------------------- chapter 1


def test_ch01_tanh_slope_is_one_minus_tanh_squared() -> None:
    points = np.linspace(-3, 3, 13)
    slope = _solutions("ch01_one_neuron").tanh_slope(points)
    np.testing.assert_allclose(slope, 1 - np.tanh(points) ** 2, rtol=1e-12)


def test_ch01_sigmoid_second_derivative_matches_closed_form() -> None:
    points = np.linspace(-4, 4, 17)
    s = sigmoid(points)
    found = _solutions("ch01_one_neuron").sigmoid_second_derivative(points)
    np.testing.assert_allclose(found, s * (1 - s) * (1 - 2 * s), atol=1e-12)
    assert found[8] == pytest.approx(0.0, abs=1e-15)  # x = 0: the slope is largest there


def test_ch01_neuron_weight_gradient_matches_finite_differences() -> None:
    w = np.array([[0.5, -0.3, 0.8]])
    x = np.array([[0.9], [0.1], [0.8]])
    found = _solutions("ch01_one_neuron").neuron_weight_gradient(w, x)
    expected = _finite_differences(lambda v: float(sigmoid(v @ x).sum()), w)
    np.testing.assert_allclose(found, expected, atol=1e-9)


# --------------------------------------------------------------------------- chapter 2


def test_ch02_proportional_split_reproduces_the_texts_examples() -> None:
    split = _solutions("ch02_sharing_the_error").proportional_split
    # python-course.eu: one output, e₁ = 0.08, weights 0.6, 0.4, 0.1, 0.2: 0.08 · 0.6 / 1.3 = 0.037
    single = split(np.array([[0.6, 0.4, 0.1, 0.2]]), np.array([[0.08]]))
    assert single[0, 0] == pytest.approx(0.08 * 0.6 / 1.3)
    assert round(float(single[0, 0]), 3) == 0.037
    # the book's 2 × 2 matrix: hidden 1 gets w₁₁/(w₁₁ + w₂₁)·e₁ + w₁₂/(w₁₂ + w₂₂)·e₂
    w11, w21, w12, w22, e1, e2 = 2.0, 3.0, 1.0, 4.0, 0.8, 0.5
    by_hand = [w11 / (w11 + w21) * e1 + w12 / (w12 + w22) * e2,
               w21 / (w21 + w11) * e1 + w22 / (w22 + w12) * e2]  # fmt: skip
    W_ho = np.array([[w11, w21], [w12, w22]])  # row k: the weights into output k
    np.testing.assert_allclose(split(W_ho, np.array([[e1], [e2]])).ravel(), by_hand)


def test_ch02_opposite_signs_example_has_positive_weights_and_opposite_signs() -> None:
    weights, errors = _solutions("ch02_sharing_the_error").opposite_signs()
    assert (weights > 0).all()
    k_outputs, j_hidden = weights.shape
    for j in range(j_hidden):  # written out element by element, as the texts write it
        split = sum(errors[k, 0] * weights[k, j] / weights[k].sum() for k in range(k_outputs))
        transpose = sum(errors[k, 0] * weights[k, j] for k in range(k_outputs))
        if split > 0 > transpose:
            return
    pytest.fail("no hidden node gets errors of opposite sign")


def test_ch02_hidden_error_is_minus_the_finite_difference_gradient() -> None:
    rng = np.random.default_rng(7)
    W_ho = rng.normal(0, 0.5, (3, 4))
    h = rng.uniform(0.1, 0.9, (4, 1))
    t = np.array([[0.01], [0.99], [0.01]])

    def error(hidden: np.ndarray) -> float:
        return 0.5 * float(((t - sigmoid(W_ho @ hidden)) ** 2).sum())

    found = _solutions("ch02_sharing_the_error").hidden_error(W_ho, h, t)
    np.testing.assert_allclose(found, -_finite_differences(error, h), atol=1e-9)


def test_ch02_what_the_chapter_says_about_its_numbers_holds_by_hand() -> None:
    ns = run_chapter("02_sharing_the_error.py").namespace
    w_ho = ns["W_ho"]  # the chapter's two-output example, a linear output layer
    e = ns["t"] - w_ho @ ns["h"]
    # "(1.3 for output 1, 1.6 for output 2)": the sums of the weights into each output
    assert [round(sum(row), 10) for row in w_ho.tolist()] == [1.3, 1.6]
    # the split and the transpose rule written out node by node, as the texts write them
    split = [sum(e[k, 0] * w_ho[k, j] / sum(w_ho[k]) for k in range(2)) for j in range(4)]
    transpose = [sum(e[k, 0] * w_ho[k, j] for k in range(2)) for j in range(4)]
    np.testing.assert_allclose(ns["proportional"].ravel(), split)
    np.testing.assert_allclose(ns["transpose_rule"].ravel(), transpose)
    ratios = np.array(transpose) / np.array(split)
    assert len(set(np.round(ratios, 6))) == 4  # "all different": no common rescaling
    assert split[3] > 0 > transpose[3]  # "hidden node 4 ... errors of opposite sign"
    # the book's network, seed 0, with a linear output layer: "Every output's sum is
    # negative", and the split sends +2.07 to hidden node 1 where the gradient says −3.74
    w_ih, w_ho, x, t = book_demo_network(seed=0)
    h = sigmoid(w_ih @ x)
    assert (w_ho.sum(axis=1) < 0).all()
    linear_errors = t - w_ho @ h
    first_share = sum(linear_errors[k, 0] * w_ho[k, 0] / w_ho[k].sum() for k in range(3))
    gradient = _finite_differences(lambda v: 0.5 * float(((t - w_ho @ v) ** 2).sum()), h)
    assert round(first_share, 2) == 2.07 and round(-gradient[0, 0], 2) == -3.74
    np.testing.assert_allclose(ns["split"][0, 0], first_share)


# --------------------------------------------------------------------------- chapter 3


@needs_dot
def test_ch03_prints_the_texts_numbers() -> None:
    run = run_chapter("03_chain_rule_for_one_weight.py")
    out, namespace = run.printed, run.namespace
    assert "new w₁₁       2.002650" in out  # the text's 2.00265, from the unrounded slope
    assert "= -0.02656, new w₁₁ = 2.00266" in out  # −0.8 × 0.083 × 0.4, rounded factors
    assert "σ(1 − σ)      0.082820" in out
    np.testing.assert_allclose(
        namespace["weights"].grad,
        _finite_differences(_worked_example_error, np.array([[2.0, 3.0]])),
    )
    # "0.083 is 0.2 % larger than the slope": by hand, 0.083 / (σ(2.3)(1 − σ(2.3))) − 1
    slope = sigmoid(2.3) * (1 - sigmoid(2.3))
    assert f"{100 * (0.083 / slope - 1):.1f}" == "0.2"
    assert "0.083 is 0.2 % larger than the slope 0.08282" in out
    # the table of the library's worked example: the text's numbers beside the computed ones
    for text, value in (("2.3", 2.3), ("0.909", sigmoid(2.3)), ("−0.0265", -0.8 * slope * 0.4)):
        assert re.search(rf"{text} +{value:.6f}\n", out), (text, value)
    assert "WorkedExample(" not in out  # no raw dataclass on the page


def test_ch03_other_weight_matches_finite_differences() -> None:
    gradient, new_w21 = _solutions("ch03_chain_rule").other_weight()
    numerical = _finite_differences(_worked_example_error, np.array([[2.0, 3.0]]))[0, 1]
    assert gradient == pytest.approx(numerical, rel=1e-7)
    assert gradient == pytest.approx(-0.0331, abs=5e-5)  # −0.8 × 0.0828 × 0.5 by hand
    assert new_w21 == pytest.approx(3.0 - 0.1 * numerical, rel=1e-9)


def test_ch03_without_the_half_the_gradient_doubles() -> None:
    prediction, autodiff, theirs = _solutions("ch03_chain_rule").without_the_half()
    numerical = _finite_differences(
        lambda w: _worked_example_error(w, half=False), np.array([[2.0, 3.0]])
    )[0, 0]
    assert autodiff == pytest.approx(numerical, rel=1e-7)
    assert theirs == pytest.approx(numerical, rel=1e-6)
    assert prediction == pytest.approx(numerical, rel=1e-7)
    assert prediction == pytest.approx(2 * -0.0265, abs=1e-4)


@needs_dot
def test_ch03_reads_the_explorer_of_the_book_network() -> None:
    steps = _solutions("ch03_chain_rule").book_network_steps()
    named = proofs.tensors_by_name(proofs.book_network_loss())
    w_ih, w_ho = named["W_ih"].data, named["W_ho"].data
    x, t = named["inputs"].data, named["targets"].data
    hidden = sigmoid(w_ih @ x)
    o = sigmoid(w_ho @ hidden)
    sent = _finite_differences(lambda out: 0.5 * float(np.sum((t - out) ** 2)), o)
    np.testing.assert_allclose(steps["sent_to_final_outputs"], sent, rtol=1e-7)
    np.testing.assert_allclose(steps["o_minus_t"], o - t, rtol=1e-12)
    numerical = _finite_differences(
        lambda w: 0.5 * float(np.sum((t - sigmoid(w @ hidden)) ** 2)), w_ho
    )
    np.testing.assert_allclose(steps["w_ho_grad"], numerical, rtol=1e-6)
    np.testing.assert_allclose(steps["book_matrix_form"], numerical, rtol=1e-6)


# --------------------------------------------------------------------------- chapter 4


def _book_layer_update(w_ho: np.ndarray, h: np.ndarray, t: np.ndarray, lr: float) -> np.ndarray:
    """α·(e ∗ o(1 − o))·hᵀ for one sample, written out weight by weight: the book's
    Δw_jk = α · e_k · o_k(1 − o_k) · o_j for the weight in row k, column j."""
    o = sigmoid(w_ho @ h)
    update = np.zeros_like(w_ho)
    for k, j in np.ndindex(w_ho.shape):
        update[k, j] = lr * (t[k, 0] - o[k, 0]) * o[k, 0] * (1 - o[k, 0]) * h[j, 0]
    return update


def test_ch04_minibatch_update_is_the_mean_of_the_per_sample_updates() -> None:
    rng = np.random.default_rng(3)
    w_ho = rng.normal(0, 3**-0.5, (3, 4))
    hidden = rng.uniform(0.05, 0.95, (4, 5))  # five samples, as columns
    targets = np.where(rng.random((3, 5)) < 0.5, 0.01, 0.99)
    found = _solutions("ch04_network_in_matrices").minibatch_update(w_ho, hidden, targets, 0.3)
    per_sample = [_book_layer_update(w_ho, hidden[:, [s]], targets[:, [s]], 0.3) for s in range(5)]
    np.testing.assert_allclose(found, np.mean(per_sample, axis=0), atol=1e-15)


def test_ch04_hidden_weight_update_matches_finite_differences() -> None:
    w_ih, w_ho, x, t = book_demo_network(seed=0)

    def error(weights: np.ndarray) -> float:
        return 0.5 * float(((t - sigmoid(w_ho @ sigmoid(weights @ x))) ** 2).sum())

    found = _solutions("ch04_network_in_matrices").hidden_weight_update(w_ih, w_ho, x, t, 0.3)
    np.testing.assert_allclose(found, -0.3 * _finite_differences(error, w_ih), atol=1e-10)


def test_ch04_step_without_the_half_at_half_the_rate_is_the_books_step() -> None:
    rng = np.random.default_rng(1)
    w_ho = rng.normal(0, 0.5, (2, 3))
    h, t = rng.uniform(0.1, 0.9, (3, 1)), np.array([[0.99], [0.01]])
    plain, half = _solutions("ch04_network_in_matrices").steps_with_and_without_the_half(
        w_ho, h, t, 0.4
    )
    expected = w_ho + _book_layer_update(w_ho, h, t, 0.4)  # the book's step, by hand
    np.testing.assert_allclose(plain, expected, atol=1e-15)
    np.testing.assert_allclose(half, expected, atol=1e-15)


# --------------------------------------------------------------------------- chapter 5


def test_ch05_by_hand_order_and_contributions() -> None:
    # z = (x + 1)·x at x = 2: the sum, the product, the addition; x collects x + 1 = 3 from
    # the product and x = 2 through the addition, 3 + 2 = 2x + 1 = 5
    order, contributions = _solutions("ch05_what_backward_does").by_hand()
    assert order == ["SumBackward", "MulBackward", "AddBackward"]
    assert sorted(contributions) == [2.0, 3.0] and sum(contributions) == 2 * 2.0 + 1


def _consumers_by_hand(loss: Tensor) -> dict[int, set[int]]:
    """For each node (by id), the ids of the nodes that consume its output: found from the
    inputs' ``grad_fn`` of a graph that nothing changed in place."""
    consumers: dict[int, set[int]] = {}
    stack, seen = [loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        consumers.setdefault(id(node), set())
        for t in node.inputs:
            if t.grad_fn is not None:
                consumers.setdefault(id(t.grad_fn), set()).add(id(node))
                stack.append(t.grad_fn)
    return consumers


@pytest.mark.parametrize("graph", ["h·h + h", "book network"])
def test_ch05_my_order_puts_every_node_after_all_its_consumers(graph: str) -> None:
    if graph == "book network":
        loss = proofs.book_network_loss(seed=0)
    else:
        h = Tensor([3.0], requires_grad=True) * 3.0
        loss = (h * h + h).sum()
    order = _solutions("ch05_what_backward_does").my_order(loss)
    position = {id(node): i for i, node in enumerate(order)}
    consumers = _consumers_by_hand(loss)
    assert set(position) == set(consumers)  # every node, once
    for node, users in consumers.items():
        assert all(position[user] < position[node] for user in users)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_ch05_path_by_path_is_right_but_runs_the_first_layer_three_to_the_n_times(
    depth: int,
) -> None:
    # h ← h·h + h: dh/dx = 2h + 1 per layer (chain rule by hand); each layer's node is
    # reached along 3 paths per layer above it, so the first runs 3^(depth − 1) times
    solutions = _solutions("ch05_what_backward_does")
    x, loss = solutions.layered(depth)
    grads, runs = solutions.path_by_path(loss)
    value, slope = 0.5, 1.0
    for _ in range(depth):
        slope *= 2 * value + 1
        value = value * value + value
    np.testing.assert_allclose(grads[id(x)], [slope], rtol=1e-12)
    assert runs["MulBackward"] == sum(3**k for k in range(depth))  # 1 + 3 + 9 + …
    assert runs["AddBackward"] == sum(3**k for k in range(depth))
    engine = Counter(step.node.name for step in autograd.backward_steps(loss))
    assert engine["MulBackward"] == engine["AddBackward"] == depth  # each node once


# --------------------------------------------------------------------------- chapter 6


def test_ch06_cross_entropy_hidden_update_is_the_books_hidden_rule() -> None:
    rng = np.random.default_rng(5)
    solve = _solutions("ch06_training_on_digits").cross_entropy_hidden_update
    for _ in range(3):
        w_ih, w_ho = rng.normal(0, 0.5, (4, 3)), rng.normal(0, 0.5, (2, 4))
        x = rng.uniform(0.01, 1.0, (3, 1))
        t = np.where(rng.random((2, 1)) < 0.5, 0.01, 0.99)
        h = sigmoid(w_ih @ x)
        e = t - sigmoid(w_ho @ h)
        books = 0.2 * ((w_ho.T @ e) * h * (1 - h)) @ x.T  # the book's train(), by hand
        np.testing.assert_allclose(solve(w_ih, w_ho, x, t, 0.2), books, atol=1e-15)


def test_ch06_accuracy_per_digit_on_a_hand_made_confusion_matrix() -> None:
    confusion = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 5]])  # rows: the true digit
    found = _solutions("ch06_training_on_digits").accuracy_per_digit(confusion)
    np.testing.assert_allclose(found, [8 / 10, 1 / 4, 5 / 5])
    assert found.argmin() == 1


def test_ch06_output_gradients_match_the_closed_forms() -> None:
    z, t = -6.0, 0.99
    o = sigmoid(z)
    squared, entropy = _solutions("ch06_training_on_digits").output_gradients(z, t)
    assert squared == pytest.approx(-(t - o) * o * (1 - o), rel=1e-12)
    assert entropy == pytest.approx(o - t, rel=1e-12)
    assert entropy / squared == pytest.approx(1 / (o * (1 - o)), rel=1e-9)


def test_ch06_learning_curves_are_as_the_chapter_describes_them() -> None:
    runs = run_chapter("06_training_on_digits.py").namespace["runs"]
    exact, book, entropy = runs["exact"], runs["book"], runs["cross-entropy"]
    assert len(exact) == len(book) == len(entropy) == 5
    # "Both rules learn": the loss falls every epoch, and the test accuracy ends high
    for history in (exact, book):
        losses = [epoch.loss for epoch in history]
        assert losses == sorted(losses, reverse=True)
        assert history[-1].test_accuracy > 0.95
    # "the book's gets ahead sooner": higher test accuracy after the first epoch
    assert book[0].test_accuracy > exact[0].test_accuracy
    # "the two rules that leave out the slope also end with the lower ½Σ(t − o)²"
    assert book[-1].loss < exact[-1].loss and entropy[-1].loss < exact[-1].loss


def test_ch06_the_books_hidden_step_is_the_cross_entropy_step_to_rounding_error() -> None:
    out = run_chapter("06_training_on_digits.py").printed
    squared = re.search(r"∂\(½Σ\(t − o\)²\)/∂Wᵢₕ: largest difference (\S+)", out)
    entropy = re.search(r"∂\(cross-entropy\)/∂Wᵢₕ: largest difference (\S+)", out)
    assert squared and entropy
    assert float(entropy.group(1)) < 1e-12 < 1e-3 < float(squared.group(1))


# --------------------------------------------------------------------------- chapter 7


def test_ch07_central_difference_of_sine_is_cosine() -> None:
    x = np.linspace(-2, 2, 9).reshape(3, 3)
    found = _solutions("ch07_checking_gradients").central_difference(np.sin, x)
    np.testing.assert_allclose(found, np.cos(x), atol=1e-9)


def test_ch07_error_orders_are_one_and_two() -> None:
    forward, central = _solutions("ch07_checking_gradients").error_orders(np.exp, np.exp, 0.5)
    assert forward == pytest.approx(1.0, abs=0.1)
    assert central == pytest.approx(2.0, abs=0.1)


def test_ch07_property_passes_for_the_books_formula_and_fails_without_the_slope() -> None:
    make = _solutions("ch07_checking_gradients").formula_matches_autodiff

    def books(t: np.ndarray, o: np.ndarray, o_j: np.ndarray) -> np.ndarray:
        gradient = np.zeros((o.shape[0], o_j.shape[0]))  # ∂E/∂w_jk, weight by weight
        for k, j, s in np.ndindex(o.shape[0], o_j.shape[0], o.shape[1]):
            gradient[k, j] += -(t[k, s] - o[k, s]) * o[k, s] * (1 - o[k, s]) * o_j[j, s]
        return gradient

    def without_slope(t: np.ndarray, o: np.ndarray, o_j: np.ndarray) -> np.ndarray:
        return -(t - o) @ o_j.T

    make(books, examples=10)()
    with pytest.raises(AssertionError):
        make(without_slope, examples=10)()


def test_ch07_the_two_examples_it_reads_off_its_output_hold_by_hand() -> None:
    out = run_chapter("07_checking_gradients.py").printed
    # "At z = 2.3 backward says σ = 0.909, finite differences say σ(1 − σ) = 0.0828"
    analytic = re.search(r"analytic \(backward\): (\S+)", out)
    numeric = re.search(r"numeric +\(central differences[^:]*\): (\S+)", out)
    assert analytic and numeric
    s = sigmoid(2.3)
    assert float(analytic.group(1)) == pytest.approx(s, abs=1e-9)
    assert float(numeric.group(1)) == pytest.approx(s * (1 - s), abs=1e-8)
    # "ACTUAL is the transpose rule, DESIRED the gradient −∂E/∂h: on a single sigmoid output
    # they differ by exactly the slope o(1 − o)": read the shrunk network and both values
    weight = float(re.search(r"weights=\[array\(\[\[(\S+?)\]\]\)\]", out).group(1))
    inputs = float(re.search(r"inputs=array\(\[\[(\S+?)\]\]\)", out).group(1))
    target = float(re.search(r"targets=array\(\[\[(\S+?)\]\]\)", out).group(1))
    actual = float(re.search(r"ACTUAL: array\(\[\[(\S+?)\]\]\)", out).group(1))
    desired = float(re.search(r"DESIRED: array\(\[\[(\S+?)\]\]\)", out).group(1))
    o = sigmoid(weight * inputs)
    assert actual == pytest.approx(weight * (target - o), abs=1e-6)  # Wₕₒᵀ · e
    assert desired == pytest.approx(actual * o * (1 - o), abs=1e-6)


# --------------------------------------------------------------------------- chapter 8


def test_ch08_reciprocal_first_and_second_derivatives_match_closed_forms() -> None:
    reciprocal = _solutions("ch08_your_own_operation").Reciprocal
    x = Tensor([0.5, -1.5, 2.0], requires_grad=True)
    (first,) = grad(reciprocal.apply(x).sum(), x, create_graph=True)
    assert first is not None
    (second,) = grad(first.sum(), x)
    assert second is not None
    np.testing.assert_allclose(first.data, -1 / x.data**2, rtol=1e-12)
    np.testing.assert_allclose(second.data, 2 / x.data**3, rtol=1e-12)


def test_ch08_hypot_derivatives_match_closed_forms() -> None:
    hypot = _solutions("ch08_your_own_operation").Hypot
    a = Tensor([3.0, -1.0, 0.5], requires_grad=True)
    b = Tensor([4.0, 2.0, -0.7], requires_grad=True)
    r = np.sqrt(a.data**2 + b.data**2)
    y = hypot.apply(a, b)
    np.testing.assert_allclose(y.data[0], 5.0)  # the 3-4-5 triangle
    (grad_a, grad_b) = grad(y.sum(), [a, b], create_graph=True)
    assert grad_a is not None and grad_b is not None
    np.testing.assert_allclose(grad_a.data, a.data / r, rtol=1e-12)
    np.testing.assert_allclose(grad_b.data, b.data / r, rtol=1e-12)
    (second_aa, second_ab) = grad(grad_a.sum(), [a, b])
    assert second_aa is not None and second_ab is not None
    np.testing.assert_allclose(second_aa.data, b.data**2 / r**3, rtol=1e-12)  # ∂²y/∂a²
    np.testing.assert_allclose(second_ab.data, -a.data * b.data / r**3, rtol=1e-12)


def test_ch08_sigmoid_layer_gradients_match_finite_differences_and_pass_gradgradcheck() -> None:
    layer = _solutions("ch08_your_own_operation").SigmoidLayer
    rng = np.random.default_rng(2)
    w, x = rng.normal(0, 0.7, (3, 4)), rng.uniform(0.01, 1.0, (4, 2))
    v = rng.normal(size=(3, 2))  # a loss L = Σ y·v makes every output element count
    W, X = Tensor(w, requires_grad=True), Tensor(x, requires_grad=True)
    (layer.apply(W, X) * v).sum().backward()
    np.testing.assert_allclose(
        W.grad, _finite_differences(lambda m: float((sigmoid(m @ x) * v).sum()), w), atol=1e-9
    )
    np.testing.assert_allclose(
        X.grad, _finite_differences(lambda m: float((sigmoid(w @ m) * v).sum()), x), atol=1e-9
    )
    assert gradgradcheck(lambda a, b: layer.apply(a, b), W, X)


# --------------------------------------------------------------------------- chapter 9


def test_ch09_worked_example_three_ways_by_hand() -> None:
    found = _solutions("ch09_where_the_texts_slip").worked_example_three_ways()
    slope = sigmoid(2.3) * (1 - sigmoid(2.3))  # ≈ 0.0828
    assert found["unrounded"][0] == pytest.approx(-0.0265023, abs=1e-7)
    assert found["unrounded"][1] == pytest.approx(2.0026502, abs=1e-7)
    assert found["rounded"] == pytest.approx((-0.02656, 2.002656))  # −0.8 × 0.083 × 0.4
    assert found["plus o_j"][0] == pytest.approx(-0.8 * slope + 0.4)
    assert found["plus o_j"][0] == pytest.approx(0.3337, abs=1e-4)


def test_ch09_consistent_gradients_match_finite_differences() -> None:
    found = _solutions("ch09_where_the_texts_slip").consistent_gradients(0.99)
    expected = _finite_differences(lambda w: _worked_example_error(w, 0.99), np.array([2.0, 3.0]))
    np.testing.assert_allclose(found, expected, atol=1e-10)
    assert found[0] == pytest.approx(-0.00269, abs=1e-5)  # about ten times below −0.0265


def test_ch09_newton_step_matches_second_differences_and_converges_to_the_target() -> None:
    newton_step = _solutions("ch09_where_the_texts_slip").newton_step
    target, h = sigmoid(2.3) + 0.8, 1e-4  # the text's target

    def error(w: float) -> float:
        return _worked_example_error([w, 3.0], target)

    first = (error(2.0 + h) - error(2.0 - h)) / (2 * h)
    second = (error(2.0 + h) - 2 * error(2.0) + error(2.0 - h)) / h**2
    assert newton_step(2.0, target) == pytest.approx(2.0 - first / second, abs=1e-5)
    assert newton_step(2.0, target) == pytest.approx(4.7136, abs=1e-4)
    w = 2.0
    for _ in range(12):
        w = newton_step(w, 0.99)
    assert w == pytest.approx((np.log(99) - 1.5) / 0.4, abs=1e-9)  # σ(0.4·w + 1.5) = 0.99


def test_ch09_newton_steps_with_the_texts_target_grow_by_about_2_5_without_end() -> None:
    # The solution says: from w₁₁ = 2.0, with the text's target 1.709, w₁₁ "grows by about
    # 2.5 per step without end". By hand: as oₖ → 1, with s = 1 − oₖ and c = t₁ − 1,
    # E′ ≈ −0.4·c·s and E″ ≈ 0.16·c·s, so the Newton step −E′/E″ tends to 1/0.4 = 2.5.
    newton_step = _solutions("ch09_where_the_texts_slip").newton_step
    target, w, steps = sigmoid(2.3) + 0.8, 2.0, []
    for _ in range(10):
        new = newton_step(w, target)
        steps.append(new - w)
        w = new
    assert all(2.4 < step < 2.75 for step in steps)
    assert steps[-1] == pytest.approx(1 / 0.4, abs=1e-3)


def test_ch06_solution_says_the_cross_entropy_corrects_about_405_times_faster() -> None:
    # ≈ 405: at z = −6, 1/(o(1 − o)) = (1 + e⁶)(1 + e⁻⁶) = 2 + e⁶ + e⁻⁶, by hand
    squared, entropy = _solutions("ch06_training_on_digits").output_gradients(-6.0, 0.99)
    assert round(entropy / squared) == round(2 + np.exp(6) + np.exp(-6)) == 405
    assert "≈ 405" in (TUTORIAL / "solutions" / "ch06_training_on_digits.py").read_text()
