"""`muser train`: options derived from `TrainConfig`'s field table, run
`muser_train.training.trainer.train`, show progress on stderr."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import Field, fields
from pathlib import Path
from typing import Any, Optional

import typer

from muser_cli import output
# torch-free: the options are built from TrainConfig's field table when the CLI starts
from muser_train.training.config import TrainConfig, option_flag


def _run_training(**values) -> None:
    """Pretrain MUSER on a dataset, or fine-tune a checkpoint with --init; several GPUs via torchrun."""
    from muser_model.core.errors import OptionError
    from muser_model.core.hardware import require_torch

    require_torch("muser train")
    from muser_train.training.trainer import train as run_training

    cfg = _config(values)
    if cfg.resume and cfg.init:
        raise OptionError("--resume continues a run with its own weights: leave out --init")
    with _step_bar() as on_step:
        result = run_training(cfg, log=output.message, progress=on_step)
    if result.skipped:
        output.warn(f"{len(result.skipped)} clip(s) skipped as undecodable (named above)")
    if result.out is not None:
        output.data(str(result.out))


def _config(values: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of the parsed options; a refused value is named by its option (`--amp`)."""
    from muser_model.core.errors import OptionError
    from muser_train.errors import ConfigValueError

    try:
        return TrainConfig(**{key: _plain(key, value) for key, value in values.items()})
    except ConfigValueError as exc:
        raise OptionError(f"{option_flag(exc.key)} {exc.value!r}: {exc.reason}") from exc


def _plain(key: str, value: Any) -> Any:
    """TrainConfig keeps paths as strings, "" for none."""
    if TRAIN_FIELDS[key].metadata["path"]:
        return "" if value is None else str(value)
    return value


def _parameter(f: Field) -> inspect.Parameter:
    """One typer option from one TrainConfig field's metadata (see muser_train.training.config)."""
    meta = f.metadata
    kind = Optional[Path] if meta["path"] else _TYPES[f.type]  # config.py's annotations are strings
    default = ... if meta["required"] else (None if meta["path"] else f.default)
    names = [meta["flag"], *([meta["short"]] if meta["short"] else [])]
    opt = typer.Option(default, *names, help=meta["help"], show_default=not meta["path"], **meta["bounds"])
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=kind)


_TYPES = {"str": str, "int": int, "float": float, "bool": bool}
TRAIN_FIELDS = {f.name: f for f in fields(TrainConfig)}


def _build_train_command() -> Callable[..., None]:
    """`muser train`: a function whose signature typer reads, one keyword per TrainConfig field."""
    params = [_parameter(f) for f in TRAIN_FIELDS.values()]

    def train(**values: Any) -> None:
        _run_training(**values)

    train.__doc__ = _run_training.__doc__
    train.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    train.__annotations__ = {p.name: p.annotation for p in params}
    return train


train = _build_train_command()


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
