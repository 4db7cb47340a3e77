"""The learner's code, plugged into the engine.

- `LearnerFunctions`: Sigmoid, SquaredError and MatMul as `Function` subclasses whose
  forward is the engine's and whose backward calls the learner's function, so the engine
  (its graph, its backward pass, gradcheck) runs the learner's chain rule.
- `ChainRule`: one node's chain rule, handed to the learner's ``backward_loop``. It calls
  the node's own backward, sums each gradient back to its input's shape, hands it out
  read-only, and writes down every call: which node ran, with which gradient, sending what.
  From that record the checker tells a wrong order from a gradient overwritten where paths
  meet.
- `train`: the learner's whole engine (their backwards, loop and SGD step) trains the
  book's network on the 8×8 digits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import Any

import numpy as np

from tinygrad_edu import textbook
from tinygrad_edu.autograd import Function, Node, no_grad, unbroadcast
from tinygrad_edu.functions import MatMul, Sigmoid, SquaredError
from tinygrad_edu.tasks.grading import Context, Mistake, as_gradient, call, describe
from tinygrad_edu.tensor import Tensor

BROADCAST_HINT = (
    "a broadcast operand's gradient must be summed back to its shape: numpy copied the "
    "operand (over the added leading axes, and along its axes of length 1), and each copy "
    "received a gradient of its own; the operand's gradient is their sum"
)


class LearnerFunctions:
    """The three operations of the tasks, with the learner's backwards."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.Sigmoid = _learner_function(Sigmoid, self._sigmoid_backward)
        self.SquaredError = _learner_function(SquaredError, self._squared_error_backward)
        self.MatMul = _learner_function(MatMul, self._matmul_backward)

    def _sigmoid_backward(self, ctx: Node, grad: Any) -> Any:
        (y,) = ctx.saved
        self.context.inputs = partial(describe, y=y, grad=grad)
        got = call(self.context, "sigmoid_backward", y, grad)
        return as_gradient(self.context, "sigmoid_backward", got, y.shape, "∂L/∂x")

    def _squared_error_backward(self, ctx: Node, grad: Any) -> Any:
        o, t = ctx.saved
        self.context.inputs = partial(describe, o=o, t=t, grad=grad)
        got = call(self.context, "squared_error_backward", o, t, grad)
        return as_gradient(self.context, "squared_error_backward", got, o.shape, "∂L/∂o"), None

    def _matmul_backward(self, ctx: Node, grad: Any) -> Any:
        a, b = ctx.saved
        self.context.inputs = partial(describe, a=a, b=b, grad=grad)
        return matmul_gradients(self.context, a, b, grad)


def matmul_gradients(context: Context, a: Any, b: Any, grad: Any) -> tuple[Any, Any]:
    """The learner's (∂L/∂A, ∂L/∂B), each checked for its operand's shape (a gradient left in
    the broadcast shape gets the broadcast hint)."""
    got = call(context, "matmul_backward", a, b, grad)
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise context.fail(
            "your matmul_backward did not return a pair",
            "return the two gradients as a tuple: return grad_a, grad_b",
            problem=f"it returned {type(got).__name__}; expected (∂L/∂A, ∂L/∂B)",
        )
    grad_a, grad_b = got
    a_rule, b_rule = grad @ b.mT, a.mT @ grad  # the right products, before summing back
    return (
        as_gradient(
            context,
            "matmul_backward",
            grad_a,
            a.shape,
            "∂L/∂A (the first of the pair)",
            [Mistake(a_rule, BROADCAST_HINT)],
            unbroadcast(a_rule, a.shape),
        ),
        as_gradient(
            context,
            "matmul_backward",
            grad_b,
            b.shape,
            "∂L/∂B (the second of the pair)",
            [Mistake(b_rule, BROADCAST_HINT)],
            unbroadcast(b_rule, b.shape),
        ),
    )


def _learner_function(
    engine_function: type[Function], backward: Callable[[Node, Any], Any]
) -> type[Function]:
    """A Function with ``engine_function``'s forward and ``backward`` as its backward."""

    def forward(ctx: Node, *arrays: Any, **options: Any) -> Any:
        return engine_function.forward(ctx, *arrays, **options)

    return type(
        f"Your{engine_function.__name__}",
        (Function,),
        {
            "__doc__": f"{engine_function.__name__}'s forward, the learner's backward.",
            "labels": engine_function.labels,
            "forward": staticmethod(forward),
            "backward": staticmethod(backward),
        },
    )


# --------------------------------------------------------------------------- the loop


@dataclass
class Call:
    """One call of ``chain_rule`` by the learner's loop."""

    node: Node
    grad: np.ndarray  # what the loop handed the node: ∂L/∂(its output), as far as it knew
    sent: tuple[np.ndarray | None, ...]  # what the node's chain rule sent to each input


@dataclass
class ChainRule:
    """``chain_rule(node, g)`` for the learner's loop, recording every call."""

    context: Context
    sum_back: Callable[[np.ndarray, tuple[int, ...]], np.ndarray] = unbroadcast
    calls: list[Call] = field(default_factory=list)

    def __call__(self, node: Node, grad: Any) -> tuple[np.ndarray | None, ...]:
        if not isinstance(node, Node):
            raise self.context.fail(
                "your backward_loop called chain_rule with something that is not a node",
                "call chain_rule(node, g) with a node: loss.grad_fn, or an entry of "
                "node.parents that is not None",
                problem=f"chain_rule was given {type(node).__name__} {node!r}",
            )
        if grad is None:  # nothing arrived: nothing to send (as in the engine)
            return (None,) * len(node.inputs)
        output = node.output
        shape = output.shape if output is not None else np.shape(grad)
        g = np.array(grad, dtype=np.float64)  # a copy: the loop may change its own array later
        if g.shape != shape:
            raise self.context.fail(
                f"your backward_loop handed {node.name} a gradient of the wrong shape",
                "the gradient a node receives has the shape of its output: start from "
                "np.ones_like(loss.data), and add what the consumers send",
                problem=f"chain_rule got shape {g.shape}; {node.name}'s output has shape {shape}",
            )
        g.flags.writeable = False
        with no_grad():
            sent = node.function.backward(node, g)
        if not isinstance(sent, tuple):
            sent = (sent,)
        result: list[np.ndarray | None] = []
        for t, needed, input_grad in zip(node.inputs, node.needs_input_grad, sent, strict=True):
            if input_grad is None or not needed:
                result.append(None)
                continue
            summed = np.array(self.sum_back(np.asarray(input_grad), t.shape), dtype=t.dtype)
            summed.flags.writeable = False  # the loop must add, not write into what it got
            result.append(summed)
        self.calls.append(Call(node, g, tuple(result)))
        return tuple(result)


def learner_sum_back(context: Context) -> Callable[[np.ndarray, tuple[int, ...]], np.ndarray]:
    """The learner's own ``unbroadcast``, for their whole engine."""

    def sum_back(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return as_gradient(
            context, "unbroadcast", call(context, "unbroadcast", grad, shape), shape, "the sum"
        )

    return sum_back


def run_loop(context: Context, loss: Tensor, chain_rule: ChainRule) -> dict[int, np.ndarray]:
    """The learner's ``backward_loop(loss, chain_rule)``: the gradient of each leaf, by id."""
    got = call(context, "backward_loop", loss, chain_rule)
    if not isinstance(got, dict):
        raise context.fail(
            "your backward_loop did not return a dict",
            "return a dict {leaf tensor: ∂L/∂leaf}",
            problem=f"it returned {type(got).__name__}",
        )
    found: dict[int, np.ndarray] = {}
    for leaf, grad in got.items():
        if not isinstance(leaf, Tensor):
            raise context.fail(
                "your backward_loop returned a dict whose keys are not tensors",
                "key the dict by the leaf tensors themselves (node.inputs[i] where "
                "node.parents[i] is None)",
                problem=f"a key is {type(leaf).__name__} {leaf!r}",
            )
        found[id(leaf)] = as_gradient(
            context, "backward_loop", grad, leaf.shape, f"∂L/∂{leaf.name or 'leaf'}"
        )
    return found


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Trained:
    test_accuracy: float
    epochs: int
    hidden: int
    learning_rate: float
    seconds: float
    train_samples: int
    test_samples: int


def train(
    module: ModuleType,
    epochs: int = 3,
    hidden: int = 100,
    learning_rate: float = 0.5,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Trained:
    """The learner's engine trains the book's network, 64-``hidden``-10 with sigmoids and
    no biases, on scikit-learn's 8×8 digits, one sample a step, on ½Σ(t − o)²: columns as in
    the book (x of shape (64, 1)), the forward recorded by the engine with the learner's
    operations, the gradients from the learner's loop, the update from their SGD step."""
    from tinygrad_edu.data import CLASSES, batches, book_targets, load_digits
    from tinygrad_edu.training import book_network

    started = time.perf_counter()
    context = Context(task=6, module=module)  # 6: the training run, after the five tasks
    ops = LearnerFunctions(context)
    chain_rule = ChainRule(context, learner_sum_back(context))
    split = load_digits(seed=0)
    rng = np.random.default_rng(seed)
    model = book_network(split.train_inputs.shape[1], hidden, CLASSES, rng=rng)
    w_ih = model[0].weight.data.copy()  # type: ignore[attr-defined]
    w_ho = model[2].weight.data.copy()  # type: ignore[attr-defined]
    if log is not None:
        log(
            f"your engine trains the book's network {w_ih.shape[1]}-{hidden}-{CLASSES} "
            f"(sigmoids, no biases) on {len(split.train_inputs)}\nof scikit-learn's 8×8 "
            f"digits: {epochs} epochs, one sample a step, α = {learning_rate}, L = ½Σ(t − o)²"
        )
    accuracy = float("nan")
    for epoch in range(1, epochs + 1):
        for inputs, labels in batches(split.train_inputs, split.train_labels, 1, rng):
            weights_ih = Tensor(w_ih, requires_grad=True, name="W_ih")
            weights_ho = Tensor(w_ho, requires_grad=True, name="W_ho")
            x = Tensor(inputs.T)  # (64, 1): the book's column
            targets = Tensor(book_targets(labels, CLASSES).T)  # (10, 1)
            hidden_outputs = ops.Sigmoid.apply(ops.MatMul.apply(weights_ih, x))
            outputs = ops.Sigmoid.apply(ops.MatMul.apply(weights_ho, hidden_outputs))
            loss = 0.5 * ops.SquaredError.apply(outputs, targets)
            chain_rule.calls.clear()
            grads = run_loop(context, loss, chain_rule)
            w_ih = _stepped(context, w_ih, grads.get(id(weights_ih)), learning_rate)
            w_ho = _stepped(context, w_ho, grads.get(id(weights_ho)), learning_rate)
        _, outputs_test = textbook.forward(w_ih, w_ho, split.test_inputs.T)
        accuracy = float(np.mean(np.argmax(outputs_test, axis=0) == split.test_labels))
        if log is not None:
            log(f"  epoch {epoch}/{epochs}: test accuracy {accuracy:.4f}")
    return Trained(
        test_accuracy=accuracy,
        epochs=epochs,
        hidden=hidden,
        learning_rate=learning_rate,
        seconds=time.perf_counter() - started,
        train_samples=len(split.train_inputs),
        test_samples=len(split.test_inputs),
    )


def _stepped(
    context: Context, weights: np.ndarray, grad: np.ndarray | None, learning_rate: float
) -> np.ndarray:
    if grad is None:
        raise context.fail(
            "your backward_loop gave no gradient for a weight matrix",
            "every leaf that requires grad must be in the dict backward_loop returns",
        )
    new = call(context, "sgd_step", weights, grad, learning_rate)
    return as_gradient(context, "sgd_step", new, weights.shape, "the new weights").copy()
