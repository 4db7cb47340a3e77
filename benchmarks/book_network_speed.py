"""Training-step speed on the book's own network, 784-200-10, against hand-written numpy.

The network of *Make Your Own Neural Network*: 784 inputs, 200 sigmoid hidden nodes, 10
sigmoid outputs, no biases, loss Σ(t − o)², plain SGD. Contenders, each doing the same
step from the same weights (checked before timing):

- numpy: written by hand from the closed forms — the book's column layout with ``np.dot``
  at batch 1, rows (batch, features) at larger batches;
- tinygrad_edu, raw: the way a user writes it, ``x @ W.T``, ``.sigmoid()``,
  ``((t - o) ** 2).sum()``, ``optim.SGD``;
- tinygrad_edu, nn: ``nn.Sequential`` of bias-free ``nn.Linear`` and ``nn.Sigmoid``,
  ``nn.squared_error``;
- tinygrad_edu replay, raw and nn: the same two step functions given to
  ``replay.trace``, which records the step once and replays it on arrays
  (``docs/replay.md``), with ``keep_grad=False`` (the gradients are used up by the
  update, as in the numpy step); "replay raw+grad" keeps ``.grad`` as the eager engine
  does;
- "replay nn unfused": "replay nn" with its one fused kernel switched off
  (``Trace.fused_update``), to measure what that kernel buys;
- PyTorch eager, when it is installed (skipped otherwise), with ``--torch-threads`` threads
  (1 by default: on the shared 2-core machine of docs/performance.md, 2 threads were
  several times slower).

Rounds are interleaved (every contender once per round) so that a busy machine slows all
of them alike; each round gives a ratio to numpy, and the table shows the medians.
Run: python benchmarks/book_network_speed.py [--rounds N] [--dtypes float64,float32]
"""

from __future__ import annotations

import argparse
import os

# One thread for every contender (set before numpy loads its BLAS): a fair per-step
# comparison, and stable on a shared 2-core machine.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from tinygrad_edu import Tensor, nn, replay  # noqa: E402
from tinygrad_edu.optim import SGD  # noqa: E402

INPUTS, HIDDEN, OUTPUTS, LR = 784, 200, 10, 0.01
STEPS = {1: 300, 64: 40, 256: 12}  # steps per timed block, about the same time each

Step = Callable[[np.ndarray, np.ndarray], object]
Weights = Callable[[], tuple[np.ndarray, np.ndarray]]


def initial_weights(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    w_ih = rng.normal(0, INPUTS**-0.5, (HIDDEN, INPUTS)).astype(dtype)
    w_ho = rng.normal(0, HIDDEN**-0.5, (OUTPUTS, HIDDEN)).astype(dtype)
    return w_ih, w_ho


def book_model(dtype: str) -> nn.Sequential:
    """The network as ``nn`` layers of the benchmark's dtype, from the same weights."""
    w_ih, w_ho = initial_weights(dtype)
    model = nn.Sequential(
        nn.Linear(INPUTS, HIDDEN, bias=False, dtype=dtype),
        nn.Sigmoid(),
        nn.Linear(HIDDEN, OUTPUTS, bias=False, dtype=dtype),
        nn.Sigmoid(),
    )
    model.load_state_dict({"0.weight": w_ih, "2.weight": w_ho})
    return model


def batches(batch: int, dtype: str, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inputs scaled as the book scales pixels, targets 0.01/0.99, rows are samples."""
    rng = np.random.default_rng(1)
    data = []
    for _ in range(count):
        x = rng.integers(0, 256, (batch, INPUTS)) / 255 * 0.99 + 0.01
        t = np.full((batch, OUTPUTS), 0.01)
        t[np.arange(batch), rng.integers(0, OUTPUTS, batch)] = 0.99
        data.append((x.astype(dtype), t.astype(dtype)))
    return data


def numpy_contender(dtype: str, batch: int) -> tuple[Step, Weights]:
    w_ih, w_ho = initial_weights(dtype)
    one = np.asarray(1, dtype)

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return one / (one + np.exp(-z))

    def column_step(x: np.ndarray, t: np.ndarray) -> None:  # the book's layout, batch 1
        x, t = x.T, t.T  # (784, 1), (10, 1)
        hidden = sigmoid(np.dot(w_ih, x))  # (200, 1)
        out = sigmoid(np.dot(w_ho, hidden))  # (10, 1)
        delta_out = 2 * (out - t) * out * (one - out)
        delta_hidden = np.dot(w_ho.T, delta_out) * hidden * (one - hidden)
        w_ho[...] -= LR * np.dot(delta_out, hidden.T)
        w_ih[...] -= LR * np.dot(delta_hidden, x.T)

    def row_step(x: np.ndarray, t: np.ndarray) -> None:
        hidden = sigmoid(x @ w_ih.T)  # (B, 200)
        out = sigmoid(hidden @ w_ho.T)  # (B, 10)
        delta_out = 2 * (out - t) * out * (one - out)
        delta_hidden = (delta_out @ w_ho) * hidden * (one - hidden)
        w_ho[...] -= LR * (delta_out.T @ hidden)
        w_ih[...] -= LR * (delta_hidden.T @ x)

    return (column_step if batch == 1 else row_step), lambda: (w_ih, w_ho)


def raw_contender(dtype: str, batch: int) -> tuple[Step, Weights]:
    arrays = initial_weights(dtype)
    w_ih = Tensor(arrays[0], requires_grad=True)
    w_ho = Tensor(arrays[1], requires_grad=True)
    optimizer = SGD([w_ih, w_ho], lr=LR)

    def step(x: np.ndarray, t: np.ndarray) -> None:
        hidden = (Tensor(x) @ w_ih.T).sigmoid()
        out = (hidden @ w_ho.T).sigmoid()
        loss = ((Tensor(t) - out) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, lambda: (w_ih.data, w_ho.data)


def nn_contender(dtype: str, batch: int) -> tuple[Step, Weights]:
    model = book_model(dtype)
    optimizer = SGD(model.parameters(), lr=LR)
    first, second = model.parameters()

    def step(x: np.ndarray, t: np.ndarray) -> None:
        loss = nn.squared_error(model(Tensor(x)), Tensor(t))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, lambda: (first.data, second.data)


def replay_raw_contender(dtype: str, batch: int, keep_grad: bool = False) -> tuple[Step, Weights]:
    arrays = initial_weights(dtype)
    w_ih = Tensor(arrays[0], requires_grad=True)
    w_ho = Tensor(arrays[1], requires_grad=True)

    def loss_fn(x: Tensor, t: Tensor) -> Tensor:
        hidden = (x @ w_ih.T).sigmoid()
        out = (hidden @ w_ho.T).sigmoid()
        return ((t - out) ** 2).sum()

    step = replay.trace(loss_fn, SGD([w_ih, w_ho], lr=LR), keep_grad=keep_grad)
    return step, lambda: (w_ih.data, w_ho.data)


def replay_raw_grad_contender(dtype: str, batch: int) -> tuple[Step, Weights]:
    return replay_raw_contender(dtype, batch, keep_grad=True)


def replay_nn_contender(dtype: str, batch: int, fused: bool = True) -> tuple[Step, Weights]:
    model = book_model(dtype)
    first, second = model.parameters()
    step = replay.trace(
        lambda x, t: nn.squared_error(model(x), t),
        SGD(model.parameters(), lr=LR),
        keep_grad=False,
    )
    step.fused_update = fused
    return step, lambda: (first.data, second.data)


def replay_nn_unfused_contender(dtype: str, batch: int) -> tuple[Step, Weights]:
    """The replay without its one fused kernel (the update that makes Gᵀ·X itself)."""
    return replay_nn_contender(dtype, batch, fused=False)


TORCH_THREADS = [1]  # --torch-threads


def torch_contender(dtype: str, batch: int) -> tuple[Step, Weights] | None:
    try:
        import torch
    except ImportError:
        return None
    arrays = initial_weights(dtype)
    w_ih = torch.tensor(arrays[0], requires_grad=True)
    w_ho = torch.tensor(arrays[1], requires_grad=True)
    optimizer = torch.optim.SGD([w_ih, w_ho], lr=LR)

    torch.set_num_threads(TORCH_THREADS[0])

    def step(x: np.ndarray, t: np.ndarray) -> None:
        hidden = torch.sigmoid(torch.from_numpy(x) @ w_ih.T)
        out = torch.sigmoid(hidden @ w_ho.T)
        loss = ((torch.from_numpy(t) - out) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, lambda: (w_ih.detach().numpy(), w_ho.detach().numpy())


CONTENDERS = {
    "numpy": numpy_contender,
    "tinygrad_edu raw": raw_contender,
    "tinygrad_edu nn": nn_contender,
    "replay raw": replay_raw_contender,
    "replay nn": replay_nn_contender,
    "replay raw+grad": replay_raw_grad_contender,
    "replay nn unfused": replay_nn_unfused_contender,
    "PyTorch eager": torch_contender,
}


def check_same_weights(dtype: str, batch: int) -> None:
    """Every contender takes the same three steps to the same weights."""
    data = batches(batch, dtype, 3)
    results = {}
    for name, make in CONTENDERS.items():
        made = make(dtype, batch)
        if made is None:
            continue
        step, weights = made
        for x, t in data:
            step(x, t)
        results[name] = weights()
    reference = results["numpy"]
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    for name, (w_ih, w_ho) in results.items():
        for mine, theirs in ((w_ih, reference[0]), (w_ho, reference[1])):
            if not np.allclose(mine, theirs, rtol=tolerance, atol=tolerance):
                raise SystemExit(f"{name} ({dtype}, batch {batch}) took a different step")


def time_block(step: Step, data: list[tuple[np.ndarray, np.ndarray]]) -> float:
    start = time.perf_counter()
    for x, t in data:
        step(x, t)
    return (time.perf_counter() - start) / len(data) * 1e6


def run(dtype: str, batch: int, rounds: int, names: list[str]) -> dict[str, tuple[float, float]]:
    check_same_weights(dtype, batch)
    data = batches(batch, dtype, STEPS[batch])
    steps = {name: CONTENDERS[name](dtype, batch) for name in names}
    ready = {name: made[0] for name, made in steps.items() if made is not None}
    for step in ready.values():  # warm up: caches, allocator, first-call costs
        time_block(step, data[:3])
    times: dict[str, list[float]] = {name: [] for name in ready}
    ratios: dict[str, list[float]] = {name: [] for name in ready}
    for _ in range(rounds):
        this_round = {name: time_block(step, data) for name, step in ready.items()}
        for name, micros in this_round.items():
            times[name].append(micros)
            ratios[name].append(micros / this_round["numpy"])
    return {
        name: (statistics.median(times[name]), statistics.median(ratios[name])) for name in ready
    }


def peak_memory(dtype: str, batch: int, steps: int) -> dict[str, tuple[float, float]]:
    """Peak memory (MiB) of each contender over ``steps`` training steps: its weights plus
    the peak of what the steps allocate (tracemalloc sees numpy's buffers), over the whole
    run and once the first 3 steps (a replay's recording and checks) are done. Tracing
    starts after the contender is built, so building a model is not counted. The data, ten
    batches reused in turn, is made before tracing starts, as a loader would hold it.
    PyTorch is left out: tracemalloc does not see its allocator."""
    data = batches(batch, dtype, 10)
    peaks = {}
    for name, make in CONTENDERS.items():
        made = make(dtype, batch) if not name.startswith("PyTorch") else None
        if made is None:
            continue
        step, weights = made
        weight_bytes = sum(w.nbytes for w in weights())
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        whole = 0
        for i in range(steps):
            if i == 3:
                whole = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
            step(*data[i % len(data)])
        steady = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peaks[name] = tuple(
            (weight_bytes + peak - base) / 2**20 for peak in (max(whole, steady), steady)
        )
        del made, step, weights
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--batches", default="1,64,256")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="which to time, comma-separated (numpy is always timed: the ratios are to it)",
    )
    parser.add_argument(
        "--memory", type=int, metavar="STEPS", help="report peak memory over STEPS steps instead"
    )
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    TORCH_THREADS[0] = args.torch_threads
    if args.memory:
        print(
            f"peak traced memory over {args.memory} steps, MiB: whole run / after the first 3 "
            "steps, and in brackets their ratios to numpy's"
        )
        for dtype in args.dtypes.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                peaks = peak_memory(dtype, batch, args.memory)
                whole_np, steady_np = peaks["numpy"]
                cells = [
                    f"{n} {whole:.1f}/{steady:.1f} "
                    f"({whole / whole_np:.2f}/{steady / steady_np:.2f})"
                    for n, (whole, steady) in peaks.items()
                ]
                print(f"{dtype} batch {batch:>3}: " + " | ".join(cells), flush=True)
        return
    print("µs per training step (median of rounds); in brackets the median ratio to numpy")
    for dtype in args.dtypes.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            names = ["numpy", *(n for n in args.contenders.split(",") if n != "numpy")]
            result = run(dtype, batch, args.rounds, names)
            cells = [f"{name} {us:8.0f} ({ratio:.2f})" for name, (us, ratio) in result.items()]
            print(f"{dtype} batch {batch:>3}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
