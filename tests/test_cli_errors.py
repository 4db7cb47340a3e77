"""Every command fails in one clear line, and changes nothing.

A known error (a bad value or file, the system refusing, a missing extra) ends the command
with one line ``tinygrad-edu <command>: error: <message>`` and exit status 1; a bad option
is refused before any work by the command's own parser (its usage, then the line, status
2). Files on disk stay byte for byte as they were, with no temporary left beside them. An
unknown exception is a bug and keeps its traceback.
"""

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from tinygrad_edu import cli, proofs, textbook, training
from tinygrad_edu import io as weights_io
from tinygrad_edu.cli import main


def snapshot(folder):
    """Every file under ``folder`` with its bytes: equal snapshots mean nothing changed."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


def the_one_line(stderr: str, command: str) -> str:
    """The error line (the last line), checked to be the only line but for a usage."""
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr
    assert lines, "nothing on stderr"
    assert lines[-1].startswith(f"tinygrad-edu {command}: error: "), lines[-1]
    return lines[-1]


def book_weights(outputs: int = 10, inputs: int = 64, hidden: int = 10) -> dict:
    return training.book_network(inputs, hidden, outputs, rng=0).state_dict()


def huge_header_archive(path):
    """A 100-byte member whose .npy header claims 7 TiB (1024·1024·1024·896 float64)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (1024, 1024, 1024, 896)}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("0.weight.npy", header.getvalue() + b"\0" * (100 - len(header.getvalue())))


def true_shape_archive(path):
    """A member whose .npy header gives the shape (True,): numpy's parser lets a bool pass
    as an integer."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (True,)}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("0.weight.npy", header.getvalue() + b"\0" * 8)


def weight_file_with(kind, path):
    """A weight file of each kind that evaluate must refuse."""
    if kind == "int32":
        state = {k: v.astype(np.int32) for k, v in book_weights().items()}
    elif kind == "nan":
        state = book_weights()
        state["2.weight"][3, 4] = np.nan
    elif kind == "inf":
        state = book_weights()
        state["0.weight"][0, 0] = -np.inf
    elif kind == "12-outputs":
        state = book_weights(outputs=12)
    elif kind == "7-outputs":
        state = book_weights(outputs=7)
    elif kind == "784-inputs":
        state = book_weights(inputs=784)
    elif kind == "extra-key":
        state = {**book_weights(), "junk": np.ones(2)}
    elif kind == "one-layer":
        state = {"0.weight": book_weights()["0.weight"]}
    elif kind == "7-TiB-header":
        return huge_header_archive(path)
    elif kind == "true-in-shape":
        return true_shape_archive(path)
    elif kind == "text":
        return path.write_text("not weights")
    elif kind == "object-array":
        return np.savez(path, **{"0.weight": np.array([{"a": 1}], dtype=object)})
    elif kind == "not-npy-member":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("0.weight.txt", "1 2 3")
        return None
    elif kind == "missing":
        return None
    else:
        raise AssertionError(kind)
    weights_io.save(state, path)
    return None


EVALUATE_CASES = {
    "int32": r"'0\.weight' has dtype int32; weights are floating-point",
    "nan": r"'2\.weight' holds NaN or infinite values \(1 of 100\); the run .* diverged",
    "inf": r"'0\.weight' holds NaN or infinite values \(1 of 640\)",
    "12-outputs": r"holds a 64-10-12 network; the data needs 64 inputs and 10 outputs",
    "7-outputs": r"holds a 64-10-7 network; the data needs 64 inputs and 10 outputs",
    "784-inputs": r"holds a 784-10-10 network; the data needs 64 inputs",
    "extra-key": r"is not the book's network: .*unexpected \['junk'\]",
    "one-layer": r"is not the book's network: .*'2\.weight'",
    "7-TiB-header": r"member '0\.weight\.npy' is truncated or corrupt: .*7\.00 TiB.* follow it",
    "true-in-shape": r"member '0\.weight\.npy' is corrupt: its header gives the shape \(True,\)",
    "text": r"is not a \.npz archive",
    "object-array": r"member '0\.weight\.npy' holds an object array",
    "not-npy-member": r"members that are not arrays: \['0\.weight\.txt'\]",
    "missing": r"load: no weight file at",
}


@pytest.mark.parametrize(("kind", "message"), EVALUATE_CASES.items(), ids=EVALUATE_CASES)
def test_evaluate_refuses_a_weight_file_it_cannot_trust(tmp_path, capsys, kind, message):
    path = tmp_path / "w.npz"
    weight_file_with(kind, path)
    before = snapshot(tmp_path)
    assert main(["evaluate", str(path)]) == 1
    captured = capsys.readouterr()
    line = the_one_line(captured.err, "evaluate")
    assert len(captured.err.strip().splitlines()) == 1
    assert str(path) in line
    assert re.search(message, line), line
    assert "test accuracy" not in captured.out
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- train's options

TRAIN_OPTION_CASES = {
    "out-empty": (["--out", ""], r"--out '': save: '' names no file"),
    "out-folder": (["--out", "{tmp}"], r"--out '.*': save: .* is a folder"),
    "out-missing-folder": (
        ["--out", "{tmp}/nowhere/w.npz"],
        r"the folder .*nowhere does not exist",
    ),
    "bias-book": (["--bias", "--rule", "book"], r"--bias works with --rule exact only"),
    "plot-jpg": (["--plot", "{tmp}/c.jpg"], r"--plot writes a PNG"),
    "plot-missing-folder": (["--plot", "{tmp}/nowhere/c.png"], r"not a file in an existing folder"),
    "plot-folder": (["--plot", "{tmp}/sub.png"], r"not a file in an existing folder"),
    "hidden-huge": (
        ["--hidden", "100000000"],
        r"--hidden 100000000: the 64-100000000-10 network's 7,400,000,000 weights and their "
        r"gradients alone need 110\.3 GiB, more than this machine's 16\.0 GiB",
    ),
}


@pytest.mark.parametrize(
    ("options", "message"), TRAIN_OPTION_CASES.values(), ids=TRAIN_OPTION_CASES
)
def test_train_refuses_a_bad_option_with_its_own_usage_before_training(
    tmp_path, capsys, monkeypatch, options, message
):
    (tmp_path / "sub.png").mkdir()
    weights_io.save(book_weights(), tmp_path / "digits_weights.npz")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_physical_memory", lambda: 16 * 2**30)
    monkeypatch.setattr(training, "train", pytest.fail)  # no training may start
    before = snapshot(tmp_path)
    argv = ["train", *(option.format(tmp=tmp_path) for option in options)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tinygrad-edu train ")
    assert re.search(message, the_one_line(err, "train"))
    assert snapshot(tmp_path) == before


def test_explore_refuses_a_seed_for_the_worked_example_whose_weights_are_fixed(tmp_path, capsys):
    out = tmp_path / "page.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["explore", "--worked-example", "--seed", "3", "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tinygrad-edu explore ")
    assert "argument --seed: not allowed with argument --worked-example" in err
    assert not out.exists()


def test_plot_without_matplotlib_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setattr(training, "train", pytest.fail)
    with pytest.raises(SystemExit):
        main(["train", "--out", str(tmp_path / "w.npz"), "--plot", str(tmp_path / "c.png")])
    line = the_one_line(capsys.readouterr().err, "train")
    assert r'pip install "tinygrad-edu[plot]"' in line
    assert snapshot(tmp_path) == {}


def test_a_hidden_layer_that_fits_in_memory_is_not_refused(monkeypatch):
    # 64-1000-10: 74,000 weights, 1.2 MB with their gradients, far below 1 GiB; a refusal
    # would exit through the parser.
    monkeypatch.setattr(cli, "_physical_memory", lambda: 2**30)
    cli._refuse_too_large(1000, argparse.ArgumentParser())


# --------------------------------------------------------------------------- failures at work


def test_a_failed_save_after_training_keeps_the_old_weights(tmp_path, capsys, monkeypatch):
    out = tmp_path / "w.npz"
    weights_io.save(book_weights(), out)
    before = snapshot(tmp_path)

    def disk_full(member, array, allow_pickle):
        member.write(b"\x93NUMPY")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    argv = ["train", "--epochs", "1", "--hidden", "5", "--out", str(out), "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    line = the_one_line(err, "train")
    assert len(err.strip().splitlines()) == 1
    assert f"could not write {out} (No space left on device); the file there is unchanged" in line
    assert snapshot(tmp_path) == before  # same bytes, and no temporary file beside them


def raising(error):
    def run(*args, **kwargs):
        raise error

    return run


RUNTIME_CASES = {
    "demo": (["demo"], proofs, "book_network_loss", ValueError("bad seed"), "bad seed"),
    "check": (["check"], proofs, "comparisons", ArithmeticError("overflow"), "overflow"),
    "worked-example": (
        ["worked-example"],
        textbook,
        "worked_example",
        OSError(5, "Input/output error"),
        "[Errno 5] Input/output error",
    ),
    "train-memory": (
        ["train", "--no-progress"],
        training,
        "train",
        MemoryError("Unable to allocate 47.7 GiB for an array"),
        "out of memory: Unable to allocate 47.7 GiB for an array",
    ),
    "train-empty-memory": (["train"], training, "train", MemoryError(), "out of memory"),
    "train-diverged": (
        ["train"],
        training,
        "train",
        FloatingPointError("training diverged: the loss is nan in epoch 3"),
        "training diverged: the loss is nan in epoch 3",
    ),
    "multi-line-message": (
        ["demo"],
        proofs,
        "book_network_loss",
        ValueError("first line\n   second line"),
        "first line second line",
    ),
}


@pytest.mark.parametrize(
    ("argv", "module", "name", "error", "message"), RUNTIME_CASES.values(), ids=RUNTIME_CASES
)
def test_every_command_reports_a_known_error_in_one_line(
    tmp_path, capsys, monkeypatch, argv, module, name, error, message
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(module, name, raising(error))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"tinygrad-edu {argv[0]}: error: {message}"
    assert snapshot(tmp_path) == {}


def test_a_missing_extra_is_named_in_one_line(tmp_path, capsys, monkeypatch):
    weights_io.save(book_weights(), tmp_path / "w.npz")
    before = snapshot(tmp_path)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    assert main(["evaluate", str(tmp_path / "w.npz")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "tinygrad-edu evaluate: error: the digits dataset needs scikit-learn: "
        'pip install "tinygrad-edu[digits]"'
    )
    assert snapshot(tmp_path) == before


def test_the_librarys_own_error_classes_are_known_errors(tmp_path, capsys, monkeypatch):
    from tinygrad_edu import viz

    monkeypatch.setattr(viz, "save", raising(viz.GraphvizNotFoundError("save 'g.svg': no dot")))
    assert main(["graph", "--out", str(tmp_path / "g.svg")]) == 1
    assert capsys.readouterr().err.strip() == "tinygrad-edu graph: error: save 'g.svg': no dot"


@pytest.mark.parametrize(
    ("out", "message"),
    [("g.txt", "cannot tell the format of 'g.txt'"), ("nowhere/g.dot", "No such file")],
)
def test_graph_reports_a_bad_output_path_in_one_line(tmp_path, capsys, monkeypatch, out, message):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "--out", out]) == 1
    err = capsys.readouterr().err
    assert message in the_one_line(err, "graph") and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == {}


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="explore draws with dot")


@needs_dot
@pytest.mark.parametrize("out", ["mnist_weights.npz", "page.txt", "page", "page.html.npz"])
def test_explore_refuses_an_out_that_is_not_a_page_and_overwrites_nothing(
    tmp_path, capsys, monkeypatch, out
):
    monkeypatch.chdir(tmp_path)
    weights_io.save(book_weights(), tmp_path / "mnist_weights.npz")
    before = snapshot(tmp_path)
    assert main(["explore", "--out", out]) == 1
    err = capsys.readouterr().err
    line = the_one_line(err, "explore")
    assert len(err.strip().splitlines()) == 1
    assert f"save: the page is HTML; give a path ending in .html or .htm, not {out!r}" in line
    assert snapshot(tmp_path) == before


@needs_dot
@pytest.mark.parametrize("out", ["page.html", "page.htm", "PAGE.HTML"])
def test_explore_writes_a_page_with_an_html_suffix(tmp_path, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    assert main(["explore", "--out", out]) == 0
    assert out in capsys.readouterr().out
    assert (tmp_path / out).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(snapshot(tmp_path)) == [out]  # no temporary left beside it
    if os.name == "posix":  # a new page gets the permissions the umask gives
        umask = os.umask(0)
        os.umask(umask)
        assert (tmp_path / out).stat().st_mode & 0o777 == 0o666 & ~umask


@needs_dot
def test_explore_into_a_missing_folder_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["explore", "--out", "nowhere/page.html"]) == 1
    err = capsys.readouterr().err
    line = the_one_line(err, "explore")
    assert "could not write nowhere/page.html (No such file or directory); nothing was" in line
    assert snapshot(tmp_path) == {}


@needs_dot
@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_explore_that_fails_to_write_its_page_keeps_the_old_one(tmp_path):
    # A real failing write: the child may write at most 1 KiB per file (RLIMIT_FSIZE), so
    # the page of about 100 KB fails in the kernel with EFBIG, as on a full disk.
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><title>the page from before</title>")
    before = snapshot(tmp_path)
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        from tinygrad_edu.cli import main
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
        sys.exit(main(["explore", "--out", {str(page)!r}]))
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    line = the_one_line(result.stderr, "explore")
    assert f"could not write {page} (File too large); the file there is unchanged" in line
    assert snapshot(tmp_path) == before  # the old page byte for byte, and no temporary


@pytest.mark.parametrize("error", [TypeError("a bug"), RuntimeError("a bug"), KeyError("a bug")])
def test_an_unknown_error_keeps_its_traceback(monkeypatch, error):
    monkeypatch.setattr(proofs, "book_network_loss", raising(error))
    with pytest.raises(type(error), match="a bug"):
        main(["demo"])


def test_an_interrupt_ends_the_command_with_one_line(capsys, monkeypatch):
    monkeypatch.setattr(proofs, "comparisons", raising(KeyboardInterrupt()))
    assert main(["check"]) == 130
    assert capsys.readouterr().err.strip() == "tinygrad-edu check: interrupted"


def test_the_installed_command_prints_one_line_and_no_traceback(tmp_path):
    path = tmp_path / "huge.npz"
    huge_header_archive(path)
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_edu", "evaluate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinygrad-edu evaluate: error: load: ")
    assert "7.00 TiB" in lines[0]


@pytest.mark.skipif(os.name != "posix", reason="a pipe without a reader, as POSIX has it")
def test_a_reader_that_stops_early_ends_the_command_quietly():
    # `tinygrad-edu check | head -1`: here the reader is gone before the first line.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tinygrad_edu", "check"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports a closed pipe
    assert result.stderr == b""
