"""Reference solutions of the build-it-yourself tasks: a ``my_engine.py`` that passes them all.

The same five functions as the scaffold (`tinygrad_edu.tasks.scaffold`), filled in.
``tinygrad-edu tasks check`` grades a copy of this file like any learner's; the tests hold
that it passes every task.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinygrad_edu import Tensor
from tinygrad_edu.autograd import Node

ChainRule = Callable[[Node, np.ndarray], tuple[np.ndarray | None, ...]]
"""What ``chain_rule`` is: (node, ∂L/∂output) → one ∂L/∂input per input (None: none)."""


def sigmoid_backward(y: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """∂L/∂x = grad · y(1 − y), y = σ(x)."""
    return grad * y * (1 - y)


def squared_error_backward(o: np.ndarray, t: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """∂L/∂o = grad · (−2(t − o)) for E = Σ(t − o)²."""
    return grad * -2 * (t - o)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum grad over the axes that broadcasting added or stretched from 1."""
    added = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(added)))
    stretched = tuple(axis for axis, n in enumerate(shape) if n == 1 and grad.shape[axis] != 1)
    return grad.sum(axis=stretched, keepdims=True)


def matmul_backward(
    a: np.ndarray, b: np.ndarray, grad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(∂L/∂A, ∂L/∂B) = (G · Bᵀ, Aᵀ · G), each summed back to its operand's shape."""
    return unbroadcast(grad @ b.mT, a.shape), unbroadcast(a.mT @ grad, b.shape)


def backward_loop(loss: Tensor, chain_rule: ChainRule) -> dict[Tensor, np.ndarray]:
    """Kahn's algorithm: count each node's consumers, run a node when all have sent."""
    root = loss.grad_fn
    assert root is not None, "the loss must be computed from tensors that require grad"
    consumers: dict[Node, int] = {}  # node -> how many edges come into it from above
    stack, seen = [root], {root}
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if parent is None:
                continue
            consumers[parent] = consumers.get(parent, 0) + 1
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)

    arrived = {root: np.ones_like(loss.data)}  # node -> the sum of what was sent to it so far
    leaf_grads: dict[Tensor, np.ndarray] = {}
    ready = [root]
    while ready:
        node = ready.pop()
        input_grads = chain_rule(node, arrived.pop(node))
        for tensor, parent, grad in zip(node.inputs, node.parents, input_grads, strict=True):
            if parent is None:  # a leaf: its gradient is part of the answer
                if grad is not None:
                    leaf_grads[tensor] = leaf_grads[tensor] + grad if tensor in leaf_grads else grad
                continue
            if grad is not None:
                arrived[parent] = arrived[parent] + grad if parent in arrived else grad
            consumers[parent] -= 1  # one consumer fewer to wait for
            if consumers[parent] == 0:
                ready.append(parent)
    return leaf_grads


def sgd_step(weights: np.ndarray, grad: np.ndarray, learning_rate: float) -> np.ndarray:
    """new wⱼₖ = old wⱼₖ − α · ∂E/∂wⱼₖ."""
    return weights - learning_rate * grad
