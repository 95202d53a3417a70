"""Algorithms on arrays: line confidence, the kNN graph, clustering, cross-episode linking,
label propagation, review-queue ranking and metrics.

Estimators follow scikit-learn conventions: ``__init__`` stores parameters, ``fit`` sets
attributes ending in ``_``, and ``-1`` means "no label" in inputs and "noise" in outputs.
This package knows nothing of files.
"""
