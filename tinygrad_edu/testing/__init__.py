"""Testing helpers for users' own property tests: ``tinygrad_edu.testing.strategies``
(needs Hypothesis, installed with the ``test`` extra)."""
