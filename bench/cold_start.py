"""Cold-start wall time of `muser tag` on a 30 s mp3 and `muser search` on a 10,000-track library
(a text query, and a one-tag query that the tag head ranks).

    python bench/cold_start.py [--runs 7] [--engines auto,torch] [--no-search]

Each run is a fresh process (imports, checkpoint load, decode, inference). `muser tag` is timed
once per engine (`--engine auto` is the default a user gets: numpy here, no torch import). The
runs of the engines are interleaved, so a burst of load from elsewhere hits them alike. The 10k library is
made by writing 10,000 catalogue rows with clustered unit vectors under the shipped checkpoint's
hash, then building its index: the query path (`muser search`) is exactly the real one.

muser's own modules are byte-compiled first, as `pip install` does and as any first run does
unless PYTHONDONTWRITEBYTECODE is set (it is on this project's build machines: without the
.pyc files every command would spend about 0.15 s more compiling muser's sources).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, summary, time_command, write_mp3  # noqa: E402


def fake_library(home: Path, n: int, seed: int = 0) -> None:
    import os

    os.environ["MUSER_HOME"] = str(home)
    from muser_model.core.checkpoint import load_checkpoint
    from muser_model.library.catalogue import TrackRow
    from muser_model.library.store import Library
    from muser_model.library.predict import numpy_predictor
    from muser_model.numpy_engine.audio import NumpyMuser
    from muser_model.torch_engine.runtime import default_checkpoint_path

    ckpt = load_checkpoint(default_checkpoint_path())
    rng = np.random.default_rng(seed)
    dim = ckpt.config.embed_dim
    centres = rng.standard_normal((n // 20, dim))
    vecs = centres[rng.integers(0, len(centres), n)] + 0.3 * rng.standard_normal((n, dim))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    lib = Library.open("bench", create=True)
    lib.adopt_model(ckpt.content_hash, dim)
    for start in range(0, n, 1000):
        rows = [TrackRow(f"/music/track{i:06d}.mp3", 1000 + i, i, vecs[i],
                         {"title": f"Track {i}", "artist": f"Artist {i % 300}", "genre": "rock"}, 200.0, 40)
                for i in range(start, min(n, start + 1000))]
        lib.catalogue.put_tracks(rows, ckpt.content_hash)
    lib.predictor = numpy_predictor(NumpyMuser.load(default_checkpoint_path()))
    lib.refresh_predictions()  # as `muser index` does: genre, mood, top tags, the heads' logits
    lib.sync_index()


def time_cpu(cmd: list[str]) -> tuple[float, float]:
    """(wall, user+system CPU) seconds of one fresh process. CPU time barely moves when other
    processes load the machine; wall time is what a user waits."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tracks", type=int, default=10_000)
    ap.add_argument("--engines", default="auto,torch", help="comma-separated --engine values to time")
    ap.add_argument("--no-search", action="store_true", help="time `muser tag` only")
    args = ap.parse_args()
    print(machine())
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "muser_model"), str(root / "muser_cli")],
                   check=True)
    load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = write_mp3(tmp / "clip30s.mp3", 30.0)
        muser = [sys.executable, "-m", "muser_cli.main"]
        engines = [e for e in args.engines.split(",") if e]
        commands = {e: muser + ["tag", str(clip), "--engine", e] for e in engines}
        times: dict[str, list[float]] = {e: [] for e in engines}
        cpu: dict[str, list[float]] = {e: [] for e in engines}
        for cmd in commands.values():
            time_command(cmd, 1)  # warm the page cache, not the process
        for _ in range(args.runs):
            for e, cmd in commands.items():
                wall, used = time_cpu(cmd)
                times[e].append(wall)
                cpu[e].append(used)
        print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.2f}")
        for e in engines:
            print(f"muser tag clip30s.mp3 --engine {e}: {summary(times[e])}; "
                  f"CPU median {statistics.median(cpu[e]):.2f} s")
        if args.no_search:
            return
        fake_library(tmp / "home", args.tracks)
        env = {"MUSER_HOME": str(tmp / "home")}
        # a text query (ANN index) and a one-tag query (ranked by the tag head over every vector)
        queries = {text: muser + ["search", text, "--library", "bench"] for text in ("melancholic piano", "sad")}
        for cmd in queries.values():
            time_command(cmd, 1, env)
        walls: dict[str, list[float]] = {text: [] for text in queries}
        for _ in range(args.runs):
            for text, cmd in queries.items():
                walls[text] += time_command(cmd, 1, env)
        for text in queries:
            print(f"muser search {text!r} on {args.tracks} tracks: {summary(walls[text])}")


if __name__ == "__main__":
    main()
