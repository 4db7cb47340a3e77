"""Per-thread switches of the engine: grad mode (`no_grad`, `enable_grad`) and anomaly mode
(`detect_anomaly`). Nothing else of the package is imported here."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


class _ThreadState(threading.local):
    grad_enabled = True
    anomaly_enabled = False

    def __init__(self) -> None:  # runs once per thread
        # (switch, the mode it replaced): per thread, so that one no_grad() instance
        # shared by two threads restores each thread's own mode
        self.replaced: list[tuple[_ModeSwitch, bool]] = []
        self.tapes: list[Any] = []  # the autograd.Tape blocks open on this thread


state = _ThreadState()


def is_grad_enabled() -> bool:
    """Whether operations on this thread record the graph."""
    return state.grad_enabled


def is_anomaly_enabled() -> bool:
    """Whether ``detect_anomaly()`` is on for this thread."""
    return state.anomaly_enabled


class _ModeSwitch:
    """Sets one per-thread flag inside a ``with`` block or a decorated function
    (``@no_grad()`` or bare ``@no_grad``; generators keep the mode at every step)."""

    _flag = ""
    _value = True

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        switch = super().__new__(cls)
        return switch if func is None else switch(func)

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        pass  # __new__ took func; the mode replaced is kept per thread (_ThreadState)

    def __enter__(self) -> None:
        state.replaced.append((self, getattr(state, self._flag)))
        setattr(state, self._flag, self._value)

    def __exit__(self, *exc_info: object) -> None:
        replaced = state.replaced
        for position in range(len(replaced) - 1, -1, -1):  # the last one, unless misnested
            if replaced[position][0] is self:
                setattr(state, self._flag, replaced.pop(position)[1])
                return

    def __call__(self, func: _F) -> _F:
        switch = type(self)
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator(*args: Any, **kwargs: Any) -> Any:
                steps = func(*args, **kwargs)
                sent = None
                while True:
                    try:
                        with switch():
                            item = steps.send(sent)
                    except StopIteration as stop:
                        return stop.value
                    sent = yield item

            return generator  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with switch():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_ModeSwitch):  # noqa: N801 - named like the PyTorch context manager
    """Record no graph: ``with no_grad(): ...`` or ``@no_grad()``. Per thread."""

    _flag = "grad_enabled"
    _value = False


class enable_grad(_ModeSwitch):  # noqa: N801
    """Record the graph again inside a ``no_grad`` block. Per thread."""

    _flag = "grad_enabled"
    _value = True


class detect_anomaly(_ModeSwitch):  # noqa: N801
    """Make a backward pass that produces NaN or inf raise, naming the operation and the
    line of its forward call. Slower: every operation records where it was called."""

    _flag = "anomaly_enabled"
    _value = True
