"""One training step of the book's three-layer sigmoid network, written with Tensors.

The book ("Make Your Own Neural Network") computes its weight updates by hand; here the
engine derives them. Run: python examples/book_network_one_step.py
"""

import numpy as np

from tinygrad_edu import Tensor

rng = np.random.default_rng(0)
input_nodes, hidden_nodes, output_nodes = 3, 3, 3
learning_rate = 0.3

# Weights as in the book: W_ih is (hidden × inputs), drawn from N(0, σ = inputs^−½).
W_ih = Tensor(rng.normal(0, input_nodes**-0.5, (hidden_nodes, input_nodes)), requires_grad=True)
W_ho = Tensor(rng.normal(0, hidden_nodes**-0.5, (output_nodes, hidden_nodes)), requires_grad=True)

inputs = Tensor([[0.9], [0.1], [0.8]])  # a column vector, as in the book
targets = Tensor([[0.01], [0.99], [0.01]])

hidden_outputs = (W_ih @ inputs).sigmoid()  # O_hidden = σ(W_ih · I)
final_outputs = (W_ho @ hidden_outputs).sigmoid()  # O_output = σ(W_ho · O_hidden)
loss = 0.5 * final_outputs.squared_error(targets)  # ½Σ(t − o)²: the book's update is its gradient
loss.backward()  # the chain rule, node by node, back to W_ih and W_ho

print("E before the step:", loss.item())
for W in (W_ih, W_ho):
    W.data -= learning_rate * W.grad  # gradient descent: w ← w − α·∂E/∂w
    W.zero_grad()

final_outputs = (W_ho @ (W_ih @ inputs).sigmoid()).sigmoid()
print("E after the step: ", (0.5 * final_outputs.squared_error(targets)).item())
