"""The layers: each inherits `bgd.layers.layer.Layer`."""

from .activation import Activation
from .conv2d import Convolutional2D
from .dropout import Dropout
from .fc import FullyConnected
from .flatten import Flatten
from .layer import Layer
from .max_pooling2d import MaxPooling2D

__all__ = [
    "Activation",
    "Convolutional2D",
    "Dropout",
    "FullyConnected",
    "Flatten",
    "Layer",
    "MaxPooling2D",
]
