"""One-hot encoding of labels, in `np.unique` order of the fitted labels."""

import numpy as np

from .core import Callable


class OneHotEncoder(Callable):
    """`fit(labels)` learns the classes; `call(labels)` encodes; `inverse` decodes.

    Calling before `fit` fits on the labels given.
    """

    def fit(self, labels):
        raise NotImplementedError("OneHotEncoder.fit: TODO remember the distinct labels, sorted as np.unique sorts them; column i of the encoding stands for the i-th of them")

    def call(self, labels):
        raise NotImplementedError("OneHotEncoder.call: TODO one row per label, all zeros but a 1 in the column of that label's class")

    def inverse(self, one_hot):
        raise NotImplementedError("OneHotEncoder.inverse: TODO the label of each one-hot row (the class of its largest entry)")
