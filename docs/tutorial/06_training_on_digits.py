# %% [markdown]
# # 6. Training on real handwritten digits
#
# The book (Tariq Rashid, *Make Your Own Neural Network*) trains its network on MNIST,
# 28 × 28 pixel digits. Here we use a smaller set that ships with scikit-learn: 1,797
# digits of 8 × 8 pixels, so the network is 64 inputs → 100 hidden → 10 outputs, where
# the book's has 784 inputs. It is otherwise built as the book builds its network: sigmoid
# layers, no biases, weights from
# N(0, σ = n^−½) with n the number of incoming links, inputs scaled as the book scales
# its pixels, targets 0.01 and 0.99, one sample per step.
#
# In this chapter you will:
#
# - train the network with the **exact** rule (the gradient of E = ½Σ(t − o)², from
#   autodiff) and with the **book's** rule (its code's hidden-layer update), for a few
#   epochs, and plot the learning curves;
# - see what erratum E8 says about the book's rule: its hidden layer descends a
#   different loss, the binary cross-entropy, and what that means for you.
#
# Training needs scikit-learn (`pip install "tinygrad-edu[digits]"`) and the plots
# matplotlib (`"tinygrad-edu[plot]"`).

# %%
import matplotlib.pyplot as plt
import numpy as np

from tinygrad_edu import Tensor, data, grad, training
from tinygrad_edu.optim import SGD

# %% [markdown]
# ## The digits
#
# `data.load_digits()` scales the pixels (0 to 16) as the book scales MNIST's (0 to 255),
# pixel / 16 · 0.99 + 0.01, so that no input is 0, and splits the set 80/20 with a seed.

# %%
split = data.load_digits()
print("train:", split.train_inputs.shape, "  test:", split.test_inputs.shape)
print(f"inputs from {split.train_inputs.min():.2f} to {split.train_inputs.max():.2f}")

figure, axes = plt.subplots(1, 8, figsize=(8, 1.4))
for image, label, ax in zip(split.train_inputs, split.train_labels, axes, strict=False):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")
plt.show()

# %% [markdown]
# The targets are the book's: 0.99 for the output node of the right digit and 0.01 for
# the nine others, because a sigmoid never reaches 0 or 1.

# %%
print(data.book_targets(split.train_labels[:1]), "for the digit", split.train_labels[0])

# %% [markdown]
# ## Two rules, a few epochs
#
# `training.train` is the loop behind `tinygrad-edu train`. Each epoch it shows every
# training sample once, in a shuffled order, takes one step per sample and then measures
# the accuracy on the test set. With the same seed both runs start from the same weights
# and see the samples in the same order, so the rule is the only difference.
#
# - `exact`: `loss.backward()` and an SGD step on E = ½Σ(t − o)²;
# - `book`: the book's `train` method, whose hidden layer receives Wₕₒᵀ · e, the output
#   error without the output sigmoid's slope o(1 − o).
#
# Five epochs at the learning rate 0.5 take a few seconds.

# %%
EPOCHS = 5
runs = {}
for rule in ("exact", "book"):
    print(f"rule {rule!r}:")
    config = training.TrainConfig(epochs=EPOCHS, lr=0.5, rule=rule, seed=0)
    runs[rule] = training.train(config, split, progress=False).history

# %% [markdown]
# The loss printed is the mean of ½Σ(t − o)² over the epoch's samples, each measured just
# before its step. Both rules learn; the book's gets ahead sooner.
#
# ## What does the book's rule descend?
#
# The book's hidden-layer update is not the gradient of its own E (chapter 4 showed the
# difference on the small network). Erratum E8 finds what it *is*: exactly the gradient
# step of another loss, the **binary cross-entropy**
#
#     L = −Σ [t ln o + (1 − t) ln(1 − o)]
#
# For a sigmoid output, ∂L/∂z = o − t on the output's weighted input z, with no slope
# factor at all: the o(1 − o) of the sigmoid cancels against the 1/(o(1 − o)) of the
# logarithms. So the error that reaches the hidden layer is Wₕₒᵀ · e, the book's rule.
# Check it on one digit, with a fresh network's weights (the book's column layout: the
# sample is a column):

# %%
model = training.book_network(rng=0)
w_ih, w_ho = model[0].weight.data, model[2].weight.data  # Wᵢₕ (100 × 64), Wₕₒ (10 × 100)
x = split.train_inputs[:1].T  # one digit, a column of 64
t = data.book_targets(split.train_labels[:1]).T  # its targets, a column of 10
alpha = 0.5

h = 1 / (1 + np.exp(-w_ih @ x))
o = 1 / (1 + np.exp(-w_ho @ h))
e = t - o
book_ih = alpha * (w_ho.T @ e * h * (1 - h)) @ x.T  # the book's code


def hidden_step(loss_of_outputs):
    """−α · ∂loss/∂Wᵢₕ by autodiff, for a loss of the outputs."""
    weights = Tensor(w_ih, requires_grad=True)
    outputs = (Tensor(w_ho) @ (weights @ Tensor(x)).sigmoid()).sigmoid()
    (gradient,) = grad(loss_of_outputs(outputs), weights)
    return -alpha * gradient.data


def half_squared_error(outputs):
    return 0.5 * outputs.squared_error(t)


def cross_entropy(outputs):
    return -(t * outputs.log() + (1 - t) * (1 - outputs).log()).sum()


for name, loss in (("½Σ(t − o)²", half_squared_error), ("cross-entropy", cross_entropy)):
    difference = np.abs(book_ih - hidden_step(loss)).max()
    print(f"book's ΔWᵢₕ against −α·∂({name})/∂Wᵢₕ: largest difference {difference:.1e}")

# %% [markdown]
# The book's hidden layer does gradient descent on the cross-entropy, to rounding error.
# Its output layer, though, uses ΔWₕₒ = α · (e ∗ o(1 − o)) · hᵀ, the gradient of ½Σ(t − o)²;
# the cross-entropy's would be α · e · hᵀ, without the slope:

# %%
weights = Tensor(w_ho, requires_grad=True)
outputs = (weights @ Tensor(h)).sigmoid()
(gradient,) = grad(cross_entropy(outputs), weights)
book_ho = alpha * (e * o * (1 - o)) @ h.T
print("−α·∂L/∂Wₕₒ equals α·e·hᵀ:            ", np.allclose(-alpha * gradient.data, alpha * e @ h.T))
print("it equals the book's α·(e∗o(1−o))·hᵀ:", np.allclose(book_ho, -alpha * gradient.data))

# %% [markdown]
# So the book's code is a hybrid: squared error for Wₕₒ, cross-entropy for Wᵢₕ. If the
# cross-entropy is what works, why not use it in both layers? With autodiff that is one
# changed line: the loss. Here is a complete training loop (the one in `training.train`,
# stripped down) with the cross-entropy, from the same starting weights in the same
# order:

# %%
rng = np.random.default_rng(0)  # as training.train: the weights, then the shuffles
model = training.book_network(64, 100, 10, rng=rng)
optimizer = SGD(model.parameters(), lr=0.5)
runs["cross-entropy"] = []
for epoch in range(1, EPOCHS + 1):
    total = 0.0
    for inputs, labels in data.batches(split.train_inputs, split.train_labels, 1, rng):
        targets = data.book_targets(labels)
        outputs = model(Tensor(inputs))
        total += 0.5 * float(((targets - outputs.data) ** 2).sum())  # ½Σ(t − o)², to compare
        loss = -(targets * outputs.log() + (1 - targets) * (1 - outputs).log()).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    accuracy = float(np.mean(training.predict(model, split.test_inputs) == split.test_labels))
    runs["cross-entropy"].append(training.Epoch(epoch, total / len(split.train_inputs), accuracy))
    print(f"epoch {epoch}  ½Σ(t − o)² {total / len(split.train_inputs):.5f}  test {accuracy:.4f}")

# %% [markdown]
# ## The learning curves

# %%
figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.2))
for name, history in runs.items():
    epochs = [epoch.number for epoch in history]
    loss_axes.plot(epochs, [epoch.loss for epoch in history], marker="o", label=name)
    accuracy_axes.plot(epochs, [epoch.test_accuracy for epoch in history], marker="o")
loss_axes.set(xlabel="epoch", ylabel="mean ½Σ(t − o)²", title="training loss")
accuracy_axes.set(xlabel="epoch", ylabel="accuracy", title="test accuracy")
loss_axes.legend()
figure.tight_layout()
plt.show()

# %%
for name, history in runs.items():
    print(f"{name:>13}: test accuracy after {EPOCHS} epochs {history[-1].test_accuracy:.4f}")

# %% [markdown]
# In this run the two rules that leave out the slope also end with the lower
# ½Σ(t − o)², the very loss that only the exact rule descends by its gradient: the
# steepest step at each moment is not the fastest way down over many steps.
#
# ## What E8 means for you
#
# - **The book's code is not gradient descent on the error it writes down.** Its output
#   layer is; its hidden layer descends the cross-entropy. Each layer follows the slope of
#   a different loss. That it trains well here does not make Wₕₒᵀ · e "the" hidden
#   error of the squared error; for a sigmoid output layer that is Wₕₒᵀ · (e ∗ o(1 − o)).
# - **Why it helps.** The slope o(1 − o) is at most ¼ and almost 0 when an output is
#   confidently wrong (o near 0 or 1, far from its target). The squared error's gradient
#   carries that factor, so a saturated output learns slowly; the cross-entropy's does
#   not. The book's code drops the factor for the hidden layer, and so takes larger
#   steps there.
# - **The clean way** is to choose one loss and let autodiff differentiate it: the
#   cross-entropy for both layers above is gradient descent on one function, and it
#   needed no formula derived by hand. (For single-label classification the usual choice
#   is a softmax output with `nn.cross_entropy`.)
# - One run of a few epochs on one seed is an anecdote. `python
#   benchmarks/digits_accuracy.py` compares the rules over five seeds, and the full run is
#   one command:
#
# ```console
# $ tinygrad-edu train                 # the exact rule, 20 epochs at lr 0.5
# $ tinygrad-edu train --rule book --plot curve.png
# ```
#
# ## Exercises
#
# Solutions: [on the solutions page](../solutions/#chapter-6-training-on-real-handwritten-digits)
# (the file `docs/tutorial/solutions/ch06_training_on_digits.py`).
#
# 1. **E8 by autodiff.** Write `cross_entropy_hidden_update(W_ih, W_ho, x, t, α)` that
#    returns −α · ∂L/∂Wᵢₕ for the binary cross-entropy L, using `grad`, and compare it
#    with the book's ΔWᵢₕ = α · (Wₕₒᵀ · e ∗ h(1 − h)) · xᵀ on random networks.
# 2. **Which digits are hard?** `training.train` returns a confusion matrix
#    (`result.confusion[true, predicted]`). Write `accuracy_per_digit(confusion)` and find
#    the digit the network gets wrong most often.
# 3. **Confidently wrong.** An output with target t = 0.99 has the weighted input
#    z = −6, so o = σ(−6) is near 0. Use `grad` to find ∂E/∂z for E = ½(t − o)² and
#    ∂L/∂z for the cross-entropy L. How many times larger is the second, and what
#    does that say about how fast each loss corrects a saturated output?
