"""Count the engine's first-reading path: what a learner reads to see backprop work.

The path starts at the entry points below (recording a Tensor operation, `Function.apply`,
the backward loop, and the first operations a learner meets) and follows every call into
the core modules (autograd.py, tensor.py, functions.py), by name:

- a module-level function or class of a core module (``unbroadcast(...)``, ``Node(...)``);
- ``Module.name`` or ``Class.name`` where that resolves to a core module or class
  (``F.Add``, ``Tensor._from_op``);
- ``self.name`` / ``cls.name`` inside a class: that class's own member.

A reached function is counted whole; a reached class is counted whole (its methods with
it); a method reached alone is counted alone. What lives beside the loop — policies.py,
modes.py, fast.py — is not followed: the engine calls it as one marked line each
(``policies.…``), and docs/design.md reads it second. A line is counted if it is not
blank (docstrings and comments count: a learner reads them too).

Run ``python tools/reading_path.py`` for the path in reading order, with the count.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

CORE_MODULES = ("tinygrad_edu.tensor", "tinygrad_edu.autograd", "tinygrad_edu.functions")

ENTRY_POINTS = (
    ("tinygrad_edu.tensor", "Tensor.__init__"),
    ("tinygrad_edu.tensor", "Tensor._from_op"),
    ("tinygrad_edu.tensor", "Tensor.data"),
    ("tinygrad_edu.tensor", "Tensor.__add__"),
    ("tinygrad_edu.tensor", "Tensor.__mul__"),
    ("tinygrad_edu.tensor", "Tensor.__matmul__"),
    ("tinygrad_edu.tensor", "Tensor.sigmoid"),
    ("tinygrad_edu.tensor", "Tensor.sum"),
    ("tinygrad_edu.tensor", "Tensor.squared_error"),
    ("tinygrad_edu.tensor", "Tensor.backward"),
    ("tinygrad_edu.autograd", "Function"),
    ("tinygrad_edu.autograd", "Node"),
    ("tinygrad_edu.autograd", "run_backward"),
    ("tinygrad_edu.functions", "Add"),
    ("tinygrad_edu.functions", "Mul"),
    ("tinygrad_edu.functions", "MatMul"),
    ("tinygrad_edu.functions", "Sigmoid"),
    ("tinygrad_edu.functions", "SquaredError"),
    ("tinygrad_edu.functions", "Sum"),
)

LIMIT = 400  # lines on the whole path
LOOP = ("tinygrad_edu.autograd", "backward_pass")
LOOP_LIMIT = 40  # lines of the backward loop itself


class Piece(NamedTuple):
    """One definition on the path: where it is and how many lines a reader reads."""

    module: str
    name: str  # "f", "Class" or "Class.method"
    lines: int
    first_line: int


def _definitions(module: ModuleType) -> dict[str, ast.AST]:
    """Every module-level def and class of ``module``, and each method as Class.method (a
    property's getter and setter together, as one ``ast.Module``)."""
    tree = ast.parse(inspect.getsource(module))
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = node
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef):
                    name = f"{node.name}.{member.name}"
                    if name in found:  # a setter after its getter: read together
                        getter = found[name]
                        parts = getter.body if isinstance(getter, ast.Module) else [getter]
                        found[name] = ast.Module(body=[*parts, member], type_ignores=[])
                    else:
                        found[name] = member
    return found


def _counted_lines(source_lines: list[str], node: ast.AST) -> int:
    if isinstance(node, ast.Module):
        return sum(_counted_lines(source_lines, part) for part in node.body)
    assert isinstance(node, (ast.FunctionDef, ast.ClassDef))
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    end = node.end_lineno
    assert end is not None
    return sum(1 for line in source_lines[start - 1 : end] if line.strip())


def _aliases(module: ModuleType) -> dict[str, tuple[str, str | None]]:
    """What each name of ``module`` stands for in the core: a core module (name None) or
    a definition of one (module, name)."""
    result: dict[str, tuple[str, str | None]] = {}
    for alias, value in vars(module).items():
        if isinstance(value, ModuleType) and value.__name__ in CORE_MODULES:
            result[alias] = (value.__name__, None)
        elif getattr(value, "__module__", None) in CORE_MODULES and hasattr(value, "__qualname__"):
            result[alias] = (value.__module__, value.__qualname__)
    return result


def reading_path() -> list[Piece]:
    """The definitions on the path, in the order a reader meets them."""
    modules = {name: importlib.import_module(name) for name in CORE_MODULES}
    definitions = {name: _definitions(module) for name, module in modules.items()}
    sources = {name: inspect.getsource(module).splitlines() for name, module in modules.items()}
    aliases = {name: _aliases(module) for name, module in modules.items()}

    pieces: list[Piece] = []
    seen: set[tuple[str, str]] = set()
    todo = list(ENTRY_POINTS)
    while todo:
        module, name = todo.pop(0)
        if (module, name) in seen or name not in definitions[module]:
            continue
        owner = name.split(".")[0]
        if "." in name and (module, owner) in seen:  # its whole class is counted already
            continue
        seen.add((module, name))
        node = definitions[module][name]
        first_line = getattr(node.body[0] if isinstance(node, ast.Module) else node, "lineno", 0)
        pieces.append(Piece(module, name, _counted_lines(sources[module], node), first_line))
        todo.extend(
            _calls(
                node,
                module,
                owner if "." in name or isinstance(node, ast.ClassDef) else None,
                aliases[module],
                definitions,
            )
        )
    return pieces


def _calls(
    node: ast.AST,
    module: str,
    enclosing_class: str | None,
    aliases: dict[str, tuple[str, str | None]],
    definitions: dict[str, dict[str, ast.AST]],
) -> list[tuple[str, str]]:
    """The core definitions that ``node`` refers to, in the order they appear. A function's
    own arguments and variables are not references (``grad = ...`` is not ``grad()``), nor
    is a class named only in an annotation, to test a type (``isinstance(x, Tensor)``) or
    passed as a value: a class is read where it is called or one of its members used."""
    if isinstance(node, ast.ClassDef):
        found = []
        for member in node.body:
            found += _calls(member, module, node.name, aliases, definitions)
        return found
    local = {sub.arg for sub in ast.walk(node) if isinstance(sub, ast.arg)} | {
        sub.id
        for sub in ast.walk(node)
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)
    }
    skipped: set[int] = (
        set()
    )  # annotations, the ``F`` of ``F.Add`` (resolved with F.Add), type tests
    for sub in ast.walk(node):
        annotations = [getattr(sub, "returns", None), getattr(sub, "annotation", None)]
        skipped.update(id(part) for a in annotations if a is not None for part in ast.walk(a))
        if isinstance(sub, ast.Attribute):
            skipped.add(id(sub.value))
        if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") in (
            "isinstance",
            "issubclass",
        ):
            skipped.update(id(part) for arg in sub.args[1:] for part in ast.walk(arg))
    called = {id(sub.func) for sub in ast.walk(node) if isinstance(sub, ast.Call)}
    found = []
    for sub in ast.walk(node):
        if id(sub) in skipped:
            continue
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in local:
            target_module, target = module, sub.id
            if sub.id in aliases and aliases[sub.id][1] is not None:
                target_module, target = aliases[sub.id][0], aliases[sub.id][1] or ""
            elif sub.id not in definitions[module]:
                continue
            is_class = isinstance(definitions[target_module].get(target), ast.ClassDef)
            if not is_class or id(sub) in called:  # a class passed as a value is not read
                found.append((target_module, target))
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            base = sub.value.id
            if base in ("self", "cls") and enclosing_class is not None:
                found.append((module, f"{enclosing_class}.{sub.attr}"))
            elif base in local:
                continue
            elif base in aliases:
                alias_module, alias_target = aliases[base]
                if alias_target is None:  # a core module: its definition
                    found.append((alias_module, sub.attr))
                else:  # a core class: its member
                    found.append((alias_module, f"{alias_target}.{sub.attr}"))
            elif base in definitions[module] and isinstance(
                definitions[module][base], ast.ClassDef
            ):
                found.append((module, f"{base}.{sub.attr}"))
    return found


def loop_lines() -> int:
    module = importlib.import_module(LOOP[0])
    node = _definitions(module)[LOOP[1]]
    return _counted_lines(inspect.getsource(module).splitlines(), node)


def main(argv: list[str] | None = None) -> int:
    pieces = reading_path()
    width = max(len(f"{p.module.split('.')[-1]}.py  {p.name}") for p in pieces)
    for piece in pieces:
        where = f"{piece.module.split('.')[-1]}.py  {piece.name}"
        print(f"{where:<{width}}  {piece.lines:4d}")
    total = sum(p.lines for p in pieces)
    print(f"{'total':<{width}}  {total:4d}  (limit {LIMIT})")
    print(
        f"{'the backward loop (backward_pass)':<{width}}  {loop_lines():4d}  (limit {LOOP_LIMIT})"
    )
    return 0 if total <= LIMIT and loop_lines() <= LOOP_LIMIT else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
