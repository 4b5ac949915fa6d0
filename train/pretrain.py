"""Tri-modal contrastive pretraining (MUSER) on a folder of captioned audio, then linear heads.

    python -m train.pretrain --data-dir CORPUS --out muser_model/checkpoints/default.muser
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from muser_model.checkpoint import Checkpoint, save_checkpoint
from muser_model.config import ModelConfig, named_config
from muser_model.inference import label_prompts
from muser_model.loss import TriModalContrastiveLoss
from muser_model.model import Muser
from muser_model.runtime import LoadedModel, resolve_device
from muser_model.text_assets import tower_identity
from muser_model.text_tower import Tokenizer
from muser_model.vocab import DEFAULT_TEMPLATES, GTZAN_GENRES, MTT_TAGS
from train.data import Clip, load_clip_audio, random_crop, read_folder
from train.evaluate import embed_clips, genre_accuracy, tag_metrics
from train.heads import fit_heads


@dataclass
class TrainConfig:
    data_dir: str
    out: str
    model: str = "default"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    clip_s: float = 12.0  # seconds of each clip kept in memory; windows are cropped from it
    gain_db: float = 5.0  # random gain augmentation range
    seed: int = 0
    device: str = "auto"
    max_clips: int = 0  # 0 = all
    heads: bool = True
    corpus_name: str = ""
    corpus_note: str = ""


def seed_everything(seed: int) -> random.Random:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return random.Random(seed)


class TextBank:
    """Every distinct caption once: frozen MiniLM features cached, or tokens when fine-tuning."""

    def __init__(self, texts: list[str], model: Muser, device: torch.device) -> None:
        self.texts = texts
        self.index = {t: i for i, t in enumerate(texts)}
        self.tokenizer = Tokenizer(model.config.text.max_tokens)
        self.trainable = model.config.text.trainable_layers > 0
        self.features = None if self.trainable else self._features(model, device)

    def _features(self, model: Muser, device: torch.device) -> torch.Tensor:
        out = []
        with torch.no_grad():
            for start in range(0, len(self.texts), 256):
                ids, mask = self.tokenizer(self.texts[start : start + 256])
                out.append(model.text_encoder(ids.to(device), mask.to(device)))
        return torch.cat(out)  # (T, 384)

    def encode(self, model: Muser, ids: list[int], device: torch.device) -> torch.Tensor:
        if self.features is not None:
            return model.encode_text_features(self.features[ids])
        tokens, mask = self.tokenizer([self.texts[i] for i in ids])
        return model.encode_text(tokens.to(device), mask.to(device))


def _gain(rng: random.Random, max_db: float) -> float:
    """Random gain of ±max_db decibels (the paper's gain augmentation)."""
    return 10 ** (rng.uniform(-max_db, max_db) / 20) if max_db else 1.0


def lr_at(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def decode_all(clips: list[Clip], cfg: TrainConfig, model_cfg: ModelConfig,
               log: Callable[[str], None]) -> tuple[list[Clip], list[np.ndarray]]:
    kept, waves = [], []
    for clip in clips:
        wave = load_clip_audio(clip, model_cfg.audio.sample_rate, cfg.clip_s, model_cfg.audio.window_s)
        if wave is None:
            log(f"skipped (undecodable or too short): {clip.path}")
            continue
        kept.append(clip)
        waves.append(wave)
    return kept, waves


def train_epochs(model: Muser, clips: list[Clip], waves: list[np.ndarray], bank: TextBank,
                 cfg: TrainConfig, device: torch.device, rng: random.Random,
                 log: Callable[[str], None]) -> dict[str, float]:
    window = int(model.config.audio.window_s * model.config.audio.sample_rate)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(clips) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, total, cfg.warmup_steps))
    loss_fn = TriModalContrastiveLoss()
    model.train()
    model.text_encoder.eval()  # frozen tower: no dropout noise
    last = {}
    for epoch in range(cfg.epochs):
        order = list(range(len(clips)))
        rng.shuffle(order)
        started, sums = time.time(), {"loss": 0.0}
        for step in range(steps_per_epoch):
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            batch = np.stack([random_crop(waves[i], window, rng) * _gain(rng, cfg.gain_db) for i in idx])
            text_ids = [bank.index[rng.choice(clips[i].texts)] for i in idx]
            out = model(wave=torch.from_numpy(batch).to(device))
            text = bank.encode(model, text_ids, device)
            loss, terms = loss_fn(out.wave, out.spec, text, model.logit_scales())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            sched.step()
            sums["loss"] += loss.item()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
        last = {k: round(v / steps_per_epoch, 4) for k, v in sums.items()}
        rate = steps_per_epoch * cfg.batch_size / (time.time() - started)
        log(f"epoch {epoch + 1}/{cfg.epochs} loss {last['loss']:.3f} "
            f"(ws {last['wave_spec']:.2f} wt {last['wave_text']:.2f} st {last['spec_text']:.2f}) "
            f"{rate:.1f} clips/s")
    model.eval()
    return last


def label_embeddings(lm: LoadedModel) -> dict[str, torch.Tensor]:
    ckpt = lm.checkpoint
    return {
        "tags": lm.embed_texts(label_prompts(lm, ckpt.tags, "tags")).cpu(),
        "genres": lm.embed_texts(label_prompts(lm, ckpt.genres, "genres")).cpu(),
    }


def make_checkpoint(model: Muser, training: dict) -> Checkpoint:
    identity = tower_identity(model.config.text.package)
    return Checkpoint(
        config=model.config,
        state_dict={k: v.detach().cpu() for k, v in model.checkpoint_state().items()},
        tags=list(MTT_TAGS), genres=list(GTZAN_GENRES), templates=dict(DEFAULT_TEMPLATES),
        text_tower=asdict(identity), training=training,
    )


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> Checkpoint:
    rng = seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    model_cfg = named_config(cfg.model)
    clips = read_folder(cfg.data_dir)
    if cfg.max_clips:
        clips = clips[: cfg.max_clips]
    train_clips = [c for c in clips if c.split == "train"]
    heldout = [c for c in clips if c.split != "train"]
    model = Muser(model_cfg)
    model.text_encoder.load_pretrained()
    model.to(device)
    started = time.time()
    train_clips, waves = decode_all(train_clips, cfg, model_cfg, log)
    log(f"{len(train_clips)} training clips decoded ({sum(map(len, waves)) / 16000 / 3600:.2f} h), "
        f"{len(heldout)} held out")
    bank = TextBank(sorted({t for c in train_clips for t in c.texts}), model, device)
    losses = train_epochs(model, train_clips, waves, bank, cfg, device, rng, log)
    train_seconds = time.time() - started

    training = {
        "corpus": cfg.corpus_name or str(cfg.data_dir), "corpus_note": cfg.corpus_note,
        "clips_train": len(train_clips), "clips_heldout": len(heldout),
        "hours_train": round(sum(map(len, waves)) / model_cfg.audio.sample_rate / 3600, 3),
        "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed,
        "final_loss": losses, "train_seconds": round(train_seconds, 1),
        "device": str(device), "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
        "date": dt.date.today().isoformat(), "metrics": {},
    }
    ckpt = make_checkpoint(model, training)
    lm = LoadedModel(model, ckpt, device)
    ckpt.label_embeddings = label_embeddings(lm)
    if cfg.heads:
        kept, embs = embed_clips(lm, train_clips)
        ckpt.heads = fit_heads(kept, embs, ckpt.tags, ckpt.genres, seed=cfg.seed)
    if heldout:
        kept, embs = embed_clips(lm, heldout)
        training["metrics"]["heldout_genre"] = genre_accuracy(lm, kept, embs)
        training["metrics"]["heldout_tags"] = tag_metrics(lm, kept, embs)
        log(f"held-out genre accuracy: {training['metrics']['heldout_genre']}")
    save_checkpoint(ckpt, cfg.out)
    log(f"saved {cfg.out} ({Path(cfg.out).stat().st_size / 1e6:.1f} MB, hash {ckpt.content_hash[:12]})")
    return ckpt


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = TrainConfig(data_dir="", out="")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", required=True)
    for name in ("model", "epochs", "batch_size", "lr", "weight_decay", "warmup_steps", "clip_s", "gain_db",
                 "seed", "device", "max_clips", "corpus_name", "corpus_note"):
        value = getattr(defaults, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--no-heads", dest="heads", action="store_false")
    return TrainConfig(**vars(p.parse_args(argv)))


if __name__ == "__main__":
    train(parse_args())
