"""castlist's one exception tree.

Every error a user can cause (bad files, a missing model, a folder that is not a workspace)
is a :class:`CastlistError` whose message names the file and the fix; the CLI prints that
message on one line and exits non-zero, without a traceback.
"""

from __future__ import annotations


class CastlistError(Exception):
    """Base of every error castlist raises on purpose."""


class WorkspaceError(CastlistError):
    """The workspace folder is missing, not a workspace, or from an incompatible version."""


class InputError(CastlistError):
    """A user-supplied file cannot be used as it is."""


class MediaError(InputError):
    """A video or audio file is missing, corrupt, or has no audio stream."""


class SubtitleError(InputError):
    """A subtitle file is missing, empty, undecodable or inconsistent with its media."""


class ModelError(CastlistError):
    """A model's weights or optional library are missing."""


class ConflictError(CastlistError):
    """Someone else changed the same thing since you read it (another tab or process)."""


class NotFoundError(CastlistError):
    """A line, group, episode or character id that does not exist in the workspace."""


class UsageError(CastlistError):
    """A command or action was asked for in a way that cannot work (e.g. merge one group)."""


class DiskFullError(CastlistError):
    """No space (or quota) left where castlist writes; nothing stored is damaged by it."""


class ReadOnlyError(WorkspaceError):
    """The workspace is on read-only media or not writable: it can be read, not changed."""


class AccessError(CastlistError):
    """The operating system refused access to a file or folder (permission denied)."""


class DamagedError(WorkspaceError):
    """castlist.db is truncated or corrupt; ``castlist doctor --restore`` brings a backup back."""


class BusyError(WorkspaceError):
    """Another castlist command is writing to this workspace right now."""


class VectorsError(WorkspaceError):
    """A stored vectors file is missing, unreadable, of the wrong shape or not finite."""
