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
        order, visited = [], set()

        def visit(tensor):  # depth first, producers before consumers
            layer = self.previous_layers.get(id(tensor))
            if layer is None or id(layer) in visited:
                return
            visited.add(id(layer))
            for inp in layer.inputs:
                visit(inp)
            order.append(layer)

        visit(target)
        grads = {}
        for layer in reversed(order):
            if layer.outputs[0] is target:
                J = None if np.ndim(target) == 0 else [np.ones(np.shape(target))]
            elif id(layer.outputs[0]) in grads:
                J = [grads[id(layer.outputs[0])]]
            else:
                continue
            pairs = list(zip(layer.inputs, layer.compose_input_gradients(J)))
            pairs += list(zip(layer.weights, layer.compose_weight_gradients(J)))
            for tensor, g in pairs:
                grads[id(tensor)] = grads[id(tensor)] + g if id(tensor) in grads else np.asarray(g)
        return [np.reshape(grads[id(s)], np.shape(s)) if id(s) in grads else None for s in sources]

