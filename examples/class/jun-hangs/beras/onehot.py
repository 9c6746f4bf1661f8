"""One-hot encoding of labels, in `np.unique` order of the fitted labels."""

import numpy as np

from .core import Callable


class OneHotEncoder(Callable):
    """`fit(labels)` learns the classes; `call(labels)` encodes; `inverse` decodes.

    Calling before `fit` fits on the labels given.
    """

    def fit(self, labels):
        self.labels = np.unique(labels)

    def call(self, labels):
        if not hasattr(self, "labels"):
            self.fit(labels)
        return (np.asarray(labels).reshape(-1, 1) == self.labels.reshape(1, -1)).astype(float)

    def inverse(self, one_hot):
        return self.labels[np.argmax(one_hot, axis=-1)]
