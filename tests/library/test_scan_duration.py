"""The duration a scan stores is the decoded one, not the header's (a truncated mp3 would be
listed as 210.9 s from its Xing header while it holds one window of audio)."""
import sqlite3

import pytest
import soundfile as sf

from muser_model.core import audio
from muser_model.library.decode import decode_for_index
from tests.conftest import tone, write_clip
from tests.helpers.library_fixtures import home, scan_folder  # noqa: F401


@pytest.fixture
def truncated_mp3(tmp_path):
    """An mp3 whose Xing header still says 10 s, cut to its first quarter."""
    full = tmp_path / "full.mp3"
    sf.write(full, tone(220.0, 10.0), 16000, format="MP3")
    cut = tmp_path / "music" / "cut.mp3"
    cut.parent.mkdir()
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 4])
    full.unlink()
    return cut


def test_a_truncated_file_is_stored_with_its_decoded_duration(home, tiny_model, truncated_mp3, tmp_path):
    header_s = audio.probe(truncated_mp3).duration_s
    decoded_s = sum(len(block) for block in audio.iter_blocks(truncated_mp3)) / 16000
    assert header_s == pytest.approx(10.0, abs=0.1) and decoded_s < 4.0  # the header lies
    summary = scan_folder(tiny_model, tmp_path / "music")
    db = sqlite3.connect(tmp_path / "home" / "libraries" / "default" / "catalogue.sqlite")
    (stored,) = db.execute("SELECT duration FROM tracks WHERE status='ok'").fetchone()
    assert stored == pytest.approx(decoded_s, abs=1e-3)
    assert summary.audio_seconds == pytest.approx(decoded_s, abs=1e-3)


def test_a_long_track_sampled_to_max_windows_keeps_its_full_length(tmp_path):
    """Reading stops at the last of `max_windows` windows, which ends at the track's end."""
    path = write_clip(tmp_path / "long.flac", 220.0, 60.0)
    item = decode_for_index(str(path), 2.0, 2.0, 16000, 8)
    assert len(item.windows) == 8 and item.duration_s == pytest.approx(60.0, abs=1e-3)
    short = decode_for_index(str(write_clip(tmp_path / "short.wav", 220.0, 5.5)), 2.0, 2.0, 16000, 64)
    assert short.duration_s == pytest.approx(5.5, abs=1e-3)
