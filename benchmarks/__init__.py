"""Benchmarks and the data generators only they use (pseudo-seasons, synthetic vectors, the
baselines castlist is measured against). Not installed: the tests import them from the repo root
(pytest's ``pythonpath``), the scripts put the root on ``sys.path`` themselves."""
