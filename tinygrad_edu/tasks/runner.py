"""``tinygrad-edu tasks check``: the learner's code runs in a process of its own
(`tinygrad_edu.tasks.worker`), under a time limit, and this side prints what it reports.

A learner's code can loop forever, or end the process that runs it; neither may take the
checker with it. Each task gets ``time_limit`` seconds; past it the worker writes where
the learner's code was and ends, and the report quotes that line of theirs.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tinygrad_edu
from tinygrad_edu.tasks.grading import FUNCTIONS, TITLES, Report, frame_text

FILE_NAME = "my_engine.py"
TIME_LIMIT = 30.0
"""Seconds a task may take (a few on a laptop when the code is right)."""
TRAIN_TIME_LIMIT = 120.0
"""Seconds the training run may take (about ten with a straightforward engine)."""
EPOCHS = 3
STARTUP_GRACE = 30.0
"""Extra seconds for Python and numpy to start, and for the worker to report a timeout."""

HYPOTHESIS_MISSING = (
    "        (Hypothesis is not installed, so no check runs on random inputs: "
    'pip install "tinygrad-edu[tasks]")'
)

TIMEOUT_HINTS = {
    4: "a loop that never ends? Each pass of your loop must take a node off the list of "
    "ready nodes, and each node's count of waiting consumers must reach 0 exactly once",
    6: "training runs every digit of the training set through your engine, once an epoch: "
    "a loop that never ends, or one much slower than it needs to be?",
}


def check(
    directory: str | Path = ".",
    up_to: int = 5,
    *,
    time_limit: float = TIME_LIMIT,
    examples: int = 20,
    epochs: int = EPOCHS,
    train_time_limit: float = TRAIN_TIME_LIMIT,
    write: Callable[[str], None] = print,
) -> int:
    """Check the tasks 1 to ``up_to`` of ``directory/my_engine.py``, print a line per task
    and a report of the first failure; after all five, train the book's network with the
    learner's engine for ``epochs`` epochs (0: not at all). Returns the exit status: 0 when
    every checked task passes."""
    if up_to not in FUNCTIONS:
        raise ValueError(f"tasks check: there are tasks 1 to {len(FUNCTIONS)}, not {up_to}")
    path = Path(directory) / FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; write the scaffold first: tinygrad-edu tasks init {directory}"
        )
    which = "task 1" if up_to == 1 else f"tasks 1 to {up_to}"
    write(f"checking {path}: {which}, time limit {time_limit:g} s a task")
    with tempfile.TemporaryDirectory(prefix="tinygrad-edu-tasks-") as scratch:
        dump = Path(scratch) / "traceback.txt"
        command = [
            sys.executable,
            "-m",
            "tinygrad_edu.tasks.worker",
            str(path),
            f"--up-to={up_to}",
            f"--examples={examples}",
            f"--time-limit={time_limit}",
            f"--train-time-limit={train_time_limit}",
            f"--epochs={epochs if up_to == len(FUNCTIONS) else 0}",
            f"--dump={dump}",
        ]
        run = _Run(command, path, dump, write, up_to, training=epochs > 0 and up_to == 5)
        return run.follow(time_limit, train_time_limit)


class _Run:
    """The worker's events, as they come, with a deadline for each phase."""

    def __init__(
        self,
        command: list[str],
        path: Path,
        dump: Path,
        write: Callable[[str], None],
        up_to: int,
        training: bool,
    ) -> None:
        self.path, self.dump, self.write = path, dump, write
        self.up_to, self.training = up_to, training
        self.told_about_hypothesis = False
        package_root = str(Path(tinygrad_edu.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def follow(self, time_limit: float, train_time_limit: float) -> int:
        """Print each event; the exit status."""
        task, passed, limit, finished = 0, 0, time_limit, False
        try:
            while True:
                try:
                    line = self.lines.get(timeout=limit + STARTUP_GRACE)
                except queue.Empty:
                    return self._stopped(task, limit, passed)
                if line is None:
                    return 0 if finished else self._stopped(task, limit, passed)
                event: dict[str, Any] = json.loads(line)
                kind = event["event"]
                if kind == "start":
                    task = event["task"]
                elif kind == "passed":
                    passed += 1
                    self.write(_task_line(task, _passed_text(event)))
                    if event["random_inputs_skipped"] and not self.told_about_hypothesis:
                        self.write(HYPOTHESIS_MISSING)
                        self.told_about_hypothesis = True
                    if task == self.up_to:
                        self.write("")
                        self.write(_all_passed(self.up_to))
                        finished = not self.training
                elif kind == "failed":
                    self._failed(event["task"], event["report"], passed)
                    return 1
                elif kind == "train":
                    task, limit = 6, train_time_limit
                elif kind == "log":
                    self.write(event["line"])
                elif kind == "cannot-train":
                    self.write(
                        "to train the book's network with your engine, install scikit-learn: "
                        'pip install "tinygrad-edu[tasks]"'
                    )
                    finished = True
                elif kind == "trained":
                    self.write(
                        f"your engine's test accuracy: {event['test_accuracy']:.4f} on the "
                        f"{event['test_samples']} digits it never saw"
                    )
                    finished = True
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.reader.join(timeout=5)  # the pipe ends with the process
            assert self.process.stdout is not None
            self.process.stdout.close()

    def _failed(self, task: int, report: str, passed: int) -> None:
        if task in FUNCTIONS:
            self.write(_task_line(task, "FAILED"))
        self.write("")
        self.write(report)
        if task in FUNCTIONS:
            self.write("")
            if self.up_to == 1:
                self.write("task 1 fails; fix it and check again.")
            else:
                self.write(f"{passed} of {self.up_to} tasks pass; fix task {task} and check again.")

    def _stopped(self, task: int, limit: float, passed: int) -> int:
        """The worker ended without a verdict: past the time limit, or the learner's code
        ended the process."""
        timed_out = self.process.poll() is None
        if timed_out:
            self.process.kill()
        status = self.process.wait()
        dumped = self.dump.read_text(encoding="utf-8") if self.dump.exists() else ""
        where = _learner_line(dumped, self.path)
        if timed_out or "Timeout" in dumped:
            problem = f"it did not finish within the time limit of {limit:g} s"
            hint = TIMEOUT_HINTS.get(
                task, "a loop that never ends? (if your computer is just slow: --time-limit)"
            )
        else:
            problem = f"the process running it ended unexpectedly (exit status {status})"
            hint = "does your code call exit(), os._exit() or something that crashes Python?"
        report = Report(task=task, check=problem, inputs="", hint=hint, where=where)
        self._failed(task, report.format(), passed)
        return 1


def _all_passed(up_to: int) -> str:
    if up_to == len(FUNCTIONS):
        return f"all {up_to} tasks pass."
    done = "task 1 passes" if up_to == 1 else f"tasks 1 to {up_to} pass"
    nxt = up_to + 1
    return f"{done}; next: task {nxt}, {TITLES[nxt]} (tinygrad-edu tasks check {nxt})"


def _passed_text(event: dict[str, Any]) -> str:
    checks = event["checks"]
    text = f"passed ({checks} check{'s' if checks != 1 else ''}"
    if event["random_inputs_skipped"]:
        text += ", none on random inputs"
    return text + ")"


def _task_line(task: int, verdict: str) -> str:
    return f"task {task}  {TITLES[task]:<30} {verdict}"


_DUMPED_FRAME = re.compile(r'File "(?P<file>.*)", line (?P<line>\d+) in (?P<function>\S+)')


def _learner_line(dumped: str, path: Path) -> str:
    """The innermost line of the learner's file in a faulthandler dump (most recent call
    first), as a report quotes it; empty if none."""
    target = path.resolve()
    for match in _DUMPED_FRAME.finditer(dumped):
        if Path(match["file"]).resolve() == target:
            return frame_text(target, int(match["line"]), match["function"])
    return ""
