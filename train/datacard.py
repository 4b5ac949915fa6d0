"""Print a checkpoint's training record as the README's data-card table (Markdown).

    python -m train.datacard muser_model/checkpoints/default.muser
"""
from __future__ import annotations

import sys

from muser_model.checkpoint import load_checkpoint


def datacard(path: str) -> str:
    ckpt = load_checkpoint(path)
    t = ckpt.training
    genre = t.get("metrics", {}).get("heldout_genre", {})
    lines = [
        f"- Checkpoint `{ckpt.path.name}`, content hash `{ckpt.content_hash[:16]}…`, config `{ckpt.config.name}`.",
        f"- Corpus: {t.get('corpus', '?')}. {t.get('corpus_note', '')}".rstrip(),
        f"- Training: {t.get('clips_train')} clips ({t.get('hours_train')} h), {t.get('epochs')} epochs, "
        f"batch {t.get('batch_size')}, lr {t.get('lr')}, seed {t.get('seed')}, "
        f"{t.get('train_seconds', 0) / 60:.1f} min on {t.get('device')} ({t.get('machine')}), {t.get('date')}.",
        f"- Final training loss: {t.get('final_loss')}.",
        "",
        f"Held-out genre accuracy ({genre.get('clips', 0)} clips; 10 GTZAN genres as candidates):",
        "",
        "| embedding | zero-shot | linear head |",
        "|---|---|---|",
        f"| fused (waveform + spectrogram) | {genre.get('zero_shot_fused', float('nan')):.1%} | "
        f"{genre.get('head_fused', float('nan')):.1%} |",
        f"| waveform tower only | {genre.get('zero_shot_wave', float('nan')):.1%} | – |",
        f"| spectrogram tower only | {genre.get('zero_shot_spec', float('nan')):.1%} | – |",
        "",
        "| genre | zero-shot correct | head correct |",
        "|---|---|---|",
    ]
    zs, head = genre.get("zero_shot_per_genre", {}), genre.get("head_per_genre", {})
    for g in sorted(zs):
        lines.append(f"| {g} | {zs[g]} | {head.get(g, '–')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(datacard(sys.argv[1]))
