"""Layers, containers and losses, built from Tensor operations.

Layers act on rows: an input has shape (batch, features), and ``Linear`` computes
``y = x @ weightᵀ + bias`` with ``weight`` of shape (out_features, in_features) — PyTorch's
layout, which is also the book's: ``Linear(64, 100).weight`` is the book's W_ih
(hidden × inputs). The book's column-vector convention lives in ``textbook``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np

from tinygrad_edu import functions as F
from tinygrad_edu.tensor import Tensor


def _qualify_names(module: Module, prefix: str) -> None:
    """Give the module's tensors their dotted names from ``prefix`` ("0." → "0.weight"), so
    that drawings and error messages say what `named_parameters` says. Only a tensor whose
    name is a layer's own (its attribute name, or an earlier, shorter dotted name that the
    new one ends with) is renamed; a name the user chose ("W_ih") stays."""
    for name, tensor in module.named_tensors(prefix):
        if tensor.name is None or name.endswith("." + tensor.name):
            tensor.name = name


class Module:
    """Base class of layers: holds Tensors (its parameters: those that require grad) and
    sub-modules as attributes; ``module(x)`` calls ``forward(x)``.

    A sub-module set as an attribute (``self.fc1 = Linear(...)``), or a layer of a
    `Sequential`, names its tensors by their dotted names: ``fc1.weight``, ``0.weight``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        children = value if isinstance(value, (list, tuple)) else [value]
        for index, child in enumerate(children):
            if isinstance(child, Module):
                _qualify_names(child, f"{name}." if child is value else f"{name}.{index}.")

    def forward(self, *inputs: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs: Any) -> Tensor:
        return self.forward(*inputs)

    def named_tensors(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        """(dotted name, tensor) for every floating leaf tensor the module holds — its
        parameters, frozen ones included — in the order the attributes were set; a tensor
        reachable twice is listed once. This is what `state_dict` saves."""
        found: list[tuple[str, Tensor]] = []
        seen: set[int] = set()
        for name, value in vars(self).items():
            children = value if isinstance(value, (list, tuple)) else [value]
            for index, child in enumerate(children):
                key = f"{prefix}{name}" if child is value else f"{prefix}{name}.{index}"
                if isinstance(child, Module):
                    candidates = child.named_tensors(f"{key}.")
                elif isinstance(child, Tensor) and child.is_leaf and child.dtype.kind == "f":
                    candidates = [(key, child)]
                else:
                    continue
                for tensor_name, tensor in candidates:
                    if id(tensor) not in seen:
                        seen.add(id(tensor))
                        found.append((tensor_name, tensor))
        return found

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        """(dotted name, tensor) for every tensor that requires grad (what an optimizer
        updates), in the order the attributes were set."""
        return [(n, t) for n, t in self.named_tensors(prefix) if t.requires_grad]

    def parameters(self) -> list[Tensor]:
        return [tensor for _, tensor in self.named_parameters()]

    def zero_grad(self) -> None:
        for tensor in self.parameters():
            tensor.zero_grad()

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every tensor's data (frozen parameters included), by dotted name."""
        return {name: tensor.data.copy() for name, tensor in self.named_tensors()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace every parameter's data — all or nothing: names, shapes and dtypes are
        checked first, and any mismatch raises before a single parameter changes."""
        parameters = dict(self.named_tensors())
        missing = sorted(set(parameters) - set(state))
        unexpected = sorted(set(state) - set(parameters))
        if missing or unexpected:
            raise KeyError(
                f"load_state_dict: {type(self).__name__} expects parameters {sorted(parameters)}; "
                f"missing {missing}, unexpected {unexpected}"
            )
        arrays = {}
        for name, tensor in parameters.items():
            array = np.asarray(state[name])
            if array.shape != tensor.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {array.shape} in the state but "
                    f"{tensor.shape} in the module"
                )
            if not np.issubdtype(array.dtype, np.floating):
                raise TypeError(
                    f"load_state_dict: {name} has dtype {array.dtype}; a floating array is needed"
                )
            arrays[name] = array.astype(tensor.dtype, copy=True)
        for name, tensor in parameters.items():
            tensor.data = arrays[name]
            tensor.zero_grad()


class Linear(Module):
    """y = x @ weightᵀ + bias, weight of shape (out_features, in_features).

    ``init="pytorch"`` (default) draws weight and bias from U(−1/√in, 1/√in), as
    ``torch.nn.Linear`` does; ``init="book"`` draws the weight from a normal distribution
    with standard deviation in^−½ (the book's later code: one over the square root of the
    number of incoming links) and starts the bias at 0.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: Literal["pytorch", "book"] = "pytorch",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        for option, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"Linear: {option} must be an integer, got {value!r}")
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear: in_features and out_features must be positive, got "
                f"{in_features} and {out_features}"
            )
        generator = np.random.default_rng(rng)
        shape = (out_features, in_features)
        if init == "pytorch":
            bound = in_features**-0.5
            weight = generator.uniform(-bound, bound, shape)
            bias_values = generator.uniform(-bound, bound, out_features)
        elif init == "book":
            weight = generator.normal(0.0, in_features**-0.5, shape)
            bias_values = np.zeros(out_features)
        else:
            raise ValueError(f"Linear: init must be 'pytorch' or 'book', got {init!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Tensor(weight, requires_grad=True, dtype=dtype, name="weight")
        self.bias = (
            Tensor(bias_values, requires_grad=True, dtype=dtype, name="bias") if bias else None
        )

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}): input of shape {x.shape} "
                f"must have {self.in_features} features on its last axis (rows are samples)"
            )
        y = F.Linear.apply(x, self.weight)  # x @ weightᵀ as one node
        return y if self.bias is None else y + self.bias

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e⁻ˣ), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()

    def __repr__(self) -> str:
        return "Sigmoid()"


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()

    def __repr__(self) -> str:
        return "ReLU()"


class Tanh(Module):
    """tanh x, elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()

    def __repr__(self) -> str:
        return "Tanh()"


class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(64, 100), Sigmoid())``."""

    layers: list[Module]

    def __init__(self, *layers: Module) -> None:
        for index, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {index} is {layer!r}, not a Module")
        object.__setattr__(self, "layers", list(layers))  # named "0.…", not "layers.0.…"
        _qualify_names(self, "")

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def named_tensors(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        # Named like PyTorch's Sequential: "0.weight", "2.weight", ...
        found: list[tuple[str, Tensor]] = []
        seen: set[int] = set()
        for index, layer in enumerate(self.layers):
            for name, tensor in layer.named_tensors(f"{prefix}{index}."):
                if id(tensor) not in seen:  # a layer used twice is listed once
                    seen.add(id(tensor))
                    found.append((name, tensor))
        return found

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


# --------------------------------------------------------------------------- losses


def squared_error(output: Tensor, target: Any) -> Tensor:
    """E = Σ(t − o)² over all elements — no ½ and no mean (docs/design.md, "The loss
    and the factor 2"); the book's E is ``0.5 * squared_error(o, t)``."""
    return output.squared_error(target)


def mse(output: Tensor, target: Any) -> Tensor:
    """Mean of (t − o)² over all elements (PyTorch's ``mse_loss`` default)."""
    target_shape = np.shape(target.data if isinstance(target, Tensor) else target)
    count = int(np.prod(np.broadcast_shapes(output.shape, target_shape)))
    if count == 0:
        raise ValueError("mse: the output is empty")
    return output.squared_error(target) / count


def cross_entropy(logits: Tensor, labels: Any) -> Tensor:
    """Mean over the batch of −log softmax(logits)[label]: logits (batch, classes), integer
    labels (batch,) in [0, classes)."""
    label_array = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if logits.ndim != 2:
        raise ValueError(
            f"cross_entropy: logits must have shape (batch, classes), got {logits.shape}"
        )
    if not np.issubdtype(label_array.dtype, np.integer):
        raise TypeError(
            f"cross_entropy: labels must be integers (class indices), got dtype {label_array.dtype}"
        )
    batch, classes = logits.shape
    if label_array.shape != (batch,):
        raise ValueError(
            f"cross_entropy: {batch} rows of logits need labels of shape ({batch},), got "
            f"{label_array.shape}"
        )
    if batch == 0:
        raise ValueError("cross_entropy: the batch is empty")
    if label_array.min() < 0 or label_array.max() >= classes:
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {classes}), got values from "
            f"{label_array.min()} to {label_array.max()}"
        )
    picked = logits.log_softmax(axis=1)[np.arange(batch), label_array]
    return -picked.mean()
