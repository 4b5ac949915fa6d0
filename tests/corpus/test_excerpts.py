"""corpus.excerpts: the one excerpt worker of games, realmusic and renders."""
import numpy as np
import pytest
import soundfile as sf

from muser_train.corpus import excerpts

SR = excerpts.SR


def test_offsets_are_spread_between_the_edges():
    assert excerpts.excerpt_offsets(100.0) == [2.0, 23.0, 44.0, 65.0, 86.0]
    assert excerpts.excerpt_offsets(13.0) == [0.5]          # shorter than 2 edges + a clip: centred
    assert excerpts.excerpt_offsets(11.0) == []
    assert len(excerpts.excerpt_offsets(3600.0)) == excerpts.MAX_EXCERPTS


def _tone(path, seconds, amp, freq=220.0):
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return str(path)


def _job(tmp_path, paths, **kw):
    return {"out": str(tmp_path / "out"), "key": "p/song", "package": "p", "name": "song", "paths": paths, **kw}


def test_stems_are_mixed_and_kept_below_full_scale(tmp_path):
    a, b = _tone(tmp_path / "a.wav", 30, 0.7), _tone(tmp_path / "b.wav", 30, 0.7)
    res = excerpts.excerpt_job(_job(tmp_path, [a, b], limit_peak=True))
    assert res["error"] == "" and res["key"] == "p/song" and res["decoded_s"] == 30.0
    assert [e["path"] for e in res["excerpts"]] == ["audio/p/song_00.flac"]
    y, sr = sf.read(tmp_path / "out" / res["excerpts"][0]["path"])
    assert sr == SR and len(y) == int(excerpts.CLIP_S * SR) and 0.99 < np.abs(y).max() <= excerpts.MIX_PEAK + 1e-4


def test_a_silent_excerpt_is_skipped_and_named(tmp_path):
    res = excerpts.excerpt_job(_job(tmp_path, [_tone(tmp_path / "q.wav", 30, 1e-4)]))
    assert res["excerpts"] == [] and res["skipped"][0]["reason"].startswith("silent")


def test_a_file_that_does_not_decode_is_an_error_result(tmp_path):
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS" + bytes(100))
    res = excerpts.excerpt_job(_job(tmp_path, [str(bad)]))
    assert "bad.ogg" in res["error"] and res["excerpts"] == []


@pytest.mark.parametrize("trim", [False, True])
def test_a_loop_is_cut_only_when_asked(tmp_path, trim):
    rng = np.random.default_rng(0)
    one = np.concatenate([np.sin(2 * np.pi * 110 * 2 ** (rng.integers(0, 24) / 12) * np.arange(SR // 4) / SR)
                          for _ in range(140)]).astype(np.float32) * 0.4  # 35 s of notes
    path = tmp_path / "loop.wav"
    sf.write(path, np.concatenate([one, one, one]), SR)
    res = excerpts.excerpt_job(_job(tmp_path, [str(path)], trim_loop=trim))
    assert (res["loop_s"] is not None) == trim and res["decoded_s"] == 105.0
    assert res["kept_s"] == (pytest.approx(35.0, abs=0.3) if trim else 105.0)
