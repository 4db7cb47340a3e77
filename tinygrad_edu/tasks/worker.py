"""The process that runs the learner's code: ``python -m tinygrad_edu.tasks.worker``.

`tinygrad_edu.tasks.runner` starts it and reads one JSON line per event from its standard
output: ``load``, then ``start`` and ``passed``/``failed`` per task, then ``train`` and
``trained``. The learner's own prints go to standard error, so they cannot be mistaken for
events. Every phase runs under a time limit (`_Clock`): past it the traceback of the
learner's code is written to a file and the process ends, so the runner can say which line
of theirs was running.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib.util
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from tinygrad_edu.tasks.grading import Context, TaskFailedError, frame_text


def load_learner(path: Path) -> ModuleType:
    """The learner's file as a module (named ``my_engine``); a file that cannot be loaded
    becomes a report that quotes its line."""
    spec = importlib.util.spec_from_file_location("my_engine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    context = Context(task=0, module=module, inputs="(your file, as Python imports it)")
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        where = frame_text(path, error.lineno or 0, "<module>") if error.lineno else ""
        raise context.fail(
            "it is not valid Python",
            "fix the line shown; the rest of the file is checked once it loads",
            problem=f"SyntaxError: {error.msg}",
            where=where,
        ) from None
    except (Exception, SystemExit) as error:
        frames = [
            frame
            for frame in _frames(error)
            if Path(frame[0]).resolve() == path.resolve() and frame[1] is not None
        ]
        where = frame_text(path, frames[-1][1] or 0, frames[-1][2]) if frames else ""
        message = " ".join(str(error).split()) or "(no message)"
        raise context.fail(
            "running it raised an error",
            "code outside the functions runs when the file is loaded; fix the line shown",
            problem=f"{type(error).__name__}: {message}",
            where=where,
        ) from None
    return module


def _frames(error: BaseException) -> list[tuple[str, int | None, str]]:
    import traceback

    return [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(error.__traceback__)]


class _Clock:
    """The time limit of a phase. Past it, the main thread (the learner's code) writes where
    it is to the dump, as faulthandler lays a traceback out (most recent call first), and
    the process ends. A signal handler runs between two lines of Python, where the stack is
    whole; faulthandler's watchdog reads the stack from another thread while it changes,
    and was seen to stop half-way through a frame. It stays as the backstop, a few seconds
    later, for code stuck inside one long C call (and where there is no SIGALRM)."""

    BACKSTOP = 5.0
    alarm = hasattr(signal, "setitimer")

    def __init__(self, dump: TextIO) -> None:
        self.dump, self.seconds = dump, 0.0
        if self.alarm:
            signal.signal(signal.SIGALRM, self._ring)

    def start(self, seconds: float) -> None:
        self.seconds = seconds
        backstop = seconds + self.BACKSTOP if self.alarm else seconds
        faulthandler.dump_traceback_later(backstop, exit=True, file=self.dump)
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, seconds)

    def stop(self) -> None:
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()

    def _ring(self, signum: int, frame: Any) -> None:
        lines = [f"Timeout ({self.seconds:g} s)!", "Current thread (most recent call first):"]
        for each, line in traceback.walk_stack(frame):
            lines.append(
                f'  File "{each.f_code.co_filename}", line {line} in {each.f_code.co_name}'
            )
        self.dump.write("\n".join(lines) + "\n")
        self.dump.flush()
        os._exit(1)


class Events:
    """One JSON object a line, to the runner."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.tasks.worker")
    parser.add_argument("path", type=Path)
    parser.add_argument("--up-to", type=int, default=5)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--train-time-limit", type=float, default=120.0)
    parser.add_argument("--epochs", type=int, default=0, help="0: no training")
    parser.add_argument("--dump", type=Path, required=True)
    args = parser.parse_args(argv)

    events = Events(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)  # the learner's prints (even from C) go to standard error
    sys.stdout = sys.stderr
    sys.path.insert(0, str(args.path.resolve().parent))  # their own helper modules
    with open(args.dump, "w", encoding="utf-8") as dump:
        clock = _Clock(dump)
        from tinygrad_edu.tasks.checks import run_task

        _warm_up()
        clock.start(args.time_limit)
        try:
            module = load_learner(args.path)
        except TaskFailedError as failure:
            events("failed", task=0, report=failure.report.format())
            return 1
        events("loaded")
        for task in range(1, args.up_to + 1):
            events("start", task=task)
            clock.start(args.time_limit)
            try:
                context = run_task(task, module, args.examples)
            except TaskFailedError as failure:
                clock.stop()
                events("failed", task=task, report=failure.report.format())
                return 1
            clock.stop()
            events(
                "passed",
                task=task,
                checks=context.checks_run,
                random_inputs_skipped=context.random_inputs_skipped,
            )
        if args.epochs > 0:
            return _train(module, args.epochs, events, clock, args.train_time_limit)
    return 0


def _warm_up() -> None:
    """Import what the checks use before any clock starts: the time limit is the learner's."""
    try:
        import hypothesis.extra.numpy  # noqa: F401

        import tinygrad_edu.testing.strategies  # noqa: F401
    except ImportError:  # the checks on random inputs are skipped, and say so
        pass


def _train(module: ModuleType, epochs: int, events: Events, clock: _Clock, limit: float) -> int:
    from tinygrad_edu.tasks import learner

    try:
        import sklearn  # noqa: F401
    except ImportError:
        events("cannot-train", reason="scikit-learn is not installed")
        return 0
    events("train", epochs=epochs)
    clock.start(limit)
    try:
        trained = learner.train(module, epochs=epochs, log=lambda line: events("log", line=line))
    except TaskFailedError as failure:
        clock.stop()
        events("failed", task=6, report=failure.report.format())
        return 1
    clock.stop()
    events("trained", **trained.__dict__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
