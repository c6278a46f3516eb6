"""pytest plugin: scikit-learn's own KMeans tests, run unmodified against flashkmeans.KMeans
and flashkmeans.MiniBatchKMeans.

test_sklearn_suite.py imports the installed scikit-learn's sklearn/cluster/tests/test_k_means.py
(load_suite below) with sklearn.cluster.KMeans and sklearn.cluster.MiniBatchKMeans replaced by
flashkmeans.KMeans and flashkmeans.MiniBatchKMeans while the module is imported, so every test
of the module, its parametrize lists (`[KMeans, MiniBatchKMeans]`) included, sees flashkmeans's
classes under scikit-learn's names; scikit-learn's names are restored right after. The file itself is not copied or changed. conftest.py registers this module as a
plugin: it supplies what scikit-learn's conftest.py would (the global_random_seed and
global_dtype fixtures; SKLEARN_RUN_FLOAT32_TESTS=1 unless set) and deselects, at collection,
the tests listed in DESELECTED, each with its reason. A deselected id that no longer exists in
the installed file fails the run (test_every_deselection_matches), so the list cannot go stale.

Run alone: FKM_BUILD_DIR=build PYTHONPATH=python /usr/bin/python3 -m pytest -q
tests/python/test_sklearn_suite.py (-rA lists every outcome). The reasons are also printed by
`pytest --collect-only -q` as deselected."""
import importlib
import os
import sys

SUITE = "sklearn.cluster.tests.test_k_means"
MODULE = "test_sklearn_suite.py"  # where the suite's tests are collected

# The sklearn float32 variants of global_dtype run too (sklearn skips them by default). Set
# before sklearn.conftest is imported: its skip mark reads the variable then.
os.environ.setdefault("SKLEARN_RUN_FLOAT32_TESTS", "1")

# Why each test left out is left out. Keys: a test name (all its parametrizations) or a full
# pytest id "name[params]". Only two kinds (and one default): a function other than the
# estimators, or a private helper of scikit-learn's implementation. The 61 sparse-input cases run
# since flashkmeans.KMeans takes scipy CSR/CSC (issue 20, item 2). The MiniBatchKMeans tests and
# cases run against flashkmeans.MiniBatchKMeans (issue 22, item 3); before it, the 52 cases
# parametrized with the class (ids "...-MiniBatchKMeans-...", which the old id rules missed) ran
# scikit-learn's own MiniBatchKMeans and the 10 MiniBatchKMeans-only tests were left out.
_HELPER = "tests a private helper of scikit-learn's implementation, not the estimator"
_FUNC = "tests a scikit-learn function (k_means / kmeans_plusplus), not the KMeans estimator"
_STEP = ("tests scikit-learn's private _mini_batch_step (and _labels_inertia) called directly, "
         "not the estimator; flashkmeans.MiniBatchKMeans's step is checked against a float64 "
         "reference of the same rule in test_minibatch.py")

DESELECTED = {
    # ---- scikit-learn's mini-batch step function, called directly
    "test_minibatch_update_consistency": _STEP,
    "test_minibatch_reassign": _STEP,
    # ---- private helpers and other functions
    "test_relocate_empty_clusters": _HELPER,   # _relocate_empty_clusters_dense/_sparse
    "test_euclidean_distance": _HELPER,        # _euclidean_dense_dense_wrapper
    "test_inertia": _HELPER,                   # _inertia_dense/_sparse
    "test_is_same_clustering": _HELPER,        # _is_same_clustering
    "test_k_means_function": _FUNC,
    "test_kmeans_plusplus_wrong_params": _FUNC,
    "test_kmeans_plusplus_output": _FUNC,
    "test_kmeans_plusplus_norms": _FUNC,
    "test_kmeans_plusplus_dataorder": _FUNC,
    # ---- a default that differs on purpose
    "test_change_n_init_future_warning[KMeans-10]":
        "pins scikit-learn 1.2's transitional default n_init='warn' (10 runs and a FutureWarning); "
        "flashkmeans.KMeans's default is n_init=1 (docs/python.md). n_init='warn' passed explicitly "
        "behaves as scikit-learn 1.2 (test_algorithm.py)",
}
def _reason(name, params):
    """The reason a collected test of the suite is left out, or None."""
    if name in DESELECTED:
        return DESELECTED[name]
    full = "%s[%s]" % (name, params) if params is not None else name
    return DESELECTED.get(full)


def load_suite():
    """The installed scikit-learn's test_k_means module, imported with KMeans = flashkmeans.KMeans
    and MiniBatchKMeans = flashkmeans.MiniBatchKMeans. Returns {name: test function}."""
    import sklearn.cluster
    import flashkmeans

    if SUITE in sys.modules:
        mod = sys.modules[SUITE]
    else:
        original = sklearn.cluster.KMeans, sklearn.cluster.MiniBatchKMeans
        sklearn.cluster.KMeans = flashkmeans.KMeans
        sklearn.cluster.MiniBatchKMeans = flashkmeans.MiniBatchKMeans
        try:
            mod = importlib.import_module(SUITE)
        finally:
            sklearn.cluster.KMeans, sklearn.cluster.MiniBatchKMeans = original
    assert mod.KMeans is flashkmeans.KMeans, "the suite was imported before the swap"
    assert mod.MiniBatchKMeans is flashkmeans.MiniBatchKMeans, "the suite was imported before the swap"
    return {n: f for n, f in vars(mod).items() if n.startswith("test_") and callable(f)}


deselected_items = []  # (nodeid, reason), for test_every_deselection_matches and the summary

SUPPORTED = "1.2."  # the scikit-learn series the deselections and fixtures are written for


def supported():
    """Whether the installed scikit-learn is the series this plugin knows (Debian's 1.2.1 in CI).
    Another version moves tests and fixtures (1.5 has no sklearn.tests.random_seed): the suite
    is then skipped with that reason, not run against a list written for other tests."""
    import sklearn

    return sklearn.__version__.startswith(SUPPORTED)


def pytest_configure(config):
    if not supported():
        return
    # scikit-learn's global_random_seed fixture (SKLEARN_TESTS_GLOBAL_RANDOM_SEED honoured)
    from sklearn.tests import random_seed

    if not config.pluginmanager.hasplugin("sklearn.tests.random_seed"):
        config.pluginmanager.register(random_seed, "sklearn.tests.random_seed")


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        if os.path.basename(str(item.fspath)) != MODULE or getattr(item, "originalname", None) is None:
            keep.append(item)
            continue
        params = item.name[len(item.originalname) + 1:-1] if "[" in item.name else None
        reason = _reason(item.originalname, params)
        if reason is None:
            keep.append(item)
        else:
            drop.append(item)
            deselected_items.append((item.nodeid, reason))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    if deselected_items and terminalreporter.config.getoption("verbose") > 0:
        terminalreporter.write_sep("-", "scikit-learn suite: %d deselected" % len(deselected_items))
        for nodeid, reason in deselected_items:
            terminalreporter.write_line("%s: %s" % (nodeid.split("::")[-1], reason))
