"""muser_train.evaluation.report: the held-out numbers of the data card (genre, tags vs teacher, text->audio recall)."""
import csv

import pytest

import torch
import torch.nn.functional as F

from muser_model.torch_engine.runtime import load_model
from tests.training.test_train import _corpus
from muser_train.training.datasets import Example
from muser_train.evaluation.evaluate import embed_clips
from muser_train.evaluation.report import heldout_clips, report, text_recall


class _StubModel:
    def __init__(self, text_emb):
        self.text_emb = text_emb

    def embed_texts(self, texts):
        return self.text_emb[: len(texts)]


def test_recall_counts_a_hit_only_for_the_clip_itself():
    torch.manual_seed(0)
    n = 30
    text = F.normalize(torch.randn(n, 8), dim=-1)
    clips = [Example(path=f"{i}.wav", texts=[f"caption {i}"]) for i in range(n)]
    perfect = text_recall(_StubModel(text), clips, {"wave": text, "spec": text, "fused": text})
    assert perfect["recall_at_10_fused"] == 1.0 and perfect["chance"] == round(10 / 30, 4)
    shuffled = text[torch.roll(torch.arange(n), 1)]  # every clip's audio matches the next caption
    far = -text  # anti-aligned: the clip itself ranks last
    r = text_recall(_StubModel(text), clips, {"wave": far, "spec": shuffled, "fused": text})
    assert r["recall_at_10_wave"] == 0.0 and r["recall_at_10_fused"] == 1.0
    assert r["recall_at_10_spec"] < 0.6


def test_report_on_a_corpus_with_teacher_tags(tmp_path, tiny_checkpoint):
    corpus = _corpus(tmp_path / "c", per_genre=4)
    with open(corpus / "captions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows):
        row["teacher_tags"] = "guitar;slow" if i % 2 else "piano"
        row["source"] = "mma" if i < 6 else "games"
    with open(corpus / "captions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = report(load_model(tiny_checkpoint, "cpu"), corpus)
    assert result["heldout_clips"] == 3 and result["embedded"] == 3
    assert result["genre"]["clips"] == 3
    assert {"zero_shot_wave", "zero_shot_spec", "zero_shot_fused"} <= set(result["genre"])
    tags = result["tags_vs_teacher"]
    assert tags["tags_with_positives"] == 2  # guitar, slow and 0.0 <= tags["zero_shot_fused_pr_auc"] <= 1.0
    assert result["text_to_audio"]["queries"] == 3
    assert "source:games" in result and result["source:games"]["clips"] + result["source:mma"]["clips"] == 3


def test_datacard_renders_the_stored_report(tmp_path, tiny_checkpoint):
    from muser_model.core.checkpoint import load_checkpoint
    from muser_model.torch_engine.checkpoint_export import save_checkpoint
    from muser_train.evaluation.datacard import datacard

    corpus = _corpus(tmp_path / "c", per_genre=4)
    lm = load_model(tiny_checkpoint, "cpu")
    ckpt = lm.checkpoint
    ckpt.training.setdefault("metrics", {})["heldout_report"] = report(lm, corpus)
    out = save_checkpoint(ckpt, tmp_path / "with_report.muser") and tmp_path / "with_report.muser"
    text = datacard(str(out))
    assert "| fused (waveform + spectrogram) |" in text and "| spectrogram tower only |" in text
    assert "3 held-out clips" in text and "| blues |" in text
    assert load_checkpoint(out).training["metrics"]["heldout_report"]["embedded"] == 3


def test_datacard_command_errors_are_one_line(tmp_path, capsys):
    from muser_train.evaluation.datacard import main

    with pytest.raises(SystemExit) as usage:
        main([])
    assert usage.value.code == 2 and "checkpoint" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.muser")]) == 1
    err = capsys.readouterr().err
    assert "nope.muser" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_agreement_with_the_ensembles_of_scored_clips(tmp_path, tiny_checkpoint):
    import numpy as np
    from muser_model.core.checkpoint import load_checkpoint
    from muser_model.torch_engine.checkpoint_export import save_checkpoint
    from muser_train.teachers.score_manifest import ScoreTable, save_table

    corpus = _corpus(tmp_path / "c", per_genre=4)
    with open(corpus / "captions.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    rng = np.random.default_rng(0)
    table = ScoreTable({p: {"mtt": rng.random(50).astype(np.float16),
                            "msd": rng.random(50).astype(np.float16)} for p in paths})
    save_table(table, corpus / "ensemble_scores.npz", paths)
    ckpt = load_checkpoint(tiny_checkpoint)
    e = ckpt.config.embed_dim
    ckpt.heads["msd.weight"], ckpt.heads["msd.bias"] = torch.randn(50, e), torch.zeros(50)
    with_msd = tmp_path / "msd.muser"
    save_checkpoint(ckpt, with_msd)
    result = report(load_model(with_msd, "cpu"), corpus)["tags_vs_ensemble"]
    assert result["mtt"]["clips"] == 3 and result["mtt"]["truth"] == "ensemble top-5 per clip"
    assert 0.0 <= result["mtt"]["zero_shot_roc_auc"] <= 1.0
    assert "head_roc_auc" in result["msd"] and -1.0 <= result["msd"]["head_pearson"] <= 1.0
    plain = report(load_model(tiny_checkpoint, "cpu"), corpus)["tags_vs_ensemble"]
    assert "head_roc_auc" not in plain["msd"] and "zero_shot_roc_auc" in plain["msd"]


def test_datacard_has_a_row_per_vocabulary_of_the_ensemble_agreement():
    from muser_train.evaluation.datacard import ensemble_lines
    lines = ensemble_lines({
        "mtt": {"clips": 12, "truth": "ensemble top-5 per clip", "zero_shot_roc_auc": 0.7,
                "zero_shot_pr_auc": 0.2},
        "msd": {"clips": 12, "truth": "ensemble top-5 per clip", "zero_shot_roc_auc": 0.6,
                "zero_shot_pr_auc": 0.1, "head_roc_auc": 0.91, "head_pr_auc": 0.5,
                "head_pearson": 0.8, "head_top5_overlap": 0.6}})
    assert "12 scored clips" in lines[0]
    assert lines[4].startswith("| MTT-50 | 0.700 | 0.200 | – |")
    assert lines[5] == "| MSD-50 | 0.600 | 0.100 | 0.910 | 0.500 | 0.800 | 0.600 |"
    assert ensemble_lines({}) == []


def test_report_can_leave_out_the_clips_of_some_packages(tmp_path, tiny_checkpoint):
    corpus = _corpus(tmp_path / "c", per_genre=4)
    with open(corpus / "captions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["package"] = "seen-before" if "blues" in row["path"] else "new"
    with open(corpus / "captions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lm = load_model(tiny_checkpoint, "cpu")
    assert report(lm, corpus)["heldout_clips"] == 3
    kept = report(lm, corpus, skip_packages=["seen-before"])
    assert kept["heldout_clips"] == 2 and kept["skipped_packages"] == ["seen-before"]


def test_query_words_rank_clips_against_the_teachers(tmp_path, tiny_checkpoint, capsys):
    import json
    import numpy as np
    from muser_train.evaluation.query_words import main, spearman
    from muser_train.teachers.score_manifest import ScoreTable, save_table

    assert spearman(np.array([1, 2, 3.0]), np.array([10, 20, 30.0])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3.0]), np.array([3, 2, 1.0])) == pytest.approx(-1.0)
    corpus = _corpus(tmp_path / "c", per_genre=4)
    with open(corpus / "captions.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    rng = np.random.default_rng(0)
    save_table(ScoreTable({p: {"mtt": rng.random(50).astype(np.float16), "msd": rng.random(50).astype(np.float16)}
                           for p in paths}), corpus / "ensemble_scores.npz", paths)
    assert main(["--corpus", str(corpus), "-c", str(tiny_checkpoint), "--words", "sad=sad", "jazz=jazz"]) == 0
    rho = json.loads(capsys.readouterr().out)[str(tiny_checkpoint)]
    assert set(rho) == {"sad", "jazz"} and all(-1.0 <= v <= 1.0 for v in rho.values())
    assert main(["--corpus", str(corpus), "-c", str(tiny_checkpoint), "--words", "x=not a tag"]) == 2


def test_query_words_rank_a_tag_word_by_its_head_as_search_does(tmp_path, tiny_checkpoint, msd_checkpoint, capsys):
    import json
    import numpy as np
    from muser_train.evaluation.query_words import main
    from tests.conftest import write_scores

    corpus = _corpus(tmp_path / "c", per_genre=4)
    with open(corpus / "captions.csv", newline="") as f:
        write_scores(corpus, [r["path"] for r in csv.DictReader(f)])

    def rho(checkpoint, *extra):
        assert main(["--corpus", str(corpus), "-c", str(checkpoint), "--words", "sad=sad", *extra]) == 0
        return json.loads(capsys.readouterr().out)[str(checkpoint)]["sad"]

    assert rho(tiny_checkpoint) == rho(tiny_checkpoint, "--text-only")  # no MSD head: the text ranking
    # with an MSD head, "sad" is scored by it: the same number by hand
    from muser_model.core.scoring import Scorer
    from muser_model.core.vocab_groups import VOCABULARIES
    from muser_model.torch_engine.inference import engine_of
    from muser_train.evaluation.query_words import spearman

    lm = load_model(msd_checkpoint, "cpu")
    clips, _ = heldout_clips(corpus)
    kept, embs = embed_clips(lm, [c for c in clips if c.teacher])
    fused = np.stack([e.track().numpy() for e in embs])  # (N, E)
    j = list(VOCABULARIES["msd"].labels).index("sad")
    head = Scorer(engine_of(lm)).head_scores(fused, "msd")[:, j]
    teacher = np.array([c.teacher["msd"][j] for c in kept])
    assert len(kept) >= 3 and rho(msd_checkpoint) == round(spearman(head, teacher), 3)
    cosine = fused @ lm.embed_texts(["sad"]).float().numpy()[0]
    assert rho(msd_checkpoint, "--text-only") == round(spearman(cosine, teacher), 3)
