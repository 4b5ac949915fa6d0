"""`muser tag` as a library function: files in, tags and genre per file out.

Two engines embed ("torch": `muser_model.torch_engine.inference`, any device, bf16 autocast; "numpy":
`muser_model.numpy_engine.audio`, CPU fp32, no torch import, so a shorter
start-up: see docs/performance.md); everything above the towers is the one stack of `muser_model.core.scoring`. `tag()` picks
the engine (`engine_choice.choose_engine`); this module never imports torch itself unless the
torch engine runs.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from muser_model.core import audio, embedding, hardware
from muser_model.engine_choice import choose_engine, estimated_windows
from muser_model.core.errors import AudioError, EngineError, LabelsError  # noqa: F401  (EngineError: for muser_cli)
from muser_model.core.files import FileEntry
from muser_model.numpy_engine.audio import NumpyMuser
from muser_model.core.scoring import Engine, LabelScore, Scorer, TrackEmbedding, top_k
from muser_model.core.vocab_groups import MAIN_KIND, vocab_name

if TYPE_CHECKING:
    from muser_model.torch_engine.runtime import LoadedModel

@dataclass
class WindowTags:
    start_s: float
    end_s: float
    tags: list[LabelScore]
    genre: LabelScore
    extra_tags: dict[str, list[LabelScore]] = field(default_factory=dict)  # as TagResult.extra_tags


@dataclass
class TagResult:
    path: Path
    windows: int
    tags: list[LabelScore]  # the MTT vocabulary (tag kind "tags")
    genres: list[LabelScore]  # best first; genres[0] is the prediction
    # --labels, best first: the softmax over two or more labels; a single label's cosine (a
    # softmax over one label would always be 1.00)
    labels: list[LabelScore] = field(default_factory=list)
    label_similarities: list[LabelScore] = field(default_factory=list)  # each label's cosine, best first
    timeline: list[WindowTags] = field(default_factory=list)
    # the zero-shot answer too, when `tags`/`genres` above come from trained heads
    zero_shot_tags: list[LabelScore] = field(default_factory=list)
    zero_shot_genres: list[LabelScore] = field(default_factory=list)
    # the top k of every other tag kind of the checkpoint's table, e.g. {"msd": [...]}
    extra_tags: dict[str, list[LabelScore]] = field(default_factory=dict)
    vocabularies: dict[str, str] = field(default_factory=dict)  # vocabulary name -> origin

    def to_json(self) -> dict:
        """The JSON record: `tags` (MTT) and `genres`/`genre` as always, every tag kind under
        `tags_by_vocabulary` ({"mtt": [...], "msd": [...]}), windows alike."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["genre"] = data["genres"][0] if data["genres"] else None
        data["tags_by_vocabulary"] = _by_vocabulary(data["tags"], data.pop("extra_tags"))
        for row in data["timeline"]:
            row["tags_by_vocabulary"] = _by_vocabulary(row["tags"], row.pop("extra_tags"))
        return data


def _by_vocabulary(tags: list[dict], extra: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """{"mtt": tags, "msd": extra["msd"], ...}: tag kinds renamed to their vocabularies."""
    return {vocab_name(MAIN_KIND): tags, **{vocab_name(kind): scores for kind, scores in extra.items()}}


def tag_files(lm: LoadedModel, paths: Iterable[str | Path], k: int = 5,
              labels: list[str] | None = None, timeline: bool = False,
              batch_size: int = 16) -> Iterator[TagResult | AudioError]:
    """Torch engine: yield a TagResult, or the AudioError naming the file, for each path in order."""
    from muser_model.torch_engine.inference import engine_of  # imports torch: only when the torch engine runs

    engine = engine_of(lm)
    yield from _tag_embedded(engine, embedding.embed_files(engine, paths, batch_size), k, labels, timeline)


def tag_files_numpy(model: NumpyMuser, paths: Iterable[str | Path], k: int = 5,
                    labels: list[str] | None = None, timeline: bool = False,
                    batch_size: int = 16, workers: int = 1) -> Iterator[TagResult | AudioError]:
    """Numpy engine: as `tag_files`, from a format-2 checkpoint's numpy section, no torch; with
    `workers` > 1 the files are embedded in that many processes (still yielded in input order)."""
    embedded = (embedding.embed_files(model, paths, batch_size) if workers <= 1 or model.path is None
                else _embed_in_processes(model, list(paths), batch_size, workers))
    yield from _tag_embedded(model, embedded, k, labels, timeline)


def _tag_embedded(engine: Engine, embedded: Iterable[TrackEmbedding | AudioError], k: int,
                  labels: list[str] | None, timeline: bool) -> Iterator[TagResult | AudioError]:
    scorer = Scorer(engine)
    for result in embedded:
        yield result if isinstance(result, AudioError) else _tag_one(scorer, result, k, labels or [], timeline)


def _embed_in_processes(model: NumpyMuser, paths: list[str | Path], batch_size: int, workers: int,
                        ) -> Iterator[TrackEmbedding | AudioError]:
    """embedding.embed_files over `workers` decoder processes, in input order. The pool is
    `muser index`'s: a file that crashes or hangs its decoder fails alone, the rest go on."""
    # multiprocessing and the pool (~15 ms of start-up) load only when tagging runs in processes
    from muser_model.library.decode import TagJob
    from muser_model.library.pool import PoolStarter, decoded_stream

    job = TagJob(str(model.path), batch_size)
    entries = [FileEntry(str(p), 0, 0) for p in paths]
    position = {id(entry): i for i, entry in enumerate(entries)}
    finished: dict[int, TrackEmbedding | AudioError] = {}
    next_out = 0
    for entry, item in decoded_stream(PoolStarter(workers, job, TAG_TIMEOUT_S), entries, lambda: job):
        i = position[id(entry)]
        if item.error:  # the decoder's AudioError, or the pool's crash or hang
            finished[i] = item.exception or AudioError(paths[i], item.error)
        else:
            finished[i] = TrackEmbedding(Path(paths[i]), item.embeddings[:, 0], item.embeddings[:, 1],
                                         model.config.audio.window_s, item.hop_s)
        while next_out in finished:
            yield finished.pop(next_out)
            next_out += 1


TAG_TIMEOUT_S = 3600.0  # one whole file, every window, embedded: far longer than a scan's decode

# Below this many windows in all, starting worker processes costs more than it saves (the
# measured crossover: see docs/performance.md).
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
    if not enough and estimated_windows(paths, cfg.window_s, cfg.hop_s) < PARALLEL_MIN_WINDOWS:
        return 1
    return min(len(paths), hardware.default_decoders("numpy"))


def _tag_one(scorer: Scorer, emb: TrackEmbedding, k: int, labels: list[str], timeline: bool) -> TagResult:
    track = emb.track()[None]  # (1, E)
    tag_scores, tag_kind, tag_method = scorer.scores(track, "tags")  # (1, T)
    genre_scores, g_kind, g_method = scorer.scores(track, "genres")  # (1, G)
    result = TagResult(
        path=emb.path,
        windows=emb.wave.shape[0],
        tags=scorer.ranked(tag_scores[0], "tags", k, tag_kind, tag_method),
        genres=scorer.ranked(genre_scores[0], "genres", 3, g_kind, g_method),
        extra_tags={kind: scorer.top(track, kind, k)[0] for kind in scorer.assets.extra_tag_kinds},
        vocabularies={v.name: v.origin for v in scorer.assets.tag_kinds.values()},
    )
    if tag_method == "head" or g_method == "head":
        result.zero_shot_tags = scorer.top(track, "tags", k, "zero-shot")[0]
        result.zero_shot_genres = scorer.top(track, "genres", 3, "zero-shot")[0]
    if labels:
        cos, probs = scorer.open_labels(track, labels)  # (1, L) each; probs None for one label
        result.label_similarities = top_k(cos[0], labels, len(labels), "cosine", "zero-shot")
        result.labels = (result.label_similarities if probs is None
                         else top_k(probs[0], labels, len(labels), "probability", "zero-shot"))
    if timeline:
        result.timeline = _timeline(scorer, emb, k)
    return result


def _timeline(scorer: Scorer, emb: TrackEmbedding, k: int) -> list[WindowTags]:
    windows = emb.windows  # (W, E)
    tags = scorer.top(windows, "tags", k)  # W lists
    genres = scorer.top(windows, "genres", 1)
    extra = {kind: scorer.top(windows, kind, k) for kind in scorer.assets.extra_tag_kinds}
    duration = emb.duration_s if emb.duration_s is not None else _duration(emb.path)
    spans = replace(emb, duration_s=duration)
    rows = []
    for i in range(windows.shape[0]):
        start, end = spans.window_span(i)
        rows.append(WindowTags(start_s=round(start, 2), end_s=round(end, 2), tags=tags[i], genre=genres[i][0],
                               extra_tags={kind: ranked[i] for kind, ranked in extra.items()}))
    return rows


def _duration(path: Path) -> float | None:
    """The file's duration from its header (None when it cannot be probed: windows unclipped)."""
    try:
        return audio.probe(path).duration_s
    except (AudioError, OSError):
        return None


def label_list(text: str) -> list[str]:
    """"a, b ,c,a" -> ["a", "b", "c"]: items stripped, empty ones dropped, repeats collapsed
    (first place kept). "" (no --labels) gives []; a text of only commas and spaces raises
    LabelsError."""
    labels = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if text.strip() and not labels:
        raise LabelsError(f"--labels {text!r} names no label; give words separated by commas, e.g. \"calm,piano\"")
    return labels


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
    from muser_model.torch_engine.runtime import load_model  # imports torch: the torch engine only

    lm = load_model(checkpoint, device, precision)
    yield from tag_files(lm, paths, k, labels, timeline, batch_size)
