"""Corpus v3: a looped track is cut where its opening comes back; duplicates hash alike."""
import numpy as np

from muser_train.corpus import excerpts

SR = excerpts.SR


def phrase(seconds: float, seed: int) -> np.ndarray:
    """Notes of random pitch and length, different for every seed. (n,)"""
    rng = np.random.default_rng(seed)
    out, n = [], int(seconds * SR)
    while sum(len(x) for x in out) < n:
        dur = rng.uniform(0.15, 0.6)
        t = np.arange(int(dur * SR)) / SR
        f = 110 * 2 ** (rng.integers(0, 36) / 12)
        out.append((np.sin(2 * np.pi * f * t) * np.exp(-3 * t) * rng.uniform(0.2, 0.8))
                   .astype(np.float32))
    return np.concatenate(out)[:n]


def test_loop_repeated_three_times_is_cut_after_one_pass():
    one = phrase(37.0, seed=1)
    y = np.concatenate([one, one, one])
    loop = excerpts.loop_length_s(y)
    assert loop is not None and abs(loop - 37.0) <= 0.2


def test_through_composed_track_is_not_cut():
    y = np.concatenate([phrase(40.0, seed=s) for s in (2, 3, 4)])
    assert excerpts.loop_length_s(y) is None


def test_repeat_earlier_than_the_minimum_is_ignored():
    one = phrase(12.0, seed=5)
    y = np.concatenate([one] * 4)
    assert excerpts.loop_length_s(y, min_s=60.0) is None


def test_audio_hash_same_tune_same_hash():
    a = phrase(5.0, seed=6)
    assert excerpts.audio_hash(a) == excerpts.audio_hash(a.copy())
    assert excerpts.audio_hash(a) != excerpts.audio_hash(phrase(5.0, seed=7))


def test_reprise_of_the_intro_alone_is_not_a_loop():
    intro = phrase(12.0, seed=8)
    y = np.concatenate([intro, phrase(30.0, seed=9), intro, phrase(30.0, seed=10)])
    assert excerpts.loop_length_s(y) is None


def test_loop_with_encoding_noise_is_still_found():
    one = phrase(33.0, seed=11)
    noise = np.random.default_rng(12).normal(0, 0.01, 3 * len(one)).astype(np.float32)
    y = np.concatenate([one, one, one]) + noise
    loop = excerpts.loop_length_s(y)
    assert loop is not None and abs(loop - 33.0) <= 0.2


def test_repeated_opening_that_goes_on_elsewhere_is_not_cut():
    a = phrase(35.0, seed=13)
    y = np.concatenate([a, a, phrase(60.0, seed=14)])   # a game tune: A A B
    assert excerpts.loop_length_s(y) is None
