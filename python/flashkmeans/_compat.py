"""scikit-learn base classes when scikit-learn is installed, minimal stand-ins otherwise.

The stand-ins give KMeans the same public surface (get_params/set_params, fit_predict,
fit_transform, NotFittedError) so code written against scikit-learn conventions keeps working on
a machine without it; scikit-learn's estimator checks obviously only run where it exists."""
import inspect
import numbers
import os
import sys
import warnings

import numpy as np

try:
    from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin,
                              TransformerMixin)
    from sklearn.exceptions import ConvergenceWarning, NotFittedError
    from sklearn.utils.validation import check_is_fitted

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by test_no_sklearn.py in a subprocess
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        pass

    class ConvergenceWarning(UserWarning):
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

        def set_output(self, *, transform=None):
            """scikit-learn's output configuration; without scikit-learn only the default
            (numpy) output exists."""
            if transform not in (None, "default"):
                raise ValueError("set_output(transform=%r) needs scikit-learn (and pandas for "
                                 "'pandas')" % (transform,))
            return self

    class ClassNamePrefixFeaturesOutMixin:
        def get_feature_names_out(self, input_features=None):
            """["kmeans0", ..., "kmeans{k-1}"], as scikit-learn names a KMeans' outputs."""
            check_is_fitted(self)
            prefix = type(self).__name__.lower()
            return np.asarray(["%s%d" % (prefix, i) for i in range(self._n_features_out)],
                              dtype=object)

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


_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# scikit-learn's set_output machinery wraps transform/fit_transform: its frames are skipped too, so
# a warning names the line that called the estimator.
_WRAPPER = os.path.join("sklearn", "utils", "_set_output.py")


def _internal(filename):
    return filename.startswith(_PKG_DIR) or filename.endswith(_WRAPPER)


def warn(message, category=RuntimeWarning):
    """warnings.warn pointing at the first frame outside flashkmeans (the caller's line), however
    deep inside the package the warning was raised."""
    frame, level = sys._getframe(0), 1
    while frame is not None and _internal(os.path.abspath(frame.f_code.co_filename)):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
