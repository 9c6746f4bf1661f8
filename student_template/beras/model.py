"""A sequential model that trains with a GradientTape."""

import numpy as np

from .core import Diffable
from .gradient_tape import GradientTape


class SequentialModel(Diffable):
    """Layers applied one after the other."""

    def __init__(self, layers):
        self.layers = layers

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]

    def compile(self, optimizer, loss_fn, acc_fn):
        self.optimizer = optimizer
        self.compiled_loss = loss_fn
        self.compiled_acc = acc_fn

    def call(self, inputs):
        raise NotImplementedError("SequentialModel.call: TODO the output of the last layer, each layer called (as `layer(x)`, so a tape records it) on the previous one's output")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def batch_step(self, x, y, training=True):
        """One batch: loss and accuracy; with `training`, also one optimizer step."""
        raise NotImplementedError("SequentialModel.batch_step: TODO the loss and accuracy of the model on (x, y) as floats in {\"loss\": ..., \"acc\": ...}; when training, also update the trainable variables once with the optimizer, using the tape's gradients")

    def fit(self, x, y, epochs, batch_size):
        """Train; return {"loss": [mean per epoch], "acc": [mean per epoch]}."""
        raise NotImplementedError("SequentialModel.fit: TODO train for `epochs` passes over (x, y) in batches of batch_size (the last one may be smaller), returning the mean loss and accuracy of each epoch's batches")

    def evaluate(self, x, y, batch_size):
        """Loss and accuracy on (x, y), changing no weight."""
        raise NotImplementedError("SequentialModel.evaluate: TODO the mean loss and accuracy over batches of batch_size, without training, as {\"loss\": float, \"acc\": float}")

