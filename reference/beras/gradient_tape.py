"""Reverse-mode differentiation over the layers a tape recorded."""

from collections import defaultdict

import numpy as np

from .core import Diffable


class GradientTape:
    """Records which layer produced each tensor while the `with` block runs.

    `previous_layers` maps `id(output)` to the layer whose call returned it;
    a layer's `inputs` lead back to the layers before it.
    """

    def __init__(self):
        self.previous_layers = defaultdict(lambda: None)

    def __enter__(self):
        if Diffable.gradient_tape is not None:
            raise RuntimeError("Cannot nest gradient tapes.")
        Diffable.gradient_tape = self
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        Diffable.gradient_tape = None

    def gradient(self, target, sources):
        """dtarget/dsource for each source, shaped like it (None if unconnected).

        A tensor used by several layers receives the sum of their
        contributions, so every layer must be processed after all the layers
        that consumed its output: we visit them in reverse topological order.
        """
        # SOLUTION: the gradient of `target` for every tensor in `sources` (None for a source that `target` does not depend on); a tensor used by several layers gets the sum of their contributions
        # A 0-d target is a loss: its layer's J starts as None, as in the
        # course. Any other target is differentiated as the sum of its entries.
        grads = {id(target): None if np.ndim(target) == 0 else np.ones(np.shape(target))}
        for layer in self._layers_in_reverse_topological_order(target):
            upstream = grads.get(id(layer.outputs[0]))
            J = None if upstream is None else [upstream]
            for inp, g in zip(layer.inputs, layer.compose_input_gradients(J)):
                self._accumulate(grads, inp, g)
            for w, g in zip(layer.weights, layer.compose_weight_gradients(J)):
                self._accumulate(grads, w, g)
        return [None if grads.get(id(s)) is None else np.reshape(grads[id(s)], np.shape(s)) for s in sources]
        # END SOLUTION

    # SOLUTION
    def _layers_in_reverse_topological_order(self, target):
        """Layers that lead to `target`, each before the layers that fed it."""
        order, seen = [], set()

        def visit(tensor):
            layer = self.previous_layers[id(tensor)]
            if layer is None or id(layer) in seen:
                return
            seen.add(id(layer))
            for inp in layer.inputs:
                visit(inp)
            order.append(layer)

        visit(target)
        return order[::-1]

    @staticmethod
    def _accumulate(grads, tensor, grad):
        key = id(tensor)
        grads[key] = grad if grads.get(key) is None else grads[key] + grad

    # END SOLUTION
