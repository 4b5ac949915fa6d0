"""Consoles and formatting: data to stdout, messages to stderr, no colour for NO_COLOR or pipes."""
from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

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


def scores_text(scores: list[Any]) -> str:
    return ", ".join(f"{s.label} {s.score:.2f}" for s in scores)
