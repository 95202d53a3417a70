"""The computing stages: ingest (subtitles or ASR, name hints), music separation, voice and face
embedding, the season grouping, downstream features, and ``run``, the orchestrator that reads
what each stage needs from the workspace and stores what it returns; ``distributed`` runs the
per-episode stages as Ray tasks (``run --ray``; one task is ``episode_task``), ``devices``
says where models run."""
