"""Which classes the generic checks of `test_differentiable.py` exercise, and how.

One `Spec` per class (or per variant of a class, like each function of bgd's
Activation): its driver (how the API is called) and its cases (constructor
arguments, input shapes, how inputs are sampled). Inputs of functions with
kinks or ties are sampled away from them, and finite differences may not
move an entry across one (`max_step`).
"""

import dataclasses

import numpy as np

from harness import numerics
from harness.drivers import BerasLayer, BerasLoss, BgdCost, BgdLayer, Case


@dataclasses.dataclass(frozen=True)
class Spec:
    driver: object
    cases: tuple
    label: str = ""  # a variant of the class, e.g. "softmax"
    has_parameters: bool = False
    # mistakes(inputs, output, upstream) -> {"what the student did": the input
    # gradient it gives}: named in a failure's hints when the student's matches.
    mistakes: object = None
    # The forward squares something, so a gradient off by exactly 2 may be its derivative's 2.
    squares: bool = False
    # regions(case, inputs) -> {"where ...": boolean mask shaped like the first input}:
    # entries a mistake may be confined to, named when every wrong entry of the
    # input gradient lies in one (`numerics.recognise`).
    regions: object = None

    @property
    def target(self):
        return self.driver.target

    @property
    def variant(self):
        """" (softmax)" after a check's title, for a variant of a class."""
        return f" ({self.label})" if self.label else ""

    @property
    def second_input(self):
        """The name of the second differentiated input (y_true of a beras loss), or ""."""
        driver = self.driver
        return driver.input_names[driver.differentiated[1]] if len(driver.differentiated) > 1 else ""

    def __str__(self):  # the pytest id, and the `{spec}` of check names
        return self.target + (f"[{self.label}]" if self.label else "")


def away_from_zero(rng, shape, index):
    return numerics.away_from(rng, shape, points=(0.0,), margin=0.1)


def pool_values(rng, shape, index):
    return numerics.distinct(rng, shape, min_gap=0.05)


def huge_logits(rng, shape, index):
    """Rows around +1000 and rows around -1000: exp() of either, unshifted,
    overflows to inf or underflows to 0 in every entry of the row."""
    x = rng.normal(size=shape)
    x[0::2] += 1000.0
    x[1::2] -= 1000.0
    return x


def half_huge(rng, shape, index):
    """Every other entry (a checkerboard) around +1000 or -1000, the others of
    size 1: exp() of a saturated entry, unguarded, overflows, and the gradient
    is not all zeros (a zero stub earns nothing)."""
    x = rng.normal(size=shape)
    flat = x.reshape(-1)
    flat[0::4] += 1000.0
    flat[2::4] -= 1000.0
    return x


def prediction_and_labels(rng, shape, index):
    """Input 0: probabilities kept away from the log's clipping; input 1: one-hot labels."""
    if index == 0:
        return numerics.probabilities(rng, shape, floor=0.02)
    return numerics.one_hot(rng, shape[0], shape[1])


def labels_and_prediction(rng, shape, index):
    return prediction_and_labels(rng, shape, 1 - index)


def _zero_columns(n, k):
    """Row r has a probability of exactly 0 in column r % k."""
    return np.arange(n) % k


def _labels_on_zeros(n, k):
    """The true class of each row: on its zero for the first half of the rows
    (log 0 unless clipped: on every seed, not by chance), elsewhere for the
    rest (a zero times log 0 is NaN unless clipped, too)."""
    zeros = _zero_columns(n, k)
    return np.where(np.arange(n) < (n + 1) // 2, zeros, (zeros + 1) % k)


def _probabilities_with_zeros(rng, shape):
    p = numerics.probabilities(rng, shape, floor=0.05)
    p[np.arange(shape[0]), _zero_columns(*shape)] = 0.0
    return p / p.sum(axis=1, keepdims=True)


def labelled_zeros(rng, shape, index):
    """Input 0: probabilities with an exact 0 in every row; input 1: one-hot
    labels, half of them on those zeros. A missing clip gives log 0, a wrong
    clip value a wrong loss, on every seed."""
    if index == 0:
        return _probabilities_with_zeros(rng, shape)
    return np.eye(shape[1])[_labels_on_zeros(*shape)]


def labelled_ones(rng, shape, index):
    """Both inputs: the same one-hot rows, so every true class has probability
    exactly 1: the loss is -log(1 - 1e-8) = 1e-8 with the upper clip, 0
    without it (in float64; float32 cannot tell 1 - 1e-8 from 1)."""
    return np.eye(shape[1])[np.arange(shape[0]) % shape[1]]


def labels_on_zeros_bgd(rng, shape, index):
    """bgd's order (y, y_hat) of `labelled_zeros`."""
    return labelled_zeros(rng, shape, 1 - index)


def unclipped(lower, upper=np.inf, index=0):
    """judged(inputs): the entries of probabilities `inputs[index]` that no
    clipping touches, where SPEC 4 lets the gradient be either choice."""
    return lambda inputs: (inputs[index] > lower) & (inputs[index] < upper)


def softmax_mistakes(inputs, output, upstream):
    s = np.asarray(output, dtype=np.float64)
    return {"only the diagonal of each row's softmax Jacobian was used (s * (1 - s) * upstream)": s * (1 - s) * upstream}


def pool_overlaps(case, inputs):
    """The entries of a MaxPooling2D input that more than one pooling window covers
    (`case`: pool_shape and strides as the constructor takes them; SPEC 3: output
    1 + (H - P) // S per axis), where the errors of the windows add up."""
    pool = case.args[0]
    strides = case.kwargs.get("strides") or (case.args[1] if len(case.args) > 1 and case.args[1] else pool)
    shape = np.shape(inputs[0])
    counts = []
    for size, p, stride in zip(shape[1:3], pool, strides):
        windows = 1 + (size - p) // stride
        covered = np.zeros(size, dtype=int)
        for k in range(windows):
            covered[k * stride: k * stride + p] += 1
        counts.append(covered)
    overlapped = (counts[0][:, None] * counts[1][None, :]) > 1
    return {"where pooling windows overlap (their errors must be added up there, not assigned)":
            np.broadcast_to(overlapped[None, :, :, None], shape)}


def relative_step(fraction):
    """max_step for probabilities: no entry moves by more than `fraction` of itself."""
    return lambda inputs: fraction * np.abs(inputs)


BERAS_LAYERS = [
    Spec(
        BerasLayer("beras.layers.Dense"),
        (
            Case("batch 4, 3 -> 5", (3, 5), shapes=((4, 3),)),
            Case("batch 1, 7 -> 2", (7, 2), shapes=((1, 7),)),
            Case("batch 3, 6 -> 6, xavier", (6, 6), {"initializer": "xavier"}, shapes=((3, 6),)),
        ),
        has_parameters=True,
    ),
    Spec(
        BerasLayer("beras.activations.LeakyReLU"),
        (
            Case("alpha 0.3, batch 4", (), shapes=((4, 5),), sample=away_from_zero, max_step=0.05),
            Case("alpha 0.1, batch 1", (0.1,), shapes=((1, 6),), sample=away_from_zero, max_step=0.05),
        ),
    ),
    Spec(BerasLayer("beras.activations.ReLU"), (Case("batch 3", (), shapes=((3, 5),), sample=away_from_zero, max_step=0.05),)),
    Spec(
        BerasLayer("beras.activations.Sigmoid"),
        (
            Case("batch 4", (), shapes=((4, 5),)),
            Case("batch 1", (), shapes=((1, 3),)),
            Case("inputs of +-1000", (), shapes=((2, 4),), sample=half_huge, extreme=True),
        ),
    ),
    Spec(BerasLayer("beras.activations.Tanh"), (Case("batch 4", (), shapes=((4, 5),)), Case("batch 1", (), shapes=((1, 3),)))),
    Spec(
        BerasLayer("beras.activations.Softmax"),
        (
            Case("batch 4, 5 classes", (), shapes=((4, 5),)),
            Case("batch 1, 3 classes", (), shapes=((1, 3),)),
            Case("logits of +-1000", (), shapes=((3, 4),), sample=huge_logits, extreme=True),
        ),
        mistakes=softmax_mistakes,
    ),
    Spec(
        BerasLoss("beras.losses.MeanSquaredError"),
        (Case("batch 4", (), shapes=((4, 3), (4, 3))), Case("batch 1", (), shapes=((1, 5), (1, 5)))),
        squares=True,
    ),
    Spec(
        BerasLoss("beras.losses.CategoricalCrossentropy"),
        (
            Case("batch 5, 4 classes", (), shapes=((5, 4), (5, 4)), sample=prediction_and_labels, max_step=relative_step(0.1)),
            Case("batch 1, 3 classes", (), shapes=((1, 3), (1, 3)), sample=prediction_and_labels, max_step=relative_step(0.1)),
            Case("a true class with probability exactly 0", (), shapes=((4, 4), (4, 4)), sample=labelled_zeros,
                 extreme=True, judged=unclipped(1e-8, 1 - 1e-8)),
            Case("every true class with probability exactly 1", (), shapes=((3, 4), (3, 4)), sample=labelled_ones,
                 extreme=True, judged=unclipped(1e-8, 1 - 1e-8), magnitude=1.0),
        ),
    ),
]

BGD_LAYERS = [
    Spec(
        BgdLayer("bgd.layers.fc.FullyConnected"),
        (
            Case("batch 4, 3 -> 5", (3, 5), shapes=((4, 3),)),
            Case("batch 1, 7 -> 2", (7, 2), shapes=((1, 7),)),
            Case("no bias, 4 -> 3", (4, 3), {"with_bias": False}, shapes=((2, 4),)),
        ),
        has_parameters=True,
    ),
    *[
        Spec(
            BgdLayer("bgd.layers.activation.Activation"),
            (
                Case("batch 4", (function,), shapes=((4, 5),), sample=away_from_zero, max_step=0.05),
                Case("batch 1", (function,), shapes=((1, 3),), sample=away_from_zero, max_step=0.05),
            )
            + ((Case("inputs of +-1000", (function,), shapes=((2, 4),), sample=half_huge if function == "sigmoid" else huge_logits, extreme=True),) if function in ("sigmoid", "softmax") else ()),
            label=function,
            mistakes=softmax_mistakes if function == "softmax" else None,
        )
        for function in ("sigmoid", "tanh", "relu", "softmax")
    ],
    Spec(
        BgdLayer("bgd.layers.conv2d.Convolutional2D"),
        (
            Case("3x3 filters, stride 1", ((3, 3, 2), 3), shapes=((2, 5, 5, 2),)),
            Case("stride 2, non-square image", ((3, 3, 1), 2), {"strides": (2, 2)}, shapes=((2, 7, 6, 1),)),
            Case("2x3 filters, strides (2, 1), batch 1", ((2, 3, 2), 2), {"strides": (2, 1)}, shapes=((1, 6, 5, 2),)),
            Case("no bias", ((2, 2, 3), 2), {"with_bias": False}, shapes=((2, 4, 4, 3),)),
        ),
        has_parameters=True,
    ),
    Spec(
        BgdLayer("bgd.layers.max_pooling2d.MaxPooling2D"),
        (
            Case("2x2 pools side by side", ((2, 2),), shapes=((2, 4, 6, 2),), sample=pool_values, max_step=0.015),
            Case("3x3 pools, stride 2 (overlapping)", ((3, 3),), {"strides": (2, 2)}, shapes=((2, 7, 7, 1),), sample=pool_values, max_step=0.015),
            Case("2x3 pools, stride (1, 2), batch 1", ((2, 3),), {"strides": (1, 2)}, shapes=((1, 4, 7, 2),), sample=pool_values, max_step=0.015),
        ),
        regions=pool_overlaps,
    ),
    Spec(
        BgdLayer("bgd.layers.flatten.Flatten"),
        (Case("images", (), shapes=((3, 2, 4, 2),)), Case("batch 1", (), shapes=((1, 5, 3),))),
    ),
    Spec(
        BgdCost("bgd.cost.MSE"),
        (Case("batch 4", (), shapes=((4, 3), (4, 3))), Case("batch 1", (), shapes=((1, 5), (1, 5)))),
        squares=True,
    ),
    Spec(
        BgdCost("bgd.cost.CrossEntropy"),
        (
            Case("batch 5, 4 classes", (), shapes=((5, 4), (5, 4)), sample=labels_and_prediction, max_step=relative_step(0.1)),
            Case("batch 1, 3 classes", (), shapes=((1, 3), (1, 3)), sample=labels_and_prediction, max_step=relative_step(0.1)),
            Case("a true class with probability exactly 0", (), shapes=((4, 4), (4, 4)), sample=labels_on_zeros_bgd,
                 extreme=True, judged=unclipped(1e-15, index=1)),
            Case("epsilon 1e-4, a true class with probability exactly 0", (1e-4,), shapes=((4, 4), (4, 4)),
                 sample=labels_on_zeros_bgd, extreme=True, judged=unclipped(1e-4, index=1)),
        ),
    ),
]

ALL = BERAS_LAYERS + BGD_LAYERS
