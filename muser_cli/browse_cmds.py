"""`muser duplicates`: browse the library's catalogue (no checkpoint, no torch)."""
from __future__ import annotations


import typer

from muser_cli import output
from muser_cli.common import LibraryOpt
from muser_cli.output import err


PredictedGenreOpt = typer.Option("", "--predicted-genre",
                                 help="Only tracks muser predicts to be this genre (e.g. metal): works on "
                                      "untagged files, unlike --genre, which reads the file's genre tag.")
TagOpt = typer.Option(None, "--tag",
                      help="Only tracks with this predicted tag among their top 5 (with a trained tag head: "
                           "probability >= 0.5); repeat for several, all required.")


def duplicates(
    threshold: float = typer.Option(0.999, "--threshold", min=0.0, max=1.0,
                                    help="Cosine between two tracks' vectors at or above which they count as "
                                         "duplicates (an exact copy is 1.000, an mp3 re-encode 0.9994, different songs at most 0.52 on the bundled examples)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per group on stdout."),
    library: str = LibraryOpt,
) -> None:
    """List groups of tracks that sound identical (copies, the same recording in another format)."""
    from muser_model.errors import MuserError
    from muser_model.library.duplicates import duplicate_groups
    from muser_model.library.store import Library

    from muser_cli.library_cmds import _fail

    try:
        lib = Library.open(library)
        groups = duplicate_groups(lib, threshold)
    except MuserError as exc:
        raise _fail(exc) from exc
    err.print(f"{len(groups)} group(s) of duplicates, {sum(len(g) for g in groups)} tracks")
    for number, group in enumerate(groups, 1):
        if as_json:
            output.json_line({"group": number, "tracks": [vars(t) for t in group]})
            continue
        output.data(f"group {number}")
        for track in group:
            output.data(f"  {track.cosine:.4f}  {track.path}")
