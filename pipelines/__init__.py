"""castlist's pipelines: records, the workspace store, media I/O, the stages and the CLI.

This is the only layer that knows about files, episodes and lines; it feeds arrays to
``embeddings`` and ``grouping`` and stores what they return.
"""
