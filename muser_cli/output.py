"""Consoles and formatting: data to stdout, messages to stderr, no colour for NO_COLOR or pipes.

Everything printed here is literal: file names, tags and decoder messages such as
`song [bold]live :fire:.mp3` or ffmpeg's `0:a:0` are never read as Rich markup or emoji codes.
Only the `error:`/`warning:` prefixes are styled, as `Text` spans.

A file name that is not valid UTF-8 reaches here with its bytes as surrogate escapes (os.fsdecode):
data lines write those bytes back as they are, JSON writes them as `\\udcXX` escapes (valid JSON
that json.loads turns back into the same str, and os.fsencode into the same bytes), and messages
show them as `\\xXX`."""
from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

T = TypeVar("T")

# markup/emoji off: every err.print(str) prints its text as it is
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def _shown(text: str) -> str:
    """`text` with a file name's undecodable bytes (surrogate escapes) shown as \\xXX."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def error(message: str) -> None:
    """`error: MESSAGE` on stderr; the message printed literally."""
    err.print(Text.assemble(("error:", "bold red"), " ", _shown(message)))


def warn(message: str) -> None:
    err.print(Text.assemble(("warning:", "yellow"), " ", _shown(message)))


def message(line: str) -> None:
    """A literal line on stderr (progress notes, summaries)."""
    err.print(Text(_shown(line)))


def data(line: str) -> None:
    """A line on stdout; a file name's undecodable bytes written back as they were on disk."""
    out = sys.stdout
    raw = (line + "\n").encode(out.encoding or "utf-8", "surrogateescape")
    if hasattr(out, "buffer"):
        out.flush()
        out.buffer.write(raw)
        out.buffer.flush()
    else:  # a text-only stream (a test's capture)
        out.write(raw.decode(out.encoding or "utf-8", "replace"))
        out.flush()


def json_line(obj: Any) -> None:
    """One JSON object on a line: always valid JSON (a lone surrogate as its \\u escape, and no
    NaN or Infinity, which JSON has not: null stands for a number that is not finite)."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False)
    data(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


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
