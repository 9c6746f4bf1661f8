"""Forward + backward time of each reference layer at a realistic size.

    python benchmarks/reference_layers.py

Later work compares the cost of a gradient check against these figures.
Each time is also given as a ratio to a baseline measured in the same run:
one `np.tanh` pass over the layer's input (the cheapest thing a layer could
possibly do with it), so the ratios travel between machines better than the
milliseconds do.
"""

import pathlib
import sys
import timeit

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))

import beras  # noqa: E402
from bgd.layers import (  # noqa: E402
    Activation,
    Convolutional2D,
    Dropout,
    Flatten,
    FullyConnected,
    MaxPooling2D,
)


def best_time(function, repeat=7):
    number = max(1, int(0.05 / max(1e-6, timeit.timeit(function, number=1))))
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number


def beras_case(layer, x):
    x = beras.Tensor(x)
    upstream = np.ones_like(layer.call(x))

    def step():
        layer(x)
        layer.compose_input_gradients([upstream])
        layer.compose_weight_gradients([upstream])

    return step


def bgd_case(layer, x):
    upstream = np.ones_like(layer.forward(x))

    def step():
        layer.forward(x)
        layer.backward(upstream)

    return step


def cases(rng):
    dense_x = rng.normal(size=(64, 256))
    images = rng.normal(size=(32, 32, 32, 3))
    feature_maps = rng.normal(size=(32, 32, 32, 16))
    yield "beras Dense 256->128, batch 64", dense_x, beras_case(beras.Dense(256, 128), dense_x)
    for cls in (beras.LeakyReLU, beras.Sigmoid, beras.Tanh, beras.Softmax):
        yield f"beras {cls.__name__} on 64x256", dense_x, beras_case(cls(), dense_x)
    yield "bgd FullyConnected 256->128, batch 64", dense_x, bgd_case(FullyConnected(256, 128), dense_x)
    for name in ("sigmoid", "tanh", "relu", "softmax"):
        yield f"bgd Activation({name}) on 64x256", dense_x, bgd_case(Activation(name), dense_x)
    yield (
        "bgd Convolutional2D 32x32x32x3, 16 3x3 filters",
        images,
        bgd_case(Convolutional2D((3, 3, 3), 16), images),
    )
    yield (
        "bgd Convolutional2D same, stride 2",
        images,
        bgd_case(Convolutional2D((3, 3, 3), 16, strides=(2, 2)), images),
    )
    yield "bgd MaxPooling2D 2x2 on 32x32x32x16", feature_maps, bgd_case(MaxPooling2D((2, 2)), feature_maps)
    yield (
        "bgd MaxPooling2D 3x3 stride 2 (overlapping)",
        feature_maps,
        bgd_case(MaxPooling2D((3, 3), strides=(2, 2)), feature_maps),
    )
    yield "bgd Dropout on 32x32x32x16", feature_maps, bgd_case(Dropout(0.5), feature_maps)
    yield "bgd Flatten on 32x32x32x16", feature_maps, bgd_case(Flatten(), feature_maps)


def main():
    rng = np.random.default_rng(0)
    print(f"{'layer (forward + backward)':48} {'ms':>9} {'x tanh pass':>12}")
    for name, x, step in cases(rng):
        baseline = best_time(lambda x=x: np.tanh(x))
        seconds = best_time(step)
        print(f"{name:48} {seconds * 1e3:9.3f} {seconds / baseline:12.1f}")


if __name__ == "__main__":
    main()
