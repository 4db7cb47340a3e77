"""The build-it-yourself track: ``tinygrad-edu tasks init`` and ``tasks check``.

A learner's file is made here from the reference solutions with one function swapped for a
typical mistake, then graded; each test asserts the hint the grader prints for it, and the
numbers of its report against a hand calculation. Most tests grade in this process (fast);
the ones about time limits, tracebacks and training run ``tasks check`` as a learner does.
"""

import ast
import math
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinygrad_edu import tasks
from tinygrad_edu.cli import main
from tinygrad_edu.data import load_digits
from tinygrad_edu.tasks import scaffold, solutions
from tinygrad_edu.tasks.checks import run_task
from tinygrad_edu.tasks.grading import TaskFailedError
from tinygrad_edu.tasks.worker import load_learner
from tinygrad_edu.training import TrainConfig, train

SOLUTIONS = Path(solutions.__file__).read_text(encoding="utf-8")
EXAMPLES = 5  # random inputs per property here: the mistakes below show on fixed inputs


def engine_with(tmp_path: Path, **replacements: str) -> Path:
    """A my_engine.py: the reference solutions with each named function replaced by the
    given source (a whole ``def``)."""
    lines = SOLUTIONS.splitlines(keepends=True)
    spans = {
        node.name: (node.lineno - 1, node.end_lineno)
        for node in ast.parse(SOLUTIONS).body
        if isinstance(node, ast.FunctionDef)
    }
    for name, source in sorted(replacements.items(), key=lambda item: -spans[item[0]][0]):
        start, end = spans[name]
        lines[start:end] = [textwrap.dedent(source).strip("\n") + "\n"]
    folder = tmp_path / "learner"
    folder.mkdir(exist_ok=True)
    path = folder / tasks.FILE_NAME
    path.write_text("".join(lines), encoding="utf-8")
    return path


def first_failure(path: Path, up_to: int = 5):
    """The report of the first task among 1 to ``up_to`` that fails (None if all pass)."""
    module = load_learner(path)
    for task in range(1, up_to + 1):
        try:
            run_task(task, module, EXAMPLES)
        except TaskFailedError as failure:
            return failure.report
    return None


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# --------------------------------------------------------------------------- init


def test_init_writes_the_scaffold_into_a_new_folder(tmp_path, capsys):
    folder = tmp_path / "course" / "week1"
    assert main(["tasks", "init", str(folder)]) == 0
    written = folder / "my_engine.py"
    assert written.read_text(encoding="utf-8") == Path(scaffold.__file__).read_text("utf-8")
    assert f"wrote {written}" in capsys.readouterr().out


def test_init_refuses_to_overwrite_a_file_in_one_line_with_status_1(tmp_path, capsys):
    existing = tmp_path / "my_engine.py"
    existing.write_text("my work\n", encoding="utf-8")
    assert main(["tasks", "init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"tinygrad-edu tasks: error: {existing} already exists")
    assert existing.read_text(encoding="utf-8") == "my work\n"


def test_the_scaffold_and_the_solutions_define_the_same_functions():
    def signatures(source: str) -> dict[str, list[str]]:
        return {
            node.name: [a.arg for a in node.args.args]
            for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef)
        }

    scaffold_source = Path(scaffold.__file__).read_text(encoding="utf-8")
    assert signatures(scaffold_source) == signatures(SOLUTIONS)
    assert scaffold_source.startswith('"""My engine')  # the short README at the top
    assert "tinygrad-edu tasks check" in scaffold_source.split('"""')[1]


def test_an_unwritten_stub_is_reported_as_not_written_yet(tmp_path):
    tasks.init(tmp_path)
    report = first_failure(tmp_path / "my_engine.py")
    assert report.task == 1
    assert "sigmoid_backward is not written yet" in report.check
    assert "fill in sigmoid_backward" in report.hint


# --------------------------------------------------------------------------- the solutions


def test_the_reference_solutions_pass_every_task(tmp_path):
    path = engine_with(tmp_path)
    module = load_learner(path)
    for task in range(1, 6):
        context = run_task(task, module, examples=20)
        assert context.checks_run >= 3
        assert not context.random_inputs_skipped


def test_check_grades_the_solutions_then_trains_the_book_network_with_them(tmp_path, capsys):
    path = engine_with(tmp_path)
    status = main(["tasks", "check", "--dir", str(path.parent), "--epochs", "1"])
    out = capsys.readouterr().out
    assert status == 0, out
    for task in range(1, 6):
        assert re.search(rf"^task {task} .* passed \(\d+ checks\)$", out, re.MULTILINE), out
    assert "all 5 tasks pass." in out
    accuracy = float(re.search(r"your engine's test accuracy: (\d\.\d+)", out)[1])
    assert accuracy > 0.8  # one epoch of the book's network on the digits (chance: 0.1)
    # the same run of the project's own training loop (its engine, nn.Linear, optim.SGD):
    # the same weights, samples and steps, so the same accuracy
    config = TrainConfig(epochs=1)
    same_run = train(config, load_digits(), progress=False, log=None)
    assert accuracy == round(same_run.test_accuracy, 4)


def test_check_up_to_a_task_checks_only_those_and_names_the_next(tmp_path, capsys):
    path = engine_with(tmp_path, backward_loop="def backward_loop(loss, chain_rule):\n    1/0")
    assert main(["tasks", "check", "3", "--dir", str(path.parent), "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "tasks 1 to 3 pass; next: task 4, the backward loop" in out
    assert "task 4 " not in out.replace("next: task 4,", "").replace("check 4)", "")


# --------------------------------------------------------------------------- the mistakes


def test_the_arriving_gradient_dropped_in_the_sigmoid(tmp_path):
    path = engine_with(
        tmp_path, sigmoid_backward="def sigmoid_backward(y, grad):\n    return y * (1 - y)"
    )
    report = first_failure(path)
    assert report.task == 1
    assert report.hint.startswith(
        "your sigmoid backward returns σ(1−σ) without multiplying by the gradient arriving "
        "from above"
    )
    assert report.index == (0, 0)  # x = 2.3, the worked example's Σ w·o_j, with grad 0.8
    assert report.expected == pytest.approx(0.8 * sigmoid(2.3) * (1 - sigmoid(2.3)), abs=1e-6)
    assert report.got == pytest.approx(sigmoid(2.3) * (1 - sigmoid(2.3)), abs=1e-6)


@pytest.mark.parametrize(
    "body", ["return grad * -(t - o)", "return -(t - o)"], ids=["without-2", "as-the-book-writes"]
)
def test_the_factor_2_of_the_square_lost(tmp_path, body):
    path = engine_with(
        tmp_path, squared_error_backward=f"def squared_error_backward(o, t, grad):\n    {body}"
    )
    report = first_failure(path)
    assert report.task == 2
    assert report.hint.startswith("the factor 2 of the square is lost: E = Σ(t − o)² gives")
    o = sigmoid(2.3)  # first output, target 0.01, L = E (grad 1)
    assert report.expected == pytest.approx(-2 * (0.01 - o), abs=1e-6)
    assert report.got == pytest.approx(-(0.01 - o), abs=1e-6)


def test_the_sign_of_the_squared_error_flipped(tmp_path):
    path = engine_with(
        tmp_path,
        squared_error_backward="def squared_error_backward(o, t, grad):\n"
        "    return grad * 2 * (t - o)",
    )
    report = first_failure(path)
    assert report.task == 2 and report.hint.startswith("the sign is flipped: ∂E/∂o = −2(t − o)")


def test_a_missing_transpose_in_the_matmul(tmp_path):
    path = engine_with(
        tmp_path,
        matmul_backward="""
        def matmul_backward(a, b, grad):
            return unbroadcast(grad @ b.mT, a.shape), unbroadcast(a @ grad, b.shape)
        """,
    )
    report = first_failure(path)
    assert report.task == 3
    assert report.hint.startswith(
        "a transpose is missing: the book's error_hidden = Wₕₒᵀ · error_output"
    )
    assert report.quantity == "∂L/∂B"
    rng = np.random.default_rng(1)  # the weights of the book's network in the check, by hand
    w_ih, w_ho = np.random.default_rng(0).normal(0, 3**-0.5, (3, 3)), rng.normal(0, 3**-0.5, (3, 3))
    x, t = np.array([[0.9], [0.1], [0.8]]), np.array([[0.01], [0.99], [0.01]])
    hidden = 1 / (1 + np.exp(-(w_ih @ x)))
    o = 1 / (1 + np.exp(-(w_ho @ hidden)))
    e_slope = -(t - o) * o * (1 - o)
    assert report.expected == pytest.approx(sum(w_ho[k, 0] * e_slope[k, 0] for k in range(3)))
    assert report.got == pytest.approx(sum(w_ho[0, k] * e_slope[k, 0] for k in range(3)))


def test_a_broadcast_gradient_not_summed_back_in_the_matmul(tmp_path):
    path = engine_with(
        tmp_path,
        matmul_backward="def matmul_backward(a, b, grad):\n    return grad @ b.mT, a.mT @ grad",
    )
    report = first_failure(path)
    assert report.task == 3
    assert "returned shape (2, 3, 2); ∂L/∂B (the second of the pair) must have shape (3, 2)" in (
        report.problem
    )
    assert report.hint.startswith("a broadcast operand's gradient must be summed back to its shape")


def test_an_unbroadcast_that_does_not_sum(tmp_path):
    path = engine_with(tmp_path, unbroadcast="def unbroadcast(grad, shape):\n    return grad")
    report = first_failure(path)
    assert report.task == 3 and "returned shape (2, 3); its result must have shape (3,)" in (
        report.problem
    )
    assert report.hint.startswith("a broadcast operand's gradient must be summed back")


def test_a_broadcast_left_unsummed_only_random_inputs_reach(tmp_path):
    # A's batch axes are never broadcast in the fixed checks: only a random stack finds it.
    path = engine_with(
        tmp_path,
        matmul_backward="""
        def matmul_backward(a, b, grad):
            return grad @ b.mT, unbroadcast(a.mT @ grad, b.shape)
        """,
    )
    report = first_failure(path)
    assert report.task == 3
    assert report.check.endswith("(random input, shrunk)")
    assert report.hint.startswith("a broadcast operand's gradient must be summed back")


OVERWRITING_LOOP = SOLUTIONS[SOLUTIONS.index("def backward_loop") : SOLUTIONS.index("def sgd_step")]


def test_a_gradient_overwritten_where_paths_meet_at_a_leaf(tmp_path):
    loop = OVERWRITING_LOOP.replace(
        "leaf_grads[tensor] = leaf_grads[tensor] + grad if tensor in leaf_grads else grad",
        "leaf_grads[tensor] = grad",
    )
    report = first_failure(engine_with(tmp_path, backward_loop=loop))
    assert report.task == 4
    assert report.hint.startswith(
        "a gradient was overwritten instead of added where paths meet: x is used 3 times"
    )
    assert report.expected == 7.0  # d(x·x + x)/dx = 2x + 1 at x = 3
    assert report.got in (3.0, 1.0)  # what x·x sends for one of its x's, or what + sends


def test_a_gradient_overwritten_where_paths_meet_inside_the_graph(tmp_path):
    loop = OVERWRITING_LOOP.replace(
        "arrived[parent] = arrived[parent] + grad if parent in arrived else grad",
        "arrived[parent] = grad",
    )
    report = first_failure(engine_with(tmp_path, backward_loop=loop))
    assert report.task == 4
    assert report.hint.startswith(
        "a gradient was overwritten instead of added where paths meet: a is used 2 times"
    )
    a = sigmoid(0.5)
    b = sigmoid(a)
    assert report.expected == pytest.approx(b + a * b * (1 - b))  # ∂Σ(a·b)/∂a, both paths


BREADTH_FIRST_LOOP = """
def backward_loop(loss, chain_rule):
    # breadth first from the loss: a node runs as soon as it is reached
    grads = {loss.grad_fn: np.ones_like(loss.data)}
    leaf_grads = {}
    queue, seen = [loss.grad_fn], {loss.grad_fn}
    while queue:
        node = queue.pop(0)
        for tensor, parent, g in zip(node.inputs, node.parents, chain_rule(node, grads[node])):
            if g is None:
                continue
            if parent is None:
                leaf_grads[tensor] = leaf_grads.get(tensor, 0) + g
                continue
            grads[parent] = grads.get(parent, 0) + g
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return leaf_grads
"""


def test_a_node_run_before_all_its_consumers(tmp_path):
    report = first_failure(engine_with(tmp_path, backward_loop=BREADTH_FIRST_LOOP))
    assert report.task == 4
    assert "your loop ran the Sigmoid node that computed a too early" in report.check
    assert report.hint.startswith(
        "a node must run only after every node that consumes its output has sent its part: "
        "the Sigmoid node that computed a ran when 1 of its 2 consumers had sent"
    )
    a = sigmoid(0.5)
    b = sigmoid(a)
    assert report.expected == pytest.approx(b + a * b * (1 - b))  # complete: both paths
    assert report.got == pytest.approx(b)  # only what a · b sent


def test_the_update_sign_flipped(tmp_path):
    path = engine_with(
        tmp_path,
        sgd_step="def sgd_step(weights, grad, learning_rate):\n"
        "    return weights + learning_rate * grad",
    )
    report = first_failure(path)
    assert report.task == 5
    assert report.hint.startswith("the update's sign is flipped: new wⱼₖ = old wⱼₖ − α · ∂E/∂wⱼₖ")
    # the worked example: ∂E/∂w₁₁ = −0.8 · σ(2.3)(1 − σ(2.3)) · 0.4, α = 0.1
    gradient = -0.8 * sigmoid(2.3) * (1 - sigmoid(2.3)) * 0.4
    assert report.expected == pytest.approx(2.0 - 0.1 * gradient) == pytest.approx(2.00265, 1e-5)
    assert report.got == pytest.approx(2.0 + 0.1 * gradient)


# --------------------------------------------------------------------------- misbehaving code


def test_code_that_raises_is_reported_at_the_learners_own_line(tmp_path, capfd):
    path = engine_with(
        tmp_path,
        sigmoid_backward="""
        def sigmoid_backward(y, grad):
            print("debugging: y is", y.shape)
            slope = y * (1 - y)
            return grad * slope @ grad
        """,
    )
    status = main(["tasks", "check", "--dir", str(path.parent)])
    out, err = capfd.readouterr()
    assert status == 1
    assert "task 1  the backward of Sigmoid" in out and "FAILED" in out
    assert "problem: your sigmoid_backward raised ValueError: matmul:" in out
    line = path.read_text(encoding="utf-8").splitlines().index("    return grad * slope @ grad")
    assert f"your code: my_engine.py, line {line + 1}, in sigmoid_backward" in out
    assert "return grad * slope @ grad" in out
    assert "Traceback" not in out + err  # no traceback from the grader's insides
    assert "tinygrad_edu" not in out
    assert "debugging: y is (3, 1)" in err and "debugging" not in out  # prints: stderr


def test_code_that_loops_forever_is_stopped_at_the_time_limit(tmp_path, capsys):
    loop = OVERWRITING_LOOP.replace("ready.pop()", "ready[-1]").replace(  # never taken off
        "arrived.pop(node)", "arrived[node]"
    )
    path = engine_with(tmp_path, backward_loop=loop)
    folder = str(path.parent)
    status = main(["tasks", "check", "--dir", folder, "--time-limit", "3", "--examples", "1"])
    out = capsys.readouterr().out
    assert status == 1
    assert "task 4  the backward loop" in out and "FAILED" in out
    assert "it did not finish within the time limit of 3 s" in out
    assert "your code: my_engine.py, line" in out and "in backward_loop" in out
    assert "hint: a loop that never ends? Each pass of your loop must take a node off" in out


def test_code_that_returns_the_wrong_shape_is_named(tmp_path):
    path = engine_with(
        tmp_path,
        sigmoid_backward="def sigmoid_backward(y, grad):\n    return (grad * y * (1 - y)).sum()",
    )
    report = first_failure(path)
    assert report.check == "your sigmoid_backward returned an array of the wrong shape"
    assert report.problem == "it returned shape (); ∂L/∂x must have shape (3, 1)"


def test_code_that_writes_into_the_gradient_it_is_given_is_told_it_is_read_only(tmp_path):
    path = engine_with(
        tmp_path,
        sigmoid_backward="def sigmoid_backward(y, grad):\n    grad *= y * (1 - y)\n    return grad",
    )
    report = first_failure(path)
    assert "raised ValueError: output array is read-only" in report.problem
    assert report.hint.startswith("the gradient you are given is read-only")


def test_a_file_that_is_not_python_is_reported_at_its_line(tmp_path):
    path = engine_with(tmp_path, sgd_step="def sgd_step(weights, grad, learning_rate)\n    pass")
    with pytest.raises(TaskFailedError) as failure:
        load_learner(path)
    report = failure.value.report
    assert report.task == 0 and report.problem.startswith("SyntaxError")
    assert "def sgd_step(weights, grad, learning_rate)" in report.where


def test_without_hypothesis_the_random_inputs_are_skipped_and_said_so(tmp_path, monkeypatch):
    module = load_learner(engine_with(tmp_path))
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # import hypothesis now fails
    context = run_task(1, module, EXAMPLES)
    assert context.random_inputs_skipped and context.checks_run == 2


RECURSIVE_LOOP = """
def backward_loop(loss, chain_rule):
    # from the loss down every path, as a recursion would: a node runs once per path
    leaf_grads = {}
    stack = [(loss.grad_fn, np.ones_like(loss.data))]
    while stack:
        node, g = stack.pop()
        for tensor, parent, sent in zip(node.inputs, node.parents, chain_rule(node, g)):
            if sent is None:
                continue
            if parent is None:
                leaf_grads[tensor] = leaf_grads.get(tensor, 0) + sent
            else:
                stack.append((parent, sent))
    return leaf_grads
"""


def test_a_node_run_once_per_path_is_named_though_its_sums_come_out_right(tmp_path):
    report = first_failure(engine_with(tmp_path, backward_loop=RECURSIVE_LOOP))
    assert report.task == 4
    assert report.check.endswith("your loop ran the Sigmoid node that computed a twice")
    assert report.hint.startswith("run each node once, with its complete gradient")


# --------------------------------------------------------------------------- grade()


def test_grade_checks_a_function_written_anywhere_and_quotes_its_line(capsys):
    def sigmoid_backward(y, grad):
        return grad * y * (1 - y)

    assert tasks.grade(1, examples=EXAMPLES, sigmoid_backward=sigmoid_backward)
    assert capsys.readouterr().out == "task 1 (the backward of Sigmoid) passes (3 checks)\n"

    def sigmoid_backward(y, grad):  # a second attempt, as in a notebook
        return grad @ y

    assert not tasks.grade(1, sigmoid_backward=sigmoid_backward)
    out = capsys.readouterr().out
    assert "your code: test_tasks.py, line" in out and "return grad @ y" in out
    assert "hint: this backward works element by element: multiply with *, not @" in out


def test_grade_refuses_a_function_no_task_has():
    with pytest.raises(TypeError, match="no task has a function named sigmoid"):
        tasks.grade(1, sigmoid=lambda y, g: g)


def test_check_without_a_file_says_how_to_make_one(tmp_path, capsys):
    assert main(["tasks", "check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "my_engine.py does not exist; write the scaffold first: tinygrad-edu tasks init" in err
