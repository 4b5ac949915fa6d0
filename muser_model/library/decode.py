"""Work done in decoder processes: tags and fixed windows of one file, or the reason it failed.

A job (`IndexJob` for `muser index`, `TagJob` for `muser tag`) says what a decoder does with each
file; the pool (`pool.py`) sends it with every path. Runs in a separate process, so it imports
only numpy, soundfile, soxr and mutagen (and the numpy engine where the decoders embed). A
decoder that crashes takes down its process, never the scan.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from muser_model.core import audio, embedding
from muser_model.core.errors import AudioError, SilentAudioError
from muser_model.core.loudness import LevelMeter

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TAG_FIELDS = ("title", "artist", "album", "genre", "date")


@dataclass
class Decoded:
    path: str
    windows: np.ndarray | None = None  # (W, N) float16
    tags: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    hop_s: float = 0.0  # the hop actually used (wider than the config's for long tracks)
    error: str = ""  # one-line reason when decoding failed
    silent: bool = False  # the error is SilentAudioError: catalogued as "silent", not "failed"
    embeddings: np.ndarray | None = None  # (W, 2, E) float32 (waveform, spectrogram) if embedded here
    exception: AudioError | None = None  # the typed error behind `error`, where the caller reports it (muser tag)


def clean_text(value: object, limit: int = 300) -> str:
    """Tag text without control characters (NUL included), trimmed and length-limited."""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub("", text).strip()[:limit]


def read_tags(path: Path) -> dict[str, str]:
    """Title, artist, album, genre, date as clean strings; broken tags give {} instead of raising."""
    import mutagen

    try:
        f = mutagen.File(path, easy=True)
    except Exception:  # noqa: BLE001 - mutagen raises many types on broken tags
        return {}
    if f is None or f.tags is None:
        return {}
    tags = {}
    for key in TAG_FIELDS:
        try:
            values = f.tags.get(key) or []
        except Exception:  # noqa: BLE001
            continue
        if values:
            text = clean_text(values[0])
            if text:
                tags[key] = text
    return tags


def window_hop(duration_s: float, window_s: float, hop_s: float, max_windows: int) -> float:
    """The hop that keeps at most `max_windows` windows, spread evenly over a long track."""
    if max_windows <= 1 or duration_s <= window_s:
        return hop_s
    return max(hop_s, (duration_s - window_s) / (max_windows - 1))


def decoded_duration(meter: LevelMeter, sample_rate: int, header_s: float) -> float:
    """Seconds of audio decoded; where max_windows stopped the reading (at its last window, near
    the header's end) the header's duration, if longer."""
    decoded = meter.samples / sample_rate
    return decoded if meter.complete else max(decoded, header_s)


def decode_for_index(path: str, window_s: float, hop_s: float, sample_rate: int,
                     max_windows: int) -> Decoded:
    """At most `max_windows` windows spread over the file, its tags and its decoded duration
    (a header can claim 210 s for 3 s of audio), or why it cannot be indexed."""
    item = Decoded(path)
    try:
        info = audio.probe(path)
        item.hop_s = window_hop(info.duration_s, window_s, hop_s, max_windows)
        meter = LevelMeter()
        windows = list(audio.iter_windows(path, window_s, item.hop_s, sample_rate, max_windows=max_windows,
                                          meter=meter))
        item.duration_s = decoded_duration(meter, sample_rate, info.duration_s)
        item.windows = np.stack(windows).astype(np.float16)  # (W, N)
    except AudioError as exc:
        item.error = f"{exc.reason}" + (f" ({exc.detail})" if exc.detail else "")
        item.silent = isinstance(exc, SilentAudioError)
        return item
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        item.error = f"decoding failed ({type(exc).__name__}: {exc})"
        return item
    item.tags = read_tags(Path(path))
    return item


_WORKER_MODELS: dict[str, object] = {}  # this worker process's numpy model, loaded on first use


def _worker_model(checkpoint: str):
    from muser_model.numpy_engine.audio import NumpyMuser

    model = _WORKER_MODELS.get(checkpoint)
    if model is None:
        model = _WORKER_MODELS[checkpoint] = NumpyMuser.load(checkpoint)
    return model


@dataclass(frozen=True)
class IndexJob:
    """`muser index`: at most `max_windows` windows spread over each file, its tags and decoded
    duration (`decode_for_index`); with `checkpoint`, the windows embedded right in the decoder by
    that checkpoint's numpy engine (single-threaded BLAS), so each decoder is also an embedder."""

    window_s: float
    hop_s: float
    sample_rate: int
    max_windows: int
    checkpoint: str = ""  # "": the windows go back to the parent, which embeds them
    batch_size: int = 16

    def warm_up(self) -> None:
        """Load the numpy model (when this job embeds) before the first file is timed."""
        if self.checkpoint:
            _worker_model(self.checkpoint)

    def decode_only(self) -> IndexJob:
        return replace(self, checkpoint="")

    def __call__(self, path: str) -> Decoded:
        item = decode_for_index(path, self.window_s, self.hop_s, self.sample_rate, self.max_windows)
        if self.checkpoint and not item.error and item.windows is not None:
            item.embeddings = _worker_model(self.checkpoint).embed_windows(item.windows, self.batch_size)  # (W, 2, E)
            item.windows = None
        return item


@dataclass(frozen=True)
class TagJob:
    """`muser tag` in several processes: each file decoded and embedded in batches by the
    checkpoint's numpy engine exactly as in one process (every window, memory flat in the
    file's length), or the AudioError naming the file."""

    checkpoint: str
    batch_size: int = 16

    def warm_up(self) -> None:
        _worker_model(self.checkpoint)

    def __call__(self, path: str) -> Decoded:
        (result,) = embedding.embed_files(_worker_model(self.checkpoint), [path], self.batch_size)
        if isinstance(result, AudioError):
            return Decoded(path, error=str(result), exception=result)
        return Decoded(path, embeddings=np.stack([result.wave, result.spec], axis=1), hop_s=result.hop_s)  # (W, 2, E)
