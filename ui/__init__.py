"""The Streamlit cluster browser. Pages only: every read and action goes through
``pipelines.store.workspace`` so the CLI and the UI share one set of rules."""
