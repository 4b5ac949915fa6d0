"""Consoles and formatting: data to stdout, messages to stderr, no colour for NO_COLOR or pipes.

Everything printed here is literal: file names, tags and decoder messages such as
`song [bold]live :fire:.mp3` or ffmpeg's `0:a:0` are never read as Rich markup or emoji codes.
Only the `error:`/`warning:` prefixes are styled, as `Text` spans."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

T = TypeVar("T")

# markup/emoji off: every err.print(str) prints its text as it is
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def error(message: str) -> None:
    """`error: MESSAGE` on stderr; the message printed literally."""
    err.print(Text.assemble(("error:", "bold red"), " ", message))


def warn(message: str) -> None:
    err.print(Text.assemble(("warning:", "yellow"), " ", message))


def message(line: str) -> None:
    """A literal line on stderr (progress notes, summaries)."""
    err.print(Text(line))


def data(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def json_line(obj: Any) -> None:
    data(json.dumps(obj, ensure_ascii=False))


def progress(items: Iterable[T], total: int, label: str) -> Iterator[T]:
    """A files-done bar on stderr, shown only when stderr is a terminal and there is more than one."""
    if total < 2 or not err.is_terminal:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)


def scores_text(scores: list[Any]) -> str:
    return ", ".join(f"{s.label} {s.score:.2f}" for s in scores)


def grouped_scores_text(scores: list[Any]) -> str:
    """"genre: heavy metal 0.71, hard rock 0.55; era: 90s 0.31": scores (best first) gathered by
    group, groups in the order of their best score."""
    groups: dict[str, list[Any]] = {}
    for s in scores:
        groups.setdefault(s.group or "other", []).append(s)
    return "; ".join(f"{group}: {scores_text(members)}" for group, members in groups.items())
