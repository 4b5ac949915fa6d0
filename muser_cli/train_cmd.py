"""`muser train`: parse options, run `muser_train.training.trainer.train`, show progress on stderr."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from muser_cli import output
from muser_cli.common import DeviceOpt


def train(
    data: str = typer.Option(..., "--data", help="fma_small, mtt, gtzan or folder."),
    data_dir: Path = typer.Option(..., "--data-dir", help="The dataset's folder, in its usual layout."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the trained checkpoint (.muser)."),
    init: Optional[Path] = typer.Option(None, "--init", help="Fine-tune this checkpoint (PT+FT)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in <out>.run/."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run state folder (default <out>.run)."),
    model: str = typer.Option("default", "--model", help="Architecture of a fresh model: tiny, default, paper."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training clips."),
    batch_size: int = typer.Option(32, "--batch-size", min=2, help="Clips per process per micro-batch."),
    accum_steps: int = typer.Option(1, "--accum-steps", min=1, help="Micro-batches per optimiser step."),
    optimizer: str = typer.Option("adamw", "--optimizer", help="adamw, or sgd (the paper's)."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (after the warm-up)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay", help="Weight decay of the optimiser."),
    warmup_steps: int = typer.Option(50, "--warmup-steps", min=0, help="Optimiser steps of linear warm-up."),
    clip_s: float = typer.Option(30.0, "--clip-seconds", help="Seconds of each clip to decode and crop from."),
    gain_db: float = typer.Option(5.0, "--gain-db", help="Random gain range (0: off)."),
    noise_prob: float = typer.Option(0.0, "--noise-prob", help="Chance of coloured noise (SNR 5-20 dB)."),
    lowpass_prob: float = typer.Option(0.0, "--lowpass-prob", help="Chance of a 400-1000 Hz low-pass."),
    amp: str = typer.Option("auto", "--amp", help="auto (on CUDA), bf16, fp16 or off."),
    heads: str = typer.Option("probe", "--heads",
                              help="probe, finetune (trained jointly), finetune+probe (then refitted) or none."),
    tag_head_hidden: int = typer.Option(0, "--tag-head-hidden", min=0,
                                        help="Refit the tag heads with a hidden layer of N units after training (0: linear)."),
    select: str = typer.Option("auto", "--select", help="Best-epoch metric: auto, accuracy, pr_auc, none."),
    soft_labels: bool = typer.Option(True, "--soft-labels/--no-soft-labels",
                                     help="Use a folder's teacher scores (ensemble_scores.npz) as soft targets."),
    teacher_captions: int = typer.Option(4, "--teacher-captions", min=0,
                                         help="Captions sampled per scored clip from its teacher tags."),
    soft_temperature: float = typer.Option(1.0, "--soft-temperature", min=0.1,
                                           help="Temperature of the soft tag targets (1: plain BCE)."),
    prompt_weight: float = typer.Option(0.0, "--prompt-weight", min=0.0,
                                        help="Train the zero-shot prompt scores on the head targets too (0: off)."),
    mtt_split: str = typer.Option("auto", "--mtt-split",
                                  help="MTT only: auto (sota if its split files exist, else musicnn), sota, musicnn."),
    template: str = typer.Option("", "--template", help='Caption template, e.g. "The song belongs to {genre}".'),
    cache_dir: str = typer.Option("", "--cache-dir", help='Decoded-audio/text cache ("none" to disable).'),
    workers: int = typer.Option(2, "--workers", min=1, help="Decoding threads."),
    seed: int = typer.Option(0, "--seed", help="Random seed (initialisation, shuffling, augmentation)."),
    max_clips: int = typer.Option(0, "--max-clips", min=0, help="Use only the first N clips (0: all)."),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Stop after N steps; --resume goes on."),
    corpus_name: str = typer.Option("", "--corpus-name", help="How the checkpoint names its training data."),
    corpus_note: str = typer.Option("", "--corpus-note", help="A note on the data, kept in the checkpoint."),
    device: str = DeviceOpt,
) -> None:
    """Pretrain MUSER on a dataset, or fine-tune a checkpoint with --init; several GPUs via torchrun."""
    from muser_model.core.errors import OptionError
    from muser_train.training.trainer import TrainConfig
    from muser_train.training.trainer import train as run_training

    cfg = TrainConfig(data=data, data_dir=str(data_dir), out=str(out), run_dir=str(run_dir or ""),
                      init=str(init or ""), resume=resume, model=model, epochs=epochs, batch_size=batch_size,
                      accum_steps=accum_steps, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                      warmup_steps=warmup_steps, clip_s=clip_s, gain_db=gain_db, noise_prob=noise_prob,
                      lowpass_prob=lowpass_prob, amp=amp, heads=heads, tag_head_hidden=tag_head_hidden,
                      select=select, mtt_split=mtt_split,
                      soft_labels=soft_labels, teacher_captions=teacher_captions,
                      soft_temperature=soft_temperature, prompt_weight=prompt_weight,
                      template=template, cache_dir=cache_dir, workers=workers, seed=seed,
                      max_clips=max_clips, max_steps=max_steps, corpus_name=corpus_name,
                      corpus_note=corpus_note, device=device)
    problem = _check_choices(cfg)
    if problem:
        raise OptionError(problem)
    with _step_bar() as on_step:
        result = run_training(cfg, log=output.message, progress=on_step)
    if result.skipped:
        output.warn(f"{len(result.skipped)} clip(s) skipped as undecodable (named above)")
    if result.out is not None:
        output.data(str(result.out))


_CHOICES = {"data": ("fma_small", "mtt", "gtzan", "folder"), "optimizer": ("adamw", "sgd"),
            "amp": ("auto", "bf16", "fp16", "off"), "heads": ("probe", "finetune", "finetune+probe", "none"),
            "select": ("auto", "accuracy", "pr_auc", "none"), "mtt_split": ("auto", "sota", "musicnn")}


def _check_choices(cfg) -> str:
    for name, allowed in _CHOICES.items():
        value = getattr(cfg, name)
        if value not in allowed:
            return f"--{name.replace('_', '-')} {value!r}: choose one of {', '.join(allowed)}"
    if cfg.resume and cfg.init:
        return "--resume continues a run with its own weights: leave out --init"
    return ""


@contextmanager
def _step_bar():
    """A progress bar with loss and clips/s on a terminal; nothing otherwise (epoch lines still print)."""
    if not output.err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeRemainingColumn(), console=output.err,
                  transient=True) as bar:
        task = bar.add_task("training", total=None, status="")

        def on_step(info) -> None:
            bar.update(task, description=f"epoch {info.epoch}/{info.epochs}", total=info.steps,
                       completed=info.step, status=f"loss {info.loss:.3f} {info.clips_per_s:.1f} clips/s")

        yield on_step
