"""core.grounding on a synthetic checkpoint: calibration, the soft AND, negation, the blend, the
headline genre and the energy/valence axes."""
from __future__ import annotations

import numpy as np
import pytest

from muser_model.core import vocab_groups as VG
from muser_model.core.concepts import GENRE_CLEAR_MIN
from muser_model.core.grounding import BLEND_SHARE, NO_CLEAR_GENRE, Grounder
from muser_model.core.reading import Reader
from muser_model.core.scoring import ScoringAssets, Scorer
from muser_model.core.vocab import GTZAN_GENRES

E = 8
MTT, MSD = list(VG.VOCABULARIES["mtt"].labels), list(VG.VOCABULARIES["msd"].labels)
# output -> (input dimension, bias): each output reads one dimension of the vector
WIRING = {"mtt:piano": (0, -4.0), "msd:sad": (1, 1.0), "mtt:loud": (2, 0.0), "msd:happy": (3, 0.0),
          "msd:electronic": (4, -2.0), "msd:rock": (5, -2.0)}


class FakeEngine:
    def __init__(self) -> None:
        heads = {}
        for kind, labels, vocab in (("tags", MTT, "mtt"), ("msd", MSD, "msd")):
            w, b = np.zeros((len(labels), E), np.float32), np.full(len(labels), -6.0, np.float32)
            for output, (dim, bias) in WIRING.items():
                if output.startswith(vocab + ":"):
                    i = labels.index(output.split(":", 1)[1])
                    w[i, dim], b[i] = 3.0, bias
            heads[f"{kind}.weight"], heads[f"{kind}.bias"] = w, b
        heads["genres.weight"], heads["genres.bias"] = np.zeros((10, E), np.float32), np.zeros(10, np.float32)
        table = VG.to_dict()
        self.assets = ScoringAssets(MTT, list(GTZAN_GENRES), {"tag_prompt": "{label}", "genre_prompt": "{label}"},
                                    100.0, heads=heads, tag_kinds=VG.tag_kinds(table, MTT))


@pytest.fixture(scope="module")
def scorer():
    return Scorer(FakeEngine())


@pytest.fixture(scope="module")
def reference():
    return np.random.default_rng(0).normal(size=(500, E)).astype(np.float32)


def vec(**dims) -> np.ndarray:
    v = np.zeros(E, np.float32)
    for output, value in dims.items():
        v[WIRING[output.replace("_", ":", 1)][0]] = value
    return v


def test_calibration_makes_heads_with_different_base_rates_weigh_alike(scorer, reference):
    track = vec(mtt_piano=1.0, msd_sad=1.0)[None]  # one standard deviation up on both
    raw = Grounder(scorer)  # no reference: raw logits, where sad's bias dwarfs piano's
    assert raw.z(track, "msd:sad")[0] - raw.z(track, "mtt:piano")[0] == pytest.approx(5.0, abs=1e-4)
    calibrated = Grounder(scorer, reference, "synthetic")
    assert calibrated.z(track, "msd:sad")[0] == pytest.approx(calibrated.z(track, "mtt:piano")[0], abs=0.15)


def test_every_term_must_hold(scorer, reference):
    grounder = Grounder(scorer, reference, "synthetic")
    reading = Reader().read("sad piano")
    both = vec(mtt_piano=1.5, msd_sad=1.5)
    one = vec(mtt_piano=4.0, msd_sad=-1.0)
    scores = grounder.reading_z(np.stack([both, one]), reading)
    assert scores[0] > scores[1]


def test_negation_turns_a_term_around(scorer, reference):
    grounder = Grounder(scorer, reference, "synthetic")
    tracks = np.stack([vec(mtt_piano=2.0), vec(mtt_piano=-2.0)])
    assert np.argmax(grounder.reading_z(tracks, Reader().read("piano"))) == 0
    assert np.argmax(grounder.reading_z(tracks, Reader().read("no piano"))) == 1


def test_the_blend_weighs_heads_by_coverage(scorer, reference):
    grounder = Grounder(scorer, reference, "synthetic")
    tracks = np.random.default_rng(1).normal(size=(20, E)).astype(np.float32)
    query = np.random.default_rng(2).normal(size=E).astype(np.float32)
    free = grounder.blend(tracks, Reader().read("rainy night"), query)
    assert free.weight == 0.0 and np.allclose(free.score, free.text)
    assert np.argmax(free.score) == np.argmax(tracks @ query)  # out of vocabulary: the embedding ranks
    covered = grounder.blend(tracks, Reader().read("piano"), query)
    assert covered.weight == pytest.approx(BLEND_SHARE)
    assert np.allclose(covered.score, BLEND_SHARE * covered.grounded + (1 - BLEND_SHARE) * covered.text)
    assert np.argmax(covered.score) == np.argmax(tracks[:, 0])  # piano reads dimension 0
    half = grounder.blend(tracks, Reader().read("piano night"), query)
    assert half.weight == pytest.approx(BLEND_SHARE)


def test_no_clear_genre_below_the_threshold(scorer):
    grounder = Grounder(scorer)
    # evidence = sigmoid(3x - 2): x = 1.0 gives 0.73, x = 0.3 gives 0.25
    clear, unclear = grounder.genre_calls(np.stack([vec(msd_electronic=1.0), vec(msd_electronic=0.3)]))
    assert (clear.label, clear.clear) == ("electronic", True) and clear.score > GENRE_CLEAR_MIN
    assert (unclear.label, unclear.clear) == (NO_CLEAR_GENRE, False) and unclear.score < GENRE_CLEAR_MIN
    assert unclear.candidates[0][0] == "electronic"
    rock = grounder.genre_calls(vec(msd_rock=1.2, msd_electronic=0.9)[None])[0]
    assert [g for g, _ in rock.candidates[:2]] == ["rock", "electronic"]


def test_energy_and_valence_order_tracks(scorer, reference):
    grounder = Grounder(scorer, reference, "synthetic")
    tracks = np.stack([vec(mtt_loud=v, msd_happy=-v) for v in (-2.0, 0.0, 2.0)])
    axes = grounder.axes(tracks)
    assert list(np.argsort(axes["energy"])) == [0, 1, 2]
    assert list(np.argsort(axes["valence"])) == [2, 1, 0]
    assert ((axes["energy"] > 0) & (axes["energy"] < 1)).all()


def test_a_checkpoint_without_a_head_leaves_its_words_to_the_text(scorer):
    grounder = Grounder(scorer)
    reading = Reader().read("reggae")  # reggae comes from the GTZAN head, which this one has
    assert grounder.coverage(reading) == 1.0
    bare = Scorer(FakeEngine())
    bare.assets.heads = {k: v for k, v in bare.assets.heads.items() if not k.startswith("genres")}
    assert Grounder(bare).coverage(reading) == 0.0
