"""Write muser's genre and mood into audio files, where players read them, and take them back.

Fields (the players' conventions, Navidrome's and Picard's tag map):

| format | genre | mood | muser's own |
|---|---|---|---|
| ID3v2.4 (mp3) | `TCON` | `TMOO` | `TXXX:MUSER_*` |
| ID3v2.3 | `TCON` | `TXXX:MOOD` | `TXXX:MUSER_*` |
| Vorbis comments (ogg, opus, flac) | `GENRE` (repeated) | `MOOD` | `MUSER_*` |
| MP4 (m4a) | `©gen` | `----:com.apple.iTunes:MOOD` | `----:com.apple.iTunes:MUSER_*` |

`MUSER_GENRE` (the label and its evidence), `MUSER_ENERGY`, `MUSER_VALENCE` and
`MUSER_CHECKPOINT` (the hash prefix) say what muser wrote. A genre or mood the user set (present,
and not written by muser: no `MUSER_CHECKPOINT`) is kept unless `overwrite`.

**Nothing lost.** Every field's previous value is stored in the catalogue before the first write
(`tag_history`), and `undo` puts them back exactly (fields that were absent are removed again).
Each file is rewritten safely: a hidden copy beside it gets the new tags, its decoded audio is
compared with the original's, and only then is it renamed over the original (atomic): a crash at
any moment leaves the old file or the new one, never a truncated one; other tags and cover art are
untouched (mutagen rewrites only the fields named).
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muser_model.core.errors import FileError

MUSER_FIELDS = ("MUSER_GENRE", "MUSER_ENERGY", "MUSER_VALENCE", "MUSER_CHECKPOINT")
DISPLAY = {"hip-hop": "Hip-Hop", "r&b/soul": "R&B/Soul", "funk/disco": "Funk/Disco"}
_ITUNES = "----:com.apple.iTunes:"


class TagWriteError(FileError):
    reason = "cannot write tags"


@dataclass
class Wanted:
    """What muser would write into one file."""

    genre: list[str]  # [] when no genre is clear
    mood: list[str]  # words from energy and valence, [] when both are middling
    muser: dict[str, str]  # MUSER_* fields


@dataclass
class Plan:
    path: str
    changes: dict[str, tuple[list[str] | None, list[str]]] = field(default_factory=dict)  # field -> (old, new)
    kept: list[str] = field(default_factory=list)  # fields the user set, left alone


def wanted(genre: str, genre_score: float | None, energy: float | None, valence: float | None,
           checkpoint_hash: str, clear_genre: bool) -> Wanted:
    """The values for one track from muser's predictions (a family genre, energy, valence)."""
    mood = [w for w in (_axis_word(energy, "Calm", "Energetic"), _axis_word(valence, "Sad", "Happy")) if w]
    muser = {"MUSER_CHECKPOINT": checkpoint_hash[:16]}
    if genre:
        muser["MUSER_GENRE"] = f"{genre} {genre_score:.2f}" if genre_score is not None else genre
    for name, value in (("MUSER_ENERGY", energy), ("MUSER_VALENCE", valence)):
        if value is not None:
            muser[name] = f"{value:.2f}"
    return Wanted([DISPLAY.get(genre, genre.title())] if clear_genre and genre else [], mood, muser)


def _axis_word(value: float | None, low: str, high: str) -> str:
    if value is None:
        return ""
    return low if value < 1 / 3 else (high if value > 2 / 3 else "")


# -- formats ---------------------------------------------------------------------------------
class _Tags:
    """Read and write the fields of one opened mutagen file, whatever its tag format."""

    def __init__(self, path: Path) -> None:
        import mutagen

        try:
            self.file = mutagen.File(path)
        except Exception as exc:  # noqa: BLE001 - mutagen raises many types on broken files
            raise TagWriteError(path, f"unreadable tags ({exc})") from None
        if self.file is None:
            raise TagWriteError(path, "not a format muser writes tags into (mp3, ogg, opus, flac, m4a)")
        if self.file.tags is None:
            self.file.add_tags()
        kind = type(self.file.tags).__name__
        self.kind = "id3" if kind == "ID3" else "mp4" if kind == "MP4Tags" else "vorbis"
        self.id3_v23 = self.kind == "id3" and getattr(self.file.tags, "version", (2, 4, 0))[1] == 3

    def _key(self, name: str) -> str:
        if self.kind == "vorbis":
            return name
        if self.kind == "mp4":
            return {"GENRE": "\xa9gen"}.get(name, _ITUNES + name)
        if name == "GENRE":
            return "TCON"
        if name == "MOOD" and not self.id3_v23:
            return "TMOO"
        return f"TXXX:{name}"

    def get(self, name: str) -> list[str] | None:
        key, tags = self._key(name), self.file.tags
        if self.kind == "id3":
            frame = tags.get(key)
            return None if frame is None else [str(t) for t in frame.text]
        values = tags.get(key)
        if values is None:
            return None
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]

    def set(self, name: str, values: list[str] | None) -> None:
        key, tags = self._key(name), self.file.tags
        if values is None:
            if key in tags:
                del tags[key]
            return
        if self.kind == "id3":
            from mutagen import id3

            frame = (id3.TXXX(encoding=3, desc=key.split(":", 1)[1], text=values) if key.startswith("TXXX:")
                     else getattr(id3, key)(encoding=3, text=values))
            tags.setall(key, [frame])
        elif self.kind == "mp4" and key.startswith(_ITUNES):
            from mutagen.mp4 import MP4FreeForm

            tags[key] = [MP4FreeForm(v.encode("utf-8")) for v in values]
        else:
            tags[key] = values

    def save(self) -> None:
        if self.kind == "id3":
            self.file.save(v2_version=3 if self.id3_v23 else 4)
        else:
            self.file.save()


def plan(path: str, want: Wanted, overwrite: bool = False) -> Plan:
    """What writing `want` would change in the file (read only)."""
    tags = _Tags(Path(path))
    ours = tags.get("MUSER_CHECKPOINT") is not None  # the genre and mood there are muser's own
    out = Plan(path)
    for name, new in (("GENRE", want.genre), ("MOOD", want.mood)):
        old = tags.get(name)
        if not new or old == new:
            continue
        if old and not ours and not overwrite:
            out.kept.append(name)
            continue
        out.changes[name] = (old, new)
    for name, value in want.muser.items():
        old = tags.get(name)
        if old != [value]:
            out.changes[name] = (old, [value])
    return out


def apply(p: Plan, remember: Callable[[str, dict[str, list[str] | None]], None]) -> None:
    """Write a plan's changes: `remember(path, previous values)` first (the catalogue keeps the
    first ones), then the safe rewrite."""
    if not p.changes:
        return
    remember(p.path, {name: old for name, (old, _) in p.changes.items()})
    rewrite(Path(p.path), {name: new for name, (_, new) in p.changes.items()})


def rewrite(path: Path, values: dict[str, list[str] | None]) -> None:
    """Set (or, for None, remove) fields through a hidden copy whose audio is checked against the
    original's before it replaces it. Raises TagWriteError naming the file; the file is unchanged
    then."""
    tmp = path.with_name(f".muser-tags-{os.getpid()}-{path.name}")  # hidden: scans skip it
    try:
        shutil.copy2(path, tmp)
        tags = _Tags(tmp)
        for name, new in values.items():
            tags.set(name, new)
        tags.save()
        if not same_audio(path, tmp):
            raise TagWriteError(path, "the audio would change (nothing written)")
        os.replace(tmp, path)
    except OSError as exc:
        raise TagWriteError(path, exc.strerror or str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)


def same_audio(a: Path, b: Path) -> bool:
    """Whether two files decode to the same samples (at muser's rate, mono)."""
    from muser_model.core.audio import load_audio

    return bool(np.array_equal(load_audio(a), load_audio(b)))


def restore(path: str, previous: dict[str, list[str] | None]) -> None:
    """Put back the fields as they were before muser first wrote them."""
    rewrite(Path(path), previous)


def history_json(previous: dict[str, list[str] | None]) -> str:
    return json.dumps(previous, ensure_ascii=False)


# -- a library's tracks ------------------------------------------------------------------------
@dataclass
class Outcome:
    plans: list[Plan] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    written: int = 0


def _selected_rows(lib, paths: list[str]) -> list[dict]:
    """The library's good tracks under `paths` (files or folders; none: all of them)."""
    ids = lib.catalogue.ids(lib.model_hash)
    rows = lib.catalogue.rows(ids.tolist())
    if not paths:
        return sorted(rows.values(), key=lambda r: r["path"])
    roots = [os.path.abspath(p) for p in paths]
    return sorted((r for r in rows.values()
                   if any(r["path"] == root or r["path"].startswith(root.rstrip(os.sep) + os.sep) for root in roots)),
                  key=lambda r: r["path"])


def write_library_tags(lib, paths: list[str], write: bool = False, overwrite: bool = False,
                       out: Outcome | None = None) -> Outcome:
    """Plan (and with `write`, write) muser's genre and mood into the files of the library's
    tracks under `paths`, from their stored predictions (no model runs)."""
    out = out or Outcome()
    for row in _selected_rows(lib, paths):
        genre = row["predicted_genre"]
        want = wanted(genre, row.get("predicted_genre_score"), row.get("energy"), row.get("valence"),
                      lib.model_hash, clear_genre=bool(genre) and genre != "no clear genre")
        _one(lib, row["path"], want, write, overwrite, out)
    return out


def write_file_tags(lib, results, model_hash: str, write: bool = False, overwrite: bool = False,
                    out: Outcome | None = None) -> Outcome:
    """As write_library_tags for files outside the library, from `muser tag` results (TagResult,
    or the AudioError of a file that failed); their previous values go to the library's history
    all the same, so --undo puts them back."""
    from muser_model.core.errors import AudioError

    out = out or Outcome()
    for result in results:
        if isinstance(result, AudioError):
            out.failures.append((str(result.path), str(result)))
            continue
        call = result.headline
        want = wanted(call.candidates[0][0] if call else "", call.score if call else None, result.mood.get("energy"),
                      result.mood.get("valence"), model_hash, clear_genre=bool(call and call.clear))
        _one(lib, str(result.path), want, write, overwrite, out)
    return out


def _one(lib, path: str, want: Wanted, write: bool, overwrite: bool, out: Outcome) -> None:
    from muser_model.core.errors import AudioError

    try:
        p = plan(path, want, overwrite)
        out.plans.append(p)
        if write and p.changes:
            apply(p, lambda target, previous: lib.catalogue.remember_tags(target, history_json(previous)))
            st = os.stat(path)
            lib.catalogue.touch(path, st.st_size, st.st_mtime_ns)
            out.written += 1
    except (TagWriteError, AudioError) as exc:
        out.failures.append((path, str(exc)))


def outside(lib, paths: list[str]) -> list[Path]:
    """The audio files under `paths` that the library does not hold (loose files)."""
    from muser_model.core.files import iter_audio_files

    return [p for p in iter_audio_files(paths) if lib.catalogue.find_path(os.path.abspath(p)) is None]


def undo_library_tags(lib, paths: list[str]) -> Outcome:
    """Put back every field muser changed in the files under `paths` (none: all)."""
    from muser_model.core.errors import AudioError

    roots = [os.path.abspath(p) for p in paths]
    out = Outcome()
    for path, previous in lib.catalogue.tag_history():
        if roots and not any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            continue
        try:
            restore(path, json.loads(previous))
            lib.catalogue.forget_tags(path)
            st = os.stat(path)
            lib.catalogue.touch(path, st.st_size, st.st_mtime_ns)
            out.written += 1
        except (TagWriteError, AudioError, OSError) as exc:
            out.failures.append((path, str(exc)))
    return out
