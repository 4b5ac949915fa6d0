"""Facts about this machine that choose an engine, found without importing torch. The settings
a process changes for itself are in `muser_model.core.process_settings`."""
from __future__ import annotations

import importlib.util
import os
import re

from muser_model.core.errors import DeviceOptionError, TorchMissingError

_DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(device: str) -> None:
    """Raise DeviceOptionError unless `device` names a device muser runs on (auto, cpu, cuda,
    cuda:N): checked without torch or the engines, for commands that may never load a model
    (search, similar)."""
    if not _DEVICE_NAME.fullmatch(device):
        raise DeviceOptionError(f"unknown device {device!r}; use auto, cpu or cuda")


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AMX-BF16 or AVX512-BF16 (Linux), where bf16 matmuls run at speed."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def torch_installed() -> bool:
    """Whether `import torch` can work, answered without importing it (muser installs without
    torch: `pip install "muser[torch]"` adds it). A module set to None in sys.modules (how tests
    hide torch) makes find_spec raise ValueError: that counts as missing."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_torch(why: str) -> None:
    """Raise TorchMissingError naming `why` (e.g. "--engine torch") unless torch is installed."""
    if not torch_installed():
        raise TorchMissingError(why)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's or taskset's limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


MAX_AUTO_DECODERS = 16  # each decoder is a process with its own memory; ask for more with --workers


def default_decoders(engine: str) -> int:
    """Decoder processes for a scan: one per usable CPU when they also embed (numpy engine), one
    fewer when this process embeds (torch engine: it needs a core of its own to feed a GPU);
    at least 2, at most MAX_AUTO_DECODERS."""
    spare = 0 if engine == "numpy" else 1
    return max(2, min(MAX_AUTO_DECODERS, usable_cpus() - spare))

