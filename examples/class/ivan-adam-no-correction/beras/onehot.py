import numpy as np

from .core import Callable


class OneHotEncoder(Callable):
    def fit(self, labels):
        self.categories_ = np.unique(labels)
        return self

    def call(self, labels):
        if not hasattr(self, "categories_"):
            self.fit(labels)
        positions = np.searchsorted(self.categories_, labels)
        return np.eye(len(self.categories_))[positions]

    def inverse(self, one_hot):
        return self.categories_[np.argmax(one_hot, axis=1)]
