"""The book's experiment at full scale: its 784-200-10 sigmoid network on 60,000 images.

The book (T. Rashid, *Make Your Own Neural Network*) trains 784-200-10 on MNIST, learning rate
0.1, 5 epochs, one image a step, and reports about 0.97 test accuracy. This runs the same on
Fashion-MNIST (Debian: ``apt-get install dataset-fashion-mnist``; or any MNIST-style files,
e.g. the book's ``mnist_train.csv``/``mnist_test.csv``), with both rules:

- ``exact``: the gradient of E = ½Σ(t − o)², by autodiff;
- ``book``: the book's update, whose hidden layer receives W_hoᵀ·(t − o).

tinygrad_edu trains as ``tinygrad-edu train`` does: each step of the exact rule replayed by
`replay.trace` (``--eager``: in the plain engine). Beside it, the same loop written by hand
in numpy (same seed, so the same initial weights and the same shuffled order: the final
weights must agree to rounding, a check that both compute what they claim), and PyTorch
eager for the exact rule when it is installed.
Reports the test accuracy after each epoch and the wall time (the test evaluations
included). Last, it runs the numpy loop twice per rule for one epoch from weights that
differ by a relative 1e-15 and reports how far they drift apart: where a rule amplifies
rounding errors, tinygrad_edu and numpy (which round differently) cannot agree to rounding
at the end, and the check accepts that only when the drift shows it.

Run: python benchmarks/mnist_full.py            (full: 4 runs of 300,000 steps each)
     python benchmarks/mnist_full.py --quick    (1 epoch of 10,000 images, to try it)
     python benchmarks/mnist_full.py --rules exact --no-torch   (the replay against numpy)
"""

from __future__ import annotations

import os

# One BLAS thread for every contender (set before numpy loads its BLAS), as in
# book_network_speed.py: a fair comparison, and stable on a shared 2-core machine.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from tinygrad_edu.data import Split, load_files  # noqa: E402
from tinygrad_edu.training import BOOK_MNIST_CONFIG, TrainConfig, train  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASSES = 10

# A contender trains from seed ``config.seed`` and returns the test accuracy after each epoch
# and the final (W_ih, W_ho), or the reason it cannot run here.
Result = tuple[list[float], tuple[np.ndarray, np.ndarray]]
Contender = Callable[[TrainConfig, Split, Callable[[str], None]], Result | str]


EAGER = [False]  # --eager: tinygrad_edu's steps in the plain engine instead of replayed


def run_tinygrad_edu(config: TrainConfig, split: Split, log: Callable[[str], None]) -> Result:
    result = train(config, split, progress=False, log=log, eager=EAGER[0])
    weights = (result.model[0].weight.data, result.model[2].weight.data)  # type: ignore[attr-defined]
    return [epoch.test_accuracy for epoch in result.history], weights


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def numpy_step(
    w_ih: np.ndarray, w_ho: np.ndarray, x: np.ndarray, label: int, rule: str, lr: float
) -> None:
    """One step of the book's loop on one image (a vector), updating the weights in place."""
    t = np.full(CLASSES, 0.01)
    t[label] = 0.99
    h = sigmoid(w_ih @ x)
    o = sigmoid(w_ho @ h)
    e = t - o
    output_delta = e * o * (1 - o)
    sent_back = output_delta if rule == "exact" else e  # the book sends back e alone
    hidden_delta = (w_ho.T @ sent_back) * h * (1 - h)
    w_ho += lr * np.outer(output_delta, h)
    w_ih += lr * np.outer(hidden_delta, x)


def initial_weights(
    rng: np.random.Generator, inputs: int, hidden: int
) -> tuple[np.ndarray, np.ndarray]:
    """W_ih and W_ho from N(0, σ = n^−½) of their inputs, drawn in `training.train`'s order."""
    w_ih = rng.normal(0.0, inputs**-0.5, (hidden, inputs))
    w_ho = rng.normal(0.0, hidden**-0.5, (CLASSES, hidden))
    return w_ih, w_ho


def run_numpy(config: TrainConfig, split: Split, log: Callable[[str], None]) -> Result:
    """The book's loop by hand. The random draws are made in the order `training.train`
    makes them, so both start from the same weights and visit the images in the same
    order."""
    rng = np.random.default_rng(config.seed)
    w_ih, w_ho = initial_weights(rng, split.train_inputs.shape[1], config.hidden)
    accuracies = []
    for epoch in range(1, config.epochs + 1):
        for index in rng.permutation(len(split.train_inputs)):
            x, label = split.train_inputs[index], split.train_labels[index]
            numpy_step(w_ih, w_ho, x, label, config.rule, config.lr)
        outputs = sigmoid(sigmoid(split.test_inputs @ w_ih.T) @ w_ho.T)
        accuracies.append(float(np.mean(outputs.argmax(axis=1) == split.test_labels)))
        log(f"epoch {epoch:3d}/{config.epochs}  test accuracy {accuracies[-1]:.4f}")
    return accuracies, (w_ih, w_ho)


def rounding_sensitivity(
    config: TrainConfig, split: Split, every: int, log: Callable[[str], None]
) -> float:
    """How far two runs of the numpy loop drift apart over one epoch when their initial
    weights differ by a relative 1e-15, the size of a rounding error: the largest weight
    difference every ``every`` steps, and at the end. Where a rule amplifies rounding, two
    correct implementations that round differently part ways too."""
    rng = np.random.default_rng(config.seed)
    first = initial_weights(rng, split.train_inputs.shape[1], config.hidden)
    nudge = np.random.default_rng(1)
    second = tuple(w * (1 + 1e-15 * nudge.standard_normal(w.shape)) for w in first)
    gap = 0.0
    for step, index in enumerate(rng.permutation(len(split.train_inputs)), 1):
        x, label = split.train_inputs[index], split.train_labels[index]
        for w_ih, w_ho in (first, second):
            numpy_step(w_ih, w_ho, x, label, config.rule, config.lr)
        if step % every == 0 or step == len(split.train_inputs):
            gap = max(float(np.abs(a - b).max()) for a, b in zip(first, second, strict=True))
            log(f"after {step:6d} steps: max |weight difference| {gap:.1e}")
    return gap


def run_torch(config: TrainConfig, split: Split, log: Callable[[str], None]) -> Result | str:
    """PyTorch eager, autograd and SGD, one image a step (exact rule only: the book's rule is
    not a gradient)."""
    if config.rule != "exact":
        return "the book's rule is not a gradient: PyTorch runs the exact rule only"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    torch.set_num_threads(1)
    rng = np.random.default_rng(config.seed)
    inputs, hidden = split.train_inputs.shape[1], config.hidden
    w_ih = torch.tensor(rng.normal(0.0, inputs**-0.5, (hidden, inputs)), requires_grad=True)
    w_ho = torch.tensor(rng.normal(0.0, hidden**-0.5, (CLASSES, hidden)), requires_grad=True)
    optimizer = torch.optim.SGD([w_ih, w_ho], lr=config.lr)
    train_inputs = torch.from_numpy(split.train_inputs)
    targets = torch.full((len(split.train_labels), CLASSES), 0.01, dtype=torch.float64)
    targets[torch.arange(len(split.train_labels)), torch.from_numpy(split.train_labels)] = 0.99
    test_inputs = torch.from_numpy(split.test_inputs)
    accuracies = []
    for epoch in range(1, config.epochs + 1):
        for index in rng.permutation(len(split.train_inputs)):
            o = torch.sigmoid(w_ho @ torch.sigmoid(w_ih @ train_inputs[index]))
            loss = 0.5 * ((targets[index] - o) ** 2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            outputs = torch.sigmoid(torch.sigmoid(test_inputs @ w_ih.T) @ w_ho.T).numpy()
        accuracies.append(float(np.mean(outputs.argmax(axis=1) == split.test_labels)))
        log(f"epoch {epoch:3d}/{config.epochs}  test accuracy {accuracies[-1]:.4f}")
    return accuracies, (w_ih.detach().numpy(), w_ho.detach().numpy())


CONTENDERS: dict[str, Contender] = {
    "tinygrad_edu": run_tinygrad_edu,
    "numpy by hand": run_numpy,
    "PyTorch eager": run_torch,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch of 10,000 images")
    parser.add_argument("--train-data", type=Path, default=FASHION / "train-images-idx3-ubyte.gz")
    parser.add_argument("--test-data", type=Path, default=FASHION / "t10k-images-idx3-ubyte.gz")
    parser.add_argument("--rules", choices=["exact", "book", "both"], default="both")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--eager", action="store_true", help="tinygrad_edu without the replay")
    args = parser.parse_args(argv)
    EAGER[0] = args.eager
    rules = ("exact", "book") if args.rules == "both" else (args.rules,)
    if not args.train_data.is_file():
        print(
            f"{args.train_data} is not there: install Fashion-MNIST "
            "(apt-get install dataset-fashion-mnist) or give --train-data and --test-data"
        )
        return 1
    start = time.perf_counter()
    split = load_files(args.train_data, args.test_data)
    print(
        f"loaded {len(split.train_inputs)} training and {len(split.test_inputs)} test images "
        f"from {args.train_data.parent} in {time.perf_counter() - start:.1f} s"
    )
    epochs = BOOK_MNIST_CONFIG.epochs
    if args.quick:
        epochs, count = 1, 10_000
        split = Split(
            split.train_inputs[:count],
            split.train_labels[:count],
            split.test_inputs,
            split.test_labels,
        )
    steps = epochs * len(split.train_inputs)
    print(
        f"the book's network {split.train_inputs.shape[1]}-{BOOK_MNIST_CONFIG.hidden}-10, "
        f"lr {BOOK_MNIST_CONFIG.lr}, {epochs} epochs of {len(split.train_inputs)} images, "
        f"batch 1 ({steps} steps), seed 0, float64"
    )
    rows, finals = [], {}
    for rule in rules:
        config = TrainConfig(
            hidden=BOOK_MNIST_CONFIG.hidden, lr=BOOK_MNIST_CONFIG.lr, epochs=epochs, rule=rule
        )
        for name, contender in CONTENDERS.items():
            if args.no_torch and name == "PyTorch eager":
                continue
            print(f"{name}, rule {rule}:", flush=True)
            start = time.perf_counter()
            outcome = contender(config, split, lambda line: print("  " + line, flush=True))
            seconds = time.perf_counter() - start
            if isinstance(outcome, str):
                print(f"  skipped: {outcome}")
                continue
            accuracies, finals[name, rule] = outcome
            rows.append((name, rule, accuracies[-1], seconds, seconds / steps * 1e3))
    print()
    print(f"{'':14s} {'rule':5s} {'test accuracy':>13s} {'wall time':>10s} {'per step':>9s}")
    for name, rule, accuracy, seconds, per_step in rows:
        print(f"{name:14s} {rule:5s} {accuracy:13.4f} {seconds:8.0f} s {per_step:6.3f} ms")
    print()
    every = len(split.train_inputs) // 5
    agree = True
    for rule in rules:
        config = TrainConfig(hidden=BOOK_MNIST_CONFIG.hidden, lr=BOOK_MNIST_CONFIG.lr, rule=rule)
        print(f"rule {rule}, numpy twice, initial weights differing by a relative 1e-15:")
        drift = rounding_sensitivity(config, split, every, lambda line: print("  " + line))
        ours, theirs = finals.get(("tinygrad_edu", rule)), finals.get(("numpy by hand", rule))
        if ours and theirs:
            gap = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))
            print(f"  final weights, max |tinygrad_edu − numpy by hand| = {gap:.1e}")
            # the two agree, or the rule itself amplifies rounding to beyond agreement
            agree &= gap < 1e-6 or drift > 1e-6
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
