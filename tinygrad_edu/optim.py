"""Optimizers: they read each parameter's ``.grad`` and update its ``.data`` in place.

``p.data -= update`` assigns ``.data`` (Python's augmented assignment on an attribute), so
each step bumps the parameter's version: a backward through a graph recorded before the
step is refused instead of silently using the new values.

The update rules are PyTorch's (``torch.optim.SGD`` and ``torch.optim.Adam``), so the same
inputs give the same numbers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from tinygrad_edu.tensor import Tensor


class Optimizer:
    """Holds the parameters; ``step()`` updates those that have a gradient."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors, such as [w] or "
                "model.parameters(), not one Tensor"
            )
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: got no parameters to optimize (an empty list)")
        seen: set[int] = set()
        for index, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise ValueError(
                    f"{name}: parameter {index} must be a leaf Tensor that requires grad, got {p!r}"
                )
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {index} appears twice")
            seen.add(id(p))
        _check_number(name, "the learning rate lr", lr)
        if not lr >= 0:
            raise ValueError(f"{name}: the learning rate must be ≥ 0, got {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        raise NotImplementedError

    def _gradients(self) -> list[tuple[int, Tensor, np.ndarray]]:
        """(index, parameter, gradient) for the parameters that have one, checked first so
        that a bad gradient raises before any parameter changes."""
        found = []
        for index, p in enumerate(self.params):
            if p.grad is None:
                continue
            if p.grad.shape != p.shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {index} has shape {p.shape} but its "
                    f".grad has shape {p.grad.shape}"
                )
            found.append((index, p, p.grad))
        return found


def _check_number(optimizer: str, option: str, value: object) -> None:
    """A real number (not a bool, not a string such as "0.1"), checked before comparing it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{optimizer}: {option} must be a number, got {value!r}")


class SGD(Optimizer):
    """Stochastic gradient descent: w ← w − lr·g, with PyTorch's options.

    g = ∂L/∂w + weight_decay·w; with momentum μ the step uses
    b ← μ·b + (1 − dampening)·g (b = g at the first step), and g ← b, or g + μ·b with
    ``nesterov=True``.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        for option, value in (
            ("momentum", momentum),
            ("weight_decay", weight_decay),
            ("dampening", dampening),
        ):
            _check_number("SGD", option, value)
        if not momentum >= 0:
            raise ValueError(f"SGD: momentum must be ≥ 0, got {momentum}")
        if not weight_decay >= 0:
            raise ValueError(f"SGD: weight_decay must be ≥ 0, got {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        self.momentum, self.nesterov = momentum, nesterov
        self.weight_decay, self.dampening = weight_decay, dampening
        self.momentum_buffers: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        for index, p, grad in self._gradients():
            if self.weight_decay:
                grad = grad + self.weight_decay * p.data
            if self.momentum:
                buffer = self.momentum_buffers[index]
                if buffer is None:
                    buffer = grad.copy()
                else:
                    buffer = self.momentum * buffer + (1 - self.dampening) * grad
                self.momentum_buffers[index] = buffer
                grad = grad + self.momentum * buffer if self.nesterov else buffer
            data = p.data
            subtract_scaled(data, self.lr, grad)
            p.data = data  # assigning .data is what makes the step a new version


# About how many numbers one block of `subtract_scaled` covers: 128 kB in float64.
_BLOCK = 16384


def subtract_scaled(w: np.ndarray, lr: float, g: np.ndarray) -> None:
    """w ← w − lr·g in place, a block of rows at a time: the same numbers as
    ``w -= lr * g``, element by element, without making lr·g whole. For the book's 784 × 200
    weights that is a 1.25 MB array (float64) less to allocate, fill and free on every
    step; one block-sized buffer does instead, and stays in the processor's cache."""
    if w.ndim < 2 or w.size <= _BLOCK:
        w -= lr * g
        return
    rows = max(1, _BLOCK * len(w) // w.size)
    buffer = np.empty((min(rows, len(w)), *w.shape[1:]), np.result_type(w, lr * g[:1]))
    for start in range(0, len(w), rows):
        part = buffer[: min(rows, len(w) - start)]
        np.multiply(g[start : start + rows], lr, out=part)
        target = w[start : start + rows]
        target -= part


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's form: with g = ∂L/∂w + weight_decay·w at step t,
    m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², w ← w − lr·m̂ / (√v̂ + eps),
    where m̂ = m / (1 − β₁ᵗ) and v̂ = v / (1 − β₂ᵗ)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)):
            raise TypeError(f"Adam: betas must be a pair of numbers, got {betas!r}")
        if len(betas) != 2:
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas}")
        for option, value in (
            ("betas[0]", betas[0]),
            ("betas[1]", betas[1]),
            ("eps", eps),
            ("weight_decay", weight_decay),
        ):
            _check_number("Adam", option, value)
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"Adam: eps must be ≥ 0, got {eps}")
        if not weight_decay >= 0:
            raise ValueError(f"Adam: weight_decay must be ≥ 0, got {weight_decay}")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.steps = [0] * len(self.params)
        self.first_moments = [np.zeros_like(p.data) for p in self.params]
        self.second_moments = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        beta1, beta2 = self.betas
        for index, p, grad in self._gradients():
            if self.weight_decay:
                grad = grad + self.weight_decay * p.data
            self.steps[index] += 1
            t = self.steps[index]
            m = self.first_moments[index]
            v = self.second_moments[index]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            # PyTorch's arrangement of lr·m̂/(√v̂ + eps): the same value, the same rounding.
            bias_correction1 = 1 - beta1**t
            bias_correction2 = 1 - beta2**t
            denominator = np.sqrt(v) / math.sqrt(bias_correction2) + self.eps
            p.data -= (self.lr / bias_correction1) * m / denominator
