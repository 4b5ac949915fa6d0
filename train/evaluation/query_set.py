"""The dev query set for text search on real music, graded by the teacher ensembles.

    python -m muser_train.evaluation.query_set --label-sets   # rewrite data/label_sets.json

data/search_queries.json holds natural-language queries written the way users type them
("melancholic piano", "music without vocals", "boss fight"), not in the tags' own words, mixing
moods, instruments, genres, eras, negation and several concepts per query. Each query carries a
relevance spec over the teachers' tag ids (muser_model.core.vocab_groups, "mtt:piano",
"msd:sad"), written by hand from the query's meaning:

- `all`: groups of tag ids that must each hold; a group's score is the max teacher probability
  of its tags (any of the words will do: "mtt:female" or "msd:female vocalists");
- `none`: tags that must be absent; their score is 1 - the max probability among them.

A clip's gain for a query is the product of these scores (a soft AND) in [0, 1]; a search's
ranking is scored by NDCG@10 over those gains (`ndcg_at_k`). Queries of kind "free" name
scenes the vocabularies lack ("space battle", "peaceful village") and are graded by what the
teachers can hear of them (loud, fast, flute, soft ...), each with a `note` saying how.

The set was written from the vocabularies and the queries alone, independently of (and without
reading) muser's own code that maps query words onto the tag vocabularies, so it can measure
that code rather than mirror it. The clips it is meant for are the corpus v3 test split
(bench/heldout_clips.py rebuilds their audio), whose committed teacher probabilities are
train/corpus/data/v3_teacher_scores.npz.

data/label_sets.json: clear-cut clip sets for open-label tagging (`acoustic` vs `electronic`,
`calm` vs `energetic`) among the test clips, derived from the same teacher probabilities by the
rule written in the file (`derive_label_sets`).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from muser_model.core import vocab_groups
from muser_model.core.errors import VocabularyError

DATA = Path(__file__).resolve().parent / "data"
QUERIES = DATA / "search_queries.json"
LABEL_SETS = DATA / "label_sets.json"
CORPUS_DATA = Path(__file__).resolve().parents[1] / "corpus" / "data"
TEACHER_SCORES = CORPUS_DATA / "v3_teacher_scores.npz"
MANIFEST = CORPUS_DATA / "v3_manifest.csv"
KINDS = ("vocab", "free")


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    kind: str                          # "vocab" or "free"
    all: tuple[tuple[str, ...], ...]   # groups of tag ids; each group must hold
    none: tuple[str, ...]              # tag ids that must be absent
    note: str = ""

    def tag_ids(self) -> set[str]:
        return {t for g in self.all for t in g} | set(self.none)


def _query(raw: dict, where: str) -> Query:
    try:
        q = Query(id=str(raw["id"]), text=str(raw["text"]), kind=str(raw["kind"]),
                  all=tuple(tuple(str(t) for t in g) for g in raw["all"]),
                  none=tuple(str(t) for t in raw.get("none", ())), note=str(raw.get("note", "")))
    except (KeyError, TypeError) as e:
        raise VocabularyError(f"{where}: a query lacks or misshapes a field ({e})") from None
    if q.kind not in KINDS:
        raise VocabularyError(f"{where}: query {q.id!r} has kind {q.kind!r} (known: {', '.join(KINDS)})")
    if not q.all or any(not g for g in q.all):
        raise VocabularyError(f"{where}: query {q.id!r} needs at least one non-empty `all` group")
    for t in sorted(q.tag_ids()):
        try:
            vocab_groups.tag(t)
        except VocabularyError as e:
            raise VocabularyError(f"{where}: query {q.id!r}: {e}") from None
    return q


def load_queries(path: Path = QUERIES) -> list[Query]:
    """The queries of PATH, each checked (known kind, tag ids of the vocabularies, unique ids).
    Raises VocabularyError naming the file and the query."""
    try:
        raw = json.loads(Path(path).read_text())["queries"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise VocabularyError(f"{path}: not a query set ({e})") from None
    queries = [_query(r, str(path)) for r in raw]
    seen: set[str] = set()
    for q in queries:
        if q.id in seen:
            raise VocabularyError(f"{path}: query id {q.id!r} appears twice")
        seen.add(q.id)
    return queries


def grade(query: Query, teacher: Mapping[str, float]) -> float:
    """One clip's gain for QUERY in [0, 1] from its teacher probabilities by tag id."""
    score = 1.0
    for group in query.all:
        score *= max(float(teacher[t]) for t in group)
    if query.none:
        score *= 1.0 - max(float(teacher[t]) for t in query.none)
    return min(1.0, max(0.0, score))


class TeacherScores:
    """Teacher probabilities of many clips, a column per tag id (v3_teacher_scores.npz layout:
    ids, mtt (N, 50), msd (N, 50), mtt_labels, msd_labels)."""

    def __init__(self, ids: Sequence[str], columns: Mapping[str, np.ndarray]) -> None:
        self.ids = np.asarray(ids)
        self.columns = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}

    @classmethod
    def load(cls, path: Path = TEACHER_SCORES) -> "TeacherScores":
        with np.load(path, allow_pickle=False) as z:
            cols = {f"{v}:{label}": z[v][:, i] for v in ("mtt", "msd")
                    for i, label in enumerate(z[f"{v}_labels"])}
            return cls(z["ids"], cols)

    def subset(self, ids: Iterable[str]) -> "TeacherScores":
        """The rows of IDS, in that order (KeyError naming an id the scores lack)."""
        row = {str(i): k for k, i in enumerate(self.ids)}
        idx = np.array([row[i] for i in ids], dtype=int)
        return TeacherScores(self.ids[idx], {k: v[idx] for k, v in self.columns.items()})

    def clip(self, k: int) -> dict[str, float]:
        return {t: float(v[k]) for t, v in self.columns.items()}

    def max_of(self, tag_ids: Iterable[str]) -> np.ndarray:
        return np.max(np.stack([self.columns[t] for t in tag_ids]), axis=0)


def gains(query: Query, scores: TeacherScores) -> np.ndarray:
    """`grade` of every clip of SCORES at once. (N,)"""
    g = np.ones(len(scores.ids))
    for group in query.all:
        g *= scores.max_of(group)
    if query.none:
        g *= 1.0 - scores.max_of(query.none)
    return np.clip(g, 0.0, 1.0)


def ndcg_at_k(ranked_gains: Sequence[float], all_gains: Sequence[float], k: int = 10) -> float:
    """NDCG@K of a ranking: DCG of RANKED_GAINS (the gains of the results, best first) over the
    DCG of the best possible top K of ALL_GAINS (every candidate's gain). Gains are used as
    given (no 2^g - 1). NaN when no candidate has any gain (the query cannot be scored)."""
    def dcg(g: Sequence[float]) -> float:
        return sum(float(x) / math.log2(i + 2) for i, x in enumerate(list(g)[:k]))
    ideal = dcg(sorted(all_gains, reverse=True))
    return dcg(ranked_gains) / ideal if ideal > 0 else float("nan")


# ----------------------------------------------------------------------------------------------
# clear-cut clip sets for open labels
# ----------------------------------------------------------------------------------------------
LABEL_RULES = {
    "electronic_vs_acoustic": {
        "electronic": ["msd:electronic", "msd:electronica", "msd:electro", "mtt:electronic",
                       "mtt:techno", "mtt:synth"],
        "acoustic": ["msd:acoustic", "mtt:guitar", "msd:guitar", "mtt:piano", "mtt:strings",
                     "mtt:violin", "mtt:classical"],
    },
    "calm_vs_energetic": {
        "calm": ["mtt:quiet", "mtt:soft", "mtt:slow", "msd:chill", "msd:Mellow", "msd:chillout",
                 "mtt:ambient"],
        "energetic": ["mtt:loud", "mtt:fast", "mtt:drums", "mtt:beat", "msd:party", "msd:dance",
                      "mtt:metal"],
    },
}
MIN_SIDE = 0.25    # the winning side's max probability (teachers' top tags run 0.2-0.5)
MIN_MARGIN = 0.2   # over the other side's max probability


def derive_label_sets(scores: TeacherScores, min_side: float = MIN_SIDE,
                      min_margin: float = MIN_MARGIN) -> dict:
    """For each pair of LABEL_RULES, the clips clearly on one side: that side's max probability
    >= MIN_SIDE and >= the other side's + MIN_MARGIN. Clips in between are left out."""
    out = {"rule": (f"side score = max teacher probability of the side's tag ids; a clip is in a "
                    f"side's set when its score >= {min_side} and exceeds the other side's by "
                    f">= {min_margin}; other clips are in neither set"),
           "teacher_scores": str(TEACHER_SCORES.relative_to(CORPUS_DATA.parents[1])),
           "pairs": {}}
    for pair, sides in LABEL_RULES.items():
        (a, tags_a), (b, tags_b) = sides.items()
        sa, sb = scores.max_of(tags_a), scores.max_of(tags_b)
        pick = {a: (sa >= min_side) & (sa - sb >= min_margin),
                b: (sb >= min_side) & (sb - sa >= min_margin)}
        out["pairs"][pair] = {side: {"tags": sides[side],
                                     "ids": sorted(str(i) for i in scores.ids[pick[side]])}
                              for side in (a, b)}
    return out


def test_ids(manifest: Path = MANIFEST) -> list[str]:
    with open(manifest, newline="") as f:
        return [r["id"] for r in csv.DictReader(f) if r["split"] == "test"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check the query set; rewrite the label sets.")
    ap.add_argument("--label-sets", action="store_true", help=f"rewrite {LABEL_SETS.name}")
    args = ap.parse_args(argv)
    queries = load_queries()
    scores = TeacherScores.load().subset(test_ids())
    for q in queries:   # how much relevance each query finds among the test clips
        g = gains(q, scores)
        print(f"{q.id}\t{q.kind}\tmax {g.max():.3f}\tmean {g.mean():.4f}")
    if args.label_sets:
        sets = derive_label_sets(scores)
        LABEL_SETS.write_text(json.dumps(sets, indent=1) + "\n")
        for pair, sides in sets["pairs"].items():
            print(pair, {s: len(v["ids"]) for s, v in sides.items()}, file=sys.stderr)
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
