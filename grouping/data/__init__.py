"""Fitted default models shipped with castlist (see benchmarks/train_confidence.py)."""
