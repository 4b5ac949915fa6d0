"""Silent and near-silent files: their own status in the catalogue, out of search, not retried;
`muser tag` says they are silent instead of guessing a genre."""
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from muser_model.core import audio
from muser_model.core.errors import SilentAudioError
from muser_model.library.store import Library
from muser_model.core.loudness import SILENT_PEAK_DBFS, LevelMeter
from tests.conftest import write_clip
from tests.helpers.library_fixtures import home, scan_folder, vectors_by_path  # noqa: F401

SR = 16000


def _dbfs(level_db: float) -> float:
    return 10 ** (level_db / 20)


def _write(path: Path, samples: np.ndarray, fmt: str = "WAV", subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples.astype(np.float32), SR, format=fmt, subtype=subtype)
    return path


def _quiet_music(seconds: float, rms_db: float) -> np.ndarray:
    """A sine at `rms_db` dBFS RMS (its peak is 3 dB higher): a classical pianissimo."""
    t = np.arange(int(seconds * SR)) / SR
    return np.sqrt(2) * _dbfs(rms_db) * np.sin(2 * np.pi * 261.6 * t)


def test_the_meter_tells_silence_from_quiet_music():
    silence, hiss = LevelMeter(), LevelMeter()
    silence.add(np.zeros(SR, np.float32))
    hiss.add(np.random.default_rng(0).uniform(-1, 1, SR).astype(np.float32) * _dbfs(-75))
    quiet = LevelMeter()
    for block in np.array_split(_quiet_music(4.0, -50.0), 4):  # measured block by block
        quiet.add(block)
    assert silence.silent and silence.peak_dbfs == -math.inf and silence.describe() == "peak -inf dBFS"
    assert hiss.silent and -76 < hiss.peak_dbfs < -75
    assert not quiet.silent and quiet.peak_dbfs == pytest.approx(-47.0, abs=0.1)
    assert quiet.samples == 4 * SR and SILENT_PEAK_DBFS == -60.0


def test_windows_of_a_silent_file_end_in_silent_audio_error(tmp_path):
    path = _write(tmp_path / "silence.wav", np.zeros(5 * SR))
    windows = []
    with pytest.raises(SilentAudioError) as info:
        for window in audio.iter_windows(path, 2.0, 2.0):
            windows.append(window)
    assert str(info.value) == f"{path}: audio is silent (peak -inf dBFS)"
    assert len(windows) == 3  # the level is known only once the whole file is read


def test_quiet_music_and_late_sound_are_not_silent(tmp_path):
    """The level covers all the decoded audio, block by block: a long file that is silent for
    its first 65 s (two 30 s decoding blocks) and then plays is music."""
    quiet = _write(tmp_path / "pianissimo.flac", _quiet_music(6.0, -50.0), "FLAC")
    late = np.concatenate([np.zeros(65 * SR), _quiet_music(3.0, -20.0)])
    late_path = _write(tmp_path / "late.wav", late)
    assert len(list(audio.iter_windows(quiet, 2.0, 2.0))) == 3
    meter = LevelMeter()
    assert len(list(audio.iter_windows(late_path, 2.0, 2.0, meter=meter))) == 34
    assert meter.complete and meter.samples == len(late) and not meter.silent


def _silent_folder(root: Path) -> dict[str, Path]:
    return {
        "good": write_clip(root / "good.ogg", 220.0, 3.0, seed=1),
        "also_good": write_clip(root / "quiet.flac", 330.0, 3.0, seed=2),
        "silent": _write(root / "silence.wav", np.zeros(4 * SR)),
        "near_silent": _write(root / "near.flac", np.random.default_rng(3).normal(0, _dbfs(-85), 4 * SR), "FLAC"),
    }


def test_silent_files_get_their_own_status_and_stay_out_of_search(home, tiny_model, tmp_path):
    files = _silent_folder(tmp_path / "music")
    summary = scan_folder(tiny_model, tmp_path / "music")
    assert (summary.indexed, summary.silent, summary.failed, summary.failures) == (2, 2, 0, [])
    lib = Library.open()
    rows = dict(lib.catalogue.db.execute("SELECT path, status || ' ' || reason FROM tracks").fetchall())
    assert rows[str(files["silent"])] == "silent audio is silent (peak -inf dBFS)"
    assert rows[str(files["near_silent"])].startswith("silent audio is silent (peak -")
    assert vectors_by_path(lib, lib.model_hash).keys() == {str(files["good"]), str(files["also_good"])}
    again = scan_folder(tiny_model, tmp_path / "music")
    assert (again.indexed, again.silent, again.unchanged, again.skipped_failed) == (0, 0, 2, 2)  # not retried


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_tag_says_a_file_is_silent(tiny_checkpoint, tmp_path, engine):
    from typer.testing import CliRunner

    from muser_cli.main import app

    files = _silent_folder(tmp_path / "music")
    res = CliRunner().invoke(app, ["tag", str(files["good"]), str(files["silent"]), "-c", str(tiny_checkpoint),
                                   "--engine", engine, "--json", "--workers", "1"])
    assert res.exit_code == 1
    assert f"error: {files['silent']}: audio is silent (peak -inf dBFS)" in res.stderr.splitlines()
    assert len(res.stdout.strip().splitlines()) == 1  # the good file is tagged


def test_parallel_tagging_says_a_file_is_silent(tiny_checkpoint, tmp_path):
    from muser_model.numpy_engine.audio import NumpyMuser
    from muser_model.tagging import tag_files_numpy

    files = _silent_folder(tmp_path / "music")
    model = NumpyMuser.load(tiny_checkpoint)
    paths = [files["good"], files["near_silent"], files["silent"]]
    results = list(tag_files_numpy(model, paths, workers=2))
    assert isinstance(results[1], SilentAudioError) and isinstance(results[2], SilentAudioError)
    assert str(results[2]) == f"{files['silent']}: audio is silent (peak -inf dBFS)"
    assert not isinstance(results[0], SilentAudioError)
