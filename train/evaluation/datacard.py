"""Print a checkpoint's training record and held-out report as the README's data-card tables.

    python -m muser_train.evaluation.datacard muser_model/checkpoints/default.muser

The held-out numbers come from `python -m muser_train.evaluation.report --write` (stored in the checkpoint).
"""
from __future__ import annotations

import argparse
import sys

from muser_model.core.checkpoint import load_checkpoint
from muser_model.core.errors import MuserError

TOWER_NAMES = {"fused": "fused (waveform + spectrogram)", "wave": "waveform tower only",
               "spec": "spectrogram tower only"}


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def training_lines(ckpt) -> list[str]:
    t = ckpt.training
    last = (t.get("history") or [{}])[-1]
    return [
        f"- Checkpoint `{ckpt.path.name}`, content hash `{ckpt.content_hash[:16]}…`, config `{ckpt.config.name}`.",
        f"- Corpus: {t.get('corpus', '?')}. {t.get('corpus_note', '')}".rstrip(),
        f"- Training: {t.get('clips_train')} clips ({t.get('hours_train')} h), {t.get('epochs')} epochs, "
        f"batch {t.get('batch_size')}, lr {t.get('lr')}, seed {t.get('seed')}, "
        f"{t.get('train_seconds', 0) / 60:.1f} min on {t.get('device')} ({t.get('machine')}), {t.get('date')}.",
        f"- Last epoch: {last}; selected: {t.get('selected', 'last epoch')}.",
    ] + _distilled_lines(ckpt) + _tag_head_lines(ckpt)


def target_note(targets: dict | None) -> str:
    """" (with a target: msd 4675, tags 4675)": how many clips each refitted head learnt from."""
    return f" (with a target: {', '.join(f'{k} {n}' for k, n in sorted(targets.items()))})" if targets else ""


def _tag_head_lines(ckpt) -> list[str]:
    h = ckpt.training.get("tag_heads")
    if not h:
        return []
    return [f"- Then the tag heads ({', '.join(h.get('heads', []))}) were refitted with {h.get('hidden')} "
            f"hidden units (ReLU) on the frozen track embeddings of {h.get('clips')} training clips"
            f"{target_note(h.get('targets'))} "
            f"(`python -m muser_train.training.refit_heads`, {h.get('steps')} steps, seed {h.get('seed')}); "
            f"the towers and the genre head are those of the training run."]


def _distilled_lines(ckpt) -> list[str]:
    d = ckpt.training.get("distilled")
    if not d:
        return []
    a, spec = ckpt.config.audio, ckpt.config.spectrogram
    return [f"- Then distilled (`python -m muser_train.training.distill`): a new {d.get('what', 'tower')} (log-mel n_fft "
            f"{a.n_fft}, hop {a.hop_length}; widths {', '.join(map(str, spec.channels))}) learnt to reproduce "
            f"teacher `{d.get('teacher_hash', '?')[:12]}…`'s on {d.get('windows')} training windows, "
            f"{d.get('epochs')} epochs, {d.get('train_seconds', 0) / 60:.1f} min, {d.get('date')}; "
            f"held-out cosine to the teacher {d.get('held_out_cosine_to_teacher')}."]


def report_lines(r: dict, title: str) -> list[str]:
    genre, tags, recall = r.get("genre", {}), r.get("tags_vs_teacher", {}), r.get("text_to_audio", {})
    lines = [f"**{title}** ({r.get('clips', 0)} held-out clips; genre over the {genre.get('clips', 0)} "
             f"with a GTZAN genre: {', '.join(genre.get('genres', []))}; recall chance "
             f"{_pct(recall.get('chance'))})", "",
             "| embedding | genre zero-shot | genre head | tags ROC-AUC | tags PR-AUC | text→audio R@10 |",
             "|---|---|---|---|---|---|"]
    for tower in ("fused", "wave", "spec"):
        head = genre.get("head_fused") if tower == "fused" else None
        lines.append(f"| {TOWER_NAMES[tower]} | {_pct(genre.get(f'zero_shot_{tower}'))} | {_pct(head)} | "
                     f"{_num(tags.get(f'zero_shot_{tower}_roc_auc'))} | {_num(tags.get(f'zero_shot_{tower}_pr_auc'))} | "
                     f"{_pct(recall.get(f'recall_at_10_{tower}'))} |")
    if "head_fused_roc_auc" in tags:
        lines.append(f"| tag head (fused) | | | {_num(tags['head_fused_roc_auc'])} | {_num(tags['head_fused_pr_auc'])} | |")
    return (lines + [""] + ensemble_lines(r.get("tags_vs_ensemble", {})) + teacher_genre_lines(r.get("genre_vs_teachers", {}))
            + style_lines(r.get("genre_by_style", {})))


def teacher_genre_lines(g: dict) -> list[str]:
    """The student's genre against the teachers' genre evidence on unlabelled scored clips."""
    if not g.get("clips"):
        return []
    per = g.get("zero_shot_per_genre", {})
    return [f"Genre against the teachers ({g['clips']} clips without a genre label, truth: {g.get('truth', '')}): "
            f"zero-shot {_pct(g.get('zero_shot_fused'))}, head {_pct(g.get('head_fused'))}; zero-shot per genre: "
            + "; ".join(f"{genre} {per[genre]}" for genre in sorted(per)) + ".", ""]


def style_lines(by_style: dict) -> list[str]:
    """Genre accuracy per style (MMA groove or score kind), one row each, by genre then style."""
    if not by_style:
        return []
    lines = ["| genre | style | zero-shot correct | head correct |", "|---|---|---|---|"]
    for style, m in sorted(by_style.items(), key=lambda item: (item[1].get("genre", ""), item[0])):
        lines.append(f"| {m.get('genre', '')} | {style} | {m.get('zero_shot', '–')} | {m.get('head', '–')} |")
    return lines + [""]


VOCAB_NAMES = {"mtt": "MTT-50", "msd": "MSD-50"}


def ensemble_lines(agreement: dict) -> list[str]:
    """The agreement of the student with the teacher ensembles, one row per vocabulary."""
    if not agreement:
        return []
    first = next(iter(agreement.values()))
    lines = [f"Against the teacher ensembles ({first.get('clips', 0)} scored clips, truth: "
             f"{first.get('truth', '')}):", "",
             "| vocabulary | zero-shot ROC-AUC | zero-shot PR-AUC | head ROC-AUC | head PR-AUC | "
             "head Pearson | head top-5 overlap |", "|---|---|---|---|---|---|---|"]
    for vocab, m in agreement.items():
        lines.append(f"| {VOCAB_NAMES.get(vocab, vocab)} | {_num(m.get('zero_shot_roc_auc'))} | "
                     f"{_num(m.get('zero_shot_pr_auc'))} | {_num(m.get('head_roc_auc'))} | "
                     f"{_num(m.get('head_pr_auc'))} | {_num(m.get('head_pearson'))} | "
                     f"{_num(m.get('head_top5_overlap'))} |")
    return lines + [""]


def datacard(path: str) -> str:
    ckpt = load_checkpoint(path)
    lines = training_lines(ckpt) + [""]
    report = ckpt.training.get("metrics", {}).get("heldout_report")
    if not report:
        return "\n".join(lines + ["(no held-out report: run python -m muser_train.evaluation.report --write)"])
    lines += report_lines(report, "All held-out clips")
    genre = report.get("genre", {})
    zs, head = genre.get("zero_shot_per_genre", {}), genre.get("head_per_genre", {})
    if zs:
        lines += ["| genre | zero-shot correct | head correct |", "|---|---|---|"]
        lines += [f"| {g} | {zs[g]} | {head.get(g, '–')} |" for g in sorted(zs)] + [""]
    for key in sorted(k for k in report if k.startswith("source:")):
        lines += report_lines(report[key], f"Held out from {key.split(':', 1)[1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m muser_train.evaluation.datacard", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="A .muser checkpoint.")
    args = ap.parse_args(argv)
    try:
        print(datacard(args.checkpoint))
    except MuserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
