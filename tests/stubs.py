"""Submissions that do nothing useful, for "no points for doing nothing".

`materialise_zero_stub(destination)` copies `student_template/` and replaces
every `raise NotImplementedError("Class.method: TODO ...")` by code that
returns zeros of the right shape (or does nothing: optimizers, fit). A fair
judge pays such a submission next to nothing (issue 6: at most 3 % of the
points); `ZERO_BODIES` is the code put in each method's place.
"""

import pathlib
import re
import shutil

TEMPLATE_DIR = pathlib.Path(__file__).resolve().parents[1] / "student_template"

ZERO_BODIES = {
    # ---------------------------------------------------------------- beras
    "Dense.call": "return np.zeros((np.shape(x)[0], self.w.shape[1]))",
    "Dense.get_input_gradients": "return [np.zeros(np.shape(self.w))]",
    "Dense.get_weight_gradients": "return [np.zeros(np.shape(self.w)), np.zeros(np.shape(self.b))]",
    "Dense._initialize_weight": (
        "return Variable(np.zeros((input_size, output_size))), Variable(np.zeros((1, output_size)))"
    ),
    "LeakyReLU.call": "return np.zeros(np.shape(x))",
    "LeakyReLU.get_input_gradients": "return [np.zeros(np.shape(self.inputs[0]))]",
    "Sigmoid.call": "return np.zeros(np.shape(x))",
    "Sigmoid.get_input_gradients": "return [np.zeros(np.shape(self.inputs[0]))]",
    "Tanh.call": "return np.zeros(np.shape(x))",
    "Tanh.get_input_gradients": "return [np.zeros(np.shape(self.inputs[0]))]",
    "Softmax.call": "return np.zeros(np.shape(x))",
    "Softmax.get_input_gradients": "return [np.zeros(np.shape(self.inputs[0]) + np.shape(self.inputs[0])[-1:])]",
    "MeanSquaredError.call": "return Tensor(0.0)",
    "MeanSquaredError.get_input_gradients": "return [np.zeros(np.shape(t)) for t in self.inputs]",
    "CategoricalCrossentropy.call": "return Tensor(0.0)",
    "CategoricalCrossentropy.get_input_gradients": "return [np.zeros(np.shape(t)) for t in self.inputs]",
    "CategoricalAccuracy.call": "return 0.0",
    "OneHotEncoder.fit": "self.uniq = np.unique(labels)",
    "OneHotEncoder.call": "return np.zeros((len(labels), len(np.unique(labels))))",
    "OneHotEncoder.inverse": "return np.zeros(len(one_hot))",
    "GradientTape.gradient": "return [np.zeros(np.shape(s)) for s in sources]",
    "BasicOptimizer.apply_gradients": "pass",
    "RMSProp.apply_gradients": "pass",
    "Adam.apply_gradients": "pass",
    "SequentialModel.call": "return inputs",
    "SequentialModel.batch_step": 'return {"loss": 0.0, "acc": 0.0}',
    "SequentialModel.fit": 'return {"loss": [0.0] * epochs, "acc": [0.0] * epochs}',
    "SequentialModel.evaluate": 'return {"loss": 0.0, "acc": 0.0}',
    # ---------------------------------------------------------------- bgd
    "FullyConnected._forward": "return np.zeros((X.shape[0], self.n_out))",
    "FullyConnected._backward": (
        "return np.zeros(self.input_shape), tuple(np.zeros(np.shape(p)) for p in self.get_parameters())"
    ),
    "Activation._forward": "return np.zeros(np.shape(X))",
    "Activation._backward": "return np.zeros(self.input_shape)",
    "Convolutional2D._forward": (
        "return np.zeros((X.shape[0], 1 + (X.shape[1] - self.filter_shape[0]) // self.strides[0], "
        "1 + (X.shape[2] - self.filter_shape[1]) // self.strides[1], self.n_filters))"
    ),
    "Convolutional2D._backward": (
        "return np.zeros(self.input_shape), tuple(np.zeros(np.shape(p)) for p in self.get_parameters())"
    ),
    "MaxPooling2D._forward": (
        "return np.zeros((X.shape[0], 1 + (X.shape[1] - self.pool_shape[0]) // self.strides[0], "
        "1 + (X.shape[2] - self.pool_shape[1]) // self.strides[1], X.shape[3]))"
    ),
    "MaxPooling2D._backward": "return np.zeros(self.input_shape)",
    "Dropout._forward": "return np.zeros(np.shape(X))",
    "Dropout._backward": "return np.zeros(np.shape(error))",
    "Flatten._forward": "return np.zeros((X.shape[0], int(np.prod(X.shape[1:]))))",
    "Flatten._backward": "return np.zeros(self.input_shape)",
    "MSE.eval": "return 0.0",
    "MSE.grad": "return np.zeros(np.shape(y_hat))",
    "CrossEntropy.eval": "return 0.0",
    "CrossEntropy.grad": "return np.zeros(np.shape(y_hat))",
    "Optimizer.add_gradient_fragments": "pass",
    "MomentumOptimizer.update": "pass",
    "AdamOptimizer.update": "pass",
    "NeuralStack.eval": "return X",
    "NeuralStack.train": "return np.zeros(epochs)",
}

_TODO = re.compile(r'^(?P<indent>\s*)raise NotImplementedError\(f?"(?P<name>[\w.]+): TODO.*$', re.MULTILINE)


def materialise_zero_stub(destination):
    """Copy the template into `destination` with every TODO returning zeros."""
    destination = pathlib.Path(destination)
    shutil.copytree(TEMPLATE_DIR, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    seen = set()
    for path in destination.rglob("*.py"):
        source = path.read_text(encoding="utf-8")

        def body(match):
            seen.add(match["name"])
            return match["indent"] + ZERO_BODIES[match["name"]]

        path.write_text(_TODO.sub(body, source), encoding="utf-8")
    missing = set(ZERO_BODIES) - seen
    if missing:
        raise ValueError(f"the template has no TODO for {sorted(missing)}: update ZERO_BODIES")
    return destination
