"""The base class of every layer (given code: do not change it)."""

from abc import ABCMeta, abstractmethod

import numpy as np


class Layer(metaclass=ABCMeta):
    """Base class for neural and non-neural layers.

    Each layer implements `_forward` and `_backward`: the output shape of the
    forward pass is the input shape of the backward pass, and vice versa.
    Arrays are batch first.

    Args:
        copy (bool): whether to copy the saved output when it may share
            memory with the input.
        save_input (bool): whether to keep a reference to the input array.
        save_output (bool): whether to keep a reference to the output array.
            A subclass may turn either off and keep what its `_backward`
            needs under names of its own.

    Attributes:
        input_shape (tuple): shape of the last input array.
        current_input (np.ndarray): the last input array (when saved).
        current_output (np.ndarray): the last output array (when saved).
        propagate (bool): whether `backward` computes the signal for the
            previous layer. Usually False for the first layer of a network,
            which has no one to send the signal to.
    """

    def __init__(self, copy=False, save_input=True, save_output=True):
        self.input_shape = None
        self.copy = copy
        self.save_input = save_input
        self.save_output = save_output
        self.current_input = None
        self.current_output = None
        self.propagate = True

    def activate_propagation(self):
        """Compute the signal for the previous layer during `backward`."""
        self.propagate = True

    def deactivate_propagation(self):
        """Do not compute the signal for the previous layer during `backward`."""
        self.propagate = False

    def get_parameters(self):
        """The tuple of the layer's parameter arrays, or None when it has none.

        The arrays are the very ones the layer computes with: writing into
        them (`p[...] = value`) changes what the layer computes.
        """
        return None

    def learnable(self):
        """Whether the layer has parameters to learn."""
        return self.get_parameters() is not None

    def update_parameters(self, delta_fragments):
        """`params[i] -= delta_fragments[i]` in place, for every parameter in
        the order `get_parameters()` gives them."""
        parameters = self.get_parameters()
        if parameters is None:
            raise TypeError(f"{type(self).__name__} has no parameters to update")
        if len(delta_fragments) != len(parameters):
            raise ValueError(
                f"{type(self).__name__} has {len(parameters)} parameter arrays, "
                f"got {len(delta_fragments)} delta fragments"
            )
        for parameter, delta in zip(parameters, delta_fragments, strict=True):
            parameter -= delta

    def forward(self, X):
        """Record the input shape, save the input and the output if asked, and
        return `_forward(X)`.

        The saved output is a copy when `copy` is set and the output may share
        memory with the input.
        """
        self.input_shape = X.shape
        if self.save_input:
            self.current_input = X
        output = self._forward(X)
        if self.save_output:
            self.current_output = output
            if self.copy and np.may_share_memory(output, X):
                self.current_output = np.copy(output)
        return output

    def backward(self, error):
        """Return `(signal, gradients)` for `error` = dLoss/d(output).

        `signal` is dLoss/d(input), or None when propagation is off;
        `gradients` is the tuple of dLoss/d(parameter) in the order of
        `get_parameters()`, or None for a layer without parameters.
        """
        if self.propagate or self.learnable():
            out = self._backward(error)
            if not isinstance(out, tuple):
                out = (out, None)
            return out
        return (None, None)

    @abstractmethod
    def _forward(self, X):
        """The layer's output for the input batch `X`."""

    @abstractmethod
    def _backward(self, error):
        """The signal, or `(signal, gradients)` for a learnable layer, for
        `error` = dLoss/d(output) of the last forward pass."""
