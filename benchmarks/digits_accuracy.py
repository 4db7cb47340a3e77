"""The training targets of `tinygrad-edu train` (default settings), measured.

Trains the book's network on the digits for seeds 0–4 with the exact (autodiff) rule and
with the book's rule, and checks the targets of the exact rule: mean test accuracy ≥ 0.97,
none below 0.955, each run under 30 s. Run: python benchmarks/digits_accuracy.py
"""

import sys
import time

import numpy as np

from tinygrad_edu.data import load_digits
from tinygrad_edu.training import TrainConfig, train

SEEDS = range(5)


def main() -> int:
    split = load_digits()
    results = {}
    for rule in ("exact", "book"):
        accuracies, seconds = [], []
        for seed in SEEDS:
            start = time.perf_counter()
            result = train(TrainConfig(seed=seed, rule=rule), split, progress=False, log=None)
            seconds.append(time.perf_counter() - start)
            accuracies.append(result.test_accuracy)
            print(
                f"rule {rule:5s} seed {seed}: test accuracy {accuracies[-1]:.4f}  "
                f"{seconds[-1]:.1f} s",
                flush=True,
            )
        results[rule] = (np.array(accuracies), np.array(seconds))
        print(
            f"rule {rule:5s}: mean {np.mean(accuracies):.4f}, min {np.min(accuracies):.4f}, "
            f"max {np.max(accuracies):.4f}, slowest run {np.max(seconds):.1f} s",
            flush=True,
        )
    accuracies, seconds = results["exact"]
    met = accuracies.mean() >= 0.97 and accuracies.min() >= 0.955 and seconds.max() < 30
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
