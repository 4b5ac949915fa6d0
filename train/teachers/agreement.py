"""How much two teachers of one vocabulary agree, on real audio: the case for their ensemble.

    python -m muser_train.teachers.agreement DIR_OR_FILE... [--patches 8] [--seconds 60] [--json OUT]

Each file's first --seconds are decoded at 16 kHz (0: all), cut into 3 s patches (up to
--patches, evenly spread), scored by
all four teachers (clip score = mean over its patches), and each vocabulary's pair is compared:
  pearson            correlation of all clip x tag probabilities of the two models
  spearman           mean over clips of the rank correlation of the 50 tag scores
  spearman_shuffled  the same against the partner's scores of another clip (a baseline: the part
                     of `spearman` that is the shared tag prior, not the clip)
  top5_overlap       mean share of the 5 best tags the two have in common (chance 0.1)
  auc_a_on_b_top5    macro ROC-AUC of model a's scores against b's binarised top-5 tags per clip,
                     over tags that are in some but not all clips' top 5 (and b on a's)
A file that does not decode is reported on stderr and skipped.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from muser_train.evaluation.metrics import macro_roc_auc
from muser_train.teachers.specs import VOCABS, members

AUDIO_SUFFIXES = {".ogg", ".mp3", ".wav", ".flac", ".opus", ".m4a"}
TOP_K = 5


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, axis=-1), axis=-1).astype(np.float64)


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def top_k_mask(scores: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """(N, L) 0/1: each row's k best labels."""
    mask = np.zeros(scores.shape, np.int8)
    np.put_along_axis(mask, np.argsort(-scores, axis=1)[:, :k], 1, axis=1)
    return mask


def agreement(a: np.ndarray, b: np.ndarray, k: int = TOP_K) -> dict[str, float | int]:
    """Agreement of two (N clips, L tags) probability matrices of the same vocabulary (N >= 2)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2 or len(a) < 2:
        raise ValueError(f"need two (N >= 2, L) matrices of one shape, got {a.shape} and {b.shape}")
    ta, tb = top_k_mask(a, k), top_k_mask(b, k)
    other_clip = np.roll(b, 1, axis=0)  # clip i against the partner's scores of clip i-1
    return {
        "clips": len(a),
        "pearson": float(np.corrcoef(a.ravel(), b.ravel())[0, 1]),
        "spearman": float(_rowwise_pearson(_ranks(a), _ranks(b)).mean()),
        "spearman_shuffled": float(_rowwise_pearson(_ranks(a), _ranks(other_clip)).mean()),
        f"top{k}_overlap": float((ta & tb).sum(1).mean() / k),
        f"auc_a_on_b_top{k}": macro_roc_auc(tb, a),
        f"auc_b_on_a_top{k}": macro_roc_auc(ta, b),
    }


def audio_files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
        else:
            out.append(p)
    return out


def _skip(path: Path, error: Exception | str) -> None:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"skip {path}: {reason}", file=sys.stderr)


def score_files(files: list[Path], max_patches: int,
                seconds: float = 0.0) -> tuple[list[str], dict[str, np.ndarray]]:
    """(decoded file names, {teacher: (N, 50) clip probabilities})."""
    from muser_model.core.audio import load_audio
    from muser_train.corpus.pseudo_tags import spread
    from muser_train.teachers.features import SR, wave_patches
    from muser_train.teachers.registry import load_teacher, score_patches

    models = {s.name: load_teacher(s.name) for v in VOCABS for s in members(v)}
    names: list[str] = []
    rows: dict[str, list[np.ndarray]] = {n: [] for n in models}
    for done, f in enumerate(files, 1):
        if done % 10 == 0:
            print(f"{done}/{len(files)} files", file=sys.stderr, flush=True)
        try:
            x = spread(wave_patches(load_audio(f, SR, duration_s=seconds or None)), max_patches)
        except Exception as e:  # a bad file never stops the measurement
            _skip(f, e)
            continue
        if len(x) == 0:
            _skip(f, "no audio samples")
            continue
        names.append(str(f))
        for n, m in models.items():
            rows[n].append(score_patches(m, x).mean(axis=0))  # (50,) clip score
    return names, {n: np.stack(r) if r else np.zeros((0, 50), np.float32) for n, r in rows.items()}


def report(scores: dict[str, np.ndarray]) -> dict[str, dict]:
    """{vocab: agreement of its two teachers}."""
    out = {}
    for v in VOCABS:
        a, b = (scores[s.name] for s in members(v))
        out[v] = {"a": members(v)[0].name, "b": members(v)[1].name, **agreement(a, b)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("paths", nargs="+", help="audio files or folders (searched recursively)")
    ap.add_argument("--patches", type=int, default=8,
                    help="3 s patches per file, evenly spread (0: all)")
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="decode only this much of each file (0: all)")
    ap.add_argument("--json", type=Path, help="also write the numbers and per-clip scores here")
    args = ap.parse_args(argv)
    files = audio_files(args.paths)
    names, scores = score_files(files, args.patches, args.seconds)
    if len(names) < 2:
        print(f"error: {len(names)} of {len(files)} files decoded; agreement needs at least 2",
              file=sys.stderr)
        return 1
    result = report(scores)
    json.dump(result, sys.stdout, indent=1)
    print()
    if args.json:
        args.json.write_text(json.dumps({"agreement": result, "files": names,
                                         "scores": {n: s.tolist() for n, s in scores.items()}}))
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
