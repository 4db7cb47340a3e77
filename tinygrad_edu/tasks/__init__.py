"""Build it yourself: the learner writes the engine's backward functions, its backward loop
and an SGD step, and the project's own checks grade them.

- ``tinygrad-edu tasks init DIR`` (`init`) writes DIR/my_engine.py, the scaffold
  (`tinygrad_edu.tasks.scaffold`): five functions to fill in, in order.
- ``tinygrad-edu tasks check [N]`` (`runner.check`) runs the learner's file in a process
  of its own, under a time limit, through the checks of tasks 1 to N
  (`tinygrad_edu.tasks.checks`), and prints the first failure with a hint
  (`tinygrad_edu.tasks.grading`). After all five, the learner's engine trains the book's
  network (`tinygrad_edu.tasks.learner`).
- `grade` checks functions written in a notebook or a script against one task, in this
  process: how an exercise that asks for one of these functions is checked.
- `tinygrad_edu.tasks.solutions` passes every task.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from tinygrad_edu.tasks import solutions
from tinygrad_edu.tasks.checks import DEFAULT_EXAMPLES, run_task
from tinygrad_edu.tasks.grading import FUNCTIONS, TaskFailedError, heading
from tinygrad_edu.tasks.runner import FILE_NAME, check

SCAFFOLD = Path(__file__).with_name("scaffold.py")
"""The file ``tasks init`` copies, as it ships with the package."""


def init(directory: str | Path) -> Path:
    """Write the scaffold to ``directory/my_engine.py`` (creating the folder if needed) and
    return its path. An existing file is never overwritten: `FileExistsError`."""
    folder = Path(directory)
    target = folder / FILE_NAME
    if target.exists():
        raise FileExistsError(
            f"{target} already exists; it is not overwritten (move it away first, or choose "
            "another folder)"
        )
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    with open(target, "x", encoding="utf-8") as file:  # "x": never replace a file
        file.write(SCAFFOLD.read_text(encoding="utf-8"))
    return target


def grade(task: int, examples: int = DEFAULT_EXAMPLES, **functions: Callable[..., Any]) -> bool:
    """Check your own functions against task ``task``, here and now: print the verdict (or
    the report of the first failure, with its hint) and return whether they pass.

    ``grade(1, sigmoid_backward=my_sigmoid_backward)``: pass the functions by the names the
    scaffold gives them; the task's other functions (and the earlier tasks' ones that it
    builds on) come from the reference solutions. Unlike ``tinygrad-edu tasks check`` it
    runs in this process, without a time limit: stop a loop that never ends yourself.
    """
    if task not in FUNCTIONS:
        raise ValueError(f"grade: the tasks are numbered 1 to {len(FUNCTIONS)}, not {task}")
    known = {name for names in FUNCTIONS.values() for name in names}
    unknown = sorted(set(functions) - known)
    if unknown:
        raise TypeError(
            f"grade: no task has a function named {', '.join(unknown)}; the functions are "
            f"{', '.join(sorted(known))}"
        )
    module = ModuleType("my_engine", "the reference solutions with your functions in place")
    module.__dict__.update({name: getattr(solutions, name) for name in known})
    module.__dict__.update(functions)
    files = frozenset(Path(f.__code__.co_filename).resolve() for f in functions.values())
    try:
        context = run_task(task, module, examples, code_files=files)
    except TaskFailedError as failure:
        print(failure.report.format())
        return False
    print(f"{heading(task)} passes ({context.checks_run} checks)")
    return True


__all__ = ["FILE_NAME", "SCAFFOLD", "check", "grade", "init"]
