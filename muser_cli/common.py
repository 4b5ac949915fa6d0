"""Options and helpers shared by the commands."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from muser_cli import output

EXIT_FILE_FAILED = 1  # some input file could not be processed
EXIT_USAGE = 2  # nothing to do: no audio, missing/empty library, empty query, bad folder or name
EXIT_MODEL = 3  # checkpoint or device unusable, or not the library's checkpoint
EXIT_BUSY = 4  # another `muser index` holds the library
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it

CheckpointOpt = typer.Option(None, "--checkpoint", "-c",
                             help="Checkpoint file (default: the one shipped with muser, or $MUSER_CHECKPOINT).")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu or cuda.")
PrecisionOpt = typer.Option("auto", "--precision",
                            help="Audio inference precision: auto (bf16 where the CPU/GPU computes it natively), fp32 or bf16.")
LibraryOpt = typer.Option("default", "--library", "-l", help="Library name (several can live side by side).")


def load_model_or_exit(checkpoint: Optional[Path], device: str, precision: str = "fp32"):
    from muser_model.errors import MuserError
    from muser_model.runtime import load_model

    try:
        return load_model(checkpoint, device, precision)
    except MuserError as exc:
        output.error(str(exc))
        raise typer.Exit(EXIT_MODEL) from exc
