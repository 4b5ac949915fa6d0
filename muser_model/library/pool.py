"""The decoder processes of `muser index` and of `muser tag --workers`: start, kill, watch.

A ProcessPoolExecutor of spawned workers, with what it lacks for a scan that may be stopped at
any moment: each worker is its own process group (a Ctrl-C at the terminal reaches only the
parent, which commits its work and then kills them, with their ffmpeg children); a worker exits
when its parent dies (a SIGKILLed `muser index` leaves no decoder behind); and `kill_pool`
returns within seconds whatever state the pool is in.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

from muser_model.library.decode import warm_up
from muser_model.core.process_settings import hidden_main, keep_freed_memory, pool_processes

_JOIN_S = 5.0  # how long kill_pool waits for the killed workers and the pool's manager thread
_WATCH_S = 0.2  # how often a worker checks that its parent is alive


def _init_worker(parent: int) -> None:
    """Leave the parent's process group (signals sent to it, Ctrl-C, reach only the parent),
    silence decoder libraries (they print notes on bad files straight to fd 2), reuse freed
    memory (see process_settings.keep_freed_memory) and exit, with any ffmpeg child, when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers, Ctrl-C does not
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
        os.killpg(0, signal.SIGKILL)  # this worker and its ffmpeg
    os._exit(0)


def start_pool(workers: int, module: str, checkpoint: str = "") -> tuple[ProcessPoolExecutor, list[Future]]:
    """A pool of `workers` processes that start now, import `module` (the decoder's) and (numpy
    engine) load the checkpoint's model: (pool, their warm-up futures)."""
    with hidden_main(module != "__main__"):
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(os.getpid(),),
                                   mp_context=multiprocessing.get_context("spawn"))
        try:
            return pool, [pool.submit(warm_up, module, checkpoint) for _ in range(workers)]  # starts them
        except BaseException:  # a Ctrl-C while the workers spawn
            kill_pool(pool)
            raise


def kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, whatever its workers are doing, and return within seconds.

    ProcessPoolExecutor.shutdown waits for its manager thread, which hung for good when a worker
    died while sending a result: the thread waited in Connection._recv for the rest of a message
    that would never come (the parent holds the pipe's write end open). So the workers are
    SIGKILLed with their process groups, the parent's write end is closed (the thread reads EOF
    and stops), and the thread is joined with a deadline. SIGINT and SIGTERM wait meanwhile."""
    with _signals_deferred():
        processes = pool_processes(pool)
        for process in processes:
            _kill_group(process.pid)
        deadline = time.monotonic() + _JOIN_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        manager = getattr(pool, "_executor_manager_thread", None)
        results = getattr(pool, "_result_queue", None)
        if results is not None:
            results._writer.close()  # the manager's pending read, if any, ends in EOF
        pool.shutdown(wait=False, cancel_futures=True)
        if manager is not None:
            manager.join(max(0.0, deadline - time.monotonic()))
        if results is not None and (manager is None or not manager.is_alive()):
            results._reader.close()
        if getattr(pool, "_broken", False):
            gc.collect()  # a cycle held the queues' semaphores: "leaked semaphore objects" at exit


def _kill_group(pid: int | None) -> None:
    """SIGKILL a worker and its process group (its ffmpeg), or the worker alone if it has not
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
    """Hold SIGINT and SIGTERM until the block ends (main thread only), so that a second Ctrl-C
    cannot leave a pool half-killed."""
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
