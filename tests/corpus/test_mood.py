"""muser_train.corpus.mood: key, tempo, level and the rule table on synthetic signals."""
from __future__ import annotations

import numpy as np
import pytest

from muser_train.corpus import mood

SR = 16000


def tone(freqs, dur, sr=SR, amp=1.0):
    t = np.arange(int(dur * sr)) / sr
    env = np.minimum(1.0, t / 0.01) * np.exp(-3.0 * t)  # plucked: sharp attack, decay
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
    return (amp * env * x).astype(np.float32)


def midi_hz(m):
    return 440.0 * 2 ** ((m - 69) / 12)


def arpeggio(triads, bpm, amp, seconds=12.0):
    """One triad note per beat, cycling through the triads (each played as an arpeggio)."""
    beat = 60.0 / bpm
    notes = [n for tri in triads for n in tri]
    out, i = [], 0
    while len(out) * beat < seconds:
        out.append(tone([midi_hz(notes[i % len(notes)])], beat, amp=amp))
        i += 1
    return np.concatenate(out)[: int(seconds * SR)]


def chords(triads, seconds_each=1.5, amp=0.3, repeat=3):
    return np.concatenate([tone([midi_hz(n) for n in tri], seconds_each, amp=amp)
                           for _ in range(repeat) for tri in triads])


C_MAJOR = [(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)]       # C F G C
A_MINOR = [(57, 60, 64), (62, 65, 69), (64, 68, 71), (57, 60, 64)]       # Am Dm E Am


def test_key_detection_major_vs_relative_minor():
    fc = mood.analyse(chords(C_MAJOR), SR)
    fa = mood.analyse(chords(A_MINOR), SR)
    assert fc.key == "C major", fc
    assert fa.key == "A minor", fa
    assert fc.key_strength > 0.6 and fa.key_strength > 0.6


def test_tempo_and_level_estimates():
    slow = mood.analyse(arpeggio(A_MINOR, 66, 0.03), SR)
    fast = mood.analyse(arpeggio(C_MAJOR, 160, 0.9), SR)
    assert slow.tempo == pytest.approx(66, rel=0.06)
    assert fast.tempo == pytest.approx(160, rel=0.06)
    assert slow.rms_db < mood.QUIET_DB < mood.LOUD_DB < fast.rms_db


def test_mood_words_differ_and_make_sense():
    sad = mood.mood_words(mood.analyse(arpeggio(A_MINOR, 66, 0.03), SR))
    happy = mood.mood_words(mood.analyse(arpeggio(C_MAJOR, 160, 0.9), SR))
    for w in ("melancholic", "sad", "calm", "quiet", "slow"):
        assert w in sad, sad
    for w in ("happy", "energetic", "upbeat", "loud", "fast"):
        assert w in happy, happy
    assert not {"happy", "energetic", "loud", "fast"} & set(sad)
    assert not {"sad", "melancholic", "quiet", "slow"} & set(happy)


def test_known_metadata_overrides_estimates():
    f = mood.analyse(arpeggio(C_MAJOR, 160, 0.9), SR)
    words = mood.mood_words(f, known_tempo=70, known_mode="D minor")
    assert "slow" in words and "melancholic" in words and "fast" not in words
    assert mood.parse_mode("Am") == "minor" and mood.parse_mode("Bb") == "major"
    assert mood.mood_words(None, known_tempo=170, known_mode="G major")[:3] == \
        ["happy", "upbeat", "cheerful"]


def test_mood_texts_are_short_captions():
    f = mood.analyse(arpeggio(A_MINOR, 66, 0.03), SR)
    texts = mood.mood_texts(f, subject="piano music", seed=1)
    assert 1 <= len(texts) <= 3
    assert any(t.endswith("slow piano music") for t in texts), texts
    assert any("minor key" in t for t in texts), texts
    assert texts == mood.mood_texts(f, subject="piano music", seed=1)  # deterministic
    assert mood.mood_texts(None) == []


def test_silence_gives_no_words():
    f = mood.analyse(np.zeros(SR * 5, np.float32), SR)
    assert f.silent_fraction == 1.0
    assert mood.mood_words(f) == []
