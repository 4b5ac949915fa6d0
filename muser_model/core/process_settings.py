"""Every process-global setting muser makes, in one place, each with its reason.

These change the whole process (or its children), not one call: glibc's malloc thresholds
(`keep_freed_memory`), the BLAS thread count (`blas_threads`, through threadpoolctl) and which
`__main__` spawned children re-import (`hidden_main`). Module-level caches live beside what they
cache: the BLAS libraries here (`_BLAS`), each decoder process's numpy model in
`library/decode.py` (`_WORKER_MODELS`).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import types
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of handing it back to the OS.

    The numpy engine allocates and frees megabytes of temporaries per window. With glibc's
    defaults many of them are fresh mmaps, or a heap top trimmed on free, whose pages fault in
    again on the next window: `muser tag` on sixty 30 s clips spent 2.0 s in the kernel of 10-12 s
    (0.3 s with these settings, 8-9 s wall). Call it in a process that runs the numpy engine;
    True when set. No-op off glibc (macOS, musl) and when MALLOC_MMAP_THRESHOLD_ or
    MALLOC_TRIM_THRESHOLD_ is set in the environment (the user's choice wins)."""
    if not sys.platform.startswith("linux") or any(
            v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 and mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1


# -- BLAS threads ----------------------------------------------------------------------------
_BLAS: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (numpy's OpenBLAS, and torch's if it is
    loaded by then), found once: the search takes ~20 ms, a limit ~10 µs."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` BLAS threads (None: leave as is), then restore.

    The numpy engine runs single-threaded by default: its matmuls are a few ms each, and
    OpenBLAS's spinning worker threads cost seconds when other processes load the CPU (measured
    5x slower on a busy 2-core machine, at most 1.5x faster on an idle one). An explicit
    OPENBLAS_NUM_THREADS or OMP_NUM_THREADS in the environment wins.
    """
    if n is None or any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
        yield
        return
    with _blas_controller().limit(limits=n, user_api="blas"):
        yield


# -- spawned children ----------------------------------------------------------------------------
@contextlib.contextmanager
def hidden_main(hide: bool = True) -> Iterator[None]:
    """Start spawned workers without the program's __main__: spawn re-imports it in every child
    (the `muser` script: typer, rich and the whole CLI, ~0.13 s of CPU per decoder; under pytest,
    pytest), and a script calling index_library without an `if __name__ == "__main__"` guard
    would start its scan again in each child. The decoders need only their own module."""
    if not hide:
        yield
        return
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, no __spec__: nothing to import
    try:
        yield
    finally:
        sys.modules["__main__"] = main
