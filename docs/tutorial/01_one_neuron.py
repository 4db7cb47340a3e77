# %% [markdown]
# # 1. One neuron
#
# A neuron of the book's network does two things: it adds up its inputs, each multiplied by
# the weight of its link, and it squashes that sum with the sigmoid σ(x) = 1 / (1 + e⁻ˣ).
#
# The course follows two texts. "The book" is Tariq Rashid, *Make Your Own Neural
# Network*, whose pages 80–100 are quoted from a reader's study notes on them;
# "python-course.eu" is the chapter "Backpropagation in Neural Networks" of the neural
# network tutorial at python-course.eu. Every formula of the course comes from one of the
# two, and each is checked against the engine and against finite differences (Start here,
# "The two sources", says exactly what was checked).
#
# In this chapter you will see:
#
# - a neuron computed with `Tensor`s, which record every operation as they go;
# - the slope of the sigmoid, σ′(x) = σ(x)(1 − σ(x)), *found* by `backward()`, with no
#   formula typed in, and compared with that closed form;
# - the graph the neuron recorded, forward and backward.
#
# Run it as a notebook, or as a script: `python docs/tutorial/01_one_neuron.py`.

# %%
import matplotlib.pyplot as plt
import numpy as np

from tinygrad_edu import Tensor, viz

# %% [markdown]
# ## The neuron
#
# Three inputs (the numbers the book uses for its small network), three weights, one
# output. The book keeps signals in columns and weights in rows, so the weighted sum
# is a matrix product `w @ x`. `requires_grad=True` marks the weights as something we
# want gradients for; the inputs are data.

# %%
x = Tensor([[0.9], [0.1], [0.8]], name="x")  # a column: the inputs
w = Tensor([[0.5, -0.3, 0.8]], requires_grad=True, name="w")  # a row: the links' weights
z = w @ x  # the weighted sum 0.5·0.9 − 0.3·0.1 + 0.8·0.8
z.name = "z"
o = z.sigmoid()  # the neuron's output
o.name = "o"
print(f"z = {z.item():.4f}, o = σ(z) = {o.item():.4f}")

# %% [markdown]
# Nothing has been differentiated yet, but the graph is already there. Each box is a
# tensor, each ellipse an operation; arrows point the way the data flowed.

# %%
viz.draw(o, show_data=True)

# %% [markdown]
# ## The slope of σ, found by backward()
#
# Both texts use the same fact about the sigmoid: its slope is σ(x)(1 − σ(x)), a number
# computed from the output alone. Instead of trusting it, let the engine differentiate.
# We take the value from the book's worked example, x = 2.3 (the book's "sum inside the
# sigmoid"):

# %%
s = Tensor(2.3, requires_grad=True, name="s")
y = s.sigmoid()
y.backward()  # dy/ds, stored in s.grad
closed_form = y.item() * (1 - y.item())
print(f"σ(2.3)             = {y.item():.6f}")
print(f"autodiff  dσ/dx    = {s.grad:.6f}")
print(f"σ(2.3)(1 − σ(2.3)) = {closed_form:.6f}")

# %% [markdown]
# The two agree: 0.0828, the book's "middle expression" (it rounds σ(2.3) to 0.909 and
# the slope to 0.083). The agreement is exact because the engine's `Sigmoid` operation
# computes its backward from its saved output, y(1 − y): the closed form is built in. The
# independent check is to *measure* the slope, nudging x by a tiny h either way and
# dividing the change of σ by 2h (chapter 7 does this properly).
#
# One number proves little. To get the slope at many points at once, put them in one
# tensor and differentiate the **sum** of their sigmoids: element i of the sum depends
# only on element i of the input, so the gradient of the sum is the slope at every point.

# %%
points = Tensor(np.linspace(-6, 6, 121), requires_grad=True)
points.sigmoid().sum().backward()
sig = 1 / (1 + np.exp(-points.data))
h = 1e-6  # a small nudge: the slope measured, with no formula at all
measured = (1 / (1 + np.exp(-(points.data + h))) - 1 / (1 + np.exp(-(points.data - h)))) / (2 * h)
closed_gap = np.abs(points.grad - sig * (1 - sig)).max()
measured_gap = np.abs(points.grad - measured).max()
print(f"over 121 points, largest |autodiff − σ(1 − σ)|:     {closed_gap:.1e}")
print(f"over 121 points, largest |autodiff − measured slope|: {measured_gap:.1e}")
print(f"largest slope: {points.grad.max():.4f} at x = {points.data[points.grad.argmax()]:.1f}")

# %%
figure, axes = plt.subplots(figsize=(6, 3))
axes.plot(points.data, sig, label="σ(x)")
axes.plot(points.data, points.grad, label="slope by autodiff")
axes.plot(points.data[::6], (sig * (1 - sig))[::6], "o", ms=4, label="σ(x)(1 − σ(x))")
axes.set(xlabel="x", title="the sigmoid and its slope")
axes.legend()
plt.show()

# %% [markdown]
# Keep the largest slope in mind: **0.25**, at x = 0, and almost nothing once |x| is
# large. Every error that travels back through a sigmoid is multiplied by a number of at
# most ¼. Chapter 6 shows what happens when the book's code leaves that factor out.
#
# ## The neuron's gradient
#
# Back to the neuron. Its output depends on the weights through two steps, the sum and
# the sigmoid, so by the chain rule
# ∂o/∂wᵢ = σ′(z) · xᵢ = o(1 − o) · xᵢ: the slope times the input that the weight
# multiplies.

# %%
o.backward()
by_hand = o.item() * (1 - o.item()) * x.data.T
print("autodiff:", w.grad.round(6))
print("by hand: ", by_hand.round(6))

# %% [markdown]
# Drawn backward, the graph shows that chain: the gradient flows from the output through
# `SigmoidBackward` and then `MatMulBackward` to the weights, which show the gradient they
# received. Each arrow is labelled with what the gradient is multiplied by on that step,
# and the dot stands where the arriving gradient goes:
#
# - `·σ(1−σ)`: times the sigmoid's slope;
# - `·Bᵀ` and `Aᵀ·`: a matrix product Y = A · B sends the gradient G that arrives at Y to A
#   as G · Bᵀ (Bᵀ on the right) and to B as Aᵀ · G (Aᵀ on the left). Here A is the weights
#   w and B the inputs x, so w receives G · xᵀ: the inputs, transposed into a row;
# - `a·` (in later chapters): a product a · b with a number a sends b the gradient times a.

# %%
viz.draw(o, show_data=True, backward=True, rankdir="TB")

# %% [markdown]
# ## Exercises
#
# Solutions: [on the solutions page](../solutions/#chapter-1-one-neuron)
# (the file `docs/tutorial/solutions/ch01_one_neuron.py`).
#
# 1. **tanh.** Some networks use tanh instead of σ. Find its slope at many points with
#    `backward()`, as above, and compare it with 1 − tanh²(x).
# 2. **The second derivative.** `tinygrad_edu.grad(y, x, create_graph=True)` returns the
#    gradient as a Tensor with a graph of its own, which can be differentiated again. Use
#    it to find σ″(x) and check it against σ(1 − σ)(1 − 2σ). Where is σ″ zero, and why
#    does that fit the plot above?
# 3. **A neuron's weights.** For a neuron o = σ(w · x) with inputs and weights of your
#    choice, get ∂o/∂w by autodiff and check it by nudging each weight a little (finite
#    differences, plain numpy).
