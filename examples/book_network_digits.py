"""The book's neural network, written with Tensor operations, trained on 8×8 digits.

64 inputs → 100 hidden → 10 outputs, sigmoids, no biases, one sample at a time — as in
"Make Your Own Neural Network" — but the weight updates come from autodiff.
Needs scikit-learn (pip install "tinygrad-edu[digits]"). Run:
python examples/book_network_digits.py
"""

import numpy as np

from tinygrad_edu import Tensor, no_grad
from tinygrad_edu.data import book_targets, load_digits

digits = load_digits()  # inputs scaled to 0.01..1.0, split 80/20
rng = np.random.default_rng(0)
learning_rate, epochs = 0.5, 5

# W_ih is (hidden × inputs), W_ho (outputs × hidden), drawn from N(0, σ = (incoming links)^−½)
W_ih = Tensor(rng.normal(0, 64**-0.5, (100, 64)), requires_grad=True, name="W_ih")
W_ho = Tensor(rng.normal(0, 100**-0.5, (10, 100)), requires_grad=True, name="W_ho")


def query(inputs):  # inputs: one column per sample, as in the book
    hidden_outputs = (W_ih @ inputs).sigmoid()
    return (W_ho @ hidden_outputs).sigmoid()


for epoch in range(epochs):
    for i in rng.permutation(len(digits.train_inputs)):
        inputs = Tensor(digits.train_inputs[i].reshape(64, 1))
        targets = Tensor(book_targets(digits.train_labels[i : i + 1]).T)
        loss = 0.5 * query(inputs).squared_error(
            targets
        )  # ½Σ(t − o)²: the book's update is its gradient
        loss.backward()
        for W in (W_ih, W_ho):
            W.data -= learning_rate * W.grad  # w ← w − α·∂E/∂w
            W.zero_grad()
    with no_grad():
        outputs = query(Tensor(digits.test_inputs.T))
    accuracy = np.mean(np.argmax(outputs.data, axis=0) == digits.test_labels)
    print(f"epoch {epoch + 1}: test accuracy {accuracy:.3f}")
