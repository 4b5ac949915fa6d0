"""Consoles and formatting: data to stdout, messages to stderr, no colour for NO_COLOR or pipes."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console

T = TypeVar("T")

err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}")


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
