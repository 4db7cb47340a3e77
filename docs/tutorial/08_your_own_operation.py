# %% [markdown]
# # 8. Writing your own operation
#
# Every operation in tinygrad_edu (`+`, `@`, `sigmoid`, `squared_error`, …) is a
# `Function`: a class with a `forward` that computes the result from numpy arrays and a
# `backward` that applies the chain rule, side by side. You can write your own the same
# way, and the engine treats it like a built-in one.
#
# In this chapter you will:
#
# - write the book's sigmoid as your own `Function`, with `ctx.save_for_backward`;
# - check it with `gradcheck` (chapter 7);
# - learn what a backward needs so that it can be differentiated **again**
#   (`create_graph=True`, second derivatives, `gradgradcheck`), and see the two ways it
#   goes wrong.

# %%
import numpy as np

from tinygrad_edu import Function, Tensor, grad, viz
from tinygrad_edu.gradcheck import gradcheck, gradgradcheck

# %% [markdown]
# ## A Function, forward and backward side by side
#
# `forward(ctx, x)` gets plain numpy arrays, one per input, and returns an array. Whatever
# the backward will need it keeps with `ctx.save_for_backward(...)`. `backward(ctx, g)`
# gets g = ∂L/∂y, the gradient of whatever is being differentiated (L) with respect to this
# operation's output y, and returns ∂L/∂x = g · ∂y/∂x: one step of the chain rule.
#
# For the sigmoid, the slope σ(1 − σ) is computed from the output alone (chapter 1), so
# forward saves its output:


# %%
class BookSigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ).  ∂L/∂x = g · y(1 − y)."""

    @staticmethod
    def forward(ctx, x):
        y = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(y)  # the output: all the backward needs
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y * (1 - y)


# %% [markdown]
# `BookSigmoid.apply(tensor)` runs the forward and records one node of the graph. That
# node is the output's `grad_fn`, and it is also the `ctx` that forward and backward
# receive.

# %%
z = Tensor([[-1.0], [0.5], [2.3]], requires_grad=True, name="z")
y = BookSigmoid.apply(z)
y.name = "y"
print(
    "y =", y.data.ravel().round(6), " same as z.sigmoid():", np.allclose(y.data, z.sigmoid().data)
)
print("y.grad_fn:", y.grad_fn)
y.sum().backward()
print("∂Σy/∂z =", z.grad.ravel().round(6))

# %% [markdown]
# In a drawing your operation looks like any other. The output y has the orange border
# of a saved tensor, because forward saved it. (Your operation has no entry in the
# library's registry of built-in operations, so its edges carry no chain-rule label.)

# %%
viz.draw(y, show_data=True)

# %% [markdown]
# ## Check it
#
# A hand-written backward is exactly where slips happen, so check it against finite
# differences before you use it:

# %%
print(gradcheck(lambda t: BookSigmoid.apply(t), z))

# %% [markdown]
# ## Differentiating a backward: create_graph=True
#
# `grad(y, x, create_graph=True)` does not just compute the gradient; it **records** the
# backward pass as a graph of its own, so that the gradient can be differentiated again.
# That gives second derivatives (the sigmoid's curvature σ″, Newton's method in chapter 9,
# Hessian-vector products). For that, the engine runs your `backward` a second way: on
# **Tensors** instead of arrays. What you saved comes back from `ctx.saved` as the graph's
# own Tensors (the input or output you saved), and every operation in your backward is
# recorded.
#
# That is why `BookSigmoid.backward` is written with `*` and `-` only: operations that
# numpy arrays and Tensors both have. The same line runs in both worlds.

# %%
(slope,) = grad(BookSigmoid.apply(z).sum(), z, create_graph=True)
(curvature,) = grad(slope.sum(), z)
s = 1 / (1 + np.exp(-z.data))
print("σ″ by autodiff:       ", curvature.data.ravel().round(6))
print("σ(1 − σ)(1 − 2σ):     ", (s * (1 - s) * (1 - 2 * s)).ravel().round(6))
print("gradgradcheck:", gradgradcheck(lambda t: BookSigmoid.apply(t), z))

# %% [markdown]
# ## Two ways to get it wrong
#
# **1. A numpy function in backward.** The derivative of σ can also be written
# e⁻ˣ / (1 + e⁻ˣ)². Save the input and compute that with `np.exp`, and the first
# derivative is fine, but under `create_graph=True` the saved x is a Tensor, and numpy's
# functions do not accept Tensors:


# %%
class SigmoidWithNumpyBackward(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 1 / (1 + np.exp(-x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * np.exp(-x) / (1 + np.exp(-x)) ** 2  # np.exp works on arrays only


print("gradcheck:", gradcheck(lambda t: SigmoidWithNumpyBackward.apply(t), z))
try:
    gradgradcheck(lambda t: SigmoidWithNumpyBackward.apply(t), z)
except Exception as error:  # what the engine says when backward runs on Tensors
    print(f"gradgradcheck: {type(error).__name__}: {error}")

# %% [markdown]
# Tensors refuse numpy's functions on purpose: a computation the graph cannot see would
# give a wrong second derivative without a word. The fix is the one `BookSigmoid` uses:
# save the output and write the slope as y(1 − y).
#
# **2. Saving something derived.** Only a saved *input* or *output* comes back as the
# graph's own Tensor. Anything else forward saves (here the slope, computed in forward)
# would come back as a constant, with no graph behind it: the first derivative is right,
# but a second derivative taken through it would silently be 0. So the engine refuses to
# record such a backward, and says what to do instead (a mask or an index, which *is* a
# constant, is saved with `ctx.save_constants(...)`):


# %%
class SigmoidSavingItsSlope(Function):
    @staticmethod
    def forward(ctx, x):
        y = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(y * (1 - y))  # a new array: a constant to the recorded backward
        return y

    @staticmethod
    def backward(ctx, g):
        (slope,) = ctx.saved
        return g * slope


print("gradcheck:", gradcheck(lambda t: SigmoidSavingItsSlope.apply(t), z))
try:
    gradgradcheck(lambda t: SigmoidSavingItsSlope.apply(t), z)
except RuntimeError as error:  # raised by the engine when the backward is recorded
    print(f"gradgradcheck: {type(error).__name__}: {error}")

# %% [markdown]
# ## What a backward needs
#
# - Save the **inputs** and/or the **output** that backward needs, not values derived
#   from them; compute those in backward.
# - Write backward with the operations that numpy arrays and Tensors share: `+ - * / **`,
#   `@`, `.T`, `.sum(axis=..., keepdims=...)`, `.reshape(...)`, and numbers. No `np.exp`,
#   `np.log`, `np.where` on saved values.
# - Where a derivative needs exp or log, express it through the saved output if you can,
#   as the built-in operations do: exp′ = y, σ′ = y(1 − y), tanh′ = 1 − y².
# - Return one gradient per input, of that input's shape (or None for an input that
#   needs none; `ctx.needs_input_grad` says which do).
# - Check with `gradcheck`, then with `gradgradcheck` if anyone will differentiate twice.
#
# ## Exercises
#
# Solutions: [on the solutions page](../solutions/#chapter-8-writing-your-own-operation)
# (the file `docs/tutorial/solutions/ch08_your_own_operation.py`).
#
# 1. **Reciprocal.** Write `Reciprocal`, y = 1/x, whose backward uses only the saved
#    output (∂y/∂x = −y²). Check it with `gradcheck` and `gradgradcheck`.
# 2. **Two inputs.** Write `Hypot`, y = √(a² + b²), element by element, with
#    ∂y/∂a = a / y and ∂y/∂b = b / y. Make it pass `gradgradcheck`.
# 3. **A whole layer.** Write `SigmoidLayer`, y = σ(W · x) in the book's column layout,
#    as **one** Function with two inputs. Its backward is the chain rule: with
#    d = g ∗ y(1 − y), ∂L/∂W = d · xᵀ (the book's matrix update, up to the factor −α) and
#    ∂L/∂x = Wᵀ · d, the error the layer sends back. That second one is not the book's
#    rule: the book sends back Wᵀ · g, without the slope y(1 − y) (erratum E8, chapter 6).
#    Check it, twice.
