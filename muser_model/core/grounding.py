"""Ground text in what the trained heads know: calibrated concept scores, the blend with the
contrastive embedding, the user genre families and the energy and valence axes.

Every score here is computed from track vectors `(N, E)` with the heads of one checkpoint
(`scoring.Scorer`), so the numpy and torch engines agree wherever their vectors agree.

**Calibration.** Heads have different base rates (a typical "piano" logit is far below a typical
"rock" one), so each output is standardised over a reference set of track vectors: z = (raw - mean)
/ std over the reference. The reference is the checkpoint's own (`reference.py`: clips stored
beside it), else the population being ranked (a library's tracks), else none (raw logits). The
text part (cosine of the query's text embedding) and the grounded score are standardised over the
same reference, so "sad" and "piano", and the heads and the embedding, weigh alike.

**A reading's score.** A term's score is the mean z of its concepts (OR), negated for a negated
term; the grounded score is the mean over terms of -softplus(1 - z): a soft AND, where a track
must do well on every term and one very high term cannot make up for a missing one.

**The blend.** score = w * grounded + (1 - w) * text, with w = BLEND_SHARE when the reading
covers any of the query's words, else 0: a query the heads can read ranks mostly by them, with
the text embedding of the whole query as the rest; free text ("rainy night") by the embedding
alone.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from muser_model.core.concepts import AXES, BY_NAME, GENRE_CLEAR_MIN, GENRE_FAMILIES, REGGAE_HEAD_MIN
from muser_model.core.reading import Reading
from muser_model.core.scoring import Scorer, head_logits, sigmoid

BLEND_SHARE = 0.9  # the heads' share of a query they can read (chosen on the dev queries: docs/MODEL_CARD.md)
AND_MARGIN = 1.0  # z at which a term stops costing in the soft AND
LABEL_TEMPERATURE = 2.0  # softmax over --labels scores (z units)
NO_CLEAR_GENRE = "no clear genre"
_EPS = 1e-4


@dataclass
class GenreCall:
    """The headline genre of one track: a family, or NO_CLEAR_GENRE, with the candidates."""

    label: str
    score: float  # the family's evidence (largest tag probability), of the best family when unclear
    clear: bool
    candidates: list[tuple[str, float]] = field(default_factory=list)  # best first


def blend_weight(coverage: float) -> float:
    """The heads' share of a query: BLEND_SHARE as soon as they read any of it, else 0 (the
    text embedding alone). Weighing by the share of words read did worse on the dev queries:
    the words the table lacks are mostly filler ("for a cafe"), not a second meaning."""
    return BLEND_SHARE if coverage > 0 else 0.0


def soft_and(term_z: np.ndarray) -> np.ndarray:
    """(T, N) term scores -> (N,) mean of -softplus(AND_MARGIN - z)."""
    x = AND_MARGIN - term_z
    return -(np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).mean(0)


class Grounder:
    """Calibrated scores of outputs, concepts, readings, genres and axes over track vectors."""

    def __init__(self, scorer: Scorer, reference: np.ndarray | None = None, source: str = "none") -> None:
        self.scorer = scorer
        self.reference = None if reference is None or not len(reference) else np.asarray(reference, np.float32)
        self.source = source if self.reference is not None else ""
        self._columns = self._tag_columns()
        self._ref_stats: dict[str, tuple[float, float]] = {}
        self._reference_cache: dict = {}  # raw outputs of the reference, computed once

    def with_population(self, vectors: np.ndarray, source: str) -> "Grounder":
        """This grounder, or one calibrated on `vectors` when it has no reference of its own."""
        if self.reference is not None or len(vectors) < 2:
            return self
        return Grounder(self.scorer, vectors, source)

    # -- raw outputs ---------------------------------------------------------------------------
    def _tag_columns(self) -> dict[str, tuple[str, int]]:
        """Tag id ("msd:sad") -> (tag kind, column) for every tag kind with a trained head."""
        assets = self.scorer.assets
        columns = {}
        for kind, vocab in assets.tag_kinds.items():
            if self.scorer.has_head(kind):
                columns.update({t.id: (kind, i) for i, t in enumerate(vocab.tags)})
        return columns

    def knows(self, output: str) -> bool:
        """Whether this checkpoint can score `output` (a tag id, "genre:F" or "axis:A")."""
        kind, _, rest = output.rstrip("-").partition(":")
        if kind == "genre":
            return any(self.knows(t) for t in GENRE_FAMILIES[rest] if not t.startswith("gtzan:")) \
                or (rest == "reggae" and self.scorer.has_head("genres"))
        if kind == "axis":
            return any(self.knows(t) for side in AXES[rest] for t in side)
        if kind == "gtzan":
            return self.scorer.has_head("genres") and rest in self.scorer.genres
        return output in self._columns

    def has_families(self) -> bool:
        """Whether this checkpoint's heads can name the genre families (and so the energy and
        valence axes): it has MTT-50 or MSD-50 heads."""
        return self.knows("genre:rock")

    def raw(self, vectors: np.ndarray, output: str, cache: dict | None = None) -> np.ndarray:
        """(N, E) -> (N,) the output before calibration: a tag's logit, a genre family's evidence
        as a logit, an axis's calibrated difference."""
        cache = {} if cache is None else cache
        key = (id(vectors), output)
        if key not in cache:
            kind, _, rest = output.partition(":")
            if kind == "genre":
                evidence = self.family_evidence(vectors, cache)[:, list(GENRE_FAMILIES).index(rest)]
                value = np.log(np.clip(evidence, _EPS, 1 - _EPS) / np.clip(1 - evidence, _EPS, 1))
            elif kind == "axis":
                value = self._axis_raw(vectors, rest, cache)
            else:
                value = self._logits(vectors, self._columns[output][0], cache)[:, self._columns[output][1]]
            cache[key] = np.asarray(value, np.float32)
        return cache[key]

    def _logits(self, vectors: np.ndarray, kind: str, cache: dict) -> np.ndarray:
        key = (id(vectors), "logits", kind)
        if key not in cache:
            cache[key] = head_logits(self.scorer.assets.heads, kind, vectors)  # (N, L)
        return cache[key]

    def _axis_raw(self, vectors: np.ndarray, axis: str, cache: dict) -> np.ndarray:
        positive, negative = AXES[axis]
        pos = [self.z(vectors, t, cache) for t in positive if self.knows(t)]
        neg = [self.z(vectors, t, cache) for t in negative if self.knows(t)]
        zero = np.zeros(len(vectors), np.float32)
        return (np.mean(pos, 0) if pos else zero) - (np.mean(neg, 0) if neg else zero)

    # -- calibration ---------------------------------------------------------------------------
    def _stats(self, output: str) -> tuple[float, float]:
        """(mean, std) of an output over the reference; (0, 1) without one."""
        if self.reference is None:
            return 0.0, 1.0
        if output not in self._ref_stats:
            values = self.raw(self.reference, output, self._reference_cache)
            self._ref_stats[output] = (float(values.mean()), float(max(values.std(), 1e-3)))
        return self._ref_stats[output]

    def z(self, vectors: np.ndarray, output: str, cache: dict | None = None) -> np.ndarray:
        """(N,) calibrated score of an output; a trailing "-" negates it ("axis:energy-")."""
        cache = {} if cache is None else cache
        sign = -1.0 if output.endswith("-") else 1.0
        output = output.rstrip("-")
        mean, std = self._stats(output)
        return sign * (self.raw(vectors, output, cache) - mean) / std

    # -- concepts and readings -----------------------------------------------------------------
    def concept_z(self, vectors: np.ndarray, name: str, cache: dict | None = None) -> np.ndarray:
        """(N,) a concept's score: mean z of its outputs minus mean z of its negative outputs."""
        cache = {} if cache is None else cache
        concept = BY_NAME[name]
        pos = [self.z(vectors, o, cache) for o in concept.outputs if self.knows(o)]
        neg = [self.z(vectors, o, cache) for o in concept.negative if self.knows(o)]
        score = np.mean(pos, 0) if pos else np.zeros(len(vectors), np.float32)
        return score - np.mean(neg, 0) if neg else score

    def grounded_terms(self, reading: Reading) -> list:
        """The terms of `reading` that this checkpoint can score (every concept has an output)."""
        return [t for t in reading.terms
                if t.concepts and all(any(self.knows(o) for o in BY_NAME[c].outputs) for c in t.concepts)]

    def headed_kinds(self) -> list[str]:
        """The tag kinds with a trained head, in table order: the layout of stored logits."""
        return [kind for kind in self.scorer.assets.tag_kinds if self.scorer.has_head(kind)]

    def all_logits(self, vectors: np.ndarray) -> np.ndarray:
        """(N, L) every headed tag kind's logits side by side (what the library stores)."""
        return np.concatenate([head_logits(self.scorer.assets.heads, kind, vectors)
                               for kind in self.headed_kinds()], axis=1).astype(np.float32)

    def cache_with_logits(self, vectors: np.ndarray, logits: np.ndarray | None) -> dict:
        """A scoring cache for `vectors` holding their stored logits (`all_logits`' layout), so the
        heads need not run again; an empty cache when there are none."""
        cache: dict = {}
        if logits is None:
            return cache
        start = 0
        for kind in self.headed_kinds():
            width = len(self.scorer.assets.vocabulary(kind))
            cache[(id(vectors), "logits", kind)] = logits[:, start:start + width]
            start += width
        return cache

    def _reading_raw(self, vectors: np.ndarray, reading: Reading, cache: dict | None = None) -> np.ndarray:
        terms = self.grounded_terms(reading)
        if not terms:
            return np.zeros(len(vectors), np.float32)
        cache = {} if cache is None else cache  # each head runs once over the vectors
        term_z = np.stack([(-1.0 if t.negated else 1.0) * np.mean([self.concept_z(vectors, c, cache)
                                                                   for c in t.concepts], 0)
                           for t in terms])  # (T, N)
        return soft_and(term_z)

    def reading_z(self, vectors: np.ndarray, reading: Reading, cache: dict | None = None) -> np.ndarray:
        """(N,) the grounded score of a reading, standardised over the reference."""
        value = self._reading_raw(vectors, reading, cache)
        if self.reference is None:
            return value
        ref = self._reading_raw(self.reference, reading, self._reference_cache)
        return (value - ref.mean()) / max(float(ref.std()), 1e-3)

    def text_z(self, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
        """(N,) cosine to a text embedding `(E,)`, standardised over the reference."""
        cos = vectors @ query
        if self.reference is None:
            return cos
        ref = self.reference @ query
        return (cos - ref.mean()) / max(float(ref.std()), 1e-4)

    def blend(self, vectors: np.ndarray, reading: Reading, query: np.ndarray | None,
              cache: dict | None = None) -> "Blend":
        """Scores of `vectors` for a read text whose text embedding is `query` (`cache`: see
        `cache_with_logits`)."""
        covered = self.coverage(reading)
        weight = blend_weight(covered) if query is not None else 1.0
        grounded = self.reading_z(vectors, reading, cache) if covered > 0 else np.zeros(len(vectors), np.float32)
        text = self.text_z(vectors, query) if query is not None else np.zeros(len(vectors), np.float32)
        return Blend(weight * grounded + (1 - weight) * text, grounded, text, weight, self.source)

    def coverage(self, reading: Reading) -> float:
        """Share of the reading's content words that this checkpoint's heads can score."""
        if not reading.content_words:
            return 0.0
        scored = {id(t) for t in self.grounded_terms(reading)}
        covered = sum(1 for t in reading.terms if id(t) in scored)
        return covered / reading.content_words

    # -- genre families and axes ---------------------------------------------------------------
    def family_evidence(self, vectors: np.ndarray, cache: dict | None = None) -> np.ndarray:
        """(N, F) each genre family's evidence from the heads (`family_evidence`)."""
        cache = {} if cache is None else cache
        key = (id(vectors), "families")
        if key not in cache:
            cache[key] = family_evidence(lambda tag_id: self._probability(vectors, tag_id, cache), len(vectors))
        return cache[key]

    def _probability(self, vectors: np.ndarray, tag_id: str, cache: dict) -> np.ndarray | None:
        if tag_id.startswith("gtzan:"):
            return self._gtzan(vectors, tag_id.split(":", 1)[1])
        if tag_id not in self._columns:
            return None
        kind, col = self._columns[tag_id]
        return sigmoid(self._logits(vectors, kind, cache)[:, col])

    def _gtzan(self, vectors: np.ndarray, genre: str) -> np.ndarray:
        if not self.scorer.has_head("genres") or genre not in self.scorer.genres:
            return np.zeros(len(vectors), np.float32)
        p = self.scorer.head_scores(vectors, "genres")[:, self.scorer.genres.index(genre)]
        return np.where(p >= REGGAE_HEAD_MIN, p, 0.0).astype(np.float32)

    def genre_calls(self, vectors: np.ndarray, k: int = 3) -> list[GenreCall]:
        """(N, E) -> the headline genre of each track, NO_CLEAR_GENRE below GENRE_CLEAR_MIN."""
        evidence = self.family_evidence(vectors)
        names = list(GENRE_FAMILIES)
        calls = []
        for row in evidence:
            order = np.lexsort((np.arange(len(row)), -np.round(row, 4)))
            candidates = [(names[i], round(float(row[i]), 4)) for i in order[:k]]
            best, score = candidates[0]
            clear = score >= GENRE_CLEAR_MIN
            calls.append(GenreCall(best if clear else NO_CLEAR_GENRE, score, clear, candidates))
        return calls

    def axes(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """{"energy": (N,), "valence": (N,)} in (0, 1): the sigmoid of the calibrated axis, so 0.5
        is the reference's average."""
        cache: dict = {}
        return {axis: sigmoid(self.z(vectors, f"axis:{axis}", cache)).astype(np.float32)
                for axis in AXES if self.knows(f"axis:{axis}")}


def family_evidence(probability: Callable[[str], np.ndarray | None], n: int,
                    families: dict[str, tuple[str, ...]] = GENRE_FAMILIES) -> np.ndarray:
    """(N, F) each family's evidence: the largest probability among its tags, for N clips (0 where
    none has one); `probability(tag_id)` gives a tag's (N,) probabilities (the heads', or the
    teachers'), None for a tag it lacks. `families`: family -> tag ids (the user genre families, or
    training's GTZAN-10 mapping)."""
    out = np.zeros((n, len(families)), np.float32)
    for f, members in enumerate(families.values()):
        for tag_id in members:
            p = probability(tag_id)
            if p is not None:
                out[:, f] = np.maximum(out[:, f], p)
    return out


@dataclass
class Blend:
    score: np.ndarray  # (N,) what ranks
    grounded: np.ndarray  # (N,) the heads' part (calibrated)
    text: np.ndarray  # (N,) the embedding's part (calibrated cosine)
    weight: float  # the heads' share
    calibration: str = ""  # what the scores were standardised over ("" none: raw logits and cosines)
