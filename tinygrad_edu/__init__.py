"""tinygrad_edu: a small reverse-mode autodiff framework on numpy, for learning how neural
networks really train."""

from tinygrad_edu.autograd import Function, detect_anomaly, enable_grad, grad, no_grad
from tinygrad_edu.tensor import Tensor

__version__ = "0.1.0"

__all__ = ["Function", "Tensor", "__version__", "detect_anomaly", "enable_grad", "grad", "no_grad"]
