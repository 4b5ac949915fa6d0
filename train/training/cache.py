"""On-disk caches that make repeated training runs start fast.

- `WaveStore`: every training clip decoded once to mono float16 at the model's sample rate, in one
  flat file with offsets (memory-mapped: FMA-small's 8,000 × 30 s is 7.7 GB on disk, not in RAM).
  Keyed on the clips' paths, sizes and mtimes and the decoding settings; undecodable clips are
  recorded with their reason and skipped, never fatal.
- `cached_text_features`: frozen MiniLM features of every caption, keyed on the texts and the
  text tower's identity.

Each cache entry is written to a temporary name and renamed, so an interrupted build leaves no
half-written entry. The default folder is `$MUSER_HOME/cache` or the platform's user cache dir.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muser_model.core import audio
from muser_model.core.errors import AudioError

STORE_VERSION = 1


def cache_home() -> Path:
    override = os.environ.get("MUSER_HOME")
    if override:
        return Path(override).expanduser() / "cache"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("muser", appauthor=False))


@dataclass
class WaveStore:
    data: np.ndarray  # (total,) float16, memory-mapped when cached
    offsets: np.ndarray  # (N + 1,) int64
    kept: list[int]  # for each stored clip, its index in the list the store was built from
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def __len__(self) -> int:
        return len(self.kept)

    def wave(self, i: int) -> np.ndarray:
        return np.asarray(self.data[self.offsets[i] : self.offsets[i + 1]], dtype=np.float32)

    def length(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    @property
    def seconds(self) -> float:
        return float(self.offsets[-1])


def _file_key(path: Path) -> str:
    try:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return f"{path}|missing"


def store_key(paths: Sequence[Path], sample_rate: int, clip_s: float, min_s: float) -> str:
    h = hashlib.sha256(f"v{STORE_VERSION}|{sample_rate}|{clip_s}|{min_s}".encode())
    for p in paths:
        h.update(_file_key(Path(p)).encode() + b"\n")
    return h.hexdigest()[:24]


def decode_clip(path: Path, sample_rate: int, clip_s: float, min_s: float) -> np.ndarray:
    """Up to `clip_s` seconds of mono audio, zero-padded to `min_s`. Raises AudioError."""
    wave = audio.load_audio(path, sample_rate, duration_s=clip_s)
    if len(wave) < sample_rate * 0.5:
        raise AudioError(path, f"only {len(wave) / sample_rate:.2f} s of audio")
    need = int(min_s * sample_rate)
    if len(wave) < need:
        wave = np.pad(wave, (0, need - len(wave)))
    return wave


def _decode_or_reason(args: tuple[Path, int, float, float]) -> np.ndarray | str:
    path, sample_rate, clip_s, min_s = args
    try:
        return decode_clip(path, sample_rate, clip_s, min_s)
    except AudioError as exc:
        return str(exc)
    except (OSError, ValueError, RuntimeError) as exc:  # a decoder bug must not end the run
        return f"{path}: {type(exc).__name__}: {exc}"


def _write_store(folder: Path, paths: Sequence[Path], sample_rate: int, clip_s: float, min_s: float,
                 workers: int, log: Callable[[str], None]) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    offsets, kept, skipped = [0], [], []
    jobs = [(Path(p), sample_rate, clip_s, min_s) for p in paths]
    with open(tmp / "waves.f16", "wb") as out, ThreadPoolExecutor(max(1, workers)) as pool:
        for i, result in enumerate(pool.map(_decode_or_reason, jobs)):
            if isinstance(result, str):
                skipped.append((str(paths[i]), result))
                log(f"skipped: {result}")
                continue
            out.write(result.astype(np.float16).tobytes())
            offsets.append(offsets[-1] + len(result))
            kept.append(i)
    index = {"version": STORE_VERSION, "offsets": offsets, "kept": kept, "skipped": skipped,
             "sample_rate": sample_rate, "clip_s": clip_s}
    (tmp / "index.json").write_text(json.dumps(index))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def _read_store(folder: Path) -> WaveStore:
    index = json.loads((folder / "index.json").read_text())
    n = index["offsets"][-1]
    data = (np.memmap(folder / "waves.f16", dtype=np.float16, mode="r", shape=(n,)) if n
            else np.zeros(0, np.float16))
    return WaveStore(data, np.asarray(index["offsets"], dtype=np.int64), index["kept"],
                     [tuple(s) for s in index["skipped"]])


def build_wave_store(paths: Sequence[Path], sample_rate: int, clip_s: float, min_s: float,
                     cache_dir: Path | None, workers: int = 2,
                     log: Callable[[str], None] = print) -> WaveStore:
    """Decode `paths` (or reuse the cached decode of exactly these files and settings)."""
    if cache_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="muser-waves-")) / "store"
    else:
        folder = Path(cache_dir) / f"waves-{store_key(paths, sample_rate, clip_s, min_s)}"
    if not (folder / "index.json").is_file():
        _write_store(folder, paths, sample_rate, clip_s, min_s, workers, log)
    else:
        log(f"decoded audio from cache {folder}")
    return _read_store(folder)


def cached_text_features(texts: Sequence[str], identity: str, compute: Callable[[], np.ndarray],
                         cache_dir: Path | None) -> np.ndarray:
    """`compute()` once per (texts, tower identity); later runs read it back."""
    if cache_dir is None:
        return compute()
    h = hashlib.sha256(identity.encode())
    for t in texts:
        h.update(t.encode() + b"\n")
    path = Path(cache_dir) / f"text-{h.hexdigest()[:24]}.npy"
    if path.is_file():
        return np.load(path)
    features = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as f:
        np.save(f, features)
    os.replace(f.name, path)
    return features
