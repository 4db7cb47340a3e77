"""How a check of a learner's code fails, and the report the learner reads.

Every check compares what the learner's code computed ("got") with a value from an
independent source ("expected": a closed form of the texts, finite differences, the
engine). At the first element that differs, `compare` stops with a `TaskFailedError` holding a
`Report`: the task, the check, the input, the element, expected against got, and a hint.
The hint is recognised from the numbers: each typical mistake is a `Mistake`, the value
that mistake would have given on the same input, and the first whose value matches what
the learner got names the slip. Code that raises, or returns the wrong kind of thing,
gets a report too (`call`, `as_gradient`), pointing at the learner's own line.
"""

from __future__ import annotations

import linecache
import textwrap
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

TITLES = {
    0: "loading my_engine.py",
    1: "the backward of Sigmoid",
    2: "the backward of SquaredError",
    3: "the backward of MatMul",
    4: "the backward loop",
    5: "an SGD step",
    6: "training the book's network with your engine",
}
"""Each task by number, as the checker names it."""

FUNCTIONS = {
    1: ("sigmoid_backward",),
    2: ("squared_error_backward",),
    3: ("unbroadcast", "matmul_backward"),
    4: ("backward_loop",),
    5: ("sgd_step",),
}
"""The learner's functions that each task checks."""

READ_ONLY_HINT = (
    "the gradient you are given is read-only (other operations may hold the same array): "
    "compute a new array, g = g * y, instead of changing it in place, g *= y"
)


@dataclass(frozen=True)
class Report:
    """What the learner reads about the first failure of a task."""

    task: int
    check: str  # which check: "the closed form …", "finite differences", …
    inputs: str  # what the learner's code was given
    hint: str
    problem: str = ""  # what went wrong, when it is not a wrong number
    where: str = ""  # the learner's own line, when their code raised
    quantity: str = ""  # the name of what was compared: "∂L/∂x"
    index: tuple[int, ...] | None = None
    expected: float | None = None
    got: float | None = None
    expected_array: str = ""
    got_array: str = ""

    def format(self) -> str:
        first = f"{heading(self.task)} fails: {self.check}"
        if len(first) <= WIDTH:
            lines = [first]
        else:  # the check on lines of its own
            lines = [f"{heading(self.task)} fails:"]
            lines += ["  " + line for line in _wrapped(self.check, WIDTH - 2)]
        if self.inputs:
            lines += _labelled("input", self.inputs)
        if self.problem:
            lines += _labelled("problem", self.problem, wrap=True)
        if self.where:
            lines += _labelled("your code", self.where)
        if self.index is not None:
            element = f"{self.quantity}{list(self.index)}" if self.index else self.quantity
            lines.append(f"  first wrong element: {element}")
            lines.append(f"    expected {self.expected:+.6f}")
            lines.append(f"    got      {self.got:+.6f}")
            if self.expected_array:
                lines.append(f"  all of {self.quantity}:")
                lines.append(f"    expected {self.expected_array}")
                lines.append(f"    got      {self.got_array}")
        lines += _labelled("hint", self.hint, wrap=True)
        return "\n".join(lines)


def heading(task: int) -> str:
    """``task 2 (the backward of SquaredError)``; loading and training by their names."""
    return f"task {task} ({TITLES[task]})" if task in FUNCTIONS else TITLES[task]


WIDTH = 88
"""Prose in a report (problems, hints) is wrapped at this width."""


_OPERATORS = (" − ", " + ", " · ", " ∗ ")
_NO_BREAK = "\u00a0"  # textwrap does not break at it


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, never breaking around an operator (so that
    t − o stays on one line)."""
    for operator in _OPERATORS:
        text = text.replace(operator, operator.replace(" ", _NO_BREAK))
    lines = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    return [line.replace(_NO_BREAK, " ") for line in lines]


def _labelled(label: str, text: str, wrap: bool = False) -> list[str]:
    """``  label: text``, the text's later lines indented under its first; prose wrapped."""
    head = f"  {label}: "
    lines = text.splitlines() or [""]
    if wrap:
        lines = _wrapped(text, WIDTH - len(head))
    first, *rest = lines
    return [head + first] + [" " * len(head) + line for line in rest]


class TaskFailedError(Exception):
    """A task's check failed; ``report`` says how."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.format())
        self.report = report


class Mistake(NamedTuple):
    """A typical mistake: the value it would give on the check's input, and its hint."""

    would_give: Any
    hint: str


@dataclass
class Context:
    """One task's checks: its number, the learner's module, and what the learner's code is
    being given (so that an error inside it can say so)."""

    task: int
    module: ModuleType
    checks_run: int = 0
    random_inputs_skipped: bool = False  # Hypothesis is not installed
    inputs: str | Callable[[], str] = ""  # a callable: formatted only if a check fails
    extra_hints: dict[str, str] = field(default_factory=dict)

    code_files: frozenset[Path] = frozenset()  # where the learner's code is, if not one file

    @property
    def learner_files(self) -> frozenset[Path]:
        """The files the learner's code is in: their my_engine.py, or the notebook cells
        or scripts of the functions given to `tinygrad_edu.tasks.grade`."""
        file = getattr(self.module, "__file__", None)
        return self.code_files | ({Path(file).resolve()} if file else set())

    def fail(self, check: str, hint: str, **details: Any) -> TaskFailedError:
        details.setdefault("inputs", self.inputs)
        if callable(details["inputs"]):
            details["inputs"] = details["inputs"]()
        return TaskFailedError(Report(task=self.task, check=check, hint=hint, **details))


# --------------------------------------------------------------------------- calling the learner


def call(context: Context, name: str, *args: Any) -> Any:
    """``module.name(*args)``; whatever the learner's code raises becomes a report that
    quotes the learner's own line, not the checker's."""
    function = getattr(context.module, name, None)
    if not callable(function):
        raise context.fail(
            f"my_engine.py has no function {name}",
            f"define {name} as the scaffold does (tinygrad-edu tasks init writes it)",
        )
    try:
        return function(*args)
    except TaskFailedError:
        raise  # a check inside a check (the loop calls chain_rule): already reported
    except NotImplementedError as error:
        if _raised_by_stub(error, context.learner_files):
            raise context.fail(
                f"{name} is not written yet (it still raises NotImplementedError)",
                f"fill in {name} in my_engine.py; its docstring says what to compute",
                inputs="",
            ) from None
        raise _raised(context, name, error) from None
    except (Exception, SystemExit) as error:
        raise _raised(context, name, error) from None


def _raised_by_stub(error: BaseException, files: frozenset[Path]) -> bool:
    """Whether the NotImplementedError is the scaffold's own ``raise`` line."""
    frames = _learner_frames(error, files)
    return bool(frames) and (frames[-1].line or "").startswith("raise NotImplementedError")


def _raised(context: Context, name: str, error: BaseException) -> TaskFailedError:
    message = " ".join(str(error).split()) or "(no message)"
    problem = f"your {name} raised {type(error).__name__}: {message}"
    frames = _learner_frames(error, context.learner_files)
    where = _frame_text(frames[-1]) if frames else "(the error came from outside my_engine.py)"
    hint = context.extra_hints.get(name, "read the line above: the error happened there")
    if "read-only" in message:
        hint = READ_ONLY_HINT
    return context.fail("your code raised an error", hint, problem=problem, where=where)


def _learner_frames(error: BaseException, files: frozenset[Path]) -> list[traceback.FrameSummary]:
    return [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve() in files
    ]


def _frame_text(frame: traceback.FrameSummary) -> str:
    line = frame.line or linecache.getline(frame.filename, frame.lineno or 0).strip()
    return f"{Path(frame.filename).name}, line {frame.lineno}, in {frame.name}\n{line}"


def frame_text(path: Path, lineno: int, function: str) -> str:
    """The learner's line ``lineno`` of ``path``, as a report quotes it."""
    line = linecache.getline(str(path), lineno).strip()
    return f"{path.name}, line {lineno}, in {function}\n{line}"


def as_gradient(
    context: Context,
    name: str,
    value: Any,
    shape: tuple[int, ...],
    what: str,
    mistakes: Sequence[Mistake] = (),
    expected: Any = None,
) -> np.ndarray:
    """``value`` as a float array of ``shape``, or a report of what the learner returned
    instead. A wrong shape may itself be a typical mistake (a broadcast gradient not summed
    back): then its hint, recognised from the numbers."""
    if value is None:
        raise context.fail(
            f"your {name} returned None",
            f"return {what} (did you forget the return statement?)",
            problem=f"{name} must return an array of shape {shape}",
        )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise context.fail(
            f"your {name} returned {type(value).__name__}, not an array of numbers",
            f"return {what}: a numpy array of shape {shape}",
            problem=f"it returned {_short(value)}",
        ) from None
    if array.shape != shape:
        hint = _recognise(array, expected, mistakes) or (
            f"{what} has the shape of what it is the gradient of: {shape}"
        )
        raise context.fail(
            f"your {name} returned an array of the wrong shape",
            hint,
            problem=f"it returned shape {array.shape}; {what} must have shape {shape}",
        )
    return array


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------- comparing numbers


def compare(
    context: Context,
    check: str,
    quantity: str,
    expected: Any,
    got: np.ndarray,
    hint: str,
    mistakes: Sequence[Mistake] = (),
    rtol: float = 1e-6,
    atol: float = 1e-9,
    inputs: str | None = None,
) -> None:
    """Pass if ``got`` equals ``expected`` within the tolerances; otherwise fail at the first
    element that differs, with the hint of the mistake that explains ``got`` (or ``hint``)."""
    context.checks_run += 1
    expected = np.asarray(expected, dtype=np.float64)
    close = np.isclose(got, expected, rtol=rtol, atol=atol)
    if close.all():
        return
    index = tuple(int(i) for i in np.argwhere(~close)[0])
    small = expected.size <= 12
    raise context.fail(
        check,
        _recognise(got, expected, mistakes, rtol, atol) or hint,
        inputs=context.inputs if inputs is None else inputs,  # (fail formats a callable)
        quantity=quantity,
        index=index,
        expected=float(expected[index]),
        got=float(got[index]),
        expected_array=show(expected, True, True) if small and expected.ndim else "",
        got_array=show(got, True, True) if small and expected.ndim else "",
    )


def _recognise(
    got: np.ndarray,
    expected: Any,
    mistakes: Sequence[Mistake],
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> str | None:
    """The hint of the first mistake that gives ``got`` (and not the right answer)."""
    for mistake in mistakes:
        would_give = np.asarray(mistake.would_give, dtype=np.float64)
        if would_give.shape != got.shape:
            continue
        if (
            expected is not None
            and np.shape(expected) == would_give.shape
            and np.allclose(would_give, expected, rtol=rtol, atol=atol)
        ):
            continue  # on this input the mistake cannot be told from the right answer
        if np.allclose(got, would_give, rtol=rtol, atol=atol):
            return mistake.hint
    return None


def show(values: Any, one_line: bool = False, signed: bool = False) -> str:
    """An array in a report: six decimals, one line per row (or all on one line); ``signed``
    writes every sign, so that two arrays shown one above the other line up."""
    text = np.array2string(
        np.asarray(values, dtype=np.float64),
        precision=6,
        suppress_small=True,
        floatmode="fixed",
        sign="+" if signed else "-",
        max_line_width=10_000 if one_line else 88,
    )
    return " ".join(line.strip() for line in text.splitlines()) if one_line else text


def describe(**arrays: Any) -> str:
    """``name = values`` for each array, or its shape when it is large."""
    parts = []
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.size <= 9:
            parts.append(f"{name} = {show(array, one_line=True)}")
        else:
            parts.append(f"{name} of shape {array.shape}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- random inputs


class HypothesisMissingError(Exception):
    """Hypothesis is not installed: the checks on random inputs cannot run."""


def holds_for_random_inputs(
    context: Context,
    strategy: Callable[[], Any],
    check: Callable[[Any], None],
    examples: int,
) -> None:
    """Run ``check`` on ``examples`` inputs that Hypothesis draws from ``strategy()``
    (seeded, so a report is the same every time; no database written beside the
    learner's file). The first failure, shrunk to a small input, is the report."""
    try:
        from hypothesis import HealthCheck, Verbosity, given, settings
    except ImportError:
        raise HypothesisMissingError from None

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(strategy())
    def property_of_the_learners_code(example: Any) -> None:
        check(example)

    before = context.checks_run
    try:
        property_of_the_learners_code()
    except TaskFailedError as failure:
        report = failure.report
        shrunk = replace(report, check=report.check + " (random input, shrunk)")
        raise TaskFailedError(shrunk) from None
    context.checks_run = before + 1
