"""Genre breakdowns of the held-out report: per style (MMA groove) and against the teachers."""
import torch

from muser_model.torch_engine.inference import Scorer, TrackEmbedding
from muser_train.evaluation.datacard import style_lines
from muser_train.evaluation.evaluate import genre_by_group
from muser_train.training.datasets import Example


def _at_prompt(scorer: Scorer, genre: str, i: int) -> TrackEmbedding:
    """A one-window track whose embedding is the genre's prompt: zero-shot names that genre."""
    row = scorer.text_embeddings(scorer.genres, "genres")[scorer.genres.index(genre)][None].float()  # (1, E)
    return TrackEmbedding(path=f"{i}.wav", wave=row.clone(), spec=row.clone(), window_s=5.0, hop_s=5.0)


def test_a_genre_lost_on_one_style_shows_on_that_row(tiny_model):
    scorer = Scorer(tiny_model)
    first, second = scorer.genres[0], scorer.genres[1]
    heard = [first, first, second, second, first, first]  # what each clip's embedding says
    labels = [first] * 4 + [first, "not-a-genre"]
    groups = ["kept", "kept", "lost", "lost", "", "kept"]
    clips = [Example(path=f"{i}.wav", texts=["x"], genre=g) for i, g in enumerate(labels)]
    embs = [_at_prompt(scorer, g, i) for i, g in enumerate(heard)]
    table = genre_by_group(tiny_model, clips, embs, groups)
    assert set(table) == {"kept", "lost"}  # no group, or a genre the checkpoint lacks: left out
    assert table["kept"]["zero_shot"] == "2/2"
    assert table["lost"]["zero_shot"] == f"0/2, mostly {second} when wrong"
    assert table["lost"]["genre"] == first
    assert ("head" in table["lost"]) == scorer.has_head("genres")  # a head column only with a head


def test_no_styles_gives_no_table(tiny_model):
    clips = [Example(path="a.wav", texts=["x"], genre=Scorer(tiny_model).genres[0])]
    emb = TrackEmbedding(path="a.wav", wave=torch.ones(1, 8), spec=torch.ones(1, 8), window_s=5.0, hop_s=5.0)
    assert genre_by_group(tiny_model, clips, [emb], [""]) == {} and style_lines({}) == []


def test_style_rows_are_sorted_by_genre_then_style():
    lines = style_lines({"slowcountry": {"genre": "country", "zero_shot": "0/7", "head": "0/7"},
                         "8beat": {"genre": "pop", "zero_shot": "1/6", "head": "1/6"},
                         "countrywaltz": {"genre": "country", "zero_shot": "0/7"}})
    assert lines[2:5] == ["| country | countrywaltz | 0/7 | – |", "| country | slowcountry | 0/7 | 0/7 |",
                          "| pop | 8beat | 1/6 | 1/6 |"]


def _teacher(**probs) -> dict:
    """Teacher ensemble probabilities: every tag 0.05 but those given (vocab_label=p)."""
    import numpy as np

    from muser_model.core.vocab_groups import VOCABULARIES

    out = {v: np.full(50, 0.05, np.float32) for v in ("mtt", "msd")}
    for key, p in probs.items():
        vocab, label = key.split("_", 1)
        out[vocab][list(VOCABULARIES[vocab].labels).index(label)] = p
    return out


def test_genre_against_the_teachers_uses_the_training_threshold(tiny_model):
    from muser_train.evaluation.report import genre_vs_teachers

    scorer = Scorer(tiny_model)
    assert {"jazz", "rock"} <= set(scorer.genres)
    clips = [Example(path="a.wav", texts=["x"], teacher=_teacher(msd_jazz=0.8)),
             Example(path="b.wav", texts=["x"], teacher=_teacher(msd_rock=0.6, msd_jazz=0.4)),
             Example(path="c.wav", texts=["x"], teacher=_teacher(msd_rock=0.2)),  # evidence < 0.3
             Example(path="d.wav", texts=["x"], genre="rock", teacher=_teacher(msd_jazz=0.9)),  # has a label
             Example(path="e.wav", texts=["x"])]  # no teacher scores
    embs = [_at_prompt(scorer, g, i) for i, g in enumerate(["jazz", "jazz", "rock", "rock", "rock"])]
    result = genre_vs_teachers(tiny_model, clips, embs)
    assert result["clips"] == 2 and result["zero_shot_fused"] == 0.5
    assert result["zero_shot_per_genre"] == {"jazz": "1/1", "rock": "0/1, mostly jazz when wrong"}
    assert genre_vs_teachers(tiny_model, clips[2:], embs[2:]) == {"clips": 0}


def test_card_line_of_the_genre_against_the_teachers():
    from muser_train.evaluation.datacard import teacher_genre_lines

    line = teacher_genre_lines({"clips": 179, "truth": "evidence >= 0.3", "zero_shot_fused": 0.7877,
                                "head_fused": 0.7821, "zero_shot_per_genre": {"rock": "65/72", "jazz": "26/36"}})[0]
    assert line.startswith("Genre against the teachers (179 clips") and "zero-shot 78.8%, head 78.2%" in line
    assert line.endswith("jazz 26/36; rock 65/72.") and teacher_genre_lines({"clips": 0}) == []
