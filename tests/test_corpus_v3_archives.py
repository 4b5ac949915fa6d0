"""Corpus v3: music members of zip/pk3 archives are extracted by glob, the rest is left."""
import zipfile

import pytest

from muser_train.corpus import realmusic
from muser_train.corpus.debpkg import PackageError


def make_archive(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"x" * 10)
    return path


NAMES = ["audio/music/theme.ogg", "audio/ambient/wind.ogg", "audio/sfx/boom.wav",
         "music/menu.xm", "textures/wall.png"]


def test_members_by_glob_skip_ambient(tmp_path):
    arch = make_archive(tmp_path / "public.zip", NAMES)
    got = realmusic.extract_members(arch, tmp_path / "out", ["audio/music/*"], ["audio/ambient/*"])
    assert [p.relative_to(tmp_path / "out" / "public").as_posix() for p in got] == \
        ["audio/music/theme.ogg"]
    assert got[0].read_bytes() == b"x" * 10


def test_generic_rule_takes_music_folders_of_a_pk3(tmp_path):
    arch = make_archive(tmp_path / "pak0.pk3", NAMES)
    got = realmusic.extract_members(arch, tmp_path / "out", None, [])
    rel = sorted(p.relative_to(tmp_path / "out" / "pak0").as_posix() for p in got)
    assert rel == ["audio/music/theme.ogg", "music/menu.xm"]


def test_extraction_is_resumable(tmp_path):
    arch = make_archive(tmp_path / "a.pk3", ["music/x.ogg"])
    first = realmusic.extract_members(arch, tmp_path / "out", ["music/*"], [])
    mtime = first[0].stat().st_mtime_ns
    again = realmusic.extract_members(arch, tmp_path / "out", ["music/*"], [])
    assert again == first and again[0].stat().st_mtime_ns == mtime


def test_unreadable_archive_is_named(tmp_path):
    bad = tmp_path / "0music.pk3"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PackageError, match="0music.pk3"):
        realmusic.extract_members(bad, tmp_path / "out", ["music/*"], [])
