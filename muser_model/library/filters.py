"""Which tracks a query selects, as SQL over the catalogue (as beets' dbcore query layer):
`Filters` and the conditions it builds on `tracks` and `track_tags`."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from muser_model.core.concepts import tag_ids
from muser_model.core.reading import Reader
from muser_model.core.vocab_groups import VOCABULARIES
from muser_model.library.predict import OTHER_TAG_MIN_PROBABILITY, tag_min_probability

TEXT_FIELDS = ("artist", "album", "genre", "title")

SORT_KEYS = {  # `muser list --sort`: SQL order, path breaking ties
    "path": "path", "title": "title COLLATE NOCASE", "artist": "artist COLLATE NOCASE",
    "duration": "duration", "added": "added", "predicted-genre": "predicted_genre",
    "energy": "energy", "valence": "valence",
}
AXES = ("energy", "valence")  # 0..1 predictions that filter by range: energy:>0.6, valence:0.2..0.5
_WORD_COLUMNS = ("title", "artist", "album", "path")


def like_pattern(value: str) -> str:
    """A SQL LIKE pattern (ESCAPE '\\') matching `value` anywhere, its wildcards taken literally."""
    return "%" + re.sub(r"([%_\\])", r"\\\1", value) + "%"


def _tag_matches(tag: str) -> list[tuple[str, list[str], bool]]:
    """(SQL condition on `track_tags`, its parameters, negated) for each part of `--tag TAG`, all
    of which must hold: an id ("msd:rock", "mtt:rock") names one vocabulary's tag; a plain label
    ("rock", "heavy metal") matches it in every vocabulary; other words are read as search reads
    them (core.reading, its phrase table): each term matches any stored tag of its concepts
    ("melancholic": sad or mellow), a negated one ("no drums") excludes them."""
    vocab, sep, label = tag.partition(":")
    vocab = vocab.lower()  # "MSD:90S" as "msd:90s": tags match in any case
    if sep and vocab in VOCABULARIES:
        return [("vocab = ? AND tag = ? COLLATE NOCASE", [vocab, label], False)]
    if _is_label(tag):
        return [("tag = ? COLLATE NOCASE", [tag], False)]
    matches = []
    for term in Reader().read(tag).terms:
        ids = [i.split(":", 1) for i in tag_ids(term.concepts)]
        if ids:
            condition = " OR ".join("(vocab = ? AND tag = ? COLLATE NOCASE)" for _ in ids)
            matches.append((f"({condition})", [x for pair in ids for x in pair], term.negated))
    return matches or [("tag = ? COLLATE NOCASE", [tag], False)]


def _is_label(tag: str) -> bool:
    wanted = " ".join(tag.lower().split())
    return any(wanted == label.lower() for v in VOCABULARIES.values() for label in v.labels)


def _score_floor() -> tuple[str, list]:
    """(SQL expression, its parameters): the tag_min_probability of each stored tag's vocabulary."""
    whens = " ".join("WHEN ? THEN ?" for _ in VOCABULARIES)
    params: list = [x for v in VOCABULARIES for x in (v, tag_min_probability(v))]
    return f"(CASE vocab {whens} ELSE ? END)", [*params, OTHER_TAG_MIN_PROBABILITY]


def all_of(parts: list[str]) -> str:
    """`parts` joined by AND as a balanced tree: SQLite refuses an expression more than 1000
    deep, and a plain chain of a thousand words (`muser list` with 999 words) is that deep."""
    if not parts:
        return "1"
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return f"({all_of(parts[:middle])} AND {all_of(parts[middle:])})"


@dataclass
class Filters:
    """Which tracks a query may return. File tags match as case-insensitive substrings; muser's
    own predictions (`predicted_genre`, `tags`) match whole labels, case-insensitively."""

    artist: str = ""
    album: str = ""
    genre: str = ""  # the file's genre tag
    title: str = ""
    year_min: int | None = None
    year_max: int | None = None
    predicted_genre: str = ""  # muser's predicted genre
    tags: list[str] = field(default_factory=list)  # predicted tags, every one required
    # axis -> (low, high), either end open (None): energy:>0.6 is {"energy": (0.6, None)}
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)  # `muser list`: each in title, artist, album or path

    def active(self) -> bool:
        return (any(getattr(self, f) for f in TEXT_FIELDS) or self.year_min is not None
                or self.year_max is not None or bool(self.predicted_genre or self.tags or self.words)
                or bool(self.ranges))

    def where(self) -> tuple[str, list]:
        """SQL condition on `tracks` and its parameters."""
        parts, params = [], []
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            if value:
                parts.append(f"{name} LIKE ? ESCAPE '\\'")
                params.append(like_pattern(value))
        if self.year_min is not None:
            parts.append("year >= ?")
            params.append(self.year_min)
        if self.year_max is not None:
            parts.append("year <= ?")
            params.append(self.year_max)
        if self.predicted_genre:
            parts.append("predicted_genre = ? COLLATE NOCASE")
            params.append(self.predicted_genre)
        for tag in dict.fromkeys(self.tags):
            for condition, values, negated in _tag_matches(tag):
                floor, floor_params = _score_floor()
                parts.append(f"id {'NOT IN' if negated else 'IN'} (SELECT track_id FROM track_tags WHERE "
                             f"{condition} AND (kind != 'probability' OR score >= {floor}))")
                params += [*values, *floor_params]
        for axis, (low, high) in self.ranges.items():
            if axis not in AXES:
                raise ValueError(f"unknown range field {axis!r}")
            if low is not None:
                parts.append(f"{axis} >= ?")
                params.append(low)
            if high is not None:
                parts.append(f"{axis} <= ?")
                params.append(high)
        for word in dict.fromkeys(self.words):  # a repeated word selects nothing more
            parts.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in _WORD_COLUMNS) + ")")
            params += [like_pattern(word)] * len(_WORD_COLUMNS)
        return all_of(parts), params
