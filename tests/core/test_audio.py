"""Tests for muser_model.core.audio: decoding, windowing, bounded reading and typed errors."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from muser_model.core import audio
from muser_model.core.errors import (AudioError, AudioFileNotFoundError, AudioPermissionError,
                                     AudioTooShortError, EmptyAudioFileError, NotAudioError,
                                     UndecodableAudioError)

SR = audio.SAMPLE_RATE
HAVE_FFMPEG = shutil.which("ffmpeg") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg is not installed (needed for AAC/m4a)")


def _sine(seconds: float = 3.0, rate: int = 44100, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    left = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([left, 0.8 * left], axis=1).astype(np.float32)


def _noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(round(seconds * rate))).astype(np.float32)


def _ffmpeg_convert(src: Path, dst: Path, *codec: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(src), *codec, str(dst)], check=True)


@pytest.fixture(scope="module")
def sines(tmp_path_factory) -> dict[str, Path]:
    """The 3 s 440 Hz 44.1 kHz stereo sine in every format this machine can write."""
    d = tmp_path_factory.mktemp("sines")
    data, files = _sine(), {}
    for ext, fmt, subtype in [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS")]:
        files[ext] = d / f"sine.{ext}"
        sf.write(files[ext], data, 44100, format=fmt, subtype=subtype)
    files["mp3"] = d / "sine.mp3"
    if "MP3" in sf.available_formats():
        sf.write(files["mp3"], data, 44100, format="MP3", subtype="MPEG_LAYER_III")
    elif HAVE_FFMPEG:
        _ffmpeg_convert(files["wav"], files["mp3"])
    else:
        del files["mp3"]
    if HAVE_FFMPEG:
        files["m4a"] = d / "sine.m4a"
        _ffmpeg_convert(files["wav"], files["m4a"], "-c:a", "aac", "-b:a", "128k")
    return files


def _dominant_hz(y: np.ndarray, rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spectrum) * rate / len(y))


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", pytest.param("m4a", marks=needs_ffmpeg)])
def test_load_audio_formats(sines, ext):
    if ext not in sines:
        pytest.skip(f"cannot create a .{ext} file here (no libsndfile MP3 support and no ffmpeg)")
    y = audio.load_audio(sines[ext])
    assert y.dtype == np.float32 and y.ndim == 1
    tolerance = 0.02 * 3 * SR + (0.1 * SR if ext in ("mp3", "m4a") else 0)
    assert abs(len(y) - 3 * SR) <= tolerance
    assert abs(_dominant_hz(y) - 440.0) <= 5.0
    rms = float(np.sqrt(np.mean(y[SR:2 * SR] ** 2)))
    assert np.all(np.isfinite(y)) and abs(rms - 0.45 / np.sqrt(2)) < 0.03  # mono = mean of 0.5 and 0.4 amplitudes


@pytest.mark.parametrize("ext", ["ogg", "flac", pytest.param("m4a", marks=needs_ffmpeg)])
def test_load_audio_offset_matches_full_decode(sines, ext):
    full = audio.load_audio(sines[ext])
    for offset in (0.0, 0.5, 1.3, 2.6):
        part = audio.load_audio(sines[ext], offset_s=offset, duration_s=0.25)
        start = round(offset * SR)
        assert len(part) == round(0.25 * SR)
        np.testing.assert_allclose(part, full[start:start + len(part)], atol=2e-3)
    assert len(audio.load_audio(sines[ext], offset_s=10.0, duration_s=1.0)) == 0


def test_probe_wav(sines):
    info = audio.probe(sines["wav"])
    assert info == audio.AudioInfo(sines["wav"], 3.0, 44100, 2, "soundfile")


@needs_ffmpeg
def test_probe_m4a(sines):
    info = audio.probe(sines["m4a"])
    assert info.backend == "ffmpeg" and info.native_sample_rate == 44100 and info.channels == 2
    assert abs(info.duration_s - 3.0) < 0.1


@pytest.fixture(scope="module")
def noise_12s(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("noise") / "noise.wav"
    sf.write(path, _noise(12.5, 22050), 22050, subtype="FLOAT")
    return path


@pytest.mark.parametrize("hop_s, starts", [(5.0, [0, 5, 10]), (2.5, [0, 2.5, 5, 7.5, 10])])
def test_iter_windows_count_lengths_and_content(noise_12s, hop_s, starts):
    full = audio.load_audio(noise_12s)
    assert len(full) == round(12.5 * SR)
    windows = list(audio.iter_windows(noise_12s, window_s=5.0, hop_s=hop_s))
    assert len(windows) == len(starts)
    win = 5 * SR
    for w, start_s in zip(windows, starts):
        assert w.dtype == np.float32 and len(w) == win
        expected = full[round(start_s * SR):][:win]
        np.testing.assert_allclose(w[:len(expected)], expected, atol=1e-5)
    tail = windows[-1]
    assert np.all(tail[int(2.5 * SR):] == 0) and np.abs(tail[:int(2.5 * SR)]).max() > 0.1


def test_first_window_equals_load_audio_span(noise_12s):
    first = next(audio.iter_windows(noise_12s, window_s=5.0, hop_s=5.0))
    np.testing.assert_allclose(first, audio.load_audio(noise_12s, duration_s=5.0), atol=1e-4)


def test_iter_windows_min_duration_drops_short_tail(noise_12s):
    kept = list(audio.iter_windows(noise_12s, 5.0, 5.0, min_duration_s=2.0))
    dropped = list(audio.iter_windows(noise_12s, 5.0, 5.0, min_duration_s=3.0))
    assert len(kept) == 3 and len(dropped) == 2
    assert len(list(audio.iter_windows(noise_12s, 5.0, 5.0, max_windows=2))) == 2


def test_iter_windows_short_file_gives_one_padded_window(tmp_path):
    path = tmp_path / "three.wav"
    sf.write(path, _noise(3.0, SR), SR)
    windows = list(audio.iter_windows(path, window_s=5.0, hop_s=2.5))
    assert len(windows) == 1 and len(windows[0]) == 5 * SR
    assert np.all(windows[0][3 * SR:] == 0)


def test_iter_windows_hop_longer_than_window(noise_12s):
    full = audio.load_audio(noise_12s)
    windows = list(audio.iter_windows(noise_12s, window_s=2.0, hop_s=4.5))
    assert len(windows) == 3  # starts 0, 4.5, 9.0
    np.testing.assert_allclose(windows[2], full[9 * SR:11 * SR], atol=1e-5)


def test_iter_blocks_long_file_is_bounded(tmp_path):
    path, rate, minutes = tmp_path / "long.flac", SR, 10
    ramp = (np.arange(rate) / rate - 0.5).astype(np.float32)  # one-second ramp, repeated
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_24") as f:
        for _ in range(minutes * 60):
            f.write(ramp)
    block_s, total, lengths = 7.0, 0, []
    for block in audio.iter_blocks(path, block_s=block_s):
        assert block.dtype == np.float32 and len(block) <= block_s * SR + 16
        np.testing.assert_allclose(block[:100], np.roll(ramp, -(total % rate))[:100], atol=1e-5)
        total += len(block)
        lengths.append(len(block))
    assert total == minutes * 60 * rate
    assert all(n == block_s * SR for n in lengths[:-1])


def test_iter_blocks_resampled_concatenation_matches_load_audio(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([_noise(20, 44100, 1), _noise(20, 44100, 2)], axis=1), 44100, subtype="FLOAT")
    blocks = list(audio.iter_blocks(path, block_s=3.0))
    assert all(len(b) == 3 * SR for b in blocks[:-1])
    np.testing.assert_allclose(np.concatenate(blocks), audio.load_audio(path), atol=1e-6)


def test_load_audio_stops_reading_after_span(tmp_path, monkeypatch):
    path = tmp_path / "minute.flac"
    sf.write(path, _noise(60, SR), SR, subtype="PCM_16")
    frames_read = []
    real_read = sf.SoundFile.read

    def counting_read(self, frames=-1, *args, **kwargs):
        out = real_read(self, frames, *args, **kwargs)
        frames_read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    y = audio.load_audio(path, offset_s=2.0, duration_s=1.0)
    assert len(y) == SR
    assert sum(frames_read) < 2 * SR


def test_nan_and_inf_become_zero(tmp_path):
    path = tmp_path / "nan.wav"
    data = _noise(2.0, SR)
    data[[10, 20, 30]] = [np.nan, np.inf, -np.inf]
    sf.write(path, data, SR, subtype="FLOAT")
    y = audio.load_audio(path)
    assert np.all(np.isfinite(y)) and np.all(y[[10, 20, 30]] == 0)
    np.testing.assert_allclose(y[100:], data[100:], atol=1e-7)


@needs_ffmpeg
def test_ffmpeg_process_is_killed_when_generator_closed(sines, monkeypatch):
    procs = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        procs.append(real_popen(*args, **kwargs))
        return procs[-1]

    monkeypatch.setattr(audio.subprocess, "Popen", recording_popen)
    blocks = audio.iter_blocks(sines["m4a"], block_s=0.5)
    assert len(next(blocks)) == SR // 2
    blocks.close()
    assert len(procs) == 1 and procs[0].poll() is not None


# ---------------------------------------------------------------- errors


def _assert_error(exc_type: type[AudioError], path: Path, fn=audio.load_audio) -> AudioError:
    with pytest.raises(exc_type) as info:
        result = fn(path)
        if not isinstance(result, (np.ndarray, audio.AudioInfo)):
            list(result)
    assert str(path) in str(info.value) and info.value.path == path
    return info.value


@pytest.mark.parametrize("fn", [audio.load_audio, audio.probe, audio.iter_blocks])
def test_missing_file(tmp_path, fn):
    _assert_error(AudioFileNotFoundError, tmp_path / "nope.mp3", fn)


@pytest.mark.parametrize("fn", [audio.load_audio, audio.probe])
def test_directory(tmp_path, fn):
    d = tmp_path / "album.flac"
    d.mkdir()
    assert "is a directory" in str(_assert_error(NotAudioError, d, fn))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.touch()
    _assert_error(EmptyAudioFileError, path)


@pytest.mark.parametrize("fn", [audio.load_audio, audio.probe])
def test_text_file_named_mp3(tmp_path, fn):
    path = tmp_path / "song.mp3"
    path.write_text("These are the lyrics, not the song.\n" * 50)
    _assert_error(NotAudioError, path, fn)


def test_png_named_ogg(tmp_path):
    path = tmp_path / "cover.ogg"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(3).bytes(4000))
    _assert_error(NotAudioError, path)


@pytest.mark.parametrize("ext", ["mp3", "ogg", pytest.param("m4a", marks=needs_ffmpeg)])
def test_truncated_real_file(sines, tmp_path, ext):
    if ext not in sines:
        pytest.skip(f"cannot create a .{ext} file here")
    path = tmp_path / f"truncated.{ext}"
    path.write_bytes(sines[ext].read_bytes()[:300])
    with pytest.raises(AudioError) as info:
        list(audio.iter_windows(path, window_s=1.0, hop_s=1.0))
    assert not isinstance(info.value, NotAudioError)
    assert isinstance(info.value, (UndecodableAudioError, AudioTooShortError))
    assert path.name in str(info.value)


def test_wav_header_followed_by_junk(tmp_path):
    path = tmp_path / "junk.wav"
    path.write_bytes(b"RIFF\x24\x00\x01\x00WAVE" + np.random.default_rng(4).bytes(8000))
    _assert_error(UndecodableAudioError, path)


def test_too_short(tmp_path):
    path = tmp_path / "blip.wav"
    sf.write(path, _noise(0.2, 44100), 44100)
    err = _assert_error(AudioTooShortError, path, lambda p: audio.iter_windows(p, 5.0, 5.0))
    assert "0.20 s < 1.00 s" in str(err)
    assert len(list(audio.iter_windows(path, 5.0, 5.0, min_duration_s=0.1))) == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file(sines, tmp_path):
    path = tmp_path / "locked.wav"
    shutil.copy(sines["wav"], path)
    path.chmod(0)
    try:
        _assert_error(AudioPermissionError, path)
    finally:
        path.chmod(0o644)


def test_permission_error_on_open_is_classified(sines, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(audio, "open", denied, raising=False)
    _assert_error(AudioPermissionError, sines["wav"])


@pytest.mark.parametrize("name, header, expected", [
    ("tune.m4a", None, UndecodableAudioError),
    ("notes.mp3", b"just some text, no audio here" * 10, NotAudioError),
])
def test_without_ffmpeg(sines, tmp_path, monkeypatch, name, header, expected):
    path = tmp_path / name
    if header is None:
        if "m4a" not in sines:
            pytest.skip("ffmpeg is not installed, so no m4a fixture")
        shutil.copy(sines["m4a"], path)
    else:
        path.write_bytes(header)
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    err = _assert_error(expected, path)
    if expected is UndecodableAudioError:
        assert "needs ffmpeg, which is not installed" in str(err)


def test_audio_extensions_are_found_by_the_walker(tmp_path):
    from muser_model.core.files import walk_audio

    for name in ("a.MP3", "b.flac", "c.au", "d.m4a", "notes.txt", "cover.jpg", ".hidden.ogg"):
        (tmp_path / name).write_bytes(b"x")
    found = sorted(Path(e.path).name for e in walk_audio([tmp_path]))
    assert found == ["a.MP3", "b.flac", "c.au", "d.m4a"]
    assert {".txt", ".jpg", ".pdf"}.isdisjoint(audio.AUDIO_EXTENSIONS)
