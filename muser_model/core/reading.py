"""Read a text onto muser's concepts: "melancholic piano" -> sad + mellow (one term) and piano.

The one place where text meets the trained vocabularies (`core.concepts`): search queries,
`--labels` words and `tag:` filters are all read here, and the `Reading` says how.

1. The text is split into clauses at commas, "and", "but", "with" and "or" (negation ends there).
2. Within a clause the longest phrase of the concept table is matched first ("heavy metal" before
   "heavy"; "no vocals" before "no"); a word of `NEGATIONS` negates the next term of its clause
   ("no drums", "without strings", "not sad").
3. Words the table lacks are compared with every phrase of the table by the text tower's sentence
   embedding (MiniLM, unprojected): a span of up to three such words whose best phrase has a cosine
   of at least `SIMILARITY_MIN` reads as that phrase's concepts ("synthesizers", "bluesy").
   The phrases' embeddings are stored (`data/phrase_vectors.npz`), so a query embeds only its own
   unknown words.
4. What is left (not stop words) is free text: the blend ranks it by the contrastive embedding.

A phrase that belongs to several concepts ("melancholic": sad and mellow) reads as all of them,
equally weighted, and a track need only have one of them (OR); the terms of a reading must all hold
(AND), see `core.grounding`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from muser_model.core.concepts import CONCEPTS, NEGATIONS, STOPWORDS

SentenceEmbedder = Callable[[list[str]], np.ndarray]  # texts -> (N, D) unprojected sentence vectors

SIMILARITY_MIN = 0.8  # MiniLM cosine of an unknown span to a phrase for it to read as that phrase
MAX_PHRASE_WORDS = 4
PHRASE_VECTORS = Path(__file__).with_name("data") / "phrase_vectors.npz"
_CLAUSE_BREAKS = frozenset({",", ";", "and", "but", "with", "or", "plus", "/", "&&"})
_TOKEN = re.compile(r"r&b|[a-z0-9][a-z0-9&'.]*(?:-[a-z0-9&'.]+)*|'[0-9]0s|[,;/]")


@dataclass
class Term:
    """One span of the text, read onto one or more concepts (OR between them)."""

    text: str
    concepts: list[str]
    negated: bool = False
    method: str = "lexicon"  # or "similarity" (MiniLM nearest phrase)
    similarity: float = 1.0


@dataclass
class Reading:
    text: str
    terms: list[Term] = field(default_factory=list)
    free_words: list[str] = field(default_factory=list)  # content words no concept covers
    content_words: int = 0

    @property
    def coverage(self) -> float:
        """Share of the content words that the terms cover (0 for a text without content)."""
        covered = self.content_words - len(self.free_words)
        return covered / self.content_words if self.content_words else 0.0

    def to_json(self) -> dict:
        return {"text": self.text, "terms": [asdict(t) for t in self.terms],
                "free_words": list(self.free_words), "coverage": round(self.coverage, 4)}


@lru_cache(maxsize=1)
def phrase_table() -> dict[str, tuple[str, ...]]:
    """Phrase -> the concepts that list it, in table order."""
    table: dict[str, list[str]] = {}
    for concept in CONCEPTS:
        for phrase in concept.phrases:
            table.setdefault(normalise(phrase), []).append(concept.name)
    return {phrase: tuple(dict.fromkeys(names)) for phrase, names in table.items()}


def normalise(text: str) -> str:
    return " ".join(tokens(text))


def tokens(text: str) -> list[str]:
    """Lower-case words ("r&b", "hip-hop", "'80s", "80's" kept whole) and clause marks (, ; /)."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return [t.rstrip(".'") if not t.endswith("'s") and not t.startswith("'") else t
            for t in _TOKEN.findall(text)]


def _lookup(words: list[str]) -> tuple[str, ...] | None:
    """The concepts of the phrase `words`, also in its singular form ("guitars", "drums")."""
    table = phrase_table()
    phrase = " ".join(words)
    if phrase in table:
        return table[phrase]
    if phrase.endswith("s") and phrase[:-1] in table and len(phrase) > 3:
        return table[phrase[:-1]]
    return None


class Reader:
    """Text -> Reading. `embed` gives unprojected sentence vectors for the similarity fallback (none:
    lexicon only); `phrase_vectors` (phrases, (P, D)) are the stored embeddings of the table."""

    def __init__(self, embed: SentenceEmbedder | None = None,
                 phrase_vectors: tuple[list[str], np.ndarray] | None = None) -> None:
        self.embed = embed
        self._phrase_vectors = phrase_vectors  # as given; None: the stored ones
        self._table: tuple[list[str], np.ndarray] | None = None  # the table's phrases and vectors

    def read(self, text: str) -> Reading:
        reading = Reading(text)
        clause: list[str] = []
        for token in [*tokens(text), ","]:
            if token in _CLAUSE_BREAKS:
                self._read_clause(clause, reading)
                clause = []
            else:
                clause.append(token)
        self._resolve_unknown(reading)
        return reading

    def _read_clause(self, words: list[str], reading: Reading) -> None:
        negate, i = False, 0
        while i < len(words):
            match = self._longest_match(words, i)
            if match is not None:
                n, concepts = match
                reading.terms.append(Term(" ".join(words[i:i + n]), list(concepts), negate))
                reading.content_words += 1
                negate, i = False, i + n
                continue
            word = words[i]
            if word in NEGATIONS:
                negate = True
            elif word not in STOPWORDS:
                reading.content_words += 1
                reading.free_words.append(word)
                reading.terms.append(Term(word, [], negate, method="unknown"))
                negate = False
            i += 1

    @staticmethod
    def _longest_match(words: list[str], i: int) -> tuple[int, tuple[str, ...]] | None:
        for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
            concepts = _lookup(words[i:i + n])
            if concepts is not None:
                return n, concepts
        return None

    # -- the similarity fallback -----------------------------------------------------------------
    def _resolve_unknown(self, reading: Reading) -> None:
        """Unknown single words -> the concepts of their nearest phrase, where near enough;
        the rest stay free words (and leave the terms)."""
        unknown = [t for t in reading.terms if t.method == "unknown"]
        if unknown and self.embed is not None:
            phrases, table_vectors = self.phrase_vectors()
            vectors = _unit(np.asarray(self.embed([t.text for t in unknown]), dtype=np.float32))
            sims = vectors @ table_vectors.T  # (U, P)
            for term, row in zip(unknown, sims):
                best = int(np.argmax(row))
                if row[best] >= SIMILARITY_MIN:
                    term.concepts = list(phrase_table()[phrases[best]])
                    term.method, term.similarity = "similarity", round(float(row[best]), 4)
                    reading.free_words.remove(term.text)
        reading.terms = [t for t in reading.terms if t.concepts]

    def phrase_vectors(self) -> tuple[list[str], np.ndarray]:
        """(phrases, (P, D) unit vectors) of the whole table, in table order: the stored ones, any
        phrase the store lacks embedded now; worked out once per reader."""
        if self._table is None:
            stored, vectors = self._phrase_vectors or stored_phrase_vectors()
            index = {p: i for i, p in enumerate(stored)}
            wanted = list(phrase_table())
            missing = [p for p in wanted if p not in index]
            if missing and self.embed is not None:
                index.update({p: len(stored) + i for i, p in enumerate(missing)})
                extra = _unit(np.asarray(self.embed(missing), dtype=np.float32))
                vectors = np.concatenate([vectors, extra]) if len(stored) else extra
            keep = [p for p in wanted if p in index]
            self._table = (keep, vectors[[index[p] for p in keep]])
        return self._table


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def stored_phrase_vectors(path: Path = PHRASE_VECTORS) -> tuple[list[str], np.ndarray]:
    """The committed phrase embeddings; empty when the file is missing."""
    if not path.exists():
        return [], np.zeros((0, 384), np.float32)
    with np.load(path) as data:
        return [str(p) for p in data["phrases"]], _unit(data["vectors"].astype(np.float32))


def write_phrase_vectors(embed: SentenceEmbedder, path: Path = PHRASE_VECTORS) -> int:
    """Embed every phrase of the table and store them (float16), atomically; returns the count."""
    phrases = list(phrase_table())
    vectors = _unit(np.asarray(embed(phrases), dtype=np.float32)).astype(np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, phrases=np.array(phrases), vectors=vectors)
    tmp.replace(path)
    return len(phrases)

