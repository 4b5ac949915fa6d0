"""`TrainConfig`: every setting of a training run, and the one table of its command-line options.

Each field's metadata holds its `muser train` option (flag, help, bounds, allowed values), so the
command line (`muser_cli.train_cmd`) is derived from this class and the two cannot drift apart.
Torch-free: the CLI imports it to build its options before any training code is loaded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from muser_train.errors import ConfigValueError

DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def option(default: Any, flag: str, help: str, *, choices: tuple[str, ...] = (), required: bool = False,
           short: str = "", path: bool = False, **bounds: Any) -> Any:
    """A dataclass field whose metadata describes its command-line option. `flag` is the long
    option ("--a/--no-a" for a switch pair), `short` an extra short one, `bounds` typer's min/max,
    `choices` the allowed values (checked by TrainConfig itself), `required` whether the command
    line must give it, `path` whether the command line reads it as a file path."""
    meta = {"flag": flag, "short": short, "help": help, "choices": choices, "required": required,
            "path": path, "bounds": bounds}
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    data: str = option("folder", "--data", "fma_small, mtt, gtzan or folder.",
                       choices=("fma_small", "mtt", "gtzan", "folder"), required=True)
    data_dir: str = option("", "--data-dir", "The dataset's folder, in its usual layout.", required=True,
                           path=True)
    # the final checkpoint: best on validation, else the last epoch
    out: str = option("", "--out", "Where to write the trained checkpoint (.muser).", required=True,
                      short="-o", path=True)
    run_dir: str = option("", "--run-dir", "Run state folder (default <out>.run).", path=True)
    init: str = option("", "--init", "Fine-tune this checkpoint (PT+FT).", path=True)
    resume: bool = option(False, "--resume", "Continue the run saved in <out>.run/.")
    # architecture for a fresh model (ignored with --init)
    model: str = option("default", "--model", "Architecture of a fresh model: tiny, default, paper.")
    epochs: int = option(10, "--epochs", "Passes over the training clips.", min=1)
    batch_size: int = option(32, "--batch-size", "Clips per process per micro-batch.", min=2)
    accum_steps: int = option(1, "--accum-steps", "Micro-batches per optimiser step.", min=1)
    # sgd is the paper's: Nesterov momentum 0.9
    optimizer: str = option("adamw", "--optimizer", "adamw, or sgd (the paper's).", choices=("adamw", "sgd"))
    lr: float = option(1e-3, "--lr", "Peak learning rate (after the warm-up).")
    weight_decay: float = option(0.01, "--weight-decay", "Weight decay of the optimiser.")
    warmup_steps: int = option(50, "--warmup-steps", "Optimiser steps of linear warm-up.", min=0)
    # seconds of each clip decoded; training windows are cropped from it
    clip_s: float = option(30.0, "--clip-seconds", "Seconds of each clip to decode and crop from.")
    gain_db: float = option(5.0, "--gain-db", "Random gain range (0: off).")
    noise_prob: float = option(0.0, "--noise-prob", "Chance of coloured noise (SNR 5-20 dB).")
    lowpass_prob: float = option(0.0, "--lowpass-prob", "Chance of a 400-1000 Hz low-pass.")
    # auto: bf16/fp16 on CUDA, off on CPU
    amp: str = option("auto", "--amp", "auto (on CUDA), bf16, fp16 or off.",
                      choices=("auto", "bf16", "fp16", "off"))
    # probe (linear, fitted after training) | finetune (trained jointly) | finetune+probe (trained
    # jointly, so their losses shape the towers, then refitted as the probe) | none
    heads: str = option("probe", "--heads",
                        "probe, finetune (trained jointly), finetune+probe (then refitted) or none.",
                        choices=("probe", "finetune", "finetune+probe", "none"))
    # 0: linear tag heads; N > 0: after training, the MTT-50 and teacher-vocabulary tag heads are
    # refitted with a hidden layer of N units on the frozen track embeddings (the genre head stays)
    tag_head_hidden: int = option(0, "--tag-head-hidden",
                                  "Refit the tag heads with a hidden layer of N units after training (0: linear).",
                                  min=0)
    head_weight: float = option(1.0, "--head-weight", "Weight of the jointly trained heads' losses.", min=0.0)
    # jointly trained heads and prompt scales learn this much faster than the towers
    head_lr_scale: float = option(10.0, "--head-lr-scale",
                                  "Learning-rate factor of the jointly trained heads and prompt scales.", min=0.0)
    # clips with teacher scores (a folder's ensemble_scores.npz): soft targets for the MTT-50 and
    # MSD-50 tag heads, captions sampled from the probabilities, teacher evidence for the genre head
    soft_labels: bool = option(True, "--soft-labels/--no-soft-labels",
                               "Use a folder's teacher scores (ensemble_scores.npz) as soft targets.")
    teacher_captions: int = option(4, "--teacher-captions", "Captions sampled per scored clip from its teacher tags.",
                                   min=0)
    # 1: BCE on the probabilities; > 1: tempered_soft_bce
    soft_temperature: float = option(1.0, "--soft-temperature", "Temperature of the soft tag targets (1: plain BCE).",
                                     min=0.1)
    genre_evidence_weight: float = option(0.5, "--genre-evidence-weight",
                                          "Weight of the genre targets derived from teacher scores.", min=0.0)
    # the zero-shot scores (cosine of the fused embedding to each label's prompt) trained on the same
    # genre and tag targets as the heads; 0 = off
    prompt_weight: float = option(0.0, "--prompt-weight",
                                  "Train the zero-shot prompt scores on the head targets too (0: off).", min=0.0)
    select: str = option("auto", "--select", "Best-epoch metric: auto, accuracy, pr_auc, none.",
                         choices=("auto", "accuracy", "pr_auc", "none"))
    mtt_split: str = option("auto", "--mtt-split",
                            "MTT only: auto (sota if its split files exist, else musicnn), sota, musicnn.",
                            choices=("auto", "sota", "musicnn"))
    # replaces each clip's first caption
    template: str = option("", "--template", 'Caption template, e.g. "The song belongs to {genre}".')
    # "" = $MUSER_HOME/cache or the user cache dir; "none" = no cache
    cache_dir: str = option("", "--cache-dir", 'Decoded-audio/text cache ("none" to disable).')
    workers: int = option(2, "--workers", "Decoding threads.", min=1)
    seed: int = option(0, "--seed", "Random seed (initialisation, shuffling, augmentation).")
    device: str = option("auto", "--device", "auto, cpu or cuda.")
    max_clips: int = option(0, "--max-clips", "Use only the first N clips (0: all).", min=0)
    # stop after this many optimiser steps in all (state saved; --resume goes on)
    max_steps: int = option(0, "--max-steps", "Stop after N steps; --resume goes on.", min=0)
    corpus_name: str = option("", "--corpus-name", "How the checkpoint names its training data.")
    corpus_note: str = option("", "--corpus-note", "A note on the data, kept in the checkpoint.")

    def __post_init__(self) -> None:
        """A value outside a field's allowed set is refused here, whoever builds the config."""
        for f in fields(self):
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) not in allowed:
                raise ConfigValueError(f.name, getattr(self, f.name), allowed)
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigValueError("device", self.device, DEVICES)


def option_flag(key: str) -> str:
    """The command-line option of a TrainConfig field, e.g. `clip_s` -> `--clip-seconds`."""
    flag = next(f.metadata["flag"] for f in fields(TrainConfig) if f.name == key)
    return flag.split("/")[0]
