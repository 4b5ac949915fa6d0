"""The `muser` command line. Each command parses, calls one library function, and formats."""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from muser_cli import output
from muser_cli.common import (EXIT_FILE_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CheckpointOpt, DeviceOpt,
                              PrecisionOpt, load_model_or_exit)
from muser_model.core.errors import DiskFullError, MuserError

try:  # typer >= 0.26 carries its own copy of click
    from typer._click.exceptions import UsageError as CommandLineError
except ImportError:  # pragma: no cover - older typer on plain click
    from click.exceptions import UsageError as CommandLineError


class _MuserGroup(TyperGroup):
    """The one place where errors become messages and exit codes: a MuserError prints as
    `error: MESSAGE` and exits with the error's own `exit_code` (see muser_model/core/errors.py);
    a command-line mistake (unknown option, bad value) is `error: MESSAGE` and a hint, exit 2;
    no space left on a device (ENOSPC) is DiskFullError's line, exit 5; Ctrl-C exits 130."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CommandLineError as exc:
            output.error(exc.format_message())
            if exc.ctx is not None:
                output.message(f"Try '{exc.ctx.command_path} -h' for help.")
            raise typer.Exit(EXIT_USAGE) from exc
        except MuserError as exc:
            output.error(str(exc))
            raise typer.Exit(exc.exit_code) from exc
        except OSError as exc:  # a full disk wherever it strikes first: one line, not a traceback
            if exc.errno != errno.ENOSPC:
                raise
            full = DiskFullError(exc.filename or "an output file")
            output.error(str(full))
            raise typer.Exit(full.exit_code) from exc
        except KeyboardInterrupt:
            output.error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None


class _Command(TyperCommand):
    """Usage lines as `muser tag [OPTIONS] PATH...`: without typer's braces around required arguments."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
                for piece in super().collect_usage_pieces(ctx)]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("muser")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from muser_model import __version__ as number
        output.data(f"muser {number}")
        raise typer.Exit()


app = typer.Typer(cls=_MuserGroup, add_completion=False, no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Tag, index and search a music library with the MUSER model.")


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print muser's version and exit.")) -> None:
    """Tag, index and search a music library with the MUSER model."""


@app.command(cls=_Command)
def tag(
    inputs: list[str] = typer.Argument(..., metavar="PATH...", show_default=False,
                                        help="Audio files or folders (searched recursively)."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="How many tags to show."),
    labels: str = typer.Option("", "--labels", help='Also score these words, e.g. "calm,angry,piano".'),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file on stdout."),
    timeline: bool = typer.Option(False, "--timeline", help="Tags for every window of each file."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Windows per model batch."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, envvar="MUSER_WORKERS", show_envvar=False,
                                          help="Processes embedding files at once, numpy engine (default: one per "
                                               "CPU for several files with 5 min of audio or more in all)."),
    checkpoint: Optional[Path] = CheckpointOpt,
    device: str = DeviceOpt,
    precision: str = PrecisionOpt,
    engine: str = typer.Option("auto", "--engine", envvar="MUSER_ENGINE",
                               help="auto (numpy on CPU for a few minutes of audio: no torch import), numpy or torch."),
    genre_vocab: str = typer.Option("muser", "--genre-vocab",
                                    help="Headline genre: muser (rock, electronic, ambient, ... or 'no clear "
                                         "genre') or gtzan (GTZAN-10, the research vocabulary)."),
    explain: bool = typer.Option(False, "--explain", help="Say how each --labels word was read."),
) -> None:
    """Print the genre, the mood (energy, valence) and the top tags of each audio file (MTT-50, MSD-50)."""
    from muser_model.core.audio import quiet_decoder_notes
    from muser_model.core.errors import AudioError
    from muser_model.core.files import given_paths, iter_audio_files
    from muser_model.core.process_settings import keep_freed_memory
    from muser_model.tagging import label_list
    from muser_model.tagging import tag as tag_paths

    keep_freed_memory()  # this process embeds: reuse freed memory (see docs/performance.md)
    files = list(iter_audio_files(given_paths(inputs)))
    if not files:
        output.error("no audio files found in " + ", ".join(str(p) for p in inputs))
        raise typer.Exit(EXIT_USAGE)
    failed = 0
    with quiet_decoder_notes():  # this process may probe and decode: drop libmpg123's notes on fd 2
        results = tag_paths(files, checkpoint, device, precision, engine, k=top_k, labels=label_list(labels),
                            timeline=timeline, batch_size=batch_size, workers=workers, genre_vocab=genre_vocab)
        for result in output.progress(results, len(files), "tagging"):
            if isinstance(result, AudioError):
                failed += 1
                output.error(str(result))
            elif as_json:
                output.json_line(result.to_json())
            else:
                _print_tags(result, explain)
    if failed:
        output.message(f"{failed} of {len(files)} file(s) failed")
        raise typer.Exit(EXIT_FILE_FAILED)


def _print_tags(result, explain: bool = False) -> None:
    output.data(str(result.path))
    output.data(f"  genre   {_headline_text(result)}")
    if result.mood:
        output.data("  mood    " + ", ".join(f"{axis} {value:.2f} ({_axis_word(axis, value)})"
                                            for axis, value in result.mood.items()))
    output.data(f"  tags    {output.scores_text(result.tags)} ({result.tags[0].method}, {result.tags[0].kind})")
    for scores in result.extra_tags.values():  # one line per further vocabulary, e.g. MSD-50
        if scores:
            output.data(f"  {scores[0].vocab:<7} {output.grouped_scores_text(scores)} "
                        f"({scores[0].method}, {scores[0].kind})")
    if result.headline is not None and result.gtzan:
        gtzan = result.gtzan
        output.data(f"  gtzan   {output.scores_text(gtzan)} ({gtzan[0].method})")
    if result.zero_shot_genres:
        output.data(f"  zero-shot genre {output.scores_text(result.zero_shot_genres)}; "
                    f"tags {output.scores_text(result.zero_shot_tags)}")
    if result.labels:
        output.data("  labels  " + ", ".join(f"{s.label} {s.score:.2f} ({s.method})"
                                            for s in result.labels))
        for label, line in result.label_readings.items() if explain else ():
            output.message(f"  {line}")
    for row in result.timeline:  # MTT tags, then each further vocabulary's, e.g. "| msd: rock 0.41"
        extra = "".join(f" | {scores[0].vocab}: {output.scores_text(scores)}"
                        for scores in row.extra_tags.values() if scores)
        output.data(f"  {row.start_s:7.1f}-{row.end_s:<7.1f} {row.genre.label:<10} "
                    f"{output.scores_text(row.tags)}{extra}")


# energy and valence in words, by thirds of the (0, 1) scale
_AXIS_WORDS = {"energy": ("calm", "moderate", "energetic"), "valence": ("sad", "neutral", "happy")}


def _axis_word(axis: str, value: float) -> str:
    low, mid, high = _AXIS_WORDS.get(axis, ("low", "mid", "high"))
    return low if value < 1 / 3 else (high if value > 2 / 3 else mid)


def _headline_text(result) -> str:
    """'electronic 0.52 (then ambient 0.31, rock 0.08)', or 'no clear genre (best: ...)'."""
    if result.headline is not None and not result.headline.clear:
        best = ", ".join(f"{g} {v:.2f}" for g, v in result.headline.candidates)
        return f"no clear genre (best: {best})"
    genre = result.genres[0]
    return (f"{genre.label} {genre.score:.2f} ({genre.method}; then "
            f"{output.scores_text(result.genres[1:])})")


@app.command(cls=_Command)
def info(
    as_json: bool = typer.Option(False, "--json", help="The full record (training history, all metrics) as one JSON object."),
    checkpoint: Optional[Path] = CheckpointOpt,
) -> None:
    """Describe the checkpoint: provenance, config, parameters, training data and metrics."""
    from muser_model.core.checkpoint import default_checkpoint_path
    from muser_model.describe import describe_checkpoint, summary_lines

    report = describe_checkpoint(checkpoint or default_checkpoint_path())  # torch-free
    if as_json:
        output.json_line(report)
        return
    for line in summary_lines(report):
        output.data(line)


@app.command(name="eval", cls=_Command)
def evaluate(
    data: str = typer.Option(..., "--data", help="gtzan, fma_small, mtt or folder."),
    data_dir: Path = typer.Option(..., "--data-dir", help="The dataset's folder, in its usual layout."),
    split: str = typer.Option("test", "--split", help="train, valid or test."),
    mtt_split: str = typer.Option("auto", "--mtt-split",
                                  help="MTT only: auto (sota if its split files exist, else musicnn), sota, musicnn."),
    limit: int = typer.Option(0, "--limit", min=0, help="Evaluate the first N clips only (0: all)."),
    probe: bool = typer.Option(False, "--probe", help="Also fit a linear probe on the train split and score it."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips per model batch."),
    checkpoint: Optional[Path] = CheckpointOpt,
    device: str = DeviceOpt,
) -> None:
    """Zero-shot evaluation on GTZAN, FMA-small or MagnaTagATune, as in the paper."""
    from muser_model.core.hardware import require_torch

    require_torch("muser eval")
    from muser_train.evaluation.evaluate import evaluate_dataset

    lm = load_model_or_exit(checkpoint, device)
    options = {"split": mtt_split} if data == "mtt" else {}
    report = evaluate_dataset(lm, data, data_dir, split, batch_size, limit, options, probe)
    if as_json:
        output.json_line(report)
        return
    for key, value in report.items():
        if key not in ("confusion", "genres"):
            output.data(f"{key:<20} {value}")
    if "confusion" in report:
        output.data("confusion (rows: truth, columns: prediction): " + " ".join(report["genres"]))
        for genre, row in zip(report["genres"], report["confusion"]):
            output.data(f"  {genre:<14} " + " ".join(f"{n:>4}" for n in row))


from muser_cli import browse_cmds, library_cmds, serve_cmd, train_cmd  # noqa: E402  (registers the library and training commands)

app.command(cls=_Command)(library_cmds.index)
app.command(cls=_Command)(library_cmds.search)
app.command(cls=_Command)(library_cmds.similar)
app.command(cls=_Command)(library_cmds.path)
app.command(cls=_Command)(library_cmds.radio)
app.command(name="write-tags", cls=_Command)(library_cmds.write_tags)
app.command(cls=_Command)(library_cmds.status)
app.command(name="list", cls=_Command)(browse_cmds.list_tracks)
app.command(cls=_Command)(browse_cmds.duplicates)
app.command(cls=_Command)(serve_cmd.serve)
app.command(cls=_Command)(train_cmd.train)


@app.command(name="config", cls=_Command)
def config_command(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Show the config file's path and the effective defaults, with where each comes from."""
    from muser_cli import config

    config.show(as_json)


def main() -> None:
    from muser_cli import config

    try:
        values = config.read_config()
    except config.ConfigError as exc:
        config.fail(exc)
    config.apply_process_settings(values)
    command = typer.main.get_command(app)  # built once: the config's defaults are read off its options
    command(default_map=config.default_map(command, values))


if __name__ == "__main__":
    main()
