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
        raise NotImplementedError("GradientTape.gradient: TODO the gradient of `target` for every tensor in `sources` (None for a source that `target` does not depend on); a tensor used by several layers gets the sum of their contributions")

