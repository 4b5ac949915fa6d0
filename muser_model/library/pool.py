"""The decoder processes of `muser index` and of `muser tag --workers`: start, feed, watch, kill.

Each decoder is a spawned process with a pipe of its own, served by a thread here that sends it
one file at a time with the job saying what to do with it (`decode.IndexJob`, `decode.TagJob`)
and waits for the answer at most `timeout_s`. So one bad file fails alone: a decoder that dies
on it (a crash in a codec) or takes longer than the timeout (a hang) is killed and replaced, and
only that file gets the reason. The threads keep the decoders busy while the caller embeds.

For a scan that may be stopped at any moment: each decoder is its own process group (a Ctrl-C at
the terminal reaches only the parent, which commits its work and then kills them, with their
ffmpeg children), a decoder exits when its parent dies (a SIGKILLed `muser index` leaves none
behind), and `DecoderPool.kill` returns within seconds whatever the decoders are doing.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

from muser_model.core.errors import MuserError
from muser_model.core.files import FileEntry
from muser_model.core.process_settings import hidden_main, keep_freed_memory
from muser_model.library.decode import Decoded

_AHEAD = 6  # files handed out per decoder: they keep working while the caller embeds a batch
_READY_S = 120.0  # at least this long for a decoder to start (imports, model): a loaded machine is slow
_START_TRIES = 3  # decoders in a row that may die or hang while starting before the pool gives up
_JOIN_S = 5.0  # how long kill waits for the killed decoders and the threads serving them
_WATCH_S = 0.2  # how often a decoder checks that its parent is alive
_SPAWN = multiprocessing.get_context("spawn")


class Job(Protocol):
    """What a decoder does with each file (picklable: it travels with every path)."""

    def warm_up(self) -> None: ...

    def __call__(self, path: str) -> Decoded: ...


class DecoderPoolError(MuserError):
    """The decoders cannot go on: they keep dying or hanging as they start, or all have stopped."""


# -- in the decoder process -------------------------------------------------------------------------
def _init_worker(parent: int) -> None:
    """Leave the parent's process group (signals sent to it, Ctrl-C, reach only the parent),
    silence decoder libraries (they print notes on bad files straight to fd 2), reuse freed
    memory (see process_settings.keep_freed_memory) and exit, with any ffmpeg child, when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the decoders, Ctrl-C does not
    os.setpgid(0, 0)
    keep_freed_memory()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_S)
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)  # this decoder and its ffmpeg
    os._exit(0)


def _decoder_main(conn: Connection, parent: int, warm: Job) -> None:
    """A decoder: warm up, say so, then answer (job, path) requests until the pipe closes. An
    exception other than the job's own reasons (a checkpoint that cannot load) goes back to be
    raised in the parent."""
    _init_worker(parent)
    try:
        warm.warm_up()
    except Exception as exc:  # noqa: BLE001 - raised again in the parent, typed
        _reply(conn, "raised", exc)
        return
    _reply(conn, "ready", os.getpid())
    while True:
        try:
            job, path = conn.recv()
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - a job this process cannot unpickle (import it)
            _reply(conn, "raised", exc)
            continue
        try:
            _reply(conn, "done", job(path))
        except Exception as exc:  # noqa: BLE001
            _reply(conn, "raised", exc)


def _reply(conn: Connection, kind: str, value: object) -> None:
    try:
        conn.send((kind, value))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # unpicklable: nothing was written yet
        conn.send(("raised", RuntimeError(f"decoder answer could not be sent: {exc}")))


# -- in the parent ------------------------------------------------------------------------------------
@dataclass
class _Decoder:
    process: BaseProcess
    conn: Connection  # the parent's end: EOF once the decoder is gone

    def kill(self) -> None:
        _kill_group(self.process.pid)


class DecoderPool:
    """`workers` decoder processes, started now, each warming up with `warm` (imports, the numpy
    model); a file taking longer than `timeout_s` counts as a hang."""

    def __init__(self, workers: int, warm: Job, timeout_s: float) -> None:
        self.workers, self.timeout_s, self._warm = workers, timeout_s, warm
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()  # (index, path, job), None: stop
        self._results: queue.SimpleQueue = queue.SimpleQueue()  # (index, Decoded or an exception)
        self._lock = threading.Lock()  # spawning against killing
        self._stopping = False
        self._decoders: list[_Decoder | None] = [None] * workers
        self._threads: list[threading.Thread] = []
        try:
            for i in range(workers):
                self._spawn(i)
        except BaseException:  # a Ctrl-C while the decoders spawn
            self.kill()
            raise
        for i in range(workers):
            thread = threading.Thread(target=self._serve, args=(i,), daemon=True, name=f"muser-decoder-{i}")
            thread.start()
            self._threads.append(thread)

    @property
    def pids(self) -> list[int]:
        return [d.process.pid for d in self._decoders if d is not None and d.process.pid is not None]

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    def decode(self, entries: Sequence[FileEntry], job_now: Callable[[], Job]) -> Iterator[tuple[FileEntry, Decoded]]:
        """Each entry with what the job made of it, as they finish. `job_now()` is asked as each
        file is handed out. A crash or hang gives that file a Decoded with the reason."""
        todo = iter(range(len(entries)))
        pending = 0
        for i in todo:
            self._tasks.put((i, entries[i].path, job_now()))
            pending += 1
            if pending >= _AHEAD * self.workers:
                break
        while pending:
            i, value = self._next_result()
            if isinstance(value, BaseException):
                raise value
            pending -= 1
            nxt = next(todo, None)
            if nxt is not None:
                self._tasks.put((nxt, entries[nxt].path, job_now()))
                pending += 1
            yield entries[i], value

    def _next_result(self) -> tuple[int | None, Decoded | BaseException]:
        """The next answer; waits in short steps so that a pool whose threads have all ended
        (a bug, never a bad file) raises instead of blocking for good."""
        while True:
            try:
                return self._results.get(timeout=1.0)
            except queue.Empty:
                if not any(thread.is_alive() for thread in self._threads):
                    raise DecoderPoolError("every decoder process stopped with files left to decode") from None

    def kill(self) -> None:
        """Stop now, whatever the decoders are doing, and return within seconds: SIGKILL each
        decoder with its process group (its ffmpeg); the threads serving them read EOF and end.
        SIGINT and SIGTERM wait meanwhile, so a second Ctrl-C cannot leave it half done."""
        with _signals_deferred():
            with self._lock:
                self._stopping = True
                decoders = [d for d in self._decoders if d is not None]
            for decoder in decoders:
                decoder.kill()
            for _ in self._threads:
                self._tasks.put(None)
            deadline = time.monotonic() + _JOIN_S
            for decoder in decoders:
                decoder.process.join(max(0.0, deadline - time.monotonic()))
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self, i: int) -> _Decoder | None:
        """A new decoder process in slot `i`, or None once the pool is being killed (registered
        under the lock, so that kill sees every decoder that exists)."""
        with self._lock:
            if self._stopping:
                return None
            ours, theirs = _SPAWN.Pipe()
            process = _SPAWN.Process(target=_decoder_main, args=(theirs, os.getpid(), self._warm),
                                     name="muser-decoder", daemon=True)
            with hidden_main():
                process.start()
            theirs.close()  # the decoder holds the only write end: its death reads as EOF here
            self._decoders[i] = _Decoder(process, ours)
            return self._decoders[i]

    def _serve(self, i: int) -> None:
        """The thread of decoder `i`; whatever goes wrong in it is raised to the caller of
        `decode`, never lost with the files it held."""
        try:
            self._serve_decoder(i)
        except BaseException as exc:  # noqa: BLE001
            self._results.put((None, exc))

    def _serve_decoder(self, i: int) -> None:
        """Wait until decoder `i` is warm, then hand it files one at a time, replacing it when
        it dies or hangs."""
        decoder, failed_starts = self._decoders[i], 0
        while decoder is not None:
            started = self._receive(decoder, max(_READY_S, self.timeout_s))
            if isinstance(started, tuple) and started[0] == "ready":
                failed_starts = 0
                decoder = self._feed(i, decoder)
                continue
            decoder.kill()
            decoder.process.join(_JOIN_S)
            decoder.conn.close()
            if self._stopping:
                return
            if isinstance(started, tuple):  # the warm-up raised: a checkpoint that cannot load
                self._results.put((None, started[1]))
                return
            failed_starts += 1
            if failed_starts >= _START_TRIES:
                self._results.put((None, DecoderPoolError(
                    f"decoder processes died or hung while starting, {failed_starts} times in a row")))
                return
            decoder = self._spawn(i)

    def _feed(self, i: int, decoder: _Decoder) -> _Decoder | None:
        """Files to decoder `i` until the pool stops (None) or the decoder dies or hangs on one
        (its replacement)."""
        while True:
            task = self._tasks.get()
            if task is None:
                decoder.conn.close()
                return None
            index, path, job = task
            try:
                decoder.conn.send((job, path))
            except OSError:
                pass  # it died: the receive below reads EOF
            answer = self._receive(decoder, self.timeout_s)
            if self._stopping:
                decoder.conn.close()
                return None
            if isinstance(answer, tuple):
                self._results.put((index, answer[1]))
                continue
            reason = ("decoder crashed on this file" if answer == "died"
                      else f"decoding took longer than {self.timeout_s:.0f} s")
            self._results.put((index, Decoded(path, error=reason)))
            decoder.kill()
            decoder.process.join(_JOIN_S)
            decoder.conn.close()
            return self._spawn(i)

    @staticmethod
    def _receive(decoder: _Decoder, timeout_s: float) -> tuple[str, object] | str:
        """The decoder's next message, or "died" (EOF, a message cut short or garbled), or "hung"."""
        try:
            if not decoder.conn.poll(timeout_s):
                return "hung"
            return decoder.conn.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            return "died"


def start_pool(workers: int, warm: Job, timeout_s: float) -> DecoderPool:
    return DecoderPool(workers, warm, timeout_s)


class PoolStarter:
    """A pool started once, on the first call: a scan calls it when its plan finds the first file
    to decode, so the decoders warm up while the rest of the folders are walked, and a scan with
    nothing to do starts none."""

    def __init__(self, workers: int, warm: Job, timeout_s: float) -> None:
        self.workers, self.warm, self.timeout_s = workers, warm, timeout_s
        self.pool: DecoderPool | None = None

    def __call__(self) -> DecoderPool:
        if self.pool is None:
            self.pool = start_pool(self.workers, self.warm, self.timeout_s)
        return self.pool

    def kill(self) -> None:
        if self.pool is not None:
            self.pool.kill()


def decoded_stream(pool: DecoderPool | PoolStarter, entries: Sequence[FileEntry],
                   job_now: Callable[[], Job]) -> Iterator[tuple[FileEntry, Decoded]]:
    """`DecoderPool.decode` on a pool (started now if it is a PoolStarter's), killed at the end."""
    started = pool() if isinstance(pool, PoolStarter) else pool
    try:
        yield from started.decode(entries, job_now)
    finally:
        started.kill()


def _kill_group(pid: int | None) -> None:
    """SIGKILL a decoder and its process group (its ffmpeg), or the decoder alone if it has not
    left the parent's group yet."""
    if pid is None:
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C, so that a scan commits its work and stops its decoders."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises Terminated in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise Terminated()

    before = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
