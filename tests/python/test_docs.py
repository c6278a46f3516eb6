"""The examples in docs/python.md run (numpy ones here; torch/CUDA ones where those exist)."""
import re

import pytest


def _blocks(repo):
    text = (repo / "docs" / "python.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_docs_have_examples(repo):
    assert len(_blocks(repo)) >= 4


@pytest.mark.parametrize("i", range(12))  # more than the examples: each one runs
def test_docs_example_runs(repo, i, capsys):
    blocks = _blocks(repo)
    if i >= len(blocks):
        pytest.skip("no example %d" % i)
    code = blocks[i]
    if code.lstrip().startswith("flashkmeans.KMeans(n_clusters=8, *"):
        pytest.skip("signature listing, not an example")
    if "import flashkmeans.dask" in code:
        pytest.importorskip("distributed", reason="the Dask example needs dask and distributed")
    if "import jax" in code:
        pytest.importorskip("jax")
    if "import torch" in code:
        torch = pytest.importorskip("torch")
        if "cuda" in code and not torch.cuda.is_available():
            pytest.skip("example needs a CUDA GPU")
        code = code.replace("1_000_000", "100_000")  # keep the test quick
    exec(compile(code, "docs/python.md example %d" % i, "exec"), {})
