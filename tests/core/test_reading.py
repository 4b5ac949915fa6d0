"""core.reading: text -> concepts of the trained vocabularies (paraphrases, AND, negation, eras)."""
from __future__ import annotations

import numpy as np
import pytest

from muser_model.core.concepts import BY_NAME, CONCEPTS
from muser_model.core.reading import PHRASE_VECTORS, Reader, phrase_table, stored_phrase_vectors, tokens

reader = Reader()  # the lexicon alone: no text tower


def concepts_of(text: str) -> list[set[str]]:
    return [set(t.concepts) for t in reader.read(text).terms]


def outputs_of(text: str) -> set[str]:
    return {o for t in reader.read(text).terms for c in t.concepts for o in BY_NAME[c].outputs}


@pytest.mark.parametrize("text, wanted", [
    ("melancholic", {"msd:sad", "msd:Mellow"}),
    ("upbeat", {"msd:happy", "msd:party", "mtt:fast"}),
    ("songs with a female singer", {"msd:female vocalists", "mtt:female"}),
    ("a male singer", {"msd:male vocalists", "mtt:male"}),
    ("singer", {"mtt:vocals", "mtt:singing"}),
    ("relaxing new age meditation", {"msd:chill", "mtt:new age", "axis:energy-"}),
    ("bluesy", {"genre:blues"}),
    ("rap", {"genre:hip-hop"}),
    ("synthesizers", {"mtt:synth"}),
    ("percussion", {"mtt:drums"}),
    ("gloomy", {"msd:sad"}),
])
def test_paraphrases_read_onto_the_intended_tags(text, wanted):
    assert wanted <= outputs_of(text)


@pytest.mark.parametrize("text", ["80s", "1980s", "eighties", "'80s", "80's"])
def test_era_words_read_as_the_decade(text):
    assert concepts_of(text) == [{"80s"}]


def test_several_concepts_are_separate_terms_that_must_all_hold():
    terms = reader.read("melancholic piano").terms
    assert [set(t.concepts) for t in terms] == [{"sad", "mellow"}, {"piano"}]
    assert reader.read("melancholic piano").coverage == 1.0


def test_the_longest_phrase_wins():
    assert concepts_of("heavy metal") == [{"metal"}]
    assert concepts_of("new age") == [{"ambient", "new age"}]
    assert concepts_of("no vocals") == [{"instrumental"}]


def test_negation_marks_the_next_term_of_its_clause():
    terms = reader.read("no drums, sad strings").terms
    assert [(t.concepts, t.negated) for t in terms] == [(["drums"], True), (["sad"], False), (["strings"], False)]
    assert [t.negated for t in reader.read("not sad").terms] == [True]
    assert [t.negated for t in reader.read("piano without strings").terms] == [False, True]
    assert [t.negated for t in reader.read("without strings and piano").terms] == [True, False]


def test_words_outside_every_vocabulary_stay_free_text():
    reading = reader.read("rainy night")
    assert reading.terms == [] and reading.free_words == ["rainy", "night"] and reading.coverage == 0.0
    mixed = reader.read("sad rainy night")
    assert [t.concepts for t in mixed.terms] == [["sad"]] and mixed.coverage == pytest.approx(1 / 3)


def test_stop_words_do_not_count():
    assert reader.read("some music").content_words == 0
    assert reader.read("a song that is sad").coverage == 1.0


def test_tokens_keep_compound_words_whole():
    assert tokens("R&B, Hip-Hop and '80s") == ["r&b", ",", "hip-hop", "and", "'80s"]


def test_unknown_words_read_by_similarity_to_a_phrase():
    table = list(phrase_table())
    vectors = np.eye(len(table) + 1, dtype=np.float32)[:, :len(table) + 1]

    def embed(texts):  # "pianoforte" lands on the phrase "piano"; anything else on its own axis
        return np.stack([vectors[table.index("piano")] if t == "pianoforte" else vectors[-1] for t in texts])

    fallback = Reader(embed, (table, vectors[:len(table)]))
    reading = fallback.read("pianoforte rainy")
    assert [(t.concepts, t.method) for t in reading.terms] == [(["piano"], "similarity")]
    assert reading.free_words == ["rainy"]


def test_the_stored_phrase_vectors_cover_the_table():
    """data/phrase_vectors.npz is made from the table (muser_model.core.reading.write_phrase_vectors):
    a phrase added without re-making it would be embedded at every query."""
    phrases, vectors = stored_phrase_vectors(PHRASE_VECTORS)
    assert set(phrase_table()) <= set(phrases)
    assert vectors.shape == (len(phrases), 384)


def test_every_concept_names_itself_as_a_phrase():
    for concept in CONCEPTS:
        assert concept.name in concept.phrases
