"""faiss on a GPU: the exact index goes there where faiss sees one; HNSW (no GPU version in
faiss) stays on the CPU. This machine has faiss-cpu: the rule is tested with the GPU count
given, the real count for what it says here."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from grouping.knn import faiss_gpus, knn_search, use_gpu


def test_exact_search_goes_to_a_gpu_where_faiss_sees_one():
    assert use_gpu(exact=True, n_gpus=1) is True
    assert use_gpu(exact=False, n_gpus=1) is False  # no GPU HNSW in faiss
    assert use_gpu(exact=True, n_gpus=0) is False
    assert use_gpu(exact=True, gpu=False, n_gpus=4) is False  # asked for the CPU


def test_asking_for_a_gpu_without_one_or_for_gpu_hnsw_is_an_error():
    with pytest.raises(ValueError, match="no GPU"):
        use_gpu(exact=True, gpu=True, n_gpus=0)
    with pytest.raises(ValueError, match="no GPU HNSW"):
        use_gpu(exact=False, gpu=True, n_gpus=1)


@pytest.mark.skipif(faiss.get_num_gpus() > 0, reason="this machine has a faiss GPU")
def test_here_faiss_cpu_searches_on_the_cpu_with_the_same_answer():
    assert faiss_gpus() == 0
    X = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    idx, sim = knn_search(X[:10], X, 5)  # gpu=None: the CPU here, nothing asked of a GPU
    assert (idx[:, 0] == np.arange(10)).all()
    with pytest.raises(ValueError, match="no GPU"):
        knn_search(X[:10], X, 5, exact=True, gpu=True)
