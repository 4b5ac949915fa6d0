"""`muser index`, `search`, `similar`, `status`: thin shells over muser_model.library."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from muser_cli import browse_cmds, output
from muser_cli.common import (EXIT_FILE_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, CheckpointOpt, DeviceOpt, JsonLinesOpt,
                              LibraryOpt, M3uOpt, PrecisionOpt, RelativeToOpt, filter_options, load_model_or_exit)
from muser_cli.output import err

SHOWN_FAILURES = 10  # failures listed after a scan; the rest go to --log


def index(
    folders: list[str] = typer.Argument(..., metavar="FOLDER...", help="Music folders to scan (recursively)."),
    library: str = LibraryOpt,
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Try files that failed before again."),
    wait: bool = typer.Option(False, "--wait", help="If another index run holds the library, wait for it."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, envvar="MUSER_WORKERS", show_envvar=False,
                                          help="Decoder processes (default: one per CPU, at most 16; "
                                               "one fewer when the torch engine embeds here)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                             help="Windows per torch batch (default: 64 on a GPU, 16 on a CPU)."),
    max_windows: int = typer.Option(64, "--max-windows", min=1, help="Windows per track at most (long tracks are sampled evenly)."),
    decode_timeout: float = typer.Option(300.0, "--decode-timeout", min=1.0,
                                         help="Seconds one file may take to decode before its decoder counts as hung."),
    log: Optional[Path] = typer.Option(None, "--log", help="Write every failure with its reason to this file."),
    engine: str = typer.Option("auto", "--engine", envvar="MUSER_ENGINE",
                               help="auto, numpy (each decoder process embeds, fp32 CPU) or torch."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    rebuild: bool = typer.Option(False, "--rebuild",
                                 help="Set the catalogue aside (kept beside it, with the time in its name) and "
                                      "index the folders again from scratch: the way out of a damaged catalogue."),
    watch: bool = typer.Option(False, "--watch",
                               help="After the scan, keep watching the folders and index new, changed and "
                                    "removed files as they settle (Ctrl-C to stop)."),
    settle: float = typer.Option(2.0, "--settle", min=0.1,
                                 help="--watch: seconds the folders must be quiet, and a changed file keep its "
                                      "size and time, before it is indexed."),
    checkpoint: Optional[Path] = CheckpointOpt,
    device: str = DeviceOpt,
    precision: str = PrecisionOpt,
) -> None:
    """Add a music folder to the library: embed new and changed files, drop removed ones."""
    from muser_model.core.files import check_new_file, given_paths
    from muser_model.library.pool import Terminated
    from muser_model.library.scan import ScanOptions, check_has_audio, check_roots, index_library, open_index_model
    from muser_model.library.store import Library, LibraryNotFoundError

    opts = ScanOptions(retry_failed=retry_failed, workers=workers, batch_size=batch_size,
                       max_windows=max_windows, decode_timeout_s=decode_timeout)
    folders = given_paths(folders)
    check_roots(folders)  # before a model starts loading: a typo answers at once
    if log:
        check_new_file(log, "--log")  # before the scan, whose failures it would hold
    model = open_index_model(checkpoint, device, precision, engine)  # Ctrl-C here: 130 (main.py)
    if rebuild:
        kept = Library.set_aside(library, wait)
        if kept:
            output.message(f"the old catalogue is kept as {kept}; indexing from scratch")
    try:
        try:
            lib = Library.open(library)
        except LibraryNotFoundError:  # a new library: only for folders that hold audio
            check_has_audio(folders)
            lib = Library.open(library, create=True)
        with lib.writer_lock(wait=wait), _ScanProgress() as progress:
            summary = index_library(lib, folders, model, opts, on_plan=progress.plan, on_file=progress.file)
    except KeyboardInterrupt as exc:  # Ctrl-C: 130; SIGTERM (Terminated): 143, as shells report them
        stop = "terminated" if isinstance(exc, Terminated) else "interrupted"
        output.error(f"{stop}: the files indexed so far are kept; run the same command again to resume")
        raise typer.Exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED) from None
    if log:
        _write_log(log, summary.failures)
    _print_summary(summary, lib, as_json, log)
    if watch:
        _watch(lib, folders, model, opts, wait, settle, as_json, log)


def _watch(lib, folders: list[Path], model, opts, wait: bool, settle: float, as_json: bool,
           log: Optional[Path]) -> None:
    """`--watch`: rescan after each settled batch of changes until Ctrl-C or SIGTERM."""
    from muser_model.library.pool import Terminated, sigterm_as_interrupt
    from muser_model.library.scan import index_library
    from muser_model.library.watch import watch

    def rescan() -> None:
        summary = index_library(lib, folders, model, opts)
        if log:
            _write_log(log, summary.failures)
        _print_summary(summary, lib, as_json, log)

    def waiting() -> None:
        output.message(f"watching {', '.join(str(f) for f in folders)} for changes (Ctrl-C to stop)")

    try:
        with lib.writer_lock(wait=wait), sigterm_as_interrupt():
            watch(folders, rescan, settle, on_wait=waiting)
    except KeyboardInterrupt as exc:  # as the scan: 130 for Ctrl-C, 143 for SIGTERM
        stop = "terminated" if isinstance(exc, Terminated) else "interrupted"
        output.message(f"{stop}: stopped watching; everything indexed so far is kept")
        raise typer.Exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED) from None


def _write_log(log: Path, failures: list[tuple[str, str]]) -> None:
    """Every failure, `path<TAB>reason`, a file name's undecodable bytes as they are on disk."""
    import errno

    from muser_model.core.errors import DiskFullError, OptionError

    try:
        with open(log, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.writelines(f"{p}\t{r}\n" for p, r in failures)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(log) from exc
        raise OptionError(f"--log {log}: {exc.strerror or exc}") from exc


def _print_summary(summary, lib, as_json: bool, log: Optional[Path] = None) -> None:
    if summary.model_changed:
        output.warn("the checkpoint changed since the last run: the whole library was re-embedded")
    if as_json:
        from dataclasses import asdict

        data = asdict(summary)
        data["library"] = str(lib.root)
        output.json_line(data)
        return
    output.message(summary_line(summary))
    for path, reason in summary.failures[:SHOWN_FAILURES]:
        output.error(f"{path}: {reason}")
    hidden = len(summary.failures) - SHOWN_FAILURES
    if hidden > 0:
        output.message(f"... and {hidden} more (all {len(summary.failures)} are in {log})" if log
                       else f"... and {hidden} more (use --log FILE for all)")


def summary_line(summary) -> str:
    skipped = (f" (+{summary.skipped_failed} failed or silent before, not retried; --retry-failed)"
               if summary.skipped_failed else "")
    silent = f", silent {summary.silent}" if summary.silent else ""
    if summary.indexed == 0 and summary.failed == 0 and not summary.silent:
        removed = f", {summary.removed} removed" if summary.removed else ""
        return f"nothing new to index ({summary.unchanged} unchanged{removed}){skipped}"
    rate = summary.audio_seconds / summary.seconds if summary.seconds else 0.0
    return (f"indexed {summary.indexed}, unchanged {summary.unchanged}, removed {summary.removed}, "
            f"failed {summary.failed}{silent}{skipped} — {summary.audio_seconds / 3600:.2f} h of audio in "
            f"{summary.seconds:.0f} s ({rate:.0f}x real time)")


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


def _collapse(no_duplicates: bool) -> Optional[float]:
    from muser_model.library.query import DUPLICATE_COSINE

    return DUPLICATE_COSINE if no_duplicates else None


NoDuplicatesOpt = typer.Option(False, "--no-duplicates",
                               help="Show each group of near-identical tracks (cosine >= 0.999, e.g. copies) once.")


# The result and file-tag options `search` and `similar` share.
HitsLimitOpt = typer.Option(10, "--limit", "-n", min=1, help="How many tracks to show at most.")
ArtistOpt = typer.Option("", "--artist", help="Only tracks whose artist tag contains this (any case).")
GenreOpt = typer.Option("", "--genre", help="Only tracks whose genre tag contains this (any case).")
AlbumOpt = typer.Option("", "--album", help="Only tracks whose album tag contains this (any case).")
YearOpt = typer.Option("", "--year", help="1990, 1990-1999, 1990- or -1999.")


def _show_hits(hits, as_json: bool, m3u: Optional[Path], relative_to: Optional[Path] = None) -> None:
    if m3u:
        from muser_model.library.playlist import write_m3u

        left_out = write_m3u(hits, m3u, relative_to)  # a PlaylistError goes to main.py's handler (exit 2)
        for path in left_out:
            output.warn(f"left out of {m3u}: {path!r} (a line break in a file name, which M3U cannot hold)")
        output.message(f"wrote {len(hits) - len(left_out)} tracks to {m3u}")
    if not hits:
        output.message("no matching tracks")
    for hit in hits:
        if as_json:
            output.json_line(hit.to_json())
        else:
            name = " - ".join(x for x in (hit.artist, hit.title) if x) or Path(hit.path).name
            output.data(f"{hit.rank:>3}  {hit.score:.3f}  {name}  {hit.path}")


def search(
    text: str = typer.Argument(..., metavar="QUERY", help='Words, e.g. "melancholic piano"; may hold artist:, genre:, album:, title:, year:, '
                                                                  'predicted-genre:, tag:, energy:, valence: terms.'),
    limit: int = HitsLimitOpt, as_json: bool = JsonLinesOpt, m3u: Optional[Path] = M3uOpt,
    relative_to: Optional[Path] = RelativeToOpt,
    artist: str = ArtistOpt, genre: str = GenreOpt, album: str = AlbumOpt, year: str = YearOpt,
    library: str = LibraryOpt, checkpoint: Optional[Path] = CheckpointOpt, device: str = DeviceOpt,
    predicted_genre: str = browse_cmds.PredictedGenreOpt, tag: Optional[list[str]] = browse_cmds.TagOpt,
    no_duplicates: bool = NoDuplicatesOpt,
    explain: bool = typer.Option(False, "--explain",
                                 help="Say how the query was read: which tags, moods or genres, and how much text."),
    sort: str = typer.Option("score", "--sort",
                             help="Order of the hits found: score (relevance), energy, valence (highest first), "
                                  "duration or year."),
    reverse: bool = typer.Option(False, "--reverse", "-r", help="Reverse that order."),
) -> None:
    """Find tracks in the library that match a text description."""
    from muser_model.core.hardware import check_device_name
    from muser_model.library.query import search_text, sort_hits
    from muser_model.library.store import Library

    check_device_name(device)  # also where the torch model is never loaded
    filters = filter_options(artist, genre, album, year, predicted_genre, tag)
    if not text.strip() and not filters.active():
        raise _empty_query()
    sort_hits([], sort)  # an unknown order answers before any model loads
    lib = Library.open(library, readonly=True)
    model = text_model_for(lib, checkpoint, device)
    result = search_text(lib, model, text, limit, filters, _collapse(no_duplicates))
    if explain:
        output.message(f"query: {result.query['explain']} (calibration: {result.query['calibration']})")
    hits = sort_hits(result.hits, sort, reverse)
    for hit in hits:
        hit.query = result.query if as_json else None
    _show_hits(hits, as_json, m3u, relative_to)


def text_model_for(lib, checkpoint: Optional[Path], device: str):
    """The checkpoint's TextModel: numpy from its numpy section (no torch import, the fast path),
    else over the full model."""
    from muser_model.core.checkpoint import checkpoint_hash, default_checkpoint_path
    from muser_model.text_model import numpy_text_model, text_model

    path = checkpoint or default_checkpoint_path()
    lib.check_model(checkpoint_hash(path))
    fast = numpy_text_model(path)
    if fast is not None:
        return fast
    from muser_model.core.hardware import require_torch

    require_torch("a checkpoint without a numpy section or with a fine-tuned text tower")
    from muser_model.torch_engine.inference import engine_of

    lm = load_model_or_exit(checkpoint, device)
    return text_model(engine_of(lm), lm.checkpoint.content_hash, path,
                      embed=lambda texts: lm.embed_texts(texts).float().cpu().numpy())


def _empty_query():
    from muser_model.library.query import QueryError

    return QueryError("empty query: give some words, e.g. muser search \"melancholic piano\"")


def similar(
    target: str = typer.Argument(..., metavar="TRACK", help="An indexed track's path, or any audio file."),
    limit: int = HitsLimitOpt, as_json: bool = JsonLinesOpt, m3u: Optional[Path] = M3uOpt,
    relative_to: Optional[Path] = RelativeToOpt,
    artist: str = ArtistOpt, genre: str = GenreOpt, album: str = AlbumOpt, year: str = YearOpt,
    library: str = LibraryOpt, checkpoint: Optional[Path] = CheckpointOpt, device: str = DeviceOpt,
    precision: str = PrecisionOpt,
    predicted_genre: str = browse_cmds.PredictedGenreOpt, tag: Optional[list[str]] = browse_cmds.TagOpt,
    no_duplicates: bool = NoDuplicatesOpt,
) -> None:
    """Find tracks in the library that sound like a given track."""
    from muser_model.core.checkpoint import checkpoint_hash, default_checkpoint_path
    from muser_model.library.query import similar as find_similar
    from muser_model.library.scan import embed_file, open_index_model
    from muser_model.library.store import Library

    from muser_model.core.hardware import check_device_name

    def embed(path: Path):  # only for a file that is not in the library: torch-free where it can
        return embed_file(open_index_model(checkpoint, device, precision), path)

    check_device_name(device)  # also where the torch model is never loaded
    filters = filter_options(artist, genre, album, year, predicted_genre, tag)
    lib = Library.open(library, readonly=True)
    hits = find_similar(lib, checkpoint_hash(checkpoint or default_checkpoint_path()), embed, target,
                        limit, filters, _collapse(no_duplicates))
    _show_hits(hits, as_json, m3u, relative_to)


def status(library: str = LibraryOpt,
           as_json: bool = typer.Option(False, "--json", help="One JSON object (with --failures: one per file)."),
           failures: bool = typer.Option(False, "--failures", help="List every file without a vector (failed or silent) with its reason.")) -> None:
    """Tracks, failures, model and index of a library."""
    from muser_model.library.status import library_status
    from muser_model.library.store import Library

    lib = Library.open(library, readonly=True)
    report = library_status(lib)
    if failures:
        _print_failures(lib.catalogue.failures(), as_json)
    elif as_json:
        output.json_line(report)
    else:
        width = max(map(len, report), default=0) + 2  # the longest key still leaves a gap
        for key, value in report.items():
            output.data(f"{key:<{width}}{value}")


def _print_failures(failures, as_json: bool) -> None:
    shown = 0
    for path, reason in failures:
        shown += 1
        if as_json:
            output.json_line({"path": path, "reason": reason})
        else:
            output.data(f"{path}\t{reason}")
    if not shown:
        output.message("no failures")


def path(
    start: str = typer.Argument(..., metavar="FROM", help="An indexed track: its path, or a unique part of its title or path."),
    end: str = typer.Argument(..., metavar="TO", help="Another indexed track, named the same ways."),
    count: int = typer.Option(12, "--count", "-n", min=2, help="Tracks in the path, both ends included."),
    as_json: bool = JsonLinesOpt, m3u: Optional[Path] = M3uOpt, relative_to: Optional[Path] = RelativeToOpt,
    artist: str = ArtistOpt, genre: str = GenreOpt, album: str = AlbumOpt, year: str = YearOpt,
    predicted_genre: str = browse_cmds.PredictedGenreOpt, tag: Optional[list[str]] = browse_cmds.TagOpt,
    library: str = LibraryOpt, checkpoint: Optional[Path] = CheckpointOpt,
) -> None:
    """An ordered playlist that walks from one track to another through the sound in between."""
    from muser_model.core.checkpoint import checkpoint_hash, default_checkpoint_path
    from muser_model.library.journeys import path as sonic_path
    from muser_model.library.store import Library

    filters = filter_options(artist, genre, album, year, predicted_genre, tag)
    lib = Library.open(library, readonly=True)
    hits = sonic_path(lib, checkpoint_hash(checkpoint or default_checkpoint_path()), start, end, count, filters)
    _say_if_short(hits, count)
    _show_hits(hits, as_json, m3u, relative_to)


def radio(
    seed: str = typer.Argument(..., metavar="SEED", help="An indexed track: its path, or a unique part of its title or path."),
    count: int = typer.Option(30, "--count", "-n", min=1, help="Tracks in the playlist, the seed first."),
    per_artist: int = typer.Option(3, "--per-artist", min=1, help="At most this many tracks of one artist."),
    as_json: bool = JsonLinesOpt, m3u: Optional[Path] = M3uOpt, relative_to: Optional[Path] = RelativeToOpt,
    artist: str = ArtistOpt, genre: str = GenreOpt, album: str = AlbumOpt, year: str = YearOpt,
    predicted_genre: str = browse_cmds.PredictedGenreOpt, tag: Optional[list[str]] = browse_cmds.TagOpt,
    library: str = LibraryOpt, checkpoint: Optional[Path] = CheckpointOpt,
) -> None:
    """An ordered playlist that starts at a track and drifts, a few tracks per artist at most."""
    from muser_model.core.checkpoint import checkpoint_hash, default_checkpoint_path
    from muser_model.library.journeys import radio as sonic_radio
    from muser_model.library.store import Library

    filters = filter_options(artist, genre, album, year, predicted_genre, tag)
    lib = Library.open(library, readonly=True)
    hits = sonic_radio(lib, checkpoint_hash(checkpoint or default_checkpoint_path()), seed, count, per_artist,
                       filters)
    _say_if_short(hits, count)
    _show_hits(hits, as_json, m3u, relative_to)


def _say_if_short(hits, count: int) -> None:
    if len(hits) < count:
        output.message(f"{len(hits)} of {count} tracks: the library (with these filters) has no more that "
                       "are neither near-copies of a listed track nor over the per-artist cap")


def write_tags(
    paths: Optional[list[str]] = typer.Argument(None, metavar="[PATH]...",
                                                help="Indexed files or folders (default: the whole library)."),
    write: bool = typer.Option(False, "--write", help="Write the tags (without it: show what would change)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a genre or mood you set yourself."),
    undo: bool = typer.Option(False, "--undo", help="Put back every field muser changed, exactly as it was."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file on stdout."),
    library: str = LibraryOpt,
    checkpoint: Optional[Path] = CheckpointOpt,
) -> None:
    """Write muser's genre and mood into the files, where players read them (a dry run unless --write).

    Indexed files use their stored predictions; other files given as PATH are tagged first."""
    from muser_model.core.checkpoint import checkpoint_hash, default_checkpoint_path
    from muser_model.library.filetags import outside, undo_library_tags, write_file_tags, write_library_tags
    from muser_model.library.store import Library, LibraryNotFoundError
    from muser_model.tagging import tag as tag_paths

    try:
        lib = Library.open(library)
    except LibraryNotFoundError:  # loose files only: their undo history needs a library all the same
        lib = Library.open(library, create=True)
    with lib.writer_lock():
        if undo:
            outcome = undo_library_tags(lib, paths or [])
        else:
            outcome = write_library_tags(lib, paths or [], write, overwrite)
            loose = outside(lib, paths or [])
            if loose:
                model_hash = checkpoint_hash(checkpoint or default_checkpoint_path())
                write_file_tags(lib, tag_paths(loose, checkpoint), model_hash, write, overwrite, outcome)
    for p in outcome.plans:
        _show_plan(p, as_json)
    for path, reason in outcome.failures:
        output.error(reason if reason.startswith(path) else f"{path}: {reason}")
    if undo:
        output.message(f"restored {outcome.written} file(s)")
    elif write:
        output.message(f"wrote tags into {outcome.written} file(s); undo with: muser write-tags --undo")
    else:
        changing = sum(1 for p in outcome.plans if p.changes)
        output.message(f"dry run: {changing} of {len(outcome.plans)} file(s) would change; add --write to write")
    if outcome.failures:
        raise typer.Exit(EXIT_FILE_FAILED)


def _show_plan(p, as_json: bool) -> None:
    if as_json:
        output.json_line({"path": p.path, "changes": {k: {"old": o, "new": n} for k, (o, n) in p.changes.items()},
                          "kept": p.kept})
        return
    if not p.changes and not p.kept:
        return
    output.data(p.path)
    for name, (old, new) in p.changes.items():
        output.data(f"  {name:<16} {'; '.join(old) if old else '-'} -> {'; '.join(new)}")
    for name in p.kept:
        output.data(f"  {name:<16} kept (set by you; --overwrite replaces it)")
