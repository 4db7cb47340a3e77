"""The step-through page: every number it shows is the engine's (checked against ``.grad``,
``retain_grad`` and hand calculations), the page is self-contained, and in a real browser
(headless Chromium via Selenium) the buttons, keys and slider move through the steps."""

import math
import re
import shutil
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from references import Hostile, book_demo_network, headless_chromium, sigmoid

from tinygrad_edu import Function, Tensor, nn, proofs, textbook, viz
from tinygrad_edu.autograd import GraphReleasedError
from tinygrad_edu.explore import ERRATA_URL, Explorer, book_layers, explore

pytestmark = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="the page draws with Graphviz: 'dot' is not installed (apt-get install graphviz)",
)

NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")
ROLE = re.compile(r'data-role="(\w+)"[^>]*>(.*?)</(?:table|span)>', re.DOTALL)


def shown(panel: str) -> list[tuple[str, np.ndarray]]:
    """The numbers of a panel, in order, as (role, values): what the page prints."""
    return [
        (role, np.array([float(n) for n in NUMBER.findall(re.sub(r"<[^>]+>", " ", body))]))
        for role, body in ROLE.findall(panel)
    ]


def agrees(text_values: np.ndarray, expected: np.ndarray) -> bool:
    """Printed with 4 significant digits: equal to the value within that rounding."""
    expected = np.asarray(expected, dtype=float).ravel()
    return text_values.shape == expected.shape and bool(
        np.allclose(text_values, expected, rtol=6e-4, atol=1e-12)
    )


def diamond():
    """x feeds two branches that meet again, and h is used three times."""
    x = Tensor([[0.5, -1.0]], requires_grad=True, name="x")
    h = x.sigmoid()
    h.name = "h"
    h.retain_grad()
    y = h * h + h.tanh()
    y.name = "y"
    y.retain_grad()
    loss = (y * x).sum()
    loss.name = "loss"
    return loss, x, h, y


# --------------------------------------------------------------------------- the numbers


def test_every_backward_step_shows_the_engines_gradients_book_network():
    loss = proofs.book_network_loss(retain_grad=True)
    page = explore(loss)
    loss.backward()  # the explorer left the graph and every .grad alone
    named = proofs.tensors_by_name(loss)
    data = page._backward_data()
    assert len(data) == len(page.backward_steps) + 1  # the start, then one step per node
    for step, panel in zip(page.backward_steps, data[1:], strict=True):
        expected = np.ones(1) if step.output is loss else step.output.grad
        np.testing.assert_array_equal(step.arriving, np.reshape(expected, step.arriving.shape))
        values = shown(panel["panel"])
        assert values[0][0] == "arriving" and agrees(values[0][1], expected)
        for send in step.sends:
            if send.gradient is None:
                continue
            assert send.count == send.uses == 1  # the book's network has no reuse
            np.testing.assert_array_equal(send.total, send.tensor.grad)
    for name in ("W_ih", "W_ho"):
        np.testing.assert_array_equal(page.leaf_grads[id(named[name])], named[name].grad)
    last = shown(data[-1]["panel"])
    assert agrees(last[-1][1], named["W_ih"].grad)  # the .grad table's last row at the end


def test_local_factors_are_the_closed_forms_of_the_book_network():
    loss = proofs.book_network_loss()
    named = proofs.tensors_by_name(loss)
    page = explore(loss)
    by_output = {step.output.name: step for step in page.backward_steps}
    z = named["final_inputs"].data
    (send,) = by_output["final_outputs"].sends
    np.testing.assert_allclose(send.factor, sigmoid(z) * (1 - sigmoid(z)), rtol=1e-12)
    np.testing.assert_allclose(send.gradient, by_output["final_outputs"].arriving * send.factor)
    to_weights = by_output["final_inputs"].sends[0]
    assert to_weights.label == "·Bᵀ"
    np.testing.assert_array_equal(to_weights.factor, named["hidden_outputs"].data.T)
    to_hidden = by_output["final_inputs"].sends[1]  # the error sent back: W_hoᵀ · g
    assert to_hidden.label == "Aᵀ·" and to_hidden.product == "left"
    np.testing.assert_array_equal(to_hidden.factor, named["W_ho"].data.T)
    o, t = named["final_outputs"].data, named["targets"].data
    np.testing.assert_allclose(by_output["squared_error"].sends[0].gradient, o - t)  # ½ · 2(o−t)
    assert "cancels the square's 2" in page.html()


def test_worked_example_shows_the_slope_and_the_gradient_of_w11():
    loss, weights = proofs.worked_example_network()
    page = explore(loss)
    slope = sigmoid(2.3) * (1 - sigmoid(2.3))  # by hand: σ(2.3) = 0.9089, slope 0.0828
    assert math.isclose(slope, 0.0828, abs_tol=5e-5)
    (sigmoid_step,) = [s for s in page.backward_steps if s.node.name == "SigmoidBackward"]
    assert sigmoid_step.sends[0].factor.item() == pytest.approx(slope, rel=1e-12)
    assert "0.08282" in page._backward_data()[page.backward_steps.index(sigmoid_step) + 1]["panel"]
    expected = np.array([[-0.8 * slope * 0.4, -0.8 * slope * 0.5]])  # −e·σ(1−σ)·o_j
    np.testing.assert_allclose(page.leaf_grads[id(weights)], expected, rtol=1e-9)


def test_reuse_shows_the_running_sum_until_it_equals_the_engines_gradient():
    loss, x, h, _ = diamond()
    page = explore(loss)
    loss.backward()
    sends_to = {"x": [], "h": []}
    for step in page.backward_steps:
        for send in step.sends:
            if send.tensor.name in sends_to and send.gradient is not None:
                sends_to[send.tensor.name].append(send)
    assert [s.count for s in sends_to["h"]] == [1, 2, 3] and sends_to["h"][0].uses == 3
    assert [s.count for s in sends_to["x"]] == [1, 2]
    np.testing.assert_allclose(sends_to["h"][-1].total, h.grad, rtol=1e-15)
    np.testing.assert_allclose(sends_to["x"][-1].total, x.grad, rtol=1e-15)
    (h_step,) = [s for s in page.backward_steps if s.output is h]
    np.testing.assert_array_equal(h_step.arriving, sends_to["h"][-1].total)  # engine's own sum
    # independently: loss = Σ (σ(x)² + tanh σ(x)) · x
    s = sigmoid(x.data)
    dh = x.data * (2 * s + 1 - np.tanh(s) ** 2)
    np.testing.assert_allclose(h.grad, dh)
    np.testing.assert_allclose(x.grad, s**2 + np.tanh(s) + dh * s * (1 - s))
    assert "running sum" in page.html() and "2 of 3 contributions" in page.html()


def test_steps_come_in_reverse_topological_order_each_node_once():
    loss, *_ = diamond()
    steps = explore(loss).backward_steps
    position = {id(step.node): i for i, step in enumerate(steps)}
    assert len(position) == len(steps) == 6
    for step in steps:  # every consumer of a tensor runs before the node that made it
        for send in step.sends:
            if send.tensor.grad_fn is not None:
                assert position[id(send.tensor.grad_fn)] > position[id(step.node)]


class Tap(Function):
    """The identity, noting when the engine runs its backward."""

    order: ClassVar[list[str]] = []

    @staticmethod
    def forward(ctx, x, label=""):
        ctx.label = label
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        Tap.order.append(ctx.label)
        return grad


def test_steps_come_in_the_order_that_backward_runs_them():
    def tapped():
        x = Tensor([0.2, 0.7], requires_grad=True)
        a = Tap.apply(x.sigmoid(), label="a")
        b = Tap.apply(x.tanh(), label="b")
        c = Tap.apply(a * b, label="c")
        return Tap.apply(c + Tap.apply(a.exp(), label="d"), label="e").sum()

    Tap.order = []
    tapped().backward()
    by_backward = list(Tap.order)
    Tap.order = []
    steps = explore(tapped()).backward_steps
    by_explorer = [s.node.label for s in steps if s.node.function.__name__ == "Tap"]
    assert Tap.order == by_explorer == by_backward and sorted(by_backward) == list("abcde")


def test_small_sequential_ends_with_the_parameters_grads():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(2, 3, rng=rng), nn.Sigmoid(), nn.Linear(3, 1, rng=rng))
    x = Tensor(rng.normal(size=(4, 2)))
    loss = nn.mse(model(x), Tensor(rng.normal(size=(4, 1))))
    page = explore(loss)
    loss.backward()
    for p in model.parameters():
        np.testing.assert_array_equal(page.leaf_grads[id(p)], p.grad)
    assert len(page.leaves) == 4
    html = page.html()  # the two layers' parameters are told apart by their qualified names
    assert all(name in html for name in ("0.weight", "0.bias", "2.weight", "2.bias"))
    for step in page.backward_steps:
        for send in step.sends:
            if step.node.function.__name__ == "Sigmoid":
                np.testing.assert_allclose(send.gradient, step.arriving * send.factor)


def test_forward_steps_come_in_an_order_that_computes_each_input_first():
    loss, *_ = diamond()
    page = explore(loss)
    made = set()
    for step in page.forward_steps:
        for t in step.node.inputs:
            assert t.grad_fn is None or id(t) in made
        made.add(id(step.output))
    assert page.forward_steps[-1].output is loss
    panels = page._forward_data()
    assert len(panels) == len(page.forward_steps) + 1
    assert agrees(shown(panels[-1]["panel"])[-1][1], loss.data)


def chain(length: int, step) -> tuple[Tensor, Tensor]:
    """x, and the sum of ``step`` applied ``length`` times to it."""
    x = Tensor([0.3], requires_grad=True, name="x")
    y = x
    for _ in range(length):
        y = step(y)
    return x, y.sum()


def test_large_graphs_are_collapsed_into_one_step():
    _, loss = chain(300, Tensor.tanh)
    page = explore(loss, max_nodes=12)
    data = page._backward_data()
    assert len(page.backward_steps) == 301
    assert len(data) < 12 and data[-1]["node"] == "summary"
    assert "296 × Tanh" in data[-1]["panel"]
    html = page.html()
    assert "<title>summary</title>" in html and len(html) < 100_000


def test_a_10000_sigmoid_chain_makes_a_page_in_seconds():
    # Before: dot segfaulted on the whole chain, raised as a raw CalledProcessError.
    x, loss = chain(10_000, Tensor.sigmoid)
    start = time.perf_counter()
    page = explore(loss)
    html = page.html()
    assert time.perf_counter() - start < 20
    assert len(page.backward_steps) == 10_001 and len(re.findall(r'class="node"', html)) <= 2 * (
        viz.MAX_NODES
    )
    data = page._backward_data()
    assert data[-1]["node"] == "summary" and "× Sigmoid" in data[-1]["panel"]
    loss.backward()
    np.testing.assert_array_equal(page.leaf_grads[id(x)], x.grad)


def test_step_ids_are_the_nodes_of_the_drawing():
    page = explore(proofs.book_network_loss())
    html = page.html()
    titles = set(re.findall(r"<title>([^<]*)</title>", html))
    for mode in (page._backward_data(), page._forward_data()):
        for step in mode:
            for node in [step["node"], *step["lit"], *step["filled"]]:
                assert not node or node in titles
            for edge in step["edges"]:
                assert edge.replace("->", "&#45;&gt;") in titles


# --------------------------------------------------------------------------- contributions meet


def x_squared_plus_x():
    """z = x * x + x summed: x feeds the product twice and the sum once."""
    x = Tensor([3.0, -0.5], requires_grad=True, name="x")
    loss = (x * x + x).sum()
    loss.name = "z"
    return loss, x


def test_x_squared_plus_x_shows_each_contribution_and_their_sum_where_the_last_arrives():
    loss, x = x_squared_plus_x()
    page = explore(loss)
    data = page._backward_data()
    names = [step["name"] for step in data]
    assert names == ["start", "SumBackward", "AddBackward", "MulBackward"]
    last = data[-1]["panel"]
    contributions = [values for role, values in shown(last) if role == "contribution"]
    # by hand: ∂(x·x + x)/∂x = 1 from the addition, x from each factor of the product
    expected = [np.ones(2), x.data, x.data]
    assert len(contributions) == 3
    for got, want in zip(contributions, expected, strict=True):
        assert agrees(got, want)
    totals = [v for r, v in shown(last) if r == "total"]
    assert agrees(totals[-1], 2 * x.data + 1)  # [7, 0]
    assert "the 3 contributions to <b>x</b> meet" in last
    assert re.findall(r"\+ from step (\d)", last) == ["2", "3", "3"]  # Add's step, then Mul's
    assert "2 of 3 contributions" in last  # the product's first factor: the running sum
    assert "contributions to" not in data[2]["panel"]  # the addition's: one of three so far
    loss.backward()
    np.testing.assert_array_equal(page.leaf_grads[id(x)], x.grad)


def test_a_hidden_tensor_used_three_times_shows_its_sum_and_where_it_arrives():
    loss, _, h, _ = diamond()
    page = explore(loss)
    data = page._backward_data()
    loss.backward()
    senders = [
        number
        for number, step in enumerate(page.backward_steps, start=1)
        for send in step.sends
        if send.tensor is h and send.gradient is not None
    ]
    assert len(senders) == 3
    (h_number,) = [n for n, step in enumerate(page.backward_steps, 1) if step.output is h]
    meets = [n for n, step in enumerate(data) if "contributions to <b>h</b> meet" in step["panel"]]
    assert meets == [senders[-1]]
    panel = data[senders[-1]]["panel"]
    parts = [v for role, v in shown(panel) if role == "contribution"]
    x, s = page.leaves[0].data, sigmoid(page.leaves[0].data)  # h = σ(x); y·x arrives x at y
    expected = [x * s, x * s, x * (1 - np.tanh(s) ** 2)]  # h·h sends x·h per factor; tanh h
    assert len(parts) == 3
    for part in parts:  # the same three, in the order the engine ran them
        match = next(i for i, want in enumerate(expected) if agrees(part, want))
        expected.pop(match)
    totals = [v for role, v in shown(panel) if role == "total"]
    assert agrees(totals[-1], h.grad)
    assert "their sum<br><small>arrives at the operation that made h<" in panel
    where = ", ".join(map(str, senders))
    assert f"the sum of its 3 contributions (steps {where})" in data[h_number]["panel"]


def test_every_output_node_sends_to_each_hidden_output_and_the_terms_add_up():
    loss = proofs.book_network_loss()
    page = explore(loss)
    w_ih, w_ho, x, t = book_demo_network()
    _, o = textbook.forward(w_ih, w_ho, x)
    g = (o - t) * o * (1 - o)  # by hand: ∂½Σ(t − o)²/∂final_inputs
    number = next(
        n for n, s in enumerate(page.backward_steps, 1) if s.output.name == "final_inputs"
    )
    panel = page._backward_data()[number]["panel"]
    (terms,) = [v for role, v in shown(panel) if role == "terms"]
    expected = w_ho.T * g.T  # row j, column k: w_kj · g_k, what output node k sends to hidden j
    assert agrees(terms, expected)
    np.testing.assert_allclose(expected.sum(axis=1, keepdims=True), textbook.hidden_errors(w_ho, g))
    (to_hidden,) = [v for role, v in shown(panel) if role == "sent"][1:]
    assert agrees(to_hidden, textbook.hidden_errors(w_ho, g))
    assert "each row adds up to what is sent" in panel
    # one term per element elsewhere: W_ho's gradient is an outer product, nothing is summed
    assert panel.count('data-role="terms"') == 1


# --------------------------------------------------------------------------- the book's formulas


def book_rows(page: Explorer) -> dict[str, tuple[int, str]]:
    """Each line that names a formula of the book: its key, the page step it is on, its text
    (tags removed, entities read)."""
    import html as markup

    found = {}
    for number, step in enumerate(page._backward_data()):
        for key, body in re.findall(r'data-book="([\w-]+)">(.*?)</div>', step["panel"], re.S):
            assert key not in found
            found[key] = (number, markup.unescape(re.sub(r"<[^>]+>", "", body)))
    return found


def number_of(page: Explorer, output_name: str) -> int:
    """The page step of the operation that made the tensor ``output_name``."""
    return next(n for n, s in enumerate(page.backward_steps, 1) if s.output.name == output_name)


def test_book_network_says_where_its_formulas_are_and_the_numbers_are_the_books():
    loss = proofs.book_network_loss()
    page = explore(loss)
    rows = book_rows(page)
    output_layer, hidden_layer = number_of(page, "final_inputs"), number_of(page, "hidden_inputs")
    assert {key: number for key, (number, _) in rows.items()} == {
        "delta-w-ho": output_layer,
        "hidden-errors": output_layer,
        "delta-w-ih": hidden_layer,
    }
    w_ih, w_ho, x, t = book_demo_network()
    hidden, o = textbook.forward(w_ih, w_ho, x)
    alpha = 0.1
    step = page.backward_steps[output_layer - 1]
    to_w_ho, to_hidden = (send.gradient for send in step.sends)
    # −α × this gradient is the book's ΔWₕₒ = α·(E ∗ O(1 − O))·Oⱼᵀ with E = t − o
    np.testing.assert_allclose(-alpha * to_w_ho, textbook.weight_update(t - o, o, hidden, alpha))
    text = rows["delta-w-ho"][1]
    assert "−α × this gradient is the book's update ΔWₕₒ = α·(E ∗ O(1 − O))·Oⱼᵀ" in text
    assert "E = t − o" in text and "½Σ(t − o)²" in text
    new = w_ho[0, 0] + textbook.weight_update(t - o, o, hidden, alpha)[0, 0]
    assert f"w₁₁ goes from {w_ho[0, 0]:.6g} to {new:.6g}" in text
    # the hidden step sends the gradient Wₕₒᵀ·((o − t) ∗ o(1 − o)), not the book's Wₕₒᵀ·e
    e = t - o
    np.testing.assert_allclose(to_hidden, textbook.hidden_errors(w_ho, -e * o * (1 - o)))
    assert not np.allclose(-to_hidden, textbook.hidden_errors(w_ho, e), rtol=0.1)
    text = rows["hidden-errors"][1]
    assert "The book's code sends Wₕₒᵀ·e back to hidden_outputs here instead" in text
    assert "without the output sigmoid's slope o(1 − o)" in text and "erratum E8" in text
    # −α × W_ih's gradient is the exact update, not the one the book's code makes (E8)
    to_w_ih = page.backward_steps[hidden_layer - 1].sends[0].gradient
    exact, _ = textbook.exact_weight_updates(w_ih, w_ho, x, t, alpha)
    books, _ = textbook.book_weight_updates(w_ih, w_ho, x, t, alpha)
    np.testing.assert_allclose(-alpha * to_w_ih, exact)
    assert not np.allclose(exact, books, rtol=0.5)
    text = rows["delta-w-ih"][1]
    assert "ΔWᵢₕ = α·(Eₕ ∗ Oₕ(1 − Oₕ))·Iᵀ" in text and "Eₕ = Wₕₒᵀ·e" in text
    assert "erratum E8" in text


def panels(page: Explorer) -> str:
    """Every step's panel of the backward pass, as the page shows them."""
    return "".join(step["panel"] for step in page._backward_data())


def test_each_erratum_is_named_in_words_and_linked_to_the_errata_page():
    text = panels(explore(proofs.book_network_loss()))
    links = re.findall(r'<a href="([^"]*)" target="_blank" rel="noopener">([^<]*)</a>', text)
    assert len(links) == 2 and set(links) == {("../../errata/#e8", "erratum E8")}
    custom = "https://example.org/docs/errata/"
    text = panels(explore(proofs.book_network_loss(), errata_url=custom))
    assert f'href="{custom}#e8"' in text and "../../errata/" not in text
    hostile = panels(explore(proofs.book_network_loss(), errata_url='x" onclick="alert(1)'))
    assert 'href="x&quot; onclick=&quot;alert(1)#e8"' in hostile and '" onclick="' not in hostile


def test_the_default_errata_link_is_where_the_docs_site_puts_e8():
    # The site (mkdocs, directory URLs) shows the explorer inline in the tutorial's chapters,
    # at tutorial/<chapter>/; the errata page is errata/ with an anchor e8.
    root = Path(__file__).resolve().parent.parent
    config = (root / "mkdocs.yml").read_text(encoding="utf-8")
    assert "use_directory_urls" not in config and "- Errata: errata.md" in config
    assert '<a id="e8"></a>' in (root / "docs" / "errata.md").read_text(encoding="utf-8")
    chapters = [
        p for p in (root / "docs" / "tutorial").glob("0*.py") if "viz.explore(" in p.read_text()
    ]
    assert chapters  # each becomes tutorial/<its name>/, two levels below the site's root
    assert ERRATA_URL == "../../errata/"


def test_worked_example_says_it_is_the_books_update_from_2_to_2_00265():
    loss, weights = proofs.worked_example_network()
    page = explore(loss)
    rows = book_rows(page)
    assert set(rows) == {"delta-w-ho"}  # its hidden outputs are given: nothing is sent there
    number, text = rows["delta-w-ho"]
    assert page.backward_steps[number - 1].sends[0].tensor is weights
    example = textbook.worked_example()
    assert f"{example.new_weight:.6g}" == "2.00265"  # the text's new w₁₁
    assert "w₁₁ goes from 2 to 2.00265 (+0.00265)" in text
    gradient = page.backward_steps[number - 1].sends[0].gradient
    assert gradient[0, 0] == pytest.approx(example.gradient, rel=1e-12)  # −0.0265
    assert "the book's update ΔWₕₒ" in text and "twice" not in text


def test_worked_example_without_the_half_is_twice_the_books_update_erratum_e3():
    loss, _ = proofs.worked_example_network(half=False)
    page = explore(loss)
    rows = book_rows(page)
    number, text = rows["delta-w-ho"]
    example = textbook.worked_example()
    gradient = page.backward_steps[number - 1].sends[0].gradient
    assert gradient[0, 0] == pytest.approx(2 * example.gradient, rel=1e-12)  # −0.0530
    assert "twice the book's update ΔWₕₒ" in text and "erratum E3" in text
    assert f"to {2.0 - 0.1 * 2 * example.gradient:.6g} (+0.0053)" in text


def test_book_network_without_the_half_says_twice_at_both_layers():
    w_ih, w_ho, x, t = book_demo_network()
    hidden, o = textbook.forward(w_ih, w_ho, x)
    named = proofs.tensors_by_name(proofs.book_network_loss())
    loss = named["final_outputs"].squared_error(named["targets"])
    page = explore(loss)
    assert book_layers(page.graph).halved is False
    rows = book_rows(page)
    assert set(rows) == {"delta-w-ho", "hidden-errors", "delta-w-ih"}
    assert "twice" in rows["delta-w-ho"][1] and "twice" in rows["delta-w-ih"][1]
    assert "Wₕₒᵀ·(2(o − t) ∗ o(1 − o))" in rows["hidden-errors"][1]
    to_w_ho = page.backward_steps[rows["delta-w-ho"][0] - 1].sends[0].gradient
    np.testing.assert_allclose(-0.1 * to_w_ho, 2 * textbook.weight_update(t - o, o, hidden, 0.1))


def not_the_book(case: str) -> Tensor:
    """Graphs where no formula of the book holds, some named like the book's network."""
    if case == "x * x + x":
        return x_squared_plus_x()[0]
    if case == "diamond":
        return diamond()[0]
    rng = np.random.default_rng(0)
    if case == "a Sequential":
        model = nn.Sequential(nn.Linear(3, 3, rng=rng), nn.Sigmoid(), nn.Linear(3, 3, rng=rng))
        return nn.mse(model(Tensor(rng.normal(size=(1, 3)))), Tensor(rng.normal(size=(1, 3))))
    w_ho = Tensor(rng.normal(size=(3, 3)), requires_grad=True, name="W_ho")
    hidden = Tensor(rng.uniform(size=(3, 1)), requires_grad=True, name="hidden_outputs")
    target = Tensor([[0.01], [0.99], [0.01]])
    z = w_ho @ hidden
    if case == "relu outputs":
        return 0.5 * z.relu().squared_error(target)
    if case == "the mean squared error":
        return nn.mse(z.sigmoid(), target)
    if case == "a weight penalty added":
        return 0.5 * z.sigmoid().squared_error(target) + (w_ho * w_ho).sum()
    if case == "a third of the squared error":
        return (1 / 3) * z.sigmoid().squared_error(target)
    assert case == "other names"
    w_ho.name, hidden.name = "W", "h"
    return 0.5 * z.sigmoid().squared_error(target)


@pytest.mark.parametrize(
    "case",
    [
        "x * x + x",
        "diamond",
        "a Sequential",
        "relu outputs",
        "the mean squared error",
        "a weight penalty added",
        "a third of the squared error",
        "other names",
    ],
)
def test_no_formula_of_the_book_is_claimed_where_none_applies(case):
    page = explore(not_the_book(case))
    assert book_layers(page.graph) is None
    html = page.html()
    assert "data-book" not in html and "The book." not in html and "erratum" not in html


def test_the_book_is_recognised_in_each_of_its_networks():
    for seed in (0, 3):
        layers = book_layers(explore(proofs.book_network_loss(seed)).graph)
        assert layers is not None and layers.halved and layers.hidden_layer is not None
        assert layers.output.name == "final_outputs"
        assert [t.name for t in layers.hidden_layer.inputs] == ["W_ih", "inputs"]
    worked = book_layers(explore(proofs.worked_example_network()[0]).graph)
    assert worked is not None and worked.halved and worked.hidden_layer is None
    folded = explore(proofs.book_network_loss(), max_nodes=12)  # the hidden layer not drawn
    rows = book_rows(folded)
    assert "delta-w-ih" not in rows and "delta-w-ho" in rows


def learners_book_network(frozen_output_weights: bool = False) -> Tensor:
    """The book's network as a learner writes it: only W_ih, W_ho and hidden_outputs named."""
    w_ih, w_ho, x, t = book_demo_network()
    weights_ih = Tensor(w_ih, requires_grad=True, name="W_ih")
    weights_ho = Tensor(w_ho, requires_grad=not frozen_output_weights, name="W_ho")
    hidden = (weights_ih @ Tensor(x)).sigmoid()
    hidden.name = "hidden_outputs"
    return 0.5 * (weights_ho @ hidden).sigmoid().squared_error(Tensor(t))


def test_a_learners_book_network_is_recognised_by_its_names_and_shape():
    rows = book_rows(explore(learners_book_network()))
    assert set(rows) == {"delta-w-ho", "hidden-errors", "delta-w-ih"}
    assert "O = tensor(3, 1)" in rows["delta-w-ho"][1]  # an unnamed output, by its shape
    frozen = book_rows(explore(learners_book_network(frozen_output_weights=True)))
    assert set(frozen) == {"hidden-errors", "delta-w-ih"}  # W_ho gets no gradient: no ΔWₕₒ


def test_names_in_the_books_lines_are_escaped():
    loss = proofs.book_network_loss()
    proofs.tensors_by_name(loss)["final_outputs"].name = "<b>o</b>"
    panel = panels(explore(loss))
    assert "O = &lt;b&gt;o&lt;/b&gt;" in panel and "<b>o</b>" not in panel


# --------------------------------------------------------------------------- the page


def test_book_page_is_self_contained_and_small(tmp_path):
    path = explore(proofs.book_network_loss()).save(tmp_path / "page.html")
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 300_000
    assert not re.search(r"<(?:link|img|iframe)\b|\bsrc=|@import|url\(", text)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_jupyter_shows_each_explorer_in_its_own_frame():
    first = explore(proofs.book_network_loss())._repr_html_()
    second = explore(proofs.worked_example_network()[0])._repr_html_()
    assert first.startswith("<iframe srcdoc=") and "<script" not in first  # escaped inside
    roots = [re.search(r"id=&quot;(tge-\w+)&quot;", page).group(1) for page in (first, second)]
    assert roots[0] != roots[1]


def test_viz_explore_is_the_same_explorer():
    assert isinstance(viz.explore(proofs.book_network_loss(), rankdir="LR"), Explorer)


def test_the_graph_is_not_changed_by_exploring():
    loss = proofs.book_network_loss()
    explore(loss)
    loss.backward()  # still possible: the explorer retained the graph
    fresh = proofs.book_network_loss()
    fresh.backward()
    for name in ("W_ih", "W_ho"):
        np.testing.assert_array_equal(
            proofs.tensors_by_name(loss)[name].grad, proofs.tensors_by_name(fresh)[name].grad
        )


def test_errors_say_what_explore_needs():
    loss = proofs.book_network_loss()
    loss.backward()
    with pytest.raises(GraphReleasedError, match="retain_graph=True"):
        explore(loss)
    with pytest.raises(ValueError, match="one-element"):
        explore(Tensor([1.0, 2.0], requires_grad=True) * 2)
    with pytest.raises(ValueError, match="a leaf"):
        explore(Tensor(1.0, requires_grad=True))
    with pytest.raises(TypeError, match="expected a Tensor"):
        explore(np.ones(1))
    with pytest.raises(ValueError, match="max_nodes must be an integer of at least 2"):
        explore(proofs.book_network_loss(), max_nodes=1)
    with pytest.raises(ValueError, match="rankdir must be one of"):
        explore(proofs.book_network_loss(), rankdir="up")


def test_cli_writes_the_pages_of_the_book_network_and_the_worked_example(tmp_path, capsys):
    from tinygrad_edu.cli import main

    assert main(["explore", "--out", str(tmp_path / "book.html")]) == 0
    book = (tmp_path / "book.html").read_text(encoding="utf-8")
    assert "W_ih" in book and "W_ho" in book and "book.html" in capsys.readouterr().out
    assert main(["explore", "--worked-example", "--out", str(tmp_path / "worked.html")]) == 0
    slope = sigmoid(2.3) * (1 - sigmoid(2.3))
    assert f"{slope:.4g}" == "0.08282" and "0.08282" in (tmp_path / "worked.html").read_text()
    assert main(["explore", "--out", str(tmp_path / "missing" / "page.html")]) == 1
    assert "No such file" in capsys.readouterr().err


# --------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    yield driver
    driver.quit()


STATE = """
const root = document.querySelector(".tge"), panel = root.querySelector(".panel .body");
return {
  counter: root.querySelector(".counter").textContent,
  node: Array.from(root.querySelectorAll(".svg:not([hidden]) g.node.cur > title"),
                   (title) => title.textContent),
  heading: panel.innerText.split("\\n")[0],
  numbers: Array.from(panel.querySelectorAll("[data-role]"),
                      (e) => [e.getAttribute("data-role"), e.innerText]),
};
"""


def state(driver):
    """What the page shows now, read in one go (play may change it between two reads): the
    counter, the highlighted node, the panel's first line and numbers."""
    shown = driver.execute_script(STATE)
    shown["numbers"] = [
        (role, np.array([float(n) for n in NUMBER.findall(text)]))
        for role, text in shown["numbers"]
    ]
    return shown


def test_browser_clicks_through_every_step_of_the_book_network(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    loss = proofs.book_network_loss(retain_grad=True)
    path = explore(loss).save(tmp_path / "book.html")
    loss.backward()
    named = proofs.tensors_by_name(loss)
    browser.get(path.as_uri())
    first = state(browser)
    assert first["counter"] == "0 / 6" and agrees(first["numbers"][0][1], np.ones(1))
    highlighted = [first["node"]]
    next_button = browser.find_element(By.CSS_SELECTOR, "button.next")
    for number in range(1, 7):
        next_button.click()
        now = state(browser)
        assert now["counter"] == f"{number} / 6"
        highlighted.append(now["node"])
        made = re.search(r"the operation that made (\w+)", now["heading"]).group(1)
        arriving = np.ones(1) if made == "loss" else named[made].grad
        roles = [role for role, _ in now["numbers"]]
        assert roles[0] == "arriving" and agrees(now["numbers"][0][1], arriving)
        for role, values in now["numbers"]:
            if role == "total":  # a parameter's .grad, complete: the book has no reuse
                assert any(agrees(values, named[n].grad) for n in ("W_ho", "W_ih"))
    assert all(len(node) == 1 for node in highlighted)
    assert len({node[0] for node in highlighted[1:]}) == 6  # a new operation at every step
    final = state(browser)["numbers"]
    assert agrees(final[-2][1], named["W_ho"].grad) and agrees(final[-1][1], named["W_ih"].grad)

    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_LEFT)
    assert state(browser)["counter"] == "5 / 6"
    body.send_keys(Keys.HOME)
    assert state(browser)["counter"] == "0 / 6"
    slider = browser.find_element(By.CSS_SELECTOR, ".slider")
    slider.send_keys(Keys.END)  # the slider's own keys move it
    assert state(browser)["counter"] == "6 / 6"
    slider.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    assert state(browser)["counter"] == "4 / 6"
    assert state(browser)["node"] == highlighted[4]


def test_browser_play_and_forward_mode_of_the_worked_example(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    loss, _ = proofs.worked_example_network()
    path = explore(loss).save(tmp_path / "worked.html")
    browser.get(path.as_uri())
    browser.find_element(By.CSS_SELECTOR, "button.play").click()
    WebDriverWait(browser, 10, poll_frequency=0.1).until(lambda d: state(d)["counter"] != "0 / 4")
    browser.find_element(By.CSS_SELECTOR, "button.play").click()  # pause
    paused = state(browser)["counter"]
    assert paused in ("1 / 4", "2 / 4")  # a step every 1.2 s
    assert browser.find_element(By.CSS_SELECTOR, "button.play").text == "▶ Play"
    browser.find_element(By.CSS_SELECTOR, "button[data-mode=forward]").click()
    assert state(browser)["counter"] == "0 / 4"
    assert browser.find_element(By.CSS_SELECTOR, ".svg.backward").get_attribute("hidden")
    for _ in range(2):
        browser.find_element(By.CSS_SELECTOR, "button.next").click()
    after_sigmoid = state(browser)
    assert "Sigmoid" in after_sigmoid["heading"]
    (z, o) = (after_sigmoid["numbers"][0][1], after_sigmoid["numbers"][-1][1])
    assert agrees(z, [2.3]) and agrees(o, [sigmoid(2.3)])  # 2.0·0.4 + 3.0·0.5, σ(2.3)


def hostile_page(tmp_path):
    x = Tensor([1.0, 2.0], requires_grad=True, name="x\x01y")
    return explore(Hostile.apply(x).sum()).save(tmp_path / "hostile.html")


def test_names_cannot_open_a_comment_or_a_script_in_the_page(tmp_path):
    text = hostile_page(tmp_path).read_text(encoding="utf-8")
    assert "<!--<script>" not in text and "\x01" not in text
    data = re.search(r'<script type="application/json" class="data">(.*?)</script>', text, re.S)
    assert not re.search(r"[<>&]", data.group(1))  # JSON's \u003c escapes instead


def test_browser_runs_the_page_of_an_operation_named_like_a_script(browser, tmp_path):
    # Before: "<!--<script>" in the page's data kept its script from ever running.
    from selenium.webdriver.common.by import By

    browser.get(hostile_page(tmp_path).as_uri())
    assert state(browser)["counter"] == "0 / 2"  # the script ran
    for _ in range(2):
        browser.find_element(By.CSS_SELECTOR, "button.next").click()
    shown = state(browser)
    assert shown["counter"] == "2 / 2" and shown["heading"].startswith("<!--<script>Backward")
    panel = browser.find_element(By.CSS_SELECTOR, ".panel .body").text
    assert "<x>" in panel and "x\\x01y" in panel
    assert agrees(shown["numbers"][-1][1], [1.0, 1.0])  # x's .grad: the identity's


def test_explore_builds_on_the_core_and_viz_only():
    import ast

    import tinygrad_edu.explore as module

    modules = set()
    for node in ast.walk(ast.parse(Path(module.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "tinygrad_edu":
            modules |= {f"tinygrad_edu.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    ours = {m for m in modules if m.startswith("tinygrad_edu")}
    core = {"tinygrad_edu.autograd", "tinygrad_edu.functions", "tinygrad_edu.tensor"}
    allowed = core | {"tinygrad_edu.viz"}  # not the registry: it is test metadata
    assert ours <= allowed and "tinygrad_edu.viz" in ours


class Cube(Function):
    """y = x³, a user's operation that is not in the registry, with its own label."""

    labels = ("·3x²",)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * 3 * x * x


def test_a_users_operation_shows_its_own_label():
    x = Tensor([0.5, 2.0], requires_grad=True)
    steps = explore(Cube.apply(x).sum()).backward_steps
    cube = next(step for step in steps if step.node.function is Cube)
    assert [send.label for send in cube.sends] == ["·3x²"]
    np.testing.assert_allclose(cube.sends[0].gradient, 3 * x.data**2)  # d(x³)/dx, by hand


def test_browser_next_says_the_pass_is_over_at_the_last_step(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    loss, _ = x_squared_plus_x()
    browser.get(explore(loss).save(tmp_path / "z.html").as_uri())
    next_button = browser.find_element(By.CSS_SELECTOR, "button.next")
    for number in (1, 2):
        assert next_button.text == "Next ▶" and next_button.is_enabled()
        next_button.click()
        assert state(browser)["counter"] == f"{number} / 3"
    next_button.click()
    assert state(browser)["counter"] == "3 / 3"
    assert next_button.text == "✓ The backward pass is over" and not next_button.is_enabled()
    next_button.click()  # does nothing now
    assert state(browser)["counter"] == "3 / 3"
    panel = browser.find_element(By.CSS_SELECTOR, ".panel .body").text
    assert "the 3 contributions to x meet: all have arrived" in panel
    sums = [values for role, values in state(browser)["numbers"] if role == "total"]
    assert len(sums) == 2 and agrees(sums[0], [4.0, 0.5])  # 2 of 3: 1 + x
    assert agrees(sums[1], [7.0, 0.0])  # = their sum, 2x + 1 by hand
    browser.find_element(By.CSS_SELECTOR, "button.back").click()
    assert next_button.text == "Next ▶" and next_button.is_enabled()
    browser.find_element(By.CSS_SELECTOR, "button[data-mode=forward]").click()
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.END)
    assert state(browser)["counter"] == "3 / 3"
    assert next_button.text == "✓ The forward pass is over" and not next_button.is_enabled()


VISIBLE = """
const pane = document.querySelector(".graph"), p = pane.getBoundingClientRect();
const node = Array.from(document.querySelectorAll(".svg:not([hidden]) g.node"))
  .find((g) => g.querySelector("title").textContent === arguments[0]);
const r = node.getBoundingClientRect();
return {scrollTop: pane.scrollTop, scrollHeight: pane.scrollHeight, height: pane.clientHeight,
        inside: r.top >= p.top && r.bottom <= p.bottom && r.left >= p.left && r.right <= p.right};
"""


def test_browser_switching_to_the_forward_pass_scrolls_to_its_highlighted_node(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    loss = proofs.book_network_loss()
    page = explore(loss)
    w_ih = page._id(proofs.tensors_by_name(loss)["W_ih"])  # the forward pass's first input
    browser.get(page.save(tmp_path / "book.html").as_uri())
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.END)
    at_the_end = browser.execute_script(VISIBLE, w_ih)
    assert at_the_end["scrollHeight"] > at_the_end["height"]  # the drawing is taller: it scrolls
    assert at_the_end["scrollTop"] > 0
    browser.find_element(By.CSS_SELECTOR, "button[data-mode=forward]").click()
    assert state(browser)["counter"] == "0 / 6"
    switched = browser.execute_script(VISIBLE, w_ih)
    assert switched["inside"] and switched["scrollTop"] < at_the_end["scrollTop"]
    for number in range(1, 7):  # then every step's operation is in view as the pass goes on
        browser.find_element(By.CSS_SELECTOR, "button.next").click()
        (node,) = state(browser)["node"]
        assert browser.execute_script(VISIBLE, node)["inside"], f"step {number}"
    browser.find_element(By.CSS_SELECTOR, "button[data-mode=backward]").click()
    (node,) = state(browser)["node"]
    assert node == page._id(loss) and browser.execute_script(VISIBLE, node)["inside"]


def test_browser_follows_the_e8_link_to_the_errata_page_of_the_docs_site(browser, tmp_path):
    from selenium.webdriver.common.by import By

    site = tmp_path / "site"
    chapter = site / "tutorial" / "05_what_backward_does"  # where the site shows a page inline
    chapter.mkdir(parents=True)
    (site / "errata").mkdir()
    (site / "errata" / "index.html").write_text('<a id="e8"></a>E8', encoding="utf-8")
    frame = explore(proofs.book_network_loss())._repr_html_()
    (chapter / "index.html").write_text(f"<!DOCTYPE html><body>{frame}</body>", encoding="utf-8")
    browser.get((chapter / "index.html").as_uri())
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    try:
        for _ in range(4):  # to the output layer's step
            browser.find_element(By.CSS_SELECTOR, "button.next").click()
        (link,) = browser.find_elements(By.CSS_SELECTOR, "[data-book=hidden-errors] a")
        assert link.text == "erratum E8"
        assert link.get_property("href") == (site / "errata").as_uri() + "/#e8"
    finally:
        browser.switch_to.default_content()
