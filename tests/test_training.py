"""Training the book's network: each step is the closed-form update, runs are reproducible,
and the train/evaluate commands work end to end (the full accuracy targets are measured by
benchmarks/digits_accuracy.py, not here)."""

import sys

import numpy as np
import pytest

from tinygrad_edu import io as weights_io
from tinygrad_edu import textbook, training
from tinygrad_edu.cli import main
from tinygrad_edu.data import Split, book_targets, load_digits


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def small_split(digits, train=200, test=100):
    return Split(
        digits.train_inputs[:train],
        digits.train_labels[:train],
        digits.test_inputs[:test],
        digits.test_labels[:test],
    )


def one_step_split(digits, batch):
    """A split whose training part is exactly one batch, so one epoch is one step."""
    return Split(
        digits.train_inputs[:batch],
        digits.train_labels[:batch],
        digits.test_inputs[:5],
        digits.test_labels[:5],
    )


@pytest.mark.parametrize(
    ("rule", "updates"),
    [("exact", textbook.exact_weight_updates), ("book", textbook.book_weight_updates)],
)
@pytest.mark.parametrize("batch", [1, 5])
def test_a_minibatch_step_is_the_mean_of_the_per_sample_closed_form_updates(
    digits, rule, updates, batch
):
    split = one_step_split(digits, batch)
    config = training.TrainConfig(hidden=7, lr=0.4, epochs=1, batch_size=batch, seed=3, rule=rule)
    initial = training.book_network(64, 7, 10, rng=np.random.default_rng(3))
    w_ih, w_ho = initial[0].weight.data, initial[2].weight.data

    result = training.train(config, split, progress=False, log=None)

    per_sample = [
        updates(w_ih, w_ho, x[:, None], t[:, None], 0.4)
        for x, t in zip(split.train_inputs, book_targets(split.train_labels), strict=True)
    ]
    mean_ih = np.mean([d_ih for d_ih, _ in per_sample], axis=0)
    mean_ho = np.mean([d_ho for _, d_ho in per_sample], axis=0)
    np.testing.assert_allclose(result.model[0].weight.data, w_ih + mean_ih, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.model[2].weight.data, w_ho + mean_ho, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rule", ["exact", "book"])
def test_seeded_runs_are_reproducible_bit_for_bit(digits, rule):
    config = training.TrainConfig(hidden=16, epochs=2, batch_size=3, seed=5, rule=rule)
    first = training.train(config, small_split(digits), progress=False, log=None)
    second = training.train(config, small_split(digits), progress=False, log=None)
    for (_, a), (_, b) in zip(
        first.model.named_parameters(), second.model.named_parameters(), strict=True
    ):
        assert np.array_equal(a.data, b.data)
    assert first.history == second.history
    other = training.train(
        training.TrainConfig(hidden=16, epochs=2, batch_size=3, seed=6, rule=rule),
        small_split(digits),
        progress=False,
        log=None,
    )
    assert not np.array_equal(other.model[0].weight.data, first.model[0].weight.data)


@pytest.mark.parametrize(("batch", "bias"), [(1, False), (7, False), (3, True)])
def test_replayed_and_eager_training_end_on_bit_identical_weights(digits, batch, bias):
    """The exact rule's steps are replayed by default; eager=True runs the plain engine.
    Batch 7 leaves a last, smaller batch each epoch (a second recording)."""
    config = training.TrainConfig(hidden=12, lr=0.5, epochs=2, batch_size=batch, bias=bias)
    runs = [
        training.train(config, small_split(digits, 60, 10), progress=False, log=None, eager=eager)
        for eager in (False, True)
    ]
    replayed, eager = (dict(run.model.named_parameters()) for run in runs)
    assert list(replayed) == list(eager)
    for name in replayed:
        assert replayed[name].data.tobytes() == eager[name].data.tobytes(), name
    assert runs[0].history == runs[1].history


def test_train_with_eager_saves_the_same_weights_as_the_replay(tmp_path, capsys):
    files = [tmp_path / "replayed.npz", tmp_path / "eager.npz"]
    for out, extra in zip(files, ([], ["--eager"]), strict=True):
        argv = ["train", "--epochs", "1", "--hidden", "6", "--out", str(out), "--no-progress"]
        assert main(argv + extra) == 0
    capsys.readouterr()
    replayed, eager = (weights_io.load(out) for out in files)
    for name in replayed:
        assert replayed[name].tobytes() == eager[name].tobytes()


def test_training_lowers_the_loss_and_beats_chance(digits):
    config = training.TrainConfig(hidden=30, lr=0.5, epochs=4)
    result = training.train(config, small_split(digits, 400, 200), progress=False, log=None)
    losses = [epoch.loss for epoch in result.history]
    assert losses[-1] < losses[0]
    assert result.test_accuracy > 0.5  # chance is 0.1
    assert result.confusion.sum() == 200
    assert np.trace(result.confusion) / 200 == pytest.approx(result.test_accuracy)


def test_biases_are_trained_with_the_exact_rule(digits):
    config = training.TrainConfig(hidden=8, epochs=1, bias=True)
    result = training.train(config, small_split(digits, 50, 10), progress=False, log=None)
    names = [name for name, _ in result.model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert np.any(result.model[0].bias.data != 0)  # started at 0 (book init), then moved


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden": 0}, "hidden"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": float("inf")}, "learning rate"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch size"),
        ({"rule": "other"}, "rule"),
        ({"rule": "book", "bias": True}, "biases"),
    ],
)
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        training.TrainConfig(**options)


def test_confusion_matrix_counts_true_against_predicted():
    counts = training.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])


def test_network_from_state_rebuilds_the_sizes_and_refuses_other_weights():
    model = training.book_network(64, 12, 10, rng=0)
    rebuilt = training.network_from_state(model.state_dict())
    assert rebuilt[0].weight.shape == (12, 64)
    np.testing.assert_array_equal(rebuilt[2].weight.data, model[2].weight.data)
    with pytest.raises(ValueError, match=r"0\.weight"):
        training.network_from_state({"weight": np.ones((2, 2))})


def test_plot_history_writes_a_png(tmp_path):
    history = [training.Epoch(1, 0.3, 0.8), training.Epoch(2, 0.2, 0.9)]
    path = tmp_path / "curve.png"
    training.plot_history(history, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_history_leaves_the_backend_and_pyplot_alone(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # stands for a notebook's own backend
    try:
        figure = training.plot_history([training.Epoch(1, 0.3, 0.8)], str(tmp_path / "c.png"))
        assert matplotlib.get_backend() == "svg"  # no switch to Agg behind the notebook's back
        assert len(figure.axes) == 2
        if "matplotlib.pyplot" in sys.modules:  # and no figure left open in pyplot
            assert not sys.modules["matplotlib.pyplot"].get_fignums()
    finally:
        matplotlib.use(before)


# --------------------------------------------------------------------------- the commands


def test_train_then_evaluate_report_the_same_accuracy(tmp_path, capsys):
    out = tmp_path / "w.npz"
    assert (
        main(["train", "--epochs", "1", "--hidden", "10", "--out", str(out), "--no-progress"]) == 0
    )
    trained = capsys.readouterr().out
    assert "confusion matrix" in trained
    accuracy = trained.split("test accuracy ")[-1].split()[0]
    assert weights_io.load(out)["0.weight"].shape == (10, 64)
    assert main(["evaluate", str(out)]) == 0
    assert f"test accuracy {accuracy}" in capsys.readouterr().out


def test_evaluate_of_a_missing_file_fails_with_a_message(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "none.npz")]) == 1
    assert "no weight file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--lr", "0"],
        ["train", "--epochs", "0"],
        ["train", "--rule", "book", "--bias"],
        ["train", "--rule", "sideways"],
    ],
)
def test_train_refuses_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--seed", "-1"],
        ["check", "--seed", "-1"],
        ["demo", "--lr", "nan"],
        ["train", "--lr", "inf"],
        ["train", "--plot", "curve.jpg"],
        ["train", "--out", "/no/such/folder/w.npz"],
    ],
)
def test_odd_arguments_are_refused_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_a_run_whose_loss_is_not_finite_stops_with_a_message(digits):
    split = small_split(digits, 20, 5)
    broken = Split(
        np.full_like(split.train_inputs, np.nan),
        split.train_labels,
        split.test_inputs,
        split.test_labels,
    )
    config = training.TrainConfig(hidden=5, epochs=3)
    with pytest.raises(FloatingPointError, match="epoch 1"), np.errstate(invalid="ignore"):
        training.train(config, broken, progress=False, log=None)
