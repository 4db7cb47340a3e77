"""A modern take on the same task: biases, ReLU, cross-entropy and Adam, on minibatches.

Needs scikit-learn (pip install "tinygrad-edu[digits]"). Run:
python examples/mlp_adam_digits.py
"""

import numpy as np

from tinygrad_edu import Tensor, nn, no_grad
from tinygrad_edu.data import batches, load_digits
from tinygrad_edu.optim import Adam

digits = load_digits()
rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(64, 64, rng=rng), nn.ReLU(), nn.Linear(64, 10, rng=rng))
optimizer = Adam(model.parameters(), lr=0.01)

for epoch in range(10):
    for inputs, labels in batches(digits.train_inputs, digits.train_labels, 32, rng):
        loss = nn.cross_entropy(model(Tensor(inputs)), labels)  # logits in, labels 0..9
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with no_grad():
        logits = model(Tensor(digits.test_inputs))
    accuracy = np.mean(np.argmax(logits.data, axis=1) == digits.test_labels)
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {accuracy:.3f}")
