"""Options and helpers shared by the commands."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

# The exit codes live with the error classes (each carries its own `exit_code`); see muser_model/core/errors.py.
from muser_model.core.errors import (EXIT_BUSY, EXIT_FILE_FAILED, EXIT_INTERRUPTED, EXIT_MODEL,  # noqa: F401
                                     EXIT_OK, EXIT_TERMINATED, EXIT_USAGE)

CheckpointOpt = typer.Option(None, "--checkpoint", "-c", envvar="MUSER_CHECKPOINT", show_envvar=False,
                             help="Checkpoint file (default: the one shipped with muser, or $MUSER_CHECKPOINT).")
DeviceOpt = typer.Option("auto", "--device", envvar="MUSER_DEVICE", show_envvar=False, help="auto, cpu or cuda.")
PrecisionOpt = typer.Option("auto", "--precision",
                            help="Audio inference precision: auto (bf16 where the CPU/GPU computes it natively), fp32 or bf16.")
LibraryOpt = typer.Option("default", "--library", "-l", envvar="MUSER_LIBRARY", show_envvar=False,
                          help="Library name (several can live side by side).")
JsonLinesOpt = typer.Option(False, "--json", help="One JSON object per line on stdout.")
M3uOpt = typer.Option(None, "--m3u", help="Also write the hits to this M3U playlist file (UTF-8; paths relative to "
                                           "its folder when the tracks are under it, else absolute).")
RelativeToOpt = typer.Option(None, "--relative-to", metavar="DIR", envvar="MUSER_PLAYLIST_BASE", show_envvar=False,
                             help="Write --m3u paths relative to DIR (a player's music folder: MPD's "
                                  "music_directory, Navidrome's or Jellyfin's library root).")


def load_model_or_exit(checkpoint: Optional[Path], device: str, precision: str = "fp32",
                       why: str = "the torch engine"):
    """The torch model; its MuserError (checkpoint, device; TorchMissingError naming `why` where
    torch is not installed) reaches the one handler in main.py, which prints it and exits with the
    error's own code."""
    from muser_model.core.hardware import require_torch

    require_torch(why)
    from muser_model.torch_engine.runtime import load_model

    return load_model(checkpoint, device, precision)


def filter_options(artist: str, genre: str, album: str, year: str, predicted_genre: str = "",
                   tags: Optional[list[str]] = None):
    """The search/similar/list filter options as one query.Filters."""
    from muser_model.core.errors import OptionError
    from muser_model.library.query import Filters, parse_years

    if any(not t.strip() for t in tags or []):
        raise OptionError('--tag "" names no tag')
    low, high = parse_years(year) if year else (None, None)
    return Filters(artist=artist, genre=genre, album=album, year_min=low, year_max=high,
                   predicted_genre=predicted_genre, tags=list(tags or []))
