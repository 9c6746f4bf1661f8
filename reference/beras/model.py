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
        # SOLUTION: the output of the last layer, each layer called (as `layer(x)`, so a tape records it) on the previous one's output
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x
        # END SOLUTION

    def get_input_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def batch_step(self, x, y, training=True):
        """One batch: loss and accuracy; with `training`, also one optimizer step."""
        # SOLUTION: the loss and accuracy of the model on (x, y) as floats in {"loss": ..., "acc": ...}; when training, also update the trainable variables once with the optimizer, using the tape's gradients
        with GradientTape() as tape:
            # `self.call`, not `self(...)`: the tape must see the layers, not the model.
            predictions = self.call(x)
            loss = self.compiled_loss(predictions, y)
        if training:
            params = self.trainable_variables
            grads = tape.gradient(loss, params)
            self.optimizer.apply_gradients(params, grads)
        acc = self.compiled_acc(predictions, y)
        return {"loss": float(loss), "acc": float(acc)}
        # END SOLUTION

    def fit(self, x, y, epochs, batch_size):
        """Train; return {"loss": [mean per epoch], "acc": [mean per epoch]}."""
        # SOLUTION: train for `epochs` passes over (x, y) in batches of batch_size (the last one may be smaller), returning the mean loss and accuracy of each epoch's batches
        history = {"loss": [], "acc": []}
        for _ in range(epochs):
            stats = self._run_batches(x, y, batch_size, training=True)
            for key in history:
                history[key].append(stats[key])
        return history
        # END SOLUTION

    def evaluate(self, x, y, batch_size):
        """Loss and accuracy on (x, y), changing no weight."""
        # SOLUTION: the mean loss and accuracy over batches of batch_size, without training, as {"loss": float, "acc": float}
        return self._run_batches(x, y, batch_size, training=False)
        # END SOLUTION

    # SOLUTION
    def _run_batches(self, x, y, batch_size, training):
        results = [
            self.batch_step(x[start : start + batch_size], y[start : start + batch_size], training=training)
            for start in range(0, len(x), batch_size)
        ]
        return {key: float(np.mean([r[key] for r in results])) for key in ("loss", "acc")}

    # END SOLUTION
