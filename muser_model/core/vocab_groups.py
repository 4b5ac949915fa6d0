"""The teachers' tag vocabularies, MTT-50 and MSD-50, with the origin of each and a group per tag.

Torch-free and numpy-free. Tag ids are `<vocabulary>:<label>` with the label exactly as the
checkpoint writes it (case and spaces kept: "msd:Hip-Hop", "mtt:no vocals"), so an id maps back
to one output of one teacher. A label both vocabularies have ("rock", "metal", "guitar", ...)
stays two tags, "mtt:rock" and "msd:rock": they were learnt from different data (MagnaTagATune
clips tagged by players of a game vs Last.fm listeners' tags of whole songs) and their scores are
not calibrated alike, so they are never merged here; a consumer that wants one "rock" combines the
ids it chooses. Labels are in the checkpoints' output order (train/teacher/labels.json).

Groups (one per tag, the rule used to assign them):
  genre       a style or genre of music ("rock", "classical", "new age", "chillout", "House")
  mood        an affect, character or occasion ("sad", "weird", "Mellow", "party", "catchy")
  era         a decade or period ("80s", "00s", "oldies")
  instrument  an instrument or instrumentation ("guitar", "strings", "synth", "acoustic")
  vocals      the presence, absence, sex or kind of voice ("female", "no vocals", "choir",
              "instrumental", "male vocalists")
  other       tempo, dynamics, rhythm and form ("slow", "loud", "quiet", "soft", "beat", "solo")
"""
from __future__ import annotations

from dataclasses import dataclass

from muser_model.core.errors import VocabularyError

GROUPS: tuple[str, ...] = ("genre", "mood", "era", "instrument", "vocals", "other")


@dataclass(frozen=True)
class VocabTag:
    vocab: str   # "mtt" or "msd"
    index: int   # output index in the vocabulary's teachers
    label: str   # as the checkpoint writes it
    group: str   # one of GROUPS

    @property
    def id(self) -> str:
        return f"{self.vocab}:{self.label}"


@dataclass(frozen=True)
class Vocabulary:
    name: str                    # "mtt"
    origin: str                  # the dataset and the teachers it comes from
    tags: tuple[VocabTag, ...]   # in output order

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(t.label for t in self.tags)


_MTT = (
    ("guitar", "instrument"), ("classical", "genre"), ("slow", "other"), ("techno", "genre"),
    ("strings", "instrument"), ("drums", "instrument"), ("electronic", "genre"), ("rock", "genre"),
    ("fast", "other"), ("piano", "instrument"), ("ambient", "genre"), ("beat", "other"),
    ("violin", "instrument"), ("vocal", "vocals"), ("synth", "instrument"), ("female", "vocals"),
    ("indian", "genre"), ("opera", "genre"), ("male", "vocals"), ("singing", "vocals"),
    ("vocals", "vocals"), ("no vocals", "vocals"), ("harpsichord", "instrument"), ("loud", "other"),
    ("quiet", "other"), ("flute", "instrument"), ("woman", "vocals"), ("male vocal", "vocals"),
    ("no vocal", "vocals"), ("pop", "genre"), ("soft", "other"), ("sitar", "instrument"),
    ("solo", "other"), ("man", "vocals"), ("classic", "genre"), ("choir", "vocals"),
    ("voice", "vocals"), ("new age", "genre"), ("dance", "genre"), ("male voice", "vocals"),
    ("female vocal", "vocals"), ("beats", "other"), ("harp", "instrument"), ("cello", "instrument"),
    ("no voice", "vocals"), ("weird", "mood"), ("country", "genre"), ("metal", "genre"),
    ("female voice", "vocals"), ("choral", "vocals"),
)
_MSD = (
    ("rock", "genre"), ("pop", "genre"), ("alternative", "genre"), ("indie", "genre"),
    ("electronic", "genre"), ("female vocalists", "vocals"), ("dance", "genre"), ("00s", "era"),
    ("alternative rock", "genre"), ("jazz", "genre"), ("beautiful", "mood"), ("metal", "genre"),
    ("chillout", "genre"), ("male vocalists", "vocals"), ("classic rock", "genre"),
    ("soul", "genre"), ("indie rock", "genre"), ("Mellow", "mood"), ("electronica", "genre"),
    ("80s", "era"), ("folk", "genre"), ("90s", "era"), ("chill", "mood"),
    ("instrumental", "vocals"), ("punk", "genre"), ("oldies", "era"), ("blues", "genre"),
    ("hard rock", "genre"), ("ambient", "genre"), ("acoustic", "instrument"),
    ("experimental", "genre"), ("female vocalist", "vocals"), ("guitar", "instrument"),
    ("Hip-Hop", "genre"), ("70s", "era"), ("party", "mood"), ("country", "genre"),
    ("easy listening", "genre"), ("sexy", "mood"), ("catchy", "mood"), ("funk", "genre"),
    ("electro", "genre"), ("heavy metal", "genre"), ("Progressive rock", "genre"), ("60s", "era"),
    ("rnb", "genre"), ("indie pop", "genre"), ("sad", "mood"), ("House", "genre"),
    ("happy", "mood"),
)
_ORIGINS = {
    "mtt": "MagnaTagATune top-50 tags; teachers MTT_musicnn and MTT_vgg (musicnn 0.1.0)",
    "msd": ("Million Song Dataset Last.fm top-50 tags; teachers MSD_musicnn and MSD_vgg "
            "(musicnn 0.1.0)"),
}


def _vocabulary(name: str, origin: str, pairs) -> Vocabulary:
    tags = tuple(VocabTag(name, i, label, group) for i, (label, group) in enumerate(pairs))
    vocab = Vocabulary(name, origin, tags)
    _check(vocab)
    return vocab


def _check(vocab: Vocabulary) -> None:
    for t in vocab.tags:
        if t.group not in GROUPS:
            raise VocabularyError(f"{t.id}: unknown group {t.group!r} (known: {', '.join(GROUPS)})")
    if len(set(vocab.labels)) != len(vocab.labels):
        raise VocabularyError(f"{vocab.name}: a label appears twice")


VOCABULARIES: dict[str, Vocabulary] = {
    "mtt": _vocabulary("mtt", _ORIGINS["mtt"], _MTT),
    "msd": _vocabulary("msd", _ORIGINS["msd"], _MSD),
}
_BY_ID: dict[str, VocabTag] = {t.id: t for v in VOCABULARIES.values() for t in v.tags}


def tag(tag_id: str) -> VocabTag:
    """The tag of an id such as "msd:rock"; VocabularyError for an unknown id."""
    try:
        return _BY_ID[tag_id]
    except KeyError:
        raise VocabularyError(
            f"unknown tag id {tag_id!r} (ids look like 'mtt:rock' or 'msd:rock')") from None


def ids_in_group(group: str, vocab: str | None = None) -> list[str]:
    """Tag ids of one group, in vocabulary then output order (optionally of one vocabulary)."""
    if group not in GROUPS:
        raise VocabularyError(f"unknown group {group!r} (known: {', '.join(GROUPS)})")
    return [t.id for v in VOCABULARIES.values() if vocab in (None, v.name) for t in v.tags
            if t.group == group]


def to_dict(vocabularies: dict[str, Vocabulary] = VOCABULARIES) -> dict:
    """A JSON-able dict: {"groups": [...], "vocabularies": {name: {"origin", "tags": [{label,
    group}, ...]}}}, tags in output order."""
    return {
        "groups": list(GROUPS),
        "vocabularies": {
            v.name: {"origin": v.origin,
                     "tags": [{"label": t.label, "group": t.group} for t in v.tags]}
            for v in vocabularies.values()
        },
    }


def from_dict(data: dict) -> dict[str, Vocabulary]:
    """The inverse of to_dict; VocabularyError on a malformed table or an unknown group."""
    try:
        return {name: _vocabulary(name, str(v["origin"]),
                                  [(str(t["label"]), str(t["group"])) for t in v["tags"]])
                for name, v in data["vocabularies"].items()}
    except (KeyError, TypeError, AttributeError) as e:
        raise VocabularyError(f"malformed vocabulary table: missing or wrong {e}") from None


# -- the tag kinds of a checkpoint -------------------------------------------------------------
# A checkpoint scores "genres" and one tag kind per vocabulary: the MTT vocabulary is the kind
# "tags" (head `tags.*`, label embeddings "tags"), every other vocabulary is the kind named by the
# vocabulary ("msd": head `msd.*`, label embeddings "msd").
MAIN_KIND, MAIN_VOCAB = "tags", "mtt"
RESERVED_NAMES = ("tags", "genres", "labels")  # kinds of their own: no vocabulary may be named so
OWN_TAGS_ORIGIN = "the checkpoint's own tag list (no vocabulary table)"


def vocab_name(kind: str) -> str:
    """The vocabulary of a tag kind: "tags" -> "mtt", "msd" -> "msd"."""
    return MAIN_VOCAB if kind == MAIN_KIND else kind


def main_vocabulary(tags: list[str] | tuple[str, ...]) -> Vocabulary:
    """The MTT vocabulary of a checkpoint without a table: the MTT-50 groups when its tags are
    the MTT-50 list, else every tag in group "other"."""
    if tuple(tags) == VOCABULARIES[MAIN_VOCAB].labels:
        return VOCABULARIES[MAIN_VOCAB]
    return _vocabulary(MAIN_VOCAB, OWN_TAGS_ORIGIN, [(str(t), "other") for t in tags])


def tag_kinds(table: dict | None, tags: list[str] | tuple[str, ...]) -> dict[str, Vocabulary]:
    """Tag kind -> Vocabulary of a checkpoint with MTT tags `tags` and vocabulary table `table`
    (the `to_dict` form; empty or None for a checkpoint written before tables): "tags" first,
    then the table's other vocabularies in table order. VocabularyError when the table is
    malformed, names a vocabulary "tags"/"genres"/"labels", or its "mtt" labels are not `tags`."""
    vocabs = from_dict(table) if table else {}
    main = vocabs.pop(MAIN_VOCAB, None) or main_vocabulary(tags)
    if main.labels != tuple(tags):
        raise VocabularyError(f"the table's {MAIN_VOCAB} labels are not the checkpoint's {len(tags)} tags")
    for name in vocabs:
        if name in RESERVED_NAMES:
            raise VocabularyError(f"vocabulary name {name!r} is reserved ({', '.join(RESERVED_NAMES)})")
    return {MAIN_KIND: main, **vocabs}


def check_kind_shapes(kinds: dict[str, Vocabulary], shapes: dict[str, tuple[int, ...]]) -> None:
    """VocabularyError when a tag kind's head (`<kind>.weight`, `<kind>.bias`) or prompt
    embeddings (`label_embeddings.<kind>`) in `shapes` (name -> shape) do not have one row per
    label of its vocabulary, or when a head's hidden layer (`<kind>.hidden.weight`) does not
    have one row per input column of `<kind>.weight`."""
    for kind, vocab in kinds.items():
        for name in (f"{kind}.weight", f"{kind}.bias", f"label_embeddings.{kind}"):
            shape = shapes.get(name)
            if shape is not None and (len(shape) == 0 or shape[0] != len(vocab.tags)):
                raise VocabularyError(f"{name} has shape {tuple(shape)}, the {vocab.name} vocabulary "
                                      f"{len(vocab.tags)} labels")
        hidden, out = shapes.get(f"{kind}.hidden.weight"), shapes.get(f"{kind}.weight")
        if hidden is not None and (out is None or len(hidden) != 2 or len(out) != 2 or out[1] != hidden[0]):
            raise VocabularyError(f"{kind}.hidden.weight has shape {tuple(hidden)}, which does not "
                                  f"feed {kind}.weight {tuple(out) if out is not None else '(missing)'}")


def checked_tag_kinds(table: dict | None, tags: list[str] | tuple[str, ...],
                      shapes: dict[str, tuple[int, ...]]) -> dict[str, Vocabulary]:
    """`tag_kinds(table, tags)`, checked against the heads and prompt embeddings in `shapes`
    (see check_kind_shapes); VocabularyError when they do not fit."""
    kinds = tag_kinds(table, tags)
    check_kind_shapes(kinds, shapes)
    return kinds


def group_counts(vocab: Vocabulary) -> dict[str, int]:
    """Tags per group, in GROUPS order, groups without tags left out."""
    counts = {g: sum(t.group == g for t in vocab.tags) for g in GROUPS}
    return {g: n for g, n in counts.items() if n}
