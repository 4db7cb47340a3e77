"""Training speed of the book's network: tinygrad_edu against hand-written numpy (and
PyTorch eager, when it is installed).

Each contender does the same work: one epoch over 1,438 digit images of the book's
64-100-10 sigmoid network, gradient descent on ½Σ(t − o)², batch size 1 (the book's
setting) and 32. Reports microseconds per step, median of several repeats.
Run: python benchmarks/speed.py
"""

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from tinygrad_edu import Tensor
from tinygrad_edu.data import batches, book_targets, load_digits
from tinygrad_edu.optim import SGD
from tinygrad_edu.training import book_network

LR, HIDDEN, REPEATS = 0.5, 100, 5


def numpy_epoch(split, batch_size: int) -> Callable[[], None]:
    """The exact gradient, written out by hand (rows are samples)."""
    rng = np.random.default_rng(0)
    w_ih = rng.normal(0, 64**-0.5, (HIDDEN, 64))
    w_ho = rng.normal(0, HIDDEN**-0.5, (10, HIDDEN))
    data = list(batches(split.train_inputs, split.train_labels, batch_size))
    prepared = [(x, book_targets(y)) for x, y in data]

    def run() -> None:
        nonlocal w_ih, w_ho
        for x, t in prepared:
            hidden = 1 / (1 + np.exp(-(x @ w_ih.T)))
            out = 1 / (1 + np.exp(-(hidden @ w_ho.T)))
            delta_out = (out - t) * out * (1 - out) / len(x)
            delta_hidden = (delta_out @ w_ho) * hidden * (1 - hidden)
            w_ho -= LR * delta_out.T @ hidden
            w_ih -= LR * delta_hidden.T @ x

    return run


def tinygrad_edu_epoch(split, batch_size: int) -> Callable[[], None]:
    model = book_network(64, HIDDEN, 10, rng=0)
    optimizer = SGD(model.parameters(), lr=LR)
    data = list(batches(split.train_inputs, split.train_labels, batch_size))
    prepared = [(x, book_targets(y)) for x, y in data]

    def run() -> None:
        for x, t in prepared:
            loss = 0.5 * model(Tensor(x)).squared_error(t) / len(x)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

    return run


def torch_epoch(split, batch_size: int) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN, bias=False),
        torch.nn.Sigmoid(),
        torch.nn.Linear(HIDDEN, 10, bias=False),
        torch.nn.Sigmoid(),
    ).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    data = list(batches(split.train_inputs, split.train_labels, batch_size))
    prepared = [(torch.from_numpy(x), torch.from_numpy(book_targets(y))) for x, y in data]

    def run() -> None:
        for x, t in prepared:
            loss = 0.5 * ((model(x) - t) ** 2).sum() / len(x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return run


def main() -> int:
    split = load_digits()
    print(
        f"one epoch of 64-{HIDDEN}-10 on {len(split.train_inputs)} digits, float64, "
        f"median of {REPEATS}"
    )
    for batch_size in (1, 32):
        steps = -(-len(split.train_inputs) // batch_size)
        timings = {}
        for name, make in (
            ("numpy by hand", numpy_epoch),
            ("tinygrad_edu", tinygrad_edu_epoch),
            ("PyTorch eager", torch_epoch),
        ):
            run = make(split, batch_size)
            if run is None:
                print(f"  batch {batch_size:2d}  {name:14s} not installed, skipped")
                continue
            run()  # warm up
            samples = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                run()
                samples.append(time.perf_counter() - start)
            timings[name] = statistics.median(samples) / steps * 1e6
        base = timings["numpy by hand"]
        for name, micros in timings.items():
            print(
                f"  batch {batch_size:2d}  {name:14s} {micros:8.1f} µs/step  "
                f"({micros / base:.1f}× numpy)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
