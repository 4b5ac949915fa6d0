"""A damaged or short ANN index file is never loaded: search, similar and duplicates answer from
an index rebuilt from the catalogue's vectors, JSON never holds NaN, and `muser index` rewrites it."""
import json

import pytest

from muser_model.library.ann import AnnIndex, checksum
from muser_model.library.store import Library
from muser_model.core.errors import DiskFullError
from tests.helpers.library_fixtures import indexed_clips, run_cli


def _strict(line: str):
    def no_constant(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=no_constant)


@pytest.fixture
def indexed(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    return tmp_path / "music", indexed_clips(tmp_path / "music", tiny_checkpoint, 5)


def _damage(lib: Library) -> None:
    path = lib.index_file()
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff\xff\x7f")


def test_a_damaged_index_is_rebuilt_for_readers_and_rewritten_by_index(indexed, tiny_checkpoint):
    music, clips = indexed
    lib = Library.open()
    _damage(lib)
    damaged = lib.index_file().read_bytes()
    for args in (("search", "music", "--json"), ("similar", clips[0], "--json")):
        res = run_cli(*args, "-c", tiny_checkpoint)
        assert res.exit_code == 0, res.output
        hits = [_strict(line) for line in res.stdout.splitlines()]
        assert len(hits) == len(clips) - (args[0] == "similar")  # similar leaves its track out
    res = run_cli("duplicates", "--json")
    assert res.exit_code == 0, res.output
    res = run_cli("index", music, "-c", tiny_checkpoint, "--workers", 1)
    assert res.exit_code == 0, res.output
    lib = Library.open()
    assert lib.index_file().read_bytes() != damaged
    assert checksum(lib.index_file()) == lib.catalogue.get_meta("index_checksum")
    assert lib.ann()[0].size == len(clips)


def test_a_short_index_file_is_caught_when_written(tmp_path, monkeypatch):
    import numpy as np

    ann = AnnIndex.build(np.arange(20), np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32), 8)
    real_save = ann.index.save_index

    def short_save(path):  # what hnswlib does when the disk fills: a short file, no error
        real_save(path)
        with open(path, "r+b") as f:
            f.truncate(500)

    monkeypatch.setattr(ann, "index", _Wrapped(ann.index, save_index=short_save))
    monkeypatch.setattr("muser_model.library.ann._disk_nearly_full", lambda path: True)
    target = tmp_path / "index-1.hnsw"
    with pytest.raises(DiskFullError):
        ann.save(target)
    assert not target.exists() and not list(tmp_path.glob("*.tmp"))


class _Wrapped:
    def __init__(self, inner, **overrides):
        self._inner, self._overrides = inner, overrides

    def __getattr__(self, name):
        return self._overrides.get(name) or getattr(self._inner, name)
