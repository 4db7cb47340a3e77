"""What fast.py's kernels buy, alone, on the shapes of the book's 784-200-10 network.

Each kernel against the plain code it stands for, on the same arrays (checked equal, bit
for bit, before timing), at batch 1, 64 and 256, float64 and float32:

- update: `fast.subtract_product` (w ← w − lr·(gᵀ·x), the replay's fused update, for the
  (200, 784) weight) against the three numpy steps the engine and `optim.SGD` take,
  ``grad = np.dot(g.T, x)``, ``grad *= lr``, ``w -= grad``; "(one call)" where this BLAS
  gives their numbers in one call, "(numpy steps)" where it does not;
- small update: the same for the (10, 200) output weight, with the one BLAS call forced
  (`subtract_product` does not make it below 16,384 elements: this row is why);
- outer product: `fast.linear_backward`'s weight gradient ``np.dot(g.T, x)`` against the
  plain backward's ``g.T @ x``, at batch 1 (where ``@`` loops on its own).

Rounds are interleaved; the table shows the minimum over rounds (µs), the least disturbed
figure on a shared machine. benchmarks/book_network_speed.py measures whole steps, with the
fused update switched off ("replay nn unfused").
Run: python benchmarks/replay_kernels.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one thread, as in book_network_speed.py

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from tinygrad_edu import fast  # noqa: E402

INPUTS, HIDDEN, OUTPUTS, LR = 784, 200, 10, 0.01
Pair = tuple[Callable[[], object], Callable[[], object]]


def numpy_update(w: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    grad = np.dot(g.T, x)
    w -= np.multiply(grad, LR, out=grad)


def pairs(dtype: str, batch: int) -> dict[str, Pair]:
    """Each kernel and its plain code, as calls without arguments; checked equal first."""
    rng = np.random.default_rng(0)
    g = rng.normal(0, 0.01, (batch, HIDDEN)).astype(dtype)
    x = rng.random((batch, INPUTS)).astype(dtype)
    w = rng.normal(0, INPUTS**-0.5, (HIDDEN, INPUTS)).astype(dtype)
    mine, theirs = w.copy(), w.copy()
    fast.subtract_product(mine, LR, g, x)
    numpy_update(theirs, g, x)
    if not np.array_equal(mine, theirs):
        raise SystemExit(f"subtract_product ({dtype}, batch {batch}) is not the numpy steps")
    found = {
        "update": (
            lambda: fast.subtract_product(mine, LR, g, x),
            lambda: numpy_update(theirs, g, x),
        )
    }
    g_out = rng.normal(0, 0.01, (batch, OUTPUTS)).astype(dtype)
    h = rng.random((batch, HIDDEN)).astype(dtype)
    small = rng.normal(0, HIDDEN**-0.5, (OUTPUTS, HIDDEN)).astype(dtype)
    mine_small, theirs_small = small.copy(), small.copy()
    fast.subtract_product(np.zeros((HIDDEN, INPUTS), dtype), LR, g, x)  # loads the BLAS
    if fast._GEMM[0]:
        found["small update"] = (
            lambda: fast._gemm(mine_small, -LR, g_out, h, 1.0),
            lambda: numpy_update(theirs_small, g_out, h),
        )
    if batch == 1:
        if not np.array_equal(np.dot(g.T, x), g.T @ x):
            raise SystemExit(f"np.dot and @ ({dtype}) disagree on the outer product")
        found["outer product"] = (lambda: np.dot(g.T, x), lambda: g.T @ x)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=30, help="calls per timed block")
    args = parser.parse_args()
    print("µs per call, the minimum over rounds: kernel / plain code (ratio)")
    for dtype in ("float64", "float32"):
        for batch in (1, 64, 256):
            found = pairs(dtype, batch)
            best = {name: [np.inf, np.inf] for name in found}
            for _ in range(args.rounds):
                for name, calls in found.items():
                    for which, call in enumerate(calls):
                        start = time.perf_counter()
                        for _ in range(args.repeats):
                            call()
                        micros = (time.perf_counter() - start) / args.repeats * 1e6
                        best[name][which] = min(best[name][which], micros)
            one_call = fast._VERDICTS.get((np.dtype(dtype), HIDDEN, INPUTS, batch))
            mode = "one call" if one_call else "numpy steps"
            cells = [
                f"{name}{' (' + mode + ')' if name == 'update' else ''} "
                f"{kernel:.0f} / {plain:.0f} ({kernel / plain:.2f})"
                for name, (kernel, plain) in best.items()
            ]
            print(f"{dtype} batch {batch:>3}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
