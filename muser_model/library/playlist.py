"""Extended M3U playlists, written atomically, readable as the umask allows (0644 under 022)."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from muser_model.core.errors import EXIT_USAGE, FileError
from muser_model.core.files import new_file_mode
from muser_model.library.query import Hit


class PlaylistError(FileError):
    """The --m3u file cannot be written (no such folder, a folder given as the file): a usage error."""

    exit_code = EXIT_USAGE
    reason = "cannot write playlist"


def write_m3u(hits: Sequence[Hit], path: Path, relative_to: Path | None = None) -> list[str]:
    """Write `hits` as an extended M3U file: a temporary file beside it, renamed over it, with the
    mode a new file gets under the process's umask. Raises PlaylistError naming `path`.

    Entries are written relative to `relative_to` (a player's music folder: MPD's
    `music_directory`, Navidrome's and Jellyfin's library root) for the tracks under it; without
    it, relative to the playlist's own folder when every track is under that folder (a playlist
    saved in the music folder travels with it), else as absolute paths. UTF-8 either way (`.m3u8`
    names the encoding; MPD, Navidrome and Jellyfin read `.m3u` as UTF-8 too).

    M3U is one entry a line and has no escapes: a hit whose file name holds a line break would
    add false entries, so it is left out; the paths left out are returned. A line break in a
    title or artist becomes a space (the #EXTINF name is for display only)."""
    text, left_out = m3u_text(hits, _base(hits, Path(path), relative_to))
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise PlaylistError(path, f"no such folder: {folder}")
    if path.is_dir():
        raise PlaylistError(path, "is a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".muser-m3u-")
    except OSError as exc:
        raise PlaylistError(path, exc.strerror or str(exc)) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:  # names' bytes as on disk
            f.write(text)
            os.fchmod(f.fileno(), new_file_mode())  # mkstemp made it 0600
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PlaylistError(path, exc.strerror or str(exc)) from exc
    return left_out


def m3u_text(hits: Sequence[Hit], base: Path | None = None) -> tuple[str, list[str]]:
    """The extended M3U text of `hits` (paths relative to `base` for the tracks under it), and the
    paths left out (a line break in a file name: see write_m3u)."""
    lines, left_out = ["#EXTM3U"], []
    for hit in hits:
        if "\n" in hit.path or "\r" in hit.path:
            left_out.append(hit.path)
            continue
        seconds = int(round(hit.duration)) if hit.duration else -1
        name = " - ".join(x for x in (hit.artist, hit.title) if x) or Path(hit.path).stem
        lines += [f"#EXTINF:{seconds},{' '.join(name.splitlines())}", _entry(hit.path, base)]
    return "\n".join(lines) + "\n", left_out


def _base(hits: Sequence[Hit], path: Path, relative_to: Path | None) -> Path | None:
    """The folder entries are written relative to: `relative_to`, else the playlist's folder when
    it holds every track, else none (absolute paths)."""
    if relative_to is not None:
        return Path(os.path.abspath(relative_to))
    folder = Path(os.path.abspath(path)).parent
    return folder if hits and all(_under(hit.path, folder) for hit in hits) else None


def _under(track: str, folder: Path) -> bool:
    return Path(os.path.abspath(track)).is_relative_to(folder)


def _entry(track: str, base: Path | None) -> str:
    """The track's path as the playlist writes it: relative to `base` when under it, with `/`."""
    if base is None or not _under(track, base):
        return track
    return Path(os.path.abspath(track)).relative_to(base).as_posix()
