"""What `muser index --max-windows K` costs in quality: capped track vectors against every window.

    python bench/window_cap.py FOLDER [FOLDER ...] [--caps 4,8,12,16,24] [--workers 2]

`muser index` embeds a track as the mean of its 5 s windows; with a cap of K windows a longer
track gets K windows spread evenly over it instead of every window (CLAP takes a few crops of a
long file the same way). For each cap this reports, over the real tracks found under FOLDER:
  - cosine between the capped and the full (every window) track vector: mean, 5th percentile, min;
  - similar-track agreement: overlap of each track's 10 nearest neighbours (full vs capped);
  - text-query agreement: overlap of the top 10 tracks for a set of queries (numpy text tower);
  - the share of windows (model work) the cap leaves.
Only tracks longer than the smallest cap's coverage are affected; shorter ones are reported too.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

QUERIES = ["epic orchestral battle", "calm peaceful music", "sad melancholic piano", "heavy metal guitar",
           "celtic folk with flute", "dark ambient", "fast energetic rock", "choir", "happy upbeat",
           "slow strings", "drums and percussion", "electronic synth", "medieval lute", "jazz", "tense suspense"]
_MODEL = None


def _embed(args: tuple[str, str, int]) -> tuple[str, np.ndarray | None, int, float]:
    """(path, track vector, windows, duration) as `muser index` computes it with this cap."""
    global _MODEL
    from muser_model.library.decode import decode_for_index
    from muser_model.numpy_engine.audio import NumpyMuser, track_embedding

    path, checkpoint, cap = args
    if _MODEL is None:
        _MODEL = NumpyMuser.load(checkpoint)
    cfg = _MODEL.config.audio
    item = decode_for_index(path, cfg.window_s, cfg.hop_s, cfg.sample_rate, cap)
    if item.error:
        return path, None, 0, 0.0
    embeddings = _MODEL.embed_windows(item.windows)  # (W, 2, E), single-threaded BLAS
    return path, track_embedding(embeddings[:, 0], embeddings[:, 1]), len(item.windows), item.duration_s


def _neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--caps", default="4,8,12,16,24")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    from muser_model.core.checkpoint import default_checkpoint_path
    from muser_model.core.files import walk_audio
    from muser_model.numpy_engine.audio import NumpyMuser

    checkpoint = str(args.checkpoint or default_checkpoint_path())
    paths = sorted(str(e.path) for e in walk_audio(args.folders))
    caps = [int(c) for c in args.caps.split(",")]
    print(machine())
    results: dict[int, dict[str, tuple[np.ndarray, int, float]]] = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for cap in [10_000, *caps]:  # 10,000: every window of any real track
            started = time.perf_counter()
            rows = pool.map(_embed, [(p, checkpoint, cap) for p in paths])
            results[cap] = {p: (v, w, d) for p, v, w, d in rows if v is not None}
            print(f"cap {cap}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    full = results[10_000]
    order = sorted(full)
    durations = np.array([full[p][2] for p in order])
    print(f"{len(order)} tracks, {durations.sum() / 3600:.2f} h, median {np.median(durations):.0f} s, "
          f"{sum(full[p][1] for p in order)} windows in all (every window)")
    text = NumpyMuser.load(checkpoint).embed_texts(QUERIES)
    ref = np.stack([full[p][0] for p in order])
    ref_nn, ref_q = _neighbours(ref, 10), np.argsort(-(text @ ref.T), axis=1, kind="stable")[:, :10]
    print("| windows per track at most | share of windows | cosine to full: mean / p5 / min | "
          "10-NN overlap | text top-10 overlap |")
    print("|---|---|---|---|---|")
    for cap in caps:
        got = np.stack([results[cap][p][0] for p in order])
        cos = np.sum(got * ref, axis=1)
        share = sum(results[cap][p][1] for p in order) / sum(full[p][1] for p in order)
        q = np.argsort(-(text @ got.T), axis=1, kind="stable")[:, :10]
        print(f"| {cap} | {share:.0%} | {cos.mean():.4f} / {np.percentile(cos, 5):.4f} / {cos.min():.4f} | "
              f"{_overlap(_neighbours(got, 10), ref_nn):.2f} | {_overlap(q, ref_q):.2f} |")


if __name__ == "__main__":
    main()
