"""Variants of the reference for the generic checks (harness/gradcheck.py).

Correct variants (`VARIANTS`) make choices SPEC leaves open: where the
parameters are stored and what precision the code computes in (SPEC 4:
"store its parameters in one and compute in the other"), which gradient a
clipped cross-entropy returns inside the clipped region. A judge must give
each full marks on every seed. `HALF` computes in float16 (outside SPEC):
its failures must say so plainly. `BUGS` are single bugs that the generic
checks must charge to their own class, and only to the check that judges
what is wrong (`must_pass`: checks of the same class that must not pay for
it). Each is a list of textual patches of the reference, as in
`tests/mutants.py` (whose catalog and float32 variant this module reuses).
"""

from dataclasses import dataclass

from mutants import FLOAT32_PATCHES, Patch, apply_patch, copy_reference, materialise_float32

F32, F64, F16 = "np.float32", "np.float64", "np.float16"


@dataclass(frozen=True)
class Variant:
    id: str
    description: str
    patches: tuple
    target: str = ""  # BUGS: the class that must lose points
    must_fail: tuple = ()  # BUGS: titles (after "target: ") of checks that must fail
    must_pass: tuple = ()  # BUGS: titles of checks of the same class that must still pass


def materialise(variant, destination):
    """The reference tree with the variant's patches, in `destination`."""
    if variant.id == "all_float32":
        return materialise_float32(destination)
    destination = copy_reference(destination)
    for number, patch in enumerate(variant.patches):
        apply_patch(destination, patch.path, patch.find, patch.replace, label=f"{variant.id} patch {number}")
    return destination


# ---------------------------------------------------------------- correct variants

_DENSE_INIT = "return Variable(w), Variable(np.zeros((1, output_size)))"
_FC_FORWARD = "        if self.with_bias:\n            return nnmath.affine(X, self.weights, self.biases)\n        return X @ self.weights\n"
_FC_VJP = "nnmath.affine_vjp(self.current_input, self.weights, error)"
_CONV_INIT = "self.filters = np.random.randn(self.n_filters, *self.filter_shape) * np.sqrt(2.0 / fan_in)"
_CONV_BIAS = "self.biases = np.zeros(self.n_filters) if with_bias else None"

FLOAT32_STORAGE_FLOAT64_COMPUTE = (
    Patch("beras/layers.py", _DENSE_INIT,
          f"return Variable(w.astype({F32})), Variable(np.zeros((1, output_size), dtype={F32}))"),
    Patch("beras/layers.py", "return nnmath.affine(x, self.w, self.b)",
          f"return nnmath.affine(np.asarray(x, dtype={F64}), self.w.astype({F64}), self.b.astype({F64}))"),
    Patch("beras/layers.py", "return [self.w]\n", f"return [np.asarray(self.w, dtype={F64})]\n"),
    Patch("bgd/layers/fc.py", "copy=False, dtype=np.float64):", f"copy=False, dtype={F32}):"),
    Patch("bgd/layers/fc.py", _FC_FORWARD,
          f"        X, W = np.asarray(X, dtype={F64}), self.weights.astype({F64})\n"
          f"        if self.with_bias:\n            return nnmath.affine(X, W, self.biases.astype({F64}))\n"
          "        return X @ W\n"),
    Patch("bgd/layers/fc.py", _FC_VJP,
          f"nnmath.affine_vjp(np.asarray(self.current_input, dtype={F64}), self.weights.astype({F64}), np.asarray(error, dtype={F64}))"),
    Patch("bgd/layers/conv2d.py", _CONV_INIT, f"self.filters = ({_CONV_INIT.split(' = ', 1)[1]}).astype({F32})"),
    Patch("bgd/layers/conv2d.py", _CONV_BIAS, f"self.biases = np.zeros(self.n_filters, dtype={F32}) if with_bias else None"),
    Patch("bgd/layers/conv2d.py", "self._windows(X), self.filters, optimize=True)",
          f"self._windows(np.asarray(X, dtype={F64})), self.filters.astype({F64}), optimize=True)"),
    Patch("bgd/layers/conv2d.py", "dtype=np.result_type(error, self.filters))", f"dtype={F64})"),
)

# Parameters stay float64; every computation casts to float32 and returns float32.
_COMPUTE_ONLY = [p for p in FLOAT32_PATCHES if p.path not in ("beras/layers.py", "bgd/layers/fc.py", "bgd/layers/conv2d.py")
                 and "optimizers" not in p.path]
FLOAT64_STORAGE_FLOAT32_COMPUTE = tuple(_COMPUTE_ONLY) + (
    Patch("beras/layers.py", "return nnmath.affine(x, self.w, self.b)",
          f"return nnmath.affine(np.asarray(x, dtype={F32}), self.w.astype({F32}), self.b.astype({F32}))"),
    Patch("beras/layers.py", "return [self.w]\n", f"return [self.w.astype({F32})]\n"),
    Patch("beras/layers.py", "x = np.asarray(self.inputs[0])", f"x = np.asarray(self.inputs[0], dtype={F32})"),
    Patch("bgd/layers/fc.py", _FC_FORWARD,
          f"        X, W = np.asarray(X, dtype={F32}), self.weights.astype({F32})\n"
          f"        if self.with_bias:\n            return nnmath.affine(X, W, self.biases.astype({F32}))\n"
          "        return X @ W\n"),
    Patch("bgd/layers/fc.py", _FC_VJP,
          f"nnmath.affine_vjp(np.asarray(self.current_input, dtype={F32}), self.weights.astype({F32}), np.asarray(error, dtype={F32}))"),
    Patch("bgd/layers/conv2d.py", "return self._correlate(X)", f"return self._correlate(np.asarray(X, dtype={F32}))"),
    Patch("bgd/layers/conv2d.py", "self._windows(X), self.filters, optimize=True)",
          f"self._windows(X), self.filters.astype({F32}), optimize=True)"),
    Patch("bgd/layers/conv2d.py", "            out += self.biases\n", f"            out += self.biases.astype({F32})\n"),
    Patch("bgd/layers/conv2d.py",
          '        grad_filters = np.einsum("nhwf,nhwcab->fabc", error, self._windows(self.current_input), optimize=True)\n',
          f"        error = np.asarray(error, dtype={F32})\n"
          f'        grad_filters = np.einsum("nhwf,nhwcab->fabc", error, self._windows(np.asarray(self.current_input, dtype={F32})), optimize=True)\n'),
    Patch("bgd/layers/conv2d.py", "dtype=np.result_type(error, self.filters))", f"dtype={F32})"),
    Patch("bgd/layers/conv2d.py", "signal[:, rows, cols, :] += error @ self.filters[:, a, b, :]",
          f"signal[:, rows, cols, :] += error @ self.filters[:, a, b, :].astype({F32})"),
)

# float32 arithmetic, results handed back as float64 (or Python floats):
# only the values tell the precision.
FLOAT32_COMPUTE_FLOAT64_RESULTS = (
    Patch("beras/layers.py", "return nnmath.affine(x, self.w, self.b)",
          f"return nnmath.affine(np.asarray(x, dtype={F32}), self.w.astype({F32}), self.b.astype({F32})).astype({F64})"),
    Patch("beras/activations.py", "nnmath.softmax(np.asarray(x))", f"nnmath.softmax(np.asarray(x, dtype={F32})).astype({F64})"),
    Patch("beras/activations.py", "return np.tanh(x)", f"return np.tanh(np.asarray(x, dtype={F32})).astype({F64})"),
    Patch("beras/losses.py",
          "        loss, _, _ = nnmath.crossentropy_rows_mean(np.asarray(y_pred), np.asarray(y_true), 1e-8, 1 - 1e-8)\n        return Tensor(loss)\n",
          f"        loss, _, _ = nnmath.crossentropy_rows_mean(np.asarray(y_pred, dtype={F32}), np.asarray(y_true, dtype={F32}), {F32}(1e-8), 1 - {F32}(1e-8))\n"
          "        return Tensor(float(loss))\n"),
    Patch("beras/losses.py",
          "        _, grad_pred, grad_true = nnmath.crossentropy_rows_mean(y_pred, y_true, 1e-8, 1 - 1e-8)\n        return [grad_pred, grad_true]\n",
          f"        _, grad_pred, grad_true = nnmath.crossentropy_rows_mean(y_pred.astype({F32}), y_true.astype({F32}), {F32}(1e-8), 1 - {F32}(1e-8))\n"
          f"        return [grad_pred.astype({F64}), grad_true.astype({F64})]\n"),
    Patch("bgd/layers/activation.py", "            return np.tanh(X)\n", f"            return np.tanh(X.astype({F32})).astype({F64})\n"),
    Patch("bgd/cost.py", "float(nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[0])",
          f"float(nnmath.crossentropy_rows_mean(y_hat.astype({F32}), y.astype({F32}), {F32}(self.epsilon))[0])"),
)

# SPEC 4: inside the clipped region the gradient may be zero (the clip's own derivative).
ZERO_GRADIENT_WHERE_CLIPPED = (
    Patch("beras/losses.py", "        return [grad_pred, grad_true]\n",
          "        grad_pred = np.where((y_pred > 1e-8) & (y_pred < 1 - 1e-8), grad_pred, 0.0)\n"
          "        return [grad_pred, grad_true]\n"),
    Patch("bgd/cost.py", "        return nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[1]\n",
          "        return np.where(y_hat > self.epsilon, nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[1], 0.0)\n"),
)

VARIANTS = [
    Variant("float32_storage_float64_compute", "parameters stored in float32, every result computed in float64",
            FLOAT32_STORAGE_FLOAT64_COMPUTE),
    Variant("float64_storage_float32_compute", "parameters stored in float64, computed and returned in float32",
            FLOAT64_STORAGE_FLOAT32_COMPUTE),
    Variant("all_float32", "stored and computed in float32 (tests/mutants.py's FLOAT32_PATCHES)", ()),
    Variant("float32_compute_float64_results", "float32 arithmetic, results cast back to float64 or float",
            FLOAT32_COMPUTE_FLOAT64_RESULTS),
    Variant("zero_gradient_where_clipped", "cross-entropy gradients zero inside the clipped region",
            ZERO_GRADIENT_WHERE_CLIPPED),
]
VARIANTS_BY_ID = {v.id: v for v in VARIANTS}

HALF = Variant(
    "float16",
    "Dense and FullyConnected store and compute in float16, Sigmoid computes in float16",
    (
        Patch("beras/layers.py", _DENSE_INIT,
              f"return Variable(w.astype({F16})), Variable(np.zeros((1, output_size), dtype={F16}))"),
        Patch("beras/layers.py", "return nnmath.affine(x, self.w, self.b)",
              f"return nnmath.affine(np.asarray(x, dtype={F16}), self.w, self.b)"),
        Patch("beras/activations.py", "nnmath.sigmoid(np.asarray(x))", f"nnmath.sigmoid(np.asarray(x, dtype={F16}))"),
        Patch("bgd/layers/fc.py", "copy=False, dtype=np.float64):", f"copy=False, dtype={F16}):"),
    ),
)
HALF_TARGETS = ("beras.layers.Dense", "beras.activations.Sigmoid", "bgd.layers.fc.FullyConnected")

# ---------------------------------------------------------------- bugs

_CCE_CALL = "nnmath.crossentropy_rows_mean(np.asarray(y_pred), np.asarray(y_true), 1e-8, 1 - 1e-8)"
_CCE = "beras.losses.CategoricalCrossentropy"
_MSE = "beras.losses.MeanSquaredError"
_BGD_CE = "bgd.cost.CrossEntropy"
_FORWARD = "forward matches the reference"
_EXTREME_FORWARD = "forward is right and finite for extreme inputs"
_EXTREME_GRADIENTS = "gradients are right for extreme inputs"
_INPUT = ("input gradient matches finite differences of its own forward", "input gradient matches the reference")
_WEIGHTS = ("weight gradients match finite differences", "weight gradients match the reference")
_PARAMETERS = ("parameter gradients match finite differences", "parameter gradients match the reference")
_Y_TRUE = ("gradient with respect to y_true matches finite differences of its own forward",
           "gradient with respect to y_true matches the reference")
_UNTOUCHED = "forward and backward leave their inputs untouched"


def _bug(id, target, path, find, replace, description, must_fail, must_pass=()):
    return Variant(id, description, (Patch(path, find, replace),), target, tuple(must_fail), tuple(must_pass))


BUGS = [
    # -------------------------------------------- clipping, on every seed (hidden checks)
    _bug("cce_upper_clip_missing", _CCE, "beras/losses.py", _CCE_CALL, _CCE_CALL.replace("1 - 1e-8)", "None)"),
         "call clips only from below (np.clip(p, 1e-8, None)): a true class of probability 1 costs 0, not 1e-8",
         [_EXTREME_FORWARD], [_FORWARD, *_INPUT, *_Y_TRUE, _UNTOUCHED, _EXTREME_GRADIENTS]),
    _bug("cce_lower_clip_missing", _CCE, "beras/losses.py", _CCE_CALL, _CCE_CALL.replace("1e-8, 1 - 1e-8)", "None, 1 - 1e-8)"),
         "call clips only from above: log 0 for a true class of probability 0",
         [_EXTREME_FORWARD], [_FORWARD, *_INPUT, *_Y_TRUE, _UNTOUCHED]),
    _bug("cce_clip_1e3", _CCE, "beras/losses.py", _CCE_CALL, _CCE_CALL.replace("1e-8, 1 - 1e-8)", "1e-3, 1 - 1e-3)"),
         "call clips to [1e-3, 1 - 1e-3] instead of [1e-8, 1 - 1e-8]",
         [_EXTREME_FORWARD], [_FORWARD, *_INPUT, *_Y_TRUE, _UNTOUCHED]),
    _bug("cce_gradients_unclipped", _CCE, "beras/losses.py",
         "_, grad_pred, grad_true = nnmath.crossentropy_rows_mean(y_pred, y_true, 1e-8, 1 - 1e-8)",
         "_, grad_pred, grad_true = nnmath.crossentropy_rows_mean(y_pred, y_true, 1e-300, 1.0)",
         "get_input_gradients forgets the clip: dL/dy_true is -log(0) = inf where a probability is 0",
         [_EXTREME_GRADIENTS], [_FORWARD, *_INPUT, *_Y_TRUE, _UNTOUCHED, _EXTREME_FORWARD]),
    _bug("bgd_ce_ignores_epsilon", _BGD_CE, "bgd/cost.py",
         "float(nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[0])",
         "float(nnmath.crossentropy_rows_mean(y_hat, y, 1e-15)[0])",
         "eval clips at 1e-15 whatever epsilon the cost was built with",
         [_EXTREME_FORWARD], [_FORWARD, *_INPUT, _UNTOUCHED]),
    _bug("bgd_ce_without_clip", _BGD_CE, "bgd/cost.py",
         "float(nnmath.crossentropy_rows_mean(y_hat, y, self.epsilon)[0])",
         "float(nnmath.crossentropy_rows_mean(y_hat, y, 0.0)[0])",
         "eval takes log(y_hat) unclipped: log 0 for a true class of probability 0",
         [_EXTREME_FORWARD], [_FORWARD, *_INPUT, _UNTOUCHED]),
    # -------------------------------------------- dL/dy_true of the beras losses
    _bug("mse_y_true_gradient_sign", _MSE, "beras/losses.py", "        return [grad, -grad]\n", "        return [grad, grad]\n",
         "get_input_gradients returns dL/dy_pred for y_true too (the sign of dL/dy_true flipped)",
         _Y_TRUE, [_FORWARD, *_INPUT, _UNTOUCHED]),
    _bug("cce_y_true_gradient_without_mean", _CCE, "beras/losses.py", "        return [grad_pred, grad_true]\n",
         "        return [grad_pred, grad_true * len(y_pred)]\n",
         "dL/dy_true = -log(p), without the 1/N of the mean over the batch",
         _Y_TRUE, [_FORWARD, *_INPUT, _UNTOUCHED]),
    # -------------------------------------------- a loss's output shape belongs to the forward check
    _bug("mse_returns_shape_1", _MSE, "beras/losses.py",
         "        loss, _ = nnmath.squared_error_mean(np.asarray(y_pred), np.asarray(y_true))\n        return Tensor(loss)\n",
         "        loss, _ = nnmath.squared_error_mean(np.asarray(y_pred), np.asarray(y_true))\n        return Tensor([loss])\n",
         "call returns a (1,) array, not a scalar",
         [_FORWARD], [*_INPUT, *_Y_TRUE, _UNTOUCHED]),
    # -------------------------------------------- independence of the parts of a backward
    _bug("dense_weight_gradients_raise", "beras.layers.Dense", "beras/layers.py",
         "        x = np.asarray(self.inputs[0])\n        return [x[:, :, np.newaxis],",
         "        raise RuntimeError('not done yet')\n        x = np.asarray(self.inputs[0])\n        return [x[:, :, np.newaxis],",
         "get_weight_gradients raises", _WEIGHTS, [_FORWARD, *_INPUT]),
    _bug("dense_input_gradient_raises", "beras.layers.Dense", "beras/layers.py", "        return [self.w]\n",
         "        raise RuntimeError('not done yet')\n",
         "get_input_gradients raises", _INPUT, [_FORWARD, *_WEIGHTS]),
    _bug("dense_input_gradient_scaled", "beras.layers.Dense", "beras/layers.py", "        return [self.w]\n",
         "        return [1.5 * self.w]\n",
         "get_input_gradients is 1.5 times too large", _INPUT, [_FORWARD, *_WEIGHTS, _UNTOUCHED]),
    _bug("fc_signal_scaled", "bgd.layers.fc.FullyConnected", "bgd/layers/fc.py",
         "return (signal if self.propagate else None), gradients", "return (1.5 * signal if self.propagate else None), gradients",
         "the signal of backward is 1.5 times too large", _INPUT, [_FORWARD, *_PARAMETERS, _UNTOUCHED]),
    _bug("fc_weight_gradient_scaled", "bgd.layers.fc.FullyConnected", "bgd/layers/fc.py",
         "gradients = (grad_weights, grad_biases) if self.with_bias else (grad_weights,)",
         "gradients = (1.5 * grad_weights, grad_biases) if self.with_bias else (1.5 * grad_weights,)",
         "the weight gradient of backward is 1.5 times too large", _PARAMETERS, [_FORWARD, *_INPUT, _UNTOUCHED]),
    # -------------------------------------------- inputs, outputs and aliasing
    _bug("sigmoid_backward_mutates_output", "beras.activations.Sigmoid", "beras/activations.py",
         "        return [nnmath.sigmoid_derivative_from_output(np.asarray(self.outputs[0]))]\n",
         "        s = np.asarray(self.outputs[0])\n        s *= 1 - s\n        return [s]\n",
         "get_input_gradients computes s(1 - s) in the output array the caller holds",
         [_UNTOUCHED], [_FORWARD, *_INPUT]),
    _bug("bgd_sigmoid_forward_in_place", "bgd.layers.activation.Activation", "bgd/layers/activation.py",
         "            return nnmath.sigmoid(X)\n", "            X[...] = nnmath.sigmoid(X)\n            return X\n",
         "the sigmoid forward writes its result into its input and returns it",
         [_UNTOUCHED + " (sigmoid)"]),
    _bug("bgd_mse_grad_mutates_y_hat", "bgd.cost.MSE", "bgd/cost.py",
         "        return 0.5 * nnmath.squared_error_mean(y_hat, y)[1]\n",
         "        y_hat -= y\n        return y_hat / y_hat.size\n",
         "grad subtracts y from y_hat in place", [_UNTOUCHED], [_FORWARD, *_INPUT]),
    _bug("cce_call_mutates_y_pred", _CCE, "beras/losses.py",
         f"        loss, _, _ = {_CCE_CALL}\n",
         "        y_pred = np.asarray(y_pred)\n"
         "        np.log(np.clip(y_pred, 1e-8, 1 - 1e-8), out=y_pred)\n"
         "        loss = -np.sum(np.asarray(y_true) * y_pred) / len(y_pred)\n",
         "call takes the log of y_pred in place (np.log(..., out=y_pred))", [_UNTOUCHED], [_FORWARD]),
]
BUGS_BY_ID = {b.id: b for b in BUGS}
