"""What the teacher ensembles' probabilities become in training: captions and genre evidence.

Every clip that `muser_train.teachers.score_manifest` scored carries `Example.teacher`
({"mtt": (50,), "msd": (50,)} probabilities). Two things are derived from it here, torch-free:

- **Captions** (`teacher_captions`): tag sets sampled from the probabilities (a tag is drawn with
  a chance that grows with its probability, relative to the clip's strongest tag), written in
  varied wording: the paper's template ("the music is characterized by heavy metal, loud,
  guitar"), bare tag lists, and short sentences that put a genre, a mood or an era in front
  ("a sad, mellow ambient track", "80s rock music with guitar"). Tag-only texts alone fail on
  sentence queries and sentence-only texts fail on rare tags, so both kinds are made.
- **Genre evidence** (`genre_evidence`): the GTZAN-10 genres as the teachers see them, the largest
  probability among the tags mapped to each genre (`GENRE_EVIDENCE`). The MSD-50 vocabulary has no
  "classical", "disco" or "reggae": classical comes from the MTT tags, disco from MSD "dance" and
  "funk" (weak: neither is disco), and reggae from nothing (the teachers have no reggae tag; the
  only reggae-like source is MMA's ska groove).
"""
from __future__ import annotations

import random

import numpy as np

from muser_model.core.grounding import family_evidence
from muser_model.core.vocab import GTZAN_GENRES
from muser_model.core.vocab_groups import VOCABULARIES
from muser_train.corpus.common import join_words, with_article

# GTZAN genre -> the teacher tags whose probability is evidence for it (ids "<vocab>:<label>").
GENRE_EVIDENCE: dict[str, tuple[str, ...]] = {
    "blues": ("msd:blues",),
    "classical": ("mtt:classical", "mtt:classic"),
    "country": ("msd:country", "mtt:country"),
    "disco": ("msd:dance", "msd:funk"),
    "hiphop": ("msd:Hip-Hop", "msd:rnb"),
    "jazz": ("msd:jazz",),
    "metal": ("msd:metal", "msd:heavy metal", "mtt:metal"),
    "pop": ("msd:pop", "mtt:pop", "msd:indie pop"),
    "reggae": (),
    "rock": ("msd:rock", "msd:classic rock", "msd:hard rock", "msd:alternative rock",
             "msd:indie rock", "msd:punk", "msd:Progressive rock", "mtt:rock"),
}
# Below this largest evidence a clip says nothing about its GTZAN genre (most game music).
GENRE_EVIDENCE_MIN = 0.3

# Labels written differently in text than in the vocabulary.
_SPOKEN = {"Hip-Hop": "hip hop", "rnb": "r&b", "House": "house", "Mellow": "mellow",
           "00s": "2000s", "no vocal": "no vocals", "no voice": "no vocals", "classic": "classical"}
# Tags that are no use as caption words.
_SILENT = {"mtt:female vocal", "mtt:man", "mtt:woman", "msd:female vocalist", "mtt:beats"}


def spoken(label: str) -> str:
    return _SPOKEN.get(label, label).lower()


def genre_evidence(teacher: dict[str, np.ndarray], genres=GTZAN_GENRES) -> np.ndarray:
    """(G,) largest teacher probability among each genre's mapped tags (0 for none): the rule the
    user genre families use too (core.grounding.family_evidence)."""
    def probability(tag_id: str) -> np.ndarray | None:
        vocab, label = tag_id.split(":", 1)
        return teacher[vocab][[VOCABULARIES[vocab].labels.index(label)]] if vocab in teacher else None

    mapping = {genre: GENRE_EVIDENCE.get(genre, ()) for genre in genres}
    return family_evidence(probability, 1, mapping)[0]


def genre_target(teacher: dict[str, np.ndarray], genres=GTZAN_GENRES) -> tuple[np.ndarray, float]:
    """((G,) soft genre distribution, weight): the evidence normalised to sum 1, weighted by the
    largest evidence; weight 0 (and a uniform vector) below GENRE_EVIDENCE_MIN."""
    ev = genre_evidence(teacher, genres)
    top = float(ev.max()) if len(ev) else 0.0
    if top < GENRE_EVIDENCE_MIN:
        return np.full(len(genres), 1.0 / max(1, len(genres)), np.float32), 0.0
    return (ev / ev.sum()).astype(np.float32), top


def _ranked_words(teacher: dict[str, np.ndarray]) -> list[tuple[str, str, float]]:
    """[(word, group, probability)] best first, one entry per spoken word (the better one kept)."""
    best: dict[str, tuple[str, float]] = {}
    for vocab, probs in teacher.items():
        for t in VOCABULARIES[vocab].tags:
            if t.id in _SILENT:
                continue
            word, p = spoken(t.label), float(probs[t.index])
            if p > best.get(word, ("", -1.0))[1]:
                best[word] = (t.group, p)
    return sorted(((w, g, p) for w, (g, p) in best.items()), key=lambda x: -x[2])


def sample_tags(teacher: dict[str, np.ndarray], rng: random.Random, k_max: int = 4,
                pool: int = 10) -> list[tuple[str, str]]:
    """[(word, group)] for 1..k_max tags drawn from the clip's `pool` best: a tag is kept with
    chance (p / p_top) ** 0.5, at least the best one, in rank order."""
    ranked = _ranked_words(teacher)[:pool]
    if not ranked:
        return []
    top = max(ranked[0][2], 1e-6)
    kept = [(w, g) for w, g, p in ranked if rng.random() < (p / top) ** 0.5][:k_max]
    return kept or [(ranked[0][0], ranked[0][1])]


def teacher_captions(teacher: dict[str, np.ndarray], rng: random.Random, n: int = 4) -> list[str]:
    """`n` captions from sampled tag sets, in rotating wording (template, list, sentences)."""
    out: list[str] = []
    for i in range(n):
        tags = sample_tags(teacher, rng)
        if not tags:
            break
        out.append(_phrase(tags, i, rng))
    return list(dict.fromkeys(out))


def _phrase(tags: list[tuple[str, str]], style: int, rng: random.Random) -> str:
    """One caption: 0 the paper's template, 1 a bare list, 2 and 3 a sentence with the genre as its
    noun, era and mood words in front, instruments, vocals and the rest after."""
    words = [w for w, _ in tags]
    if style % 4 == 0:
        return "the music is characterized by " + ", ".join(words)
    if style % 4 == 1:
        return ", ".join(words)
    genres = [w for w, g in tags if g == "genre"]
    front = [w for w, g in tags if g in ("era", "mood")]
    rest = [w for w, g in tags if g not in ("genre", "era", "mood")]
    nouns = ["track", "song", "piece"] if style % 4 == 2 else ["music", "track"]
    noun = f"{genres[0]} {rng.choice(nouns)}" if genres else "music"
    head = " ".join([", ".join(front), noun]) if front else noun
    if style % 4 == 2:
        return with_article(head) + (f" with {join_words(rest)}" if rest else "")
    return head + (", " + ", ".join(rest) if rest else "")
