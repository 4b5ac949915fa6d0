"""ANN index at scale: build time, memory, query p50/p99 and recall@10 against exact search.

    python bench/ann_scale.py --sizes 1000 10000 100000 1000000

Vectors are clustered (one centre per 100 vectors + noise, unit-normalised, 256-d) and the
queries are held-out points of the same clusters: i.i.d. Gaussian vectors (or queries from
other centres) have no neighbour structure and say nothing about a music library. The index
is muser's own wrapper (`muser_model.library.ann.AnnIndex`): M=16, ef_construction=200, ef=128.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from muser_model.library.ann import AnnIndex  # noqa: E402


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 100), dim)).astype(np.float32)
    vecs = centres[rng.integers(0, len(centres), n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _rss_mb() -> float:
    status = open("/proc/self/status").read()
    return int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS"))) / 1024


def exact_top10(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, len(queries), 64):
        sims = queries[start : start + 64] @ data.T
        out.append(np.argpartition(-sims, 10, axis=1)[:, :10])
    return np.concatenate(out)


def run(n: int, dim: int, n_queries: int) -> dict:
    points = clustered(n + n_queries, dim)  # queries: held-out points of the same clusters
    data, queries = points[:n], points[n:]
    rss0 = _rss_mb()
    started = time.perf_counter()
    ann = AnnIndex.build(np.arange(n), data, dim)
    build = time.perf_counter() - started
    rss = _rss_mb() - rss0
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        hits = ann.query(q, 10)
        times.append((time.perf_counter() - t) * 1000)
        found.append([i for i, _ in hits])
    truth = exact_top10(data, queries)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    return {"n": n, "build_s": build, "rss_mb": rss, "p50_ms": float(np.percentile(times, 50)),
            "p99_ms": float(np.percentile(times, 99)), "recall10": float(recall)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()
    print(machine())
    print("| vectors | build | index memory (RSS growth) | query p50 | query p99 | recall@10 |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        r = run(n, args.dim, args.queries)
        print(f"| {n:,} | {r['build_s']:.1f} s | {r['rss_mb']:.0f} MB | {r['p50_ms']:.2f} ms | "
              f"{r['p99_ms']:.2f} ms | {r['recall10']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
