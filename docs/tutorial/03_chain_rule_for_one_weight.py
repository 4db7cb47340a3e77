# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. The chain rule for one weight
#
# The book — Tariq Rashid, *Make Your Own Neural Network* — updates one weight by hand
# before it writes the update for a whole layer. We follow it through that one weight
# three times: with pencil and paper, with `proofs.explain` (the same sum, read off the
# engine's graph factor by factor), and by stepping through the engine's own backward
# pass in the browser with `viz.explore`. (Our copy of the example is text 000, a reader's
# notes on the book's pp. 80–100; see `/work/shared/textbook/` in the project.)
#
# **The setting.** An output node k = 1 gets two inputs from hidden nodes whose outputs
# are o₁ = 0.4 and o₂ = 0.5, through the weights w₁₁ = 2.0 and w₂₁ = 3.0. The text takes
# the output error as given: e₁ = t₁ − o₁ = 0.8. The loss is the book's
# E = ½Σ(t − o)² (the ½ is there so that it cancels the 2 of the square's derivative).
#
# The book's slope of the error with respect to a weight is
#
#     ∂E/∂w_jk = −(t_k − o_k) · σ(Σ_j w_jk·o_j) · (1 − σ(Σ_j w_jk·o_j)) · o_j
#
# three factors, one per operation on the way from the loss back to the weight:
# the error, the sigmoid's slope σ(1 − σ), and the input o_j that the weight multiplies.

# %%
import math

from tinygrad_edu import proofs, textbook, viz

w11, w21 = 2.0, 3.0
o1, o2 = 0.4, 0.5
error = 0.8  # e₁ = t₁ − o₁, as the text takes it
learning_rate = 0.1

weighted_sum = w11 * o1 + w21 * o2  # 2.3
output = 1 / (1 + math.exp(-weighted_sum))  # σ(2.3)
slope = output * (1 - output)  # σ(1 − σ)
gradient = -error * slope * o1  # ∂E/∂w₁₁
new_w11 = w11 - learning_rate * gradient
print(f"weighted sum  {weighted_sum:.4g}")
print(f"σ(2.3)        {output:.6f}")
print(f"σ(1 − σ)      {slope:.6f}")
print(f"∂E/∂w₁₁       {gradient:.6f}")
print(f"new w₁₁       {new_w11:.6f}")

# %% [markdown]
# The text rounds on the way: σ(2.3) ≈ 0.909, its slope ≈ 0.083, and then it quotes the
# product as −0.0265 and the new weight as 2.00265. Those quoted results are the
# *unrounded* ones (−0.02650 and 2.002650 above). Multiplying the rounded factors really
# gives a slightly different number, because 0.083 is 0.2 % larger than 0.08282:

# %%
rounded = -0.8 * 0.083 * 0.4
print(f"−0.8 × 0.083 × 0.4 = {rounded:.5f}, new w₁₁ = {w11 - learning_rate * rounded:.5f}")

# %% [markdown]
# `textbook.worked_example()` is the same calculation, written once in the library:

# %%
example = textbook.worked_example()
print(example)

# %% [markdown]
# ## The same sum, read off the graph
#
# `proofs.worked_example_network()` builds the example as a graph: the weights
# W_ho = [[w₁₁, w₂₁]] times the hidden outputs, a sigmoid, then E = ½(t − o)² with the
# target set so that t − o = 0.8. `explain` walks the graph from E down to w₁₁ and prints
# every factor of the chain rule with the engine's numbers. The squared error's factor
# 2(o − t) is shown as two steps, so you can see the ½ of E cancel the 2.

# %%
loss, weights = proofs.worked_example_network()
explanation = proofs.explain(loss, weights, (0, 0))

# %% [markdown]
# Read it from the top: ½ · 2 = 1, times (o − t) = −0.8 (that is −e₁), times σ(1 − σ),
# times o₁ = 0.4 (the `·Bᵀ` of a matrix product picks out the input that w₁₁ multiplied).
# The product is the book's −0.0265, and the engine's backward pass agrees.
#
# ## The backward pass, drawn
#
# Now the engine runs the whole backward pass. `retain_graph=True` keeps what the forward
# saved, so that we can replay the pass below. The drawing labels each arrow with the
# factor that step multiplies the gradient by (from the registry of operations), and the
# boxes show the gradients that arrived.

# %%
loss.backward(retain_graph=True)
print("W_ho.grad =", weights.grad)
print("new W_ho  =", weights.data - learning_rate * weights.grad)
viz.draw(loss, backward=True, show_data=True)

# %% [markdown]
# ## Step through it
#
# `viz.explore(loss)` replays the engine's backward pass one operation at a time. Use
# **Next ▶** / **◀ Back**, the arrow keys, the slider or **▶ Play**. At each step the
# panel shows the gradient arriving from above, the operation's local factor written out
# (σ(1 − σ) = 0.08282 at the sigmoid), and what it sends to each input; the weights'
# `.grad` fills in at the last step. The *forward pass* button shows the values being
# computed, 2.3 and then σ(2.3) = 0.9089. In a script, save the page instead:
# `viz.explore(loss).save("worked_example.html")` (or run
# `tinygrad-edu explore --worked-example --out worked_example.html`).

# %%
viz.explore(loss, title="the worked example: w₁₁ = 2.0 → 2.00265")

# %% [markdown]
# ## Exercises
#
# Solutions: `docs/tutorial/solutions/ch03_chain_rule.py`.
#
# 1. **The other weight.** Compute ∂E/∂w₂₁ by hand (which factor changes?) and the new
#    w₂₁ after one step with α = 0.1. Compare with `weights.grad[0, 1]`.
# 2. **Without the ½.** Build the example with the plain squared error,
#    `proofs.worked_example_network(half=False)`. Predict ∂E/∂w₁₁ before you run it, then
#    check your prediction against autodiff and against finite differences
#    (`tinygrad_edu.gradcheck.numerical_gradient`).
# 3. **The book's network.** Open `viz.explore(proofs.book_network_loss())`. At the step of
#    `SquaredErrorBackward`, what is sent to `final_outputs`, in terms of o and t? At the
#    step that fills `W_ho.grad`, check that it equals the book's matrix form
#    ((o − t) · o(1 − o)) · hidden_outputsᵀ.
