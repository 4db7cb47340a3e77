"""Training the book's network: the loop that `tinygrad-edu train` runs.

The network is the book's: inputs → hidden → 10 outputs, sigmoid on both layers, no biases,
weights from N(0, σ = in^−½). Each step is gradient descent on the book's E = ½Σ(t − o)² per
sample; a minibatch step is the mean of the per-sample steps. Two rules:

- ``exact``: the gradient from autodiff (``loss.backward()`` and `optim.SGD`), each step
  replayed by `replay.trace` unless ``eager=True`` (the same weights, bit for bit);
- ``book``: the book's own update (`textbook.book_weight_updates`), whose hidden layer
  receives W_hoᵀ·(t − o) — the output error without the output sigmoid's slope.

Because a minibatch step is a mean, not a sum, it is about as long as one sample's step,
and an epoch at batch size B takes B times fewer steps: the default lr 0.5 suits batch size
1, and a larger batch needs a larger lr and more epochs (measured figures in
`cli.BATCH_SIZE_AND_LEARNING_RATE`, which ``tinygrad-edu train --help`` prints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from tinygrad_edu import nn, replay, textbook
from tinygrad_edu.autograd import no_grad
from tinygrad_edu.data import CLASSES, Split, batches, book_targets
from tinygrad_edu.optim import SGD
from tinygrad_edu.tensor import Tensor

Rule = Literal["exact", "book"]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (the defaults are `tinygrad-edu train`'s)."""

    hidden: int = 100
    lr: float = 0.5
    epochs: int = 20
    batch_size: int = 1
    seed: int = 0
    rule: Rule = "exact"
    bias: bool = False

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"hidden must be at least 1, got {self.hidden}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"the learning rate must be positive and finite, got {self.lr}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"the batch size must be at least 1, got {self.batch_size}")
        if self.rule not in ("exact", "book"):
            raise ValueError(f"rule must be 'exact' or 'book', got {self.rule!r}")
        if self.bias and self.rule == "book":
            raise ValueError("the book's rule has no biases: use bias only with rule 'exact'")


DIGITS_CONFIG = TrainConfig()
"""`tinygrad-edu train`'s settings for the 8×8 digits (64 inputs)."""
BOOK_MNIST_CONFIG = TrainConfig(hidden=200, lr=0.1, epochs=5)
"""The book's settings for MNIST (784 inputs): 200 hidden nodes, learning rate 0.1, 5 epochs,
one sample a step; it reports about 0.97 test accuracy with them."""


@dataclass(frozen=True)
class Epoch:
    number: int
    loss: float
    """Mean over the epoch's samples of the book's E = ½Σ(t − o)², before each step."""
    test_accuracy: float


@dataclass
class TrainResult:
    model: nn.Sequential
    history: list[Epoch] = field(default_factory=list)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((CLASSES, CLASSES), int))

    @property
    def test_accuracy(self) -> float:
        return self.history[-1].test_accuracy if self.history else float("nan")


def book_network(
    inputs: int = 64,
    hidden: int = 100,
    outputs: int = CLASSES,
    bias: bool = False,
    rng: np.random.Generator | int | None = None,
) -> nn.Sequential:
    """inputs → hidden → outputs with sigmoids; ``model[0].weight`` is the book's W_ih and
    ``model[2].weight`` its W_ho."""
    generator = np.random.default_rng(rng)
    return nn.Sequential(
        nn.Linear(inputs, hidden, bias=bias, init="book", rng=generator),
        nn.Sigmoid(),
        nn.Linear(hidden, outputs, bias=bias, init="book", rng=generator),
        nn.Sigmoid(),
    )


def network_from_state(state: dict[str, np.ndarray]) -> nn.Sequential:
    """Rebuild the book's network from saved weights (sizes read from their shapes)."""
    if any(key not in state or np.ndim(state[key]) != 2 for key in ("0.weight", "2.weight")):
        raise ValueError(
            f"the weights are not the book's network: expected 2-D arrays '0.weight' and "
            f"'2.weight', found {sorted(state)}"
        )
    hidden, inputs = state["0.weight"].shape
    outputs = state["2.weight"].shape[0]
    model = book_network(inputs, hidden, outputs, bias="0.bias" in state)
    model.load_state_dict(state)
    return model


@no_grad()
def predict(model: nn.Module, inputs: np.ndarray) -> np.ndarray:
    """The label of the largest output, per row."""
    return np.argmax(model(Tensor(inputs)).data, axis=1)


def confusion_matrix(
    labels: np.ndarray, predicted: np.ndarray, classes: int = CLASSES
) -> np.ndarray:
    """counts[true label, predicted label]."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def _book_rule_step(
    model: nn.Sequential, inputs: np.ndarray, targets: np.ndarray, lr: float
) -> None:
    """The book's update, with samples as columns: the sum over the batch's columns,
    divided by the batch size, is the mean of the per-sample updates."""
    w_ih, w_ho = model[0].weight, model[2].weight  # type: ignore[attr-defined]
    delta_ih, delta_ho = textbook.book_weight_updates(
        w_ih.data, w_ho.data, inputs.T, targets.T, lr / len(inputs)
    )
    w_ih.data += delta_ih
    w_ho.data += delta_ho


def exact_rule_step(
    model: nn.Sequential, optimizer: SGD, eager: bool = False
) -> Callable[[np.ndarray, np.ndarray], float]:
    """One step of the exact rule on a batch (inputs, targets): gradient descent on the mean
    over the batch of ½Σ(t − o)², whose value it returns. Replayed (`replay.trace`, without
    keeping ``.grad``), or run by the eager engine with ``eager=True``: the same numbers."""

    def loss_fn(inputs: Tensor, targets: Tensor) -> Tensor:
        return 0.5 * model(inputs).squared_error(targets) / len(inputs)

    if not eager:
        return replay.trace(loss_fn, optimizer, keep_grad=False)

    def eager_step(inputs: np.ndarray, targets: np.ndarray) -> float:
        loss = loss_fn(Tensor(inputs), Tensor(targets))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    return eager_step


def train(
    config: TrainConfig,
    split: Split,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    eager: bool = False,
) -> TrainResult:
    """Train the book's network on ``split`` and report the test accuracy after each epoch.
    The exact rule's steps are replayed (`replay.trace`); ``eager=True`` runs them in the
    plain engine instead, which ends on the same weights, bit for bit, more slowly."""
    rng = np.random.default_rng(config.seed)
    model = book_network(split.train_inputs.shape[1], config.hidden, CLASSES, config.bias, rng)
    optimizer = SGD(model.parameters(), lr=config.lr)
    step = exact_rule_step(model, optimizer, eager)
    result = TrainResult(model)
    steps_per_epoch = -(-len(split.train_inputs) // config.batch_size)
    for epoch in range(1, config.epochs + 1):
        total_loss = 0.0
        bar = tqdm(
            batches(split.train_inputs, split.train_labels, config.batch_size, rng),
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{config.epochs}",
            disable=not progress,
            leave=False,
        )
        for inputs, labels in bar:
            targets = book_targets(labels, CLASSES)
            if config.rule == "exact":
                total_loss += step(inputs, targets) * len(inputs)  # Σ over the batch
            else:
                with no_grad():
                    outputs = model(Tensor(inputs))
                total_loss += 0.5 * float(((targets - outputs.data) ** 2).sum())
                _book_rule_step(model, inputs, targets, config.lr)
        predicted = predict(model, split.test_inputs)
        accuracy = float(np.mean(predicted == split.test_labels))
        result.history.append(Epoch(epoch, total_loss / len(split.train_inputs), accuracy))
        if not np.isfinite(total_loss):
            raise FloatingPointError(
                f"training diverged: the loss is {total_loss} in epoch {epoch}; try a smaller "
                "learning rate"
            )
        if log is not None:
            log(
                f"epoch {epoch:3d}/{config.epochs}  loss {result.history[-1].loss:.5f}  "
                f"test accuracy {accuracy:.4f}"
            )
    result.confusion = confusion_matrix(split.test_labels, predict(model, split.test_inputs))
    return result


PLOT_EXTRA_HINT = 'plotting needs matplotlib: pip install "tinygrad-edu[plot]"'


def require_matplotlib() -> None:
    """Raise ImportError with the install hint unless matplotlib can be imported: called
    before a run that will plot, so that a missing package fails at once, not after it."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError as error:
        raise ImportError(PLOT_EXTRA_HINT) from error


def plot_history(history: list[Epoch], path: str | None = None) -> Any:
    """The loss and the test accuracy per epoch, as a `matplotlib.figure.Figure`; written to
    ``path`` (a PNG) when one is given.

    The figure is made without `matplotlib.pyplot` and without choosing a backend, so it
    works headless and leaves a notebook's own plotting alone (Jupyter shows the returned
    figure when it ends a cell).
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    epochs = [e.number for e in history]
    figure = Figure(figsize=(9, 3.5), layout="tight")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, [e.loss for e in history], marker="o")
    loss_axes.set(xlabel="epoch", ylabel="mean ½Σ(t − o)² per sample", title="training loss")
    accuracy_axes.plot(epochs, [e.test_accuracy for e in history], marker="o", color="tab:green")
    accuracy_axes.set(xlabel="epoch", ylabel="accuracy", title="test accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.get_major_locator().set_params(integer=True)
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def format_confusion(confusion: np.ndarray) -> str:
    """The confusion matrix as a table: rows are true labels, columns predictions."""
    classes = len(confusion)
    lines = ["true\\pred " + " ".join(f"{c:>4d}" for c in range(classes))]
    for label in range(classes):
        lines.append(f"{label:>9d} " + " ".join(f"{n:>4d}" for n in confusion[label]))
    return "\n".join(lines)
