"""Solutions to the exercises of chapter 1, "One neuron"."""

from __future__ import annotations

import numpy as np

from tinygrad_edu import Tensor, grad


def tanh_slope(points: np.ndarray) -> np.ndarray:
    """Exercise 1: the slope of tanh at every point, found by ``backward()``.

    The gradient of Σ tanh(xᵢ) with respect to x is tanh′(xᵢ) element by element, because
    each term depends on its own xᵢ only.
    """
    x = Tensor(np.asarray(points, dtype=np.float64), requires_grad=True)
    x.tanh().sum().backward()
    return x.grad


def sigmoid_second_derivative(points: np.ndarray) -> np.ndarray:
    """Exercise 2: σ″(x), the derivative of the slope, by differentiating twice.

    ``create_graph=True`` records the backward pass, so the slope is a Tensor with a graph
    that can be differentiated again. σ″ is zero at x = 0, where the slope σ′ is largest.
    """
    x = Tensor(np.asarray(points, dtype=np.float64), requires_grad=True)
    (slope,) = grad(x.sigmoid().sum(), x, create_graph=True)
    assert slope is not None
    (curvature,) = grad(slope.sum(), x)
    assert curvature is not None
    return curvature.data


def neuron_weight_gradient(weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Exercise 3: ∂o/∂w for the neuron o = σ(w · x) (w a row, x a column), by autodiff."""
    w = Tensor(np.asarray(weights, dtype=np.float64), requires_grad=True)
    (w @ Tensor(inputs)).sigmoid().sum().backward()
    return w.grad
