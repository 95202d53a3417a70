"""Models that turn media into vectors: waveforms into voice vectors, images into face boxes
and vectors, frames into frame vectors.

Every backend follows one small protocol (``name``, ``dim``, ``__call__``) so the pipelines
can swap them; optional backends import their heavy libraries lazily and raise
:class:`embeddings.errors.BackendUnavailable` naming the extra or path that fixes it. This
package knows nothing of lines, episodes or storage.
"""
