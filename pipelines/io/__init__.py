"""Files in and out: media through ffmpeg, frames, subtitles, an episode's audio, vectors files,
atomic writes and safe paths. Nothing here reads or writes the workspace's tables."""
