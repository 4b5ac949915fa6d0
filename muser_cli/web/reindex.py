"""The page's "re-index" button: the scan of `muser index` over the library's folders, run in a
thread of the server with its own (writable) connection, its progress readable at any time.

The scan commits as it goes, like `muser index`; the server's searches read the last committed
state meanwhile. Stopping (Ctrl-C on the server) raises `ScanStopped`, a KeyboardInterrupt, from
the scan's progress callback: the scan commits what it has embedded, stops its decoders and ends,
as it does on Ctrl-C at the command line. Another `muser index` on the same library is refused
by the library's writer lock, with its message.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


class ScanStopped(KeyboardInterrupt):
    """The server is stopping: the scan commits and ends."""


@dataclass
class Progress:
    state: str = "idle"  # idle | running | done | failed | interrupted
    total: int | None = None  # files to embed (None until the folders are walked)
    done: int = 0
    indexed: int = 0
    failed: int = 0
    message: str = ""
    started: float | None = None
    finished: float | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["failures"] = [{"path": p, "reason": r} for p, r in self.failures[:20]]
        return data


class ReindexJob:
    """At most one scan at a time per server."""

    def __init__(self, library: str, checkpoint: Path | None = None, device: str = "auto",
                 workers: int | None = None) -> None:
        self.library, self.checkpoint, self.device, self.workers = library, checkpoint, device, workers
        self.progress = Progress()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, folders: list[str]) -> bool:
        """Start a scan of `folders`; False when one is already running."""
        with self._lock:
            if self.running:
                return False
            self._stop.clear()
            self.progress = Progress(state="running", started=time.time(), message="walking the folders")
            self._thread = threading.Thread(target=self._run, args=(folders,), name="muser-reindex", daemon=True)
            self._thread.start()
            return True

    def request_stop(self) -> None:
        """Ask a running scan to commit and stop, without waiting (from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask a running scan to commit and stop, and wait for it (at most `timeout` seconds)."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, folders: list[str]) -> None:
        from muser_cli.library_cmds import summary_line
        from muser_model.core.errors import MuserError

        progress = self.progress
        try:
            summary = self._scan(folders)
        except ScanStopped:
            progress.state, progress.message = "interrupted", "stopped: what was indexed so far is kept"
        except MuserError as exc:
            progress.state, progress.message = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001  a scan bug must not kill the server; the page says it
            progress.state, progress.message = "failed", f"{type(exc).__name__}: {exc}"
        else:
            progress.state, progress.message = "done", summary_line(summary)
            progress.failures = summary.failures
        progress.finished = time.time()

    def _scan(self, folders: list[str]):
        from muser_model.library.scan import ScanOptions, index_library, open_index_model
        from muser_model.library.store import Library

        model = open_index_model(self.checkpoint, self.device)
        lib = Library.open(self.library)
        try:
            with lib.writer_lock():
                return index_library(lib, [Path(f) for f in folders], model, ScanOptions(workers=self.workers),
                                     on_plan=self._planned, on_file=self._file_done)
        finally:
            lib.close()

    def _planned(self, plan) -> None:
        self._check_stop()
        self.progress.total = len(plan.todo)
        self.progress.message = f"{len(plan.todo)} new or changed file(s) to index"

    def _file_done(self, entry, status: str, seconds: float) -> None:
        progress = self.progress
        progress.done += 1
        if status == "indexed":
            progress.indexed += 1
        elif status == "failed":
            progress.failed += 1
        self._check_stop()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise ScanStopped()
