"""`muser index --watch`: after the first scan, index new, changed and removed files as they settle.

The operating system reports changes under the music folders (watchdog: inotify on Linux,
FSEvents on macOS, ReadDirectoryChangesW on Windows). A change is acted on only once the folders
have been quiet for `settle_s` and every file that changed kept its size and modification time
across that wait, so a file still being copied is not indexed half written (and one that changes
while it is read fails and is tried again: `scan`). Each rescan is the incremental scan of `muser
index` (only new, changed and removed files cost anything). Ctrl-C and SIGTERM stop the watch
with everything indexed kept.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

SETTLE_S = 2.0  # quiet time before a rescan, and how long a changed file must keep still


class _Changes:
    """Paths reported changed since the last rescan, and when the last report came (thread-safe:
    watchdog reports from its own thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: set[str] = set()
        self.last = 0.0

    def add(self, *paths: str) -> None:
        with self.lock:
            self.paths.update(p for p in paths if p)
            self.last = time.monotonic()

    def take_if_quiet(self, settle_s: float) -> set[str] | None:
        """The paths, emptied, once nothing was reported for `settle_s`; else None."""
        with self.lock:
            if not self.paths or time.monotonic() - self.last < settle_s:
                return None
            paths, self.paths = self.paths, set()
            return paths


def _stats(paths: set[str]) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {}
    for path in paths:
        try:
            st = os.stat(path)
            out[path] = (st.st_size, st.st_mtime_ns)
        except OSError:
            out[path] = None  # removed (or a folder that went away): the rescan drops its files
    return out


def _observer(roots: list[Path], changes: _Changes):
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return  # reads (of our own decoders too) change nothing
            changes.add(os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or ""))

    observer = Observer()
    for root in roots:
        observer.schedule(Handler(), str(root), recursive=True)
    return observer


def watch(roots: list[Path], rescan: Callable[[], None], settle_s: float = SETTLE_S,
          on_wait: Callable[[], None] | None = None) -> None:
    """Call `rescan()` after each settled batch of changes under `roots`, until Ctrl-C or SIGTERM
    (raised as KeyboardInterrupt by the caller's handlers). `on_wait` is called once the watch is
    running (the caller says so)."""
    changes = _Changes()
    observer = _observer(roots, changes)
    observer.start()
    try:
        if on_wait is not None:
            on_wait()
        while True:
            time.sleep(min(0.2, settle_s / 4))  # the main thread waits here so that signals land
            batch = changes.take_if_quiet(settle_s)
            if batch is None:
                continue
            before = _stats(batch)
            time.sleep(settle_s)  # a file being copied grows or is touched meanwhile
            if _stats(batch) != before:
                changes.add(*batch)  # not settled: look again after the next quiet spell
                continue
            rescan()
    finally:
        observer.stop()
        observer.join(timeout=5)
