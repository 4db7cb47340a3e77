"""Finite differences: the independent check of every gradient the engine computes.

``numerical_gradient`` nudges one input element at a time by ±eps and measures how the
output moves — the definition of a partial derivative, with no chain rule involved:

    ∂f/∂xᵢ ≈ (f(x + eps·eᵢ) − f(x − eps·eᵢ)) / (2·eps)

(central differences: the error shrinks like eps², not eps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_edu.autograd import no_grad
from tinygrad_edu.tensor import Tensor


def _scalar_value(fn: Callable[..., Any], inputs: list[Tensor]) -> float:
    result = fn(*inputs)
    values = np.asarray(result.data if isinstance(result, Tensor) else result)
    if values.size != 1:
        raise ValueError(
            f"numerical_gradient: fn must return one number (a Tensor with one element), but "
            f"it returned shape {values.shape}; reduce it first, e.g. (fn(x) * weights).sum()"
        )
    return float(values.reshape(()))


def numerical_gradient(
    fn: Callable[..., Any], *inputs: Tensor | np.ndarray, eps: float = 1e-6
) -> list[np.ndarray]:
    """Central-difference estimate of ∂fn/∂input for each input, one array per input.

    ``fn(*inputs)`` must return a Tensor (or number) with a single element. Inputs may be
    Tensors or arrays and must be float64: in float32 a step of 1e-6 is lost in rounding.
    Each input is restored exactly afterwards.
    """
    if eps <= 0:
        raise ValueError(f"numerical_gradient: eps must be positive, got {eps}")
    tensors = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    for i, t in enumerate(tensors):
        if t.dtype != np.float64:
            raise TypeError(
                f"numerical_gradient: input {i} has dtype {t.dtype}; finite differences need "
                "float64 (in float32 a step of 1e-6 is lost in rounding)"
            )
    gradients = []
    with no_grad():
        for t in tensors:
            original = t.data
            gradient = np.zeros(original.shape, dtype=np.float64)
            try:
                for index in np.ndindex(original.shape):
                    nudged = original.copy()
                    nudged[index] = original[index] + eps
                    t.data = nudged
                    above = _scalar_value(fn, tensors)
                    nudged[index] = original[index] - eps
                    below = _scalar_value(fn, tensors)
                    gradient[index] = (above - below) / (2 * eps)
            finally:
                t.data = original
            gradients.append(gradient)
    return gradients
