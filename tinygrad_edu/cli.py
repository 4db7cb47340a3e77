"""The ``tinygrad-edu`` command (also ``python -m tinygrad_edu``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinygrad_edu import __version__, textbook
from tinygrad_edu import io as weights_io


def _matrix(values: np.ndarray, indent: str) -> str:
    text = np.array2string(values, precision=6, suppress_small=False, floatmode="fixed")
    return text.replace("\n", "\n" + indent)


def run_demo(seed: int = 0, learning_rate: float = 0.3) -> int:
    """One SGD step of the book's 3-3-3 sigmoid network: autodiff beside the closed forms."""
    loss = textbook.book_network(seed)  # loss = ½Σ(t − o)², the book's E
    tensors = textbook.named_tensors(loss)
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
        f"weights ~ N(0, 1/3), seed {seed}"
    )
    print(f"E = ½Σ(t − o)² = {loss.item():.6f}   outputs o = {outputs.data.ravel().round(6)}")
    print()
    rows = [
        ("ΔW_ho = −α·∂E/∂W_ho, autodiff", autodiff_ho),
        ("ΔW_ho = α·(E∗O(1−O))·O_jᵀ, closed form", exact_ho),
        ("ΔW_ih = −α·∂E/∂W_ih, autodiff", autodiff_ih),
        ("ΔW_ih with W_hoᵀ·(e∗o(1−o)), closed form", exact_ih),
        ("ΔW_ih with W_hoᵀ·e, the book's code", book_ih),
    ]
    for title, values in rows:
        print(title)
        print("  " + _matrix(values, "  "))
    print()
    diff_ho = np.abs(autodiff_ho - exact_ho).max()
    diff_ih = np.abs(autodiff_ih - exact_ih).max()
    diff_book = np.abs(autodiff_ih - book_ih).max()
    print(f"max |autodiff − closed form|: W_ho {diff_ho:.1e}, W_ih {diff_ih:.1e}")
    print(
        f"max |autodiff − book's hidden rule|: W_ih {diff_book:.1e} (the book leaves out "
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
    results = textbook.comparisons(seed)
    print(
        "The texts' formulas against the engine (book network 3-3-3, seed "
        f"{seed}; the worked example). First element shown; the difference is the largest."
    )
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
    agreeing = sum(c.agrees for c in results)
    print()
    print(
        f"{agreeing} formulas agree with autodiff; {len(results) - agreeing} differ, each by a "
        "documented erratum (docs/errata.md)" + (f"; {unexpected} UNEXPECTED" if unexpected else "")
    )
    return 1 if unexpected else 0


def run_worked_example() -> int:
    """Text 000's worked example, by hand and by autodiff, and its chain rule step by step."""
    example = textbook.worked_example()
    loss, weights = textbook.worked_example_network(half=True)
    rows = [
        ("Σ w_j1·o_j = 2.0·0.4 + 3.0·0.5", "2.3", example.weighted_sum),
        ("σ(2.3)", "0.909", example.output),
        ("σ(1 − σ)", "0.083", example.slope),
        ("∂E/∂w₁₁ = −e₁·σ(1 − σ)·o₁", "−0.0265", example.gradient),
        ("new w₁₁ = 2.0 − 0.1·∂E/∂w₁₁", "2.00265", example.new_weight),
    ]
    print("Text 000, 'Weight Update Worked Example' (w₁₁ = 2.0, w₂₁ = 3.0, o₁ = 0.4, o₂ = 0.5,")
    print("e₁ = 0.8 taken as given, α = 0.1), E = ½Σ(t − o)²:")
    print(f"  {'quantity':<30} {'the text':>9} {'computed':>12}")
    for name, text, value in rows:
        print(f"  {name:<30} {text:>9} {value:>12.6f}")
    print()
    print("autodiff, factor by factor (E = ½Σ(t − o)²: the ½ cancels the square's 2):")
    explanation = textbook.explain(loss, weights, (0, 0), show=False)
    print(explanation)
    print()
    print("without the ½ (E = Σ(t − o)²) the factor 2 stays, and the gradient doubles:")
    plain, plain_weights = textbook.worked_example_network(half=False)
    doubled = textbook.explain(plain, plain_weights, (0, 0), show=False)
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


def run_train(args: argparse.Namespace) -> int:
    """Train the book's network on the digits or on MNIST-style files (the book's CSV or
    IDX); print progress, accuracy and confusion."""
    from tinygrad_edu import training
    from tinygrad_edu.data import load_digits, load_files

    from_files = _from_files(args)
    preset = training.BOOK_MNIST_CONFIG if from_files else training.DIGITS_CONFIG
    config = training.TrainConfig(
        hidden=preset.hidden if args.hidden is None else args.hidden,
        lr=preset.lr if args.lr is None else args.lr,
        epochs=preset.epochs if args.epochs is None else args.epochs,
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
    result = training.train(config, split, progress=not args.no_progress)
    print(f"test accuracy {result.test_accuracy:.4f}")
    print("confusion matrix (rows: true label, columns: predicted label)")
    print(training.format_confusion(result.confusion))
    out = args.out or ("mnist_weights.npz" if from_files else "digits_weights.npz")
    saved = weights_io.save(result.model, out)
    print(f"weights saved to {saved}")
    if args.plot:
        training.plot_history(result.history, args.plot)
        print(f"loss and accuracy plotted to {args.plot}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Report the test accuracy of saved weights on the digits test split or a test file."""
    from tinygrad_edu import training
    from tinygrad_edu.data import book_inputs, load_digits, read_images

    model = training.network_from_state(weights_io.load(args.weights))
    if _from_files(args):
        images = read_images(args.test_data, args.test_labels)
        inputs, labels = book_inputs(images.pixels, 255.0), images.labels
        samples = f"{len(labels)} images from {args.test_data}"
    else:
        split = load_digits(seed=args.split_seed)
        inputs, labels = split.test_inputs, split.test_labels
        samples = f"{len(labels)} digits"
    expected = model[0].weight.shape[1]  # type: ignore[attr-defined]
    if inputs.shape[1] != expected:
        raise ValueError(
            f"{args.weights} is a network of {expected} inputs, but the test data has "
            f"{inputs.shape[1]} per sample: evaluate it on data like the data it was trained on"
        )
    predicted = training.predict(model, inputs)
    accuracy = float(np.mean(predicted == labels))
    print(f"{args.weights}: test accuracy {accuracy:.4f} on {samples}")
    print(training.format_confusion(training.confusion_matrix(labels, predicted)))
    return 0


def run_graph(args: argparse.Namespace) -> int:
    """Draw the book's network (forward, or its backward pass) to a file."""
    from tinygrad_edu import viz

    loss = textbook.book_network(args.seed, retain_grad=args.backward)
    if args.backward:
        loss.backward()  # so the drawing shows the gradients that flowed back
    path = viz.save(
        loss, args.out, backward=args.backward, show_data=args.data, rankdir=args.rankdir
    )
    view = "backward pass" if args.backward else "forward graph"
    print(f"the book's 3-3-3 network, {view}, drawn to {path}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {value}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a whole number ≥ 0, got {value}")
    return value


def _add_data_options(command: argparse.ArgumentParser, training: bool) -> None:
    """--train-data/--test-data (CSV or IDX images) and, for IDX, their labels files."""
    group = command.add_argument_group(
        "MNIST-style files",
        "the book's CSV (label then 784 pixels a line) or IDX images, gzipped or not, told "
        "apart by content. IDX labels are found beside the images by the standard name "
        "(train-images-idx3-ubyte.gz → train-labels-idx1-ubyte.gz) unless given.",
    )
    if training:
        group.add_argument("--train-data", metavar="FILE", help="training data: CSV or IDX images")
        group.add_argument("--train-labels", metavar="FILE", help="IDX labels of --train-data")
    group.add_argument("--test-data", metavar="FILE", help="test data: CSV or IDX images")
    group.add_argument("--test-labels", metavar="FILE", help="IDX labels of --test-data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-edu",
        description="A small reverse-mode autodiff framework that proves the textbook's "
        "backpropagation formulas.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="one SGD step of the book's network: autodiff beside the closed form"
    )
    demo.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights")
    demo.add_argument("--lr", type=_positive_float, default=0.3, help="learning rate α (0.3)")

    train = commands.add_parser(
        "train",
        help="train the book's network on the built-in 8×8 digits, or on MNIST files (the "
        "book's CSV or IDX)",
    )
    train.add_argument(
        "--hidden", type=_positive_int, help="hidden nodes (digits: 100; files: the book's 200)"
    )
    train.add_argument(
        "--lr", type=_positive_float, help="learning rate (digits: 0.5; files: the book's 0.1)"
    )
    train.add_argument(
        "--epochs", type=_positive_int, help="epochs (digits: 20; files: the book's 5)"
    )
    train.add_argument("--batch-size", type=_positive_int, default=1, help="batch size (1)")
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

    check = commands.add_parser(
        "check", help="every formula of the texts beside autodiff and finite differences"
    )
    check.add_argument("--seed", type=_seed, default=0, help="seed of the network's weights (0)")
    commands.add_parser(
        "worked-example", help="the text's w₁₁ = 2.0 → 2.00265 example, step by step"
    )

    graph = commands.add_parser("graph", help="draw the book's network graph to a file")
    graph.add_argument(
        "--out", default="book_network.svg", help="file to write: .svg .png .pdf, or .dot .gv"
    )
    graph.add_argument(
        "--backward", action="store_true", help="the backward pass with its chain-rule factors"
    )
    graph.add_argument("--data", action="store_true", help="show the values in each tensor")
    graph.add_argument("--rankdir", choices=["LR", "TB", "RL", "BT"], default="TB")
    graph.add_argument("--seed", type=_seed, default=0, help="seed of the weights (0)")

    evaluate = commands.add_parser("evaluate", help="test accuracy of saved weights")
    evaluate.add_argument("weights", help="a .npz file written by train")
    evaluate.add_argument(
        "--split-seed", type=_seed, default=0, help="seed of the digits' split (0)"
    )
    _add_data_options(evaluate, training=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(seed=args.seed, learning_rate=args.lr)
    if args.command == "check":
        return run_check(args.seed)
    if args.command == "worked-example":
        return run_worked_example()
    try:
        if args.command == "train":
            if args.bias and args.rule == "book":
                parser.error("--bias works with --rule exact only: the book's rule has no biases")
            if args.plot and not args.plot.lower().endswith(".png"):
                parser.error(f"--plot writes a PNG: give a path ending in .png, not {args.plot}")
            for path in (args.out, args.plot):
                if path and not Path(path).resolve().parent.is_dir():
                    parser.error(f"the folder of {path} does not exist")
            return run_train(args)
        if args.command == "evaluate":
            return run_evaluate(args)
        if args.command == "graph":
            return run_graph(args)
    except (ImportError, OSError, ValueError, KeyError, RuntimeError, ArithmeticError) as error:
        print(f"tinygrad-edu {args.command}: {error}", file=sys.stderr)
        return 1
    parser.print_help(sys.stderr)
    return 2
