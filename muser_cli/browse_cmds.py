"""`muser list` and `muser duplicates`: browse the library's catalogue (no checkpoint, no torch)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from muser_cli import output
from muser_cli.common import LibraryOpt, filter_options


class SortKey(str, Enum):
    path = "path"
    title = "title"
    artist = "artist"
    duration = "duration"
    added = "added"
    predicted_genre = "predicted-genre"
    energy = "energy"
    valence = "valence"


PredictedGenreOpt = typer.Option("", "--predicted-genre",
                                 help="Only tracks muser predicts to be this genre (e.g. metal): works on "
                                      "untagged files, unlike --genre, which reads the file's genre tag.")
TagOpt = typer.Option(None, "--tag",
                      help="Only tracks with this predicted tag among their top 5 (with a trained tag head: "
                           "probability >= 0.3, MSD tags >= 0.2); 'msd:rock' or 'mtt:rock' for one vocabulary; repeat for "
                           "several, all required.")


def list_tracks(
    query: str = typer.Argument("", help="Words each found in the title, artist, album or path; may hold "
                                         "artist:, genre:, album:, title:, year:, predicted-genre:, tag:, "
                                         "energy:, valence: terms (energy:>0.6, valence:0.2..0.5)."),
    artist: str = typer.Option("", "--artist", help="Artist tag contains this (any case)."),
    genre: str = typer.Option("", "--genre", help="The file's genre tag contains this (any case)."),
    album: str = typer.Option("", "--album", help="Album tag contains this (any case)."),
    year: str = typer.Option("", "--year", help="1990, 1990-1999, 1990- or -1999."),
    predicted_genre: str = PredictedGenreOpt,
    tag: Optional[list[str]] = TagOpt,
    sort: SortKey = typer.Option(SortKey.path, "--sort", help="Order of the tracks."),
    reverse: bool = typer.Option(False, "--reverse", "-r", help="Reverse the order."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="At most this many tracks (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per track on stdout."),
    library: str = LibraryOpt,
) -> None:
    """List the library's tracks, like beets' `ls`: filter, sort, print."""
    from muser_model.library.browse import list_library
    from muser_model.library.store import Library

    filters = filter_options(artist, genre, album, year, predicted_genre, tag)
    lib = Library.open(library, readonly=True)
    rows = list_library(lib, query, filters, sort.value, reverse, limit)
    if not rows:
        output.message("no matching tracks")
    for row in rows:
        if as_json:
            output.json_line(row)
        else:
            name = " - ".join(x for x in (row["artist"], row["title"]) if x) or Path(row["path"]).name
            axis = f"{sort.value} {_level(row[sort.value])}  " if sort.value in ("energy", "valence") else ""
            output.data(f"{_clock(row['duration'])}  {row['predicted_genre'] or '-':<14}  {axis}{name}  {row['path']}")


def _level(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.2f}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "  --:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes:>4}:{secs:02d}"


def duplicates(
    threshold: float = typer.Option(0.999, "--threshold", min=0.0, max=1.0,
                                    help="Cosine between two tracks' vectors at or above which they count as "
                                         "duplicates (measured: an exact copy 1.000, an mp3 re-encode 0.9994, "
                                         "different songs at most 0.52)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per group on stdout."),
    library: str = LibraryOpt,
) -> None:
    """List groups of tracks that sound identical (copies, the same recording in another format)."""
    from muser_model.library.duplicates import duplicate_groups
    from muser_model.library.store import Library

    lib = Library.open(library, readonly=True)
    groups = duplicate_groups(lib, threshold)
    output.message(f"{len(groups)} group(s) of duplicates, {sum(len(g) for g in groups)} tracks")
    for number, group in enumerate(groups, 1):
        if as_json:
            output.json_line({"group": number, "tracks": [vars(t) for t in group]})
            continue
        output.data(f"group {number}")
        for track in group:
            output.data(f"  {track.cosine:.4f}  {track.path}")
