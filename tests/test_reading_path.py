"""The engine's first-reading path stays short enough to read in one sitting
(tools/reading_path.py follows the calls from the entry points and counts the lines)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "reading_path.py"


@pytest.fixture(scope="module")
def reading_path():
    spec = importlib.util.spec_from_file_location("reading_path", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reading_path"] = module
    spec.loader.exec_module(module)
    return module


def _names(pieces):
    return {(p.module.rsplit(".", 1)[-1], p.name) for p in pieces}


def test_the_reading_path_is_at_most_400_lines_with_every_helper_it_calls(reading_path):
    pieces = reading_path.reading_path()
    total = sum(p.lines for p in pieces)
    assert total <= reading_path.LIMIT == 400, f"the reading path has grown to {total} lines"


def test_the_backward_loop_is_at_most_40_lines(reading_path):
    assert reading_path.loop_lines() <= reading_path.LOOP_LIMIT == 40


def test_the_path_follows_calls_into_helpers_but_not_into_the_policies(reading_path):
    names = _names(reading_path.reading_path())
    # entry points, and what they call by name: the loop, the walk, the un-broadcast
    for expected in [
        ("autograd", "Function"),
        ("autograd", "backward_pass"),  # called by run_backward
        ("autograd", "consumer_counts"),  # called by backward_pass
        ("autograd", "_send"),  # called by backward_pass
        ("functions", "Sigmoid"),
        ("functions", "_matmul_grads_of_stacks"),  # called by MatMul.backward
        ("tensor", "Tensor.backward"),
    ]:
        assert expected in names
    assert not any(module in ("policies", "modes", "fast") for module, _ in names)
    # what a learner meets later is not on the first path
    assert ("functions", "Softmax") not in names and ("autograd", "grad") not in names


def test_the_count_changes_when_a_helper_on_the_path_grows(reading_path, monkeypatch):
    # the count is of the source as it is: a longer helper makes a longer path
    before = sum(p.lines for p in reading_path.reading_path())
    real = reading_path._counted_lines

    def longer(source_lines, node):
        extra = 10 if getattr(node, "name", "") == "unbroadcast" else 0
        return real(source_lines, node) + extra

    monkeypatch.setattr(reading_path, "_counted_lines", longer)
    assert sum(p.lines for p in reading_path.reading_path()) == before + 10


def test_the_readme_states_the_counts_the_script_prints(reading_path):
    readme = " ".join((_SCRIPT.parents[1] / "README.md").read_text(encoding="utf-8").split())
    total = sum(p.lines for p in reading_path.reading_path())
    assert f"{total} lines with every helper they call" in readme
    assert f"the loop itself is {reading_path.loop_lines()}" in readme
