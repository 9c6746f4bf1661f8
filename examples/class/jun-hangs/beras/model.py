"""A sequential model that trains with a GradientTape."""

import numpy as np

from .core import Diffable, Tensor
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
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    def get_input_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def batch_step(self, x, y, training=True):
        """One batch: loss and accuracy; with `training`, also one optimizer step."""
        with GradientTape() as tape:
            predictions = self.call(x)
            loss = self.compiled_loss(predictions, y)
        if training:
            variables = self.trainable_variables
            gradients = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(variables, gradients)
        acc = self.compiled_acc(predictions, y)
        # the loss as the 0-d Tensor the loss returned, the accuracy as a NumPy scalar
        return {"loss": loss, "acc": np.float64(acc)}

    def fit(self, x, y, epochs, batch_size):
        """Train; return {"loss": [mean per epoch], "acc": [mean per epoch]}."""
        history = {"loss": [], "acc": []}
        for _ in range(epochs):
            stats = [self.batch_step(x[i:i + batch_size], y[i:i + batch_size], training=True)
                     for i in range(0, len(x), batch_size)]
            history["loss"].append(np.mean([s["loss"] for s in stats]))  # np.float64
            history["acc"].append(np.array(np.mean([s["acc"] for s in stats])))  # 0-d array
        return history

    def evaluate(self, x, y, batch_size):
        """Loss and accuracy on (x, y), changing no weight."""
        stats = [self.batch_step(x[i:i + batch_size], y[i:i + batch_size], training=False)
                 for i in range(0, len(x), batch_size)]
        # a 0-d ndarray and a 0-d Tensor
        return {"loss": np.array(np.mean([s["loss"] for s in stats])), "acc": Tensor(np.mean([s["acc"] for s in stats]))}

