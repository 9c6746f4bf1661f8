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
        # pull-based: the gradient of a tensor is the sum, over the layers that
        # consumed it, of what each consumer sends back; memoised per tensor and per layer
        consumers = defaultdict(list)  # id(tensor) -> layers that took it as input or weight
        seen = set()

        def collect(tensor):
            layer = self.previous_layers.get(id(tensor))
            if layer is None or id(layer) in seen:
                return
            seen.add(id(layer))
            for t in list(layer.inputs) + list(layer.weights):
                consumers[id(t)].append(layer)
            for t in layer.inputs:
                collect(t)

        collect(target)
        sent = {}  # id(layer) -> {id(tensor): its contribution}
        memo = {}

        def grad_of(tensor):
            key = id(tensor)
            if key == id(target):
                return None if np.ndim(target) == 0 else np.ones(np.shape(target))
            if key in memo:
                return memo[key]
            total = None
            for layer in consumers.get(key, []):
                part = contributions(layer).get(key)
                if part is not None:
                    total = part if total is None else total + part
            memo[key] = total
            return total

        def contributions(layer):
            if id(layer) not in sent:
                out = layer.outputs[0]
                upstream = grad_of(out)
                if upstream is None and id(out) != id(target):
                    sent[id(layer)] = {}
                else:
                    J = None if upstream is None else [upstream]
                    parts = {}
                    for t, g in zip(layer.inputs, layer.compose_input_gradients(J)):
                        parts[id(t)] = parts[id(t)] + g if id(t) in parts else np.asarray(g)
                    for t, g in zip(layer.weights, layer.compose_weight_gradients(J)):
                        parts[id(t)] = parts[id(t)] + g if id(t) in parts else np.asarray(g)
                    sent[id(layer)] = parts
            return sent[id(layer)]

        result = []
        for source in sources:
            g = grad_of(source) if id(source) != id(target) else None
            result.append(None if g is None else np.reshape(g, np.shape(source)))
        return result

