"""Held-out quality of a checkpoint on a captioned corpus: the numbers of the README data card.

    python -m muser_train.evaluation.report --corpus corpus \
        --checkpoint muser_model/checkpoints/default.muser --write

On the corpus's test split, for the waveform tower, the spectrogram tower and the fused
embedding (the paper's ablation):
  * zero-shot genre accuracy over the checkpoint's genres (clips whose genre is one of them);
  * MTT-50 macro ROC-AUC / PR-AUC against the musicnn teacher's tags (`teacher_tags` column),
    zero-shot and, for the fused embedding, with the checkpoint's tag head;
  * agreement with the teacher ensembles (`tags_vs_ensemble`, clips with teacher scores, an
    `ensemble_scores.npz` beside the corpus's captions.csv): for MTT-50 and MSD-50, macro ROC-AUC
    and PR-AUC of the student's scores against each clip's ensemble top-5 tags (the protocol of
    `muser_train.teachers.agreement`, where the two teachers of a vocabulary reach 0.87-0.93 on
    each other), and the Pearson correlation of head and ensemble probabilities. Zero-shot
    (cosine to the tag prompts) for every checkpoint; the head where the checkpoint has one;
  * text-to-audio recall@10: each clip's first caption as the query, ranked against every
    held-out clip; a hit when the clip itself is in the top 10 (chance: 10 / N);
  * genre against the teachers (`genre_vs_teachers`): on scored clips without a genre label
    (real recordings), the student's genre against the genre the teacher ensembles' evidence
    names, where it reaches the threshold training uses;
  * genre per style (`genre_by_style`, where the CSV has a `style` column: the MMA groove or
    score kind a render came from), zero-shot and head, so that a genre lost on whole grooves
    shows as such.
Broken down per sub-corpus (`source` column) as well. `--write` stores the result in the
checkpoint's training record (shown by `muser info`), rewriting the file atomically.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from muser_model.torch_engine.inference import TrackEmbedding
from muser_model.torch_engine.runtime import LoadedModel, load_model
from muser_train.training.datasets import Example, read_folder
from muser_train.evaluation.evaluate import embed_clips, genre_accuracy, genre_by_group, tag_metrics

TOWERS = ("wave", "spec", "fused")


def heldout_clips(corpus: Path) -> tuple[list[Example], dict[str, dict]]:
    """Test-split clips and, per clip path, its extra CSV columns (teacher_tags, source)."""
    clips = [c for c in read_folder(corpus) if c.split == "test"]
    with open(corpus / "captions.csv", newline="", encoding="utf-8") as f:
        extra = {str(corpus / row["path"]): row for row in csv.DictReader(f)}
    return clips, extra


def teacher_tag_metrics(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding],
                        teacher: list[list[str]]) -> dict:
    """`muser_train.evaluation.evaluate.tag_metrics` against the teacher's tags, with this report's key names."""
    m = tag_metrics(lm, clips, embs, truth_tags=teacher)
    out = {"clips": m["clips"], "tags_with_positives": m["labels_with_positives"]}
    out.update({k: v for k, v in m.items() if k.startswith("zero_shot_")})
    if "head_roc_auc" in m:
        out["head_fused_roc_auc"], out["head_fused_pr_auc"] = m["head_roc_auc"], m["head_pr_auc"]
    return out


def text_recall(lm: LoadedModel, clips: Sequence[Example], audio: dict[str, torch.Tensor], k: int = 10) -> dict:
    """`audio`: tower -> (N, E) track embeddings of `clips`, in order."""
    queries = lm.embed_texts([c.texts[0] for c in clips]).float().cpu()  # (N, E)
    out: dict = {"queries": len(clips), "k": k, "chance": round(min(1.0, k / max(1, len(clips))), 4)}
    for tower in TOWERS:
        sims = queries @ audio[tower].t()  # (N queries, N clips)
        top = sims.topk(min(k, len(clips)), dim=1).indices
        hits = (top == torch.arange(len(clips))[:, None]).any(1)
        out[f"recall_at_{k}_{tower}"] = round(float(hits.float().mean()), 4)
    return out


# The Debian packages the first checkpoints trained on (corpus v2's games, split by track with
# another seed): in a corpus that has them with a new split (`--sources games` beside a
# checkpoint fine-tuned from stage 1), `--skip-packages` with these keeps the report held out.
# Corpus v3 has none of them.
STAGE1_PACKAGES = ("wesnoth-1.16-music", "fretsonfire-songs-muldjord", "hyperrogue-music",
                   "supertuxkart-data", "hedgewars-data", "widelands-data", "frozen-bubble-data")


def report(lm: LoadedModel, corpus: Path, batch_size: int = 32,
           skip_packages: Sequence[str] = ()) -> dict:
    """The held-out report; clips of `skip_packages` (the CSV's `package` column) are left out."""
    clips, extra = heldout_clips(corpus)
    skipped = set(skip_packages)
    if skipped:
        clips = [c for c in clips if extra.get(str(c.path), {}).get("package") not in skipped]
    kept, embs = embed_clips(lm, clips, batch_size)
    sources = [extra.get(str(c.path), {}).get("source") or "all" for c in kept]
    result = {"corpus": str(corpus), "heldout_clips": len(clips), "embedded": len(kept),
              "skipped_packages": list(skip_packages)}
    result.update(_metrics(lm, kept, embs, extra))
    for source in sorted(set(sources)):
        rows = [i for i, s in enumerate(sources) if s == source]
        if len(rows) < len(kept):
            result[f"source:{source}"] = _metrics(lm, [kept[i] for i in rows], [embs[i] for i in rows], extra)
    return result


def _metrics(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding], extra: dict) -> dict:
    teacher = [[t for t in (extra.get(str(c.path), {}).get("teacher_tags") or "").split(";") if t]
               for c in clips]
    audio = {t: torch.stack([e.track(t) for e in embs]) for t in TOWERS}  # (N, E) each
    out = {"clips": len(clips), "genre": genre_accuracy(lm, clips, embs),
           "text_to_audio": text_recall(lm, clips, audio)}
    styles = [extra.get(str(c.path), {}).get("style") or "" for c in clips]
    by_style = genre_by_group(lm, clips, embs, styles)
    if by_style:
        out["genre_by_style"] = by_style
    if any(teacher):
        out["tags_vs_teacher"] = teacher_tag_metrics(lm, clips, embs, teacher)
    if any(c.teacher for c in clips):
        out["tags_vs_ensemble"] = ensemble_agreement(lm, clips, embs)
        by_teachers = genre_vs_teachers(lm, clips, embs)
        if by_teachers.get("clips"):
            out["genre_vs_teachers"] = by_teachers
    return out


def genre_vs_teachers(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding]) -> dict:
    """`genre_accuracy` with the teachers' genre as the truth: on clips with teacher scores and no
    genre label of their own (real recordings), the genre of the largest evidence where
    `teacher_labels.genre_target` gives it a weight (the rule training uses). Agreement with the real-music teachers, not accuracy against human labels."""
    from muser_train.training.teacher_labels import GENRE_EVIDENCE_MIN, genre_target

    genres = list(lm.checkpoint.genres)
    rows, relabelled = [], []
    for i, clip in enumerate(clips):
        if not clip.teacher or clip.genre in genres:
            continue
        target, weight = genre_target(clip.teacher, genres)  # (G,), 0 below the threshold
        if weight > 0:
            rows.append(i)
            relabelled.append(dataclasses.replace(clip, genre=genres[int(target.argmax())]))
    if not rows:
        return {"clips": 0}
    return {"truth": f"teachers' genre evidence >= {GENRE_EVIDENCE_MIN}",
            **genre_accuracy(lm, relabelled, [embs[i] for i in rows])}


ENSEMBLE_TOP_K = 5


def ensemble_agreement(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding],
                       top_k: int = ENSEMBLE_TOP_K) -> dict:
    """Per vocabulary ("mtt", "msd"): the student against the teacher ensemble on the scored clips."""
    from muser_model.core.vocab_groups import VOCABULARIES
    from muser_train.evaluation.metrics import macro_pr_auc, macro_roc_auc
    from muser_train.teachers.agreement import top_k_mask

    from muser_model.torch_engine.inference import Scorer

    ckpt, scorer, out = lm.checkpoint, Scorer(lm), {}
    rows = [i for i, c in enumerate(clips) if c.teacher]
    fused = torch.stack([embs[i].track() for i in rows]).float()  # (N, E)
    for vocab in ("mtt", "msd"):
        kind = "tags" if vocab == "mtt" else vocab
        labels = list(VOCABULARIES[vocab].labels)
        if kind == "tags" and list(ckpt.tags) != labels:
            continue
        probs = np.stack([clips[i].teacher[vocab] for i in rows]).astype(np.float64)  # (N, L)
        truth = top_k_mask(probs, top_k).astype(int)
        zero_shot = (fused @ scorer.text_embeddings(labels, kind).float().t()).numpy()  # (N, L)
        res = {"clips": len(rows), "truth": f"ensemble top-{top_k} per clip",
               "zero_shot_roc_auc": round(macro_roc_auc(truth, zero_shot), 4),
               "zero_shot_pr_auc": round(macro_pr_auc(truth, zero_shot), 4)}
        if scorer.has_head(kind):
            head = scorer.head_scores(fused, kind).numpy()  # (N, L) probabilities
            res.update({"head_roc_auc": round(macro_roc_auc(truth, head), 4),
                        "head_pr_auc": round(macro_pr_auc(truth, head), 4),
                        "head_pearson": round(float(np.corrcoef(head.ravel(), probs.ravel())[0, 1]), 4),
                        f"head_top{top_k}_overlap": round(float(
                            (top_k_mask(head, top_k) & top_k_mask(probs, top_k)).sum(1).mean() / top_k), 4)})
        out[vocab] = res
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--write", action="store_true", help="Store the result in the checkpoint's training record.")
    ap.add_argument("--skip-packages", nargs="*", default=[], metavar="PKG",
                    help="leave out held-out clips of these packages (the CSV's package column), "
                         "e.g. the seven of STAGE1_PACKAGES")
    args = ap.parse_args(argv)
    lm = load_model(args.checkpoint, args.device)
    result = report(lm, args.corpus, skip_packages=args.skip_packages)
    print(json.dumps(result, indent=1))
    if args.write:
        from muser_model.core.checkpoint import default_checkpoint_path
        from muser_model.torch_engine.checkpoint_export import save_checkpoint

        ckpt = lm.checkpoint
        ckpt.training.setdefault("metrics", {})["heldout_report"] = result
        save_checkpoint(ckpt, args.checkpoint or default_checkpoint_path())
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
