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
# pass in the browser with `viz.explore`. (The example is the book's section "Weight Update
# Worked Example", in its pages 80–100.)
#
# **The setting.** As everywhere in this course, oⱼ is the output of a hidden node j and
# oₖ the output of an output node k. Output node k = 1 gets two inputs, from hidden node 1
# (oⱼ = 0.4) and hidden node 2 (oⱼ = 0.5), through the weights w₁₁ = 2.0 and w₂₁ = 3.0;
# its own output is oₖ. The text takes the output error as given: e₁ = t₁ − oₖ = 0.8. The
# loss is E = ½Σ(t − o)², the loss whose gradient the book's formulas are (the book writes
# E = Σ(t − o)² and then drops the 2 of its derivative, as chapter 4 shows; the ½ cancels
# that 2).
#
# The book's slope of the error with respect to a weight is
#
#     ∂E/∂wⱼₖ = −(tₖ − oₖ) · σ(Σⱼ wⱼₖ·oⱼ) · (1 − σ(Σⱼ wⱼₖ·oⱼ)) · oⱼ
#
# three factors, one per operation on the way from the loss back to the weight:
# the error, the sigmoid's slope σ(1 − σ), and the input oⱼ that the weight multiplies.

# %%
import math

from tinygrad_edu import proofs, textbook, viz

w11, w21 = 2.0, 3.0
hidden_1, hidden_2 = 0.4, 0.5  # oⱼ of hidden nodes 1 and 2
error = 0.8  # e₁ = t₁ − oₖ, as the text takes it
learning_rate = 0.1

weighted_sum = w11 * hidden_1 + w21 * hidden_2  # 2.3
output = 1 / (1 + math.exp(-weighted_sum))  # oₖ = σ(2.3)
slope = output * (1 - output)  # σ(1 − σ)
gradient = -error * slope * hidden_1  # ∂E/∂w₁₁
new_w11 = w11 - learning_rate * gradient
print(f"weighted sum  {weighted_sum:.4g}")
print(f"oₖ = σ(2.3)   {output:.6f}")
print(f"σ(1 − σ)      {slope:.6f}")
print(f"∂E/∂w₁₁       {gradient:.6f}")
print(f"new w₁₁       {new_w11:.6f}")

# %% [markdown]
# The text rounds on the way: σ(2.3) ≈ 0.909 and its slope ≈ 0.083. Its product, −0.0265,
# and its new weight, 2.00265, are right: they are the results above (−0.026502 and
# 2.002650), made with the slope unrounded. What slips is the slope it prints beside them,
# 0.083: it is rounded up, so the factors as printed multiply to a slightly different
# number:

# %%
rounded = -0.8 * 0.083 * 0.4
print(f"0.083 is {100 * (0.083 / slope - 1):.1f} % larger than the slope {slope:.5f}")
print(f"−0.8 × 0.083 × 0.4 = {rounded:.5f}, new w₁₁ = {w11 - learning_rate * rounded:.5f}")

# %% [markdown]
# `textbook.worked_example()` is the same calculation, written once in the library. Its
# result, beside the numbers the text prints:

# %%
example = textbook.worked_example()
print(f"{'':<14} {'the text':>9} {'computed':>12}")
for name, text, value in (
    ("Σⱼ wⱼ₁·oⱼ", "2.3", example.weighted_sum),
    ("oₖ = σ(2.3)", "0.909", example.output),
    ("oₖ(1 − oₖ)", "0.083", example.slope),
    ("∂E/∂w₁₁", "−0.0265", example.gradient),
    ("new w₁₁", "2.00265", example.new_weight),
):
    print(f"{name:<14} {text:>9} {value:>12.6f}")

# %% [markdown]
# ## The same sum, read off the graph
#
# `proofs.worked_example_network()` builds the example as a graph: the weights
# Wₕₒ = [[w₁₁, w₂₁]] times the hidden outputs, a sigmoid, then E = ½(t − o)² with the
# target set so that t − o = 0.8 (chapter 9 shows why no real target could give that).
# `explain` walks the graph from E down to w₁₁ and prints every factor of the chain rule
# with the engine's numbers. The squared error's factor 2(o − t) is shown as two steps, so
# you can see the ½ of E cancel the 2.

# %%
loss, weights = proofs.worked_example_network()
explanation = proofs.explain(loss, weights, (0, 0))

# %% [markdown]
# Read it from the top: ½ · 2 = 1, times (oₖ − tₖ) = −0.8 (that is −e₁), times
# σ(1 − σ), times oⱼ = 0.4, the output of hidden node 1, which is the input that w₁₁
# multiplied. The product is the book's −0.0265, and the engine's backward pass agrees.
#
# The column *engine* is the label each operation carries for its factor, written as
# what the arriving gradient is multiplied by, on the side where it stands (chapter 1):
# `a·` is "times the other operand a" of a product, `·2` and `·(o−t)` are the two halves
# of the square's derivative 2(o − t), and `·Bᵀ` is "times Bᵀ, on the right", the
# gradient of A in a matrix product A · B; for one weight, that picks out the input the
# weight multiplied.
#
# ## The backward pass, drawn
#
# Now the engine runs the whole backward pass. `retain_graph=True` keeps what the forward
# saved, so that we can replay the pass below. The drawing labels each arrow with the
# factor that step multiplies the gradient by (from the registry of operations), and the
# boxes show the gradients that arrived.

# %%
loss.backward(retain_graph=True)
print("∂E/∂Wₕₒ =", weights.grad)
print("new Wₕₒ =", weights.data - learning_rate * weights.grad)
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
# Solutions: [on the solutions page](../solutions/#chapter-3-the-chain-rule-for-one-weight)
# (the file `docs/tutorial/solutions/ch03_chain_rule.py`).
#
# 1. **The other weight.** Compute ∂E/∂w₂₁ by hand (which factor changes?) and the new
#    w₂₁ after one step with α = 0.1. Compare with `weights.grad[0, 1]`.
# 2. **Without the ½.** Build the example with the plain squared error,
#    `proofs.worked_example_network(half=False)`. Predict ∂E/∂w₁₁ before you run it, then
#    check your prediction against autodiff and against finite differences: the helper
#    also builds the example from weights you give it (the text's target stays), so
#    `proofs.worked_example_network(half=False, weights=(2.0 + h, 3.0))` is one side of a
#    central difference.
# 3. **The book's network.** Open `viz.explore(proofs.book_network_loss())`. At the step of
#    `SquaredErrorBackward`, what is sent to `final_outputs`, in terms of o and t? At the
#    step that fills `W_ho.grad`, check that it equals the book's matrix form
#    ((o − t) · o(1 − o)) · hidden_outputsᵀ.
