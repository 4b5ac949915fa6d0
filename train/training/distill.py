"""Distil a cheaper spectrogram tower into the same embedding space as a trained checkpoint.

    python -m muser_train.training.distill --teacher muser_model/checkpoints/default.muser --data-dir corpus \\
        --out runs/fast.muser [--n-fft 1024 --hop-length 512 --channels 16,32,64,64,128,128]

Indexing on a CPU is bound by the spectrogram tower (most of the ~30 ms per 5 s window on a
2-core AVX2 machine). The student keeps everything of the teacher but that tower: the waveform
tower, all projections, temperatures, text side, vocabularies, templates and prompt embeddings
are copied; its spectrogram tower (a new STFT/mel front end and widths) and spec projection
learn to reproduce the teacher's normalised spectrogram-tower embedding (loss 1 - cosine) on
fixed windows of the training split. The student's vectors therefore live in the teacher's
space: text queries, stored label embeddings and the waveform tower need nothing new. The
linear-probe heads are refitted on the student's fused embeddings, as `muser train` does.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from muser_model.core.checkpoint import load_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.config import ModelConfig
from muser_model.torch_engine.model import Muser
from muser_model.torch_engine.runtime import LoadedModel, build_model
from muser_train.training.cache import build_wave_store, cache_home
from muser_train.training.datasets import load_dataset
from muser_train.training.trainer import embed_store, make_checkpoint

TOWER_PREFIXES = ("spec_encoder.", "spec_proj.")


def student_config(teacher: ModelConfig, n_fft: int, hop_length: int, channels: tuple[int, ...]) -> ModelConfig:
    return replace(teacher, audio=replace(teacher.audio, n_fft=n_fft, hop_length=hop_length),
                   spectrogram=replace(teacher.spectrogram, channels=tuple(channels)))


def build_student(teacher: Muser, cfg: ModelConfig) -> Muser:
    """The teacher with a fresh spectrogram tower: every other weight copied and frozen; the
    spec projection starts from the teacher's (same shape) and trains with the new tower."""
    student = Muser(cfg, with_text_tower=False)
    state = {k: v for k, v in teacher.state_dict().items()
             if not k.startswith("text_encoder.") and not k.startswith("spec_encoder.")}
    missing, unexpected = student.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("spec_encoder.") for k in missing), (missing, unexpected)
    for name, p in student.named_parameters():
        p.requires_grad = name.startswith(TOWER_PREFIXES)
    return student


def fixed_windows(store, window: int, per_clip: int) -> np.ndarray:
    """(N * per_clip, window) float32 windows spread evenly over each decoded clip."""
    out = []
    for i in range(len(store)):
        wave = np.asarray(store.wave(i), dtype=np.float32)
        if len(wave) < window:
            wave = np.pad(wave, (0, window - len(wave)))
        starts = np.linspace(0, len(wave) - window, per_clip).round().astype(int)
        out.extend(wave[s : s + window] for s in starts)
    return np.stack(out)


@torch.inference_mode()
def spec_targets(model: Muser, windows: np.ndarray, batch: int = 64) -> torch.Tensor:
    """(N, E) spectrogram-tower embeddings of (N, samples) windows, `batch` at a time."""
    return torch.cat([model.encode_spec(torch.from_numpy(windows[i : i + batch]))
                      for i in range(0, len(windows), batch)])


def agreement(student: Muser, windows: np.ndarray, targets: torch.Tensor, batch: int = 64) -> float:
    """Mean cosine between the student's embeddings (eval mode) and the targets."""
    was = student.training
    student.eval()
    got = spec_targets(student, windows, batch)
    student.train(was)
    return float(F.cosine_similarity(got, targets).mean())


def distil(student: Muser, windows: np.ndarray, targets: torch.Tensor, epochs: int, batch: int, lr: float,
           seed: int, log=print, valid: tuple[np.ndarray, torch.Tensor] | None = None) -> list[dict]:
    torch.manual_seed(seed)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(windows) / batch)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    student.train()
    student.wave_encoder.eval()  # frozen: keep its batch-norm statistics
    history = []
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        started, losses = time.time(), []
        order = rng.permutation(len(windows))
        for step in range(steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            x = torch.from_numpy(windows[idx])  # (B, N), exactly the windows the targets came from
            loss = (1 - F.cosine_similarity(student.encode_spec(x), targets[idx])).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        record = {"epoch": epoch, "loss": round(float(np.mean(losses)), 4), "seconds": round(time.time() - started, 1)}
        if valid is not None:
            record["valid_cosine"] = round(agreement(student, *valid), 4)
        history.append(record)
        log(f"epoch {epoch}/{epochs} " + " ".join(f"{k} {v}" for k, v in record.items() if k != "epoch"))
    student.eval()
    return history


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", required=True, type=Path)
    ap.add_argument("--data-dir", required=True, type=Path, help="A folder dataset (captions.csv with a split column).")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--n-fft", type=int, default=1024)
    ap.add_argument("--hop-length", type=int, default=512)
    ap.add_argument("--channels", default="16,32,64,64,128,128")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--windows-per-clip", type=int, default=3)
    ap.add_argument("--clip-s", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-clips", type=int, default=0, help="Use the first N clips of each split (smoke runs).")
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    from muser_train.training.heads import fit_heads

    t_ckpt = load_checkpoint(args.teacher)
    teacher = build_model(t_ckpt, torch.device("cpu")).eval()
    cfg = student_config(t_ckpt.config, args.n_fft, args.hop_length,
                         tuple(int(c) for c in args.channels.split(",")))
    student = build_student(teacher, cfg)
    report = load_dataset("folder", str(args.data_dir))
    train_ex, test_ex = report.by_split("train"), report.by_split("test")
    if args.max_clips:
        train_ex, test_ex = train_ex[: args.max_clips], test_ex[: args.max_clips]
    sr = cfg.audio.sample_rate
    cache = cache_home() / "train"
    train_store = build_wave_store([e.path for e in train_ex], sr, args.clip_s, 1.0, cache)
    test_store = build_wave_store([e.path for e in test_ex], sr, args.clip_s, 1.0, cache)
    window = round(cfg.audio.window_s * sr)
    windows = fixed_windows(train_store, window, args.windows_per_clip)
    valid_windows = fixed_windows(test_store, window, 2)
    started = time.time()
    targets, valid_targets = spec_targets(teacher, windows), spec_targets(teacher, valid_windows)
    print(f"{len(windows)} training windows, {len(valid_windows)} held-out; teacher targets in "
          f"{time.time() - started:.0f} s; held-out agreement before training "
          f"{agreement(student, valid_windows, valid_targets):.3f}")
    history = distil(student, windows, targets, args.epochs, args.batch_size, args.lr, args.seed,
                     valid=(valid_windows, valid_targets))
    training = dict(t_ckpt.training)
    training["distilled"] = {
        "teacher": str(args.teacher), "teacher_hash": t_ckpt.content_hash, "what": "spectrogram tower",
        "windows": len(windows), "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "seed": args.seed, "history": history, "date": dt.date.today().isoformat(),
        "train_seconds": round(sum(r["seconds"] for r in history), 1),
        "held_out_cosine_to_teacher": history[-1].get("valid_cosine"),
    }
    training["metrics"] = {}  # the teacher's no longer apply: run muser_train.evaluation.report --write
    ckpt = make_checkpoint(student, training, t_ckpt.tags, t_ckpt.genres, t_ckpt.templates)
    ckpt.label_embeddings = dict(t_ckpt.label_embeddings)  # text side unchanged
    lm = LoadedModel(student, ckpt, torch.device("cpu"))
    embs = embed_store(lm, train_store, [e.path for e in train_ex])
    ckpt.heads = fit_heads(train_ex, embs, ckpt.tags, ckpt.genres, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, args.out)
    print(f"saved {args.out} (hash {ckpt.content_hash[:12]}); config {asdict(cfg)['spectrogram']} "
          f"n_fft {cfg.audio.n_fft} hop {cfg.audio.hop_length}")
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
