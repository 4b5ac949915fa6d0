"""Facts about this machine that choose an engine (found without importing torch), and process
settings the numpy engine runs best with."""
from __future__ import annotations

import os
import sys


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AMX-BF16 or AVX512-BF16 (Linux), where bf16 matmuls run at speed."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's or taskset's limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


MAX_AUTO_DECODERS = 16  # each decoder holds ~100-150 MB; ask for more with --workers


def default_decoders(engine: str) -> int:
    """Decoder processes for a scan: one per usable CPU when they also embed (numpy engine), one
    fewer when this process embeds (torch engine: it needs a core of its own to feed a GPU);
    at least 2, at most MAX_AUTO_DECODERS."""
    spare = 0 if engine == "numpy" else 1
    return max(2, min(MAX_AUTO_DECODERS, usable_cpus() - spare))


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
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 and mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
