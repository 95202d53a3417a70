"""castlist's pipelines, one subpackage per role.

This is the only layer that knows about files, episodes and lines; it feeds arrays to
``embeddings`` and ``grouping`` and stores what they return.

- ``io``: files in and out (media through ffmpeg, frames, subtitles, audio, vectors files,
  atomic writes, safe paths); knows nothing of the workspace's tables.
- ``store``: the workspace folder (its SQLite database, vectors, action log, backups, lock,
  doctor, stable ids).
- ``stages``: what ``castlist run`` and the other labelling commands compute (ingest, ASR,
  separation, voice, faces, the season grouping, features) and the orchestrator ``run``.
- ``review``: the review queue and the words that tell a person what a command changed.
- ``export``: what comes out of a workspace (tables, datasets, the HTML report, scores
  against truth).
- ``demo``: ``castlist demo`` and the synthetic episode it builds from bundled voices.
- ``cli``: the command line; ``errors`` and ``faults``: the one exception tree and the names
  of operating-system failures; ``records``: the flat records every role shares.
"""
