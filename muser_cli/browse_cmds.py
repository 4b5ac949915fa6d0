"""Browsing the library's catalogue (no checkpoint, no torch); options shared with search."""
from __future__ import annotations

import typer

PredictedGenreOpt = typer.Option("", "--predicted-genre",
                                 help="Only tracks muser predicts to be this genre (e.g. metal): works on "
                                      "untagged files, unlike --genre, which reads the file's genre tag.")
TagOpt = typer.Option(None, "--tag",
                      help="Only tracks with this predicted tag among their top 5 (with a trained tag head: "
                           "probability >= 0.5); repeat for several, all required.")
