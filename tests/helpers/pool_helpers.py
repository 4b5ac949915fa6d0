"""Decoder jobs that misbehave, for the pool and scan robustness tests (imported by spawned decoders)."""
from __future__ import annotations

import os
import signal
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from muser_model.library.decode import Decoded, IndexJob

HANG_S = 3600  # how long the hanging decoder sleeps: only a kill ends it sooner


@dataclass(frozen=True)
class MisbehavingJob(IndexJob):
    """Stands in for a decoder that segfaults on one file, loops forever on another, and dies
    halfway through sending a result on a third (the parent reads a message header that promises
    1 MiB and then gets 7 bytes: a decoder SIGKILLed while its windows were in the pipe)."""

    def __call__(self, path: str) -> Decoded:
        name = Path(path).name
        if name.startswith("crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        if name.startswith("hang"):
            time.sleep(HANG_S)
        if name.startswith("cut"):
            conn = sys._getframe(1).f_locals["conn"]  # pool._decoder_main's pipe to the parent
            os.write(conn.fileno(), struct.pack("!i", 1 << 20) + b"partial")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(path)


@dataclass(frozen=True)
class VanishingJob(IndexJob):
    """The user deletes a file after the scan listed it and before it is decoded."""

    def __call__(self, path: str) -> Decoded:
        if "vanish" in Path(path).name:
            Path(path).unlink()
        return super().__call__(path)


@dataclass(frozen=True)
class DecodeOnlyJob(IndexJob):
    """Decodes but never embeds, even when given a checkpoint: the scan embeds the windows itself."""

    def __call__(self, path: str) -> Decoded:
        return IndexJob.__call__(self.decode_only(), path)


@dataclass(frozen=True)
class ProbeJob:
    """Reports on the decoder process instead of decoding: its pid, process group and modules."""

    def warm_up(self) -> None:
        pass

    def __call__(self, path: str) -> Decoded:
        tags = {"pid": str(os.getpid()), "pgid": str(os.getpgid(0)),
                "decode_loaded": str("muser_model.library.decode" in sys.modules)}
        return Decoded(path, tags=tags)
