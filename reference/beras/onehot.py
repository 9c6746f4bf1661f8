"""One-hot encoding of labels, in `np.unique` order of the fitted labels."""

import numpy as np

from .core import Callable


class OneHotEncoder(Callable):
    """`fit(labels)` learns the classes; `call(labels)` encodes; `inverse` decodes.

    Calling before `fit` fits on the labels given.
    """

    def fit(self, labels):
        # SOLUTION: remember the distinct labels, sorted as np.unique sorts them; column i of the encoding stands for the i-th of them
        self.uniq = np.unique(labels)
        # END SOLUTION

    def call(self, labels):
        # SOLUTION: one row per label, all zeros but a 1 in the column of that label's class
        if not hasattr(self, "uniq"):
            self.fit(labels)
        columns = np.searchsorted(self.uniq, labels)
        if np.any(columns >= len(self.uniq)) or np.any(self.uniq[np.minimum(columns, len(self.uniq) - 1)] != labels):
            raise ValueError("labels not seen by fit()")
        return np.eye(len(self.uniq))[columns]
        # END SOLUTION

    def inverse(self, one_hot):
        # SOLUTION: the label of each one-hot row (the class of its largest entry)
        return self.uniq[np.argmax(one_hot, axis=-1)]
        # END SOLUTION
