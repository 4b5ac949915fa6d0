"""Writing muser's genre and mood into files: the players' fields per format, the audio unchanged,
other tags kept, the user's values kept, undo exact, and a crash leaving the file whole."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mutagen
import pytest

from muser_model.core.audio import load_audio
from muser_model.library import filetags
from muser_model.library.filetags import TagWriteError, apply, plan, restore, wanted
from tests.conftest import write_clip
from tests.helpers.library_fixtures import run_cli

WANT = wanted("electronic", 0.61, 0.9, 0.1, "ab" * 32, clear_genre=True)


def _audio(path: Path) -> str:
    return hashlib.sha256(load_audio(path).tobytes()).hexdigest()


def _file(tmp_path: Path, kind: str) -> Path:
    """A clip of `kind` with a title tag of its own."""
    if kind in ("m4a", "opus"):
        if not shutil.which("ffmpeg"):
            pytest.skip("no ffmpeg")
        src = write_clip(tmp_path / "src.wav", 330.0, 2.0)
        path = tmp_path / f"clip.{kind}"
        codec = {"m4a": "aac", "opus": "libopus"}[kind]
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(src), "-c:a", codec, str(path)], check=True)
    else:
        path = write_clip(tmp_path / f"clip.{kind.split('-')[0]}", 330.0, 2.0)
    f = mutagen.File(path)
    if f.tags is None:
        f.add_tags()
    if kind.startswith("mp3"):
        from mutagen.id3 import TIT2

        f.tags.add(TIT2(encoding=3, text=["My Title"]))
        f.save(v2_version=3 if kind == "mp3-v23" else 4)
    elif kind == "m4a":
        f.tags["\xa9nam"] = ["My Title"]
        f.save()
    else:
        f.tags["TITLE"] = ["My Title"]
        f.save()
    return path


FIELDS = {  # the raw keys players read, per format
    "mp3": ("TCON", "TMOO", "TXXX:MUSER_CHECKPOINT", "TIT2"),
    "mp3-v23": ("TCON", "TXXX:MOOD", "TXXX:MUSER_CHECKPOINT", "TIT2"),
    "ogg": ("genre", "mood", "muser_checkpoint", "title"),
    "opus": ("genre", "mood", "muser_checkpoint", "title"),
    "flac": ("genre", "mood", "muser_checkpoint", "title"),
    "m4a": ("\xa9gen", "----:com.apple.iTunes:MOOD", "----:com.apple.iTunes:MUSER_CHECKPOINT", "\xa9nam"),
}


def _values(path: Path, key: str) -> list[str]:
    tags = mutagen.File(path).tags
    if key not in tags:
        return []
    value = tags[key]
    items = value.text if hasattr(value, "text") else value
    return [bytes(v).decode() if isinstance(v, bytes) else str(v) for v in items]


@pytest.mark.parametrize("kind", list(FIELDS))
def test_each_format_gets_the_players_fields_and_keeps_its_audio_and_other_tags(tmp_path, kind):
    path = _file(tmp_path, kind)
    before = _audio(path)
    remembered = {}
    apply(plan(str(path), WANT), lambda p, previous: remembered.update(previous))
    genre, mood, ours, title = FIELDS[kind]
    assert _values(path, genre) == ["Electronic"]
    # several values: repeated fields, or (ID3v2.3, which has none) joined with "/" as v2.3 does
    assert _values(path, mood) == (["Energetic/Sad"] if kind == "mp3-v23" else ["Energetic", "Sad"])
    assert _values(path, ours) == ["abababababababab"]
    assert _values(path, title) == ["My Title"]  # other tags as they were
    assert _audio(path) == before  # decoded audio bit-identical
    assert mutagen.File(path).tags.version[1] == 3 if kind == "mp3-v23" else True  # ID3v2.3 stays 2.3
    restore(str(path), remembered)  # undo: the fields as they were (absent again)
    assert _values(path, genre) == [] and _values(path, ours) == [] and _values(path, mood) == []
    assert _values(path, title) == ["My Title"] and _audio(path) == before


def test_a_genre_the_user_set_is_kept_unless_overwrite(tmp_path):
    path = _file(tmp_path, "flac")
    f = mutagen.File(path)
    f.tags["GENRE"] = ["Dixieland"]
    f.save()
    kept = plan(str(path), WANT)
    assert kept.kept == ["GENRE"] and "GENRE" not in kept.changes
    assert plan(str(path), WANT, overwrite=True).changes["GENRE"] == (["Dixieland"], ["Electronic"])
    apply(plan(str(path), WANT), lambda *a: None)
    assert "GENRE" in plan(str(path), wanted("rock", 0.7, None, None, "cd" * 32, True)).changes  # muser's own now


def test_a_crash_before_the_rename_leaves_the_file_whole(tmp_path, monkeypatch):
    path = _file(tmp_path, "ogg")
    original = path.read_bytes()

    def crash(*args):
        raise KeyboardInterrupt  # as a kill between writing the copy and renaming it

    monkeypatch.setattr(filetags.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        apply(plan(str(path), WANT), lambda *a: None)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no copy left


def test_a_missing_or_non_audio_file_is_one_error_naming_it(tmp_path):
    with pytest.raises(TagWriteError, match="gone.ogg"):
        plan(str(tmp_path / "gone.ogg"), WANT)
    text = tmp_path / "notes.ogg"
    text.write_text("not audio")
    with pytest.raises(TagWriteError, match="notes.ogg"):
        plan(str(text), WANT)


def test_write_tags_on_a_library_dry_run_write_and_undo(tmp_path, msd_checkpoint, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    music = tmp_path / "music"
    files = [write_clip(music / f"t{i}.ogg", 200.0 + 90 * i, 3.0, seed=i) for i in range(3)]
    assert run_cli("index", music, "-c", msd_checkpoint, "--workers", 1).exit_code == 0
    sizes = [f.stat().st_size for f in files]
    dry = run_cli("write-tags")
    assert dry.exit_code == 0 and "dry run: 3 of 3 file(s) would change" in dry.stderr
    assert [f.stat().st_size for f in files] == sizes  # nothing written
    done = run_cli("write-tags", "--write")
    assert done.exit_code == 0 and "wrote tags into 3 file(s)" in done.stderr
    assert all(_values(f, "muser_checkpoint") for f in files)
    again = run_cli("index", music, "-c", msd_checkpoint, "--workers", 1)
    assert "nothing new to index" in again.stderr  # the audio is the same: nothing re-embedded
    undone = run_cli("write-tags", "--undo")
    assert undone.exit_code == 0 and "restored 3 file(s)" in undone.stderr
    assert not any(_values(f, "muser_checkpoint") for f in files)


def test_loose_files_are_tagged_first_and_undone_alike(tmp_path, msd_checkpoint, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    loose = write_clip(tmp_path / "loose" / "one.flac", 260.0, 3.0, seed=5)
    before = _audio(loose)
    done = run_cli("write-tags", tmp_path / "loose", "--write", "-c", msd_checkpoint)
    assert done.exit_code == 0 and "wrote tags into 1 file(s)" in done.stderr, done.stderr
    assert _values(loose, "muser_checkpoint") and _audio(loose) == before
    assert run_cli("write-tags", "--undo").exit_code == 0
    assert not _values(loose, "muser_checkpoint")


def test_a_file_that_cannot_be_written_is_one_error_and_the_run_goes_on(tmp_path, msd_checkpoint, monkeypatch):
    """Root ignores a file's mode, so the refusal is the copy's: a read-only file's PermissionError."""
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    music = tmp_path / "music"
    files = [write_clip(music / f"t{i}.ogg", 200.0 + 90 * i, 3.0, seed=i) for i in range(3)]
    assert run_cli("index", music, "-c", msd_checkpoint, "--workers", 1).exit_code == 0
    real_copy = shutil.copy2

    def refuse_one(src, dst, *args, **kwargs):
        if Path(src).name == "t1.ogg":
            raise PermissionError(13, "Permission denied")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(filetags.shutil, "copy2", refuse_one)
    res = run_cli("write-tags", "--write")
    assert res.exit_code == 1
    assert [line for line in res.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {files[1]}: cannot write tags (Permission denied)"]
    assert [bool(_values(f, "muser_checkpoint")) for f in files] == [True, False, True]


_KILL_MID_WRITE = """
import os, signal, sys
from muser_model.library import filetags
filetags.same_audio = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)  # dies between copy and rename
want = filetags.wanted("electronic", 0.6, 0.9, 0.1, "ab" * 32, True)
filetags.apply(filetags.plan(sys.argv[1], want), lambda *a: None)
"""


def test_a_kill_mid_write_leaves_the_file_whole_and_playable(tmp_path):
    path = _file(tmp_path, "flac")
    original, audio = path.read_bytes(), _audio(path)
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-c", _KILL_MID_WRITE, str(path)], env={**os.environ, "PYTHONPATH": str(root)},
                         capture_output=True, timeout=120)
    assert res.returncode == -9  # killed, as planned
    assert path.read_bytes() == original and _audio(path) == audio  # whole and playable
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".muser-tags-")]
    assert len(leftovers) == 1  # the hidden copy: scans skip hidden files, the next write replaces it
