"""Generated on-disk music libraries for the library tests."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mutagen
import numpy as np
import pytest

from muser_model.library.scan import ScanOptions, index_library
from muser_model.library.store import Library
from tests.conftest import write_clip


def tag_file(path: Path, **tags: str) -> None:
    f = mutagen.File(path, easy=True)
    for key, value in tags.items():
        f[key] = value
    f.save()


def make_library(root: Path) -> dict[str, Path]:
    """Six good tracks in three formats with tags, in nested folders with odd names."""
    files = {
        "blues": write_clip(root / "Blues Band" / "Slow Night.ogg", 110.0, 6.0, seed=1),
        "jazz": write_clip(root / "Jazz" / "Café Été.flac", 440.0, 5.0, seed=2),
        "rock": write_clip(root / "Rock" / "loud.ogg", 880.0, 4.0, seed=3),
        "piano": write_clip(root / "Piano" / "sonata.flac", 261.6, 7.0, seed=4),
        "plain": write_clip(root / "plain.wav", 330.0, 3.0, seed=5),
        "hidden": write_clip(root / ".hidden" / "skip.ogg", 330.0, 3.0, seed=6),
    }
    tag_file(files["blues"], title="Slow Night", artist="Ann Lee", genre="Blues", date="1962")
    tag_file(files["jazz"], title="Café Été", artist="Zoë Quartet", album="Nuits", genre="Jazz", date="1999-04-01")
    tag_file(files["rock"], title="Loud", artist="The Amps", genre="Rock", date="2005")
    tag_file(files["piano"], title="Sonata\x00 No. 1", artist="Ann Lee\x01", genre="Classical", date="1790")
    if shutil.which("ffmpeg"):
        m4a = root / "Rock" / "track.m4a"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(files["rock"]), "-c:a", "aac", str(m4a)], check=True)
        files["m4a"] = m4a
    return files


def add_bad_files(root: Path) -> dict[str, Path]:
    bad = root / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    good = write_clip(bad / "source.ogg", 200.0, 4.0, seed=9)
    data = good.read_bytes()
    files = {
        "empty": bad / "empty.mp3",
        "text": bad / "readme.mp3",
        "truncated": bad / "truncated.ogg",
        "broken_tags": bad / "broken tags.wav",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not music\n" * 20)
    files["truncated"].write_bytes(data[:700])
    mp3 = bad / "source.mp3"
    import soundfile as sf

    from tests.conftest import tone

    sf.write(mp3, tone(200.0, 4.0), 16000, format="MP3")
    files["truncated_mp3"] = bad / "truncated.mp3"
    files["truncated_mp3"].write_bytes(mp3.read_bytes()[:400])
    mp3.unlink()
    _wav_with_broken_id3(files["broken_tags"])
    good.unlink()
    return files


def _wav_with_broken_id3(path: Path) -> None:
    """A good WAV followed by an 'id3 ' chunk whose ID3 header is garbage (mutagen cannot parse it)."""
    write_clip(path, 300.0, 3.0, seed=10)
    junk = b"ID3\x03\x00\x00\x7f\x7f\x7f\x7f" + bytes(range(200, 230))
    chunk = b"id3 " + len(junk).to_bytes(4, "little") + junk
    raw = bytearray(path.read_bytes() + chunk)
    raw[4:8] = (len(raw) - 8).to_bytes(4, "little")
    path.write_bytes(bytes(raw))


# -- scanning ------------------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def scan_folder(lm, root, **kw):
    lib = Library.open("default", create=True)
    try:
        with lib.writer_lock():
            return index_library(lib, [root], lm, ScanOptions(workers=1, **kw))
    finally:
        lib.close()


def assert_consistent(lib: Library) -> None:
    """Catalogue and ANN index agree: same ids, same vectors."""
    ann, changed = lib.ann()
    assert not changed  # the saved index file is current
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    assert ann.size == len(ids)
    for i, v in zip(ids, vectors):
        ((got, score),) = ann.query(v, 1, allowed={int(i)})
        assert got == i and score > 0.999


def vectors_by_path(lib: Library, model_hash: str) -> dict[str, np.ndarray]:
    ids, vecs = lib.catalogue.vectors(model_hash)
    paths = [lib.catalogue.db.execute("SELECT path FROM tracks WHERE id=?", (int(i),)).fetchone()[0] for i in ids]
    return dict(zip(paths, vecs))


def children_of(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def run_cli(*args):
    """`muser ARGS` through typer's CliRunner, each argument as a string."""
    from typer.testing import CliRunner

    from muser_cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def indexed_clips(music: Path, checkpoint: Path, count: int, name: str = "c") -> list[Path]:
    """`count` different clips written to `music` and indexed by `muser index` into the default
    library of $MUSER_HOME."""
    clips = [write_clip(music / f"{name}{i}.ogg", 220.0 + 90 * i, 4.0, seed=i) for i in range(count)]
    res = run_cli("index", music, "-c", checkpoint, "--workers", 1)
    assert res.exit_code == 0, res.output
    return clips


def json_lines(text: str) -> list:
    """The JSON objects of a `--json` output, one per non-empty line."""
    import json

    return [json.loads(line) for line in text.splitlines() if line.strip()]


def index_once(root: Path, checkpoint: Path, *options) -> dict:
    """`muser index ROOT/music` into ROOT/home, for a module-scoped fixture: indexing is most of a
    library test's time, so a module builds its library once and each test works on a copy
    (`home_copy`). Returns the JSON summary."""
    import json

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSER_HOME", str(root / "home"))
        res = run_cli("index", root / "music", "-c", checkpoint, "--workers", 1, "--json", *options)
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def home_copy(root: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of ROOT/home (tests may change it) at TMP_PATH/home, made MUSER_HOME."""
    shutil.copytree(root / "home", tmp_path / "home")
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
