"""One-hot encoding of labels, with a dictionary."""

import numpy as np

from .core import Callable


class OneHotEncoder(Callable):
    def fit(self, labels):
        self.classes = np.unique(np.asarray(labels))
        self.column = {}
        for position, label in enumerate(self.classes.tolist()):
            self.column[label] = position

    def call(self, labels):
        labels = np.asarray(labels)
        if not hasattr(self, "classes"):
            self.fit(labels)
        out = np.zeros((len(labels), len(self.classes)))
        for row, label in enumerate(labels.tolist()):
            out[row, self.column[label]] = 1.0
        return out

    def inverse(self, one_hot):
        one_hot = np.asarray(one_hot)
        return np.array([self.classes[int(np.argmax(row))] for row in one_hot])
