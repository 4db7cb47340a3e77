# %% [markdown]
# # 7. Checking gradients
#
# Autodiff computes a gradient from the backward formula of every operation. If one of
# those formulas is wrong (a forgotten factor, a sign, a transpose) every gradient
# through it is wrong, and training may still *seem* to work. The texts of this course
# slip exactly like that (chapter 9). So we need a check that uses no backward formula
# and no chain rule at all: the definition of the derivative itself.
#
# In this chapter you will:
#
# - measure a derivative with **finite differences**, by hand, and see how to pick the
#   step;
# - use `gradcheck.numerical_gradient` and `gradcheck.gradcheck` on the book's network
#   (the book is Tariq Rashid, *Make Your Own Neural Network*);
# - watch `gradcheck` catch a wrong backward and say where;
# - write **property tests** with the strategies that ship in
#   `tinygrad_edu.testing.strategies`, and run them right here.

# %%
import matplotlib.pyplot as plt
import numpy as np
from hypothesis import given, settings

from tinygrad_edu import Function, Tensor, textbook
from tinygrad_edu.gradcheck import GradcheckError, gradcheck, numerical_gradient
from tinygrad_edu.testing import strategies as tst

# %% [markdown]
# ## Finite differences by hand
#
# The slope of f at x is the limit of (f(x + ε) − f(x)) / ε as ε shrinks. Take a small ε
# and you have an estimate, the **forward difference**. Centre the step, and you have the
# **central difference** (f(x + ε) − f(x − ε)) / 2ε, whose error shrinks like ε² instead
# of ε. Try both on the sigmoid at 2.3, where we know the exact slope σ(1 − σ):


# %%
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


x = 2.3
exact = sigmoid(x) * (1 - sigmoid(x))
steps = 10.0 ** -np.arange(1, 13)
forward = (sigmoid(x + steps) - sigmoid(x)) / steps
central = (sigmoid(x + steps) - sigmoid(x - steps)) / (2 * steps)
print("     ε    forward error  central error")
for eps, f, c in zip(steps, forward, central, strict=True):
    print(f"{eps:8.0e}  {abs(f - exact):12.1e}  {abs(c - exact):12.1e}")

# %%
figure, axes = plt.subplots(figsize=(6, 3.2))
axes.loglog(steps, abs(forward - exact), marker="o", label="forward difference")
axes.loglog(steps, abs(central - exact), marker="o", label="central difference")
axes.set(xlabel="step ε", ylabel="|estimate − σ(1 − σ)|", title="finite differences at x = 2.3")
axes.invert_xaxis()
axes.legend()
plt.show()

# %% [markdown]
# Reading from the left, the errors first fall (one decade per decade for the forward
# difference, two for the central one) until rounding takes over: f(x ± ε) are stored
# with about 16 significant digits, so their difference loses more of them the smaller ε
# gets, and the error grows again. For the central difference in float64 a step around
# 1e-5 to 1e-6 is a good compromise; `tinygrad_edu` uses 1e-6. In float32 (about 7 digits)
# no step works well, which is why `gradcheck` refuses float32 inputs.
#
# ## Every element at once: numerical_gradient
#
# `numerical_gradient(fn, *inputs)` nudges each element of each input in turn and
# returns one array per input. `fn` must return one number. Here is the book's 3-3-3
# network (the weights `proofs.book_network_loss()` uses) with the loss E = ½Σ(t − o)²:

# %%
rng = np.random.default_rng(0)
w_ih = rng.normal(0, 3**-0.5, (3, 3))
w_ho = rng.normal(0, 3**-0.5, (3, 3))
inputs = np.array([[0.9], [0.1], [0.8]])
targets = np.array([[0.01], [0.99], [0.01]])


def network_loss(weights_ih, weights_ho):
    hidden = (weights_ih @ Tensor(inputs)).sigmoid()
    return 0.5 * (weights_ho @ hidden).sigmoid().squared_error(targets)


numeric_ih, numeric_ho = numerical_gradient(network_loss, w_ih, w_ho)
W_ih, W_ho = Tensor(w_ih, requires_grad=True), Tensor(w_ho, requires_grad=True)
network_loss(W_ih, W_ho).backward()
print("∂E/∂Wₕₒ by autodiff:\n", W_ho.grad.round(8))
print("by finite differences:\n", numeric_ho.round(8))
gap_ho = np.abs(W_ho.grad - numeric_ho).max()
gap_ih = np.abs(W_ih.grad - numeric_ih).max()
print(f"largest difference: Wₕₒ {gap_ho:.1e}, Wᵢₕ {gap_ih:.1e}")

# %% [markdown]
# ## The comparison, done properly: gradcheck
#
# `gradcheck(fn, *inputs)` does that comparison for every input that requires grad,
# element by element, with a tolerance (|analytic − numeric| ≤ atol + rtol·|numeric|).
# It returns `True`, or raises `GradcheckError` with the input, the element and both
# values. Its inputs are left untouched.

# %%
print(gradcheck(network_loss, W_ih, W_ho))

# %% [markdown]
# To see it fail, we need a wrong backward. Chapter 8 explains how to write your own
# operation; here is one with a slip that the texts could have made: a sigmoid whose
# backward forgets the (1 − σ) of the slope.


# %%
class SloppySigmoid(Function):
    """σ(x), with the wrong slope σ(x) instead of σ(x)(1 − σ(x))."""

    @staticmethod
    def forward(ctx, x):
        y = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y  # should be g * y * (1 - y)


z = Tensor([[-1.0, 0.5, 2.3]], requires_grad=True, name="z")
try:
    gradcheck(lambda t: SloppySigmoid.apply(t).sum(), z)
except GradcheckError as error:
    print(error)
    print("\nas data:", error.element_index, round(error.analytic, 6), round(error.numeric, 6))

# %% [markdown]
# The message names the input, the element that is furthest off, what backward computed
# and what finite differences measured. At z = 2.3 backward says σ = 0.909, finite
# differences say σ(1 − σ) = 0.0828: the slip is found and located without reading the
# code.
#
# ## Property tests with the shipped strategies
#
# One point proves little; a backward formula must hold *everywhere* in its domain.
# [Hypothesis](https://hypothesis.readthedocs.io) draws many inputs for a test, and
# when one fails, shrinks it to a simple failing example. `tinygrad_edu.testing.strategies`
# has strategies for gradient tests: `tst.tensors(...)` draws tensors of small shapes,
# `tst.in_domain("log")` draws valid inputs for a registered operation (positive ones
# for log, away from 0 for relu's kink), `tst.networks()` draws whole small sigmoid
# networks in the book's layout.
#
# A property test is an ordinary function. Called directly, it runs all its examples;
# `deadline=None` turns off Hypothesis's per-example time limit (gradient checks are not
# fast), `database=None` keeps it from saving examples to disk, and `derandomize=True`
# makes it draw the same examples on every run, so that this page shows the same output.


# %%
@settings(max_examples=15, deadline=None, database=None, derandomize=True)
@given(tst.tensors(tst.shapes(max_dims=2)))
def test_sigmoid_gradient(x):
    assert gradcheck(lambda t: t.sigmoid(), x)


@settings(max_examples=15, deadline=None, database=None, derandomize=True)
@given(tst.in_domain("log"))
def test_log_gradient(case):
    assert gradcheck(lambda t: t.log(), Tensor(case.inputs[0], requires_grad=True))


test_sigmoid_gradient()
test_log_gradient()
print("both properties held for 15 examples each")

# %% [markdown]
# The same works for a formula of the texts. The book's element formula for the weights
# into a sigmoid layer, ∂E/∂wⱼₖ = −(tₖ − oₖ) · oₖ(1 − oₖ) · oⱼ, is
# `textbook.output_weight_gradient`. Check it against autodiff on random one-layer
# networks with several samples (as columns):


# %%
@settings(max_examples=20, deadline=None, database=None, derandomize=True)
@given(tst.networks(min_layers=1, max_layers=1))
def test_output_layer_formula(network):
    weights = Tensor(network.weights[0], requires_grad=True)
    network.loss(weights).backward()
    outputs = sigmoid(network.weights[0] @ network.inputs)
    formula = textbook.output_weight_gradient(network.targets, outputs, network.inputs)
    np.testing.assert_allclose(formula, weights.grad, atol=1e-12)


test_output_layer_formula()
print("the book's formula agrees with autodiff on 20 random networks")

# %% [markdown]
# And a property that is **false**: the book's code sends the hidden layer Wₕₒᵀ · e
# (chapter 6, erratum E8). Claim that it is −∂E/∂h, and Hypothesis finds a network where
# it is not, and shrinks it:


# %%
@settings(max_examples=50, deadline=None, database=None, derandomize=True)
@given(tst.networks(min_layers=1, max_layers=1))
def test_transpose_rule_is_the_hidden_error(network):
    hidden = Tensor(network.inputs, requires_grad=True)  # the layer's inputs act as h
    w = network.weights[0]
    loss = 0.5 * (Tensor(w) @ hidden).sigmoid().squared_error(network.targets)
    loss.backward()
    e = network.targets - sigmoid(w @ network.inputs)
    np.testing.assert_allclose(textbook.hidden_errors(w, e), -hidden.grad, atol=1e-9)


try:
    test_transpose_rule_is_the_hidden_error()
except AssertionError as error:
    print("Hypothesis found a counterexample:")
    print(getattr(error, "__notes__", [""])[0])  # Hypothesis's "Falsifying example"
    print("\n".join(str(error).strip().splitlines()[-2:]))

# %% [markdown]
# ACTUAL is the transpose rule, DESIRED the gradient −∂E/∂h: on a single sigmoid output
# they differ by exactly the slope o(1 − o) that the rule leaves out.
#
# ## Exercises
#
# Solutions: [on the solutions page](../solutions/#chapter-7-checking-gradients)
# (the file `docs/tutorial/solutions/ch07_checking_gradients.py`).
#
# 1. **Central differences by hand.** Write `central_difference(f, x, eps)` for a numpy
#    function of one array (every element nudged in turn), and check it on `np.sin`.
# 2. **The order of the error.** Measure how the errors of the forward and the central
#    difference shrink: fit the slope of log(error) against log(ε) over
#    ε = 1e-1 … 1e-4 for a function whose derivative you know. You should find about 1
#    and about 2.
# 3. **A property test that can fail.** Write `formula_matches_autodiff(formula)` that
#    returns a Hypothesis test, like `test_output_layer_formula` above, for any formula
#    `formula(t, o, o_j)`. It must pass for the book's formula and fail for the formula
#    without the slope o(1 − o).
