"""A catalog of realistic single-bug variants ("mutants") of the reference engine.

Each `Mutant` is one textual patch of one file of `reference/` (find the
exact text, which must occur once, and replace it) that plants the kind of
mistake students make. `target` is the fully qualified name of the class the
bug is in (the module that defines it, then the class name): a judge that
grades the mutant must take points off a check whose name starts with it.

`materialise(mutant, destination)` writes the patched copy of the whole
reference tree (`beras/`, `bgd/`, `nnmath.py`) into `destination`, laid out
like a submission. `materialise_float32(destination)` writes a *correct*
variant that computes in float32 (also a list of patches, `FLOAT32_PATCHES`),
which a judge must grade as fully as the reference.

Mutations live in the class's own file; where the class delegates to the
shared `nnmath` module, the call site is mutated, never `nnmath` itself (both
packages import it, and a mutant must hit exactly one class).
"""

import pathlib
import shutil
from dataclasses import dataclass

REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[1] / "reference"


@dataclass(frozen=True)
class Mutant:
    id: str  # short slug, unique in the catalog
    target: str  # FQN of the class that must lose points, e.g. "beras.layers.Dense"
    path: str  # file relative to the reference root, e.g. "beras/layers.py"
    find: str  # exact source text, occurring exactly once in that file
    replace: str  # the buggy text
    description: str  # the student mistake, one line


@dataclass(frozen=True)
class Patch:
    """One textual edit of one reference file (used for the float32 variant)."""

    path: str
    find: str
    replace: str


class PatchError(ValueError):
    """A patch's `find` text does not occur exactly once in its file."""


def apply_patch(root, path, find, replace, label="patch"):
    """Replace the single occurrence of `find` in `root / path` by `replace`."""
    file = pathlib.Path(root) / path
    source = file.read_text(encoding="utf-8")
    count = source.count(find)
    if count != 1:
        raise PatchError(
            f"{label}: the text to replace occurs {count} times in {path} (it must occur exactly once); "
            f"the reference has changed, update the catalog. Text:\n{find}"
        )
    file.write_text(source.replace(find, replace), encoding="utf-8")


def copy_reference(destination):
    """Copy the whole reference tree (without bytecode caches) into `destination`."""
    destination = pathlib.Path(destination)
    shutil.copytree(
        REFERENCE_DIR,
        destination,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    return destination


def materialise(mutant, destination):
    """Write the reference tree, with `mutant` applied, into `destination`; return its path."""
    destination = copy_reference(destination)
    apply_patch(destination, mutant.path, mutant.find, mutant.replace, label=f"mutant {mutant.id!r}")
    return destination


def module_of(path):
    """`"bgd/layers/fc.py"` -> `"bgd.layers.fc"` (a package's `__init__.py` -> the package)."""
    parts = pathlib.PurePosixPath(path).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


# ============================================================================ beras

_DENSE = "beras.layers.Dense"
_ACT = "beras/activations.py"
_LOSS = "beras/losses.py"
_OPT = "beras/optimizers.py"

# OneHotEncoder: the first-seen-order mutant also needs `call` to look the
# columns up in its dict (searchsorted needs the sorted order). Both edits are
# one patch: the text from `fit`'s body to `call`'s lookup.
_ONEHOT_FIND = (
    "        self.uniq = np.unique(labels)\n"
    "        # END SOLUTION\n"
    "\n"
    "    def call(self, labels):\n"
    "        # SOLUTION: one row per label, all zeros but a 1 in the column of that label's class\n"
    '        if not hasattr(self, "uniq"):\n'
    "            self.fit(labels)\n"
    "        columns = np.searchsorted(self.uniq, labels)\n"
    "        if np.any(columns >= len(self.uniq)) or np.any(self.uniq[np.minimum(columns, len(self.uniq) - 1)] != labels):\n"
    '            raise ValueError("labels not seen by fit()")\n'
)
_ONEHOT_REPLACE = (
    "        self.uniq = np.array(list(dict.fromkeys(np.asarray(labels).tolist())))\n"
    "        # END SOLUTION\n"
    "\n"
    "    def call(self, labels):\n"
    '        if not hasattr(self, "uniq"):\n'
    "            self.fit(labels)\n"
    "        column = {label: i for i, label in enumerate(self.uniq.tolist())}\n"
    "        try:\n"
    "            columns = np.array([column[label] for label in np.asarray(labels).tolist()], dtype=int)\n"
    "        except KeyError:\n"
    '            raise ValueError("labels not seen by fit()") from None\n'
)

# CategoricalCrossentropy: a student clips in `call` and in
# `get_input_gradients` alike, so the clipping mutants patch the text from
# `call`'s computation to the gradient's.
_CCE_FIND = (
    "        loss, _, _ = nnmath.crossentropy_rows_mean(np.asarray(y_pred), np.asarray(y_true), 1e-8, 1 - 1e-8)\n"
    "        return Tensor(loss)\n"
    "        # END SOLUTION\n"
    "\n"
    "    def get_input_gradients(self) -> list:\n"
    "        # SOLUTION: [dL/dy_pred, dL/dy_true] for the last call, each shaped like its input\n"
    "        y_pred, y_true = (np.asarray(t) for t in self.inputs)\n"
    "        _, grad_pred, grad_true = nnmath.crossentropy_rows_mean(y_pred, y_true, 1e-8, 1 - 1e-8)\n"
)


def _cce_clipped(lower, upper):
    """`_CCE_FIND` with the clip bounds of both calls replaced."""
    return _CCE_FIND.replace("1e-8, 1 - 1e-8)", f"{lower}, {upper})")


_CCE_UNCLIPPED = (
    "        y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)\n"
    "        return Tensor(-np.sum(y_true * np.log(y_pred)) / len(y_pred))\n"
    "        # END SOLUTION\n"
    "\n"
    "    def get_input_gradients(self) -> list:\n"
    "        y_pred, y_true = (np.asarray(t) for t in self.inputs)\n"
    "        grad_pred, grad_true = -y_true / y_pred / len(y_pred), -np.log(y_pred) / len(y_pred)\n"
)

_RMSPROP_FIND = (
    "            self.v[i] = nnmath.rmsprop_step(\n"
    "                param, np.asarray(grad), self.v[i], self.learning_rate, self.beta, self.epsilon\n"
    "            )\n"
)

_MODEL_STEP_FIND = (
    "        if training:\n"
    "            params = self.trainable_variables\n"
    "            grads = tape.gradient(loss, params)\n"
    "            self.optimizer.apply_gradients(params, grads)\n"
    "        acc = self.compiled_acc(predictions, y)\n"
)

BERAS_MUTANTS = [
    # ------------------------------------------------------------ Dense
    Mutant(
        "dense_input_grad_transposed",
        _DENSE,
        "beras/layers.py",
        "return [self.w]\n",
        "return [self.w.T]\n",
        "get_input_gradients returns w.T (out, in) instead of w (in, out)",
    ),
    Mutant(
        "dense_forward_without_bias",
        _DENSE,
        "beras/layers.py",
        "return nnmath.affine(x, self.w, self.b)",
        "return x @ self.w",
        "call forgets to add the bias b",
    ),
    Mutant(
        "dense_weight_grad_from_batch_mean",
        _DENSE,
        "beras/layers.py",
        "return [x[:, :, np.newaxis], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]",
        "return [x.mean(axis=0)[:, np.newaxis], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]",
        "weight gradient built from the batch-mean input instead of each sample's input",
    ),
    Mutant(
        "dense_bias_grad_divided_by_batch",
        _DENSE,
        "beras/layers.py",
        "np.ones((1, self.b.shape[-1]), dtype=x.dtype)]",
        "np.ones((1, self.b.shape[-1]), dtype=x.dtype) / len(x)]",
        "bias gradient divided by the batch size again (the loss already carries the 1/B)",
    ),
    Mutant(
        "dense_weight_grad_reshapes_input_in_place",
        _DENSE,
        "beras/layers.py",
        "        x = np.asarray(self.inputs[0])\n"
        "        return [x[:, :, np.newaxis], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]\n",
        "        x = self.inputs[0]\n"
        "        x.shape = x.shape + (1,)\n"
        "        return [x, np.ones((1, self.b.shape[-1]), dtype=x.dtype)]\n",
        "get_weight_gradients reshapes the caller's input array in place (x.shape = ...) to get (B, in, 1)",
    ),
    Mutant(
        "dense_weight_grad_batched_wrong_layout",
        _DENSE,
        "beras/layers.py",
        "return [x[:, :, np.newaxis], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]",
        "return [x[:, np.newaxis, :], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]",
        "get_weight_gradients returns the batched weight gradient laid out (B, 1, in) instead of (B, in, 1)",
    ),
    Mutant(
        "dense_weight_grad_not_implemented",
        _DENSE,
        "beras/layers.py",
        "        x = np.asarray(self.inputs[0])\n"
        "        return [x[:, :, np.newaxis], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]\n",
        '        raise NotImplementedError("Dense.get_weight_gradients: TODO")\n',
        "get_weight_gradients left as the template has it (raises NotImplementedError)",
    ),
    # ------------------------------------------------------------ LeakyReLU / ReLU
    Mutant(
        "leaky_relu_backward_ignores_alpha",
        "beras.activations.LeakyReLU",
        _ACT,
        "nnmath.leaky_relu_derivative(np.asarray(self.inputs[0]), self.alpha)",
        "nnmath.leaky_relu_derivative(np.asarray(self.inputs[0]), 0.0)",
        "backward uses slope 0 for negative inputs (the ReLU derivative) instead of alpha",
    ),
    Mutant(
        "leaky_relu_forward_mutates_input",
        "beras.activations.LeakyReLU",
        _ACT,
        "        return nnmath.leaky_relu(x, self.alpha)\n",
        "        x[x < 0] *= self.alpha\n        return x\n",
        "call scales the negative entries of the caller's input array in place and returns it",
    ),
    Mutant(
        "relu_forgets_alpha_zero",
        "beras.activations.ReLU",
        _ACT,
        "        super().__init__(alpha=0)\n",
        "        super().__init__()\n",
        "ReLU calls LeakyReLU's constructor without alpha=0, so it leaks with slope 0.3",
    ),
    Mutant(
        "relu_forward_mutates_input",
        "beras.activations.ReLU",
        _ACT,
        "        super().__init__(alpha=0)\n",
        "        super().__init__(alpha=0)\n\n    def call(self, x):\n        x[x < 0] = 0\n        return x\n",
        "ReLU.call zeroes the negative entries of the caller's input array in place (x[x < 0] = 0)",
    ),
    Mutant(
        "relu_backward_overwrites_input",
        "beras.activations.ReLU",
        _ACT,
        "        super().__init__(alpha=0)\n",
        "        super().__init__(alpha=0)\n\n"
        "    def get_input_gradients(self):\n"
        "        x = np.asarray(self.inputs[0])\n"
        "        x[x <= 0] = 0\n"
        "        x[x > 0] = 1\n"
        "        return [x]\n",
        "ReLU's derivative is computed by overwriting the saved input (the caller's array) with 0/1 in place",
    ),
    # ------------------------------------------------------------ Sigmoid / Tanh
    Mutant(
        "sigmoid_derivative_from_input",
        "beras.activations.Sigmoid",
        _ACT,
        "nnmath.sigmoid_derivative_from_output(np.asarray(self.outputs[0]))",
        "nnmath.sigmoid_derivative_from_output(np.asarray(self.inputs[0]))",
        "derivative s(1 - s) evaluated on the input x instead of the output s",
    ),
    Mutant(
        "tanh_derivative_from_input",
        "beras.activations.Tanh",
        _ACT,
        "nnmath.tanh_derivative_from_output(np.asarray(self.outputs[0]))",
        "nnmath.tanh_derivative_from_output(np.asarray(self.inputs[0]))",
        "derivative 1 - t^2 evaluated on the input x instead of the output t",
    ),
    Mutant(
        "tanh_derivative_misspelt_attribute",
        "beras.activations.Tanh",
        _ACT,
        "nnmath.tanh_derivative_from_output(np.asarray(self.outputs[0]))",
        "nnmath.tanh_derivative_from_output(np.asarray(self.output[0]))",
        "get_input_gradients reads self.output (a misspelt attribute): AttributeError",
    ),
    Mutant(
        "sigmoid_forward_in_place",
        "beras.activations.Sigmoid",
        _ACT,
        "        return nnmath.sigmoid(np.asarray(x))\n",
        "        x = np.asarray(x)\n        x[...] = 1 / (1 + np.exp(-x))\n        return x\n",
        "call writes the sigmoid into the caller's input array (x[...] = ...) and returns that array",
    ),
    Mutant(
        "sigmoid_call_overwrites_inputs",
        "beras.activations.Sigmoid",
        _ACT,
        "        return nnmath.sigmoid(np.asarray(x))\n",
        "        self.inputs = x\n        return nnmath.sigmoid(np.asarray(x))\n",
        "call stores self.inputs = x, replacing the list Diffable.__call__ set: the tape cannot reach x",
    ),
    Mutant(
        "tanh_forward_in_place",
        "beras.activations.Tanh",
        _ACT,
        "        return np.tanh(x)\n",
        "        return np.tanh(x, out=x)\n",
        "call computes np.tanh(x, out=x): the caller's input array is overwritten and returned",
    ),
    Mutant(
        "tanh_call_overwrites_inputs",
        "beras.activations.Tanh",
        _ACT,
        "        return np.tanh(x)\n",
        "        self.inputs = x\n        return np.tanh(x)\n",
        "call stores self.inputs = x, replacing the list Diffable.__call__ set: the tape cannot reach x",
    ),
    Mutant(
        "tanh_caches_first_output",
        "beras.activations.Tanh",
        _ACT,
        "        return np.tanh(x)\n",
        '        if not hasattr(self, "cached_output"):\n'
        "            self.cached_output = np.tanh(x)\n"
        "        return self.cached_output\n",
        "call memoises its first output and returns it for every later input",
    ),
    # ------------------------------------------------------------ Softmax
    Mutant(
        "softmax_diagonal_jacobian",
        "beras.activations.Softmax",
        _ACT,
        "        return [nnmath.softmax_jacobians(np.asarray(self.outputs[0]))]\n",
        "        jacobians = nnmath.softmax_jacobians(np.asarray(self.outputs[0]))\n"
        "        return [jacobians * np.eye(jacobians.shape[-1])]\n",
        "keeps only the diagonal s(1 - s) of each row's Jacobian",
    ),
    Mutant(
        "softmax_without_max_shift",
        "beras.activations.Softmax",
        _ACT,
        "        return nnmath.softmax(np.asarray(x))\n",
        "        e = np.exp(np.asarray(x))\n        return e / e.sum(axis=-1, keepdims=True)\n",
        "exp of the raw logits without subtracting the row max: overflows for large logits",
    ),
    Mutant(
        "softmax_mutates_input",
        "beras.activations.Softmax",
        _ACT,
        "        return nnmath.softmax(np.asarray(x))\n",
        "        x = np.asarray(x)\n        x -= x.max(axis=-1, keepdims=True)\n"
        "        e = np.exp(x)\n        return e / e.sum(axis=-1, keepdims=True)\n",
        "subtracts the row max from the caller's input array in place (x -= x.max(...))",
    ),
    Mutant(
        "softmax_call_overwrites_inputs",
        "beras.activations.Softmax",
        _ACT,
        "        return nnmath.softmax(np.asarray(x))\n",
        "        self.inputs = x\n        return nnmath.softmax(np.asarray(x))\n",
        "call stores self.inputs = x, replacing the list Diffable.__call__ set: the tape cannot reach x",
    ),
    # ------------------------------------------------------------ losses
    Mutant(
        "mse_grad_divided_by_batch_only",
        "beras.losses.MeanSquaredError",
        _LOSS,
        "        _, grad = nnmath.squared_error_mean(y_pred, y_true)\n",
        "        grad = 2 * (y_pred - y_true) / len(y_pred)\n",
        "gradient divides by the batch size only, not by the number of elements the mean is over",
    ),
    Mutant(
        "mse_grad_wrong_sign",
        "beras.losses.MeanSquaredError",
        _LOSS,
        "return [grad, -grad]",
        "return [-grad, grad]",
        "gradients of y_pred and y_true swapped in sign (d/dy_pred of (y_pred - y_true)^2 taken as negative)",
    ),
    Mutant(
        "cce_grad_missing_batch_mean",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        "return [grad_pred, grad_true]",
        "return [grad_pred * len(y_pred), grad_true * len(y_pred)]",
        "gradient of the batch mean misses the 1/B (×B too large)",
    ),
    Mutant(
        "mse_forward_subtracts_in_place",
        "beras.losses.MeanSquaredError",
        _LOSS,
        "        loss, _ = nnmath.squared_error_mean(np.asarray(y_pred), np.asarray(y_true))\n"
        "        return Tensor(loss)\n",
        "        diff = np.asarray(y_pred)\n"
        "        diff -= y_true\n"
        "        return Tensor(np.mean(diff**2))\n",
        "call computes y_pred - y_true in the caller's y_pred array (diff = y_pred; diff -= y_true)",
    ),
    Mutant(
        "mse_true_grad_equals_pred_grad",
        "beras.losses.MeanSquaredError",
        _LOSS,
        "return [grad, -grad]",
        "return [grad, grad]",
        "dL/dy_true returned with the sign of dL/dy_pred (the same array twice)",
    ),
    Mutant(
        "mse_true_grad_zeros",
        "beras.losses.MeanSquaredError",
        _LOSS,
        "return [grad, -grad]",
        "return [grad, np.zeros_like(grad)]",
        "dL/dy_true returned as zeros (the labels taken as constants)",
    ),
    Mutant(
        "cce_true_grad_wrong_sign",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        "return [grad_pred, grad_true]",
        "return [grad_pred, -grad_true]",
        "dL/dy_true = +log(p)/B instead of -log(p)/B",
    ),
    Mutant(
        "cce_true_grad_missing_batch_mean",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        "return [grad_pred, grad_true]",
        "return [grad_pred, grad_true * len(y_pred)]",
        "dL/dy_true misses the 1/B of the batch mean (-log(p) instead of -log(p)/B)",
    ),
    Mutant(
        "cce_true_grad_zeros",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        "return [grad_pred, grad_true]",
        "return [grad_pred, np.zeros_like(grad_true)]",
        "dL/dy_true returned as zeros (the labels taken as constants)",
    ),
    Mutant(
        "cce_true_grad_equals_pred_grad",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        "return [grad_pred, grad_true]",
        "return [grad_pred, grad_pred]",
        "dL/dy_true returned as dL/dy_pred",
    ),
    Mutant(
        "cce_clips_at_1e_3",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        _CCE_FIND,
        _cce_clipped("1e-3", "1 - 1e-3"),
        "probabilities clipped to [1e-3, 1 - 1e-3] instead of [1e-8, 1 - 1e-8], in the loss and its gradient",
    ),
    Mutant(
        "cce_clips_upper_side_only",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        _CCE_FIND,
        _cce_clipped("None", "1 - 1e-8"),
        "probabilities clipped at 1 - 1e-8 only, so a probability of 0 gives log(0)",
    ),
    Mutant(
        "cce_without_clip",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        _CCE_FIND,
        _CCE_UNCLIPPED,
        "log(y_pred) and -y_true / y_pred without any clipping",
    ),
    Mutant(
        "cce_clips_input_in_place",
        "beras.losses.CategoricalCrossentropy",
        _LOSS,
        "        loss, _, _ = nnmath.crossentropy_rows_mean(np.asarray(y_pred), np.asarray(y_true), 1e-8, 1 - 1e-8)\n",
        "        np.clip(y_pred, 1e-8, 1 - 1e-8, out=np.asarray(y_pred))\n"
        "        loss, _, _ = nnmath.crossentropy_rows_mean(np.asarray(y_pred), np.asarray(y_true), 1e-8, 1 - 1e-8)\n",
        "call clips the caller's y_pred array in place (np.clip(..., out=y_pred))",
    ),
    # ------------------------------------------------------------ metric, encoder
    Mutant(
        "accuracy_argmax_wrong_axis",
        "beras.metrics.CategoricalAccuracy",
        "beras/metrics.py",
        "np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1)",
        "np.argmax(probs, axis=0) == np.argmax(labels, axis=0)",
        "argmax over the batch axis instead of the class axis",
    ),
    Mutant(
        "onehot_first_seen_order",
        "beras.onehot.OneHotEncoder",
        "beras/onehot.py",
        _ONEHOT_FIND,
        _ONEHOT_REPLACE,
        "classes numbered in order of first appearance instead of np.unique (sorted) order",
    ),
    Mutant(
        "accuracy_one_hots_probs_in_place",
        "beras.metrics.CategoricalAccuracy",
        "beras/metrics.py",
        "        return np.mean(np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1))\n",
        "        probs = np.asarray(probs)\n"
        "        probs[...] = probs == probs.max(axis=-1, keepdims=True)\n"
        "        return np.mean(np.all(probs == labels, axis=-1))\n",
        "rounds the caller's probabilities to one-hot rows in place, then compares them with the labels",
    ),
    Mutant(
        "onehot_fit_sorts_labels_in_place",
        "beras.onehot.OneHotEncoder",
        "beras/onehot.py",
        "        self.uniq = np.unique(labels)\n",
        "        labels.sort()\n        self.uniq = np.unique(labels)\n",
        "fit sorts the caller's label array in place (labels.sort()) before taking its unique values",
    ),
    # ------------------------------------------------------------ optimizers
    Mutant(
        "sgd_rebinds_parameter",
        "beras.optimizers.BasicOptimizer",
        _OPT,
        "            nnmath.sgd_step(param, np.asarray(grad), self.learning_rate)\n",
        "            param = param - self.learning_rate * np.asarray(grad)\n",
        "param = param - lr * g rebinds the loop variable: the model's weights never change",
    ),
    Mutant(
        "rmsprop_forgets_running_average",
        "beras.optimizers.RMSProp",
        _OPT,
        "            self.v[i] = nnmath.rmsprop_step(\n",
        "            nnmath.rmsprop_step(\n",
        "the running mean of squared gradients is never stored, so every step starts from 0",
    ),
    Mutant(
        "adam_without_bias_correction",
        "beras.optimizers.Adam",
        _OPT,
        "param -= nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon)",
        "param -= nnmath.adam_delta(self.learning_rate, self.m[i], self.v[i], self.epsilon)",
        "uses the raw moments m, v instead of the bias-corrected m_hat, v_hat",
    ),
    Mutant(
        "adam_counts_steps_per_parameter",
        "beras.optimizers.Adam",
        _OPT,
        "        self.t += 1\n        for i, (param, grad) in enumerate(zip(trainable_params, grads)):\n",
        "        for i, (param, grad) in enumerate(zip(trainable_params, grads)):\n            self.t += 1\n",
        "increments the step counter once per parameter instead of once per apply_gradients call",
    ),
    Mutant(
        "sgd_ascends",
        "beras.optimizers.BasicOptimizer",
        _OPT,
        "            nnmath.sgd_step(param, np.asarray(grad), self.learning_rate)\n",
        "            param += self.learning_rate * np.asarray(grad)\n",
        "param += lr * g: steps up the gradient",
    ),
    Mutant(
        "rmsprop_ascends",
        "beras.optimizers.RMSProp",
        _OPT,
        _RMSPROP_FIND,
        "            grad = np.asarray(grad)\n"
        "            self.v[i] = self.beta * self.v[i] + (1 - self.beta) * grad**2\n"
        "            param += self.learning_rate * grad / (np.sqrt(self.v[i]) + self.epsilon)\n",
        "param += lr * g / (sqrt(v) + eps): steps up the gradient",
    ),
    Mutant(
        "rmsprop_stores_new_param_in_list",
        "beras.optimizers.RMSProp",
        _OPT,
        _RMSPROP_FIND,
        "            grad = np.asarray(grad)\n"
        "            self.v[i] = self.beta * self.v[i] + (1 - self.beta) * grad**2\n"
        "            trainable_params[i] = param - self.learning_rate * grad / (np.sqrt(self.v[i]) + self.epsilon)\n",
        "trainable_params[i] = param - ...: a new array replaces the list entry, the model's weights never change",
    ),
    Mutant(
        "rmsprop_resets_state_every_call",
        "beras.optimizers.RMSProp",
        _OPT,
        "        # SOLUTION: update the running mean of squared gradients",
        "        self.v = defaultdict(lambda: 0)  # one running mean per parameter\n"
        "        # SOLUTION: update the running mean of squared gradients",
        "the running means are (re)created at the start of apply_gradients, so every step starts from v = 0",
    ),
    Mutant(
        "adam_ascends",
        "beras.optimizers.Adam",
        _OPT,
        "param -= nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon)",
        "param += nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon)",
        "param += lr * m_hat / (sqrt(v_hat) + eps): steps up the gradient",
    ),
    Mutant(
        "adam_stores_new_param_in_list",
        "beras.optimizers.Adam",
        _OPT,
        "param -= nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon)",
        "trainable_params[i] = param - nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon)",
        "trainable_params[i] = param - delta: a new array replaces the list entry, the model's weights never change",
    ),
    Mutant(
        "adam_resets_moments_every_call",
        "beras.optimizers.Adam",
        _OPT,
        "        # SOLUTION: count the step;",
        "        self.m, self.v = defaultdict(lambda: 0), defaultdict(lambda: 0)  # the moments of each parameter\n"
        "        # SOLUTION: count the step;",
        "the moments are (re)created at the start of apply_gradients: every step starts from m = v = 0 (t still counts)",
    ),
    Mutant(
        "adam_state_shared_by_shape",
        "beras.optimizers.Adam",
        _OPT,
        "        for i, (param, grad) in enumerate(zip(trainable_params, grads)):\n"
        "            self.m[i], self.v[i], m_hat, v_hat",
        "        for param, grad in zip(trainable_params, grads):\n"
        "            i = np.shape(param)  # the moments of a parameter, keyed by its shape\n"
        "            self.m[i], self.v[i], m_hat, v_hat",
        "moments keyed by the parameter's shape: two parameters of the same shape share m and v",
    ),
    Mutant(
        "adam_amsgrad_max_of_bias_corrected",
        "beras.optimizers.Adam",
        _OPT,
        "                self.v_max[i] = np.maximum(self.v_max[i], self.v[i])\n"
        "                v_hat = self.v_max[i] / (1.0 - self.beta_2**self.t)\n",
        "                self.v_max[i] = v_hat = np.maximum(self.v_max[i], v_hat)\n",
        "amsgrad takes the max over the bias-corrected v_hat instead of over the raw v (SPEC: v_max = max(v_max, v))",
    ),
    # ------------------------------------------------------------ tape
    Mutant(
        "tape_overwrites_on_fan_out",
        "beras.gradient_tape.GradientTape",
        "beras/gradient_tape.py",
        "grads[key] = grad if grads.get(key) is None else grads[key] + grad",
        "grads[key] = grad",
        "a tensor used by two layers keeps only the last contribution instead of their sum",
    ),
    Mutant(
        "tape_visits_layers_forward",
        "beras.gradient_tape.GradientTape",
        "beras/gradient_tape.py",
        "        return order[::-1]\n",
        "        return order\n",
        "processes the layers input-first, before the layers that consume their outputs",
    ),
    # ------------------------------------------------------------ model
    Mutant(
        "model_evaluate_trains",
        "beras.model.SequentialModel",
        "beras/model.py",
        "return self._run_batches(x, y, batch_size, training=False)",
        "return self._run_batches(x, y, batch_size, training=True)",
        "evaluate runs training steps, changing the weights",
    ),
    Mutant(
        "model_step_records_the_model",
        "beras.model.SequentialModel",
        "beras/model.py",
        "            predictions = self.call(x)\n",
        "            predictions = self(x)\n",
        "batch_step calls self(x), so the tape records the model (not its layers) as the producer",
    ),
    Mutant(
        "model_eval_step_freezes_weights",
        "beras.model.SequentialModel",
        "beras/model.py",
        "        if training:\n            params = self.trainable_variables\n",
        "        if not training:\n"
        "            self.trainable = False  # evaluation must not train\n"
        "        if training:\n            params = self.trainable_variables\n",
        "batch_step(training=False) sets the model's trainable flag False and leaves it: later fits train nothing",
    ),
    Mutant(
        "model_step_toggles_layers_trainable",
        "beras.model.SequentialModel",
        "beras/model.py",
        _MODEL_STEP_FIND,
        "        for layer in self.layers:\n"
        "            layer.trainable = training  # freeze the layers when evaluating\n"
        + _MODEL_STEP_FIND
        + "        for layer in self.layers:\n"
        "            layer.trainable = True  # and unfreeze them afterwards\n",
        "batch_step sets every layer's trainable to `training`, then to True: weights the user froze get trained",
    ),
    Mutant(
        "model_fit_shuffles_data_in_place",
        "beras.model.SequentialModel",
        "beras/model.py",
        "        for _ in range(epochs):\n            stats = self._run_batches(x, y, batch_size, training=True)\n",
        "        for _ in range(epochs):\n"
        "            state = np.random.get_state()\n"
        "            np.random.shuffle(x)\n"
        "            np.random.set_state(state)\n"
        "            np.random.shuffle(y)\n"
        "            stats = self._run_batches(x, y, batch_size, training=True)\n",
        "fit shuffles the caller's x and y arrays in place each epoch (np.random.shuffle)",
    ),
    # ------------------------------------------------------------ core (given code)
    Mutant(
        "diffable_input_vjp_untransposed",
        "beras.core.Diffable",
        "beras/core.py",
        "else upstream @ g.T",
        "else upstream @ g",
        "compose_input_gradients multiplies by g instead of g.T for a shared (in, out) Jacobian",
    ),
    Mutant(
        "diffable_weight_vjp_averaged",
        "beras.core.Diffable",
        "beras/core.py",
        "summed = g * u.sum(axis=0)",
        "summed = g * u.mean(axis=0)",
        "compose_weight_gradients averages a shared gradient over the batch instead of summing",
    ),
    Mutant(
        "tensor_not_trainable_by_default",
        "beras.core.Tensor",
        "beras/core.py",
        "        obj.trainable = True\n",
        "        obj.trainable = False\n",
        "a new Tensor is created with trainable False, so no weight is ever trained",
    ),
    Mutant(
        "callable_returns_raw_result",
        "beras.core.Callable",
        "beras/core.py",
        "        return Tensor(self.call(*args, **kwargs))\n",
        "        return self.call(*args, **kwargs)\n",
        "Callable.__call__ returns call's result as it is, not cast to Tensor",
    ),
]

# ============================================================================ bgd

_FC = "bgd.layers.fc.FullyConnected"
_BGD_ACT = "bgd.layers.activation.Activation"
_CONV = "bgd.layers.conv2d.Convolutional2D"
_POOL = "bgd.layers.max_pooling2d.MaxPooling2D"
_DROP = "bgd.layers.dropout.Dropout"
_BGD_OPT = "bgd/optimizers.py"



def _rebinding_update(*names):
    """An `update_parameters` override that rebinds the layer's parameter
    attributes to new arrays (`self.weights = self.weights - delta`)."""
    first, second = names
    return (
        "\n"
        "    def update_parameters(self, delta_fragments):\n"
        f"        self.{first} = self.{first} - delta_fragments[0]\n"
        "        if self.with_bias:\n"
        f"            self.{second} = self.{second} - delta_fragments[1]\n"
    )


_BGD_CE_FIND = (
    "        return float(nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[0])\n"
    "        # END SOLUTION\n"
    "\n"
    "    def grad(self, y, y_hat):\n"
    "        # SOLUTION: the gradient of eval with respect to y_hat (not with respect to the logits), using the same epsilon bound, shaped like y_hat\n"
    "        return nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[1]\n"
)
_FC_PARAMETERS = (
    "    def get_parameters(self):\n"
    "        if self.with_bias:\n"
    "            return (self.weights, self.biases)\n"
    "        return (self.weights,)\n"
)
_CONV_PARAMETERS = _FC_PARAMETERS.replace("weights", "filters")

BGD_MUTANTS = [
    # ------------------------------------------------------------ Layer (given code)
    Mutant(
        "layer_update_rebinds_parameter",
        "bgd.layers.layer.Layer",
        "bgd/layers/layer.py",
        "            parameter -= delta\n",
        "            parameter = parameter - delta\n",
        "update_parameters rebinds the loop variable (parameter = parameter - delta): nothing changes",
    ),
    Mutant(
        "layer_backward_ignores_propagate",
        "bgd.layers.layer.Layer",
        "bgd/layers/layer.py",
        "        if self.propagate or self.learnable():\n",
        "        if True:\n",
        "backward computes and returns a signal even when propagation is deactivated",
    ),
    Mutant(
        "layer_update_adds_deltas",
        "bgd.layers.layer.Layer",
        "bgd/layers/layer.py",
        "            parameter -= delta\n",
        "            parameter += delta\n",
        "update_parameters adds the deltas instead of subtracting them",
    ),
    # ------------------------------------------------------------ FullyConnected
    Mutant(
        "fc_weight_grad_transposed",
        _FC,
        "bgd/layers/fc.py",
        "        gradients = (grad_weights, grad_biases) if self.with_bias else (grad_weights,)\n",
        "        grad_weights = error.T @ self.current_input\n"
        "        gradients = (grad_weights, grad_biases) if self.with_bias else (grad_weights,)\n",
        "weight gradient computed as error.T @ X, shaped (n_out, n_in) instead of X.T @ error",
    ),
    Mutant(
        "fc_bias_grad_not_summed",
        _FC,
        "bgd/layers/fc.py",
        "gradients = (grad_weights, grad_biases) if self.with_bias",
        "gradients = (grad_weights, error) if self.with_bias",
        "bias gradient returned per sample (N, n_out) instead of summed over the batch",
    ),
    Mutant(
        "fc_bias_grad_one_percent_off",
        _FC,
        "bgd/layers/fc.py",
        "gradients = (grad_weights, grad_biases) if self.with_bias",
        "gradients = (grad_weights, grad_biases * 1.01) if self.with_bias",
        "bias gradient 1 % too large",
    ),
    Mutant(
        "fc_ignores_propagate",
        _FC,
        "bgd/layers/fc.py",
        "return (signal if self.propagate else None), gradients",
        "return signal, gradients",
        "returns the signal even when propagation is deactivated",
    ),
    Mutant(
        "fc_update_rebinds_weights",
        _FC,
        "bgd/layers/fc.py",
        _FC_PARAMETERS,
        _FC_PARAMETERS + _rebinding_update("weights", "biases"),
        "overrides update_parameters with self.weights = self.weights - delta: the arrays get_parameters() gave are stale",
    ),
    # ------------------------------------------------------------ Activation
    Mutant(
        "activation_sigmoid_derivative_from_input",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "error * nnmath.sigmoid_derivative_from_output(self.current_output)",
        "error * nnmath.sigmoid_derivative_from_output(self.current_input)",
        "sigmoid derivative s(1 - s) evaluated on the input instead of the output",
    ),
    Mutant(
        "activation_tanh_one_percent_off",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "return error * nnmath.tanh_derivative_from_output(self.current_output)",
        "return error * nnmath.tanh_derivative_from_output(self.current_output) * 1.01",
        "tanh backward 1 % too large",
    ),
    Mutant(
        "activation_softmax_diagonal_only",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "return nnmath.softmax_vjp(self.current_output, error)",
        "return error * self.current_output * (1.0 - self.current_output)",
        "softmax backward multiplies by the Jacobian's diagonal s(1 - s) only (the original library's bug)",
    ),
    Mutant(
        "activation_relu_mutates_input",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "            return nnmath.leaky_relu(X, 0.0)\n",
        "            X[X < 0] = 0\n            return X\n",
        "relu forward zeroes the negative entries of the caller's input array in place",
    ),
    Mutant(
        "activation_softmax_without_max_shift",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "        return nnmath.softmax(X)\n",
        "        e = np.exp(X)\n        return e / e.sum(axis=-1, keepdims=True)\n",
        "softmax of the raw logits without subtracting the row max: overflows for large logits",
    ),
    Mutant(
        "activation_sigmoid_in_place",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "            return nnmath.sigmoid(X)\n",
        "            X[...] = 1 / (1 + np.exp(-X))\n            return X\n",
        "sigmoid forward writes its result into the caller's input array and returns it",
    ),
    Mutant(
        "activation_tanh_in_place",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "            return np.tanh(X)\n",
        "            return np.tanh(X, out=X)\n",
        "tanh forward is np.tanh(X, out=X): the caller's input array is overwritten and returned",
    ),
    Mutant(
        "activation_softmax_in_place",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "        return nnmath.softmax(X)\n",
        "        X -= X.max(axis=-1, keepdims=True)\n"
        "        np.exp(X, out=X)\n"
        "        X /= X.sum(axis=-1, keepdims=True)\n"
        "        return X\n",
        "softmax forward computed in the caller's input array (X -= max; exp(out=X); X /= sum) and returned",
    ),
    Mutant(
        "activation_relu_backward_overwrites_input",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "            return error * nnmath.leaky_relu_derivative(self.current_input, 0.0)\n",
        "            X = self.current_input\n"
        "            X[X <= 0] = 0\n"
        "            X[X > 0] = 1\n"
        "            return error * X\n",
        "relu backward turns the saved input (the caller's array) into the 0/1 derivative in place (the original library's bug)",
    ),
    Mutant(
        "activation_sigmoid_backward_scales_error_in_place",
        _BGD_ACT,
        "bgd/layers/activation.py",
        "            return error * nnmath.sigmoid_derivative_from_output(self.current_output)\n",
        "            error *= nnmath.sigmoid_derivative_from_output(self.current_output)\n            return error\n",
        "sigmoid backward multiplies the upstream error array in place (error *= ...) and returns it",
    ),
    # ------------------------------------------------------------ Convolutional2D
    Mutant(
        "conv_backward_ignores_strides",
        _CONV,
        "bgd/layers/conv2d.py",
        "                rows = slice(a, a + s0 * (out_height - 1) + 1, s0)\n"
        "                cols = slice(b, b + s1 * (out_width - 1) + 1, s1)\n",
        "                rows = slice(a, a + out_height)\n                cols = slice(b, b + out_width)\n",
        "input gradient scatters each filter offset to contiguous pixels: right only for stride 1",
    ),
    Mutant(
        "conv_forward_flips_filters",
        _CONV,
        "bgd/layers/conv2d.py",
        'out = np.einsum("nhwcab,fabc->nhwf", self._windows(X), self.filters, optimize=True)',
        'out = np.einsum("nhwcab,fabc->nhwf", self._windows(X), self.filters[:, ::-1, ::-1, :], optimize=True)',
        "forward is a true convolution (flipped filters), not the cross-correlation the backward assumes",
    ),
    Mutant(
        "conv_filter_grad_one_wrong_entry",
        _CONV,
        "bgd/layers/conv2d.py",
        "        if self.with_bias:\n            gradients = (grad_filters, error.sum(axis=(0, 1, 2)))\n",
        "        grad_filters[0, 0, 0, 0] += 0.5\n"
        "        if self.with_bias:\n            gradients = (grad_filters, error.sum(axis=(0, 1, 2)))\n",
        "one entry of the filter gradient is off by 0.5 (a stray accumulation)",
    ),
    Mutant(
        "conv_bias_grad_averaged_over_positions",
        _CONV,
        "bgd/layers/conv2d.py",
        "gradients = (grad_filters, error.sum(axis=(0, 1, 2)))",
        "gradients = (grad_filters, error.mean(axis=(1, 2)).sum(axis=0))",
        "bias gradient averages over the output positions instead of summing",
    ),
    Mutant(
        "conv_update_rebinds_filters",
        _CONV,
        "bgd/layers/conv2d.py",
        _CONV_PARAMETERS,
        _CONV_PARAMETERS + _rebinding_update("filters", "biases"),
        "overrides update_parameters with self.filters = self.filters - delta: the arrays get_parameters() gave are stale",
    ),
    # ------------------------------------------------------------ MaxPooling2D
    Mutant(
        "pool_grad_to_every_window_element",
        _POOL,
        "bgd/layers/max_pooling2d.py",
        "        n_images, height, width, channels = self.input_shape\n"
        "        pool_width = self.pool_shape[1]\n",
        "        signal = np.zeros(self.input_shape, dtype=error.dtype)\n"
        "        pool_height, pool_width = self.pool_shape\n"
        "        for i in range(error.shape[1]):\n"
        "            for j in range(error.shape[2]):\n"
        "                top, left = i * self.strides[0], j * self.strides[1]\n"
        "                signal[:, top : top + pool_height, left : left + pool_width, :] += error[:, i : i + 1, j : j + 1, :]\n"
        "        return signal\n",
        "backward sends each output's error to every element of its window, not just the maximum",
    ),
    Mutant(
        "pool_grad_to_last_maximum",
        _POOL,
        "bgd/layers/max_pooling2d.py",
        "self.argmax = flat.argmax(axis=-1)  # first maximum of each window",
        "self.argmax = flat.shape[-1] - 1 - flat[..., ::-1].argmax(axis=-1)  # last maximum",
        "on ties the error goes to the last maximum of the window (a >= comparison in the scan)",
    ),
    Mutant(
        "pool_overwrites_overlapping_windows",
        _POOL,
        "bgd/layers/max_pooling2d.py",
        "        signal = np.bincount(flat_index.ravel(), weights=error.ravel(), minlength=n_images * height * width * channels)\n",
        "        signal = np.zeros(n_images * height * width * channels)\n"
        "        signal[flat_index.ravel()] = error.ravel()\n",
        "signal[index] = error overwrites where windows overlap instead of adding the errors up",
    ),
    Mutant(
        "pool_keeps_first_argmax",
        _POOL,
        "bgd/layers/max_pooling2d.py",
        "        self.argmax = flat.argmax(axis=-1)  # first maximum of each window\n",
        '        if getattr(self, "argmax", None) is None or self.argmax.shape != flat.shape[:-1]:\n'
        "            self.argmax = flat.argmax(axis=-1)  # computed once per input shape\n",
        "the positions of the maxima are computed for the first input of each shape and reused for later inputs",
    ),
    # ------------------------------------------------------------ Dropout
    Mutant(
        "dropout_without_rescale",
        _DROP,
        "bgd/layers/dropout.py",
        "        return X * self.mask / self.keep_proba\n",
        "        return X * self.mask\n",
        "forward keeps the units without dividing by keep_proba (not inverted dropout)",
    ),
    Mutant(
        "dropout_backward_draws_new_mask",
        _DROP,
        "bgd/layers/dropout.py",
        "return error * self.mask / self.keep_proba",
        "return error * (np.random.rand(*error.shape) < self.keep_proba) / self.keep_proba",
        "backward draws a fresh mask instead of reusing the forward one",
    ),
    Mutant(
        "dropout_forward_in_place",
        _DROP,
        "bgd/layers/dropout.py",
        "        return X * self.mask / self.keep_proba\n",
        "        X *= self.mask / self.keep_proba\n        return X\n",
        "forward applies the mask to the caller's input array in place (X *= mask / keep_proba) and returns it",
    ),
    Mutant(
        "dropout_backward_scales_error_in_place",
        _DROP,
        "bgd/layers/dropout.py",
        "        return error * self.mask / self.keep_proba\n",
        "        error *= self.mask / self.keep_proba\n        return error\n",
        "backward applies the mask to the upstream error array in place and returns it",
    ),
    Mutant(
        "dropout_reuses_first_mask",
        _DROP,
        "bgd/layers/dropout.py",
        "        self.mask = np.random.rand(*X.shape) < self.keep_proba\n",
        "        if self.mask is None or self.mask.shape != X.shape:\n"
        "            self.mask = np.random.rand(*X.shape) < self.keep_proba\n",
        "draws a mask only for the first batch of each shape and reuses it forever after",
    ),
    Mutant(
        "dropout_mask_from_fixed_seed",
        _DROP,
        "bgd/layers/dropout.py",
        "        self.mask = np.random.rand(*X.shape) < self.keep_proba\n",
        "        self.mask = np.random.default_rng(0).random(X.shape) < self.keep_proba\n",
        "the mask comes from a generator seeded with 0 in forward: the same mask every call and every run",
    ),
    Mutant(
        "dropout_reseeds_global_generator",
        _DROP,
        "bgd/layers/dropout.py",
        "        self.mask = np.random.rand(*X.shape) < self.keep_proba\n",
        "        np.random.seed(0)  # reproducible masks\n"
        "        self.mask = np.random.rand(*X.shape) < self.keep_proba\n",
        "forward calls np.random.seed(0) before drawing: the same mask every call, whatever the caller's seed",
    ),
    # ------------------------------------------------------------ Flatten
    Mutant(
        "flatten_backward_keeps_flat_shape",
        "bgd.layers.flatten.Flatten",
        "bgd/layers/flatten.py",
        "return error.reshape(self.input_shape)",
        "return error",
        "backward returns the flat error without restoring the input's shape",
    ),
    Mutant(
        "flatten_forward_reshapes_input_in_place",
        "bgd.layers.flatten.Flatten",
        "bgd/layers/flatten.py",
        "        return X.reshape(X.shape[0], -1)\n",
        "        X.shape = (X.shape[0], -1)\n        return X\n",
        "forward reshapes the caller's input array itself (X.shape = ...) and returns it",
    ),
    Mutant(
        "flatten_backward_reshapes_error_in_place",
        "bgd.layers.flatten.Flatten",
        "bgd/layers/flatten.py",
        "        return error.reshape(self.input_shape)\n",
        "        error.shape = self.input_shape\n        return error\n",
        "backward reshapes the upstream error array itself (error.shape = ...) and returns it",
    ),
    # ------------------------------------------------------------ costs
    Mutant(
        "mse_grad_missing_batch_division",
        "bgd.cost.MSE",
        "bgd/cost.py",
        "return 0.5 * nnmath.squared_error_mean(y_hat, y)[1]",
        "return (y_hat - y) / y_hat.shape[1]",
        "gradient divides by the number of outputs only, not by every element (×N too large)",
    ),
    Mutant(
        "crossentropy_grad_is_y_hat_minus_y",
        "bgd.cost.CrossEntropy",
        "bgd/cost.py",
        "return nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[1]",
        "return (y_hat - y) / len(y_hat)",
        "returns the gradient with respect to the softmax logits, (y_hat - y) / N, not with respect to y_hat",
    ),
    Mutant(
        "mse_cost_grad_in_place",
        "bgd.cost.MSE",
        "bgd/cost.py",
        "        return 0.5 * nnmath.squared_error_mean(y_hat, y)[1]\n",
        "        y_hat -= y\n        y_hat /= y_hat.size\n        return y_hat\n",
        "grad computes (y_hat - y) / size in the caller's prediction array and returns it",
    ),
    Mutant(
        "crossentropy_epsilon_1e_3",
        "bgd.cost.CrossEntropy",
        "bgd/cost.py",
        "    def __init__(self, epsilon=1e-15):\n",
        "    def __init__(self, epsilon=1e-3):\n",
        "default epsilon 1e-3 instead of 1e-15: probabilities below 1e-3 are raised to 1e-3",
    ),
    Mutant(
        "crossentropy_without_epsilon",
        "bgd.cost.CrossEntropy",
        "bgd/cost.py",
        _BGD_CE_FIND,
        "        return float(-np.sum(y * np.log(y_hat)) / len(y_hat))\n"
        "        # END SOLUTION\n"
        "\n"
        "    def grad(self, y, y_hat):\n"
        "        return -y / y_hat / len(y_hat)\n",
        "eval and grad use log(y_hat) and y / y_hat without the epsilon bound",
    ),
    Mutant(
        "crossentropy_clamps_predictions_in_place",
        "bgd.cost.CrossEntropy",
        "bgd/cost.py",
        "        return float(nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[0])\n",
        "        np.maximum(y_hat, self.epsilon, out=y_hat)\n"
        "        return float(nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[0])\n",
        "eval raises the caller's predictions to epsilon in place (np.maximum(..., out=y_hat))",
    ),
    # ------------------------------------------------------------ optimizers
    Mutant(
        "momentum_wrong_sign",
        "bgd.optimizers.MomentumOptimizer",
        _BGD_OPT,
        "delta = nnmath.momentum_delta(grad, self.previous_deltas.get(key, 0.0), self.learning_rate, self.momentum)",
        "delta = self.learning_rate * grad - self.momentum * self.previous_deltas.get(key, 0.0)",
        "subtracts the momentum term instead of adding it",
    ),
    Mutant(
        "momentum_forgets_previous_delta",
        "bgd.optimizers.MomentumOptimizer",
        _BGD_OPT,
        "                self.previous_deltas[key] = delta\n",
        "",
        "never stores the delta, so the momentum term is always 0 (plain gradient descent)",
    ),
    Mutant(
        "adam_optimizer_without_bias_correction",
        "bgd.optimizers.AdamOptimizer",
        _BGD_OPT,
        "deltas.append(nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon))",
        "deltas.append(nnmath.adam_delta(self.learning_rate, m, v, self.epsilon))",
        "uses the raw moments m, v instead of the bias-corrected m_hat, v_hat",
    ),
    Mutant(
        "adam_optimizer_counts_steps_per_layer",
        "bgd.optimizers.AdamOptimizer",
        _BGD_OPT,
        "        self.step += 1\n        for layer, fragments in self.gradient_fragments:\n",
        "        for layer, fragments in self.gradient_fragments:\n            self.step += 1\n",
        "increments the step once per queued layer instead of once per update()",
    ),
    Mutant(
        "momentum_ascends",
        "bgd.optimizers.MomentumOptimizer",
        _BGD_OPT,
        "delta = nnmath.momentum_delta(grad, self.previous_deltas.get(key, 0.0), self.learning_rate, self.momentum)",
        "delta = self.momentum * self.previous_deltas.get(key, 0.0) - self.learning_rate * grad",
        "delta = momentum * previous - lr * g (the velocity form) handed to update_parameters, which subtracts it",
    ),
    Mutant(
        "momentum_state_keyed_by_index",
        "bgd.optimizers.MomentumOptimizer",
        _BGD_OPT,
        "                key = (id(layer), index)\n                delta = ",
        "                key = index\n                delta = ",
        "previous deltas keyed by the parameter's index only: layers share (and overwrite) each other's momentum",
    ),
    Mutant(
        "adam_optimizer_ascends",
        "bgd.optimizers.AdamOptimizer",
        _BGD_OPT,
        "deltas.append(nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon))",
        "deltas.append(-nnmath.adam_delta(self.learning_rate, m_hat, v_hat, self.epsilon))",
        "the delta is negated, so update_parameters steps up the gradient",
    ),
    Mutant(
        "adam_optimizer_state_keyed_by_index",
        "bgd.optimizers.AdamOptimizer",
        _BGD_OPT,
        "                key = (id(layer), index)\n                m, v = ",
        "                key = index\n                m, v = ",
        "moments keyed by the parameter's index only: layers share (and overwrite) each other's m and v",
    ),
    # ------------------------------------------------------------ NeuralStack
    Mutant(
        "stack_never_updates",
        "bgd.nn.NeuralStack",
        "bgd/nn.py",
        "                    self.optimizer.update()\n",
        "",
        "train queues the gradients but never calls optimizer.update()",
    ),
    Mutant(
        "stack_does_not_feed_signal_back",
        "bgd.nn.NeuralStack",
        "bgd/nn.py",
        "                        signal, gradients = layer.backward(signal)\n",
        "                        _, gradients = layer.backward(signal)\n",
        "every layer's backward receives the cost gradient instead of the next layer's signal",
    ),
]

MUTANTS = BERAS_MUTANTS + BGD_MUTANTS

# Mutants that cost a time limit (graded with a short --timeout by the tests that use
# them), kept out of MUTANTS so that grading the whole catalog stays quick.
SLOW_MUTANTS = [
    Mutant(
        "sigmoid_backward_never_returns",
        "beras.activations.Sigmoid",
        _ACT,
        "        return [nnmath.sigmoid_derivative_from_output(np.asarray(self.outputs[0]))]\n",
        "        while True:  # waits for a convergence that never comes\n"
        "            pass\n",
        "get_input_gradients loops forever",
    ),
]


MUTANTS_BY_ID = {m.id: m for m in MUTANTS + SLOW_MUTANTS}


# ============================================================================ float32

_F32 = "np.float32"

FLOAT32_PATCHES = [
    # ------------------------------------------------------------ beras
    Patch(
        "beras/layers.py",
        "return Variable(w), Variable(np.zeros((1, output_size)))",
        f"return Variable(w.astype({_F32})), Variable(np.zeros((1, output_size), dtype={_F32}))",
    ),
    Patch(
        "beras/layers.py",
        "return nnmath.affine(x, self.w, self.b)",
        f"return nnmath.affine(np.asarray(x, dtype={_F32}), self.w, self.b)",
    ),
    Patch(
        "beras/layers.py", "x = np.asarray(self.inputs[0])", f"x = np.asarray(self.inputs[0], dtype={_F32})"
    ),
    Patch(
        "beras/activations.py",
        "return nnmath.leaky_relu(x, self.alpha)",
        f"return nnmath.leaky_relu(np.asarray(x, dtype={_F32}), self.alpha)",
    ),
    Patch(
        "beras/activations.py",
        "nnmath.leaky_relu_derivative(np.asarray(self.inputs[0]), self.alpha)",
        f"nnmath.leaky_relu_derivative(np.asarray(self.inputs[0], dtype={_F32}), self.alpha)",
    ),
    Patch(
        "beras/activations.py",
        "nnmath.sigmoid(np.asarray(x))",
        f"nnmath.sigmoid(np.asarray(x, dtype={_F32}))",
    ),
    Patch("beras/activations.py", "return np.tanh(x)", f"return np.tanh(np.asarray(x, dtype={_F32}))"),
    Patch(
        "beras/activations.py",
        "nnmath.softmax(np.asarray(x))",
        f"nnmath.softmax(np.asarray(x, dtype={_F32}))",
    ),
    Patch(
        "beras/losses.py",
        "nnmath.squared_error_mean(np.asarray(y_pred), np.asarray(y_true))",
        f"nnmath.squared_error_mean(np.asarray(y_pred, dtype={_F32}), np.asarray(y_true, dtype={_F32}))",
    ),
    Patch(
        "beras/losses.py",
        "        y_pred, y_true = (np.asarray(t) for t in self.inputs)\n        _, grad =",
        f"        y_pred, y_true = (np.asarray(t, dtype={_F32}) for t in self.inputs)\n        _, grad =",
    ),
    Patch(
        "beras/losses.py",
        "nnmath.crossentropy_rows_mean(np.asarray(y_pred), np.asarray(y_true), 1e-8, 1 - 1e-8)",
        f"nnmath.crossentropy_rows_mean(np.asarray(y_pred, dtype={_F32}), np.asarray(y_true, dtype={_F32}), 1e-8, 1 - 1e-8)",
    ),
    Patch(
        "beras/losses.py",
        "        y_pred, y_true = (np.asarray(t) for t in self.inputs)\n        _, grad_pred,",
        f"        y_pred, y_true = (np.asarray(t, dtype={_F32}) for t in self.inputs)\n        _, grad_pred,",
    ),
    # The optimizers keep the parameters' own dtype (float32 for our Dense).
    Patch(
        "beras/optimizers.py",
        "nnmath.sgd_step(param, np.asarray(grad), self.learning_rate)",
        "nnmath.sgd_step(param, np.asarray(grad, dtype=param.dtype), self.learning_rate)",
    ),
    Patch(
        "beras/optimizers.py",
        "                param, np.asarray(grad), self.v[i],",
        "                param, np.asarray(grad, dtype=param.dtype), self.v[i],",
    ),
    Patch(
        "beras/optimizers.py",
        "                np.asarray(grad), self.m[i], self.v[i], self.t,",
        "                np.asarray(grad, dtype=param.dtype), self.m[i], self.v[i], self.t,",
    ),
    # ------------------------------------------------------------ bgd
    Patch("bgd/layers/fc.py", "copy=False, dtype=np.float64):", f"copy=False, dtype={_F32}):"),
    Patch(
        "bgd/layers/fc.py",
        "        if self.with_bias:\n            return nnmath.affine(X, self.weights, self.biases)\n",
        f"        X = np.asarray(X, dtype={_F32})\n"
        "        if self.with_bias:\n            return nnmath.affine(X, self.weights, self.biases)\n",
    ),
    Patch(
        "bgd/layers/fc.py",
        "nnmath.affine_vjp(self.current_input, self.weights, error)",
        f"nnmath.affine_vjp(np.asarray(self.current_input, dtype={_F32}), self.weights, np.asarray(error, dtype={_F32}))",
    ),
    Patch(
        "bgd/layers/activation.py",
        "        if self.function == Activation.SIGMOID:\n            return nnmath.sigmoid(X)\n",
        f"        X = np.asarray(X, dtype={_F32})\n"
        "        if self.function == Activation.SIGMOID:\n            return nnmath.sigmoid(X)\n",
    ),
    Patch(
        "bgd/layers/activation.py",
        "        if self.function == Activation.SIGMOID:\n            return error * nnmath.sigmoid_derivative_from_output",
        f"        error = np.asarray(error, dtype={_F32})\n"
        "        if self.function == Activation.SIGMOID:\n            return error * nnmath.sigmoid_derivative_from_output",
    ),
    Patch(
        "bgd/layers/activation.py",
        "nnmath.leaky_relu_derivative(self.current_input, 0.0)",
        f"nnmath.leaky_relu_derivative(np.asarray(self.current_input, dtype={_F32}), 0.0)",
    ),
    Patch(
        "bgd/layers/conv2d.py",
        "self.filters = np.random.randn(self.n_filters, *self.filter_shape) * np.sqrt(2.0 / fan_in)",
        f"self.filters = (np.random.randn(self.n_filters, *self.filter_shape) * np.sqrt(2.0 / fan_in)).astype({_F32})",
    ),
    Patch(
        "bgd/layers/conv2d.py",
        "self.biases = np.zeros(self.n_filters) if with_bias else None",
        f"self.biases = np.zeros(self.n_filters, dtype={_F32}) if with_bias else None",
    ),
    Patch(
        "bgd/layers/conv2d.py",
        "return self._correlate(X)",
        f"return self._correlate(np.asarray(X, dtype={_F32}))",
    ),
    Patch(
        "bgd/layers/conv2d.py",
        '        grad_filters = np.einsum("nhwf,nhwcab->fabc", error, self._windows(self.current_input), optimize=True)\n',
        f"        error = np.asarray(error, dtype={_F32})\n"
        f'        grad_filters = np.einsum("nhwf,nhwcab->fabc", error, self._windows(np.asarray(self.current_input, dtype={_F32})), optimize=True)\n',
    ),
    Patch(
        "bgd/layers/max_pooling2d.py",
        "        self._check_input(X)\n        pool_height, pool_width = self.pool_shape\n",
        f"        self._check_input(X)\n        X = np.asarray(X, dtype={_F32})\n        pool_height, pool_width = self.pool_shape\n",
    ),
    Patch(
        "bgd/layers/max_pooling2d.py",
        "return signal.reshape(self.input_shape).astype(error.dtype, copy=False)",
        f"return signal.reshape(self.input_shape).astype({_F32})",
    ),
    Patch(
        "bgd/layers/dropout.py",
        "return X * self.mask / self.keep_proba",
        f"return np.asarray(X, dtype={_F32}) * self.mask / {_F32}(self.keep_proba)",
    ),
    Patch(
        "bgd/layers/dropout.py",
        "return error * self.mask / self.keep_proba",
        f"return np.asarray(error, dtype={_F32}) * self.mask / {_F32}(self.keep_proba)",
    ),
    Patch(
        "bgd/cost.py",
        "float(nnmath.squared_error_mean(y_hat, y)[0])",
        f"float(nnmath.squared_error_mean(np.asarray(y_hat, dtype={_F32}), np.asarray(y, dtype={_F32}))[0])",
    ),
    Patch(
        "bgd/cost.py",
        "0.5 * nnmath.squared_error_mean(y_hat, y)[1]",
        f"0.5 * nnmath.squared_error_mean(np.asarray(y_hat, dtype={_F32}), np.asarray(y, dtype={_F32}))[1]",
    ),
    Patch(
        "bgd/cost.py",
        "float(nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[0])",
        f"float(nnmath.crossentropy_rows_mean(np.asarray(y_hat, dtype={_F32}), np.asarray(y, dtype={_F32}), self.epsilon)[0])",
    ),
    Patch(
        "bgd/cost.py",
        "return nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[1]",
        f"return nnmath.crossentropy_rows_mean(np.asarray(y_hat, dtype={_F32}), np.asarray(y, dtype={_F32}), self.epsilon)[1]",
    ),
]


def materialise_float32(destination):
    """Write the float32 variant of the reference (correct, computing in
    float32) into `destination`; return its path."""
    destination = copy_reference(destination)
    for number, patch in enumerate(FLOAT32_PATCHES):
        apply_patch(
            destination, patch.path, patch.find, patch.replace, label=f"float32 patch {number} ({patch.path})"
        )
    return destination
