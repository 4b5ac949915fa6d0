"""Decoders that misbehave, for the pool and scan robustness tests (imported by spawned workers)."""
from __future__ import annotations

import os
import signal
import struct
import sys
import time
from pathlib import Path

from muser_model.library.decode import Decoded, decode_for_index

HANG_S = 3600  # how long the hanging decoder sleeps: only a kill ends it sooner


def die_mid_result(*_args) -> None:
    """Die halfway through sending a result: the parent's pool reads a message header that
    promises 1 MiB and then gets 7 bytes (a decoder SIGKILLed while its windows were in the pipe)."""
    results = sys._getframe(1).f_locals["result_queue"]  # concurrent.futures.process._process_worker's
    os.write(results._writer.fileno(), struct.pack("!i", 1 << 20) + b"partial")
    os.kill(os.getpid(), signal.SIGKILL)


def misbehaving_decoder(path: str, *args) -> Decoded:
    """Stands in for a decoder that segfaults on one file and loops forever on another."""
    name = Path(path).name
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("hang"):
        time.sleep(HANG_S)
    return decode_for_index(path, *args)


def vanishing_decoder(path: str, *args) -> Decoded:
    """The user deletes a file after the scan listed it and before it is decoded."""
    if "vanish" in Path(path).name:
        Path(path).unlink()
    return decode_for_index(path, *args)
