"""Time and quality of the music map's layout (muser_model.library.projection.compute_layout).

    python bench/map_projection.py [--sizes 1000,10000,50000] [--runs 3]

Each size runs in a fresh process (so its peak memory is its own), `--runs` times on the same
vectors; the table gives the median wall time, the CPU time of that run, and the peak resident
memory of the process (vectors included). Times are on the gaussian vectors, the hardest for
hnswlib: its neighbours take half the time at 50,000 tracks (the whole layout of the structured
ones about 13 s instead of 25). Quality, on three kinds of synthetic unit vectors in 128-d:

- gaussian: 30 clusters, each a centre plus isotropic noise (the brief's case). Within a cluster
  the noise has no structure a 2-D map could keep, so kNN preservation is low for any method
  (chance, once the clusters are apart: 10 / (N / 30), 0.006 at 50,000 tracks);
- structured: 30 clusters whose tracks vary along 3 directions of their own (a style with a few
  ways to differ): the case where a map can keep neighbours;
- fake_library: bench/cold_start.py's library (N/20 clusters, isotropic noise).

kNN preservation: the mean fraction of a point's 10 nearest (cosine) neighbours that are among
its 10 nearest on the map, over 2,000 sampled points (exact neighbours on both sides); the same
for PCA to 2-D. Cluster purity: the share of a point's 10 nearest on the map from its own cluster.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402

DIM, CLUSTERS = 128, 30


def vectors(kind: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors (n, DIM) float32, cluster labels (n,))."""
    rng = np.random.default_rng(seed)
    clusters = n // 20 if kind == "fake_library" else CLUSTERS
    centres = rng.standard_normal((clusters, DIM))
    labels = rng.integers(0, clusters, n)
    if kind == "structured":
        basis = rng.standard_normal((clusters, 3, DIM))
        v = centres[labels] + 0.6 * np.einsum("nl,nld->nd", rng.standard_normal((n, 3)), basis[labels])
        v += 0.05 * rng.standard_normal((n, DIM))
    else:
        v = centres[labels] + 0.3 * rng.standard_normal((n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), labels


def quality(x: np.ndarray, xy: np.ndarray, labels: np.ndarray, k: int = 10, sample: int = 2000) -> tuple[float, float]:
    """(kNN preservation, cluster purity of the map's neighbours) over `sample` points."""
    rng = np.random.default_rng(1)
    rows = rng.choice(len(x), min(sample, len(x)), replace=False)
    kept, pure = [], []
    for part in np.array_split(rows, max(1, len(rows) // 250)):
        far = 1.0 - x[part] @ x.T  # (b, N)
        flat = ((xy[part, None, :].astype(np.float64) - xy[None, :, :]) ** 2).sum(-1)  # (b, N)
        far[np.arange(len(part)), part] = np.inf
        flat[np.arange(len(part)), part] = np.inf
        a = np.argpartition(far, k, axis=1)[:, :k]
        b = np.argpartition(flat, k, axis=1)[:, :k]
        kept += [len(set(p) & set(q)) / k for p, q in zip(a, b)]
        pure.append(labels[b] == labels[part, None])
    return float(np.mean(kept)), float(np.mean(np.concatenate(pure)))


def one_size(n: int, runs: int) -> dict:
    """Run in a child process: times on gaussian vectors, quality on every kind."""
    from muser_model.library.projection import _pca, _to_unit_square, _unit, compute_layout

    x, _ = vectors("gaussian", n)
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        compute_layout(x)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    median = sorted(range(runs), key=walls.__getitem__)[runs // 2]
    result = {"n": n, "wall": statistics.median(walls), "cpu": cpus[median], "walls": walls,
              "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    for kind in ("gaussian", "structured", "fake_library"):
        x, labels = vectors(kind, n)
        result[kind] = {"map": quality(x, compute_layout(x), labels),
                        "pca": quality(x, _to_unit_square(_pca(_unit(x))), labels)}
    return result


def table(results: list[dict], runs: int) -> str:
    lines = [f"Machine: {machine()}", "",
             f"| tracks | layout time (median of {runs}) | CPU time | peak memory "
             "| kNN kept, gaussian: map / PCA | structured: map / PCA | fake_library: map / PCA "
             "| cluster purity (structured): map / PCA |",
             "|---:|---:|---:|---:|---|---|---|---|"]
    for r in results:
        cells = [f"{r[k]['map'][0]:.3f} / {r[k]['pca'][0]:.3f}" for k in ("gaussian", "structured", "fake_library")]
        purity = f"{r['structured']['map'][1]:.3f} / {r['structured']['pca'][1]:.3f}"
        lines.append(f"| {r['n']:,} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['peak_mib']:.0f} MiB | "
                     + " | ".join(cells) + f" | {purity} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: one size
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.runs)))
        return
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--runs", str(args.runs)],
                             check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(f"{n:,} tracks: runs {', '.join(f'{w:.2f}' for w in results[-1]['walls'])} s", file=sys.stderr)
    print(table(results, args.runs))


if __name__ == "__main__":
    main()
