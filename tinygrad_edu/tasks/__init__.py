"""Build it yourself: the learner writes the engine's backward functions, its backward loop
and an SGD step, and the project's own checks grade them.

- ``tinygrad-edu tasks init DIR`` (`init`) writes DIR/my_engine.py, the scaffold
  (`tinygrad_edu.tasks.scaffold`): five functions to fill in, in order.
- ``tinygrad-edu tasks check [N]`` (`runner.check`) runs the learner's file in a process
  of its own, under a time limit, through the checks of tasks 1 to N
  (`tinygrad_edu.tasks.checks`), and prints the first failure with a hint
  (`tinygrad_edu.tasks.grading`). After all five, the learner's engine trains the book's
  network (`tinygrad_edu.tasks.learner`).
- `tinygrad_edu.tasks.solutions` passes every task.
"""

from __future__ import annotations

from pathlib import Path

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


__all__ = ["FILE_NAME", "SCAFFOLD", "check", "init"]
