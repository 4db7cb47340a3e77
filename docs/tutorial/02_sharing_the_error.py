# %% [markdown]
# # 2. The error, and how it is shared out
#
# An output node knows its error: e = t − o, the target minus what it produced. A hidden
# node has no target, so it has no error of its own. Both source texts answer the
# question "how much of the output's error is a hidden node's fault?" in two steps:
#
# 1. split each output error among the links that feed it, **in proportion to their
#    weights**;
# 2. drop the denominators of those proportions, which leaves a matrix product with the
#    **transposed** weight matrix: the hidden errors are Wₕₒᵀ · e.
#
# The texts are the book and python-course.eu (chapter 1 says which texts these are). In
# this chapter you will compute both rules on python-course.eu's own example, and then ask
# autodiff which of them, if either, is the gradient. Along the way you meet errata E1 and
# E2 (all errata: chapter 9).

# %%
import numpy as np

from tinygrad_edu import Tensor, grad, viz

# %% [markdown]
# ## python-course.eu's example: 0.08 → 0.037
#
# python-course.eu looks at output node 1 of a small **linear** network (no sigmoid: an output is
# just the weighted sum of its inputs). It produced o₁ = 0.92 where the target was
# t₁ = 1, so e₁ = 0.08. Four hidden nodes feed it, with weights w₁₁ = 0.6, w₂₁ = 0.4,
# w₃₁ = 0.1, w₄₁ = 0.2 (wⱼₖ runs from hidden node j to output node k). The proportional
# share of the link w₁₁ is e₁ · w₁₁ / Σᵢ wᵢ₁:

# %%
into_output_1 = np.array([0.6, 0.4, 0.1, 0.2])  # w₁₁, w₂₁, w₃₁, w₄₁
e1 = 1 - 0.92
shares = e1 * into_output_1 / into_output_1.sum()
print(f"e₁ = {e1:.2f}, Σᵢ wᵢ₁ = {into_output_1.sum():.1f}")
print("shares:", shares.round(4), " sum:", round(shares.sum(), 4))

# %% [markdown]
# The first share is 0.0369, python-course.eu's 0.037, and the shares add up to the whole error
# 0.08: nothing is lost or invented. That is the appeal of the proportional split.
#
# ## Two outputs
#
# A hidden node feeds *every* output, so it collects a share from each. python-course.eu's
# network has a second output; the text gives no numbers for it, so we choose some:
# weights 0.5, 0.2, 0.6, 0.3 into output 2. We also choose hidden outputs
# h = (1.0, 0.5, 0.4, 0.4), which give exactly o₁ = 0.92, and a target of 0.9 for output 2.
# In the book's layout, row k of Wₕₒ holds the weights into output k.

# %%
W_ho = np.array([[0.6, 0.4, 0.1, 0.2], [0.5, 0.2, 0.6, 0.3]])  # outputs × hidden
h = np.array([[1.0], [0.5], [0.4], [0.4]])  # the hidden nodes' outputs, a column
t = np.array([[1.0], [0.9]])  # the targets
o = W_ho @ h  # a linear output layer
e = t - o
print("o =", o.ravel().round(4), " e = t − o =", e.ravel().round(4))
print("Σᵢ wᵢₖ, output by output:", W_ho.sum(axis=1))

# %% [markdown]
# Hidden node j receives Σₖ eₖ · wⱼₖ / Σᵢ wᵢₖ: each output's error is divided by *that
# output's* sum of weights (1.3 for output 1, 1.6 for output 2). Dropping the
# denominators gives the transpose rule Wₕₒᵀ · e.

# %%
proportional = (W_ho / W_ho.sum(axis=1, keepdims=True)).T @ e
transpose_rule = W_ho.T @ e
print("proportional split:", proportional.ravel().round(5))
print("transpose rule:    ", transpose_rule.ravel().round(5))
print("ratio, node by node:", (transpose_rule / proportional).ravel().round(3))

# %% [markdown]
# The book says that without the fraction "we'd only lose the scaling"; python-course.eu calls
# the denominator "a scaling factor" that can be dropped. The ratios say otherwise: if
# dropping the denominators only rescaled the errors, every hidden node's ratio would be
# the same number. Here they are all different, and hidden node 4 even gets errors of
# **opposite sign** from the two rules. With one output there is one denominator and
# it really is a rescaling; with several outputs there is one denominator per output, and
# the direction changes. This is erratum **E1**.
#
# ## Which one is the gradient?
#
# "How much is a hidden node to blame" has a precise answer: how fast the error
# E = ½Σ(t − o)² falls when that node's output moves, −∂E/∂h. Autodiff computes it
# without knowing either rule:

# %%
hidden = Tensor(h, requires_grad=True, name="h")
outputs = Tensor(W_ho, name="W_ho") @ hidden
outputs.name = "o"
loss = 0.5 * outputs.squared_error(Tensor(t, name="t"))
loss.name = "E"
(grad_h,) = grad(loss, hidden, retain_graph=True)
print("−∂E/∂h by autodiff:", (-grad_h.data).ravel().round(5))
print("equals the transpose rule:   ", np.allclose(-grad_h.data, transpose_rule))
print("equals the proportional split:", np.allclose(-grad_h.data, proportional))

# %% [markdown]
# For a linear output layer the transpose rule **is** the gradient, exactly, with no
# denominators anywhere. It is not a simplified split; it is the right answer in its
# own right, and the split is not. The drawing of the backward pass shows where the
# transpose comes from: the matrix product's backward multiplies the arriving gradient
# by `Aᵀ·`, the transposed weights. The gradient that h receives is ∂E/∂h, the transpose
# rule with its sign flipped.

# %%
loss.backward()
viz.draw(loss, backward=True, show_data=True, rankdir="TB")

# %% [markdown]
# ## E2: python-course.eu's matrix as printed
#
# python-course.eu writes the split for both outputs as one matrix times (e₁, e₂). As printed,
# every entry is divided by Σᵢ wᵢ₁, output 1's sum, including the entries of the second
# column, which belong to output 2; and its last row reads w₄₁, **w₂₂** where w₄₂ belongs.
# The text then says the denominator "is always the same". Evaluated as printed:

# %%
as_printed = (
    np.array(
        [
            [W_ho[0, 0], W_ho[1, 0]],
            [W_ho[0, 1], W_ho[1, 1]],
            [W_ho[0, 2], W_ho[1, 2]],
            [W_ho[0, 3], W_ho[1, 1]],  # w₂₂ where w₄₂ belongs
        ]
    )
    / W_ho[0].sum()
)
print("as printed:                    ", (as_printed @ e).ravel().round(5))
print("proportional split:            ", proportional.ravel().round(5))
print("transpose rule, divided by 1.3:", (transpose_rule / 1.3).ravel().round(5))

# %% [markdown]
# With one denominator for everything, the printed matrix is just the transpose rule
# divided by 1.3, not the split it set out to write, except for hidden node 4, where the
# misprinted w₂₂ = 0.2 stands in for w₄₂ = 0.3.
#
# ## Weights drawn at random
#
# The book draws its weights from a normal distribution, N(0, σ = n^−½), so about half
# of them are negative. Then a denominator Σᵢ wᵢₖ can be close to zero or negative, and
# the shares blow up or flip sign. The book's 3-3-3 network with seed 0 (the weights
# that `tinygrad-edu demo` and `proofs.book_network_loss()` use), with its output layer made
# linear so that the transpose rule is the gradient:

# %%
rng = np.random.default_rng(0)
w_ih = rng.normal(0, 3**-0.5, (3, 3))
w_ho = rng.normal(0, 3**-0.5, (3, 3))
x = np.array([[0.9], [0.1], [0.8]])
targets = np.array([[0.01], [0.99], [0.01]])
hidden_outputs = 1 / (1 + np.exp(-w_ih @ x))
linear_errors = targets - w_ho @ hidden_outputs  # a linear output layer
print("Σᵢ wᵢₖ per output:", w_ho.sum(axis=1).round(4))
split = (w_ho / w_ho.sum(axis=1, keepdims=True)).T @ linear_errors
print("proportional split:", split.ravel().round(5))
print("transpose rule:    ", (w_ho.T @ linear_errors).ravel().round(5))

# %% [markdown]
# Every output's sum Σᵢ wᵢₖ is negative, so every share has its sign flipped: the split sends
# +2.07 to hidden node 1 where the gradient says −3.74. (These are the numbers that
# `tinygrad-edu check` shows in its E1 row: they belong to this linear output layer.)
#
# ## And with a sigmoid output layer?
#
# The book's network has sigmoids on its outputs. Then the chain rule passes through
# each output's slope o(1 − o) on the way back, and −∂E/∂h = Wₕₒᵀ · (e ∗ o(1 − o)),
# with ∗ element by element. The plain transpose rule on the raw error is no longer the
# gradient:

# %%
hidden = Tensor(hidden_outputs, requires_grad=True)
sigmoid_outputs = (Tensor(w_ho) @ hidden).sigmoid()
(grad_h,) = grad(0.5 * sigmoid_outputs.squared_error(targets), hidden)
o = sigmoid_outputs.data
e = targets - o
print("−∂E/∂h by autodiff:  ", (-grad_h.data).ravel().round(6))
print("Wₕₒᵀ · (e ∗ o(1−o)):", (w_ho.T @ (e * o * (1 - o))).ravel().round(6))
print("Wₕₒᵀ · e:           ", (w_ho.T @ e).ravel().round(6))

# %% [markdown]
# The book's code sends back Wₕₒᵀ · e anyway. What that does to training is the
# subject of chapter 6 (erratum E8).
#
# ## Exercises
#
# Solutions: [on the solutions page](../solutions/#chapter-2-the-error-and-how-it-is-shared-out)
# (the file `docs/tutorial/solutions/ch02_sharing_the_error.py`).
#
# 1. **The split as a function.** Write `proportional_split(W_ho, e)` for any number of
#    hidden and output nodes (rows of Wₕₒ are outputs). Check it on python-course.eu's
#    example (0.037) and on the book's 2 × 2 matrix with entries w₁₁/(w₁₁ + w₂₁), ….
# 2. **Opposite signs.** Find a Wₕₒ with only **positive** weights and an error vector e
#    for which some hidden node gets a positive share from the split and a negative one
#    from the transpose rule. (Hint: two outputs with errors of opposite sign, and
#    different sums Σᵢ wᵢₖ.)
# 3. **The sigmoid layer by autodiff.** Write `hidden_error(W_ho, h, t)` that returns
#    −∂E/∂h for a sigmoid output layer, E = ½Σ(t − o)², using `grad`, and compare it with
#    Wₕₒᵀ · e on a few random layers. How large can the ratio get?
