"""Finding audio files: recursive, sorted, hidden entries skipped, symlink loops cut."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from muser_model.core.audio import AUDIO_EXTENSIONS
from muser_model.core.errors import OptionError


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute
    size: int
    mtime_ns: int


def walk_audio(roots: Iterable[str | Path], unreadable: list[str] | None = None) -> Iterator[FileEntry]:
    """Audio files under `roots` by extension; folders that cannot be listed go to `unreadable`."""
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        yield from _walk(Path(os.path.abspath(root)), seen_dirs,
                         unreadable if unreadable is not None else [])


def _walk(folder: Path, seen: set[tuple[int, int]], unreadable: list[str]) -> Iterator[FileEntry]:
    try:
        st = folder.stat()
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop, or the same folder twice
            return
        seen.add((st.st_dev, st.st_ino))
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        unreadable.append(str(folder))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                yield from _walk(Path(entry.path), seen, unreadable)
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS:
                st = entry.stat()
                yield FileEntry(entry.path, st.st_size, st.st_mtime_ns)
        except OSError:  # vanished or unreadable between listing and stat
            continue


def iter_audio_files(inputs: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given (whatever their extension); folders walked for audio files."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from (Path(e.path) for e in walk_audio([path]))
        else:
            yield path


def new_file_mode() -> int:
    """The mode a new file gets under this process's umask (0644 under 022): for files written
    through mkstemp (always 0600) and renamed into place."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def given_paths(values: Iterable[str]) -> list[Path]:
    """Command-line paths as Paths; an empty one is an error (Path("") would be the working folder)."""
    if any(not v for v in values):
        raise OptionError('an empty path ("") names no file or folder')
    return [Path(v) for v in values]


def check_new_file(path: Path, option: str) -> None:
    """Raise OptionError unless `path` can be created or replaced as a file (its folder exists and
    it is not a folder itself): checked before a long run, whose result it would hold."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OptionError(f"{option} {path}: is a folder")
    if not folder.is_dir():
        raise OptionError(f"{option} {path}: no such folder {folder}")
