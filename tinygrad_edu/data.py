"""Datasets and the book's input/target scaling.

The built-in dataset is scikit-learn's handwritten digits (1,797 images of 8×8 pixels with
values 0–16, so 64 inputs), which ships inside the scikit-learn package and so works
offline: ``pip install "tinygrad-edu[digits]"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

DIGITS_EXTRA_HINT = 'the digits dataset needs scikit-learn: pip install "tinygrad-edu[digits]"'


def book_inputs(pixels: np.ndarray, max_value: float) -> np.ndarray:
    """The book's input scaling: pixel / max · 0.99 + 0.01, into [0.01, 1.0].

    Zero inputs would kill the weight updates (ΔW is proportional to the input), so the
    book keeps every input above 0.
    """
    return np.asarray(pixels, dtype=np.float64) / max_value * 0.99 + 0.01


def book_targets(labels: np.ndarray, classes: int = 10) -> np.ndarray:
    """The book's targets: 0.99 for the label's output node, 0.01 for the others (a sigmoid
    never reaches 0 or 1), one row per label."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"book_targets: labels must be a 1-D integer array, got {labels!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"book_targets: labels must lie in [0, {classes})")
    targets = np.full((labels.size, classes), 0.01)
    targets[np.arange(labels.size), labels] = 0.99
    return targets


@dataclass(frozen=True)
class Split:
    """Train and test parts of a dataset: inputs (rows are samples) and integer labels."""

    train_inputs: np.ndarray
    train_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray


def train_test_split(
    inputs: np.ndarray, labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """A seeded random split: the same seed always gives the same parts."""
    if len(inputs) != len(labels):
        raise ValueError(
            f"train_test_split: {len(inputs)} inputs but {len(labels)} labels; they must match"
        )
    if not 0 < test_fraction < 1:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(inputs))
    test_count = round(len(inputs) * test_fraction)
    test, train = order[:test_count], order[test_count:]
    return Split(inputs[train], labels[train], inputs[test], labels[test])


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 8×8 digits, scaled as the book scales MNIST, split 80/20 (seeded)."""
    try:
        from sklearn import datasets
    except ImportError as error:
        raise ImportError(DIGITS_EXTRA_HINT) from error
    digits: Any = datasets.load_digits()
    inputs = book_inputs(digits.data, max_value=16.0)
    return train_test_split(inputs, digits.target.astype(np.int64), test_fraction, seed)


def batches(
    inputs: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, labels) in batches of ``batch_size`` rows (the last may be smaller),
    shuffled by ``rng`` (a Generator or a seed) when given, in order otherwise."""
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be at least 1, got {batch_size}")
    if rng is None:
        order = np.arange(len(inputs))
    else:
        order = np.random.default_rng(rng).permutation(len(inputs))
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        yield inputs[chosen], labels[chosen]
