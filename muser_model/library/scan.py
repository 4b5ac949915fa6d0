"""`muser index`: walk folders, decode in worker processes, embed in batches, commit as we go.

Crash safety: results are committed to the catalogue in small transactions, so a kill loses at
most the tracks in flight; the next run skips every file whose path, size, mtime and checkpoint
are unchanged. Decoding runs in decoder processes (pool.py): a file that crashes or hangs its
decoder fails alone. Ctrl-C and SIGTERM commit what is embedded, stop the decoders and go on as
KeyboardInterrupt.
"""
from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from muser_model import engine_choice
from muser_model.core.checkpoint import default_checkpoint_path, has_numpy_section
from muser_model.core.config import ModelConfig
from muser_model.engine_choice import choose_engine, loaded_model_engine
from muser_model.core.errors import CudaUnavailableError, MuserError
from muser_model.core.files import FileEntry, walk_audio
from muser_model.library.catalogue import TrackRow
from muser_model.library.decode import Decoded, IndexJob, decode_for_index
from muser_model.library.pool import Job, PoolStarter, decoded_stream, sigterm_as_interrupt
from muser_model.library.predict import predictor_for
from muser_model.library.store import Library
from muser_model.numpy_engine.audio import NumpyMuser, track_embedding

if TYPE_CHECKING:  # torch is imported only when the torch engine runs
    from muser_model.torch_engine.runtime import LoadedModel


class ScanRootError(MuserError):
    pass


class NoAudioFilesError(ScanRootError):
    def __init__(self, roots: list[Path]) -> None:
        super().__init__("no audio files found in " + ", ".join(str(r) for r in roots))


@dataclass
class ScanPlan:
    todo: list[FileEntry]
    unchanged: int
    skipped_failed: int
    removed: list[str]


@dataclass
class ScanSummary:
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    silent: int = 0  # silent files (catalogued with status "silent", kept out of search)
    skipped_failed: int = 0  # failed or silent before and unchanged: not tried again
    audio_seconds: float = 0.0
    seconds: float = 0.0
    model_changed: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    engine: str = ""  # which engine embedded the audio: numpy (in the decoders) or torch


@dataclass
class ScanOptions:
    retry_failed: bool = False
    workers: int | None = None  # decoder processes; None: hardware.default_decoders(engine)
    batch_size: int | None = None  # windows per torch batch; None: 64 on a GPU, 16 on a CPU
    max_windows: int = 64
    commit_every: int = 16
    job: type[IndexJob] = IndexJob  # what each decoder does with a file
    decode_timeout_s: float = 300.0  # a file taking longer than this hangs its decoder
    engine: str = "auto"  # numpy: decoders embed with the numpy engine; torch: this process does


def index_engine(opts: ScanOptions, lm: LoadedModel) -> str:
    """engine_choice.loaded_model_engine for a scan: the numpy engine is usable when the
    checkpoint file carries the numpy section (the decoders embed with it)."""
    path = lm.checkpoint.path
    usable = path is not None and has_numpy_section(path)
    return loaded_model_engine(opts.engine, lm.device.type, lm.autocast_dtype is not None, usable)


@dataclass
class IndexModel:
    """What a scan needs of a checkpoint, whichever engine embeds: its identity and settings, and
    the engine's model. With the
    numpy engine torch is never imported (a shorter start-up: see docs/performance.md)."""

    content_hash: str
    config: ModelConfig
    engine: str  # "numpy": the decoder processes embed; "torch": this process does, in batches
    checkpoint_path: Path | None = None
    lm: LoadedModel | None = None  # torch engine
    numpy_model: NumpyMuser | None = None  # numpy engine
    loading: Future | None = None  # torch engine: `lm` while it loads in a thread

    def wait_loaded(self) -> None:
        """Block until the torch model has loaded; its load error (device, checkpoint) raises here."""
        if self.loading is not None:
            self.lm = self.loading.result()
            self.loading = None

    @classmethod
    def from_loaded(cls, lm: LoadedModel, engine: str) -> "IndexModel":
        ckpt = lm.checkpoint
        return cls(ckpt.content_hash, ckpt.config, engine, ckpt.path, lm=lm)

    @classmethod
    def from_numpy(cls, model: NumpyMuser) -> "IndexModel":
        return cls(model.content_hash, model.config, "numpy", model.path, numpy_model=model)


def open_index_model(checkpoint: str | Path | None = None, device: str = "auto", precision: str = "auto",
                     engine: str = "auto") -> IndexModel:
    """Pick the engine for `muser index` and load the checkpoint for it.

    auto gives numpy on a CPU computing fp32 (no GPU possible or --device cpu; --precision auto
    without native bf16, or fp32) with a format-2 checkpoint, else torch (GPUs and native-bf16
    CPUs, where torch is faster per window; see engine_choice.choose_engine: a scan is a job of
    unknown size). Checkpoint and device problems raise MuserError."""
    chosen, numpy_model, _ = choose_engine(engine, checkpoint, device, precision)
    if chosen == "numpy":
        return IndexModel.from_numpy(numpy_model)
    return _torch_index_model(checkpoint, device, precision)


def _load_torch_model(path: Path, device: str, precision: str) -> LoadedModel:
    from muser_model.torch_engine.runtime import load_model

    return load_model(path, device, precision)


def _torch_index_model(checkpoint: str | Path | None, device: str, precision: str) -> IndexModel:
    """The torch engine's IndexModel. With a format-2 checkpoint its identity, config and text head
    come from the numpy section (no torch) and the torch model loads in a thread, so that the
    decoders start on the first files meanwhile: `import torch` and the CUDA context are a large
    part of a GPU scan's start (see docs/performance.md)."""
    if device.startswith("cuda") and not engine_choice.cuda_may_be_present():  # certain without torch: say so now
        raise CudaUnavailableError(device)
    path = Path(checkpoint) if checkpoint else default_checkpoint_path()
    if not has_numpy_section(path):  # raises the usual checkpoint errors
        return IndexModel.from_loaded(_load_torch_model(path, device, precision), "torch")
    section = NumpyMuser.load(path)
    loader = ThreadPoolExecutor(1, thread_name_prefix="muser-load-model")
    loading = loader.submit(_load_torch_model, path, device, precision)
    loader.shutdown(wait=False)
    return IndexModel(section.content_hash, section.config, "torch", path, loading=loading)


def _as_index_model(model: IndexModel | LoadedModel, opts: ScanOptions) -> IndexModel:
    if isinstance(model, IndexModel):  # its engine is chosen (open_index_model); opts.engine is not used
        return model
    return IndexModel.from_loaded(model, index_engine(opts, model))


def check_roots(roots: list[Path]) -> None:
    """Raise ScanRootError naming the first root that is not a folder."""
    for root in roots:
        if not Path(root).is_dir():
            raise ScanRootError(f"{root}: not a folder")


def check_has_audio(roots: list[Path]) -> None:
    """Raise NoAudioFilesError when no audio file is under `roots` (stops at the first found)."""
    check_roots(roots)
    if next(iter(walk_audio(roots, [])), None) is None:
        raise NoAudioFilesError(roots)


def plan_scan(lib: Library, roots: list[Path], retry_failed: bool, model_hash: str,
              on_first_todo: Callable[[], object] | None = None) -> ScanPlan:
    """What a scan must do: the new and changed files (calling `on_first_todo` when it finds
    the first), the unchanged ones, the failed ones to skip, the catalogued ones now gone.
    Raises NoAudioFilesError when the roots hold no audio file and no catalogued one is gone."""
    check_roots(roots)
    unreadable: list[str] = []
    states = lib.catalogue.states()
    todo, unchanged, skipped, seen = [], 0, 0, set()
    for entry in walk_audio(roots, unreadable):
        seen.add(entry.path)
        old = states.get(entry.path)
        same_file = old is not None and (old.size, old.mtime_ns) == (entry.size, entry.mtime_ns)
        if same_file and old.status == "ok" and old.model_hash == model_hash:
            unchanged += 1
        elif same_file and old.status in ("failed", "silent") and not retry_failed:
            skipped += 1
        else:
            if not todo and on_first_todo:
                on_first_todo()
            todo.append(entry)
    prefixes = tuple(os.path.join(os.path.abspath(r), "") for r in roots)
    blocked = tuple(os.path.join(u, "") for u in unreadable)
    removed = [p for p in states if p not in seen and p.startswith(prefixes) and not p.startswith(blocked)]
    if not seen and not removed:  # nothing to add and nothing to drop: say so, write nothing
        raise NoAudioFilesError(roots)
    return ScanPlan(todo, unchanged, skipped, removed)


# -- decoding in worker processes ---------------------------------------------------------------
def _workers(opts: ScanOptions, engine: str | None = None) -> int:
    """--workers, or the default for `engine` (the scan's chosen one; else opts.engine)."""
    from muser_model.core.hardware import default_decoders

    return max(1, opts.workers or default_decoders(engine or opts.engine))


def _embedded(model: IndexModel, items: Iterator[tuple[FileEntry, Decoded]], batch_size: int | None,
              ) -> Iterator[tuple[tuple[FileEntry, Decoded], np.ndarray]]:
    """Each decoded file with its (W, 2, E) per-window (waveform, spectrogram) embeddings: as the
    decoders computed them (numpy engine, and torch's files decoded while it loaded), or computed
    here from the windows they sent (torch, in batches shared across files; numpy for a decoder
    that does not embed)."""
    if model.engine == "torch":
        from muser_model.torch_engine.inference import embed_windows

        model.wait_loaded()
        batch_size = batch_size or (64 if model.lm.device.type == "cuda" else 16)
        todo = ((pair, pair[1].windows if pair[1].embeddings is None else ()) for pair in items)
        for pair, chunks in embed_windows(model.lm, todo, batch_size):
            item = pair[1]
            if item.embeddings is None:  # else embedded by a decoder while torch was loading
                item.embeddings = np.stack([np.stack([w.numpy(), s.numpy()]) for w, s in chunks])
            yield pair, item.embeddings
        return
    for entry, item in items:
        if item.embeddings is None:
            item.embeddings = model.numpy_model.embed_windows(item.windows, batch_size or 16)  # (W, 2, E)
        yield (entry, item), item.embeddings


def embed_file(model: IndexModel, path: Path, max_windows: int = 64) -> np.ndarray:
    """(E,) embedding of one file, computed exactly as a scan does (decoded in this process).
    Raises AudioError naming the file when it cannot be decoded."""
    from muser_model.core.errors import AudioError

    cfg = model.config.audio
    item = decode_for_index(str(path), cfg.window_s, cfg.hop_s, cfg.sample_rate, max_windows)
    if item.error:
        raise AudioError(path, item.error)
    if model.numpy_model is None:  # a LoadedModel's: embed with torch
        model = replace(model, engine="torch")
    ((_, embeddings),) = list(_embedded(model, iter([(None, item)]), batch_size=16))
    return track_embedding(embeddings[:, 0], embeddings[:, 1])


# -- the scan -------------------------------------------------------------------------------------
def index_library(lib: Library, roots: list[Path], model: IndexModel | LoadedModel,
                  opts: ScanOptions | None = None,
                  on_plan: Callable[[ScanPlan], None] | None = None,
                  on_file: Callable[[FileEntry, str, float], None] | None = None) -> ScanSummary:
    """Bring the library up to date with the files under `roots`. Call under `lib.writer_lock()`.

    On Ctrl-C (KeyboardInterrupt) or SIGTERM (pool.Terminated, a KeyboardInterrupt) the files
    embedded so far are committed and the decoders killed before the exception goes on.

    `model` comes from `open_index_model` (or is a torch LoadedModel, engine per `index_engine`)."""
    opts = opts or ScanOptions()
    model = _as_index_model(model, opts)
    started = time.time()
    summary = ScanSummary(engine=model.engine)
    opts = replace(opts, workers=_workers(opts, model.engine))
    first_job = _decoder_job(model, opts)
    pool = PoolStarter(opts.workers, first_job, opts.decode_timeout_s)  # warms up as the job embeds
    with sigterm_as_interrupt():  # SIGTERM commits and stops the decoders as Ctrl-C does
        try:
            return _scan(lib, roots, model, opts, pool, _job_now(model, first_job), summary, started,
                         on_plan, on_file)
        finally:
            pool.kill()


def _scan(lib: Library, roots: list[Path], model: IndexModel, opts: ScanOptions, pool: PoolStarter,
          job_now: Callable[[], Job], summary: ScanSummary, started: float, on_plan: Callable[[ScanPlan], None] | None,
          on_file: Callable[[FileEntry, str, float], None] | None) -> ScanSummary:
    plan = plan_scan(lib, [Path(r) for r in roots], opts.retry_failed, model.content_hash,
                     on_first_todo=pool)  # read-only
    if on_plan:
        on_plan(plan)
    stream = decoded_stream(pool, plan.todo, job_now) if plan.todo else iter(())
    early = _decode_while_loading(model, stream)  # the model's load errors raise before any write
    summary.model_changed = lib.adopt_model(model.content_hash, model.config.embed_dim)
    lib.predictor = predictor_for(model)  # stored with each track (lquery: predictions)
    summary.unchanged, summary.skipped_failed = plan.unchanged, plan.skipped_failed
    summary.removed = lib.catalogue.remove(plan.removed)
    lib.remember_folders(roots)

    def decoded_ok() -> Iterator[tuple[FileEntry, Decoded]]:
        for entry, item in itertools.chain(early, stream):
            if not item.error:
                item.error = _changed_while_read(entry)
            if item.error:
                _store_unusable(lib, entry, item, summary)
                if on_file:
                    on_file(entry, "silent" if item.silent else "failed", 0.0)
                continue
            yield entry, item

    _store_tracks(lib, model.content_hash, _embedded(model, decoded_ok(), opts.batch_size), opts, summary, on_file)
    lib.refresh_predictions()  # unchanged tracks predicted before by another vocabulary, or never
    lib.sync_index()
    summary.seconds = time.time() - started
    return summary


def _changed_while_read(entry: FileEntry) -> str:
    """Why a file decoded from `entry` cannot be kept: it changed (was truncated, rewritten) or
    vanished while it was read; "" when it is as it was listed. It is then stored as failed with
    the size and mtime of the listing, so the next scan tries it again."""
    try:
        st = os.stat(entry.path)
    except OSError:
        return "vanished while it was read"
    if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns):
        return f"changed while it was read ({entry.size} -> {st.st_size} bytes): run muser index again"
    return ""


def _store_unusable(lib: Library, entry: FileEntry, item: Decoded, summary: ScanSummary) -> None:
    """Catalogue a file that cannot be indexed, as "silent" or "failed" with its reason: it is
    not tried again while its size and mtime stay the same (unless --retry-failed)."""
    status = "silent" if item.silent else "failed"
    lib.catalogue.put_failure(entry.path, entry.size, entry.mtime_ns, item.error, status=status)
    if item.silent:
        summary.silent += 1
    else:
        summary.failed += 1
        summary.failures.append((entry.path, item.error))


def _store_tracks(lib: Library, model_hash: str,
                  embedded: Iterator[tuple[tuple[FileEntry, Decoded], np.ndarray]], opts: ScanOptions,
                  summary: ScanSummary, on_file: Callable[[FileEntry, str, float], None] | None) -> None:
    """Commit each embedded file's track vector, `opts.commit_every` files or 10 s at a time. On
    Ctrl-C the files already embedded are committed before the interrupt goes on: the next run
    resumes after them."""
    pending: list[TrackRow] = []
    last_commit = time.time()
    try:
        for (entry, item), embeddings in embedded:
            track = track_embedding(embeddings[:, 0], embeddings[:, 1])  # (E,)
            pending.append(TrackRow(entry.path, entry.size, entry.mtime_ns, track, item.tags, item.duration_s,
                                    len(embeddings)))
            summary.audio_seconds += item.duration_s
            if on_file:
                on_file(entry, "indexed", item.duration_s)
            if len(pending) >= opts.commit_every or time.time() - last_commit > 10:
                summary.indexed += _commit(lib, pending, model_hash)
                last_commit = time.time()
    except KeyboardInterrupt:
        _commit(lib, pending, model_hash)
        raise
    summary.indexed += _commit(lib, pending, model_hash)


_EARLY_BYTES = 256 << 20  # decoded windows held at most while the torch model loads


def _decoder_job(model: IndexModel, opts: ScanOptions) -> IndexJob:
    """What the decoders do with a file: decode it and, with the numpy engine (or while the torch
    model loads), embed it with the checkpoint's numpy model, which they load as they start."""
    cfg = model.config.audio
    job = opts.job(cfg.window_s, cfg.hop_s, cfg.sample_rate, opts.max_windows)
    if model.checkpoint_path is not None and (model.engine == "numpy" or model.loading is not None):
        job = replace(job, checkpoint=str(model.checkpoint_path))
    return job


def _job_now(model: IndexModel, first_job: IndexJob) -> Callable[[], Job]:
    """The job for the next file handed out. While the torch model loads the decoders also embed
    their files with the numpy engine (the same vectors as torch fp32 to 1e-4) instead of waiting
    for it; files handed out after it has loaded are only decoded, and embedded here."""
    loading = model.loading
    if model.engine == "numpy" or loading is None:
        return lambda: first_job
    decode_only = first_job.decode_only()
    return lambda: decode_only if loading.done() else first_job


def _decode_while_loading(model: IndexModel, stream: Iterator[tuple[FileEntry, Decoded]],
                          ) -> list[tuple[FileEntry, Decoded]]:
    """Files the decoders finish while the torch model is still loading (embedded there, see
    `_job_now`; files that come as windows count against _EARLY_BYTES), so that the scan is
    not held up by `import torch`; then the loaded model, whose load error raises here."""
    early, held = [], 0
    while model.loading is not None and not model.loading.done() and held < _EARLY_BYTES:
        pair = next(stream, None)
        if pair is None:
            break
        early.append(pair)
        held += pair[1].windows.nbytes if pair[1].windows is not None else 0
    model.wait_loaded()
    return early


def _commit(lib: Library, rows: list[TrackRow], model_hash: str) -> int:
    n = len(rows)
    if rows:
        lib.put_tracks(rows, model_hash)
        rows.clear()
    return n
