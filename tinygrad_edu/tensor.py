"""`Tensor`: an array that remembers how it was computed.

Every operation on a Tensor is a `Function` from `functions.py`; when any input requires
grad, the result keeps a `grad_fn` (the recorded node), and `backward()` walks those nodes
back to the leaves.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from tinygrad_edu import autograd, policies
from tinygrad_edu import functions as F
from tinygrad_edu.modes import no_grad


def _is_float(dtype: np.dtype[Any]) -> bool:
    return bool(np.issubdtype(dtype, np.floating))


def _shape_arg(op: str, shape: tuple[Any, ...], what: str = "shape") -> tuple[int, ...]:
    """``f(2, 3)`` or ``f((2, 3))``: integers only, as numpy takes them (no 2.5, no '2',
    and no True either: a bool is an int to Python but never a length)."""
    dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    result = []
    for n in dims:
        try:
            if isinstance(n, (bool, np.bool_)):
                raise TypeError
            result.append(operator.index(n))
        except TypeError:
            raise TypeError(
                f"{op}: the {what} must be integers, got {n!r} in {tuple(dims)!r}"
            ) from None
    return tuple(result)


def _new_shape(op: str, shape: tuple[Any, ...]) -> tuple[int, ...]:
    sizes = _shape_arg(op, shape)
    if any(n < 0 for n in sizes):
        raise ValueError(f"{op}: the shape {sizes} has a negative size; sizes must be ≥ 0")
    return sizes


class Tensor:
    """A numpy array plus the graph that produced it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)`` copies ``data``. Python
    numbers, lists and integer arrays become float64 unless ``dtype`` says otherwise;
    float32 and float64 arrays keep their dtype. Only floating tensors can require grad.
    """

    __slots__ = (
        "__weakref__",
        "_data",
        "_requires_grad",
        "_versions",
        "grad",
        "grad_fn",
        "name",
    )
    # numpy must not treat a Tensor as an array: `ndarray + Tensor` then calls Tensor.__radd__.
    __array_ufunc__ = None

    _data: np.ndarray
    _versions: list[int]  # see _counter()
    grad: np.ndarray | None
    grad_fn: autograd.Node | None
    name: str | None

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        self._data = policies.as_array(data, dtype)  # a copy; numbers and lists: float64
        self.grad = None
        self.grad_fn = None
        self.name = name
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, data: np.ndarray, grad_fn: autograd.Node | None) -> Tensor:
        """The result of an operation (no copy, no checks: the hot path)."""
        out = cls.__new__(cls)
        out._data = data
        out.grad = None
        out.grad_fn = grad_fn
        out.name = None
        out._requires_grad = grad_fn is not None
        return out

    @classmethod
    def _constant(cls, data: np.ndarray) -> Tensor:
        return cls._from_op(data, None)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def zeros(
        cls,
        *shape: Any,
        requires_grad: bool = False,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> Tensor:
        return cls(np.zeros(_new_shape("zeros", shape)), requires_grad, dtype=dtype, name=name)

    @classmethod
    def ones(
        cls,
        *shape: Any,
        requires_grad: bool = False,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> Tensor:
        return cls(np.ones(_new_shape("ones", shape)), requires_grad, dtype=dtype, name=name)

    @classmethod
    def randn(
        cls,
        *shape: Any,
        requires_grad: bool = False,
        dtype: Any = np.float64,
        rng: np.random.Generator | int | None = None,
        name: str | None = None,
    ) -> Tensor:
        """Standard normal samples; ``rng`` is a numpy Generator or a seed."""
        values = np.random.default_rng(rng).standard_normal(_new_shape("randn", shape))
        return cls(values, requires_grad, dtype=dtype, name=name)

    @classmethod
    def uniform(
        cls,
        *shape: Any,
        low: float = -1.0,
        high: float = 1.0,
        requires_grad: bool = False,
        dtype: Any = np.float64,
        rng: np.random.Generator | int | None = None,
        name: str | None = None,
    ) -> Tensor:
        """Samples from U[low, high); ``rng`` is a numpy Generator or a seed."""
        values = np.random.default_rng(rng).uniform(low, high, _new_shape("uniform", shape))
        return cls(values, requires_grad, dtype=dtype, name=name)

    # ------------------------------------------------------------------ attributes

    @property
    def data(self) -> np.ndarray:
        """The values, a numpy array (not a copy)."""
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        # Python runs `w.data -= step` as `w.data = w.data.__isub__(step)`: this is where
        # both an optimizer step and a hand-written update become visible as a new version.
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"Tensor{self._label()}.data must be a numpy array, got {type(value).__name__}; "
                "wrap it with np.asarray(...)"
            )
        self._data = value
        policies.record_change(self._counter())

    def _counter(self) -> list[int]:
        """The version counter (`policies.new_counter`), shared by the tensors that share
        memory; made when first needed (most tensors never change)."""
        try:
            return self._versions
        except AttributeError:
            self._versions = policies.new_counter()
            return self._versions

    @property
    def version(self) -> int:
        """How many times the values were changed through the library (in-place operators,
        optimizer steps, assignments to ``.data``); backward refuses a saved tensor whose
        version moved since the forward. Tensors sharing memory (``detach()``, views made
        by ``reshape``, ``transpose`` or basic indexing) share one version."""
        return self._counter()[0]

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not _is_float(self._data.dtype):
            raise TypeError(
                f"Tensor{self._label()}: only floating tensors can require grad, this one has "
                f"dtype {self._data.dtype}; make it with dtype=np.float64 or np.float32"
            )
        if self.grad_fn is not None and not value:
            raise ValueError(
                f"Tensor{self._label()} was computed by {self.grad_fn.name}: only leaves can "
                "stop requiring grad; use .detach() for a copy outside the graph"
            )
        self._requires_grad = bool(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        return F.Transpose.apply(self, axes=None)

    def item(self) -> float:
        return self._data.item()

    def numpy(self) -> np.ndarray:
        """The data array itself (not a copy)."""
        return self._data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(t)`` shares ``t.data``; ``np.array(t)`` (copy=True) copies it."""
        if copy is False and dtype is not None and np.dtype(dtype) != self._data.dtype:
            raise ValueError(f"Tensor: a {dtype} view of {self._data.dtype} data needs a copy")
        if dtype is not None and np.dtype(dtype) != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def detach(self) -> Tensor:
        """The same data, outside the graph: a leaf that does not require grad (sharing the
        version, as it shares the memory)."""
        # A view, not the array itself: saved arrays are matched to a node's inputs by
        # identity, so in x * x.detach() the detached operand must not pass for x.
        out = Tensor._constant(self._data.view())
        out._versions = self._counter()
        return out

    def zero_grad(self) -> None:
        self.grad = None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after ``backward()`` (leaves always do)."""
        if not self._requires_grad:
            raise ValueError(f"retain_grad: Tensor{self._label()} does not require grad")
        if self.grad_fn is not None:  # a leaf keeps its .grad anyway
            self.grad_fn._retain_output_grad = True

    def _label(self) -> str:
        return f" {self.name!r}" if self.name else ""

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError(f"len() of a 0-d tensor{self._label()} (a single number)")
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        """The rows along the first axis, each ``self[i]`` (recorded, as numpy and PyTorch
        iterate); a 0-d tensor is not iterable."""
        if self._data.ndim == 0:
            raise TypeError(f"iteration over a 0-d tensor{self._label()} (a single number)")
        return (self[i] for i in range(len(self._data)))

    def __contains__(self, value: Any) -> bool:
        """``value in t``: whether some element equals ``value`` (numpy's meaning)."""
        if isinstance(value, Tensor):
            value = value._data
        if not isinstance(value, (int, float, np.number, np.bool_, np.ndarray)):
            raise TypeError(
                f"`in` on a Tensor looks for a number (or a Tensor/array of them), not "
                f"{type(value).__name__}"
            )
        return bool((self._data == value).any())

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self._data)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extras = []
        if self._data.dtype != np.float64:
            extras.append(f"dtype={self._data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({', '.join([body, *extras])})"

    # ------------------------------------------------------------------ backward

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Add ∂self/∂leaf to the ``.grad`` of every leaf that requires grad.

        ``gradient`` is ∂L/∂self (the shape of self); it may be left out for a tensor with
        one element (∂L/∂L = 1). Saved arrays are freed afterwards unless
        ``retain_graph=True``.
        """
        root_grad = policies.backward_root(self, gradient, "backward")  # 1, or checked
        book = policies.Bookkeeping([self], [root_grad], retain_graph=retain_graph)
        with no_grad():  # the backward pass itself is not recorded
            autograd.run_backward([self], [root_grad], book)

    def _add_to_grad(self, grad: np.ndarray, owned: bool = False) -> None:
        """Add a backward pass's gradient to ``.grad``. ``owned``: the pass made ``grad``
        and nothing else holds it, so it becomes ``.grad`` as it is; otherwise ``.grad``
        gets its own copy (or a new sum)."""
        if self.grad is not None:
            self.grad = np.add(self.grad, grad, dtype=self._data.dtype)
        elif owned and grad.dtype == self._data.dtype:
            self.grad = grad
        else:
            self.grad = np.array(grad, dtype=self._data.dtype)  # own, writeable, our dtype

    # ------------------------------------------------------------------ operators

    def __add__(self, other: Any) -> Tensor:
        return F.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return F.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return F.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return F.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return F.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return F.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return F.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.Div.apply(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return F.Pow.apply(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return F.Pow.apply(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return F.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.MatMul.apply(other, self)

    def __neg__(self) -> Tensor:
        return F.Neg.apply(self)

    # ------------------------------------------------------------------ in-place operators
    # `w -= step` would otherwise rebind w to a new, computed tensor: w would stop being a
    # leaf and training would silently stop updating it. PyTorch's rules instead (see
    # policies.in_place): refused for a leaf that requires grad while grad mode is on,
    # allowed under no_grad(); a computed tensor is rebased onto the operation.

    def __iadd__(self, other: Any) -> Tensor:
        return self._in_place(F.Add, other, "+=")

    def __isub__(self, other: Any) -> Tensor:
        return self._in_place(F.Sub, other, "-=")

    def __imul__(self, other: Any) -> Tensor:
        return self._in_place(F.Mul, other, "*=")

    def __itruediv__(self, other: Any) -> Tensor:
        return self._in_place(F.Div, other, "/=")

    def __ipow__(self, other: Any) -> Tensor:
        return self._in_place(F.Pow, other, "**=")

    def __imatmul__(self, other: Any) -> Tensor:
        return self._in_place(F.MatMul, other, "@=")

    def _in_place(self, function: type[autograd.Function], other: Any, symbol: str) -> Tensor:
        return policies.in_place(self, function, other, symbol)

    def __getitem__(self, index: Any) -> Tensor:
        return F.GetItem.apply(self, index=F.normalize_index(index))

    # ------------------------------------------------------------------ methods

    def exp(self) -> Tensor:
        return F.Exp.apply(self)

    def log(self) -> Tensor:
        return F.Log.apply(self)

    def sigmoid(self) -> Tensor:
        return F.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return F.Tanh.apply(self)

    def relu(self) -> Tensor:
        return F.Relu.apply(self)

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return F.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return F.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """The maximum; tied elements share the gradient equally."""
        return F.Max.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        return F.Reshape.apply(self, shape=_shape_arg("reshape", shape))

    def transpose(self, *axes: Any) -> Tensor:
        """numpy's transpose: a permutation of all axes, reversed when none is given."""
        return F.Transpose.apply(self, axes=_shape_arg("transpose", axes, "axes") if axes else None)

    def broadcast_to(self, *shape: Any) -> Tensor:
        return F.BroadcastTo.apply(self, shape=_shape_arg("broadcast_to", shape))

    def softmax(self, axis: int = -1) -> Tensor:
        return F.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return F.LogSoftmax.apply(self, axis=axis)

    def squared_error(self, target: Any) -> Tensor:
        """E = Σ(t − o)² over all elements (no ½: see docs/design.md, "The loss and the
        factor 2")."""
        return F.SquaredError.apply(self, target)
