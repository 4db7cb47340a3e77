# %% [markdown]
# # 4. The network in matrices
#
# Chapter 3 followed one weight through the chain rule. The book then writes the update
# of **all** the weights of a layer as one matrix product:
#
#     ΔW = α · (E ∗ O(1 − O)) · Oⱼᵀ
#
# In the book's symbols, E is the column of the layer's errors, O the layer's outputs and
# Oⱼ the outputs of the layer before it; ∗ multiplies element by element and · is a
# matrix product. In this course's notation (e = t − o the error vector, E the loss),
# for the output layer: ΔWₕₒ = α · (e ∗ oₖ(1 − oₖ)) · oⱼᵀ. A column times a row is a
# whole matrix: one entry per weight.
#
# In this chapter you will see, on the book's 3-3-3 network:
#
# - the book's ΔWₕₒ beside the update that autodiff's gradient gives, −α · ∂E/∂Wₕₒ;
# - the same for the hidden layer, where the book's code and the gradient part ways;
# - the factor 2 between `squared_error`, Σ(t − o)², and E = ½Σ(t − o)², the loss whose
#   gradient the book's formulas are.

# %%
import numpy as np

from tinygrad_edu import proofs, textbook, viz

# %% [markdown]
# ## The book's network
#
# `proofs.book_network_loss()` builds the network in the book's column layout, on one sample,
# and returns its loss E = ½Σ(t − o)², not yet differentiated: three inputs, three hidden
# sigmoid nodes, three sigmoid outputs, no biases, weights drawn from N(0, σ = 3^−½) with
# seed 0. Every tensor carries the book's name.

# %%
loss = proofs.book_network_loss(retain_grad=True)
named = proofs.tensors_by_name(loss)
W_ih, W_ho = named["W_ih"], named["W_ho"]
x = named["inputs"].data  # the inputs, a column
h = named["hidden_outputs"].data  # oⱼ: the hidden layer's outputs
o = named["final_outputs"].data  # oₖ: the output layer's outputs
t = named["targets"].data
e = t - o  # the output error
print("o =", o.ravel().round(4), "  t =", t.ravel(), "  e = t − o =", e.ravel().round(4))
print(f"E = ½Σ(t − o)² = {loss.item():.6f}")

# %% [markdown]
# ## The output layer: ΔWₕₒ
#
# The book's matrix update, with `textbook.weight_update` (plain numpy, no autodiff) and
# the learning rate α = 0.3 that `tinygrad-edu demo` uses:

# %%
alpha = 0.3
book_ho = textbook.weight_update(e, o, h, alpha)  # α · (e ∗ o(1 − o)) · hᵀ
print(book_ho.round(6))

# %% [markdown]
# Now let autodiff find ∂E/∂Wₕₒ. Gradient descent steps against the gradient, so the
# update is −α times it:

# %%
loss.backward()
autodiff_ho = -alpha * W_ho.grad
print(autodiff_ho.round(6))
print(f"largest difference: {np.abs(book_ho - autodiff_ho).max():.1e}")

# %% [markdown]
# The same matrix, to the last bits of floating point. Entry (k, j) of the column-times-row
# product is α · eₖ · oₖ(1 − oₖ) · oⱼ: the book's element formula
# ∂E/∂wⱼₖ = −(tₖ − oₖ) · oₖ(1 − oₖ) · oⱼ for the weight from hidden node j to
# output node k, which is stored in row k, column j.
#
# ## The hidden layer: ΔWᵢₕ
#
# The hidden layer's weights reach the loss through every output. The chain rule sends
# the error back through the output sigmoid's slope first, then through Wₕₒᵀ:
# the hidden nodes receive Wₕₒᵀ · (e ∗ o(1 − o)), and then the same matrix formula
# applies one layer down. The book's code sends back Wₕₒᵀ · e instead, without the
# output slope. `textbook` has both:

# %%
exact_ih, _ = textbook.exact_weight_updates(W_ih.data, W_ho.data, x, t, alpha)
book_ih, _ = textbook.book_weight_updates(W_ih.data, W_ho.data, x, t, alpha)
autodiff_ih = -alpha * W_ih.grad
print("autodiff:      ", autodiff_ih[0].round(6), "…")
print("exact rule:    ", exact_ih[0].round(6), "…")
print("book's rule:   ", book_ih[0].round(6), "…")
exact_gap = np.abs(exact_ih - autodiff_ih).max()
book_gap = np.abs(book_ih - autodiff_ih).max()
print(f"largest difference from autodiff: exact rule {exact_gap:.1e}, book's rule {book_gap:.1e}")

# %% [markdown]
# The rule with the slope is the gradient. The book's rule is not, and its steps are much
# larger here, because the slope o(1 − o) that it leaves out is at most ¼. Chapter 6
# trains with both rules and explains what the book's rule really descends (erratum E8).
#
# The drawing shows the whole backward pass. Its arrows carry the labels of chapter 1:
# what the gradient is multiplied by on that step, the dot standing where the gradient
# goes. `a·` is "times the number a" (here the ½), `·Bᵀ` "times Bᵀ, on the right" and
# `Aᵀ·` "times Aᵀ, on the left", the two ways out of a matrix product Y = A · B (here
# A = Wₕₒ and B = h). Read it from the top: the loss's ½ (`a·`), the square's 2(o − t),
# the output slope σ(1 − σ), then the matrix product splits the gradient in two. Along
# `·Bᵀ` it becomes ∂E/∂Wₕₒ (the gradient times hᵀ); along `Aᵀ·` it goes on to the hidden
# layer (Wₕₒᵀ times the gradient). Every intermediate tensor shows the gradient it
# received.

# %%
viz.draw(loss, backward=True, rankdir="TB")

# %% [markdown]
# ## The factor 2
#
# `squared_error` is Σ(t − o)², with no ½. Its derivative with respect to o is
# −2(t − o), and the 2 travels down the whole chain: every gradient doubles.
# (The book writes E = Σ(t − o)², differentiates correctly to −2(t − o), and then loses
# the 2 in the next line: erratum E3. Its formulas are gradients of ½Σ(t − o)².)

# %%
plain = proofs.book_network_loss()  # the same network, loss = ½ · squared_error
plain_tensors = proofs.tensors_by_name(plain)
plain_tensors["squared_error"].backward()  # differentiate Σ(t − o)² itself, without the ½
ratio_ho = plain_tensors["W_ho"].grad / W_ho.grad
ratio_ih = plain_tensors["W_ih"].grad / W_ih.grad
print("∂Σ(t − o)²/∂W ÷ ∂(½Σ(t − o)²)/∂W, every entry:")
print("  Wₕₒ:", np.unique(ratio_ho.round(12)), "  Wᵢₕ:", np.unique(ratio_ih.round(12)))

# %% [markdown]
# Exactly 2, entry for entry. Neither loss is wrong: they have the same minimum, and a
# step on Σ(t − o)² with learning rate α is the same step as one on ½Σ(t − o)² with 2α.
# What goes wrong is quoting the gradient of one as the gradient of the other. That is
# why this project writes `0.5 * squared_error(o, t)` wherever it reproduces the texts'
# numbers.
#
# ## One step downhill
#
# Finally, apply the update and see the error fall:

# %%
stepped_ih = W_ih.data + exact_ih
stepped_ho = W_ho.data + book_ho
_, new_o = textbook.forward(stepped_ih, stepped_ho, x)
print(f"E before: {loss.item():.6f}   after one step: {0.5 * ((t - new_o) ** 2).sum():.6f}")

# %% [markdown]
# ## Exercises
#
# Solutions: [on the solutions page](../solutions/#chapter-4-the-network-in-matrices)
# (the file `docs/tutorial/solutions/ch04_network_in_matrices.py`).
#
# 1. **A minibatch.** Put several samples side by side as the columns of X and T. With the
#    loss ½Σ(T − O)² divided by the number of samples, show that −α · ∂E/∂Wₕₒ is the
#    **mean** of the per-sample updates α · (e ∗ o(1 − o)) · hᵀ. (That is how
#    `tinygrad-edu train --batch-size` steps.)
# 2. **The hidden layer by autodiff.** Write `hidden_weight_update(W_ih, W_ho, x, t, α)`
#    that returns −α · ∂E/∂Wᵢₕ from autodiff, and check it by finite differences.
# 3. **Without the ½.** Take one step on Σ(t − o)² with learning rate α/2 and one step on
#    ½Σ(t − o)² with learning rate α. Show that the new weights are the same.
