"""A file that changes while the scan reads it (truncated by a copy still running, rewritten) is
not stored as good with the size it had when listed: it fails with a reason, and the next scan
tries it again."""
import os
from pathlib import Path

from muser_model.library.decode import IndexJob
from muser_model.library.store import Library
from tests.conftest import write_clip
from tests.helpers.library_fixtures import assert_consistent, home, scan_folder  # noqa: F401


class TruncatingJob(IndexJob):
    """Decodes the file whole, then a copy still writing it cuts it short (as `cp` restarting)."""

    def __call__(self, path: str):
        item = super().__call__(path)
        if "cut" in Path(path).name:
            os.truncate(path, os.path.getsize(path) // 2)
        return item


def test_a_file_truncated_while_read_fails_and_is_tried_again(home, tiny_model, tmp_path):
    music = tmp_path / "music"
    write_clip(music / "stays.ogg", 220.0, 3.0, seed=1)
    cut = write_clip(music / "cut.ogg", 330.0, 3.0, seed=2)
    listed_size = cut.stat().st_size
    summary = scan_folder(tiny_model, music, job=TruncatingJob)
    assert summary.indexed == 1 and [Path(p).name for p, _ in summary.failures] == ["cut.ogg"]
    assert "changed while it was read" in summary.failures[0][1]
    lib = Library.open()
    state = lib.catalogue.states()[str(cut)]
    assert state.status == "failed" and state.size == listed_size  # not stored as ok
    lib.close()
    again = scan_folder(tiny_model, music)
    assert again.unchanged == 1 and again.indexed + again.failed == 1  # tried again
    assert_consistent(Library.open())
