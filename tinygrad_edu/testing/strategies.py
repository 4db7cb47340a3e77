"""Hypothesis strategies for property tests of gradients, yours and ours.

Built on ``hypothesis.extra.numpy``; Hypothesis is needed only when this module is
imported (``pip install "tinygrad-edu[test]"``). Elements are finite and bounded, and each
input stays inside the domain where its operation is differentiable::

    from hypothesis import given
    from tinygrad_edu.testing import strategies as tst

    @given(tst.arrays(tst.shapes(), domain="positive"))
    def test_log_grad(x): ...

``in_domain("relu")`` draws a whole test case (inputs and options) for a registered
operation, keeping away from the kink at 0.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
        """The book's E = ½Σ(t − o)² for the given weights (Tensors), on this data."""
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
