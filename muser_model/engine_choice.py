"""Which engine runs a request, numpy or torch, decided in one place for `muser tag` and
`muser index` (without importing torch).

numpy (`muser_model.numpy_engine.audio`, CPU fp32) saves the `import torch` (see docs/performance.md); torch runs on
GPUs and, with bf16 autocast, on CPUs that compute bf16 natively.
"""
from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

from muser_model.core import audio, hardware
from muser_model.core.hardware import check_device_name  # noqa: F401  (re-exported)
from muser_model.core.checkpoint import default_checkpoint_path, has_numpy_section
from muser_model.core.errors import AudioError, EngineError
from muser_model.numpy_engine.audio import NumpyMuser

ENGINES = ("auto", "numpy", "torch")
# On a CPU with native bf16 (AMX/AVX512-BF16), engine auto runs numpy for at most this many 5 s
# windows in all (about 5 minutes of audio): beyond that torch's bf16 autocast pays back its
# import. Elsewhere numpy is faster at any size (measured: see docs/performance.md).
AUTO_NUMPY_MAX_WINDOWS = 64
AUTO_NUMPY_MAX_FILES = 32  # more files: torch without probing each one's duration


def check_engine_name(engine: str) -> None:
    """Raise EngineError unless `engine` is one of ENGINES."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; use auto, numpy or torch")




def loaded_model_engine(engine: str, device_type: str, autocast: bool, numpy_usable: bool) -> str:
    """The engine for a torch model already loaded (on `device_type`, with bf16 `autocast` or
    not): numpy when asked, or under auto on a CPU computing fp32 when `numpy_usable` (the
    checkpoint file carries the numpy section); torch on GPUs and under bf16 autocast."""
    check_engine_name(engine)
    if engine == "numpy":
        if not numpy_usable:
            raise EngineError("--engine numpy needs a checkpoint file with a numpy section "
                              "(python -m muser_model.torch_engine.checkpoint_export upgrade FILE)")
        return "numpy"
    if engine == "auto" and numpy_usable and device_type == "cpu" and not autocast:
        return "numpy"
    return "torch"


def cuda_may_be_present() -> bool:
    """Whether torch could find a GPU here, answered without importing torch.

    False only where that is certain: CUDA_VISIBLE_DEVICES hides every device, macOS (no CUDA
    builds), or Linux without the NVIDIA driver's (or ROCm's) device nodes. Else True.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl",
                                                "/dev/nvidia0", "/dev/kfd"))
    return True


def estimated_windows(paths: list[Path], window_s: float, hop_s: float) -> int:
    """Windows the files will give (header probe; an unreadable file counts 1, it fails anyway)."""
    total = 0
    for p in paths:
        try:
            seconds = audio.probe(p).duration_s
        except (AudioError, OSError):
            seconds = window_s
        total += max(1, math.ceil(max(seconds - window_s, 0.0) / hop_s) + 1)
    return total


def choose_engine(engine: str, checkpoint: str | Path | None, device: str = "auto",
                  precision: str = "auto", paths: list[Path] | None = None,
                  labels: list[str] | None = None) -> tuple[str, NumpyMuser | None, str]:
    """("numpy" or "torch", the loaded numpy model or None, why) for a tagging request.

    numpy runs when asked for, or under "auto" when all of these hold: --device auto with no GPU
    possible (`cuda_may_be_present`) or cpu; --precision auto or fp32 (numpy computes fp32, which
    is also what auto gives on CPUs without native bf16); a format-2 checkpoint; open --labels only
    with a frozen text tower; and, on a CPU with native bf16 under --precision auto, a job known to
    be small: `paths` given (None: a job of unknown size, e.g. a library scan), at most
    AUTO_NUMPY_MAX_FILES files and AUTO_NUMPY_MAX_WINDOWS windows. The numpy section is checked
    here, so checkpoint errors surface as usual.
    Without torch installed (`hardware.torch_installed`) auto runs numpy wherever numpy can, and a
    request only torch can run raises TorchMissingError naming why.
    `engine="numpy"` that cannot run raises EngineError; checkpoint errors propagate.
    """
    check_engine_name(engine)
    if engine == "torch":
        hardware.require_torch("--engine torch")
        return "torch", None, "asked for"
    path = Path(checkpoint) if checkpoint else default_checkpoint_path()
    torch_ok = hardware.torch_installed()
    # (why numpy cannot run, the short form naming it when torch is missing too)
    why, needs = None, None
    if device not in ("auto", "cpu"):
        why = needs = f"--device {device}"
    elif device == "auto" and engine == "auto" and torch_ok and cuda_may_be_present():
        why = "a GPU may be present (--device cpu or --engine numpy forces numpy)"
    elif precision not in ("auto", "fp32"):
        why, needs = f"--precision {precision} (numpy computes fp32)", f"--precision {precision}"
    elif not has_numpy_section(path):  # raises the usual checkpoint errors
        why = f"the checkpoint has no numpy section (python -m muser_model.torch_engine.checkpoint_export upgrade {path})"
        needs = "a checkpoint without a numpy section"
    small_only = torch_ok and engine == "auto" and precision == "auto" and hardware.cpu_has_native_bf16()
    if why is None and small_only and paths is None:
        why = "a job of unknown size on a CPU with native bf16"
    if why is None:
        model = NumpyMuser.load(path)
        if labels and not model.can_embed_text:
            why = needs = "--labels with a fine-tuned text tower"
        elif small_only:
            cfg = model.config.audio
            if len(paths) > AUTO_NUMPY_MAX_FILES:
                why = f"more than {AUTO_NUMPY_MAX_FILES} files"
            elif estimated_windows(paths, cfg.window_s, cfg.hop_s) > AUTO_NUMPY_MAX_WINDOWS:
                why = f"more than {AUTO_NUMPY_MAX_WINDOWS} windows of audio"
        if why is None:
            return "numpy", model, "no torch needed"
    if engine == "numpy":
        raise EngineError(f"--engine numpy cannot run this: {why}")
    hardware.require_torch(needs or why)
    return "torch", None, why
