"""beras: a Keras-like teaching framework in NumPy."""

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .core import Callable, Diffable, Tensor, Variable, Weighted
from .gradient_tape import GradientTape
from .layers import Dense
from .losses import CategoricalCrossentropy, MeanSquaredError
from .metrics import CategoricalAccuracy
from .model import SequentialModel
from .onehot import OneHotEncoder
from .optimizers import Adam, BasicOptimizer, RMSProp

__all__ = [
    "Adam", "BasicOptimizer", "Callable", "CategoricalAccuracy", "CategoricalCrossentropy",
    "Dense", "Diffable", "GradientTape", "LeakyReLU", "MeanSquaredError", "OneHotEncoder",
    "RMSProp", "ReLU", "SequentialModel", "Sigmoid", "Softmax", "Tanh", "Tensor",
    "Variable", "Weighted",
]
