"""`muser index`, `search`, `similar`, `status`: thin shells over muser_model.library."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from muser_cli import browse_cmds, output
from muser_cli.common import (EXIT_BUSY, EXIT_INTERRUPTED, EXIT_MODEL, EXIT_USAGE, CheckpointOpt, DeviceOpt,
                              LibraryOpt, PrecisionOpt, load_model_or_exit)
from muser_cli.output import err

def _fail(exc: Exception) -> typer.Exit:
    from muser_model.library.paths import LibraryNameError
    from muser_model.library.query import EmptyLibraryError, QueryError
    from muser_model.library.scan import ScanRootError
    from muser_model.library.store import LibraryBusyError, LibraryNotFoundError, ModelMismatchError

    output.error(str(exc))
    codes = {LibraryBusyError: EXIT_BUSY, ModelMismatchError: EXIT_MODEL, LibraryNotFoundError: EXIT_USAGE,
             EmptyLibraryError: EXIT_USAGE, QueryError: EXIT_USAGE, LibraryNameError: EXIT_USAGE,
             ScanRootError: EXIT_USAGE}
    return typer.Exit(next((c for t, c in codes.items() if isinstance(exc, t)), EXIT_MODEL))


def index(
    folders: list[Path] = typer.Argument(..., help="Music folders to scan (recursively)."),
    library: str = LibraryOpt,
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Try files that failed before again."),
    wait: bool = typer.Option(False, "--wait", help="If another index run holds the library, wait for it."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Decoder processes [default: one per CPU, at most 16; "
                                               "one fewer when the torch engine embeds here]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                             help="Windows per torch batch [default: 64 on a GPU, 16 on a CPU]."),
    max_windows: int = typer.Option(64, "--max-windows", min=1, help="Windows per track at most (long tracks are sampled evenly)."),
    decode_timeout: float = typer.Option(300.0, "--decode-timeout", min=1.0,
                                         help="Seconds without any file decoded before a decoder counts as hung."),
    log: Optional[Path] = typer.Option(None, "--log", help="Write every failure with its reason to this file."),
    engine: str = typer.Option("auto", "--engine", envvar="MUSER_ENGINE",
                               help="auto, numpy (each decoder process embeds, fp32 CPU) or torch."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    checkpoint: Optional[Path] = CheckpointOpt,
    device: str = DeviceOpt,
    precision: str = PrecisionOpt,
) -> None:
    """Add a music folder to the library: embed new and changed files, drop removed ones."""
    from muser_model.errors import MuserError
    from muser_model.library.scan import ScanOptions, ScanRootError, check_roots, index_library, open_index_model
    from muser_model.library.store import Library

    opts = ScanOptions(retry_failed=retry_failed, workers=workers, batch_size=batch_size,
                       max_windows=max_windows, decode_timeout_s=decode_timeout)
    try:
        check_roots(folders)  # before a model starts loading: a typo answers at once
        model = open_index_model(checkpoint, device, precision, engine)
    except ScanRootError as exc:
        raise _fail(exc) from exc
    except MuserError as exc:  # checkpoint or device unusable
        output.error(str(exc))
        raise typer.Exit(EXIT_MODEL) from exc
    try:
        lib = Library.open(library, create=True)
        with lib.writer_lock(wait=wait), _ScanProgress() as progress:
            summary = index_library(lib, folders, model, opts, on_plan=progress.plan, on_file=progress.file)
    except MuserError as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        output.error("interrupted: the files indexed so far are kept; run the same command again to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if log:
        log.write_text("".join(f"{p}\t{r}\n" for p, r in summary.failures), encoding="utf-8")
    _print_summary(summary, lib, as_json)


def _print_summary(summary, lib, as_json: bool) -> None:
    if summary.model_changed:
        output.warn("the checkpoint changed since the last run: the whole library was re-embedded")
    if as_json:
        from dataclasses import asdict

        data = asdict(summary)
        data["library"] = str(lib.root)
        output.json_line(data)
        return
    rate = summary.audio_seconds / summary.seconds if summary.seconds else 0.0
    err.print(f"indexed {summary.indexed}, unchanged {summary.unchanged}, removed {summary.removed}, "
              f"failed {summary.failed}" + (f" (+{summary.skipped_failed} failed before, not retried;"
                                             " --retry-failed)" if summary.skipped_failed else "")
              + f" — {summary.audio_seconds / 3600:.2f} h of audio in {summary.seconds:.0f} s ({rate:.0f}x real time)")
    for path, reason in summary.failures[:10]:
        output.error(f"{path}: {reason}")
    if len(summary.failures) > 10:
        err.print(f"... and {len(summary.failures) - 10} more (use --log FILE for all)")


class _ScanProgress:
    """Files/s, hours of audio and ETA on stderr; silent when stderr is not a terminal."""

    def __enter__(self):
        self.bar = None
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]:.1f} files/s, {task.fields[hours]:.2f} h audio"),
                                TimeRemainingColumn(), console=err, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("index", total=None, rate=0.0, hours=0.0)
        self.done, self.seconds = 0, 0.0
        import time

        self.started = time.time()
        return self

    def plan(self, plan) -> None:
        if self.bar:
            self.bar.update(self.task, total=len(plan.todo))

    def file(self, entry, status: str, duration: float) -> None:
        import time

        self.done += 1
        self.seconds += duration
        if self.bar:
            rate = self.done / max(1e-6, time.time() - self.started)
            self.bar.update(self.task, advance=1, rate=rate, hours=self.seconds / 3600)

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.__exit__(*exc)


def _filters(artist: str, genre: str, album: str, year: str, predicted_genre: str = "",
             tags: Optional[list[str]] = None):
    from muser_model.library.query import Filters, parse_years

    low, high = parse_years(year) if year else (None, None)
    return Filters(artist=artist, genre=genre, album=album, year_min=low, year_max=high,
                   predicted_genre=predicted_genre, tags=list(tags or []))


def _collapse(no_duplicates: bool) -> Optional[float]:
    from muser_model.library.query import DUPLICATE_COSINE

    return DUPLICATE_COSINE if no_duplicates else None


NoDuplicatesOpt = typer.Option(False, "--no-duplicates",
                               help="Show each group of near-identical tracks (cosine >= 0.999, e.g. copies) once.")


def _show_hits(hits, as_json: bool, m3u: Optional[Path]) -> None:
    if m3u:
        from muser_model.library.playlist import PlaylistError, write_m3u

        try:
            write_m3u(hits, m3u)
        except PlaylistError as exc:
            output.error(str(exc))
            raise typer.Exit(EXIT_USAGE) from exc
        err.print(f"wrote {len(hits)} tracks to {m3u}")
    if not hits:
        err.print("no matching tracks")
    for hit in hits:
        if as_json:
            output.json_line(hit.to_json())
        else:
            name = " - ".join(x for x in (hit.artist, hit.title) if x) or Path(hit.path).name
            output.data(f"{hit.rank:>3}  {hit.score:.3f}  {name}  {hit.path}")


def search(
    text: str = typer.Argument(..., help='Words, e.g. "melancholic piano"; may hold artist:, genre:, album:, title:, year: terms.'),
    limit: int = typer.Option(10, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout."),
    m3u: Optional[Path] = typer.Option(None, "--m3u", help="Also write the hits as an M3U playlist."),
    artist: str = typer.Option("", "--artist"), genre: str = typer.Option("", "--genre"),
    album: str = typer.Option("", "--album"),
    year: str = typer.Option("", "--year", help="1990, 1990-1999, 1990- or -1999."),
    library: str = LibraryOpt, checkpoint: Optional[Path] = CheckpointOpt, device: str = DeviceOpt,
    predicted_genre: str = browse_cmds.PredictedGenreOpt, tag: Optional[list[str]] = browse_cmds.TagOpt,
    no_duplicates: bool = NoDuplicatesOpt,
) -> None:
    """Find tracks in the library that match a text description."""
    from muser_model.errors import MuserError
    from muser_model.library.query import search_text
    from muser_model.library.store import Library

    try:
        filters = _filters(artist, genre, album, year, predicted_genre, tag)
        if not text.strip() and not filters.active():
            raise _empty_query()
        lib = Library.open(library)
        model_hash, embed = _text_embedder(lib, checkpoint, device)
        hits = search_text(lib, embed, model_hash, text, limit, filters, _collapse(no_duplicates))
    except MuserError as exc:
        raise _fail(exc) from exc
    _show_hits(hits, as_json, m3u)


def _text_embedder(lib, checkpoint: Optional[Path], device: str):
    """(checkpoint hash, texts -> vectors): numpy from the checkpoint's numpy section (no torch
    import, the fast path), else the full model."""
    from muser_model.checkpoint import checkpoint_hash, default_checkpoint_path
    from muser_model.library.query import numpy_text_embedder

    path = checkpoint or default_checkpoint_path()
    model_hash = checkpoint_hash(path)
    lib.check_model(model_hash)
    fast = numpy_text_embedder(path)
    if fast is not None:
        return model_hash, fast
    lm = load_model_or_exit(checkpoint, device)
    return model_hash, lambda texts: lm.embed_texts(texts).float().cpu().numpy()


def _empty_query():
    from muser_model.library.query import QueryError

    return QueryError("empty query: give some words, e.g. muser search \"melancholic piano\"")


def similar(
    target: str = typer.Argument(..., help="An indexed track's path, or any audio file."),
    limit: int = typer.Option(10, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json"),
    m3u: Optional[Path] = typer.Option(None, "--m3u"),
    artist: str = typer.Option("", "--artist"), genre: str = typer.Option("", "--genre"),
    album: str = typer.Option("", "--album"), year: str = typer.Option("", "--year"),
    library: str = LibraryOpt, checkpoint: Optional[Path] = CheckpointOpt, device: str = DeviceOpt,
    precision: str = PrecisionOpt,
    predicted_genre: str = browse_cmds.PredictedGenreOpt, tag: Optional[list[str]] = browse_cmds.TagOpt,
    no_duplicates: bool = NoDuplicatesOpt,
) -> None:
    """Find tracks in the library that sound like a given track."""
    from muser_model.checkpoint import checkpoint_hash, default_checkpoint_path
    from muser_model.errors import AudioError, MuserError
    from muser_model.library.query import similar as find_similar
    from muser_model.library.scan import embed_file, open_index_model
    from muser_model.library.store import Library

    def embed(path: Path):  # only for a file that is not in the library: torch-free where it can
        return embed_file(open_index_model(checkpoint, device, precision), path)

    try:
        filters = _filters(artist, genre, album, year, predicted_genre, tag)
        lib = Library.open(library)
        hits = find_similar(lib, checkpoint_hash(checkpoint or default_checkpoint_path()), embed, target,
                            limit, filters, _collapse(no_duplicates))
    except AudioError as exc:
        output.error(str(exc))
        raise typer.Exit(1) from exc
    except MuserError as exc:
        raise _fail(exc) from exc
    _show_hits(hits, as_json, m3u)


def status(library: str = LibraryOpt, as_json: bool = typer.Option(False, "--json"),
           failures: bool = typer.Option(False, "--failures", help="List every failed file with its reason.")) -> None:
    """Tracks, failures, model and index of a library."""
    from muser_model.errors import MuserError
    from muser_model.library.status import library_status
    from muser_model.library.store import Library

    try:
        lib = Library.open(library)
        report = library_status(lib)
    except MuserError as exc:
        raise _fail(exc) from exc
    if failures:
        for path, reason in lib.catalogue.failures():
            if as_json:
                output.json_line({"path": path, "reason": reason})
            else:
                output.data(f"{path}\t{reason}")
    elif as_json:
        output.json_line(report)
    else:
        for key, value in report.items():
            output.data(f"{key:<18} {value}")
