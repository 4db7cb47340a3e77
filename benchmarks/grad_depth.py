"""`grad()` against `backward()` on deep graphs: both should be linear in the graph's size.

Two shapes: a chain of sigmoids (the second derivative of σ∘σ∘…∘σ at a point) and an
RNN-style loop (h ← tanh(W·h + x), the same W used at every step). For each, the time of
the second derivative through `grad()` and through `backward()` on the first derivative's
graph, and their ratio (target: within 2×). Also the 100,000-node chain's backward
(target: under 1 s).
Run: python benchmarks/grad_depth.py
"""

import statistics
import time
from collections.abc import Callable

import numpy as np

from tinygrad_edu import Tensor, grad


def sigmoid_chain(depth: int) -> tuple[Tensor, Tensor]:
    x = Tensor(0.3, requires_grad=True)
    y = x
    for _ in range(depth):
        y = y.sigmoid()
    return x, y


def rnn_loop(steps: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(0)
    w = Tensor(rng.normal(0, 0.3, (4, 4)), requires_grad=True)
    inputs = rng.normal(0, 1, (steps, 4, 1))
    h = Tensor(np.zeros((4, 1)))
    for x in inputs:
        h = (w @ h + Tensor(x)).tanh()
    return w, h.sum()


def second_derivative_seconds(build: Callable[[], tuple[Tensor, Tensor]], how: str) -> float:
    x, y = build()
    (first,) = grad(y, x, create_graph=True)
    start = time.perf_counter()
    if how == "grad":
        grad(first.sum(), x)
    else:
        first.sum().backward()
    return time.perf_counter() - start


def median_seconds(run: Callable[[], float], repeats: int = 3) -> float:
    return statistics.median(run() for _ in range(repeats))


def main() -> None:
    print("second derivative, seconds (median of 3)")
    print(f"{'graph':<24} {'grad()':>8} {'backward()':>11} {'ratio':>6}")
    for name, build in [
        ("sigmoid chain, 4,000", lambda: sigmoid_chain(4000)),
        ("RNN loop, 4,000 steps", lambda: rnn_loop(4000)),
    ]:
        through_grad = median_seconds(lambda b=build: second_derivative_seconds(b, "grad"))
        through_backward = median_seconds(lambda b=build: second_derivative_seconds(b, "backward"))
        ratio = through_grad / through_backward
        print(f"{name:<24} {through_grad:8.3f} {through_backward:11.3f} {ratio:6.2f}")

    _, y = sigmoid_chain(100_000)
    start = time.perf_counter()
    y.backward()
    print(f"100,000-node chain, backward: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
