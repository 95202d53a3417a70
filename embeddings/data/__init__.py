"""Fixed numbers shipped with the embedders (see benchmarks/fit_spectrum_reference.py)."""
