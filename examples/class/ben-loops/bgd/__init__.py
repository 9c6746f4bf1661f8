"""bgd, "Beyond Gradient Descent": a NumPy neural-network library built on
the `Layer` API (batch-first arrays, NHWC images)."""

from . import cost, layers, nn, optimizers
from .cost import MSE, Cost, CrossEntropy
from .layers import (
    Activation,
    Convolutional2D,
    Dropout,
    Flatten,
    FullyConnected,
    Layer,
    MaxPooling2D,
)
from .nn import NeuralStack
from .optimizers import AdamOptimizer, MomentumOptimizer, Optimizer

__all__ = [
    "Activation",
    "AdamOptimizer",
    "Convolutional2D",
    "Cost",
    "CrossEntropy",
    "Dropout",
    "Flatten",
    "FullyConnected",
    "Layer",
    "MSE",
    "MaxPooling2D",
    "MomentumOptimizer",
    "NeuralStack",
    "Optimizer",
    "cost",
    "layers",
    "nn",
    "optimizers",
]
