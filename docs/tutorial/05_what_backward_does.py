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
# # 5. What backward() does
#
# Chapter 3 followed one weight back from the loss, one factor per operation, and chapter 4
# wrote the update of every weight at once. But
# `loss.backward()` finds the gradient of *every* weight in one pass, for any graph you
# build, and it has to get two things right that one path never shows:
#
# - **order**: an operation may send its gradient back only when the gradient of its
#   output is complete, that is, once *every* operation that used that output has sent its
#   share;
# - **adding up**: a value used in several places gets one contribution per use, and its
#   gradient is their sum.
#
# Between those two, each operation does only its own step of the chain rule: what
# arrives, times its local factor. This chapter shows the three ideas on a graph small
# enough to do by hand, then on the book's network, and then reads the engine's own loop,
# line by line: it is 26 lines.

# %%
import inspect

from tinygrad_edu import Tensor, autograd, proofs, viz

# %% [markdown]
# ## A value used twice
#
# Take z = x·x + x at x = 3. By hand, dz/dx = 2x + 1 = 7. Before the final sum (the loss
# must be one number), the graph has two operations, and x feeds both of them — the
# multiplication even twice:

# %%
x = Tensor([3.0], requires_grad=True, name="x")
squared = x * x
squared.name = "x·x"
z = squared + x
z.name = "z"
viz.draw(z.sum(), show_data=True, show_grad=False)

# %% [markdown]
# The engine first walks the graph once and counts, for each operation's node, how many
# operations consume its output (`autograd.consumer_counts`). A node may run when that
# count reaches zero: everything downstream of it is done.

# %%
loss = z.sum()
counts = autograd.consumer_counts([loss])
for node, count in counts.items():
    print(f"{node.name:<14} consumed by {count} node(s)")

# %% [markdown]
# `autograd.backward_steps` runs `loss.backward()` one node at a time and shows each step:
# the gradient that **arrived** at the node's output (complete by then), and what its
# chain rule **sent** to each input.

# %%
for step in autograd.backward_steps(loss):
    sent = ", ".join(
        f"{t.name or 'input'} ← {g.tolist()}"
        for t, g in zip(step.node.inputs, step.input_grads, strict=True)
        if g is not None
    )
    print(f"{step.node.name:<12} arrived {step.grad.tolist()}  sent {sent}")
print("x.grad =", x.grad, "  (by hand: 2x + 1 =", 2 * 3.0 + 1, ")")

# %% [markdown]
# Read it from the top. The sum sends 1 to z. The addition sends what arrived, 1, to both
# its inputs: to the product x·x, and straight to x — that is the first contribution to x.
# The multiplication gets 1 and sends 1 · (the other factor) = 3 to each of its two
# inputs, both of which are x. So x collects three contributions, 1 + 3 + 3 = 7: the sum
# over every way x reaches the loss. Nothing but "add what arrives" was needed to get the
# 2 of 2x + 1.

# %% [markdown]
# The explorer steps through the same pass in the browser. At the last step, where the
# multiplication has sent its two parts, it lists the three contributions that met at x
# and their sum — the 7 of `x.grad`:

# %%
x = Tensor([3.0], requires_grad=True, name="x")
viz.explore((x * x + x).sum(), title="z = x·x + x: three contributions meet at x")

# %% [markdown]
# ## Why a node waits
#
# Suppose an engine ran the product's node as soon as *some* gradient had arrived at it.
# Make the product feed two operations, h = x·x and z = h·h + h, at x = 3: dz/dh = 2h + 1
# = 19, so dz/dx = 19 · 2x = 114. Running h's node after only the first contribution
# (from the addition: 1) would send 1 · 2x = 6 to x, and the later contributions through
# h·h would have to run h's node a second time — or be lost. Kahn's order avoids both:
# h's node runs once, with the complete 19.

# %%
x = Tensor([3.0], requires_grad=True, name="x")
h = x * x
h.name = "h"
h_squared = h * h
h_squared.name = "h·h"
z = h_squared + h
z.name = "z"
loss = z.sum()
loss.name = "the loss"
for step in autograd.backward_steps(loss):
    print(f"{step.node.name:<12} makes {step.node.output.name:<8} arrived {step.grad.tolist()}")
print("x.grad =", x.grad, "  (by hand: (2h + 1) · 2x =", (2 * 9 + 1) * 2 * 3, ")")

# %% [markdown]
# The node that makes h·h runs before the node that makes h, whose gradient arrives
# complete: 1 from the addition, plus 2h = 18 from h·h (h · 1 for each of its two uses of
# h), 19 in all.

# %% [markdown]
# ## The book's hidden node collects from every output
#
# The book builds a hidden node's error from the errors of all the output nodes it feeds,
# each carried back through the link's weight (the hidden errors = Wₕₒᵀ · the output
# errors, chapter 2). In the engine that is the same rule, "add what arrives": hidden
# output oⱼ feeds every output node through Wₕₒ, so its gradient is the sum of what the
# output nodes send. `proofs.explain` writes the gradient of one weight of the book's
# 3-3-3 network as one product of factors per path
# from the loss; for the first input-to-hidden weight there are three paths, one through
# each output node, each with its own output error and its own σ(1−σ). (Chapter 2 showed
# that the book's rule leaves the output sigmoid's slope out of this sum: erratum E8.)

# %%
book_loss = proofs.book_network_loss(seed=0)
W_ih = proofs.tensors_by_name(book_loss)["W_ih"]
explanation = proofs.explain(book_loss, W_ih, (0, 0), show=False)
for number, path in enumerate(explanation.paths, start=1):
    print(f"path {number}, through output node {number}: {path.product:+.7f}")
print(f"sum of the paths:  {explanation.total:+.7f}")
print("the engine's gradient W_ih.grad[0, 0] after backward():", end=" ")
book_loss.backward()
print(f"{W_ih.grad[0, 0]:+.7f}")

# %% [markdown]
# The engine never lists paths — with many layers there are far too many. It gets the
# same sum by adding the three contributions once, where they meet: at hidden output 1,
# before the hidden sigmoid's node runs. Step through it in the explorer: at the step of
# the hidden layer's node, the gradient that arrived is the sum of what the three output
# nodes sent.

# %%
viz.explore(proofs.book_network_loss(seed=0), title="the book's network: where the paths meet")

# %% [markdown]
# ## The engine's loop, line by line
#
# Here is `autograd.backward_pass`, the whole backward loop of the engine (the rest of
# `autograd.py` is the graph walk, `Function.apply`, and the public ways to run it):

# %%
source = inspect.getsource(autograd.backward_pass)
print(source[source.index("    waiting =") :])

# %% [markdown]
# - `waiting = consumer_counts(roots)`: the walk above — each node with the number of its
#   consumers that have not sent yet. (`book.select` narrows it for `grad()`, which only
#   runs the part of the graph between its outputs and inputs.)
# - `arrived`: for each node, the sum of what its consumers have sent so far.
# - The roots get their starting gradient, ∂L/∂L = 1.
# - `ready`: the nodes whose consumers have all sent — at first, only the loss's node.
# - In the loop, `node = ready.pop()` takes one; its gradient is complete.
# - `book.chain_rule(node, grad)` calls `node.function.backward(node, grad)`: the node's
#   own step of the chain rule, the only place where a derivative is computed (chapter 7
#   writes one).
# - For each input, `_send` adds what the node sent into what the input's node has
#   collected ("adding up"). A leaf — a weight — has no node: its sum goes to `.grad` at
#   the end. (Where numpy broadcast an input, `book.chain_rule` has already summed its
#   gradient back to the input's shape.)
# - Every consumer that has sent counts one off its input's node; at zero, that node is
#   ready ("order").
#
# Everything else the engine does — refusing a saved array that changed since the forward,
# freeing the graph, `retain_grad`, `create_graph` — is one `book.…` or `policies.…` call,
# kept out of this loop; docs/design.md explains each.

# %% [markdown]
# ## Exercises
#
# 1. **By hand first.** For z = (x + 1) · x at x = 2, write down the order in which the
#    engine runs the nodes and what each one sends to x, then check with
#    `autograd.backward_steps`. How many contributions does x collect, and why is their
#    sum 2x + 1?
# 2. **Your own order.** Write `my_order(loss)`: the nodes of a graph, each after every node
#    that consumes its output (Kahn's algorithm, with `consumer_counts` and each node's
#    `.parents`). Check that every node comes after all its consumers, on z = h·h + h above
#    and on `proofs.book_network_loss()`.
# 3. **Path by path.** Write a backward that does not wait: at each node, apply the chain
#    rule to what one path brings (`autograd.input_gradients(node, grad)`) and pass it on at
#    once, recursively, adding into the leaves. It gives the right gradient — the sum over
#    paths — but count how often each node runs. On x, then h ← h·h + h repeated n times,
#    how often does the first layer's node run, and how often does the engine run it?
# 4. **Build the engine yourself.** `tinygrad-edu tasks init my_engine` writes a file of
#    stubs: the backward of the sigmoid, of the squared error and of the matrix product,
#    the backward loop, and an SGD step; `tinygrad-edu tasks check --dir my_engine` grades
#    each one with the project's own checks and gives a hint in the book's notation when
#    one is wrong ([Build the engine yourself](../../howto/build_it_yourself/)).
#
# Solutions: [on the solutions page](../solutions/#chapter-5-what-backward-does)
# (the file `docs/tutorial/solutions/ch05_what_backward_does.py`).
