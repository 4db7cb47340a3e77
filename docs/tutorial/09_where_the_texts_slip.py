# %% [markdown]
# # 9. Where the texts slip
#
# The two texts of this course teach backpropagation well, and they also slip: a factor
# dropped, a sign lost, a rule used outside the case it was derived for. The project
# lists every slip with an ID, E1 to E10, on its errata page (`docs/errata.md`); the tests
# and `tinygrad-edu check` use the same IDs.
#
# This chapter goes through the slips passage by passage, in the order the passages come
# in the texts: the error shared back to the hidden layer (E1, E2), the gradient of one
# weight, derived by each text in its own notation, and the book's worked example (E3, E4,
# E5, E6, E9), the update step (E7), the notation (E10), and last the book's training code
# (E8). The chapters before have shown E1, E2, E3 and E8 already, and they are only summed
# up here; E4 to E7, E9 and E10 are new, and so is python-course.eu's derivation, which
# the chapters before followed in the book's notation. Each slip comes with a computation
# you can change and rerun.
#
# The texts are the book (Tariq Rashid, *Make Your Own Neural Network*, its pages 80–100
# as a reader's study notes quote them: some slips may be the note-taker's, not the
# book's) and python-course.eu (the chapter "Backpropagation in Neural Networks").

# %%
import numpy as np

from tinygrad_edu import Tensor, grad, proofs, textbook

# %% [markdown]
# ## Everything at once: tinygrad-edu check
#
# `proofs.comparisons()` is the data behind `tinygrad-edu check`: every formula of the
# texts, evaluated in plain numpy on the book's 3-3-3 network (seed 0) and on the worked
# example, beside what autodiff computes for the quantity the formula claims to be. Each
# says whether it should agree and, if not, which erratum explains it.

# %%
checks = proofs.comparisons()
for c in checks:
    verdict = "agrees" if c.agrees else f"differs ({c.erratum})"
    print(f"{verdict:18} max |diff| {c.difference:7.1e}   {c.formula}")

# %% [markdown]
# The rows that agree do so to rounding error; the rows that differ are off by many orders
# of magnitude more. Now the slips one by one. The first row, the sigmoid's slope
# σ′ = σ(1 − σ) that chapter 1 found by autodiff, is right in both texts.
#
# ## Sharing the error (E1, E2)
#
# **E1.** Both texts split each output error among the links in proportion to their
# weights and then drop the denominators, calling that a mere change of scale. With more
# than one output the denominators differ, so dropping them changes the *direction*, and
# only the transpose rule Wₕₒᵀ · e is the gradient (for a linear output layer). The
# smallest example: two outputs, fed with weights (1, 3) and (1, 1), both errors 1.

# %%
W_ho = np.array([[1.0, 3.0], [1.0, 1.0]])  # row k: the weights into output k
e = np.array([[1.0], [1.0]])
split = textbook.proportional_hidden_errors(W_ho, e)
transpose = textbook.hidden_errors(W_ho, e)
print("split:", split.ravel(), " transpose rule:", transpose.ravel())
split_ratio = (split[1] / split[0]).item()
transpose_ratio = (transpose[1] / transpose[0]).item()
print(f"hidden 2 : hidden 1 = {split_ratio:.3f} (split), {transpose_ratio:.3f} (transpose rule)")

# %% [markdown]
# No single factor turns one into the other. On the book's network with random weights
# it is worse: the E1 row above compares the split with the gradient of a **linear**
# output layer (the case where the transpose rule is exact), and chapter 2 showed that
# there even the signs are reversed, because every output's sum of weights is negative.
#
# **E2.** python-course.eu prints its split matrix with output 1's denominator Σᵢwᵢ₁ under
# every entry, also those of output 2, and with w₂₂ in the last row where w₄₂ belongs; it
# then says the denominator "is always the same". Chapter 2 evaluates the matrix as
# printed: it is the transpose rule divided by Σᵢwᵢ₁, apart from the misprinted entry. (The
# book's version of the matrix has its entries right but stray empty cells.)
#
# ## The gradient of one weight, and the worked example (E3, E4, E5, E6, E9)
#
# **The book's derivation (E3, E4).** The book defines E = Σ(t − o)², differentiates it
# correctly to ∂E/∂wⱼₖ = −2(tₖ − oₖ) · ∂oₖ/∂wⱼₖ, puts in the sigmoid's slope, and arrives
# at ∂E/∂wⱼₖ = −(tₖ − oₖ) · oₖ(1 − oₖ) · oⱼ. That is right, but for ½Σ(t − o)²: the 2
# is lost on the way, without a word (E3). Chapter 4 showed the factor 2 on the whole
# network; on the worked example, autodiff on both losses:

# %%
for half in (True, False):
    loss, weights = proofs.worked_example_network(half=half)
    (gradient,) = grad(loss, weights)
    name = "½Σ(t − o)²" if half else "Σ(t − o)² "
    print(f"E = {name}:  ∂E/∂w₁₁ = {gradient.data[0, 0]:+.6f}")

# %% [markdown]
# The book then writes its result twice in a row, and the second copy ends in "+ oⱼ"
# instead of "· oⱼ" (E4). The chain rule multiplies; the sum gives a different number,
# with the wrong sign. On the worked example (below), with its slope oₖ(1 − oₖ):

# %%
example = textbook.worked_example()
times, plus = -0.8 * example.slope * 0.4, -0.8 * example.slope + 0.4
print(f"· oⱼ: {times:+.6f}    + oⱼ: {plus:+.6f}    ({abs(plus / times):.1f} times the size)")

# %% [markdown]
# **python-course.eu's derivation (E5, E6).** python-course.eu derives the same gradient
# in its own letters. It also writes the node a weight comes from first, but its wᵢⱼ runs
# from hidden node i to output node j: its hᵢ is a hidden output, and its oⱼ an *output*
# (the oₖ of this course). Its steps are the chain rule, as in the book: the error
# E = Σ ½(tⱼ − oⱼ)², with the ½ from the start, so no 2 to lose; ∂E/∂wᵢⱼ = ∂E/∂oⱼ ·
# ∂oⱼ/∂wᵢⱼ; oⱼ = σ(Σᵢ wᵢⱼ hᵢ), so ∂oⱼ/∂wᵢⱼ = σ(1 − σ) · hᵢ. Done right, this gives
# ∂E/∂wᵢⱼ = −(tⱼ − oⱼ) · oⱼ(1 − oⱼ) · hᵢ, the book's formula with its letters renamed.
# The text ends instead with ∂E/∂wᵢⱼ = (tⱼ − oⱼ) · σ(1 − σ) · oⱼ. Two slips: the sign
# (∂E/∂oⱼ = −(tⱼ − oⱼ), E5), and the last factor, which should be the input of the
# weight, hᵢ, not the output oⱼ (E6). As printed, the formula does not even depend on i,
# so every weight into an output would get the same gradient. On the book's network:

# %%
printed = next(c for c in checks if "E5" in c.erratum)
print("as printed, row 1:", printed.closed_form[0].round(6))
print("autodiff,   row 1:", printed.autodiff[0].round(6))

# %% [markdown]
# **The worked example (E9).** The book updates w₁₁ = 2.0 by hand: hidden outputs
# oⱼ = 0.4 and 0.5, w₂₁ = 3.0, the error e₁ = 0.8, α = 0.1 (chapter 3).
# `textbook.worked_example()` repeats its arithmetic without rounding:

# %%
print(
    f"Σ = {example.weighted_sum:.4f}, oₖ = σ(Σ) = {example.output:.6f}, slope = {example.slope:.6f}"
)
print(f"∂E/∂w₁₁ = −e₁ · slope · oⱼ = {example.gradient:.6f},  new w₁₁ = {example.new_weight:.6f}")

# %% [markdown]
# The text's results, −0.0265 and 2.00265, are these values: its product is right. What
# slips is the slope it prints beside them, 0.083, which is rounded; multiplied as
# printed, the factors give a slightly different product:

# %%
rounded = -0.8 * 0.083 * 0.4
print(f"−0.8 × 0.083 × 0.4 = {rounded:.5f}  →  new w₁₁ = {2.0 - 0.1 * rounded:.6f}")

# %% [markdown]
# So a learner checking by hand can reproduce the text's product only by carrying the
# slope as 0.0828, which the text never shows.
#
# The worse slip is the error itself. The worked example takes e₁ = 0.8 from an earlier
# example, but computes oₖ = σ(2.3) ≈ 0.909 for the same node. Then the target would be
# t₁ = oₖ + e₁, outside anything a sigmoid can reach. The example itself has no target;
# with 0.99, the target the book's code gives the right class (in MNIST), the gradient is
# about ten times smaller:

# %%
print(f"t₁ = oₖ + e₁ = {example.output + 0.8:.4f}")
consistent = textbook.worked_example(error=0.99 - example.output)
print(f"with t₁ = 0.99: e₁ = {0.99 - example.output:.4f}, ∂E/∂w₁₁ = {consistent.gradient:.6f}")
print(f"{example.gradient / consistent.gradient:.1f} times smaller than with e₁ = 0.8")

# %% [markdown]
# ## The update step (E7)
#
# **E7, "Newton Method".** The book calls the update w − α · ∂E/∂w "basically" Newton's
# method. It is gradient descent. Newton's method divides by the *second* derivative and
# has no learning rate. Autodiff gives the second derivative with `create_graph=True`
# (chapter 8), so both steps are two lines:

# %%
loss, weights = proofs.worked_example_network(half=True)
(first,) = grad(loss, weights, create_graph=True)
(second,) = grad(first[0, 0], weights)
slope_w11, curvature_w11 = first.data[0, 0], second.data[0, 0]
print(f"E′ = {slope_w11:.6f}, E″ = {curvature_w11:.6f}")
print(f"gradient descent: 2.0 − 0.1 · E′ = {2.0 - 0.1 * slope_w11:.5f}")
print(f"Newton:           2.0 − E′ / E″  = {2.0 - slope_w11 / curvature_w11:.4f}")

# %% [markdown]
# ## Notation (E10)
#
# **E10.** No number changes, but the formulas are harder to read than they need to be: a
# summation index that is also a free index (Σⱼ wⱼₖ oⱼ inside a formula for the fixed
# wⱼₖ), one letter for two things (python-course.eu's eᵢ is first tᵢ − oᵢ and then
# ½(tᵢ − oᵢ)²), and element subscripts mixed with a transpose
# (ΔWⱼₖ = α · Eₖ · Oₖ(1 − Oₖ) · Oⱼᵀ). This course writes e = t − o for the error
# vector, E for the loss, oⱼ for a hidden node's output and oₖ for an output node's.
#
# ## The book's code: the hidden layer (E8)
#
# **E8.** The book's code sends the hidden layer Wₕₒᵀ · e, the transpose rule on the raw
# output error, although its outputs are sigmoids; the gradient of its E is
# Wₕₒᵀ · (e ∗ o(1 − o)). Its hidden-layer step is therefore not gradient descent on its
# own E; it is, exactly, gradient descent on the binary cross-entropy
# L = −Σ[t ln o + (1 − t) ln(1 − o)] (chapter 6). On the book's 3-3-3 network:

# %%
rng = np.random.default_rng(0)  # the weights of proofs.book_network_loss()
w_ih, w_ho = rng.normal(0, 3**-0.5, (3, 3)), rng.normal(0, 3**-0.5, (3, 3))
x, t = np.array([[0.9], [0.1], [0.8]]), np.array([[0.01], [0.99], [0.01]])
book_ih, _ = textbook.book_weight_updates(w_ih, w_ho, x, t, 0.3)
W_ih = Tensor(w_ih, requires_grad=True)
o = (Tensor(w_ho) @ (W_ih @ Tensor(x)).sigmoid()).sigmoid()
(grad_e,) = grad(0.5 * o.squared_error(t), W_ih, retain_graph=True)  # E = ½Σ(t − o)²
(grad_l,) = grad(-(t * o.log() + (1 - t) * (1 - o).log()).sum(), W_ih)  # L
print(f"book's ΔWᵢₕ against −α·∂E/∂Wᵢₕ: max |diff| {np.abs(book_ih + 0.3 * grad_e.data).max():.1e}")
print(f"book's ΔWᵢₕ against −α·∂L/∂Wᵢₕ: max |diff| {np.abs(book_ih + 0.3 * grad_l.data).max():.1e}")

# %% [markdown]
# Leaving out a factor o(1 − o) ≤ ¼ typically makes the book's step larger (chapter 4
# showed it on this network). But it can also point the other way. One input, one hidden
# node (h = σ(0) = 0.5), two outputs whose weights have opposite signs, both targets 0.01:

# %%
w_ih, w_ho = np.array([[0.0]]), np.array([[-5.0], [0.5]])
x, t = np.array([[1.0]]), np.array([[0.01], [0.01]])
h, o = textbook.forward(w_ih, w_ho, x)
e = t - o
print("o =", o.ravel().round(4), " e =", e.ravel().round(4), " (both errors negative)")
print("contributions wₖ·eₖ:         ", (w_ho * e).ravel().round(4))
print("contributions wₖ·eₖ·oₖ(1−oₖ):", (w_ho * e * o * (1 - o)).ravel().round(4))
book_ih, _ = textbook.book_weight_updates(w_ih, w_ho, x, t, 0.3)
exact_ih, _ = textbook.exact_weight_updates(w_ih, w_ho, x, t, 0.3)
print(f"ΔWᵢₕ: book {book_ih.item():+.5f}, gradient {exact_ih.item():+.5f}")

# %% [markdown]
# Both errors have the same sign; it is the weights that differ in sign, so the two
# outputs pull the hidden node in opposite directions. Output 1 is saturated (o(1 − o) is
# small), output 2 is not. The slope weights the two pulls very differently, and the
# gradient follows output 2; without it, output 1 wins and the book's step goes the
# other way.
#
# ## Exercises
#
# Solutions: [on the solutions page](../solutions/#chapter-9-where-the-texts-slip)
# (the file `docs/tutorial/solutions/ch09_where_the_texts_slip.py`).
#
# 1. **The worked example, three ways.** Compute ∂E/∂w₁₁ with the unrounded slope, with
#    the text's rounded factors, and with E4's "+ oⱼ", and the new w₁₁ for each.
# 2. **A consistent worked example.** Build the worked example as a graph with a target
#    a sigmoid can reach, t₁ = 0.99, and get ∂E/∂w₁₁ and ∂E/∂w₂₁ by autodiff.
# 3. **Newton for one weight.** Write `newton_step(w11, target)` that takes one Newton
#    step on w₁₁ in the worked example (w₂₁ = 3.0, oⱼ = 0.4 and 0.5), with E″ from
#    `create_graph=True`. Repeat it from w₁₁ = 2.0, once with the text's target
#    t₁ = oₖ + 0.8 and once with t₁ = 0.99. Where does w₁₁ go in each case, and why?
