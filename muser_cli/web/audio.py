"""What the page's <audio> element can play, and the responses that stream it.

Files a browser plays (mp3, Ogg Vorbis/Opus, FLAC, WAV, AAC in m4a) are sent as they are, with
HTTP range requests, so seeking works. The others (wma, AIFF, AU, ALAC in m4a) are transcoded
once with ffmpeg to Ogg Opus into a small cache, then sent the same way; without ffmpeg the
track says why it cannot be played here.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PLAYABLE = {".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
            ".flac": "audio/flac", ".wav": "audio/wav", ".m4a": "audio/mp4", ".mp4": "audio/mp4",
            ".aac": "audio/aac"}
TRANSCODED_MIME = "audio/ogg"
CACHE_FILES = 64  # transcoded files kept; the oldest go first


def needs_transcode(path: str) -> bool:
    """Whether a browser cannot play the file as it is: by extension, and ALAC inside m4a."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in PLAYABLE:
        return True
    return ext in (".m4a", ".mp4") and _is_alac(path)


def _is_alac(path: str) -> bool:
    """ALAC inside an MP4 file: its header read once per file version (a search shows each hit's
    playability, and a library of m4a files would parse 50 headers a query)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _codec_is_alac(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8192)
def _codec_is_alac(path: str, size: int, mtime_ns: int) -> bool:
    try:
        import mutagen.mp4

        return getattr(mutagen.mp4.MP4(path).info, "codec", "") == "alac"
    except Exception:  # an unreadable header: send it as it is and let the browser try
        return False


def playability(path: str) -> dict:
    """The track fields the page needs to offer playback: playable, mime, and a note if not."""
    ext = os.path.splitext(path)[1].lower()
    if not needs_transcode(path):
        return {"playable": True, "mime": PLAYABLE[ext]}
    kind = ext.lstrip(".") or "this format"
    if shutil.which("ffmpeg"):
        return {"playable": True, "mime": TRANSCODED_MIME, "note": f"{kind}: transcoded to Opus for the browser"}
    return {"playable": False, "mime": "", "note": f"{kind}: a browser cannot play it; install ffmpeg to play it here"}


class TranscodeError(Exception):
    pass


def transcoded(path: str, cache: Path) -> Path:
    """The file as Ogg Opus in `cache` (made once per file version; the oldest are pruned)."""
    st = os.stat(path)
    key = hashlib.sha1(f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape")).hexdigest()
    target = cache / f"{key}.ogg"
    if target.exists():
        os.utime(target)  # recently played: pruned last
        return target
    if not shutil.which("ffmpeg"):
        raise TranscodeError("ffmpeg is not installed")
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=".part-", suffix=".ogg")
    os.close(fd)
    try:
        done = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", path, "-vn", "-c:a", "libopus",
                               "-b:a", "128k", "-f", "ogg", tmp], capture_output=True, timeout=600)
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise TranscodeError(said[-1] if said else f"ffmpeg failed ({done.returncode})")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _prune(cache)
    return target


def _prune(cache: Path) -> None:
    files = sorted(cache.glob("*.ogg"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[CACHE_FILES:]:
        old.unlink(missing_ok=True)
