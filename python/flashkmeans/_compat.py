"""scikit-learn base classes when scikit-learn is installed, minimal stand-ins otherwise.

The stand-ins give KMeans the same public surface (get_params/set_params, fit_predict,
fit_transform, NotFittedError) so code written against scikit-learn conventions keeps working on
a machine without it; scikit-learn's estimator checks obviously only run where it exists."""
import inspect
import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by test_no_sklearn.py in a subprocess
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        pass

    class BaseEstimator:
        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError("Invalid parameter %r for estimator %s. Valid parameters are: %s."
                                     % (key, type(self).__name__, valid))
                setattr(self, key, value)
            return self

        def __repr__(self):
            args = ", ".join("%s=%r" % kv for kv in self.get_params().items())
            return "%s(%s)" % (type(self).__name__, args)

    class ClusterMixin:
        _estimator_type = "clusterer"

        def fit_predict(self, X, y=None, **kw):
            self.fit(X, **kw)
            return self.labels_

    class TransformerMixin:
        def fit_transform(self, X, y=None, **kw):
            return self.fit(X, y, **kw).transform(X)

    def check_is_fitted(estimator, attributes=None):
        fitted = [v for v in vars(estimator) if v.endswith("_") and not v.startswith("__")]
        if not fitted:
            raise NotFittedError("This %s instance is not fitted yet. Call 'fit' with appropriate "
                                 "arguments before using this estimator." % type(estimator).__name__)


def seed_from(random_state):
    """random_state -> 64-bit library seed. An int is used as the seed itself (so a C caller with
    the same seed gets the same result); None draws from numpy's global generator (a different
    seed per call, like scikit-learn); a RandomState/Generator draws from that generator."""
    if random_state is None:
        return int(np.random.mtrand._rand.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, bool):
        v = int(random_state)
        if not 0 <= v < 2**64:
            raise ValueError("random_state must be in [0, 2**64), got %d" % v)
        return v
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise ValueError("%r cannot be used to seed flashkmeans: use None, an int, a "
                     "numpy.random.RandomState or a numpy.random.Generator" % (random_state,))
