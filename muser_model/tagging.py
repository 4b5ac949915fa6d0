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

import numpy as np

from muser_model.core import audio, embedding, hardware
from muser_model.engine_choice import choose_engine, estimated_windows
from muser_model.core.errors import AudioError, EngineError, LabelsError, OptionError  # noqa: F401  (EngineError: for muser_cli)
from muser_model.core.files import FileEntry
from muser_model.numpy_engine.audio import NumpyMuser
from muser_model.core.concepts import GENRE_FAMILIES
from muser_model.core.grounding import LABEL_TEMPERATURE, GenreCall
from muser_model.core.scoring import LabelScore, TrackEmbedding, softmax, top_k
from muser_model.core.vocab_groups import MAIN_KIND, vocab_name
from muser_model.text_model import TextModel, explain_reading, text_model

GENRE_VOCABS = ("muser", "gtzan")  # the headline genre's vocabulary: user families or GTZAN-10
FAMILY_VOCAB = "muser"  # what a genre family's score names as its vocabulary

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
    # the headline vocabulary's genres, best first: the user genre families (vocab "muser") where
    # the checkpoint has the heads for them, else (or with genre_vocab "gtzan") GTZAN-10
    genres: list[LabelScore]
    headline: GenreCall | None = None  # the headline genre: a family or "no clear genre"
    gtzan: list[LabelScore] = field(default_factory=list)  # GTZAN-10, the research vocabulary
    mood: dict[str, float] = field(default_factory=dict)  # {"energy": 0..1, "valence": 0..1}
    # --labels, best first: the softmax over two or more labels of their grounded scores (each
    # label's method says how it was scored: "head", "blend" or "zero-shot"); one label alone: its
    # score (a softmax over one label would always be 1.00)
    labels: list[LabelScore] = field(default_factory=list)
    label_similarities: list[LabelScore] = field(default_factory=list)  # each label's cosine, best first
    label_readings: dict[str, str] = field(default_factory=dict)  # label -> how it was read (--explain)
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
        data["genre"] = self._headline_json(data)
        data.pop("headline")
        data["tags_by_vocabulary"] = _by_vocabulary(data["tags"], data.pop("extra_tags"))
        for row in data["timeline"]:
            row["tags_by_vocabulary"] = _by_vocabulary(row["tags"], row.pop("extra_tags"))
        return data


    def _headline_json(self, data: dict) -> dict | None:
        """The headline genre: the best of `genres`, with `clear` and the candidates; its label
        is "no clear genre" when no family has enough evidence."""
        if not data["genres"]:
            return None
        best = dict(data["genres"][0])
        if self.headline is not None:
            best.update(label=self.headline.label, clear=self.headline.clear,
                        candidates=[{"label": g, "score": v} for g, v in self.headline.candidates])
        return best


def _by_vocabulary(tags: list[dict], extra: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """{"mtt": tags, "msd": extra["msd"], ...}: tag kinds renamed to their vocabularies."""
    return {vocab_name(MAIN_KIND): tags, **{vocab_name(kind): scores for kind, scores in extra.items()}}


def tag_files(lm: LoadedModel, paths: Iterable[str | Path], k: int = 5,
              labels: list[str] | None = None, timeline: bool = False,
              batch_size: int = 16, genre_vocab: str = "muser") -> Iterator[TagResult | AudioError]:
    """Torch engine: yield a TagResult, or the AudioError naming the file, for each path in order."""
    from muser_model.torch_engine.inference import engine_of  # imports torch: only when the torch engine runs

    engine = engine_of(lm)
    model = text_model(engine, lm.checkpoint.content_hash, lm.checkpoint.path)
    yield from _tag_embedded(model, embedding.embed_files(engine, paths, batch_size), k, labels, timeline,
                             genre_vocab)


def tag_files_numpy(model: NumpyMuser, paths: Iterable[str | Path], k: int = 5,
                    labels: list[str] | None = None, timeline: bool = False,
                    batch_size: int = 16, workers: int = 1, genre_vocab: str = "muser",
                    ) -> Iterator[TagResult | AudioError]:
    """Numpy engine: as `tag_files`, from a format-2 checkpoint's numpy section, no torch; with
    `workers` > 1 the files are embedded in that many processes (still yielded in input order)."""
    embedded = (embedding.embed_files(model, paths, batch_size) if workers <= 1 or model.path is None
                else _embed_in_processes(model, list(paths), batch_size, workers))
    yield from _tag_embedded(text_model(model, model.content_hash, model.path), embedded, k, labels, timeline,
                             genre_vocab)


def _tag_embedded(model: TextModel, embedded: Iterable[TrackEmbedding | AudioError], k: int,
                  labels: list[str] | None, timeline: bool, genre_vocab: str = "muser",
                  ) -> Iterator[TagResult | AudioError]:
    if genre_vocab not in GENRE_VOCABS:
        raise OptionError(f"--genre-vocab {genre_vocab!r}: use one of {', '.join(GENRE_VOCABS)}")
    families = genre_vocab == "muser" and model.grounder.has_families()
    for result in embedded:
        yield (result if isinstance(result, AudioError)
               else _tag_one(model, result, k, labels or [], timeline, families))


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


def _tag_one(model: TextModel, emb: TrackEmbedding, k: int, labels: list[str], timeline: bool,
             families: bool) -> TagResult:
    scorer = model.scorer
    track = emb.track()[None]  # (1, E)
    tag_scores, tag_kind, tag_method = scorer.scores(track, "tags")  # (1, T)
    genre_scores, g_kind, g_method = scorer.scores(track, "genres")  # (1, G)
    gtzan = scorer.ranked(genre_scores[0], "genres", 3, g_kind, g_method)
    result = TagResult(
        path=emb.path,
        windows=emb.wave.shape[0],
        tags=scorer.ranked(tag_scores[0], "tags", k, tag_kind, tag_method),
        genres=_family_scores(model, track)[0] if families else gtzan,
        headline=model.grounder.genre_calls(track)[0] if families else None,
        gtzan=gtzan,
        mood={axis: round(float(v[0]), 4) for axis, v in model.grounder.axes(track).items()},
        extra_tags={kind: scorer.top(track, kind, k)[0] for kind in scorer.assets.extra_tag_kinds},
        vocabularies={v.name: v.origin for v in scorer.assets.tag_kinds.values()},
    )
    if tag_method == "head" or g_method == "head":
        result.zero_shot_tags = scorer.top(track, "tags", k, "zero-shot")[0]
        result.zero_shot_genres = scorer.top(track, "genres", 3, "zero-shot")[0]
    if labels:
        _score_labels(model, track, labels, result)
    if timeline:
        result.timeline = _timeline(model, emb, k, families)
    return result


def _family_scores(model: TextModel, vectors: np.ndarray, k: int = 3) -> list[list[LabelScore]]:
    """(N, E) -> per row the k best genre families by evidence, as LabelScores of vocab "muser"."""
    evidence = model.grounder.family_evidence(vectors)  # (N, F)
    names = list(GENRE_FAMILIES)
    return [top_k(row, names, k, "probability", "head", FAMILY_VOCAB, ["genre"] * len(names)) for row in evidence]


def _score_labels(model: TextModel, track: np.ndarray, labels: list[str], result: TagResult) -> None:
    """--labels through the grounding: each label read onto the vocabularies and scored by the
    blend of calibrated heads and text embedding (zero-shot where no vocabulary covers it); a
    softmax over the scores of two or more labels."""
    text_vectors = np.asarray(model.embed(labels), np.float32)  # (L, E)
    scores, methods = np.zeros(len(labels), np.float32), []
    for j, label in enumerate(labels):
        reading = model.read(label)
        blend = model.grounder.blend(track, reading, text_vectors[j])
        scores[j] = blend.score[0]
        methods.append(_label_method(model.grounder.coverage(reading)))
        result.label_readings[label] = explain_reading(model, reading, blend.weight)
    cos = (track @ text_vectors.T)[0]  # (L,)
    result.label_similarities = top_k(cos, labels, len(labels), "cosine", "zero-shot")
    shown = softmax(LABEL_TEMPERATURE * scores) if len(labels) >= 2 else scores
    ranked = top_k(shown, labels, len(labels), "probability" if len(labels) >= 2 else "score", "")
    for entry in ranked:
        entry.method = methods[labels.index(entry.label)]
    result.labels = ranked


def _label_method(coverage: float) -> str:
    return "head" if coverage >= 1 else ("blend" if coverage > 0 else "zero-shot")


def _timeline(model: TextModel, emb: TrackEmbedding, k: int, families: bool) -> list[WindowTags]:
    scorer = model.scorer
    windows = emb.windows  # (W, E)
    tags = scorer.top(windows, "tags", k)  # W lists
    genres = _family_scores(model, windows, 1) if families else scorer.top(windows, "genres", 1)
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
        genre_vocab: str = "muser") -> Iterator[TagResult | AudioError]:
    """`muser tag`: pick the engine, load the model, yield results in input order. The numpy
    engine embeds in `workers` processes (None: see `tag_workers`).

    Loading happens on the first `next()`; checkpoint and device problems raise MuserError
    (EngineError for an engine that cannot run the request).
    """
    chosen, model, _ = choose_engine(engine, checkpoint, device, precision, paths, labels)
    if chosen == "numpy":
        yield from tag_files_numpy(model, paths, k, labels, timeline, batch_size, tag_workers(paths, model, workers),
                                   genre_vocab)
        return
    from muser_model.torch_engine.runtime import load_model  # imports torch: the torch engine only

    lm = load_model(checkpoint, device, precision)
    yield from tag_files(lm, paths, k, labels, timeline, batch_size, genre_vocab)
