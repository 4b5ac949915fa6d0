"""Mood, tempo and dynamics words for a clip, from its audio and/or known metadata.

    feats = analyse(wave, sr)                       # key+mode, tempo, level, dynamics, brightness
    mood_words(feats)                               # ["melancholic", "sad", "calm", "quiet", ...]
    mood_words(feats, known_tempo=72, known_mode="A minor")   # metadata wins over estimates
    mood_texts(feats, subject="piano music")        # 1-3 captions

Measurements (numpy only, deterministic; no librosa needed):
  * key and mode: Krumhansl-Schmuckler. A chroma vector (STFT 256 ms, bins 65-2100 Hz folded
    onto the nearest pitch class with a +-25 cent Gaussian weight, each frame normalised) is
    correlated (Pearson) with the 24 rotations of the Krumhansl-Kessler major/minor profiles.
    The best one is the key; its correlation is `key_strength`, and `mode_margin` is how much
    it beats the best key of the other mode.
  * tempo: spectral-flux onset envelope at 100 frames/s, autocorrelation over 40-240 bpm
    weighted by a log-normal prior around 120 bpm (one octave wide). `tempo_confidence` is the
    normalised autocorrelation at the chosen lag. `onset_rate` counts envelope peaks per second.
  * level: RMS of the whole clip in dBFS; dynamics: 90th minus 10th percentile of 100 ms frame
    levels (dB) over non-silent frames.
  * brightness: spectral centroid (magnitude-weighted per frame, frames weighted by energy), Hz.

Attributes (thresholds below; on the game-music corpus about the loudest quarter of excerpts is
"loud" and the quietest tenth "quiet"; FluidSynth MMA renders sit around -23 dBFS):
  pace    slow: bpm <= 80, fast: bpm >= 140 (the MMA caption thresholds). An *estimated* tempo
          counts only with tempo_confidence >= TEMPO_MIN_CONF, and "slow" also needs fewer than
          SLOW_MAX_ONSETS onsets/s, "fast" at least FAST_MIN_ONSETS (octave errors guard).
  mode    major/minor: known mode, else the estimate when key_strength >= KEY_MIN_STRENGTH and
          mode_margin >= MODE_MIN_MARGIN.
  level   quiet: rms <= QUIET_DB, loud: rms >= LOUD_DB.
  timbre  dark: centroid <= DARK_HZ, bright: centroid >= BRIGHT_HZ.
  dynamics varied: p90-p10 >= VARIED_DB, steady: <= STEADY_DB.

Words: every row of RULES whose conditions all hold adds its words, in table order, without
repeats. Mode alone adds no feeling word (too weak a cue on its own). Nothing is random except the choice of caption templates in `mood_texts`, which is
seeded.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np

from muser_train.corpus.common import join_words, with_article

PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}

# Krumhansl-Kessler key profiles (C major / C minor).
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

SLOW_BPM, FAST_BPM = 80, 140
TEMPO_MIN_CONF = 0.15
SLOW_MAX_ONSETS, FAST_MIN_ONSETS = 3.0, 2.5
KEY_MIN_STRENGTH, MODE_MIN_MARGIN = 0.6, 0.05
QUIET_DB, LOUD_DB = -26.0, -14.0
DARK_HZ, BRIGHT_HZ = 900.0, 2200.0
STEADY_DB, VARIED_DB = 6.0, 15.0
SILENT_DB = -60.0

# (conditions, words). A condition value may be a tuple of allowed values.
RULES: tuple[tuple[dict, tuple[str, ...]], ...] = (
    ({"mode": "minor", "pace": "slow", "level": "quiet"}, ("melancholic", "sad", "calm")),
    ({"mode": "minor", "pace": "slow"}, ("melancholic", "sad")),
    ({"mode": "minor", "pace": "fast", "level": "loud"}, ("intense", "dramatic", "tense")),
    ({"mode": "minor", "pace": "fast"}, ("tense", "driving")),
    ({"mode": "minor", "timbre": "dark"}, ("dark", "gloomy")),
    ({"mode": "minor", "level": "quiet"}, ("melancholic", "mysterious")),
    ({"mode": "major", "pace": "fast", "level": "loud"}, ("happy", "energetic", "upbeat")),
    ({"mode": "major", "pace": "fast"}, ("happy", "upbeat", "cheerful")),
    ({"mode": "major", "pace": "slow", "level": "quiet"}, ("peaceful", "gentle", "tender")),
    ({"mode": "major", "pace": "slow"}, ("peaceful", "warm")),
    ({"mode": "major", "timbre": "bright"}, ("cheerful",)),
    ({"mode": "major", "level": "quiet"}, ("gentle",)),
    ({"pace": "slow", "level": "quiet"}, ("calm", "relaxing", "soft")),
    ({"pace": "slow", "dynamics": "steady"}, ("calm",)),
    ({"pace": "fast", "level": "loud"}, ("intense", "powerful", "energetic")),
    ({"level": "loud", "dynamics": "varied"}, ("dramatic",)),
    ({"level": "quiet"}, ("quiet", "soft")),
    ({"level": "loud"}, ("loud",)),
    ({"pace": "fast"}, ("fast",)),
    ({"pace": "slow"}, ("slow",)),
    ({"timbre": "bright"}, ("bright",)),
    ({"timbre": "dark"}, ("dark",)),
)
# Words that describe the sound rather than the feeling (used apart in captions).
DESCRIPTORS = frozenset({"quiet", "soft", "loud", "fast", "slow", "bright", "dark"})


@dataclass
class Features:
    key: str = ""              # "A minor", "" when silent
    mode: str = ""             # "major" / "minor"
    key_strength: float = 0.0  # Pearson r of the best key profile
    mode_margin: float = 0.0   # r(best key) - r(best key of the other mode)
    tempo: float = 0.0         # bpm
    tempo_confidence: float = 0.0
    onset_rate: float = 0.0    # onsets per second
    rms_db: float = -120.0     # dBFS
    dynamics_db: float = 0.0   # p90 - p10 of 100 ms frame levels
    centroid_hz: float = 0.0
    silent_fraction: float = 1.0  # fraction of 100 ms frames below SILENT_DB
    duration_s: float = 0.0

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


# ----------------------------------------------------------------------------------------------
# analysis
# ----------------------------------------------------------------------------------------------
def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    count = 1 + (len(x) - n) // hop
    idx = np.arange(n)[None, :] + hop * np.arange(count)[:, None]
    return x[idx]


def _stft_mag(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    fr = _frames(x, n_fft, hop) * np.hanning(n_fft).astype(np.float32)
    return np.abs(np.fft.rfft(fr, axis=1)).astype(np.float32)  # (frames, bins)


def chroma(x: np.ndarray, sr: int) -> np.ndarray:
    """12-bin pitch-class profile (sums to 1), C first."""
    n_fft = 1 << int(round(np.log2(sr * 0.256)))
    mag = _stft_mag(x, n_fft, n_fft // 2)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    sel = (freqs >= 65.0) & (freqs <= min(2100.0, sr / 2 - 1))
    midi = 69 + 12 * np.log2(freqs[sel] / 440.0)
    near = np.round(midi)
    w = np.exp(-0.5 * ((midi - near) / 0.25) ** 2)
    pc = near.astype(int) % 12
    fold = np.zeros((sel.sum(), 12), np.float32)
    fold[np.arange(sel.sum()), pc] = w
    ch = mag[:, sel] @ fold  # (frames, 12)
    peak = ch.max(axis=1, keepdims=True)
    ok = peak[:, 0] > 1e-3 * max(float(peak.max()), 1e-12)
    if not ok.any():
        return np.zeros(12)
    prof = (ch[ok] / peak[ok]).sum(axis=0)
    return prof / prof.sum()


def estimate_key(prof: np.ndarray) -> tuple[str, str, float, float]:
    """(tonic, mode, strength, margin) by Krumhansl-Schmuckler on a chroma profile."""
    if not np.any(prof > 0) or np.std(prof) < 1e-9:
        return "", "", 0.0, 0.0
    scores = {}
    for mode, base in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for t in range(12):
            scores[(t, mode)] = float(np.corrcoef(prof, np.roll(base, t))[0, 1])
    (t, mode), r = max(scores.items(), key=lambda kv: (kv[1], kv[0][1] == "major", -kv[0][0]))
    other = max(v for (tt, m), v in scores.items() if m != mode)
    return PITCHES[t], mode, r, r - other


def onset_envelope(x: np.ndarray, sr: int, fps: int = 100) -> np.ndarray:
    hop = sr // fps
    n_fft = 1 << int(round(np.log2(sr * 0.064)))
    mag = _stft_mag(x, n_fft, hop)
    logm = np.log1p(1000.0 * mag)
    flux = np.maximum(np.diff(logm, axis=0), 0.0).mean(axis=1)
    k = fps // 2 | 1  # ~0.5 s moving average removed (adaptive baseline)
    base = np.convolve(flux, np.ones(k) / k, mode="same")
    env = np.maximum(flux - base, 0.0)
    win = np.hanning(7)[1:-1]  # ~50 ms smoothing: beat periods are rarely whole frames
    return np.convolve(env, win / win.sum(), mode="same")


def estimate_tempo(env: np.ndarray, fps: int = 100) -> tuple[float, float]:
    """(bpm, confidence) from the onset envelope's autocorrelation."""
    e = env - env.mean()
    if len(e) < fps * 2 or not np.any(e):
        return 0.0, 0.0
    n = 1 << int(np.ceil(np.log2(2 * len(e))))
    spec = np.fft.rfft(e, n)
    ac = np.fft.irfft(spec * np.conj(spec), n)[: len(e)]
    if ac[0] <= 0:
        return 0.0, 0.0
    ac = ac / ac[0]
    lo, hi = int(60 * fps / 240), min(int(np.ceil(60 * fps / 40)), len(ac) - 2)
    lags = np.arange(lo, hi + 1)
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0)) ** 2)
    i = int(np.argmax(ac[lags] * prior))
    lag = float(lags[i])
    if 0 < i < len(lags) - 1:  # parabolic refinement
        a, b, c = ac[lags[i] - 1], ac[lags[i]], ac[lags[i] + 1]
        d = a - 2 * b + c
        if d < 0:
            lag += 0.5 * (a - c) / d
    return 60.0 * fps / lag, float(max(ac[lags[i]], 0.0))


def onset_rate(env: np.ndarray, fps: int = 100) -> float:
    if len(env) < 3 or not np.any(env):
        return 0.0
    thr = max(0.3 * float(np.percentile(env, 99)), 1e-6)
    peak = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > thr)
    # merge peaks closer than 50 ms
    idx = np.flatnonzero(peak)
    count, last = 0, -10**9
    for j in idx:
        if j - last >= fps // 20:
            count += 1
            last = j
    return count / (len(env) / fps)


def analyse(wave: np.ndarray, sr: int) -> Features:
    """Measure one clip (mono float samples)."""
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1 if x.shape[1] < x.shape[0] else 0)
    f = Features(duration_s=len(x) / sr)
    if len(x) < sr // 2:
        return f
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    f.rms_db = 20 * np.log10(max(rms, 1e-6))
    frame_db = 20 * np.log10(np.maximum(np.sqrt(np.mean(_frames(x, sr // 10, sr // 10) ** 2,
                                                          axis=1)), 1e-6))
    loud = frame_db > SILENT_DB
    f.silent_fraction = float(1.0 - loud.mean())
    if not loud.any():
        return f
    f.dynamics_db = float(np.percentile(frame_db[loud], 90) - np.percentile(frame_db[loud], 10))
    mag = _stft_mag(x, 1024, 512)
    freqs = np.fft.rfftfreq(1024, 1.0 / sr)
    total = mag.sum(axis=1)
    energy = (mag ** 2).sum(axis=1)
    ok = total > 0
    cent = (mag[ok] @ freqs) / total[ok]  # per-frame magnitude-weighted centroid
    f.centroid_hz = float(np.sum(cent * energy[ok]) / energy[ok].sum())
    f.key, f.mode, f.key_strength, f.mode_margin = _key(x, sr)
    env = onset_envelope(x, sr)
    f.tempo, f.tempo_confidence = estimate_tempo(env)
    f.onset_rate = onset_rate(env)
    return f


def _key(x, sr):
    tonic, mode, r, margin = estimate_key(chroma(x, sr))
    return (f"{tonic} {mode}" if tonic else ""), mode, r, margin


# ----------------------------------------------------------------------------------------------
# words
# ----------------------------------------------------------------------------------------------
def parse_mode(known_mode: str | None) -> str:
    """"A minor" / "Am" / "minor" / "C" -> "minor"/"major"; "" when unknown."""
    if not known_mode:
        return ""
    s = known_mode.strip()
    low = s.lower()
    if "minor" in low or low.endswith("min") or (len(s) <= 3 and s.endswith("m")):
        return "minor"
    if "major" in low or low.endswith("maj") or s.rstrip("#b") in PITCHES or s in _FLATS:
        return "major"
    return ""


def attributes(features: Features | None, known_tempo: float | None = None,
               known_mode: str | None = None) -> dict[str, str]:
    """The rule-table inputs: pace, mode, level, timbre, dynamics ("" = unknown / in between)."""
    a = {"pace": "", "mode": "", "level": "", "timbre": "", "dynamics": ""}
    f = features
    if known_tempo:
        t = float(known_tempo)
        a["pace"] = "slow" if t <= SLOW_BPM else "fast" if t >= FAST_BPM else ""
    elif f is not None and f.tempo and f.tempo_confidence >= TEMPO_MIN_CONF:
        if f.tempo <= SLOW_BPM and f.onset_rate < SLOW_MAX_ONSETS:
            a["pace"] = "slow"
        elif f.tempo >= FAST_BPM and f.onset_rate >= FAST_MIN_ONSETS:
            a["pace"] = "fast"
    mode = parse_mode(known_mode)
    if mode:
        a["mode"] = mode
    elif f is not None and f.mode and f.key_strength >= KEY_MIN_STRENGTH \
            and f.mode_margin >= MODE_MIN_MARGIN:
        a["mode"] = f.mode
    if f is not None and f.duration_s > 0 and f.silent_fraction < 1.0:
        a["level"] = "quiet" if f.rms_db <= QUIET_DB else "loud" if f.rms_db >= LOUD_DB else ""
        a["timbre"] = ("dark" if f.centroid_hz <= DARK_HZ else
                       "bright" if f.centroid_hz >= BRIGHT_HZ else "")
        a["dynamics"] = ("varied" if f.dynamics_db >= VARIED_DB else
                         "steady" if f.dynamics_db <= STEADY_DB else "")
    return a


def words_for(attrs: dict[str, str]) -> list[str]:
    out: list[str] = []
    for cond, words in RULES:
        if all(attrs.get(k) == v for k, v in cond.items()):
            out += [w for w in words if w not in out]
    return out


def mood_words(features: Features | None, known_tempo: float | None = None,
               known_mode: str | None = None) -> list[str]:
    """Words a user would type ("melancholic", "calm", "quiet", ...) in rule-table order."""
    return words_for(attributes(features, known_tempo, known_mode))


def mood_texts(features: Features | None, known_tempo: float | None = None,
               known_mode: str | None = None, subject: str = "music", seed: int | str = 0,
               max_texts: int = 3) -> list[str]:
    """1-3 short captions from the mood words, e.g. "melancholic slow piano music",
    "a calm, quiet piece in a minor key". Empty when nothing is known."""
    attrs = attributes(features, known_tempo, known_mode)
    words = words_for(attrs)
    if not words:
        return []
    rng = random.Random(f"mood-{seed}")
    moods = [w for w in words if w not in DESCRIPTORS]
    desc = [w for w in words if w in DESCRIPTORS]
    pace = attrs["pace"]
    level_w = {"quiet": "quiet", "loud": "loud"}.get(attrs["level"], "")
    bpm = float(known_tempo) if known_tempo else (
        features.tempo if features is not None and pace else 0.0)
    texts: list[str] = []
    # 1) "<mood> <pace> <subject>"
    head = [rng.choice(moods[:3])] if moods else []
    if pace:
        head.append(pace)
    elif desc and not moods:
        head.append(desc[0])
    if head:
        texts.append(" ".join(head + [subject]))
    # 2) "a <mood>, <level> piece in a <mode> key"
    adj = [w for w in [moods[1] if len(moods) > 1 else (moods[0] if moods else ""), level_w] if w]
    if attrs["mode"]:
        piece = rng.choice(["piece", "track", "tune"])
        lead = with_article(", ".join(adj) + f" {piece}") if adj else f"a {piece}"
        texts.append(f"{lead} in a {attrs['mode']} key")
    elif adj:
        texts.append(with_article(", ".join(adj) + " " + rng.choice(["piece", "track"])))
    # 3) "<subject> that sounds x and y, <tempo phrase>"
    picked = list(dict.fromkeys(moods[:4]))
    rng.shuffle(picked)
    picked = picked[:2] or [w for w in desc if w != pace][:2]
    tail = []
    if bpm and pace:
        tail.append(f"{pace} at about {int(round(bpm))} bpm")
    elif attrs["timbre"] and attrs["timbre"] not in picked:
        tail.append(f"with a {attrs['timbre']} sound")
    s = subject[0].upper() + subject[1:]
    if picked:
        s += f" that sounds {join_words(picked)}"
    if tail:
        s += ", " + tail[0]
    if picked or tail:
        texts.append(s)
    return list(dict.fromkeys(texts))[:max_texts]
