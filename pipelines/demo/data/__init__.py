"""Package data for the built-in demo: trimmed LibriSpeech voices (CC BY 4.0, see ATTRIBUTION.md).

Loaded by :func:`pipelines.demo.episodes.demo_pool`; regenerate with
``python benchmarks/make_pseudo.py demo-data``.
"""
