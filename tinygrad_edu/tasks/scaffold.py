"""My engine: backpropagation, built by hand.

Fill in the five functions below, in order. After each one, check your work from this
folder (or give the folder with --dir):

    tinygrad-edu tasks check 1      # task 1 only; 2 for tasks 1 and 2, and so on
    tinygrad-edu tasks check        # every task, stopping at the first that fails

The checker plugs your functions into tinygrad_edu's engine and compares what they compute
with the book's formulas, with finite differences and with random inputs (Hypothesis). For
the first wrong number it shows the input, the element, what was expected, what you got,
and a hint. When all five tasks pass, your engine trains the book's network on the 8×8
digits and the checker prints its test accuracy.

The notation is that of T. Rashid's "Make Your Own Neural Network" (the book, whose
formulas are quoted from a reader's notes on its pages 80–100): a node's output is
o = σ(x), the sigmoid of its weighted input x = Σⱼ wⱼₖ · oⱼ; t is a target, e = t − o an
error, α the learning rate. L is whatever sits at the top of the graph: the book's
E = Σ(t − o)², or ½E, whose gradient the book's update formulas are (the book drops the 2
of the square's derivative). Every function takes and returns numpy arrays. ``grad`` is
always ∂L/∂(the operation's output), the gradient arriving from above; it is read-only, so
make new arrays (``grad * y``), never change it in place (``grad *= y``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinygrad_edu import Tensor
from tinygrad_edu.autograd import Node

ChainRule = Callable[[Node, np.ndarray], tuple[np.ndarray | None, ...]]
"""What ``chain_rule`` is: (node, ∂L/∂output) → one ∂L/∂input per input (None: none)."""

# --------------------------------------------------------------------------- task 1


def sigmoid_backward(y: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Task 1: the backward of the sigmoid, y = σ(x), element by element.

    ``y`` is the output the forward computed (the book's o = σ(x)); ``grad`` is ∂L/∂y,
    of y's shape. Return ∂L/∂x, of the same shape: the slope of the sigmoid,
    σ(x)(1 − σ(x)) = y(1 − y), times the gradient arriving from above.
    """
    raise NotImplementedError("task 1: sigmoid_backward")


# --------------------------------------------------------------------------- task 2


def squared_error_backward(o: np.ndarray, t: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Task 2: the backward of the squared error E = Σ(t − o)², summed over every element.

    ``o`` are the outputs, ``t`` the targets (numpy broadcasts t to o's shape), ``grad`` is
    the number ∂L/∂E arriving from above (1 when L is E itself, ½ when L = ½E). Return
    ∂L/∂o, of o's shape: grad · ∂E/∂o, with ∂E/∂o = −2(t − o), the factor 2 included, as
    the book writes it in its first step (before it drops the 2).
    """
    raise NotImplementedError("task 2: squared_error_backward")


# --------------------------------------------------------------------------- task 3


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Task 3, first part: sum ``grad`` back down to ``shape``.

    When numpy broadcasts an operand (a bias of shape (3,) added to every row of a (2, 3)
    matrix, a (3, 1) column stretched along its axis of length 1), the operand is copied,
    and each copy receives its own gradient. The operand's gradient is the sum over its
    copies: sum over the leading axes that broadcasting added, and over the axes where
    ``shape`` has a 1 but ``grad`` does not (keep those axes, with length 1). Return an
    array of shape ``shape``; a ``grad`` that already has that shape comes back unchanged.
    """
    raise NotImplementedError("task 3: unbroadcast")


def matmul_backward(
    a: np.ndarray, b: np.ndarray, grad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Task 3: the backward of the matrix product Y = A · B (numpy's ``a @ b``).

    ``a`` and ``b`` are matrices, or stacks of matrices whose leading (batch) axes numpy
    broadcasts; ``grad`` is ∂L/∂Y, of Y's shape. Return the pair (∂L/∂A, ∂L/∂B):

        ∂L/∂A = G · Bᵀ        ∂L/∂B = Aᵀ · G        (G = grad)

    each summed back to its operand's shape with your ``unbroadcast`` (a matrix used by
    every matrix of a stack gets the sum of their gradients). The second one is the book's
    error_hidden = Wₕₒᵀ · error_output: for Y = Wₕₒ · Oⱼ, the gradient flows back to the
    hidden outputs Oⱼ through the transpose of the weights. For a stack, ``x.mT`` is the
    transpose of each of its matrices (``x.T`` would reverse every axis).
    """
    raise NotImplementedError("task 3: matmul_backward")


# --------------------------------------------------------------------------- task 4


def backward_loop(loss: Tensor, chain_rule: ChainRule) -> dict[Tensor, np.ndarray]:
    """Task 4: the backward pass over a whole graph, from ``loss`` down to the leaves.

    ``loss`` is a tinygrad_edu Tensor with one element, and ``loss.grad_fn`` the node that
    computed it. Every node has:

        node.parents   for each input of the operation, the node that computed it, or
                       None for a leaf (a weight, an input, a target, a constant)
        node.inputs    the input tensors themselves, in the same order

    ``chain_rule(node, g)`` is one node's own chain rule: given g = ∂L/∂(the node's
    output), it returns a tuple with one gradient per input, ∂L/∂input, already in that
    input's shape, or None where an input needs none. Start from ∂L/∂loss = 1
    (``np.ones_like(loss.data)``).

    Return a dict {leaf tensor: ∂L/∂leaf} for every leaf that received a gradient.

    Two rules make it right:

    - order: run a node only once every node that consumes its output has sent it its
      part, so that its gradient is complete (count each node's consumers first; a node
      is ready when its count reaches 0: a topological order, as in Kahn's algorithm);
    - add: where paths meet, the gradients add up. A value used twice (x in x·x + x) gets
      the sum of what each use sends, as a hidden node of the book collects the errors of
      every output node it feeds.
    """
    raise NotImplementedError("task 4: backward_loop")


# --------------------------------------------------------------------------- task 5


def sgd_step(weights: np.ndarray, grad: np.ndarray, learning_rate: float) -> np.ndarray:
    """Task 5: one step of gradient descent, for every weight of a matrix at once.

    The book's update: new wⱼₖ = old wⱼₖ − α · ∂E/∂wⱼₖ, with α = ``learning_rate`` and
    ``grad`` = ∂L/∂W, of the weights' shape. Return the new weights.
    """
    raise NotImplementedError("task 5: sgd_step")
