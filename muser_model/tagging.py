"""`muser tag` as a library function: files in, tags and genre per file out."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from muser_model.errors import AudioError
from muser_model.inference import LabelScore, Scorer, TrackEmbedding, embed_files, top_k
from muser_model.runtime import LoadedModel


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
    """Yield a TagResult, or the AudioError naming the file, for each path in order."""
    scorer = Scorer(lm)
    for result in embed_files(lm, paths, batch_size=batch_size):
        if isinstance(result, AudioError):
            yield result
        else:
            yield _tag_one(scorer, result, k, labels or [], timeline)


def _tag_one(scorer: Scorer, emb: TrackEmbedding, k: int, labels: list[str],
             timeline: bool) -> TagResult:
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
        result.timeline = _timeline(scorer, emb, k)
    return result


def _timeline(scorer: Scorer, emb: TrackEmbedding, k: int) -> list[WindowTags]:
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


