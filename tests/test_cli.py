"""The tinygrad-edu command."""

import subprocess
import sys

import pytest
from references import sigmoid

from tinygrad_edu import __version__
from tinygrad_edu.cli import main


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_demo_shows_autodiff_agreeing_with_the_closed_forms(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "ΔWₕₒ = α·(e∗oₖ(1−oₖ))·oⱼᵀ, closed form" in out
    assert "autodiff agrees with the closed forms" in out


def test_demo_keeps_e_for_the_error_vector_and_gives_a_standard_deviation(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "N(0, σ = 3^−½)" in out and "1/3" not in out  # a standard deviation, not a variance
    # ½Σ(t − o)² is the loss the book's formulas differentiate, never "the book's loss"
    assert "E = ½Σ(t − o)² = " in out and "the book's formulas are" in out
    assert "book's loss" not in out and "book's E" not in out
    assert "e = t − o" in out and "E∗" not in out  # E is the loss only, e the error vector


def test_check_says_what_each_slip_is_and_names_the_sources(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "Rashid" in out and "Make Your Own Neural Network" in out
    assert "python-course.eu" in out
    assert "000 " not in out and "001 " not in out and "p.80" not in out
    lines = out.splitlines()
    for number, line in enumerate(lines):
        if "differs: erratum" in line:
            assert lines[number + 1].lstrip().startswith("the slip: E")
    proportional = next(line for line in lines if "proportional split" in line)
    assert "linear output layer" in proportional  # its numbers are for a linear layer


def test_worked_example_says_what_the_slips_are(capsys):
    assert main(["worked-example"]) == 0
    out = capsys.readouterr().out
    o_k = sigmoid(2.3)
    assert "oⱼ = 0.4" in out and "oₖ = σ(2.3)" in out  # hidden output, output node's output
    assert f"needs a target t₁ = {o_k + 0.8:.3f}" in out and "1.709" in out
    rounded = -0.8 * 0.083 * 0.4  # the text's own rounded factors
    assert f"{rounded:.5f}" in out and f"{2.0 - 0.1 * rounded:.6f}" in out
    assert "-0.02656" in out and "2.002656" in out
    assert "Rashid" in out and "Text 000" not in out and "book's loss" not in out


def test_demo_rejects_a_non_positive_learning_rate(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--lr", "-1"])
    assert exit_info.value.code == 2
    assert "argument --lr: must be a positive" in capsys.readouterr().err


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_python_dash_m_runs_the_demo():
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_edu", "demo", "--seed", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "seed 3" in result.stdout


def test_graph_writes_dot_source_without_the_dot_program(tmp_path, capsys):
    out = tmp_path / "net.dot"
    assert main(["graph", "--backward", "--out", str(out)]) == 0
    source = out.read_text()
    assert "W_ih" in source and "·σ(1−σ)" in source
    assert str(out) in capsys.readouterr().out


def test_graph_refuses_an_unknown_suffix(tmp_path, capsys):
    assert main(["graph", "--out", str(tmp_path / "net.txt")]) == 1
    assert ".svg" in capsys.readouterr().err


def test_check_lists_every_formula_and_finds_nothing_unexpected(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "UNEXPECTED" not in out
    assert "differs: erratum E8" in out and "agrees" in out


def test_worked_example_prints_the_texts_numbers_and_the_chain(capsys):
    assert main(["worked-example"]) == 0
    out = capsys.readouterr().out
    s = sigmoid(2.3)  # the text's givens, computed here independently
    gradient = -0.8 * s * (1 - s) * 0.4
    for value in (2.3, s, s * (1 - s), gradient, 2.0 - 0.1 * gradient, 2 * gradient):
        assert f"{value:.6f}" in out


def test_train_help_says_how_the_learning_rate_goes_with_the_batch_size(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "mean of the per-sample steps" in out
    assert "raise --lr" in out and "--batch-size 32 --lr 2" in out


def test_every_command_says_in_its_help_what_it_does(capsys):
    from tinygrad_edu.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    for name, command in commands.choices.items():
        assert command.description and command.description.rstrip().endswith("."), name
        with pytest.raises(SystemExit):
            main([name, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert " ".join(command.description.split()[:6]) in out, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings} has no help text"


def test_the_tagline_says_what_the_command_does_not_that_it_proves_the_texts(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "prove" not in out
    assert "checks the backpropagation formulas of two texts" in out
    assert "which agree and which differ" in out


def test_a_learning_rate_that_is_not_a_number_gets_a_plain_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--lr", "abc"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --lr: must be a positive number, got 'abc'" in err
    assert "_positive_float" not in err and "invalid" not in err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "--epochs", "abc"], "argument --epochs: must be a whole number ≥ 1, got 'abc'"),
        (["train", "--hidden", "2.5"], "argument --hidden: must be a whole number ≥ 1, got '2.5'"),
        (["demo", "--seed", "x"], "argument --seed: must be a whole number ≥ 0 (a seed), got 'x'"),
    ],
)
def test_a_count_or_seed_that_is_not_a_whole_number_gets_a_plain_message(
    capsys, arguments, message
):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "_positive_int" not in err and "_seed" not in err and "invalid" not in err
