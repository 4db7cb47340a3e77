"""Solutions to the exercises of chapter 5, "What backward() does"."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tinygrad_edu import Tensor, autograd
from tinygrad_edu.autograd import Node


def by_hand() -> tuple[list[str], list[float]]:
    """Exercise 1: z = (x + 1) · x at x = 2. The engine runs the sum, then the product,
    then the addition; x collects x + 1 = 3 from the product and x = 2 through the addition:
    3 + 2 = 5 = 2x + 1. Returns the node names in the engine's order and x's contributions,
    in the order they arrive."""
    x = Tensor([2.0], requires_grad=True)
    z = ((x + 1) * x).sum()
    order, contributions = [], []
    for step in autograd.backward_steps(z):
        order.append(step.node.name)
        for t, g in zip(step.node.inputs, step.input_grads, strict=True):
            if t is x and g is not None:
                contributions.append(float(g[0]))
    return order, contributions


def my_order(loss: Tensor) -> list[Node]:
    """Exercise 2: Kahn's algorithm on the consumer counts. A node is taken once all its
    consumers have been taken; taking it counts one consumer off each of its parents."""
    waiting = autograd.consumer_counts([loss])
    ready = [node for node, count in waiting.items() if count == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in node.parents:
            if parent is not None:
                waiting[parent] -= 1
                if waiting[parent] == 0:
                    ready.append(parent)
    return order


def path_by_path(loss: Tensor) -> tuple[dict[int, np.ndarray], Counter[str]]:
    """Exercise 3: backward without waiting — each node's chain rule is applied to what one
    path brings and the result is passed on at once, recursively, so a node runs once per
    path through it. Returns each leaf's gradient (by id) and how often each node ran."""
    grads: dict[int, np.ndarray] = {}
    runs: Counter[str] = Counter()

    def visit(node: Node, grad: np.ndarray) -> None:
        runs[node.name] += 1
        for t, parent, g in zip(
            node.inputs, node.parents, autograd.input_gradients(node, grad), strict=True
        ):
            if g is None:
                continue
            if parent is None:
                grads[id(t)] = grads.get(id(t), 0) + g
            else:
                visit(parent, g)

    assert loss.grad_fn is not None
    visit(loss.grad_fn, np.ones_like(loss.data))
    return grads, runs


def layered(depth: int) -> tuple[Tensor, Tensor]:
    """x, then ``depth`` times h ← h·h + h: every layer uses the one below three times."""
    x = Tensor([0.5], requires_grad=True)
    h = x
    for _ in range(depth):
        h = h * h + h
    return x, h.sum()
