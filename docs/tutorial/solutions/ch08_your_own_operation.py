"""Solutions to the exercises of chapter 8, "Writing your own operation".

Each backward uses only operations that numpy arrays and Tensors share, on saved inputs
and outputs, so it also runs (recorded) under ``create_graph=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_edu import Function
from tinygrad_edu.autograd import Node


class Reciprocal(Function):
    """Exercise 1: y = 1/x.  ∂L/∂x = −g · y² (from the output alone)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        y = 1 / x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        (y,) = ctx.saved
        return -g * y * y


class Hypot(Function):
    """Exercise 2: y = √(a² + b²) element by element.  ∂L/∂a = g · a/y, ∂L/∂b = g · b/y.

    Both inputs have the same shape here (no broadcasting, so no unbroadcast needed).
    """

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape != b.shape:
            raise ValueError(f"Hypot: a and b must have the same shape, got {a.shape}, {b.shape}")
        y = np.sqrt(a * a + b * b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        a, b, y = ctx.saved
        grad_a = g * a / y if ctx.needs_input_grad[0] else None
        grad_b = g * b / y if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class SigmoidLayer(Function):
    """Exercise 3: y = σ(W · x), the book's layer as one operation (x a column or a
    matrix of columns).  With d = g ∗ y(1 − y), the chain rule gives ∂L/∂W = d · xᵀ (the
    book's update, up to −α) and ∂L/∂x = Wᵀ · d (not the book's hidden rule Wᵀ · g, E8)."""

    @staticmethod
    def forward(ctx: Node, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        y = 1 / (1 + np.exp(-(weights @ inputs)))
        ctx.save_for_backward(weights, inputs, y)
        return y

    @staticmethod
    def backward(ctx: Node, g: Any) -> tuple[Any, Any]:
        weights, inputs, y = ctx.saved
        d = g * y * (1 - y)
        grad_weights = d @ inputs.T if ctx.needs_input_grad[0] else None
        grad_inputs = weights.T @ d if ctx.needs_input_grad[1] else None
        return grad_weights, grad_inputs
