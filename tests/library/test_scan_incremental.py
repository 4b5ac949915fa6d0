"""`muser index`: incremental, crash-safe scans that survive bad files."""
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from muser_model.library.decode import clean_text, decode_for_index, window_hop
from muser_model.library.scan import ScanOptions, index_library
from muser_model.library.store import Library, LibraryBusyError
from tests.conftest import make_tiny_checkpoint, write_clip
from tests.helpers.library_fixtures import add_bad_files, assert_consistent, home, make_library, scan_folder  # noqa: F401
from tests.helpers.pool_helpers import VanishingJob


def test_first_scan_then_nothing_to_do(home, tiny_model, tmp_path):
    files = make_library(tmp_path / "music")
    first = scan_folder(tiny_model, tmp_path / "music")
    expected = len(files) - 1  # the hidden folder is skipped
    assert (first.indexed, first.failed, first.unchanged) == (expected, 0, 0)
    again = scan_folder(tiny_model, tmp_path / "music")
    assert (again.indexed, again.unchanged, again.removed) == (0, expected, 0)
    lib = Library.open()
    rows = {Path(r[0]).name: r for r in lib.catalogue.db.execute("SELECT path, title, artist, year, genre FROM tracks")}
    assert rows["Café Été.flac"][1:] == ("Café Été", "Zoë Quartet", 1999, "Jazz")
    assert rows["sonata.flac"][1:3] == ("Sonata No. 1", "Ann Lee")  # NUL and control bytes stripped
    assert "skip.ogg" not in rows
    assert_consistent(lib)


def test_only_touched_files_are_embedded_again(home, tiny_model, tmp_path):
    files = make_library(tmp_path / "music")
    scan_folder(tiny_model, tmp_path / "music")
    os.utime(files["rock"], ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    summary = scan_folder(tiny_model, tmp_path / "music")
    assert summary.indexed == 1 and summary.unchanged == len(files) - 2
    assert_consistent(Library.open())


@pytest.mark.slow
def test_removed_files_leave_the_index(home, tiny_model, tmp_path):
    files = make_library(tmp_path / "music")
    scan_folder(tiny_model, tmp_path / "music")
    files["jazz"].unlink()
    summary = scan_folder(tiny_model, tmp_path / "music")
    assert summary.removed == 1
    lib = Library.open()
    assert lib.catalogue.find_path(str(files["jazz"])) is None
    assert_consistent(lib)


@pytest.mark.slow
def test_bad_files_fail_once_and_are_not_retried(home, tiny_model, tmp_path):
    make_library(tmp_path / "music")
    bad = add_bad_files(tmp_path / "music")
    first = scan_folder(tiny_model, tmp_path / "music")
    reasons = {Path(p).name: r for p, r in first.failures}
    assert set(reasons) == {"empty.mp3", "readme.mp3", "truncated.ogg", "truncated.mp3"}
    assert "empty" in reasons["empty.mp3"] and "not an audio file" in reasons["readme.mp3"]
    assert first.indexed >= 6  # the good ones and the WAV with broken tags
    again = scan_folder(tiny_model, tmp_path / "music")
    assert again.failed == 0 and again.skipped_failed == 4
    retried = scan_folder(tiny_model, tmp_path / "music", retry_failed=True)
    assert retried.failed == 4
    write_clip(bad["truncated"], 500.0, 3.0)  # the user repairs a file: it changed, so it is tried
    fixed = scan_folder(tiny_model, tmp_path / "music")
    assert fixed.indexed == 1 and fixed.skipped_failed == 3
    assert_consistent(Library.open())


def test_checkpoint_change_re_embeds_everything(home, tiny_model, tmp_path):
    from muser_model.torch_engine.runtime import load_model

    files = make_library(tmp_path / "music")
    scan_folder(tiny_model, tmp_path / "music")
    other = load_model(make_tiny_checkpoint(tmp_path / "other.muser", seed=1), "cpu")
    summary = scan_folder(other, tmp_path / "music")
    assert summary.model_changed and summary.indexed == len(files) - 1
    lib = Library.open()
    assert lib.model_hash == other.checkpoint.content_hash
    assert_consistent(lib)


def test_second_writer_is_refused(home, tiny_model, tmp_path):
    make_library(tmp_path / "music")
    lib = Library.open("default", create=True)
    with lib.writer_lock():
        with pytest.raises(LibraryBusyError, match="--wait"):
            scan_folder(tiny_model, tmp_path / "music")


def _blocked_on_a_lock() -> bool:
    """True while some process waits for a file lock (the "->" lines of /proc/locks)."""
    return any("->" in line for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_second_writer_can_wait_for_the_first(home, tiny_model, tmp_path):
    write_clip(tmp_path / "music" / "a.ogg", 220.0, 2.5)
    holder = Library.open("default", create=True)
    held, released = threading.Event(), threading.Event()
    summaries = []

    def wait_then_scan() -> None:
        waiter = Library.open("default")
        with waiter.writer_lock(wait=True):
            summaries.append((released.is_set(), index_library(waiter, [tmp_path / "music"], tiny_model,
                                                               ScanOptions(workers=1))))

    with holder.writer_lock():
        thread = threading.Thread(target=wait_then_scan)
        thread.start()
        deadline = time.monotonic() + 30
        while not _blocked_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a condition, with a deadline
        assert _blocked_on_a_lock(), "the second writer should be waiting"
        released.set()
    thread.join(120)
    ((got_it_after_release, summary),) = summaries  # the lock came only after the first writer let go
    assert got_it_after_release and summary.indexed == 1


def test_symlink_loop_and_unicode_paths(home, tiny_model, tmp_path):
    music = tmp_path / "music"
    write_clip(music / "ünï cödé" / "a b.ogg", 220.0, 3.0)
    (music / "ünï cödé" / "loop").symlink_to(music, target_is_directory=True)
    summary = scan_folder(tiny_model, music)
    assert summary.indexed == 1 and summary.failed == 0


def test_a_file_deleted_during_the_scan(home, tiny_model, tmp_path):
    music = tmp_path / "music"
    write_clip(music / "stays.ogg", 220.0, 2.5)
    write_clip(music / "vanish.ogg", 330.0, 2.5)
    lib = Library.open("default", create=True)
    with lib.writer_lock():
        summary = index_library(lib, [music], tiny_model, ScanOptions(workers=1, job=VanishingJob))
    assert summary.indexed == 1 and [Path(p).name for p, _ in summary.failures] == ["vanish.ogg"]
    assert "no such file" in summary.failures[0][1]
    again = scan_folder(tiny_model, music)
    assert again.removed == 1 and again.unchanged == 1
    assert_consistent(Library.open())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file(home, tiny_model, tmp_path):
    music = tmp_path / "music"
    write_clip(music / "ok.ogg", 220.0, 2.5)
    locked = write_clip(music / "locked.ogg", 330.0, 2.5)
    locked.chmod(0)
    summary = scan_folder(tiny_model, music)
    assert summary.indexed == 1 and "permission" in summary.failures[0][1]


def test_long_tracks_are_sampled_evenly(tmp_path):
    path = write_clip(tmp_path / "long.flac", 220.0, 60.0)
    item = decode_for_index(str(path), 2.0, 2.0, 16000, 8)
    assert item.windows.shape == (8, 32000) and item.windows.dtype == np.float16
    assert window_hop(60.0, 2.0, 2.0, 8) == pytest.approx(58.0 / 7)
    assert window_hop(10.0, 2.0, 2.0, 8) == 2.0


def test_clean_text():
    assert clean_text("a\x00b\x1f c \x7f") == "ab c"
    assert clean_text(b"bytes".decode()) == "bytes"


@pytest.mark.slow
def test_ctrl_c_keeps_what_was_indexed(home, tiny_model, tmp_path):
    """Ctrl-C between commits: the files already embedded are committed, the next run resumes."""
    make_library(tmp_path / "music")
    lib = Library.open("default", create=True)
    seen = []

    def interrupt_after_three(entry, status, duration):
        seen.append(entry.path)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with lib.writer_lock():
        with pytest.raises(KeyboardInterrupt):
            index_library(lib, [tmp_path / "music"], tiny_model, ScanOptions(workers=1, commit_every=16),
                          on_file=interrupt_after_three)
        again = index_library(lib, [tmp_path / "music"], tiny_model, ScanOptions(workers=1))
    assert (again.unchanged, again.indexed) == (3, 3)
