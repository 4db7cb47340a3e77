"""Hypothesis strategies for property tests of gradients, yours and ours.

Built on ``hypothesis.extra.numpy``; Hypothesis is needed only when this module is
imported (``pip install "tinygrad-edu[test]"``). Elements are finite and bounded, and each
input stays inside the domain where its operation is differentiable::

    from hypothesis import given
    from tinygrad_edu.testing import strategies as tst

    @given(tst.arrays(tst.shapes(), domain="positive"))
    def test_log_grad(x): ...

``in_domain("relu")`` draws a whole test case (inputs and options) for a registered
operation, keeping away from the kink at 0; ``programs()`` draws whole random programs of
registered operations (``program.run(*program.tensors())`` is a scalar Tensor).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_edu.registry import REGISTRY, Domain, OpInfo
from tinygrad_edu.tensor import Tensor

MAX_SIDE = 4
"""Longest axis drawn by default: finite differences cost two calls per element."""


def elements(domain: Domain = "real", bound: float = 3.0) -> st.SearchStrategy[float]:
    """Floats in [−bound, bound] restricted to ``domain``.

    ``positive`` stays ≥ 0.1 (log, powers), ``nonzero`` keeps |x| ≥ 0.5 (divisors),
    ``away_from_zero`` keeps |x| ≥ 0.01 (relu's kink), ``distinct`` draws from a grid of
    step 0.01 so that, with ``unique=True``, no two elements are closer than a finite
    difference step could tell apart (no ties for max).
    """
    if domain == "real":
        return st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    if domain == "positive":
        return st.floats(0.1, bound, allow_nan=False, allow_infinity=False)
    if domain == "nonzero":
        return st.one_of(st.floats(-bound, -0.5), st.floats(0.5, bound))
    if domain == "away_from_zero":
        return st.one_of(st.floats(-bound, -0.01), st.floats(0.01, bound))
    if domain == "distinct":
        steps = int(bound * 100)
        return st.integers(-steps, steps).map(lambda k: k / 100)
    raise ValueError(
        f"elements: unknown domain {domain!r}; accepted: real, positive, nonzero, "
        "away_from_zero, distinct"
    )


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = MAX_SIDE
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes (small by default: every element costs two finite differences)."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    domain: Domain = "real",
    dtype: Any = np.float64,
) -> st.SearchStrategy[np.ndarray]:
    """numpy arrays of ``shape`` (drawn with `shapes` when None) with elements in ``domain``."""
    return hnp.arrays(
        dtype=dtype,
        shape=shapes() if shape is None else shape,
        elements=elements(domain),
        unique=domain == "distinct",
    )


@st.composite
def tensors(
    draw: st.DrawFn,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    domain: Domain = "real",
    dtype: Any = np.float64,
    requires_grad: bool = True,
) -> Tensor:
    """Tensors (leaves, requiring grad by default) built from `arrays`."""
    return Tensor(draw(arrays(shape, domain, dtype)), requires_grad=requires_grad)


@st.composite
def broadcastable_pairs(
    draw: st.DrawFn, domains: tuple[Domain, Domain] = ("real", "real")
) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays whose shapes broadcast together (``a + b`` works)."""
    pair = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=MAX_SIDE))
    a_shape, b_shape = pair.input_shapes
    return draw(arrays(a_shape, domains[0])), draw(arrays(b_shape, domains[1]))


@st.composite
def shapes_broadcasting_to(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts *to* ``shape`` (the result is ``shape`` itself): some leading
    axes dropped, some others replaced by 1."""
    kept = shape[draw(st.integers(0, len(shape))) :]
    return tuple(1 if draw(st.booleans()) else n for n in kept)


@st.composite
def output_target_pairs(
    draw: st.DrawFn, domains: tuple[Domain, Domain] = ("real", "real")
) -> tuple[np.ndarray, np.ndarray]:
    """An output and a target for a loss: the target broadcasts to the output's shape."""
    output = draw(arrays(None, domains[0]))
    return output, draw(arrays(shapes_broadcasting_to(output.shape), domains[1]))


@st.composite
def matmul_pairs(
    draw: st.DrawFn, domains: tuple[Domain, Domain] = ("real", "real")
) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays that ``@`` accepts: matrices, vectors, and stacks with broadcast batches."""
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    a_is_vector, b_is_vector = draw(st.booleans()), draw(st.booleans())
    batches = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    a_batch, b_batch = batches.input_shapes
    if a_is_vector or b_is_vector or draw(st.booleans()):
        a_batch = b_batch = ()
    a_shape = (k,) if a_is_vector else (*a_batch, n, k)
    b_shape = (k,) if b_is_vector else (*b_batch, k, m)
    return draw(arrays(a_shape, domains[0])), draw(arrays(b_shape, domains[1]))


@st.composite
def axes(draw: st.DrawFn, ndim: int) -> int | tuple[int, ...] | None:
    """An ``axis`` argument for a reduction over ``ndim`` dimensions: None, one axis
    (maybe negative) or a tuple of distinct axes."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    one = st.integers(-ndim, ndim - 1)
    several = st.lists(one, min_size=1, max_size=ndim, unique_by=lambda a: a % ndim).map(tuple)
    return draw(st.one_of(st.none(), one, several))


def indices(shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """An index for ``x[index]``: basic (ints, slices, None, ...) or integer arrays."""
    basic = hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True)
    if not shape:
        return basic
    return st.one_of(basic, hnp.integer_array_indices(shape))


@dataclass
class Network:
    """A small random sigmoid network in the book's column layout: ``weights[0]`` is W_ih
    (hidden × inputs), ``weights[-1]`` W_ho; ``inputs`` and ``targets`` are columns (one
    per sample), inputs in the book's range (0.01, 1] and targets 0.01 or 0.99."""

    weights: list[np.ndarray]
    inputs: np.ndarray
    targets: np.ndarray

    def loss(self, *weights: Tensor) -> Tensor:
        """½Σ(t − o)² for the given weights (Tensors), on this data: the loss whose
        gradient the book's update formulas are (the book writes Σ(t − o)²)."""
        signal = Tensor(self.inputs)
        for w in weights:
            signal = (w @ signal).sigmoid()
        return 0.5 * signal.squared_error(self.targets)


@st.composite
def networks(
    draw: st.DrawFn, min_layers: int = 1, max_layers: int = 3, max_nodes: int = MAX_SIDE
) -> Network:
    """Random sigmoid networks with 1–3 weight layers of 1–4 nodes and 1–3 samples."""
    depth = draw(st.integers(min_layers, max_layers))
    sizes = [draw(st.integers(1, max_nodes)) for _ in range(depth + 1)]
    samples = draw(st.integers(1, 3))
    weights = [draw(arrays((n_out, n_in))) for n_in, n_out in itertools.pairwise(sizes)]
    inputs = draw(arrays((sizes[0], samples), "positive").map(lambda a: a / 3 * 0.99 + 0.01))
    targets = draw(
        hnp.arrays(np.float64, (sizes[-1], samples), elements=st.sampled_from([0.01, 0.99]))
    )
    return Network(weights, inputs, targets)


@dataclass
class OpCase:
    """Inputs and options for one call of a registered operation."""

    op: OpInfo
    inputs: tuple[np.ndarray, ...]
    options: dict[str, Any] = field(default_factory=dict)


@st.composite
def in_domain(draw: st.DrawFn, op: str | OpInfo) -> OpCase:
    """A test case for a registered operation (by name or `OpInfo`), inside its domain."""
    info = REGISTRY[op] if isinstance(op, str) else op
    domains = info.domains
    signature = info.signature
    if signature == "unary":
        return OpCase(info, (draw(arrays(None, domains[0])),))
    if signature == "binary":
        return OpCase(info, draw(broadcastable_pairs((domains[0], domains[1]))))
    if signature == "target":
        return OpCase(info, draw(output_target_pairs((domains[0], domains[1]))))
    if signature == "matmul":
        return OpCase(info, draw(matmul_pairs((domains[0], domains[1]))))
    if signature == "linear":
        batch = draw(shapes(min_dims=0, max_dims=2))
        n_in, n_out = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
        x = draw(arrays((*batch, n_in), domains[0]))
        return OpCase(info, (x, draw(arrays((n_out, n_in), domains[1]))))
    if signature == "reduce":
        x = draw(arrays(None, domains[0]))
        return OpCase(info, (x,), {"axis": draw(axes(x.ndim)), "keepdims": draw(st.booleans())})
    if signature == "softmax":
        x = draw(arrays(shapes(min_dims=1), domains[0]))
        return OpCase(info, (x,), {"axis": draw(st.integers(-x.ndim, x.ndim - 1))})
    if signature == "reshape":
        x = draw(arrays(None, domains[0]))
        targets = [(x.size,), x.shape[::-1], (1, *x.shape), (*x.shape, 1), (-1,)]
        return OpCase(info, (x,), {"shape": draw(st.sampled_from(targets))})
    if signature == "transpose":
        x = draw(arrays(None, domains[0]))
        permutation = st.permutations(range(x.ndim)).map(tuple)
        return OpCase(info, (x,), {"axes": draw(st.one_of(st.none(), permutation))})
    if signature == "broadcast_to":
        pair = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
        x = draw(arrays(pair.input_shapes[0], domains[0]))
        return OpCase(info, (x,), {"shape": pair.result_shape})
    if signature == "getitem":
        x = draw(arrays(None, domains[0]))
        return OpCase(info, (x,), {"index": draw(indices(x.shape))})
    if signature == "scatter_add":
        shape = draw(shapes())
        index = draw(indices(shape))
        picked_shape = np.zeros(shape)[index].shape
        values = draw(arrays(picked_shape, domains[0]))
        return OpCase(info, (values,), {"shape": shape, "index": index})
    raise ValueError(f"in_domain: no strategy for the signature {signature!r} of {info.name}")


# --------------------------------------------------------------------------- random programs

KINK_MARGIN = 1e-3
"""How far a program keeps relu's inputs from 0 and each maximum from the runner-up: a
finite difference must not step across a kink."""

VALUE_BOUND = 50.0
"""Largest magnitude a program's intermediate values may reach (exp and pow grow fast)."""


@dataclass
class ProgramStep:
    """One operation of a `Program`: its operands are earlier values (an int, the position
    among the program's values: leaves first) or constant arrays."""

    op: OpInfo
    operands: tuple[int | np.ndarray, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Program:
    """A random computation of registered operations on ``leaves``, ending in the scalar
    Σ last value · ``weights``. Values may be used many times (shared subexpressions).
    ``kink_distance`` is how close any relu input or max runner-up came to its kink."""

    leaves: list[np.ndarray]
    requires_grad: list[bool]
    steps: list[ProgramStep]
    weights: np.ndarray
    kink_distance: float = np.inf

    def tensors(self) -> list[Tensor]:
        """Fresh leaf Tensors holding the program's inputs."""
        return [
            Tensor(x, requires_grad=r) for x, r in zip(self.leaves, self.requires_grad, strict=True)
        ]

    def run(self, *leaves: Tensor) -> Tensor:
        values: list[Tensor] = list(leaves)
        for step in self.steps:
            operands = [values[o] if isinstance(o, int) else o for o in step.operands]
            values.append(step.op.function.apply(*operands, **step.options))
        return (values[-1] * self.weights).sum()

    def __repr__(self) -> str:
        lines = [f"leaf {i}: shape {x.shape}" for i, x in enumerate(self.leaves)]
        for n, step in enumerate(self.steps, start=len(self.leaves)):
            args = ", ".join(f"v{o}" if isinstance(o, int) else "const" for o in step.operands)
            lines.append(f"v{n} = {step.op.name}({args}, {step.options})")
        return "Program(\n  " + "\n  ".join(lines) + "\n)"


class _Builder:
    """Draws a program one step at a time, computing its values as it goes (to know their
    shapes and where the kinks are)."""

    def __init__(self, draw: st.DrawFn, leaves: list[np.ndarray]) -> None:
        self.draw = draw
        self.values = list(leaves)
        self.steps: list[ProgramStep] = []
        self.kink_distance = np.inf

    def add(self, op: str, *operands: int | np.ndarray, **options: Any) -> int | None:
        """Append ``op`` if its result is usable (not empty, bounded); its position, or None."""
        info = REGISTRY[op]
        arrays = [self.values[o] if isinstance(o, int) else o for o in operands]
        with np.errstate(all="ignore"):
            result = np.asarray(info.function.apply(*arrays, **options).data)
        if result.size == 0 or not np.all(np.abs(result) <= VALUE_BOUND):
            return None
        if op == "relu":
            self.kink_distance = min(self.kink_distance, float(np.abs(arrays[0]).min()))
        if op == "max":
            self.kink_distance = min(self.kink_distance, _runner_up_gap(arrays[0], options))
        self.steps.append(ProgramStep(info, operands, options))
        self.values.append(result)
        return len(self.values) - 1

    def pick(self, accept: Any = lambda shape: True) -> int | None:
        """A value whose shape ``accept`` takes (any earlier value, leaves included)."""
        candidates = [i for i, v in enumerate(self.values) if accept(v.shape)]
        return self.draw(st.sampled_from(candidates)) if candidates else None

    def in_domain(self, index: int, domain: Domain) -> int | None:
        """``index`` itself, or σ(value) + 0.5 ∈ (0.5, 1.5) for a positive or nonzero one."""
        if domain not in ("positive", "nonzero"):
            return index
        squashed = self.add("sigmoid", index)
        return None if squashed is None else self.add("add", squashed, np.array(0.5))


def _runner_up_gap(x: np.ndarray, options: dict[str, Any]) -> float:
    """The smallest distance between a maximum and the next value in its group."""
    axis = options.get("axis")
    axes = tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis) % max(x.ndim, 1))
    kept = [a for a in range(x.ndim) if a not in axes]
    groups = np.transpose(x, (*kept, *axes)).reshape(-1, int(np.prod([x.shape[a] for a in axes])))
    if groups.shape[1] < 2:
        return float(np.inf)
    top_two = np.sort(groups, axis=1)[:, -2:]
    return float((top_two[:, 1] - top_two[:, 0]).min())


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _matmul_fits(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.matmul(np.zeros(a), np.zeros(b))
    except ValueError:
        return False
    return len(a) > 0 and len(b) > 0


def _draw_step(draw: st.DrawFn, builder: _Builder, op: OpInfo) -> None:
    """Add one call of ``op`` with operands drawn from the values so far (nothing if none
    fits). Inputs outside the op's domain are squashed into it first."""
    signature, domains = op.signature, op.domains
    if signature == "unary":
        x = builder.pick()
        x = None if x is None else builder.in_domain(x, domains[0])
        if x is not None:
            builder.add(op.name, x)
    elif signature in ("binary", "target"):
        a = builder.pick()
        if a is None:
            return
        a_shape = builder.values[a].shape
        if signature == "binary":
            b = builder.pick(lambda shape: _broadcasts(a_shape, shape))
        else:  # the target must not stretch the output
            b = builder.pick(
                lambda shape: (
                    _broadcasts(a_shape, shape) and np.broadcast_shapes(a_shape, shape) == a_shape
                )
            )
        a = builder.in_domain(a, domains[0])
        b = None if b is None or a is None else builder.in_domain(b, domains[1])
        if a is not None and b is not None:
            builder.add(op.name, a, b)
    elif signature in ("matmul", "linear"):
        a = builder.pick(lambda shape: len(shape) > 0)
        if a is None:
            return
        a_shape = builder.values[a].shape
        if signature == "matmul":
            b = builder.pick(lambda shape: _matmul_fits(a_shape, shape))
        else:
            b = builder.pick(lambda shape: len(shape) == 2 and shape[1] == a_shape[-1])
        if b is not None:
            builder.add(op.name, a, b)
    elif signature == "reduce":
        x = builder.pick()
        if x is not None:
            ndim = builder.values[x].ndim
            builder.add(op.name, x, axis=draw(axes(ndim)), keepdims=draw(st.booleans()))
    elif signature == "softmax":
        x = builder.pick(lambda shape: len(shape) > 0)
        if x is not None:
            ndim = builder.values[x].ndim
            builder.add(op.name, x, axis=draw(st.integers(-ndim, ndim - 1)))
    elif signature == "reshape":
        x = builder.pick()
        if x is not None:
            shape = builder.values[x].shape
            targets = [(int(np.prod(shape)),), shape[::-1], (1, *shape), (-1,)]
            builder.add(op.name, x, shape=draw(st.sampled_from(targets)))
    elif signature == "transpose":
        x = builder.pick()
        if x is not None:
            permutation = st.permutations(range(builder.values[x].ndim)).map(tuple)
            builder.add(op.name, x, axes=draw(st.one_of(st.none(), permutation)))
    elif signature == "broadcast_to":
        x = builder.pick()
        if x is not None:
            shape = builder.values[x].shape
            stretched = tuple(draw(st.sampled_from([1, 2])) if n == 1 else n for n in shape)
            builder.add(op.name, x, shape=(draw(st.integers(1, 2)), *stretched))
    elif signature == "getitem":
        x = builder.pick()
        if x is not None:
            builder.add(op.name, x, index=draw(indices(builder.values[x].shape)))
    elif signature == "scatter_add":
        x = builder.pick()
        if x is not None:
            copies = draw(st.integers(1, 3))
            shape = (copies, *builder.values[x].shape)
            builder.add(op.name, x, shape=shape, index=draw(st.integers(0, copies - 1)))
    else:  # pragma: no cover - a new signature needs a case here
        raise ValueError(f"programs: no rule for the signature {signature!r} of {op.name}")


@st.composite
def programs(
    draw: st.DrawFn,
    max_leaves: int = 3,
    max_steps: int = 8,
    max_side: int = 3,
    ops: list[str] | None = None,
) -> Program:
    """Random programs of registered operations (``ops``, or all of them, with
    broadcasting, indexing, reductions and shared subexpressions) on 1–``max_leaves`` small
    float64 leaves, at least one requiring grad. Relu inputs and maxima stay `KINK_MARGIN`
    from their kinks (other draws are rejected), values stay within `VALUE_BOUND`."""
    leaf_count = draw(st.integers(1, max_leaves))
    leaves = [
        draw(arrays(shapes(max_dims=2, max_side=max_side), "real")) for _ in range(leaf_count)
    ]
    requires_grad = [True] + [draw(st.booleans()) for _ in range(leaf_count - 1)]
    builder = _Builder(draw, leaves)
    names = sorted(REGISTRY) if ops is None else ops
    for _ in range(draw(st.integers(2, max_steps))):
        _draw_step(draw, builder, REGISTRY[draw(st.sampled_from(names))])
    assume(builder.steps and builder.kink_distance >= KINK_MARGIN)
    weights = draw(arrays(builder.values[-1].shape, "real"))
    return Program(leaves, requires_grad, builder.steps, weights, builder.kink_distance)
