"""MUSER tri-modal contrastive training: pretraining (PT) and fine-tuning from a checkpoint (PT+FT).

    muser train --data fma_small --data-dir ~/data/fma --out fma.muser
    muser train --data gtzan --data-dir ~/data/gtzan --init fma.muser --out gtzan.muser
    torchrun --nproc_per_node 4 -m muser_cli.main train --data mtt --data-dir ~/data/mtt --out mtt.muser

A run keeps its state in a run folder beside `--out` (`<out>.run/`): `state.pt` (weights,
optimiser, schedule, position; written atomically every epoch and on Ctrl-C, read by `--resume`),
`last.muser` every epoch, `best.muser` on the best validation score, and `log.jsonl`. Every step's
randomness (order, crops, captions, augmentations, dropout) is drawn from generators seeded by
(seed, epoch, step), so a resumed run continues exactly as an uninterrupted one would.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muser_model.core.checkpoint import Checkpoint, load_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.config import named_config
from muser_model.core.errors import ResumeStateError
from muser_model.core.scoring import label_prompts as scoring_prompts
from muser_model.torch_engine.inference import TrackEmbedding, embed_windows, label_embeddings, to_track
from muser_model.torch_engine.loss import TriModalContrastiveLoss
from muser_model.torch_engine.model import Muser
from muser_model.torch_engine.runtime import LoadedModel, build_model, resolve_device
from muser_model.core.text_assets import tower_identity
from muser_model.torch_engine.text_tower import Tokenizer
from muser_model.core.vocab import DEFAULT_TEMPLATES, GTZAN_GENRES, MTT_TAGS, genre_text
from muser_train.training import distributed
from muser_train.training.augment import AugmentConfig, augment
from muser_train.training.cache import WaveStore, build_wave_store, cache_home, cached_text_features
from muser_train.training.config import TrainConfig
from muser_train.training.datasets import DatasetError, Example, LoadReport, load_dataset
from muser_train.training.heads import genre_targets, tag_targets, teacher_vocabularies
from muser_train.training.soft_targets import soft_bce, tempered_soft_bce

# (scale, bias) the zero-shot logits start from: genres a softmax over 14 x cosine (CLIP's 1/0.07);
# tags sigmoid(10 x cosine - 3), 0.5 at a cosine of 0.3
PROMPT_AFFINE_INIT = {"genres": [14.0, 0.0], "tags": [10.0, -3.0]}
STATE_VERSION = 2  # 2: heads in one ModuleDict ("heads.<kind>.weight")


@dataclass
class StepInfo:
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    clips_per_s: float


@dataclass
class TrainResult:
    checkpoint: Checkpoint | None
    out: Path | None
    finished: bool
    steps: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)


class TrainModule(nn.Module):
    """The model plus the optional jointly-trained linear heads on the fused embedding: one module,
    so DDP sees every weight. `heads` maps a kind ("genres", "tags", "msd") to its label count."""

    def __init__(self, muser: Muser, heads: dict[str, int], prompt_kinds: Sequence[str] = ()) -> None:
        super().__init__()
        self.muser = muser
        e = muser.config.embed_dim
        self.heads = nn.ModuleDict({kind: nn.Linear(e, n) for kind, n in heads.items() if n})
        # zero-shot scores as logits: scale * cosine (+ bias for tags), one pair per kind
        self.prompt_affine = nn.ParameterDict({
            kind: nn.Parameter(torch.tensor(PROMPT_AFFINE_INIT["genres" if kind == "genres" else "tags"]))
            for kind in prompt_kinds})

    def forward(self, wave: torch.Tensor, text_features: torch.Tensor,
                prompt_features: dict[str, torch.Tensor] | None = None):
        """-> (tower outputs, {kind: (B, L) head logits}, {kind: (B, L) prompt logits})."""
        out = self.muser(wave=wave, text_features=text_features)
        fused = Muser.fuse(out.wave, out.spec)  # (B, E)
        heads = {kind: head(fused) for kind, head in self.heads.items()}
        prompts = {}
        for kind, features in (prompt_features or {}).items():
            cos = fused @ self.muser.encode_text_features(features).t()  # (B, L)
            scale, bias = self.prompt_affine[kind]
            prompts[kind] = scale * cos + (0.0 if kind == "genres" else bias)
        return out, heads, prompts

    def trainable_state(self) -> dict[str, torch.Tensor]:
        state = {f"muser.{k}": v for k, v in self.muser.checkpoint_state().items()}
        state.update({f"heads.{k}": v for k, v in self.heads.state_dict().items()})
        state.update({f"prompt_affine.{k}": v for k, v in self.prompt_affine.items()})
        return state

    def head_tensors(self) -> dict[str, torch.Tensor]:
        return {f"{kind}.{name}": t.detach().cpu().clone()
                for kind, head in self.heads.items() for name, t in head.state_dict().items()}


# -- data --------------------------------------------------------------------------------------
def load_examples(cfg: TrainConfig) -> LoadReport:
    options = {"split": cfg.mtt_split} if cfg.data == "mtt" else {}
    report = load_dataset(cfg.data, cfg.data_dir, **options)
    if cfg.template:
        for ex in report.examples:
            ex.texts = [apply_template(cfg.template, ex)] + ex.texts
    if cfg.soft_labels and cfg.teacher_captions:
        add_teacher_captions(report.examples, cfg.teacher_captions, cfg.seed)
    elif not cfg.soft_labels:
        for ex in report.examples:
            ex.teacher = {}
    scored = sum(bool(ex.teacher) for ex in report.examples)
    if scored:
        report.notes.append(f"{scored} of {len(report.examples)} clips have teacher scores "
                            f"(soft tag targets{' and captions' if cfg.teacher_captions else ''})")
    return report


def add_teacher_captions(examples: Sequence[Example], n: int, seed: int) -> None:
    """Append `n` captions sampled from each scored clip's teacher probabilities (seeded by clip)."""
    from muser_train.training.teacher_labels import teacher_captions

    for ex in examples:
        if ex.teacher:
            rng = random.Random(f"captions:{seed}:{ex.meta.get('id') or ex.path}")
            ex.texts = list(dict.fromkeys(ex.texts + teacher_captions(ex.teacher, rng, n)))


def apply_template(template: str, ex: Example) -> str:
    """Fill a caption template from a clip's metadata ({genre}, {tags}, {title}, {artist})."""
    fields = {"genre": genre_text(ex.genre) if ex.genre else "music", "tags": ", ".join(ex.tags),
              "title": ex.meta.get("title") or ex.path.stem, "artist": ex.meta.get("artist") or "unknown"}
    try:
        return " ".join(template.format(**fields).split())
    except (KeyError, IndexError, ValueError) as exc:
        raise DatasetError(f"template {template!r}: {exc} (fields: genre, tags, title, artist)") from None


def vocabularies(cfg: TrainConfig, examples: Sequence[Example], init: Checkpoint | None) -> tuple[list, list]:
    """(tags, genres) the checkpoint will carry: the dataset's own genres for genre datasets."""
    if cfg.data in ("fma_small", "gtzan"):
        genres = sorted({e.genre for e in examples if e.genre})
        return list(MTT_TAGS), genres
    if init is not None:
        return list(init.tags), list(init.genres)
    return list(MTT_TAGS), list(GTZAN_GENRES)


def validation_metric(cfg: TrainConfig, examples: Sequence[Example]) -> str:
    if cfg.select != "auto":
        return cfg.select
    if cfg.data == "mtt":
        return "pr_auc"
    if cfg.data in ("gtzan", "fma_small") or sum(bool(e.genre) for e in examples) >= 2:
        return "accuracy"
    return "pr_auc" if any(e.tags for e in examples) else "none"


class TextBank:
    """Every distinct caption once, as frozen MiniLM features (cached on disk)."""

    def __init__(self, texts: list[str], model: Muser, device: torch.device, cache: Path | None) -> None:
        self.texts = texts
        self.index = {t: i for i, t in enumerate(texts)}
        identity = json.dumps(asdict(tower_identity(model.config.text.package)), sort_keys=True)
        features = cached_text_features(texts, identity, lambda: self._compute(model, device), cache)
        self.features = torch.from_numpy(np.asarray(features, dtype=np.float32)).to(device)  # (T, 384)

    def _compute(self, model: Muser, device: torch.device) -> np.ndarray:
        tokenizer = Tokenizer(model.config.text.max_tokens)
        out = []
        with torch.no_grad():
            for start in range(0, len(self.texts), 256):
                ids, mask = tokenizer(self.texts[start : start + 256])
                out.append(model.text_encoder(ids.to(device), mask.to(device)).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, model.config.text.width), np.float32)


# -- schedule and randomness ------------------------------------------------------------------
def lr_at(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def step_seed(seed: int, epoch: int, step: int, rank: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + step * 101 + rank) % (2**31)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    order = list(range(n))
    random.Random(f"order:{seed}:{epoch}").shuffle(order)
    return order


def parameter_groups(module: TrainModule, cfg: TrainConfig) -> list[dict]:
    """The towers at cfg.lr; the jointly trained heads and prompt scales at lr x head_lr_scale
    (a linear head started from scratch barely moves in a few epochs at a tower's rate)."""
    fast = [p for p in list(module.heads.parameters()) + list(module.prompt_affine.parameters())
            if p.requires_grad]
    ids = {id(p) for p in fast}
    slow = [p for p in module.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": slow}]
    if fast:
        groups.append({"params": fast, "lr": cfg.lr * cfg.head_lr_scale})
    return groups


def make_optimizer(cfg: TrainConfig, params: list[nn.Parameter] | list[dict]) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}: adamw or sgd")


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16" or device.type != "cuda" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


# -- one run ----------------------------------------------------------------------------------
class Trainer:
    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] = print,
                 progress: Callable[[StepInfo], None] | None = None) -> None:
        self.cfg = cfg
        self.env = distributed.setup(resolve_device(cfg.device))
        self.device = self.env.device
        self.log = log if self.env.is_main else (lambda _msg: None)
        self.progress = progress if self.env.is_main else None
        self.out = Path(cfg.out)
        self.run_dir = Path(cfg.run_dir) if cfg.run_dir else self.out.with_name(self.out.name + ".run")
        self.cache = None if cfg.cache_dir == "none" else Path(cfg.cache_dir or cache_home() / "train")
        self.aug = AugmentConfig(gain_db=cfg.gain_db, noise_prob=cfg.noise_prob, lowpass_prob=cfg.lowpass_prob)
        self.amp = autocast_dtype(cfg.amp, self.device)
        self._lm: LoadedModel | None = None  # see _loaded

    # setup ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        report = load_examples(cfg)
        for note in report.notes:
            self.log(note)
        if report.missing:
            self.log(f"{len(report.missing)} file(s) listed in the metadata are missing, "
                     f"e.g. {report.missing[0]}")
        train = report.by_split("train")
        valid = report.by_split("valid")
        if not valid and report.by_split("test") and cfg.select != "none":
            valid = report.by_split("test")
            self.log("no valid split: the test split is used to select the best epoch")
        if cfg.max_clips:
            train, valid = train[: cfg.max_clips], valid[: max(1, cfg.max_clips // 4)]
        if not train:
            raise DatasetError(f"{cfg.data_dir}: no training clips in the train split")
        self.init = load_checkpoint(cfg.init) if cfg.init else None
        self.muser = self._build_model()
        tags, genres = vocabularies(cfg, train, self.init)
        self.tags, self.genres = tags, genres
        self.extra_vocabs = teacher_vocabularies(train)  # {"msd": labels} when clips have scores
        self.train_store, self.train_ex = self._decode(train, "training")
        self.valid_store, self.valid_ex = self._decode(valid, "validation") if valid else (None, [])
        self.metric = validation_metric(cfg, self.valid_ex) if self.valid_ex else "none"
        self.prompts = self._prompt_texts() if cfg.prompt_weight > 0 else {}
        self.bank = TextBank(sorted({t for e in self.train_ex for t in e.texts}
                                    | {t for texts in self.prompts.values() for t in texts}),
                             self.muser, self.device, self.cache)
        kinds = {"genres": len(genres), "tags": len(tags),
                 **{k: len(v) for k, v in self.extra_vocabs.items()}}
        self.module = TrainModule(self.muser, kinds if cfg.heads.startswith("finetune") else {},
                                  list(self.prompts)).to(self.device)
        if self.init is not None:
            start_heads_from(self.module, self.init.heads)
        self.targets = self._clip_targets(set(self.module.heads) | set(self.prompts))
        self.prompt_features = {kind: self.bank.features[[self.bank.index[t] for t in texts]]
                                for kind, texts in self.prompts.items()}  # kind -> (L, 384)
        self.ddp = self._wrap(self.module)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.opt = make_optimizer(cfg, parameter_groups(self.module, cfg))
        world_batch = cfg.batch_size * cfg.accum_steps * self.env.world_size
        self.steps_per_epoch = max(1, len(self.train_ex) // world_batch)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_at(s, self.total_steps, cfg.warmup_steps))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.loss_fn = TriModalContrastiveLoss()
        self.position, self.best, self.history = (0, 0), None, []
        if cfg.resume:
            self._load_state()
        self.log(f"{len(self.train_ex)} training clips ({self.train_store.seconds / 16000 / 3600:.2f} h), "
                 f"{len(self.valid_ex)} validation; {self.steps_per_epoch} steps/epoch × {cfg.epochs}, "
                 f"global batch {world_batch} on {self.env.world_size} process(es), device {self.device}"
                 + (f", autocast {str(self.amp).replace('torch.', '')}" if self.amp else ""))

    def _prompt_texts(self) -> dict[str, list[str]]:
        """kind -> each label's prompt, as `muser tag` embeds them (the checkpoint's templates)."""
        templates = dict(self.init.templates) if self.init is not None else dict(DEFAULT_TEMPLATES)
        kinds = {"genres": self.genres, "tags": self.tags, **self.extra_vocabs}
        return {kind: scoring_prompts(templates, labels, kind)
                for kind, labels in kinds.items() if labels}

    def _build_model(self) -> Muser:
        if self.init is not None:
            model = build_model(self.init, self.device)
            model.attach_text_tower().load_pretrained()
            return model.to(self.device)
        model = Muser(named_config(self.cfg.model))
        model.text_encoder.load_pretrained()
        return model.to(self.device)

    def _decode(self, examples: list[Example], what: str) -> tuple[WaveStore, list[Example]]:
        audio_cfg = self.muser.config.audio
        paths = [e.path for e in examples]
        if self.env.is_main:
            store = build_wave_store(paths, audio_cfg.sample_rate, self.cfg.clip_s, audio_cfg.window_s,
                                     self.cache, self.cfg.workers, self.log)
        self.env.barrier()
        if not self.env.is_main:  # the main process has filled the cache: read it back
            store = build_wave_store(paths, audio_cfg.sample_rate, self.cfg.clip_s, audio_cfg.window_s,
                                     self.cache, self.cfg.workers, lambda _m: None)
        if store.skipped:
            self.log(f"{len(store.skipped)} {what} clip(s) skipped as undecodable or too short")
        return store, [examples[i] for i in store.kept]

    def _wrap(self, module: TrainModule) -> nn.Module:
        if not self.env.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            return DistributedDataParallel(module, device_ids=[self.device.index])
        return DistributedDataParallel(module)

    # state ---------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.pt"

    def _save_state(self) -> None:
        if not self.env.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {"version": STATE_VERSION, "config": asdict(self.cfg), "position": self.position,
                 "module": {k: v.detach().cpu() for k, v in self.module.trainable_state().items()},
                 "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                 "scaler": self.scaler.state_dict(), "best": self.best, "history": self.history}
        tmp = self.state_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.state_path)

    def _load_state(self) -> None:
        if not self.state_path.is_file():
            raise ResumeStateError(f"{self.state_path}: no training state to resume from")
        state = torch.load(self.state_path, map_location=self.device, weights_only=False)
        if state.get("version") != STATE_VERSION:
            raise ResumeStateError(f"{self.state_path}: written by another trainer version "
                                   f"({state.get('version')}, this one writes {STATE_VERSION}); "
                                   "start the run again without --resume")
        missing, unexpected = self.module.load_state_dict(state["module"], strict=False)
        if unexpected or [k for k in missing if ".text_encoder." not in k]:
            raise ResumeStateError(f"{self.state_path}: saved weights do not fit this model "
                               f"(missing {missing[:2]}, unexpected {unexpected[:2]})")
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.position, self.best, self.history = tuple(state["position"]), state["best"], state["history"]
        self.log(f"resuming at epoch {self.position[0] + 1}, step {self.position[1]} from {self.state_path}")

    # training ------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self.prepare()
        try:
            finished = self._epochs()
        except KeyboardInterrupt:
            self._save_state()
            self.log(f"interrupted: state saved to {self.state_path}; continue with --resume")
            raise
        finally:
            self.env.close()
        if not finished or not self.env.is_main:
            return TrainResult(None, None, finished, self.global_step, self.train_store.skipped, self.history)
        ckpt = self.finalise()
        return TrainResult(ckpt, self.out, True, self.global_step, self.train_store.skipped, self.history)

    @property
    def global_step(self) -> int:
        return self.position[0] * self.steps_per_epoch + self.position[1]

    def _epochs(self) -> bool:
        cfg = self.cfg
        while self.position[0] < cfg.epochs:
            epoch, start = self.position
            self.module.train()
            if self.muser.text_encoder is not None:
                self.muser.text_encoder.eval()  # frozen tower: no dropout noise
            order = epoch_order(len(self.train_ex), cfg.seed, epoch)
            sums, started = {}, time.time()
            for step in range(start, self.steps_per_epoch):
                terms = self._step(order, epoch, step)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                self.position = (epoch, step + 1)
                done = step + 1 - start
                clips = done * cfg.batch_size * cfg.accum_steps * self.env.world_size
                info = StepInfo(epoch + 1, cfg.epochs, step + 1, self.steps_per_epoch, terms["loss"],
                                clips / max(1e-9, time.time() - started))
                if self.progress:
                    self.progress(info)
                elif (step + 1) % max(1, self.steps_per_epoch // 5) == 0:  # no bar (a log file): a line
                    self.log(f"  epoch {info.epoch} step {info.step}/{info.steps} loss {info.loss:.3f} "
                             f"{info.clips_per_s:.1f} clips/s")
                if cfg.max_steps and self.global_step >= cfg.max_steps and self.position[1] < self.steps_per_epoch:
                    self._save_state()
                    self.log(f"stopped after {self.global_step} steps (--max-steps); state in {self.state_path}")
                    return False
            self.position = (epoch + 1, 0)
            n = max(1, self.steps_per_epoch - start)
            record = {"epoch": epoch + 1, **{k: round(v / n, 4) for k, v in sums.items()},
                      "seconds": round(time.time() - started, 1)}
            record.update(self._end_epoch(record))
            self.history.append(record)
            self.log(self._epoch_line(record))
            self._save_state()
            if cfg.max_steps and self.global_step >= cfg.max_steps and self.position[0] < cfg.epochs:
                self.log(f"stopped after {self.global_step} steps (--max-steps); state in {self.state_path}")
                return False
        return True

    def _batch(self, order: list[int], epoch: int, step: int, micro: int,
               ) -> tuple[torch.Tensor, list[int], list[int]]:
        """(B, N) cropped windows, caption ids and clip indices of one micro-batch of this process."""
        cfg, env = self.cfg, self.env
        window = int(self.muser.config.audio.window_s * self.muser.config.audio.sample_rate)
        per_step = cfg.batch_size * cfg.accum_steps * env.world_size
        chunk = order[step * per_step : (step + 1) * per_step]
        mine = chunk[env.rank :: env.world_size]  # this process's share of the global batch
        idx = mine[micro * cfg.batch_size : (micro + 1) * cfg.batch_size]
        rng = random.Random(step_seed(cfg.seed, epoch, step * 1000 + micro, env.rank))
        crops = []
        for i in idx:
            start = rng.randint(0, self.train_store.length(i) - window)
            crops.append(self.train_store.wave(i)[start : start + window])
        text_ids = [self.bank.index[rng.choice(self.train_ex[i].texts)] for i in idx]
        return torch.from_numpy(np.stack(crops)), text_ids, idx

    def _step(self, order: list[int], epoch: int, step: int) -> dict[str, float]:
        cfg = self.cfg
        self.opt.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for micro in range(cfg.accum_steps):
            seed = step_seed(cfg.seed, epoch, step * 1000 + micro, self.env.rank)
            torch.manual_seed(seed)  # dropout
            gen = torch.Generator().manual_seed(seed)
            wave, text_ids, idx = self._batch(order, epoch, step, micro)
            wave = augment(wave.to(self.device), self.aug, self.muser.config.audio.sample_rate, gen)
            loss, terms = self._loss(wave, text_ids, idx)
            sync = micro == cfg.accum_steps - 1 or not self.env.enabled
            if sync:
                self.scaler.scale(loss / cfg.accum_steps).backward()
            else:
                with self.ddp.no_sync():
                    self.scaler.scale(loss / cfg.accum_steps).backward()
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v / cfg.accum_steps
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.params, 5.0)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return totals

    def _loss(self, wave: torch.Tensor, text_ids: list[int], idx: list[int]):
        features = self.bank.features[text_ids]
        with torch.autocast(self.device.type, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None):
            out, head_logits, prompt_logits = self.ddp(wave, features, self.prompt_features)
        g = self.env.gather
        w, s, t = g(out.wave.float()), g(out.spec.float()), g(out.text.float())  # (world*B, E)
        loss, terms = self.loss_fn(w, s, t, self.muser.logit_scales())
        terms = {"loss": float(loss.detach()), **terms}
        if head_logits:
            head_terms = self._head_losses(head_logits, idx)
            terms.update({f"head_{k}": float(v.detach()) for k, v in head_terms.items()})
            loss = loss + self.cfg.head_weight * torch.stack(list(head_terms.values())).sum()
        if prompt_logits:
            prompt_terms = self._head_losses(prompt_logits, idx)
            terms.update({f"prompt_{k}": float(v.detach()) for k, v in prompt_terms.items()})
            loss = loss + self.cfg.prompt_weight * torch.stack(list(prompt_terms.values())).sum()
        return loss, terms

    def _clip_targets(self, kinds) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """kind -> ((N, L) targets, (N,) weights) of every training clip, built once per run:
        soft or hard tag targets (`heads.tag_targets`), genre distributions (`genre_targets`)."""
        out = {}
        for kind in kinds:
            if kind == "genres":
                target, weight = genre_targets(self.train_ex, self.genres, self.cfg.soft_labels,
                                               self.cfg.genre_evidence_weight)
            else:
                target, weight = tag_targets(self.train_ex, kind, self.tags, self.cfg.soft_labels)
            out[kind] = (target.to(self.device), weight.reshape(-1).to(self.device))
        return out

    def _head_losses(self, logits: dict[str, torch.Tensor], idx: list[int]) -> dict[str, torch.Tensor]:
        """kind -> loss of each jointly trained head (or prompt score) on this micro-batch: tags
        soft BCE (tempered when soft_temperature != 1), genres cross-entropy against target
        distributions. Every rank adds every term (zero-weighted where no clip qualifies) so DDP
        sees the same graph everywhere."""
        out = {}
        for kind, z in logits.items():
            z = z.float()  # (B, L)
            target, weight = (t[idx] for t in self.targets[kind])  # (B, L), (B,)
            if kind == "genres":
                per_clip = -(target * F.log_softmax(z, -1)).sum(-1)  # (B,)
                out[kind] = (per_clip * weight).sum() / weight.sum().clamp_min(1.0)
            elif self.cfg.soft_temperature != 1.0:
                out[kind] = tempered_soft_bce(z, target, self.cfg.soft_temperature, weight[:, None])
            else:
                out[kind] = soft_bce(z, target, weight[:, None])
        return out

    # evaluation and export ------------------------------------------------------------------
    def _end_epoch(self, record: dict) -> dict:
        """Validate, write last.muser and (when it improved) best.muser. Main process only."""
        extra: dict = {}
        if self.env.is_main:
            self.module.eval()
            ckpt = self.export(record)
            if self.metric != "none":
                score = self._validate(ckpt)
                extra["valid_" + self.metric] = score
                if self.best is None or score > self.best["score"]:
                    self.best = {"score": score, "epoch": record["epoch"], "metric": self.metric}
                    ckpt.training["selected"] = dict(self.best)
                    save_checkpoint(ckpt, self.run_dir / "best.muser")
            save_checkpoint(ckpt, self.run_dir / "last.muser")
        self.env.barrier()
        return extra

    def _loaded(self, ckpt: Checkpoint) -> LoadedModel:
        """The training model seen through `ckpt`; its text tower is prepared once per run."""
        if self._lm is None:
            self._lm = LoadedModel(self.muser, ckpt, self.device)
        self._lm.checkpoint = ckpt
        return self._lm

    def _validate(self, ckpt: Checkpoint) -> float:
        from muser_train.evaluation.evaluate import genre_accuracy, genre_metrics, tag_metrics

        lm = self._loaded(ckpt)
        embs = embed_store(lm, self.valid_store, [e.path for e in self.valid_ex])
        if self.metric == "accuracy" and self.cfg.data in ("gtzan", "fma_small"):
            rows = [i for i, e in enumerate(self.valid_ex) if e.genre]
            return genre_metrics(lm, [self.valid_ex[i] for i in rows], [embs[i] for i in rows])["accuracy"]
        if self.metric == "accuracy":  # a folder: clips whose genre is one of the checkpoint's
            return genre_accuracy(lm, self.valid_ex, embs).get("zero_shot_fused", 0.0)
        return tag_metrics(lm, self.valid_ex, embs)["zero_shot_fused_pr_auc"]

    def export(self, record: dict | None = None) -> Checkpoint:
        cfg = self.cfg
        templates = dict(self.init.templates) if self.init is not None else dict(DEFAULT_TEMPLATES)
        training = {
            "corpus": cfg.corpus_name or f"{cfg.data}:{cfg.data_dir}", "corpus_note": cfg.corpus_note,
            "init": str(cfg.init) if cfg.init else None,
            "clips_train": len(self.train_ex), "clips_valid": len(self.valid_ex),
            "clips_skipped": len(self.train_store.skipped),
            "hours_train": round(self.train_store.seconds / self.muser.config.audio.sample_rate / 3600, 3),
            "epochs": cfg.epochs, "epochs_done": self.position[0], "steps": self.global_step,
            "batch_size": cfg.batch_size * cfg.accum_steps * self.env.world_size, "lr": cfg.lr,
            "optimizer": cfg.optimizer, "seed": cfg.seed, "world_size": self.env.world_size,
            "augment": asdict(self.aug), "heads": cfg.heads, "last_epoch": record or {},
            "device": str(self.device), "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
            "date": dt.date.today().isoformat(), "metrics": {},
        }
        ckpt = make_checkpoint(self.muser, training, self.tags, self.genres, templates,
                               self.extra_vocabs)
        lm = self._loaded(ckpt)
        ckpt.label_embeddings = label_embeddings(lm)  # every kind of the table make_checkpoint wrote
        ckpt.heads = self.module.head_tensors()
        return ckpt

    def finalise(self) -> Checkpoint:
        """The best (or last) checkpoint, with a linear probe and hidden-layer tag heads fitted
        if asked, saved to `out`."""
        from muser_train.training.heads import fit_heads
        from muser_train.training.refit_heads import replace_tag_heads

        best = self.run_dir / "best.muser"
        source = best if best.is_file() else self.run_dir / "last.muser"
        ckpt = load_checkpoint(source)
        probe = self.cfg.heads in ("probe", "finetune+probe")
        mlp = self.cfg.tag_head_hidden > 0 and self.cfg.heads != "none"
        if probe or mlp:
            lm = LoadedModel(build_model(ckpt, self.device), ckpt, self.device)
            embs = embed_store(lm, self.train_store, [e.path for e in self.train_ex])
        if probe:
            ckpt.heads = fit_heads(self.train_ex, embs, ckpt.tags, ckpt.genres, seed=self.cfg.seed,
                                   extra_vocabs=self.extra_vocabs, soft=self.cfg.soft_labels,
                                   evidence_weight=self.cfg.genre_evidence_weight)
        if mlp:
            replace_tag_heads(ckpt, self.train_ex, embs, self.cfg.tag_head_hidden, seed=self.cfg.seed,
                              soft=self.cfg.soft_labels, corpus=self.cfg.corpus_name)
        ckpt.training["history"] = self.history
        ckpt.training["train_seconds"] = round(sum(r["seconds"] for r in self.history), 1)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(ckpt, self.out)
        self.log(f"saved {self.out} from {source.name} ({self.out.stat().st_size / 1e6:.1f} MB, "
                 f"hash {ckpt.content_hash[:12]})")
        return ckpt

    def _epoch_line(self, r: dict) -> str:
        parts = [f"epoch {r['epoch']}/{self.cfg.epochs}", f"loss {r.get('loss', float('nan')):.3f}"]
        parts += [f"{k} {v}" for k, v in r.items() if k.startswith("valid_")]
        return " ".join(parts) + f" ({r['seconds']:.0f} s)"


def start_heads_from(module: TrainModule, heads: dict[str, torch.Tensor]) -> list[str]:
    """Copy the --init checkpoint's linear heads into the jointly trained ones where the shapes
    fit (fine-tuning keeps what the heads knew); returns the kinds copied."""
    copied = []
    with torch.no_grad():
        for kind, layer in module.heads.items():
            w, b = heads.get(f"{kind}.weight"), heads.get(f"{kind}.bias")
            if f"{kind}.hidden.weight" in heads:
                continue  # a head with a hidden layer does not fit a linear one, whatever its shape
            if w is not None and b is not None and w.shape == layer.weight.shape:
                layer.weight.copy_(w)
                layer.bias.copy_(b)
                copied.append(kind)
    return copied


def make_checkpoint(model: Muser, training: dict, tags: Sequence[str] = MTT_TAGS,
                    genres: Sequence[str] = GTZAN_GENRES, templates: dict | None = None,
                    extra_vocabs: dict[str, list[str]] | None = None) -> Checkpoint:
    """A checkpoint of `model`'s current weights (label embeddings and heads are added after).
    With `extra_vocabs` ({"msd": labels}) it carries the vocabulary table (origins and groups)."""
    identity = tower_identity(model.config.text.package)
    ckpt = Checkpoint(
        config=model.config, state_dict={k: v.detach().cpu() for k, v in model.checkpoint_state().items()},
        tags=list(tags), genres=list(genres), templates=dict(templates or DEFAULT_TEMPLATES),
        text_tower=asdict(identity), training=training,
    )
    if extra_vocabs:
        ckpt.vocabularies = vocabulary_table(tags, extra_vocabs)
    return ckpt


def vocabulary_table(tags: Sequence[str], extra_vocabs: dict[str, list[str]]) -> dict:
    """`vocab_groups.to_dict` of the checkpoint's tag vocabularies: MTT when `tags` is MTT-50,
    and every extra one (each must be the known vocabulary of that name, in its order)."""
    from muser_model.core import vocab_groups

    known = vocab_groups.VOCABULARIES
    chosen = {"mtt": known["mtt"]} if tuple(tags) == known["mtt"].labels else {}
    for name, labels in extra_vocabs.items():
        if tuple(labels) != known[name].labels:
            raise ValueError(f"vocabulary {name!r}: labels differ from muser_model.core.vocab_groups")
        chosen[name] = known[name]
    return vocab_groups.to_dict(chosen)


def embed_store(lm: LoadedModel, store: WaveStore, paths: Sequence[Path], batch_size: int = 32,
                ) -> list[TrackEmbedding]:
    """Track embeddings of decoded clips: fixed windows at the model's hop, as `muser tag` does."""
    cfg = lm.config.audio
    window, hop = int(cfg.window_s * cfg.sample_rate), int(cfg.hop_s * cfg.sample_rate)

    def windows(i: int):
        wave = store.wave(i)
        for start in range(0, max(1, len(wave) - window + 1), hop):
            yield wave[start : start + window]

    items = ((i, windows(i)) for i in range(len(store)))
    was_training = lm.model.training
    lm.model.eval()
    out = [to_track(paths[i], chunks, cfg.window_s, cfg.hop_s) for i, chunks in embed_windows(lm, items, batch_size)]
    lm.model.train(was_training)
    return out


def train(cfg: TrainConfig, log: Callable[[str], None] = print,
          progress: Callable[[StepInfo], None] | None = None) -> TrainResult:
    return Trainer(cfg, log, progress).run()
