"""Pseudo-tag a training corpus with the musicnn MTT-50 teacher (`muser_train.teachers`, mtt_musicnn).

    python -m muser_train.corpus.pseudo_tags --corpus DIR [--jobs N] [--weights PATH.npz]

For every row of DIR/captions.csv (columns path,text,texts,tags,..., path relative to DIR) the
clip is decoded at 16 kHz and scored by the teacher (mean over non-overlapping 3 s patches). Then:

- DIR/teacher_scores.npz: `paths` (the CSV's paths of the clips scored), `scores` (N, 50) float32
  in MTT_TAGS order, `tags` (MTT_TAGS);
- captions.csv is rewritten (temporary file, then renamed) with a column `teacher_tags`
  (";"-joined) and the teacher's texts appended to `texts` (" | "-joined).

Tag rule: musicnn's sigmoid scores are low-calibrated (a confident tag often scores 0.2-0.5), so
a fixed 0.5 threshold keeps almost nothing. A clip gets its top-3 tags that score at least
0.1 (`--top-k`, `--min-score`), best first; none when even its best tag scores below that.
Texts, in the paper's MTT template "the music is characterized by {tags}": one with all the
teacher tags ("..., guitar, slow, rock") and, with two or more, one with the best tag alone.

Idempotent: texts that the previous run's `teacher_tags` produced are removed before the new ones
are added, and texts are de-duplicated, so running it again changes nothing. A clip that cannot
be decoded gets one line on stderr and keeps its row as it was.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import sys
import time
from pathlib import Path

import numpy as np

from muser_model.core.vocab import DEFAULT_TEMPLATES, MTT_TAGS
from muser_train.corpus.common import atomic_write

TOP_K = 3
MIN_SCORE = 0.1
BATCH = 64


def choose_tags(scores: np.ndarray, top_k: int = TOP_K, min_score: float = MIN_SCORE) -> list[str]:
    """Best-first tags among the top_k that score >= min_score (scores in MTT_TAGS order)."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:top_k]
    return [MTT_TAGS[i] for i in order if scores[i] >= min_score]


def teacher_texts(tags: list[str]) -> list[str]:
    if not tags:
        return []
    template = DEFAULT_TEMPLATES["mtt"]
    texts = [template.format(tags=", ".join(tags))]
    if len(tags) > 1:
        texts.append(template.format(tags=tags[0]))
    return texts


def merge_texts(texts_field: str, old_tags_field: str, new_tags: list[str]) -> str:
    """`texts` without the texts of the previous teacher tags, plus those of the new ones."""
    old_tags = [t for t in (old_tags_field or "").split(";") if t]
    stale = set(teacher_texts(old_tags))
    kept = [t.strip() for t in (texts_field or "").split(" | ") if t.strip()]
    kept = [t for t in kept if t not in stale]
    return " | ".join(dict.fromkeys(kept + teacher_texts(new_tags)))


def spread(patch_stack: np.ndarray, max_patches: int) -> np.ndarray:
    """At most `max_patches` patches, evenly spread over the clip (all of them when 0)."""
    n = len(patch_stack)
    if not max_patches or n <= max_patches:
        return patch_stack
    return patch_stack[((np.arange(max_patches) + 0.5) * n / max_patches).astype(int)]


def _features(path: str, max_patches: int = 0) -> tuple[str, np.ndarray | None, str]:
    """Decode and patch one clip (runs in a worker). Returns (path, patches or None, error)."""
    from muser_model.core.audio import load_audio
    from muser_train.teachers.features import SR, musicnn_logmel, patches
    try:
        wave = load_audio(path, SR)
        if wave.size == 0:
            return path, None, "no audio samples"
        p = spread(patches(musicnn_logmel(wave)), max_patches)
        if len(p) == 0:
            return path, None, "no audio samples"
        return path, p, ""
    except Exception as e:  # any decoder failure skips the clip, never the run
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return path, None, msg


def _iter_features(paths: list[str], jobs: int, max_patches: int = 0):
    if jobs <= 1:
        for p in paths:
            yield _features(p, max_patches)
        return
    import multiprocessing as mp
    # Workers only decode and compute features (no torch), and are all started by the first
    # submissions, before the teacher runs: fork is safe and spares each worker a torch import.
    method = "fork" if sys.platform == "linux" else "spawn"
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context(method)) as ex:
        # bounded look-ahead keeps memory flat on big corpora
        pending: dict[cf.Future, int] = {}
        it = iter(paths)
        for p in it:
            pending[ex.submit(_features, p, max_patches)] = 0
            if len(pending) >= 4 * jobs:
                break
        results: dict[str, tuple] = {}
        order = list(paths)
        nxt = 0
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fu in done:
                del pending[fu]
                r = fu.result()
                results[r[0]] = r
                p = next(it, None)
                if p is not None:
                    pending[ex.submit(_features, p, max_patches)] = 0
            while nxt < len(order) and order[nxt] in results:
                yield results.pop(order[nxt])
                nxt += 1


def score_corpus(abs_paths: list[str], model, jobs: int = 1,
                 log=lambda m: print(m, file=sys.stderr, flush=True), max_patches: int = 0) -> dict[str, np.ndarray]:
    """{absolute path: (50,) scores in MTT_TAGS order} for the clips that decode."""
    import torch
    from muser_train.teachers.registry import to_mtt_order

    out: dict[str, np.ndarray] = {}
    queue: list[tuple[str, np.ndarray]] = []

    def flush():
        if not queue:
            return
        x = torch.from_numpy(np.concatenate([p for _, p in queue]))
        with torch.inference_mode():
            s = torch.cat([model(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]).numpy()
        at = 0
        for path, p in queue:
            out[path] = to_mtt_order(s[at:at + len(p)].mean(axis=0)).astype(np.float32)
            at += len(p)
        queue.clear()

    t0 = time.time()
    n_done = 0
    for path, p, err in _iter_features(abs_paths, jobs, max_patches):
        n_done += 1
        if p is None:
            log(f"skip {path}: {err}")
        else:
            queue.append((path, p))
            if sum(len(q) for _, q in queue) >= BATCH:
                flush()
        if n_done % 200 == 0:
            log(f"{n_done}/{len(abs_paths)} clips, {time.time() - t0:.0f}s")
    flush()
    return out


def run(corpus: str | Path, jobs: int = 1, weights: str | Path | None = None,
        top_k: int = TOP_K, min_score: float = MIN_SCORE, max_patches: int = 0) -> dict:
    from muser_train.teachers.registry import load_teacher

    corpus = Path(corpus)
    sidecar = corpus / "captions.csv"
    with open(sidecar, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    if "path" not in fields:
        raise ValueError(f"{sidecar}: no 'path' column")
    for col in ("texts", "teacher_tags"):
        if col not in fields:
            fields.append(col)

    model = load_teacher("mtt_musicnn", weights)
    abs_paths = list(dict.fromkeys(str(corpus / r["path"]) for r in rows))
    scores = score_corpus(abs_paths, model, jobs, max_patches=max_patches)

    scored_rel = []
    for r in rows:
        s = scores.get(str(corpus / r["path"]))
        if s is None:  # undecodable: the row stays as it was
            continue
        tags = choose_tags(s, top_k, min_score)
        r["texts"] = merge_texts(r.get("texts") or "", r.get("teacher_tags") or "", tags)
        r["teacher_tags"] = ";".join(tags)
        scored_rel.append(r["path"])

    rel = list(dict.fromkeys(scored_rel))
    mat = (np.stack([scores[str(corpus / p)] for p in rel]) if rel
           else np.zeros((0, len(MTT_TAGS)), np.float32))

    def write_npz(fh):
        np.savez(fh, paths=np.array(rel, dtype=str), scores=mat.astype(np.float32),
                 tags=np.array(MTT_TAGS, dtype=str))

    def write_csv(fh):
        import io
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        w = csv.DictWriter(text, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
        text.flush()
        text.detach()

    atomic_write(corpus / "teacher_scores.npz", write_npz)
    atomic_write(sidecar, write_csv)
    return {"rows": len(rows), "scored": len(rel), "skipped": len(abs_paths) - len(scores)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", required=True, help="folder with captions.csv")
    ap.add_argument("--jobs", type=int, default=1,
                    help="decoding/feature worker processes (default 1: all in this process;\n"
                         "the teacher itself, not decoding, is the bottleneck)")
    ap.add_argument("--weights", help="teacher .npz (default: train/teacher/mtt_musicnn.npz)")
    ap.add_argument("--top-k", type=int, default=TOP_K)
    ap.add_argument("--min-score", type=float, default=MIN_SCORE)
    ap.add_argument("--max-patches", type=int, default=0,
                    help="score at most N evenly spread 3 s patches per clip (0: all; fewer is faster)")
    args = ap.parse_args(argv)
    t0 = time.time()
    try:
        res = run(args.corpus, args.jobs, args.weights, args.top_k, args.min_score, args.max_patches)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.corpus}: {res['scored']}/{res['rows']} rows tagged, {res['skipped']} clip(s) "
          f"skipped, {time.time() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
