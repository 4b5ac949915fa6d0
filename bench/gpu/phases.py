"""Where `muser index --device cuda` spends its start-up, and what the GPU alone can embed.

    python bench/gpu/phases.py [--device cuda] [--windows 3072]

Prints the wall time of each start-up step in a fresh process (import torch, CUDA context, checkpoint
load, first batch) and the model-only rate in windows per second (and audio-seconds per second) at
several batch sizes and precisions, with the input already in host memory as the decoders send it
(float16), synchronised after every batch as the scan does.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--windows", type=int, default=3072)
    args = ap.parse_args()
    print(machine())
    t0 = time.perf_counter()
    import torch

    t1 = time.perf_counter()
    torch.zeros(1, device=args.device)
    t2 = time.perf_counter()
    import numpy as np

    from muser_model.torch_engine.inference import embed_windows
    from muser_model.torch_engine.runtime import load_model

    lm = load_model(None, args.device, "auto")
    t3 = time.perf_counter()
    cfg = lm.config.audio
    n = int(cfg.window_s * cfg.sample_rate)
    windows = np.random.default_rng(0).standard_normal((256, n)).astype(np.float16) * 0.1

    def run(model, batch_size: int, total: int) -> float:
        """Seconds to embed `total` windows through inference.embed_windows, as a scan does."""
        started = time.perf_counter()
        list(embed_windows(model, [("x", (windows[i % len(windows)] for i in range(total)))], batch_size))
        return time.perf_counter() - started

    first = run(lm, 16, 16)
    print(f"start-up: import torch {t1 - t0:.2f} s, CUDA context {t2 - t1:.2f} s, checkpoint load "
          f"{t3 - t2:.2f} s, first batch of 16 {first:.2f} s")
    for precision in ("auto", "fp32"):
        model = lm if precision == "auto" else load_model(None, args.device, "fp32")
        for batch_size in (16, 64, 256):
            run(model, batch_size, batch_size * 2)  # warm-up (kernel selection)
            seconds = run(model, batch_size, args.windows)
            rate = args.windows / seconds
            print(f"model only, {precision} ({model.autocast_dtype}), batch {batch_size}: {rate:,.0f} windows/s "
                  f"= {rate * cfg.hop_s:,.0f}x real time at the {cfg.hop_s:g} s hop")


if __name__ == "__main__":
    main()
