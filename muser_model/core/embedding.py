"""Files -> windows -> batched embeddings -> track embeddings, for any engine (no torch here).

A whole-track embedding is the normalised mean of fixed, non-random windows (window and hop
from the checkpoint's config unless overridden), so the same file always gives the same vector.
Windows from several files share batches (a GPU wants full batches; short files fill them).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from muser_model.core import audio
from muser_model.core.errors import AudioError
from muser_model.core.scoring import Engine, TrackEmbedding

BatchFn = Callable[[np.ndarray], np.ndarray]  # (B, N) windows -> (B, 2, E) embeddings


@dataclass
class _Pending:
    key: Any
    rows: list[np.ndarray] = field(default_factory=list)  # (2, E) per window, in order
    queued: int = 0  # windows waiting in the batch
    done_reading: bool = False
    error: AudioError | None = None

    @property
    def ready(self) -> bool:
        return self.error is not None or (self.done_reading and self.queued == 0)

    def result(self, width: int) -> np.ndarray | AudioError:
        if self.error is not None:
            return self.error
        return np.stack(self.rows) if self.rows else np.zeros((0, 2, width), np.float32)  # (W, 2, E)


def stream_windows(embed_batch: BatchFn, items: Iterable[tuple[Any, Iterable[np.ndarray]]],
                   batch_size: int = 16) -> Iterator[tuple[Any, np.ndarray | AudioError]]:
    """Embed every window of every item, sharing batches across items.

    `items` yields (key, windows); iterating `windows` may raise AudioError, which then becomes
    that item's result. Yields (key, (W, 2, E) embeddings or the error) in input order.
    """
    order: deque[_Pending] = deque()
    batch: list[tuple[_Pending, np.ndarray]] = []
    width = 0

    def flush() -> None:
        nonlocal width
        if batch:
            out = embed_batch(np.stack([w for _, w in batch]))  # (B, 2, E)
            width = out.shape[-1]
            for row, (item, _) in zip(out, batch):
                item.queued -= 1
                if item.error is None:
                    item.rows.append(row)
            batch.clear()

    def drain() -> Iterator[tuple[Any, np.ndarray | AudioError]]:
        while order and order[0].ready:
            done = order.popleft()
            yield done.key, done.result(width)

    for key, windows in items:
        item = _Pending(key)
        order.append(item)
        try:
            for window in windows:
                batch.append((item, window))
                item.queued += 1
                if len(batch) >= batch_size:
                    flush()
                    yield from drain()
        except AudioError as exc:
            item.error = exc
        item.done_reading = True
        yield from drain()
    flush()
    yield from drain()


def embed_files(engine: Engine, paths: Iterable[str | Path], batch_size: int = 16,
                window_s: float | None = None, hop_s: float | None = None,
                max_windows: int | None = None) -> Iterator[TrackEmbedding | AudioError]:
    """Yield, in input order, a TrackEmbedding or the AudioError that stopped each file; memory
    stays bounded by the batch for files of any length."""
    cfg = engine.config.audio
    window_s, hop_s = window_s or cfg.window_s, hop_s or cfg.hop_s
    items = ((Path(p), audio.iter_windows(p, window_s, hop_s, cfg.sample_rate, max_windows=max_windows))
             for p in paths)

    def embed_batch(windows: np.ndarray) -> np.ndarray:
        return engine.embed_windows(windows, batch_size)

    for path, result in stream_windows(embed_batch, items, batch_size):
        if isinstance(result, AudioError):
            yield result
        else:
            yield TrackEmbedding(path, result[:, 0], result[:, 1], window_s, hop_s)
