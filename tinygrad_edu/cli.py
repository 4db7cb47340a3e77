"""The ``tinygrad-edu`` command (also ``python -m tinygrad_edu``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_edu import __version__, nn, proofs, textbook
from tinygrad_edu import io as weights_io
from tinygrad_edu.data import BOOK_PIXELS, CLASSES


def _matrix(values: np.ndarray, indent: str) -> str:
    text = np.array2string(values, precision=6, suppress_small=False, floatmode="fixed")
    return text.replace("\n", "\n" + indent)


def run_demo(seed: int = 0, learning_rate: float = 0.3) -> int:
    """One SGD step of the book's 3-3-3 sigmoid network: autodiff beside the closed forms."""
    loss = proofs.book_network_loss(seed)  # ½Σ(t − o)²: the book's formulas are its gradient
    tensors = proofs.tensors_by_name(loss)
    w_ih, w_ho = tensors["W_ih"], tensors["W_ho"]
    inputs, targets, outputs = tensors["inputs"], tensors["targets"], tensors["final_outputs"]
    loss.backward()
    assert w_ih.grad is not None and w_ho.grad is not None
    autodiff_ih, autodiff_ho = -learning_rate * w_ih.grad, -learning_rate * w_ho.grad

    args = (w_ih.data, w_ho.data, inputs.data, targets.data, learning_rate)
    exact_ih, exact_ho = textbook.exact_weight_updates(*args)
    book_ih, _ = textbook.book_weight_updates(*args)

    print(f"tinygrad-edu {__version__} demo: one SGD step of the book's 3-3-3 sigmoid network")
    print(
        f"inputs {inputs.data.ravel()}, targets {targets.data.ravel()}, α = {learning_rate}, "
        f"weights ~ N(0, σ = 3^−½), seed {seed}"
    )
    print(
        f"E = ½Σ(t − o)² = {loss.item():.6f}, the loss whose gradient the book's formulas are "
        "(erratum E3)"
    )
    print(f"outputs oₖ = {outputs.data.ravel().round(6)}, output errors e = t − o", end=" ")
    print(f"= {(targets.data - outputs.data).ravel().round(6)}")
    print()
    rows = [
        ("ΔWₕₒ = −α·∂E/∂Wₕₒ, autodiff", autodiff_ho),
        ("ΔWₕₒ = α·(e∗oₖ(1−oₖ))·oⱼᵀ, closed form", exact_ho),
        ("ΔWᵢₕ = −α·∂E/∂Wᵢₕ, autodiff", autodiff_ih),
        ("ΔWᵢₕ with Wₕₒᵀ·(e∗oₖ(1−oₖ)), closed form", exact_ih),
        ("ΔWᵢₕ with Wₕₒᵀ·e, the book's code", book_ih),
    ]
    for title, values in rows:
        print(title)
        print("  " + _matrix(values, "  "))
    print()
    diff_ho = np.abs(autodiff_ho - exact_ho).max()
    diff_ih = np.abs(autodiff_ih - exact_ih).max()
    diff_book = np.abs(autodiff_ih - book_ih).max()
    print(f"max |autodiff − closed form|: Wₕₒ {diff_ho:.1e}, Wᵢₕ {diff_ih:.1e}")
    print(
        f"max |autodiff − book's hidden rule|: Wᵢₕ {diff_book:.1e} (the book leaves out "
        "the output sigmoid's slope o(1−o) when it sends the error back)"
    )
    agree = diff_ho < 1e-12 and diff_ih < 1e-12
    print("autodiff agrees with the closed forms" if agree else "MISMATCH")
    return 0 if agree else 1


def _first(values: np.ndarray) -> str:
    flat = np.ravel(values)
    return f"{flat[0]:+.6f}" + (" …" if flat.size > 1 else "  ")


def run_check(seed: int = 0) -> int:
    """Every formula of the texts beside autodiff and finite differences."""
    results = proofs.comparisons(seed)
    print(
        "The texts' formulas against the engine (book network 3-3-3, seed "
        f"{seed}; the worked example). First element shown; the difference is the largest."
    )
    print(f"the book: {textbook.BOOK}")
    print(f"python-course.eu: {textbook.COURSE}")
    print()
    header = f"{'closed form':>13} {'autodiff':>13} {'finite diff':>13} {'max |diff|':>10}  verdict"
    print(header)
    unexpected = 0
    for c in results:
        if c.agrees == c.expected_to_agree:
            verdict = "agrees" if c.agrees else f"differs: erratum {c.erratum}"
        else:
            verdict = "UNEXPECTED"
            unexpected += 1
        print(f"{c.formula}   [{c.source}]")
        print(
            f"{_first(c.closed_form):>13} {_first(c.autodiff):>13} "
            f"{_first(c.finite_difference):>13} {c.difference:>10.1e}  {verdict}"
        )
        if c.erratum and not c.agrees:
            print(f"{'':>13} the slip: {textbook.errata_summary(c.erratum)}")
    agreeing = sum(c.agrees for c in results)
    print()
    print(
        f"{agreeing} formulas agree with autodiff; {len(results) - agreeing} differ, each by a "
        "documented erratum (docs/errata.md)" + (f"; {unexpected} UNEXPECTED" if unexpected else "")
    )
    return 1 if unexpected else 0


def run_worked_example() -> int:
    """The book's worked example, by hand and by autodiff, and its chain rule step by step."""
    example = textbook.worked_example()
    loss, weights = proofs.worked_example_network(half=True)
    rows = [
        ("Σⱼ wⱼ₁·oⱼ = 2.0·0.4 + 3.0·0.5", "2.3", example.weighted_sum),
        ("oₖ = σ(2.3)", "0.909", example.output),
        ("oₖ(1 − oₖ)", "0.083", example.slope),
        ("∂E/∂w₁₁ = −e₁·oₖ(1 − oₖ)·oⱼ", "−0.0265", example.gradient),
        ("new w₁₁ = 2.0 − 0.1·∂E/∂w₁₁", "2.00265", example.new_weight),
    ]
    print("The book's 'Weight Update Worked Example'")
    print(f"the book: {textbook.BOOK}")
    print("Given: w₁₁ = 2.0, w₂₁ = 3.0, hidden outputs oⱼ = 0.4 (node 1) and 0.5 (node 2),")
    print("output error e₁ = 0.8 taken as given, α = 0.1; E = ½Σ(t − o)², the loss whose")
    print("gradient the book's formulas are (the book writes Σ(t − o)² and drops the 2, E3):")
    print(f"  {'quantity':<32} {'the text':>9} {'computed':>12}")
    for name, text, value in rows:
        print(f"  {name:<32} {text:>9} {value:>12.6f}")
    print()
    target = example.output + 0.8
    rounded = -0.8 * round(example.slope, 3) * 0.4
    consistent = textbook.worked_example(error=0.99 - example.output)
    print("Where the text slips (docs/errata.md, E9):")
    print(
        f"  e₁ = t₁ − oₖ = 0.8 with oₖ = {example.output:.3f} needs a target t₁ = "
        f"{target:.3f}, outside a sigmoid's range (0, 1);"
    )
    print(
        f"  with t₁ = 0.99 (the book's MNIST targets are 0.01 and 0.99), "
        f"e₁ = {0.99 - example.output:.4f} and "
        f"∂E/∂w₁₁ = {consistent.gradient:.5f}."
    )
    print(
        f"  Its product −0.0265 (new w₁₁ 2.00265) is right: the unrounded slope "
        f"{example.slope:.4f} gives it."
    )
    print(
        f"  What slips is the slope printed beside it, 0.083: −0.8 × 0.083 × 0.4 = "
        f"{rounded:.5f} (new w₁₁ {2.0 - 0.1 * rounded:.6f})."
    )
    print()
    print("autodiff, factor by factor (E = ½Σ(t − o)²: the ½ cancels the square's 2):")
    explanation = proofs.explain(loss, weights, (0, 0), show=False)
    print(explanation)
    print()
    print("without the ½ (E = Σ(t − o)², as the book first writes it; E3) the 2 stays:")
    plain, plain_weights = proofs.worked_example_network(half=False)
    doubled = proofs.explain(plain, plain_weights, (0, 0), show=False)
    print(f"  ∂E/∂w₁₁ = {doubled.total:+.6f}  (= 2 × {explanation.total:+.6f})")
    return 0


def _from_files(args: argparse.Namespace) -> bool:
    """Whether train/evaluate read MNIST-style files rather than the built-in digits, after
    checking that the data options go together."""
    training = hasattr(args, "train_data")  # evaluate has only the test options
    train_data, train_labels = (
        getattr(args, "train_data", None),
        getattr(args, "train_labels", None),
    )
    if train_data is None and train_labels is not None:
        raise ValueError("--train-labels goes with --train-data (the IDX images it labels)")
    if args.test_data is None and args.test_labels is not None:
        raise ValueError("--test-labels goes with --test-data (the IDX images it labels)")
    if training and (train_data is None) != (args.test_data is None):
        raise ValueError(
            "--train-data and --test-data go together: give both files (CSV or IDX), or "
            "neither to use the built-in digits"
        )
    return args.test_data is not None


def _with_train_defaults(args: argparse.Namespace) -> bool:
    """Fill in what train's options leave open — the digits' settings, or the book's for
    MNIST-style files — and say whether the data comes from files."""
    from tinygrad_edu.training import BOOK_MNIST_CONFIG, DIGITS_CONFIG

    from_files = _from_files(args)
    preset = BOOK_MNIST_CONFIG if from_files else DIGITS_CONFIG
    for option in ("hidden", "lr", "epochs"):
        if getattr(args, option) is None:
            setattr(args, option, getattr(preset, option))
    if args.out is None:
        args.out = "mnist_weights.npz" if from_files else "digits_weights.npz"
    return from_files


def run_train(args: argparse.Namespace) -> int:
    """Train the book's network on the digits or on MNIST-style files (the book's CSV or
    IDX); print progress, accuracy and confusion."""
    from tinygrad_edu import training
    from tinygrad_edu.data import load_digits, load_files

    from_files = _with_train_defaults(args)
    config = training.TrainConfig(
        hidden=args.hidden,
        lr=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        rule=args.rule,
        bias=args.bias,
    )
    if from_files:
        split = load_files(args.train_data, args.test_data, args.train_labels, args.test_labels)
        samples = f"{len(split.train_inputs)} images from {args.train_data}, testing on "
        samples += f"{len(split.test_inputs)} from {args.test_data}"
        origin = ""
    else:
        split = load_digits(seed=args.split_seed)
        samples = f"{len(split.train_inputs)} digits, testing on {len(split.test_inputs)}"
        origin = f", split seed {args.split_seed}"
    inputs = split.train_inputs.shape[1]
    print(
        f"training the book's network {inputs}-{config.hidden}-10 (sigmoid, "
        f"{'biases' if config.bias else 'no biases'}) on {samples}"
    )
    print(
        f"rule {config.rule}, lr {config.lr}, {config.epochs} epochs, batch size "
        f"{config.batch_size}, seed {config.seed}{origin}"
    )
    result = training.train(config, split, progress=not args.no_progress, eager=args.eager)
    print(f"test accuracy {result.test_accuracy:.4f}")
    print("confusion matrix (rows: true label, columns: predicted label)")
    print(training.format_confusion(result.confusion))
    saved = weights_io.save(result.model, args.out)
    print(f"weights saved to {saved}")
    if args.plot:
        training.plot_history(result.history, args.plot)
        print(f"loss and accuracy plotted to {args.plot}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Report the test accuracy of saved weights on the digits test split or a test file."""
    from tinygrad_edu import training
    from tinygrad_edu.data import book_inputs, load_digits, read_images

    if _from_files(args):
        images = read_images(args.test_data, args.test_labels)
        inputs, labels = book_inputs(images.pixels, 255.0), images.labels
        samples = f"{len(labels)} images from {args.test_data}"
    else:
        split = load_digits(seed=args.split_seed)
        inputs, labels = split.test_inputs, split.test_labels
        samples = f"{len(labels)} digits"
    model = _network_from_file(args.weights, inputs=inputs.shape[1])
    predicted = training.predict(model, inputs)
    accuracy = float(np.mean(predicted == labels))
    print(f"{args.weights}: test accuracy {accuracy:.4f} on {samples}")
    print(training.format_confusion(training.confusion_matrix(labels, predicted)))
    return 0


def run_graph(args: argparse.Namespace) -> int:
    """Draw the book's network (forward, or its backward pass) to a file."""
    from tinygrad_edu import viz

    loss = proofs.book_network_loss(args.seed, retain_grad=args.backward)
    if args.backward:
        loss.backward()  # so the drawing shows the gradients that flowed back
    path = viz.save(
        loss, args.out, backward=args.backward, show_data=args.data, rankdir=args.rankdir
    )
    view = "backward pass" if args.backward else "forward graph"
    print(f"the book's 3-3-3 network, {view}, drawn to {path}")
    return 0


def run_explore(args: argparse.Namespace) -> int:
    """Write the step-through page of the book's network (or of the worked example)."""
    from tinygrad_edu import viz

    if args.worked_example:
        loss, _ = proofs.worked_example_network()
        title = "the worked example: w₁₁ = 2.0, E = ½(t − o)²"
    else:
        seed = 0 if args.seed is None else args.seed
        loss = proofs.book_network_loss(seed)
        title = f"the book's 3-3-3 network (seed {seed}), E = ½Σ(t − o)²"
    path = viz.explore(loss, rankdir=args.rankdir, title=title).save(args.out)
    print(f"{title}: step through its backward pass in {path} (open it in a browser)")
    return 0


def _whole_number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text, "a whole number ≥ 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {value}")
    return value


def _seed(text: str) -> int:
    value = _whole_number(text, "a whole number ≥ 0 (a seed)")
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a whole number ≥ 0, got {value}")
    return value


BATCH_SIZE_AND_LEARNING_RATE = """\
batch size and learning rate:
  A minibatch step is the mean of the per-sample steps, so it is about as long as
  one sample's step, and an epoch at batch size B takes B times fewer of them. At
  the same --lr a larger batch learns much less per epoch. Measured (seed 0,
  64-100-10, exact rule), test accuracy after epoch 1 / 10 / 20:
    --batch-size 1,  --lr 0.5:  0.88 / 0.96 / 0.97   (the defaults)
    --batch-size 32, --lr 0.5:  0.18 / 0.75 / 0.90   (0.95 first after 34 epochs)
    --batch-size 32, --lr 1:    0.18 / 0.85 / 0.95
    --batch-size 32, --lr 2:    0.18 / 0.91 / 0.96
    --batch-size 32, --lr 4:    0.09 / 0.37
    --batch-size 32, --lr 8 or 16: 0.09 (chance) for all 10 epochs run:
                                the sigmoids saturate
  So raise --lr with the batch size, but less than in proportion (B times the
  rate, the "linear scaling rule", is too much for this sigmoid network), and
  train for more epochs: e.g. --batch-size 32 --lr 2 --epochs 20.
"""
"""What `train --help` says about the batch size and the learning rate (measured)."""


def _add_data_options(command: argparse.ArgumentParser, training: bool) -> None:
    """--train-data/--test-data (CSV or IDX images) and, for IDX, their labels files."""
    group = command.add_argument_group(
        "MNIST-style files",
        "the book's CSV (label then 784 pixels a line) or IDX images, gzipped or not,\n"
        "told apart by content. IDX labels are found beside the images by the standard\n"
        "name (train-images-idx3-ubyte.gz → train-labels-idx1-ubyte.gz) unless given.",
    )
    if training:
        group.add_argument("--train-data", metavar="FILE", help="training data: CSV or IDX images")
        group.add_argument("--train-labels", metavar="FILE", help="IDX labels of --train-data")
    group.add_argument("--test-data", metavar="FILE", help="test data: CSV or IDX images")
    group.add_argument("--test-labels", metavar="FILE", help="IDX labels of --test-data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-edu",
        description="A small reverse-mode autodiff framework on numpy that checks the "
        "backpropagation formulas of two texts (T. Rashid's book, python-course.eu) against "
        "autodiff and finite differences: `check` shows which agree and which differ, and why.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="one SGD step of the book's network: autodiff beside the closed forms",
        description="Take one gradient step of the book's 3-3-3 sigmoid network on one sample "
        "and print the weight updates that autodiff computes beside the book's closed-form "
        "formulas, and the book's own hidden-layer update, which differs (erratum E8).",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights")
    demo.add_argument("--lr", type=_positive_float, default=0.3, help="learning rate α (0.3)")

    train = commands.add_parser(
        "train",
        help="train the book's network on the built-in 8×8 digits, or on MNIST files (the "
        "book's CSV or IDX)",
        description="Train the book's sigmoid network on scikit-learn's 8×8 digits, or on\n"
        "MNIST-style files (the book's CSV, or IDX images) with the book's settings.",
        epilog=BATCH_SIZE_AND_LEARNING_RATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--hidden", type=_positive_int, help="hidden nodes (digits: 100; files: the book's 200)"
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        help="learning rate α (digits: 0.5; files: the book's 0.1; both chosen for batch size "
        "1, see below for larger batches)",
    )
    train.add_argument(
        "--epochs", type=_positive_int, help="epochs (digits: 20; files: the book's 5)"
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1,
        help="samples per step (1); a step is the mean of their per-sample steps, so a larger "
        "batch takes fewer steps per epoch: raise --lr and --epochs with it (below)",
    )
    train.add_argument("--seed", type=_seed, default=0, help="seed of weights and shuffling (0)")
    train.add_argument(
        "--split-seed", type=_seed, default=0, help="seed of the digits' 80/20 split (0)"
    )
    train.add_argument(
        "--rule",
        choices=["exact", "book"],
        default="exact",
        help="exact: the autodiff gradient; book: the book's hidden-layer rule (exact)",
    )
    train.add_argument("--bias", action="store_true", help="give both layers biases (exact rule)")
    _add_data_options(train, training=True)
    train.add_argument(
        "--out",
        help="where to save the weights (.npz; digits_weights.npz, or mnist_weights.npz with "
        "--train-data)",
    )
    train.add_argument("--plot", metavar="PNG", help="plot loss and accuracy per epoch")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--eager",
        action="store_true",
        help="run each step in the plain engine instead of replaying it (the same weights, "
        "bit for bit, more slowly)",
    )

    check = commands.add_parser(
        "check",
        help="every formula of the texts beside autodiff and finite differences",
        description="Evaluate every formula of the two texts on the book's 3-3-3 network and "
        "on the worked example, beside autodiff and finite differences, and say for each "
        "whether it agrees or which erratum explains the difference. Exits with status 1 if a "
        "result is not the one docs/errata.md documents.",
    )
    check.add_argument("--seed", type=_seed, default=0, help="seed of the network's weights (0)")
    commands.add_parser(
        "worked-example",
        help="the book's w₁₁ = 2.0 → 2.00265 example, step by step",
        description="Recompute the book's worked example (one weight, w₁₁ = 2.0 → 2.00265) "
        "from its givens, say where the text slips (erratum E9), and show the chain rule "
        "factor by factor as autodiff applies it.",
    )

    graph = commands.add_parser(
        "graph",
        help="draw the book's network graph to a file",
        description="Draw the computation graph of the book's 3-3-3 network (its forward pass, "
        "or with --backward the backward pass with the chain-rule factor on every edge) to an "
        "image (needs Graphviz's dot program) or to DOT source.",
    )
    graph.add_argument(
        "--out", default="book_network.svg", help="file to write: .svg .png .pdf, or .dot .gv"
    )
    graph.add_argument(
        "--backward", action="store_true", help="the backward pass with its chain-rule factors"
    )
    graph.add_argument("--data", action="store_true", help="show the values in each tensor")
    graph.add_argument(
        "--rankdir",
        choices=["LR", "TB", "RL", "BT"],
        default="TB",
        help="direction of the drawing: TB top to bottom (the default), LR left to right, RL, BT",
    )
    graph.add_argument("--seed", type=_seed, default=0, help="seed of the weights (0)")

    explore = commands.add_parser(
        "explore",
        help="an HTML page that steps through the backward pass, node by node",
        description="Write one self-contained HTML page that steps through the backward pass "
        "of the book's 3-3-3 network (or of the worked example) one operation at a time, with "
        "the engine's numbers; open it in a browser. Needs Graphviz's dot program.",
    )
    explore.add_argument("--out", default="explore.html", help="the page to write (.html)")
    explore.add_argument(
        "--rankdir",
        choices=["LR", "TB", "RL", "BT"],
        default="TB",
        help="direction of the drawing: TB top to bottom (the default), LR left to right, RL, BT",
    )
    which = explore.add_mutually_exclusive_group()  # the worked example's weights are fixed
    which.add_argument(
        "--worked-example", action="store_true", help="the text's worked example, not the network"
    )
    which.add_argument("--seed", type=_seed, help="seed of the network's weights (0)")

    evaluate = commands.add_parser(
        "evaluate",
        help="test accuracy of saved weights",
        description="Load weights saved by train and report their test accuracy and "
        "confusion matrix, on the digits' test split or on a test file.",
    )
    evaluate.add_argument("weights", help="a .npz file written by train")
    evaluate.add_argument(
        "--split-seed", type=_seed, default=0, help="seed of the digits' split (0)"
    )
    _add_data_options(evaluate, training=False)
    _add_tasks_command(commands)
    for command_parser in commands.choices.values():
        command_parser.set_defaults(command_parser=command_parser)  # for its own usage line
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return _reporting_errors(args.command, lambda: _run_command(args))


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return run_demo(seed=args.seed, learning_rate=args.lr)
    if args.command == "check":
        return run_check(args.seed)
    if args.command == "worked-example":
        return run_worked_example()
    if args.command == "train":
        _refuse_bad_train_options(args, args.command_parser)
        return run_train(args)
    if args.command == "evaluate":
        return run_evaluate(args)
    if args.command == "graph":
        return run_graph(args)
    if args.command == "explore":
        return run_explore(args)
    if args.command == "tasks":
        return run_tasks(args)
    raise AssertionError(f"no code runs the command {args.command!r}")


# --------------------------------------------------------------------------- tasks


def _add_tasks_command(commands: Any) -> None:
    """``tinygrad-edu tasks init DIR`` and ``tinygrad-edu tasks check [N] [--dir DIR]``."""
    from tinygrad_edu.tasks import runner

    tasks = commands.add_parser(
        "tasks",
        help="build it yourself: write the engine's backwards, its loop and an SGD step, "
        "graded with hints in the book's notation",
        description="Build the engine yourself. 'init DIR' writes DIR/my_engine.py, five "
        "functions to fill in, in order: the backward of Sigmoid, of SquaredError and of "
        "MatMul, the backward loop, an SGD step. 'check' plugs them into the engine, runs "
        "the project's checks on them (the book's formulas, finite differences, random "
        "inputs, the worked example) and reports the first failure with a hint; when all "
        "five pass, your engine trains a network built like the book's on the 8×8 digits.",
    )
    actions = tasks.add_subparsers(
        dest="tasks_command",
        metavar="ACTION",
        required=True,
        help="init (write the file to fill in) or check (grade it)",
    )

    def fixed_width(prog: str) -> argparse.HelpFormatter:  # the same usage on any terminal
        return argparse.HelpFormatter(prog, width=78)

    init = actions.add_parser(
        "init",
        help="write DIR/my_engine.py, the file you fill in (an existing one is kept)",
        formatter_class=fixed_width,
    )
    init.add_argument("dir", metavar="DIR", help="the folder (created if missing)")
    check = actions.add_parser(
        "check",
        help="check my_engine.py, task by task, and report the first failure",
        formatter_class=fixed_width,
    )
    check.add_argument(
        "up_to",
        metavar="N",
        nargs="?",
        type=_task_number,
        default=5,
        help="check tasks 1 to N only (default: all five)",
    )
    check.add_argument("--dir", default=".", help="the folder of my_engine.py (default: here)")
    check.add_argument(
        "--time-limit",
        type=_positive_float,
        default=runner.TIME_LIMIT,
        metavar="SECONDS",
        help=f"how long a task may run before it is stopped ({runner.TIME_LIMIT:g})",
    )
    check.add_argument(
        "--examples",
        type=_positive_int,
        default=20,
        metavar="COUNT",
        help="random inputs per property (20)",
    )
    check.add_argument(
        "--epochs",
        type=_count,
        default=runner.EPOCHS,
        metavar="COUNT",
        help=f"epochs of training once all five pass ({runner.EPOCHS}; 0: no training)",
    )
    forms = [p.format_usage().removeprefix("usage: ").strip() for p in (init, check)]
    tasks.usage = "\n       ".join(forms)  # both forms in the reference, from their parsers


def _task_number(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 5:
        raise argparse.ArgumentTypeError(f"the tasks are numbered 1 to 5, not {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def run_tasks(args: argparse.Namespace) -> int:
    """Write the scaffold, or check the learner's file."""
    from tinygrad_edu import tasks

    if args.tasks_command == "init":
        path = tasks.init(args.dir)
        print(f"wrote {path}: five functions to fill in, in order; its docstrings say what")
        print(f"each computes. Check your work with: tinygrad-edu tasks check --dir {args.dir}")
        return 0
    return tasks.check(
        args.dir,
        args.up_to,
        time_limit=args.time_limit,
        examples=args.examples,
        epochs=args.epochs,
    )


# --------------------------------------------------------------------------- errors

KNOWN_ERRORS = (ValueError, OSError, MemoryError, ImportError, ArithmeticError)
"""What a command reports in one line: bad values and files (the library's ValueErrors,
`io.LoadError` among them), the system's refusals (OSError, MemoryError), a missing extra
(ImportError), a diverged run (FloatingPointError); also any error class the library
defines (`viz.GraphvizNotFoundError`, `autograd.GraphReleasedError`, …). Anything else is a
bug, and keeps its traceback."""


def _reporting_errors(command: str, run: Callable[[], int]) -> int:
    """Run one command; a known error becomes one line on stderr and exit status 1."""
    try:
        status = run()
        sys.stdout.flush()  # so that a closed pipe is noticed here, not at exit
        return status
    except KeyboardInterrupt:
        print(f"tinygrad-edu {command}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it
    except BrokenPipeError:
        # The reader went away (`tinygrad-edu check | head -3`): stop quietly, as command-line
        # tools do, and point stdout at nothing so that Python's exit does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    except Exception as error:
        if not _is_known(error):
            raise
        print(f"tinygrad-edu {command}: error: {_one_line(error)}", file=sys.stderr)
        return 1


def _is_known(error: BaseException) -> bool:
    return isinstance(error, KNOWN_ERRORS) or type(error).__module__.startswith("tinygrad_edu")


def _one_line(error: BaseException) -> str:
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if isinstance(error, MemoryError):
        return f"out of memory: {message}" if message else "out of memory"
    return message or type(error).__name__


# --------------------------------------------------------------------------- checks before work


def _refuse_bad_train_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Everything that would fail only after minutes of training, refused before it starts
    (``parser.error`` prints train's usage and exits with status 2)."""
    try:
        from_files = _with_train_defaults(args)
    except ValueError as error:
        parser.error(str(error))
    if args.bias and args.rule == "book":
        parser.error("--bias works with --rule exact only: the book's rule has no biases")
    try:
        out = weights_io.target_path(args.out)
    except (ValueError, OSError) as error:
        parser.error(f"--out {args.out!r}: {error}")
    _refuse_unwritable("--out", out, parser)
    if args.plot is not None:
        plot = Path(args.plot)
        if plot.suffix.lower() != ".png":
            parser.error(f"--plot writes a PNG: give a path ending in .png, not {args.plot!r}")
        if plot.is_dir() or not plot.resolve().parent.is_dir():
            parser.error(f"--plot {args.plot!r}: not a file in an existing folder")
        _refuse_unwritable("--plot", plot, parser)
        from tinygrad_edu.training import require_matplotlib

        try:
            require_matplotlib()
        except ImportError as error:
            parser.error(f"--plot: {error}")
    _refuse_too_large(args.hidden, parser, inputs=BOOK_PIXELS if from_files else DIGIT_INPUTS)


def _refuse_unwritable(option: str, path: Path, parser: argparse.ArgumentParser) -> None:
    folder = path.resolve().parent
    if not os.access(folder, os.W_OK):
        parser.error(f"{option} {str(path)!r}: the folder {folder} is not writable")


DIGIT_INPUTS = 8 * 8  # the built-in digits' pixels


def _refuse_too_large(
    hidden: int, parser: argparse.ArgumentParser, inputs: int = DIGIT_INPUTS
) -> None:
    """A lower bound on the memory training needs: the weights and their gradients, float64
    (activations and temporaries come on top). Refused if above the machine's memory."""
    weights = hidden * (inputs + CLASSES)
    needed = 2 * weights * np.dtype(np.float64).itemsize
    available = _physical_memory()
    if available is not None and needed > available:
        parser.error(
            f"--hidden {hidden}: the {inputs}-{hidden}-{CLASSES} network's "
            f"{weights:,} weights and their gradients alone need {needed / 2**30:,.1f} GiB, "
            f"more than this machine's {available / 2**30:,.1f} GiB of memory"
        )


def _physical_memory() -> int | None:
    """Bytes of RAM, or None where the system does not say (then nothing is refused)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _network_from_file(
    path: str, inputs: int = DIGIT_INPUTS, classes: int = CLASSES
) -> nn.Sequential:
    """The book's network from a weight file, refused (naming the file) unless evaluate can
    trust its answer: floating, finite weights of a network that fits the data (``inputs``
    values per sample, one output per class)."""
    from tinygrad_edu import training

    state = weights_io.load(path)
    for name, array in state.items():
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(
                f"{path}: {name!r} has dtype {array.dtype}; weights are floating-point arrays "
                "(train saves float64)"
            )
        broken = array.size - np.count_nonzero(np.isfinite(array))
        if broken:
            raise ValueError(
                f"{path}: {name!r} holds NaN or infinite values ({broken} of {array.size}); "
                "the run that saved it diverged, and its accuracy would mean nothing"
            )
    try:
        model = training.network_from_state(state)
    except (KeyError, TypeError, ValueError) as error:  # load_state_dict's checks, all-or-nothing
        reason = error.args[0] if error.args else error
        raise ValueError(f"{path} is not the book's network: {reason}") from None
    hidden, network_inputs = state["0.weight"].shape
    outputs = state["2.weight"].shape[0]
    if (network_inputs, outputs) != (inputs, classes):
        raise ValueError(
            f"{path} holds a {network_inputs}-{hidden}-{outputs} network; the data needs "
            f"{inputs} inputs and {classes} outputs (one per class)"
        )
    return model
