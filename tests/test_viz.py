"""Drawings of the graph: structure on the DOT source (no `dot` program needed), rendering
with the real `dot` where it is installed, and the errors when it is not."""

import ast
import inspect
import os
import re
import runpy
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import graphviz
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import Hostile

from tinygrad_edu import Function, Tensor, grad, nn, proofs, viz
from tinygrad_edu.cli import build_parser
from tinygrad_edu.registry import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
NODE = re.compile(r"^\t(\w+) \[(.*)\]$", re.MULTILINE)
EDGE = re.compile(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$", re.MULTILINE)
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="the Graphviz 'dot' program is not installed (apt-get install graphviz)",
)


class Dot:
    """The nodes and edges of a drawing, read back from its DOT source."""

    def __init__(self, drawing: graphviz.Digraph) -> None:
        self.source = drawing.source
        statements = NODE.findall(self.source)
        self.nodes = {n: attrs for n, attrs in statements if n not in ("graph", "node", "edge")}
        self.edges = [(tail, head, attrs) for tail, head, attrs in EDGE.findall(self.source)]

    def named(self, name: str) -> str:
        """The id of the tensor drawn with this name (or value)."""
        (found,) = [n for n, attrs in self.nodes.items() if f"<b>{name}</b>" in attrs]
        return found

    def operations(self, label: str) -> list[str]:
        return [n for n, attrs in self.nodes.items() if re.search(f"label=<{label}[<>]", attrs)]

    def attribute(self, node: str, key: str) -> str:
        match = re.search(rf'\b{key}=("[^"]*"|\S+)', self.nodes[node])
        assert match, f"{node} has no {key}"
        return match.group(1).strip('"')

    def edge(self, tail: str, head: str) -> str:
        (attrs,) = [a for t, h, a in self.edges if (t, h) == (tail, head)]
        return attrs

    def label(self, tail: str, head: str) -> str | None:
        match = re.search(r'label="?([^" ]+)"?', self.edge(tail, head))
        return match.group(1) if match else None

    def producer(self, tensor: str) -> str:
        """The operation whose output the tensor is (forward drawing)."""
        (op,) = [t for t, h, _ in self.edges if h == tensor]
        return op


def chain(length: int) -> tuple[Tensor, Tensor]:
    x = Tensor(0.5, requires_grad=True, name="x")
    y = x
    for _ in range(length):
        y = y.sigmoid()
    return x, y


# --------------------------------------------------------------------------- structure


def test_forward_drawing_has_one_node_per_tensor_and_per_operation():
    dot = Dot(viz.draw(proofs.book_network_loss()))
    tensors = [n for n in dot.nodes if n.startswith("t")]
    operations = [n for n in dot.nodes if n.startswith("op")]
    # W_ih, W_ho, inputs, targets, 0.5, hidden_inputs/outputs, final_inputs/outputs,
    # squared_error, loss; and W_ih @, σ, W_ho @, σ, squared_error, 0.5 *
    assert len(tensors) == 11
    assert len(operations) == 6
    assert len(dot.operations("MatMul")) == 2 and len(dot.operations("Sigmoid")) == 2
    assert len(dot.operations("SquaredError")) == 1 and len(dot.operations("Mul")) == 1
    assert len(dot.edges) == 6 + 10  # one from each operation, one into it per input


def test_forward_edges_point_the_way_the_data_flows_and_name_the_operands():
    dot = Dot(viz.draw(proofs.book_network_loss()))
    w_ih, inputs, hidden = dot.named("W_ih"), dot.named("inputs"), dot.named("hidden_inputs")
    matmul = dot.producer(hidden)
    assert matmul in dot.operations("MatMul")
    assert dot.label(w_ih, matmul) == "A"
    assert dot.label(inputs, matmul) == "B"
    sigmoid = dot.producer(dot.named("hidden_outputs"))
    assert (hidden, sigmoid, "") in dot.edges
    loss = dot.named("loss")
    assert not [t for t, _, _ in dot.edges if t == loss]  # nothing flows out of the output


def test_tensor_names_shapes_and_dtypes_show():
    dot = Dot(viz.draw(proofs.book_network_loss()))
    for name, shape in [("W_ih", "(3, 3)"), ("W_ho", "(3, 3)"), ("inputs", "(3, 1)")]:
        assert f"{shape} float64" in dot.nodes[dot.named(name)]
    assert "scalar float64" in dot.nodes[dot.named("loss")]
    assert "scalar float64" in dot.nodes[dot.named("0.5")]  # a nameless number: its value
    x = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True, name="<x & y>")
    assert "<b>&lt;x &amp; y&gt;</b>" in viz.draw(x.sum()).source  # escaped, not HTML


def test_colours_tell_parameters_constants_saved_tensors_and_the_output_apart():
    dot = Dot(viz.draw(proofs.book_network_loss()))

    def fill(name: str) -> str:
        return dot.attribute(dot.named(name), "fillcolor")

    def border(name: str) -> str:
        return dot.attribute(dot.named(name), "color")

    assert fill("W_ih") == fill("W_ho") == viz.COLOURS["parameter"]
    assert fill("inputs") == fill("targets") == fill("0.5") == viz.COLOURS["constant"]
    assert fill("loss") == viz.COLOURS["output"]
    # σ saves its output for σ(1−σ); the matrix product saves both operands
    assert fill("hidden_outputs") == fill("final_outputs") == viz.COLOURS["saved"]
    assert fill("hidden_inputs") == viz.COLOURS["intermediate"]  # nothing keeps it
    assert border("W_ih") == border("inputs") == border("hidden_outputs") == viz.SAVED_BORDER
    assert border("hidden_inputs") == border("loss") == "black"
    assert len(set(viz.COLOURS.values())) == len(viz.COLOURS)  # all different


def test_legend_explains_every_colour_and_the_arrows():
    source = viz.draw(proofs.book_network_loss()).source
    for kind, text in viz.LEGEND.items():
        present = f'bgcolor="{viz.COLOURS[kind]}"' in source and text in source
        assert present == (kind != "summary"), kind  # the summary only when there is one
    assert "the data flows along the arrows" in source
    backward = viz.draw(proofs.book_network_loss(), backward=True).source
    assert "the gradient flows along the arrows" in backward
    assert "chain-rule factor" in backward
    assert "<table" not in viz.draw(proofs.book_network_loss(), legend=False).source


def test_data_and_grad_values_show_on_request_for_small_tensors():
    loss = proofs.book_network_loss()
    assert "data = " not in viz.draw(loss).source.replace("&#160;", " ")
    assert "grad = " not in viz.draw(loss).source.replace("&#160;", " ")
    dot = Dot(viz.draw(loss, show_data=True))
    assert "data = [0.9 0.1 0.8]ᵀ" in dot.nodes[dot.named("inputs")].replace("&#160;", " ")
    loss.backward()
    dot = Dot(viz.draw(loss))
    w_ih = dot.nodes[dot.named("W_ih")].replace("&#160;", " ")
    assert "grad = [[" in w_ih
    assert "data = " not in w_ih
    assert "grad" not in Dot(viz.draw(loss, show_grad=False)).nodes[dot.named("W_ih")]


def test_a_large_tensor_shows_its_range_instead_of_its_values():
    x = Tensor(np.arange(100.0).reshape(10, 10), requires_grad=True, name="x")
    dot = Dot(viz.draw(x.sum(), show_data=True))
    assert "data ∈ [0, 99]" in dot.nodes[dot.named("x")].replace("&#160;", " ")


def test_a_tensor_used_twice_gets_two_edges_into_the_operation():
    x = Tensor(3.0, requires_grad=True, name="x")
    dot = Dot(viz.draw(x * x))
    (mul,) = dot.operations("Mul")
    assert sorted(attrs for _, head, attrs in dot.edges if head == mul) == ["label=a", "label=b"]
    assert len(dot.nodes) == 3


def test_a_leaf_draws_as_one_node():
    dot = Dot(viz.draw(Tensor([1.0, 2.0], name="alone")))
    assert list(dot.nodes) == ["t0"] and not dot.edges
    assert dot.attribute("t0", "fillcolor") == viz.COLOURS["output"]


# --------------------------------------------------------------------------- backward view


def test_backward_view_labels_each_edge_with_the_registry_chain_rule_factor():
    loss = proofs.book_network_loss()
    dot = Dot(viz.draw(loss, backward=True))
    sigmoid, matmul = REGISTRY["sigmoid"].labels[0], REGISTRY["matmul"].labels
    assert (sigmoid, matmul) == ("·σ(1−σ)", ("·Bᵀ", "Aᵀ·"))  # what the book's reader sees
    w_ih, w_ho = dot.named("W_ih"), dot.named("W_ho")
    hidden_outputs = dot.named("hidden_outputs")
    (to_w_ho,) = [t for t, h, _ in dot.edges if h == w_ho]
    (to_w_ih,) = [t for t, h, _ in dot.edges if h == w_ih]
    assert to_w_ho in dot.operations("MatMulBackward")
    assert dot.label(to_w_ho, w_ho) == matmul[0]  # ∂E/∂W_ho = g · hidden_outputsᵀ
    assert dot.label(to_w_ho, hidden_outputs) == matmul[1]  # error sent back: W_hoᵀ · g
    assert dot.label(to_w_ih, w_ih) == matmul[0]
    assert "A = W_ho, B = hidden_outputs" in dot.nodes[to_w_ho]
    for op in dot.operations("SigmoidBackward"):
        (out,) = [h for t, h, _ in dot.edges if t == op]
        assert dot.label(op, out) == sigmoid
    assert f'label="{REGISTRY["squared_error"].labels[0]}"' in dot.source
    assert dot.source.count(sigmoid) == 2


def test_backward_view_arrows_run_from_the_output_to_the_leaves():
    dot = Dot(viz.draw(proofs.book_network_loss(), backward=True))
    loss, w_ih = dot.named("loss"), dot.named("W_ih")
    assert not [h for t, h, _ in dot.edges if h == loss]  # nothing flows into the output
    assert not [t for t, h, a in dot.edges if t == w_ih]  # a parameter is where it ends
    # inputs and targets need no gradient: a dotted line without an arrow
    for constant in ("inputs", "targets", "0.5"):
        (attrs,) = [a for _, h, a in dot.edges if h == dot.named(constant)]
        assert "style=dotted" in attrs and "dir=none" in attrs


def test_drawing_works_after_backward_and_shows_the_freed_operations():
    loss = proofs.book_network_loss(retain_grad=True)
    before = Dot(viz.draw(loss, backward=True))
    loss.backward()
    after = Dot(viz.draw(loss, backward=True))
    assert set(after.nodes) == set(before.nodes)
    assert [(t, h) for t, h, _ in after.edges] == [(t, h) for t, h, _ in before.edges]
    for op in after.nodes:
        if op.startswith("op"):
            assert "dashed" not in before.attribute(op, "style")
            assert after.attribute(op, "style") == "filled,dashed"
    saved = after.named("hidden_outputs")  # what was saved stays marked once freed
    assert after.attribute(saved, "fillcolor") == before.attribute(saved, "fillcolor")
    assert after.attribute(saved, "fillcolor") == viz.COLOURS["saved"]
    hidden = after.nodes[after.named("hidden_outputs")].replace("&#160;", " ")
    assert "grad = [" in hidden  # retain_grad keeps the error sent back to the hidden layer
    assert Dot(viz.draw(loss)).nodes.keys() == after.nodes.keys()  # forward view too


def test_an_operation_outside_the_registry_draws_with_its_name():
    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    x = Tensor([1.0], requires_grad=True, name="x")
    dot = Dot(viz.draw(Double.apply(x), backward=True))
    (op,) = dot.operations("DoubleBackward")
    assert dot.edge(op, dot.named("x")) == ""  # no factor known, no label invented


def test_an_array_saved_outside_the_graph_is_counted_on_its_operation():
    x = Tensor([-1.0, 2.0], requires_grad=True, name="x")
    dot = Dot(viz.draw(x.relu().sum()))
    (relu,) = dot.operations("Relu")
    assert "+ 1 saved array" in dot.nodes[relu]  # relu keeps its mask [x > 0]


# --------------------------------------------------------------------------- big graphs


def test_a_10000_node_chain_draws_without_recursion_and_max_nodes_keeps_it_small():
    _, y = chain(10_000)
    assert sys.getrecursionlimit() < 20_001  # a recursive walk could not get there
    dot = Dot(viz.draw(y, max_nodes=20_001))
    assert len(dot.nodes) == 20_001 and len(dot.edges) == 20_000
    assert len(Dot(viz.draw(y)).nodes) == viz.MAX_NODES  # the default budget
    small = Dot(viz.draw(y, max_nodes=40))
    assert len(small.nodes) <= 40
    assert "t0" in small.nodes and "summary" in small.nodes
    summary = small.nodes["summary"]
    assert "19,962 more nodes" in summary and "9,981 × Sigmoid" in summary
    assert "1 parameter tensor" in summary  # x is in the oldest part
    y.backward()
    assert len(Dot(viz.draw(y, max_nodes=40, backward=True)).nodes) <= 40


def branching_graph(layers: int) -> Tensor:
    """A graph with shared tensors, constants and several inputs per operation."""
    w = Tensor(np.full((2, 2), 0.1), requires_grad=True, name="w")
    h = Tensor([[1.0], [2.0]], name="x")
    for _ in range(layers):
        h = (w @ h).tanh() + h * 0.5
    return h.sum()


@given(st.integers(2, 120), st.booleans())
def test_max_nodes_bounds_the_drawing_and_keeps_it_connected_to_the_output(limit, backward):
    dot = Dot(viz.draw(branching_graph(15), max_nodes=limit, backward=backward))
    assert len(dot.nodes) <= limit
    neighbours: dict[str, set[str]] = {n: set() for n in dot.nodes}
    for tail, head, _ in dot.edges:
        neighbours[tail].add(head)
        neighbours[head].add(tail)
    reached, stack = {"t0"}, ["t0"]
    while stack:
        for n in neighbours[stack.pop()] - reached:
            reached.add(n)
            stack.append(n)
    assert reached == set(dot.nodes)


def test_max_nodes_leaves_a_graph_that_fits_alone():
    loss = proofs.book_network_loss()
    assert viz.draw(loss, max_nodes=17).source == viz.draw(loss).source
    assert "summary" in Dot(viz.draw(loss, max_nodes=16)).nodes


def test_bad_arguments_are_rejected_with_what_is_accepted():
    loss = proofs.book_network_loss()
    with pytest.raises(ValueError, match="at least 2"):
        viz.draw(loss, max_nodes=1)
    with pytest.raises(ValueError, match="LR, RL, TB, BT"):
        viz.draw(loss, rankdir="sideways")
    with pytest.raises(TypeError, match="expected a Tensor, got ndarray"):
        viz.draw(np.ones(3))
    assert "rankdir=TB" in viz.draw(loss, rankdir="TB").source


def rnn(steps: int) -> Tensor:
    """A recurrent network: the weights W and U are shared by every step."""
    rng = np.random.default_rng(0)
    w = Tensor(rng.normal(0, 0.3, (4, 4)), requires_grad=True, name="W")
    u = Tensor(rng.normal(0, 0.3, (4, 2)), requires_grad=True, name="U")
    h = Tensor(np.zeros((4, 1)), name="h0")
    loss = Tensor(0.0)
    for step in range(steps):
        h = (w @ h + u @ Tensor(rng.normal(size=(2, 1)), name=f"x{step}")).tanh()
        loss = loss + h.sum()
    return loss


def one_weight_everywhere(operations: int) -> Tensor:
    """``operations`` operations, every second one a product with the same weight w."""
    w = Tensor([0.5, -0.2], requires_grad=True, name="w")
    y = Tensor([1.0, 2.0], name="x")
    for _ in range(operations // 2):
        y = (y * w).tanh()
    return y.sum()


def test_a_weight_shared_by_every_step_is_drawn_once_and_named_again_at_each_use():
    dot = Dot(viz.draw(rnn(40)))  # the default budget: about 20 of the 40 steps
    assert len(dot.nodes) <= viz.MAX_NODES and "summary" in dot.nodes
    boxes = [n for n, attrs in dot.nodes.items() if "<b>W</b>" in attrs]
    (home,) = [n for n in boxes if n.startswith("t")]  # the box of W itself, once
    again = [n for n in boxes if n.startswith("r")]
    assert len(again) > viz.SHARED_USES
    uses = sorted(int(re.search(r"use (\d+) of 40", dot.nodes[n]).group(1)) for n in again)
    assert uses == list(range(2, len(again) + 2))  # the nearest use keeps the real box
    for n in [home, *again]:  # each meets one matrix product, as its operand A
        (head,) = [h for t, h, _ in dot.edges if t == n and h != "summary"]
        assert head in dot.operations("MatMul") and dot.label(n, head) == "A"
    assert (home, "summary", "style=dashed") in dot.edges  # the steps not drawn use W too
    assert "named again beside each further use" in dot.source  # the legend says so
    assert "max_nodes=None draws at most 300" in dot.nodes["summary"]


def test_a_graph_changed_in_place_after_its_loss_is_drawn_as_recorded():
    y = Tensor([1.0, 2.0], requires_grad=True, name="y")
    c = y * 2
    loss = (c * 3).sum()
    c += 5  # after the loss: c's new history is not part of the loss's graph
    dot = Dot(viz.draw(loss))
    assert len(dot.operations("Add")) == 0 and len(dot.operations("Mul")) == 2
    assert "<b>5</b>" not in dot.source and dot.named("y")


@needs_dot
@pytest.mark.parametrize("backward", [False, True])
def test_graphs_that_reuse_one_weight_render_in_seconds(backward):
    # Before: a 40-step RNN past 150 s; 2,000 operations on one weight, 18.7 GB in dot.
    for loss in (rnn(40), one_weight_everywhere(2_000)):
        drawing = viz.draw(loss, backward=backward)
        start = time.perf_counter()
        svg = viz.render(drawing, "svg", timeout=30)
        assert time.perf_counter() - start < 10
        assert svg.startswith(b"<?xml") and b"more nodes, the oldest part" in svg


# --------------------------------------------------------------------------- save


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH on which there is no Graphviz `dot` program."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_save_writes_dot_source_without_the_dot_program(no_dot, tmp_path):
    loss = proofs.book_network_loss()
    for suffix in (".dot", ".gv"):
        path = viz.save(loss, tmp_path / f"graph{suffix}", backward=True)
        assert path.read_text(encoding="utf-8") == viz.draw(loss, backward=True).source
    drawing = viz.draw(loss)
    assert viz.save(drawing, str(tmp_path / "d.dot")).read_text(encoding="utf-8") == drawing.source


def test_rendering_without_dot_says_how_to_install_it(no_dot, tmp_path):
    with pytest.raises(viz.GraphvizNotFoundError) as error:
        viz.save(proofs.book_network_loss(), tmp_path / "graph.svg")
    message = str(error.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "graph.svg" in message
    assert isinstance(error.value, RuntimeError)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert not (tmp_path / "graph.svg").exists()
    # Jupyter shows the same advice instead of a traceback
    bundle = viz.draw(proofs.book_network_loss())._repr_mimebundle_()
    assert "apt-get install graphviz" in bundle["text/plain"]


def test_save_rejects_an_unknown_suffix_and_options_for_a_finished_drawing(tmp_path):
    loss = proofs.book_network_loss()
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf, \.dot, \.gv"):
        viz.save(loss, tmp_path / "graph.jpeg")
    with pytest.raises(TypeError, match="show_data"):
        viz.save(viz.draw(loss), tmp_path / "graph.dot", show_data=True)
    with pytest.raises(TypeError, match="got list"):
        viz.save([loss], tmp_path / "graph.dot")


@needs_dot
@pytest.mark.parametrize(
    ("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF")]
)
def test_save_renders_by_suffix_with_dot(tmp_path, suffix, magic):
    path = viz.save(proofs.book_network_loss(), tmp_path / f"graph{suffix.upper()}", show_data=True)
    assert path.read_bytes().startswith(magic)


@needs_dot
def test_rendered_svg_shows_names_and_chain_rule_factors(tmp_path):
    loss = proofs.book_network_loss()
    loss.backward()
    svg = viz.save(loss, tmp_path / "backward.svg", backward=True).read_text(encoding="utf-8")
    for text in ("W_ih", "W_ho", "inputs", "MatMulBackward", "·σ(1−σ)", "·Bᵀ", "Aᵀ·"):
        assert text in svg
    assert viz.draw(loss)._repr_mimebundle_()["image/svg+xml"].lstrip().startswith("<?xml")


@needs_dot
def test_a_drawing_of_the_book_network_fits_800_pixels(tmp_path):
    loss = proofs.book_network_loss(retain_grad=True)
    loss.backward()
    for drawing in (viz.draw(loss, show_data=True), viz.draw(loss, backward=True)):
        png = viz.save(drawing, tmp_path / "book.png").read_bytes()
        width, height = struct.unpack(">II", png[16:24])  # the PNG header, 96 dpi
        assert 300 < width <= 800 < height  # top to bottom: tall and at most 800 wide
    wide = viz.draw(loss, rankdir="LR", show_data=True)  # a wide layout is scaled down
    png = viz.save(wide, tmp_path / "wide.png").read_bytes()
    assert struct.unpack(">II", png[16:24])[0] <= 800


def test_draw_and_the_cli_draw_top_to_bottom_by_default():
    assert "rankdir=TB" in viz.draw(proofs.book_network_loss()).source
    assert inspect.signature(viz.draw).parameters["rankdir"].default == "TB"
    assert build_parser().parse_args(["graph"]).rankdir == "TB"


def test_an_nn_model_is_drawn_with_the_names_named_parameters_gives():
    model = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2))
    loss = nn.mse(model(Tensor(np.ones((2, 4)))), np.zeros((2, 2)))
    dot = Dot(viz.draw(loss, backward=True))
    for name, _ in model.named_parameters():  # 0.weight, 0.bias, 2.weight, 2.bias
        assert dot.named(name)
    assert "<b>weight</b>" not in dot.source and "<b>bias</b>" not in dot.source
    assert "G (Linear" in dot.source  # the G of the Gᵀ· label is explained
    assert "G (Linear" not in viz.draw(proofs.book_network_loss(), backward=True).source


def test_the_backward_view_shows_grad_1_on_the_loss_and_the_engines_intermediate_grads():
    loss = proofs.book_network_loss()  # no retain_grad, not yet differentiated
    dot = Dot(viz.draw(loss, backward=True))
    assert "grad = 1" in dot.nodes[dot.named("loss")].replace("&#160;", " ")
    hidden = proofs.tensors_by_name(loss)["hidden_outputs"]
    (expected,) = grad(loss, hidden, retain_graph=True)  # the engine's ∂loss/∂hidden
    shown = dot.nodes[dot.named("hidden_outputs")].replace("&#160;", " ")
    values = np.array2string(expected.data.ravel(), precision=4, suppress_small=True)
    assert f"grad = {values}ᵀ" in shown
    assert "grad" not in Dot(viz.draw(loss)).nodes[dot.named("hidden_outputs")]  # forward
    loss.backward()  # frees the graph; hidden_outputs kept no gradient
    after = Dot(viz.draw(loss, backward=True))
    assert "grad" not in after.nodes[after.named("hidden_outputs")]
    assert "grad = [[" in after.nodes[after.named("W_ih")].replace("&#160;", " ")
    assert "grad = 1" in after.nodes[after.named("loss")].replace("&#160;", " ")


@pytest.fixture
def fake_dot(monkeypatch, tmp_path):
    """Put a `dot` that runs the given shell script first on PATH."""

    def install(script: str) -> None:
        folder = tmp_path / "fake-bin"
        folder.mkdir(exist_ok=True)
        program = folder / "dot"
        program.write_text(f"#!/bin/sh\nPATH=/usr/bin:/bin\n{script}\n", encoding="utf-8")
        program.chmod(0o755)
        monkeypatch.setenv("PATH", str(folder))

    return install


def children_named(name: str) -> list[int]:
    """The processes called ``name`` that this process started (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and command == name:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_dot_that_runs_too_long_is_stopped_and_none_is_left_running(fake_dot):
    fake_dot("exec sleep 30")
    start = time.perf_counter()
    with pytest.raises(viz.RenderError, match=r"did not finish .* in 0.5 s and was stopped"):
        viz.render(viz.draw(proofs.book_network_loss()), "svg", timeout=0.5)
    assert time.perf_counter() - start < 5
    assert children_named("sleep") == [] and children_named("dot") == []


def test_a_dot_crash_is_the_librarys_error_not_a_raw_called_process_error(fake_dot, tmp_path):
    fake_dot('echo "out of memory in the layout" >&2; kill -SEGV $$')
    drawing = viz.draw(proofs.book_network_loss())
    with pytest.raises(viz.RenderError, match=r"crashed .SIGSEGV.*out of memory in the layout"):
        viz.render(drawing, "svg")
    with pytest.raises(viz.RenderError, match=r"save '.*graph.svg': dot crashed") as error:
        viz.save(drawing, tmp_path / "graph.svg")
    assert isinstance(error.value, RuntimeError)
    assert not isinstance(error.value, subprocess.CalledProcessError)
    assert not (tmp_path / "graph.svg").exists()
    assert drawing._repr_mimebundle_()["text/plain"].startswith("RenderError: dot crashed")


def test_dot_runs_with_a_memory_limit(fake_dot):
    fake_dot("ulimit -v")  # prints the limit in KiB
    if viz.resource is None:
        pytest.skip("no memory limits on this system")
    limit = viz.render(viz.draw(proofs.book_network_loss()), "svg").decode().strip()
    assert int(limit) == viz.RENDER_MEMORY // 1024


@needs_dot
def test_dots_own_refusal_is_a_render_error_with_its_message():
    broken = viz.Drawing(body=["\tt0 [label=<<b>not closed>]\n"])
    with pytest.raises(
        viz.RenderError, match=r"^dot failed \(exit status 1\): Error: mismatched tag"
    ):
        viz.render(broken, "svg")


def hostile_graph() -> tuple[Tensor, Tensor]:
    x = Tensor([1.0, 2.0], requires_grad=True, name="x\x01y\x7f\\N")
    return Hostile.apply(x).sum(), x


def test_names_and_labels_reach_graphviz_escaped():
    assert viz.printable("x\x01y\x7f\u2028\ud800\uffffé") == "x\\x01y\\x7f\u2028\\ud800\\uffffé"
    loss, _ = hostile_graph()
    backward = viz.draw(loss, backward=True).source
    forward = viz.draw(loss).source
    for source in (backward, forward):
        assert "\x01" not in source and "\x7f" not in source
        assert "<b>x\\\\x01y\\\\x7f\\\\N</b>" in source  # printable, each \\ doubled for dot
    assert 'label="<x>"' in backward  # a plain label, not HTML
    assert "&lt;!--&lt;script&gt;Backward" in backward and "&lt;!--&lt;script&gt;" in forward


@needs_dot
@pytest.mark.parametrize("backward", [False, True])
def test_names_and_labels_that_dot_refused_now_render(tmp_path, backward):
    # Before: the control character and the "<x>" label made dot fail (CalledProcessError).
    loss, _ = hostile_graph()
    svg = viz.save(loss, tmp_path / "hostile.svg", backward=backward).read_text("utf-8")
    assert "x\\x01y\\x7f\\N" in svg and "&lt;!&#45;&#45;&lt;script&gt;" in svg
    assert ("&lt;x&gt;" in svg) == backward


# --------------------------------------------------------------------------- layering


def test_the_core_does_not_import_viz_and_viz_imports_only_the_core():
    code = (
        "import sys, tinygrad_edu, tinygrad_edu.tensor, tinygrad_edu.autograd, "
        "tinygrad_edu.functions; print('tinygrad_edu.viz' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
    tree = ast.parse(Path(viz.__file__).read_text(encoding="utf-8"))
    imported = {
        f"{node.module}.{alias.name}" if node.module == "tinygrad_edu" else node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    ours = {m for m in imported if m.startswith("tinygrad_edu")}
    # viz.explore loads the page module, which builds on viz, inside the function.
    allowed = {"tinygrad_edu.autograd", "tinygrad_edu.functions", "tinygrad_edu.tensor"}
    assert ours <= allowed | {"tinygrad_edu.explore"}


# --------------------------------------------------------------------------- docs


def test_the_docs_page_lists_every_colour_the_code_uses():
    page = (ROOT / "docs" / "viz.md").read_text(encoding="utf-8")
    for kind, colour in viz.COLOURS.items():
        assert f"`{colour}` | **{kind}" in page, kind
    assert f"`{viz.SAVED_BORDER}`" in page


def svg_texts(svg: str) -> list[str]:
    return sorted(re.findall(r"<text[^>]*>([^<]*)</text>", svg))


@needs_dot
def test_the_docs_images_are_what_make_images_draws_now(tmp_path, capsys):
    make_images = runpy.run_path(str(ROOT / "docs" / "make_images.py"))
    assert make_images["main"]([str(tmp_path)]) == 0
    drawn = sorted(p.name for p in tmp_path.glob("*.svg"))
    kept = sorted(p.name for p in (ROOT / "docs" / "images").glob("*.svg"))
    assert (
        drawn
        == kept
        == [
            "book_network_backward.svg",
            "book_network_forward.svg",
            "long_chain_max_nodes.svg",
        ]
    )
    for name in drawn:  # the same words and numbers (layout may differ between versions)
        fresh = svg_texts((tmp_path / name).read_text(encoding="utf-8"))
        assert fresh == svg_texts((ROOT / "docs" / "images" / name).read_text(encoding="utf-8"))
    assert "wrote" in capsys.readouterr().out


def test_drawing_ids_name_the_nodes_of_the_drawing():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x
    for _ in range(6):
        y = y.sigmoid()
    source = viz.draw(y, max_nodes=5).source
    ids = viz.drawing_ids(y, max_nodes=5)
    assert [item for item, _ in ids][:2] == [y, y.grad_fn]  # nearest first
    assert len(ids) == 13  # 7 tensors and 6 operations
    drawn = [name for _, name in ids if name != "summary"]
    assert len(drawn) == 4  # max_nodes − 1, and the summary node
    for name in drawn:
        assert f"\t{name} [" in source
    assert ids[-1] == (x, "summary") and "\tsummary [" in source
