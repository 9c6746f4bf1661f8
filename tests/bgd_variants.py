"""Submissions of bgd built for the fairness tests (tests/test_bgd_fairness.py).

- `CORRECT_VARIANTS`: correct submissions that make each choice SPEC leaves
  open differently from the reference (patches of `reference/`, as in
  tests/mutants.py). A fair judge gives each full marks on every seed.
- `KIND_BUGS`: one single-bug variant per kind of fault the bgd checks must
  charge to the class that has it, and to no other (tests/mutants.py holds
  the general catalog; these are the kinds issue 6 names for bgd).
"""

import pathlib

from mutants import Mutant, copy_reference

# ------------------------------------------------------------------ correct variants

_LEAN = "save_input=False, save_output=False"


def _edit(root, path, find, replace, count=None):
    """Replace every occurrence of `find` (exactly `count` of them, when given)."""
    file = pathlib.Path(root) / path
    source = file.read_text(encoding="utf-8")
    found = source.count(find)
    if found == 0 or (count is not None and found != count):
        raise ValueError(f"{path}: {find!r} occurs {found} times")
    file.write_text(source.replace(find, replace), encoding="utf-8")


def _lean_layers(root):
    """No layer keeps current_input / current_output (SPEC 4: a constructor may
    turn them off); each keeps what its backward needs under its own names."""
    for path in ("bgd/layers/fc.py", "bgd/layers/activation.py", "bgd/layers/conv2d.py"):
        _edit(root, path, "Layer.__init__(self, copy=copy)", f"Layer.__init__(self, copy=copy, {_LEAN})", 1)
        _edit(root, path, "self.current_input", "self._seen_input")
    _edit(root, "bgd/layers/max_pooling2d.py", "Layer.__init__(self)", f"Layer.__init__(self, {_LEAN})", 1)
    _edit(root, "bgd/layers/fc.py", "        if self.with_bias:\n            return nnmath.affine",
          "        self._seen_input = X\n        if self.with_bias:\n            return nnmath.affine", 1)
    _edit(root, "bgd/layers/conv2d.py", "        self._check_input(X)\n        return self._correlate(X)",
          "        self._check_input(X)\n        self._seen_input = X\n        return self._correlate(X)", 1)
    _edit(root, "bgd/layers/activation.py", "    def _forward(self, X):\n",
          "    def _forward(self, X):\n        self._seen_input = X\n        self._seen_output = self._compute(X)\n"
          "        return self._seen_output\n\n    def _compute(self, X):\n", 1)
    _edit(root, "bgd/layers/activation.py", "self.current_output", "self._seen_output")


def _dropout_on_in_eval(root):
    """NeuralStack.eval leaves every Dropout as it is (SPEC 4: either choice)."""
    _edit(root, "bgd/nn.py", "        dropouts = [(layer, layer.active) for layer in self.layers if isinstance(layer, Dropout)]\n",
          "        dropouts = []\n", 1)


def _epoch_losses(root):
    """train returns a list of Python floats, the mean cost of each epoch."""
    _edit(root, "bgd/nn.py", "        return np.asarray(losses, dtype=np.float64)\n",
          "        per_epoch = len(losses) // max(epochs, 1)\n"
          "        return [float(np.mean(losses[i * per_epoch : (i + 1) * per_epoch])) for i in range(epochs)]\n", 1)


def _plain_train_and_own_updates(root):
    """train in the given order, propagation of the first layer left on, and
    per epoch the cost of the whole training set after the epoch; the learnable
    layers override update_parameters (in place); the optimizers key their
    state by the layer object."""
    _edit(root, "bgd/nn.py", "                order = np.random.permutation(len(X))\n", "                order = np.arange(len(X))\n", 1)
    _edit(root, "bgd/nn.py", "        first_layer.deactivate_propagation()\n", "", 1)
    _edit(root, "bgd/nn.py", "                    losses.append(float(self.cost.eval(batch_y, output)))\n", "", 1)
    _edit(root, "bgd/nn.py", "                    self.optimizer.update()\n",
          "                    self.optimizer.update()\n"
          "                everything = X\n"
          "                for layer in self.layers:\n"
          "                    everything = layer.forward(everything)\n"
          "                losses.append(self.cost.eval(y, everything))\n", 1)
    for path, first in (("bgd/layers/fc.py", "weights"), ("bgd/layers/conv2d.py", "filters")):
        _edit(root, path, "    def get_parameters(self):\n",
              "    def update_parameters(self, delta_fragments):\n"
              f"        self.{first} -= delta_fragments[0]\n"
              "        if self.with_bias:\n"
              "            self.biases -= delta_fragments[1]\n\n"
              "    def get_parameters(self):\n", 1)
    _edit(root, "bgd/optimizers.py", "                key = (id(layer), index)\n", "                key = (layer, index)\n", 2)


def _float32_optimizers(root):
    """The optimizers compute their deltas (and keep their state) in float32."""
    _edit(root, "bgd/optimizers.py", "            for index, grad in enumerate(fragments):\n",
          "            for index, grad in enumerate(fragments):\n                grad = np.asarray(grad, dtype=np.float32)\n", 2)
    _edit(root, "bgd/optimizers.py", "self.learning_rate, self.momentum)", "np.float32(self.learning_rate), np.float32(self.momentum))", 1)
    _edit(root, "bgd/optimizers.py", "self.step, self.beta_1, self.beta_2)", "self.step, np.float32(self.beta_1), np.float32(self.beta_2))", 1)
    _edit(root, "bgd/optimizers.py", "nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon)",
          "nnmath.adam_delta(np.float32(self.learning_rate), m_hat, v_hat, np.float32(self.epsilon))", 1)


CORRECT_VARIANTS = {
    "lean_layers": _lean_layers,
    "dropout_on_in_eval": _dropout_on_in_eval,
    "epoch_losses": _epoch_losses,
    "plain_train_and_own_updates": _plain_train_and_own_updates,
    "float32_optimizers": _float32_optimizers,
}


def materialise_variant(name, destination):
    """The reference with the correct variant `name` applied (or "float32": tests/mutants.py's)."""
    if name == "float32":
        from mutants import materialise_float32

        return materialise_float32(destination)
    destination = copy_reference(destination)
    CORRECT_VARIANTS[name](destination)
    return destination


# ------------------------------------------------------------------ one bug per kind

_FC_PARAMETERS = (
    "    def get_parameters(self):\n"
    "        if self.with_bias:\n"
    "            return (self.weights, self.biases)\n"
    "        return (self.weights,)\n"
)


def _rebinding(first):
    return (
        _FC_PARAMETERS.replace("weights", first)
        + "\n    def update_parameters(self, delta_fragments):\n"
        f"        self.{first} = self.{first} - delta_fragments[0]\n"
        "        if self.with_bias:\n"
        "            self.biases = self.biases - delta_fragments[1]\n"
    )


KIND_BUGS = [
    Mutant("base_update_adds", "bgd.layers.layer.Layer", "bgd/layers/layer.py", "            parameter -= delta\n",
           "            parameter += delta\n", "the given update_parameters adds the deltas"),
    Mutant("base_keeps_output_regardless", "bgd.layers.layer.Layer", "bgd/layers/layer.py", "        if self.save_output:\n",
           "        if True:\n", "the given forward keeps current_output even with save_output=False"),
    Mutant("fc_update_rebinds", "bgd.layers.fc.FullyConnected", "bgd/layers/fc.py", _FC_PARAMETERS, _rebinding("weights"),
           "FullyConnected.update_parameters rebinds self.weights to a new array"),
    Mutant("conv_update_adds", "bgd.layers.conv2d.Convolutional2D", "bgd/layers/conv2d.py",
           _FC_PARAMETERS.replace("weights", "filters"),
           _FC_PARAMETERS.replace("weights", "filters") + "\n    def update_parameters(self, delta_fragments):\n"
           "        self.filters += delta_fragments[0]\n        if self.with_bias:\n            self.biases += delta_fragments[1]\n",
           "Convolutional2D.update_parameters adds the deltas, in place"),
    Mutant("pool_argmax_cached_per_shape", "bgd.layers.max_pooling2d.MaxPooling2D", "bgd/layers/max_pooling2d.py",
           "        self.argmax = flat.argmax(axis=-1)  # first maximum of each window\n",
           '        if getattr(self, "argmax", None) is None or self.argmax.shape != flat.shape[:-1]:\n'
           "            self.argmax = flat.argmax(axis=-1)\n",
           "the positions of the maxima are kept from the first input of each shape (state between calls)"),
    Mutant("activation_returns_mutated_input", "bgd.layers.activation.Activation", "bgd/layers/activation.py",
           "            return np.tanh(X)\n", "            return np.tanh(X, out=X)\n",
           "tanh forward writes into the caller's input and returns it (an alias)"),
    Mutant("dropout_forward_in_place", "bgd.layers.dropout.Dropout", "bgd/layers/dropout.py",
           "        return X * self.mask / self.keep_proba\n", "        X *= self.mask / self.keep_proba\n        return X\n",
           "forward applies the mask to the caller's array in place and returns it"),
    Mutant("dropout_same_mask_every_run", "bgd.layers.dropout.Dropout", "bgd/layers/dropout.py",
           "        self.mask = np.random.rand(*X.shape) < self.keep_proba\n",
           "        self.mask = np.random.default_rng(0).random(X.shape) < self.keep_proba\n",
           "the mask comes from a generator seeded with 0: the same mask every call and every run"),
    Mutant("momentum_state_shared_between_layers", "bgd.optimizers.MomentumOptimizer", "bgd/optimizers.py",
           "                key = (id(layer), index)\n                delta = ", "                key = index\n                delta = ",
           "previous deltas keyed by the parameter's index only: layers share them"),
    Mutant("adam_writes_parameters_itself", "bgd.optimizers.AdamOptimizer", "bgd/optimizers.py",
           "                deltas.append(nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon))\n"
           "            layer.update_parameters(tuple(deltas))\n",
           "                deltas.append(nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon))\n"
           "            for parameter, delta in zip(layer.get_parameters(), deltas):\n"
           "                parameter -= delta\n",
           "update() subtracts the deltas from get_parameters() itself instead of calling update_parameters"),
    Mutant("stack_fakes_losses", "bgd.nn.NeuralStack", "bgd/nn.py",
           "        X, y = self._check_training_setup(X, y, epochs, batch_size)\n",
           "        return np.linspace(1.0, 0.01, epochs)\n",
           "train trains nothing and returns decreasing numbers"),
    Mutant("stack_shuffles_caller_arrays", "bgd.nn.NeuralStack", "bgd/nn.py",
           "                order = np.random.permutation(len(X))\n",
           "                state = np.random.get_state()\n                np.random.shuffle(X)\n"
           "                np.random.set_state(state)\n                np.random.shuffle(y)\n"
           "                order = np.arange(len(X))\n",
           "train shuffles the caller's X and y in place"),
]
