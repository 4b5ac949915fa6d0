"""`muser tag` as a library function: files in, tags and genre per file out.

Two engines compute the same thing: "torch" (`muser_model.model`, any device, bf16 autocast)
and "numpy" (`muser_model.numpy_audio`, CPU fp32, no torch import: about 1.5 s less start-up on
a 2-core machine). `tag()` picks one (`choose_engine`); this module never imports torch itself
unless the torch engine runs.
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muser_model.errors import AudioError, EngineError
from muser_model import hardware

if TYPE_CHECKING:
    from muser_model.inference import LabelScore
    from muser_model.numpy_audio import NumpyMuser, NumpyTrackEmbedding
    from muser_model.runtime import LoadedModel

ENGINES = ("auto", "numpy", "torch")
# On a CPU with native bf16 (AMX/AVX512-BF16), engine auto runs numpy for at most this many 5 s
# windows in all (about 5 minutes of audio): beyond that torch's bf16 autocast pays back its
# import. Elsewhere numpy is faster at any size (2-core AVX2 machine, shipped checkpoint: a
# 10-minute file 2.8 s against torch's 5.2 s, sixty 30 s files 8.6 s against 9.3 s).
AUTO_NUMPY_MAX_WINDOWS = 64
AUTO_NUMPY_MAX_FILES = 32  # more files: torch without probing each one's duration


@dataclass
class WindowTags:
    start_s: float
    end_s: float
    tags: list[LabelScore]
    genre: LabelScore


@dataclass
class TagResult:
    path: Path
    windows: int
    tags: list[LabelScore]
    genres: list[LabelScore]  # best first; genres[0] is the prediction
    labels: list[LabelScore] = field(default_factory=list)  # --labels, best first
    timeline: list[WindowTags] = field(default_factory=list)
    # the zero-shot answer too, when `tags`/`genres` above come from trained heads
    zero_shot_tags: list[LabelScore] = field(default_factory=list)
    zero_shot_genres: list[LabelScore] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        data["genre"] = data["genres"][0] if data["genres"] else None
        return data


def tag_files(lm: LoadedModel, paths: Iterable[str | Path], k: int = 5,
              labels: list[str] | None = None, timeline: bool = False,
              batch_size: int = 16) -> Iterator[TagResult | AudioError]:
    """Torch engine: yield a TagResult, or the AudioError naming the file, for each path in order."""
    from muser_model.inference import Scorer, embed_files, top_k

    scorer = Scorer(lm)
    for result in embed_files(lm, paths, batch_size=batch_size):
        if isinstance(result, AudioError):
            yield result
        else:
            yield _tag_one(scorer, result, k, labels or [], timeline, top_k)


def tag_files_numpy(model: NumpyMuser, paths: Iterable[str | Path], k: int = 5,
                    labels: list[str] | None = None, timeline: bool = False,
                    batch_size: int = 16, workers: int = 1) -> Iterator[TagResult | AudioError]:
    """Numpy engine: as `tag_files`, from a format-2 checkpoint's numpy section, no torch; with
    `workers` > 1 the files are embedded in that many processes (still yielded in input order)."""
    from muser_model.numpy_audio import NumpyScorer, embed_files, top_k

    scorer = NumpyScorer(model)
    embedded = (embed_files(model, paths, batch_size=batch_size) if workers <= 1 or model.path is None
                else _embed_in_processes(model, list(paths), batch_size, workers))
    for result in embedded:
        if isinstance(result, AudioError):
            yield result
        else:
            yield _tag_one(scorer, result, k, labels or [], timeline, top_k)


def _embed_in_processes(model: NumpyMuser, paths: list[str | Path], batch_size: int, workers: int,
                        ) -> Iterator[NumpyTrackEmbedding | AudioError]:
    """numpy_audio.embed_files over a pool of `workers` processes, in input order. The pool is
    `muser index`'s: a file that crashes or hangs its decoder fails alone, the rest go on."""
    from functools import partial

    from muser_model.files import FileEntry
    from muser_model.library.decode import embed_whole_file
    from muser_model import numpy_audio
    from muser_model.library.scan import ScanOptions, decoded_stream

    checkpoint = str(model.path)
    opts = ScanOptions(workers=workers, max_windows=0, decode_timeout_s=3600.0,
                       decoder=partial(embed_whole_file, checkpoint=checkpoint, batch_size=batch_size))
    entries = [FileEntry(str(p), 0, 0) for p in paths]
    position = {id(entry): i for i, entry in enumerate(entries)}
    finished: dict[int, NumpyTrackEmbedding | AudioError] = {}
    next_out = 0
    for entry, item in decoded_stream(entries, model.config, opts, checkpoint=checkpoint):
        i = position[id(entry)]
        if item.error:  # the decoder's AudioError, or a crash or hang found by decoded_stream
            finished[i] = item.exception or AudioError(paths[i], item.error)
        else:
            finished[i] = numpy_audio.NumpyTrackEmbedding(Path(paths[i]), item.embeddings[:, 0],
                                                          item.embeddings[:, 1], model.config.audio.window_s,
                                                          item.hop_s)
        while next_out in finished:
            yield finished.pop(next_out)
            next_out += 1


# Below this many windows in all, starting worker processes (~0.5 s) costs more than it saves.
# Measured (2-core AVX2, 30 s mp3s, wall of `muser tag`, 1 vs 2 processes): 24 windows 1.0 vs
# 1.5 s, 48: 1.7 vs 1.7 s, 72: 2.4 vs 2.0 s, 120: 3.0 vs 2.7 s, 360: 8.8 vs 4.7 s.
PARALLEL_MIN_WINDOWS = 64


def tag_workers(paths: list[Path], model: NumpyMuser, workers: int | None) -> int:
    """Processes for tagging `paths` with the numpy engine: `workers` if given; else one per
    usable CPU (at most one per file) when there are several files and at least
    PARALLEL_MIN_WINDOWS windows of audio in all, else 1 (this process)."""
    if workers is not None:
        return max(1, min(workers, len(paths)))
    if len(paths) < 2 or hardware.usable_cpus() < 2:
        return 1
    cfg = model.config.audio
    enough = len(paths) >= PARALLEL_MIN_WINDOWS  # a window or more each: no need to probe them all
    if not enough and _estimated_windows(paths, cfg.window_s, cfg.hop_s) < PARALLEL_MIN_WINDOWS:
        return 1
    return min(len(paths), hardware.default_decoders("numpy"))


def _tag_one(scorer: Any, emb: Any, k: int, labels: list[str], timeline: bool,
             top_k: Callable[..., list[LabelScore]]) -> TagResult:
    """Shared by both engines: `scorer`/`emb` are inference.Scorer/TrackEmbedding (torch) or
    numpy_audio.NumpyScorer/NumpyTrackEmbedding, `top_k` the matching function."""
    track = emb.track()[None]  # (1, E)
    tag_scores, tag_kind, tag_method = scorer.scores(track, "tags")
    genre_scores, g_kind, g_method = scorer.scores(track, "genres")
    result = TagResult(
        path=emb.path,
        windows=emb.wave.shape[0],
        tags=top_k(tag_scores[0], scorer.tags, k, tag_kind, tag_method),
        genres=top_k(genre_scores[0], scorer.genres, 3, g_kind, g_method),
    )
    if tag_method == "head" or g_method == "head":
        zs_tags, zs_tag_kind, _ = scorer.scores(track, "tags", "zero-shot")
        zs_genres, zs_g_kind, _ = scorer.scores(track, "genres", "zero-shot")
        result.zero_shot_tags = top_k(zs_tags[0], scorer.tags, k, zs_tag_kind, "zero-shot")
        result.zero_shot_genres = top_k(zs_genres[0], scorer.genres, 3, zs_g_kind, "zero-shot")
    if labels:
        probs, _ = scorer.open_labels(track, labels)
        result.labels = top_k(probs[0], labels, len(labels), "probability", "zero-shot")
    if timeline:
        result.timeline = _timeline(scorer, emb, k, top_k)
    return result


def _timeline(scorer: Any, emb: Any, k: int, top_k: Callable[..., list[LabelScore]]) -> list[WindowTags]:
    windows = emb.windows  # (W, E)
    tag_scores, tag_kind, tag_method = scorer.scores(windows, "tags")
    genre_scores, g_kind, g_method = scorer.scores(windows, "genres")
    rows = []
    for i in range(windows.shape[0]):
        start = i * emb.hop_s
        rows.append(WindowTags(
            start_s=round(start, 2), end_s=round(start + emb.window_s, 2),
            tags=top_k(tag_scores[i], scorer.tags, k, tag_kind, tag_method),
            genre=top_k(genre_scores[i], scorer.genres, 1, g_kind, g_method)[0],
        ))
    return rows


def label_list(text: str) -> list[str]:
    """"a, b ,c" -> ["a", "b", "c"]; empty items dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


# -- engine selection ------------------------------------------------------------------------
def cuda_may_be_present() -> bool:
    """Whether torch could find a GPU here, answered without importing torch.

    False only where that is certain: CUDA_VISIBLE_DEVICES hides every device, macOS (no CUDA
    builds), or Linux without the NVIDIA driver's (or ROCm's) device nodes. Else True.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl",
                                                "/dev/nvidia0", "/dev/kfd"))
    return True


def _estimated_windows(paths: list[Path], window_s: float, hop_s: float) -> int:
    """Windows the files will give (header probe; an unreadable file counts 1, it fails anyway)."""
    from muser_model import audio

    total = 0
    for p in paths:
        try:
            seconds = audio.probe(p).duration_s
        except (AudioError, OSError):
            seconds = window_s
        total += max(1, math.ceil(max(seconds - window_s, 0.0) / hop_s) + 1)
    return total


def choose_engine(engine: str, checkpoint: str | Path | None, device: str = "auto",
                  precision: str = "auto", paths: list[Path] | None = None,
                  labels: list[str] | None = None) -> tuple[str, NumpyMuser | None, str]:
    """("numpy" or "torch", the loaded numpy model or None, why) for a tagging request.

    numpy runs when asked for, or under "auto" when all of these hold: --device auto with no GPU
    possible (`cuda_may_be_present`) or cpu; --precision auto or fp32 (numpy computes fp32, which
    is also what auto gives on CPUs without native bf16); a format-2 checkpoint; open --labels only
    with a frozen text tower; and, on a CPU with native bf16 under --precision auto, a job known to
    be small: `paths` given (None: a job of unknown size, e.g. a library scan), at most
    AUTO_NUMPY_MAX_FILES files and AUTO_NUMPY_MAX_WINDOWS windows. The numpy section is checked
    here, so checkpoint errors surface as usual.
    `engine="numpy"` that cannot run raises EngineError; checkpoint errors propagate.
    """
    from muser_model.checkpoint import default_checkpoint_path, has_numpy_section

    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; use auto, numpy or torch")
    if engine == "torch":
        return "torch", None, "asked for"
    path = Path(checkpoint) if checkpoint else default_checkpoint_path()
    why = None
    if device not in ("auto", "cpu"):
        why = f"--device {device}"
    elif device == "auto" and engine == "auto" and cuda_may_be_present():
        why = "a GPU may be present (--device cpu or --engine numpy forces numpy)"
    elif precision not in ("auto", "fp32"):
        why = f"--precision {precision} (numpy computes fp32)"
    elif not has_numpy_section(path):  # raises the usual checkpoint errors
        why = f"the checkpoint has no numpy section (python -m muser_model.checkpoint upgrade {path})"
    small_only = engine == "auto" and precision == "auto" and hardware.cpu_has_native_bf16()
    if why is None and small_only and paths is None:
        why = "a job of unknown size on a CPU with native bf16"
    if why is None:
        from muser_model.numpy_audio import NumpyMuser

        model = NumpyMuser.load(path)
        if labels and not model.can_embed_text:
            why = "--labels with a fine-tuned text tower"
        elif small_only:
            cfg = model.config.audio
            if len(paths) > AUTO_NUMPY_MAX_FILES:
                why = f"more than {AUTO_NUMPY_MAX_FILES} files"
            elif _estimated_windows(paths, cfg.window_s, cfg.hop_s) > AUTO_NUMPY_MAX_WINDOWS:
                why = f"more than {AUTO_NUMPY_MAX_WINDOWS} windows of audio"
        if why is None:
            return "numpy", model, "no torch needed"
    if engine == "numpy":
        raise EngineError(f"--engine numpy cannot run this: {why}")
    return "torch", None, why


def tag(paths: list[Path], checkpoint: str | Path | None = None, device: str = "auto",
        precision: str = "auto", engine: str = "auto", k: int = 5, labels: list[str] | None = None,
        timeline: bool = False, batch_size: int = 16, workers: int | None = None,
        ) -> Iterator[TagResult | AudioError]:
    """`muser tag`: pick the engine, load the model, yield results in input order. The numpy
    engine embeds in `workers` processes (None: see `tag_workers`).

    Loading happens on the first `next()`; checkpoint and device problems raise MuserError
    (EngineError for an engine that cannot run the request).
    """
    chosen, model, _ = choose_engine(engine, checkpoint, device, precision, paths, labels)
    if chosen == "numpy":
        yield from tag_files_numpy(model, paths, k, labels, timeline, batch_size, tag_workers(paths, model, workers))
        return
    from muser_model.runtime import load_model

    lm = load_model(checkpoint, device, precision)
    yield from tag_files(lm, paths, k, labels, timeline, batch_size)
