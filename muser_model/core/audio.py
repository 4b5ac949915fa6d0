"""Decode audio files to mono float32 at 16 kHz, block by block, with bounded memory.

soundfile (libsndfile) is the primary decoder; an ``ffmpeg`` subprocess handles what
libsndfile cannot open (m4a/aac/wma/mp4, ...). Every failure becomes a typed AudioError
that names the file.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from muser_model.core.errors import (AudioError, AudioFileNotFoundError, AudioPermissionError,
                                     AudioTooShortError, EmptyAudioFileError, NotAudioError,
                                     SilentAudioError, UndecodableAudioError)
from muser_model.core.loudness import LevelMeter

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp3", ".ogg", ".oga", ".opus", ".flac", ".wav", ".m4a", ".aac",
     ".aiff", ".aif", ".au", ".wma", ".mp4"}
)
_FFMPEG_ONLY = frozenset({".m4a", ".aac", ".wma", ".mp4"})
_BLOCK_S = 30.0
_EXACT_SEEK = frozenset({"WAV", "WAVEX", "RF64", "W64", "AIFF", "AU", "CAF", "FLAC"})
_MARGIN_S = 0.1  # extra input decoded past a requested span so the resampler tail is exact


@dataclass(frozen=True)
class AudioInfo:
    """What probe() learns about a file without decoding all of it."""

    path: Path
    duration_s: float  # may be approximate for ffmpeg-decoded files
    native_sample_rate: int
    channels: int
    backend: str  # "soundfile" or "ffmpeg"


def _looks_like_audio(head: bytes) -> bool:
    """True when the first bytes match a known audio container signature."""
    return (
        (head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE")
        or head[:4] in (b"fLaC", b"OggS", b"\x30\x26\xb2\x75", b".snd")  # .snd = Sun/NeXT .au (GTZAN)
        or head[:3] == b"ID3"
        or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"))
        or head[4:8] == b"ftyp"
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG / ADTS sync
    )


def _check(path: str | Path) -> tuple[Path, bool]:
    """Classify path problems; return the path and whether its header looks like audio."""
    p = Path(path)
    try:
        if p.is_dir():
            raise NotAudioError(p, "is a directory")
        if p.exists() and not p.is_file():
            raise NotAudioError(p, "not a regular file")
        with open(p, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        raise AudioFileNotFoundError(p) from None
    except PermissionError:
        raise AudioPermissionError(p) from None
    except IsADirectoryError:
        raise NotAudioError(p, "is a directory") from None
    except OSError as e:
        raise UndecodableAudioError(p, e.strerror or str(e)) from None
    if not head:
        raise EmptyAudioFileError(p)
    return p, _looks_like_audio(head)


def _try_soundfile(p: Path, looks_audio: bool = True) -> sf.SoundFile | None:
    """Open p with libsndfile, or None when it must go to ffmpeg.

    Files whose header matches no audio signature go straight to ffmpeg, which fails quietly
    (libsndfile's MP3 decoder prints notes to the process's stderr on garbage input).
    """
    if p.suffix.lower() in _FFMPEG_ONLY or not looks_audio:
        return None
    try:
        return sf.SoundFile(p)
    except Exception:
        return None


def _failure(p: Path, looks_audio: bool, detail: str) -> AudioError:
    """The error for a file no decoder could read."""
    if looks_audio:
        return UndecodableAudioError(p, detail)
    return NotAudioError(p, f"unrecognised file header; {detail}")


def _clean(x: np.ndarray) -> np.ndarray:
    """float32 copy-if-needed with NaN/inf replaced by 0."""
    x = x.astype(np.float32, copy=False)
    return np.nan_to_num(x, copy=not x.flags.writeable, nan=0.0, posinf=0.0, neginf=0.0)


def _sf_skip(f: sf.SoundFile, start: int, n: int) -> bool:
    """Move to frame `start` (False if past the end): seek where libsndfile seeks exactly, else
    decode and discard (its Ogg Vorbis seek can land hundreds of frames off)."""
    if f.format in _EXACT_SEEK:
        if start < f.frames:
            f.seek(start)
        return start < f.frames
    done = 0
    while done < start:
        got = len(f.read(min(n, start - done), dtype="float32", always_2d=True))
        if got == 0:
            return False
        done += got
    return True


def _sf_chunks(p: Path, f: sf.SoundFile, sr: int, block_s: float,
               offset_s: float, span_s: float | None) -> Iterator[np.ndarray]:
    """Decode with soundfile: read native blocks, downmix, resample incrementally."""
    with f:
        native, total = f.samplerate, 0
        start = round(offset_s * native)
        limit = None if span_s is None else round((span_s + _MARGIN_S) * native)
        n = max(1, round(block_s * native))
        rs = soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ") if native != sr else None
        try:
            if start and not _sf_skip(f, start, n):
                return
            while True:
                want = n if limit is None else min(n, limit - total)
                data = f.read(want, dtype="float32", always_2d=True)
                total += len(data)
                last = len(data) < want or (limit is not None and total >= limit)
                mono = _clean(data.mean(axis=1))
                out = rs.resample_chunk(mono, last=last) if rs else mono
                if out.size:
                    yield out
                if last:
                    break
        except Exception as e:
            raise UndecodableAudioError(p, f"{type(e).__name__}: {e}") from e
    if total == 0 and start == 0:
        raise UndecodableAudioError(p, "no audio samples decoded")


def _ffmpeg_cmd(exe: str, p: Path, sr: int, offset_s: float, span_s: float | None) -> list[str]:
    cmd = [exe, "-nostdin", "-v", "error"]
    if offset_s > 0:
        cmd += ["-ss", f"{offset_s:.6f}"]
    cmd += ["-i", f"file:{p}", "-map", "0:a:0"]
    if span_s is not None:
        cmd += ["-t", f"{span_s + _MARGIN_S:.6f}"]
    # rematrix_maxval 1 normalises the downmix, so stereo becomes (L+R)/2 as in the soundfile path
    return cmd + ["-f", "f32le", "-ac", "1", "-rematrix_maxval", "1", "-ar", str(sr), "-"]


def _ffmpeg_chunks(p: Path, looks_audio: bool, sr: int, block_s: float,
                   offset_s: float, span_s: float | None) -> Iterator[np.ndarray]:
    """Decode with an ffmpeg subprocess, reading its stdout block by block."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise _failure(p, looks_audio, "needs ffmpeg, which is not installed")
    nbytes, total = 4 * max(1, round(block_s * sr)), 0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_ffmpeg_cmd(exe, p, sr, offset_s, span_s),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        try:
            while chunk := proc.stdout.read(nbytes):
                usable = len(chunk) // 4 * 4
                total += usable // 4
                if usable:
                    yield _clean(np.frombuffer(chunk[:usable], dtype="<f4"))
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err.seek(0)
        msg = _first_line(err.read(), p)
    if total == 0 and (rc != 0 or offset_s == 0):
        raise _failure(p, looks_audio, msg or f"ffmpeg exit status {rc}, no audio")


def _first_line(stderr: bytes, p: Path) -> str:
    """First line of ffmpeg's stderr without its '[demuxer @ 0x..]' and 'file:PATH:' prefixes."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    line = re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", lines[0]) if lines else ""
    return line.removeprefix(f"file:{p}: ")


def _decode(path: str | Path, sr: int, block_s: float, offset_s: float = 0.0,
            span_s: float | None = None) -> Iterator[np.ndarray]:
    """Raw mono chunks of varying length from whichever backend can read the file."""
    p, looks_audio = _check(path)
    f = _try_soundfile(p, looks_audio)
    if f is not None:
        yield from _sf_chunks(p, f, sr, block_s, offset_s, span_s)
    else:
        yield from _ffmpeg_chunks(p, looks_audio, sr, block_s, offset_s, span_s)


def _rechunk(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Regroup chunks into blocks of exactly n samples (the last may be shorter)."""
    buf: list[np.ndarray] = []
    size = 0
    try:
        for c in chunks:
            buf.append(c)
            size += len(c)
            if size >= n:
                joined = np.concatenate(buf)
                k = len(joined) // n * n
                yield from (joined[i:i + n] for i in range(0, k, n))
                buf, size = [joined[k:]], len(joined) - k
        if size:
            yield np.concatenate(buf)
    finally:
        chunks.close()


def _ffprobe_info(p: Path, looks_audio: bool) -> AudioInfo:
    """probe() for files soundfile cannot open: ffprobe, else mutagen."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return _mutagen_info(p, looks_audio)
    cmd = [exe, "-v", "error", "-select_streams", "a:0", "-of", "json",
           "-show_entries", "stream=sample_rate,channels:format=duration", f"file:{p}"]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    meta = json.loads(res.stdout or b"{}") if res.returncode == 0 else {}
    streams = meta.get("streams") or []
    if not streams:
        raise _failure(p, looks_audio, _first_line(res.stderr, p) or "no audio stream")
    duration = meta.get("format", {}).get("duration")
    if duration in (None, "N/A"):
        chunks = _ffmpeg_chunks(p, looks_audio, SAMPLE_RATE, _BLOCK_S, 0.0, None)
        duration = sum(len(c) for c in chunks) / SAMPLE_RATE
    st = streams[0]
    return AudioInfo(p, float(duration), int(st.get("sample_rate", 0)), int(st.get("channels", 0)), "ffmpeg")


def _mutagen_info(p: Path, looks_audio: bool) -> AudioInfo:
    import mutagen  # lazy: only needed without ffprobe

    try:
        info = mutagen.File(p).info
        return AudioInfo(p, float(info.length), int(info.sample_rate), int(info.channels), "ffmpeg")
    except Exception:
        raise _failure(p, looks_audio, "needs ffmpeg, which is not installed") from None


def probe(path: str | Path) -> AudioInfo:
    """Duration, native rate, channel count and backend of an audio file."""
    p, looks_audio = _check(path)
    f = _try_soundfile(p, looks_audio)
    if f is None:
        return _ffprobe_info(p, looks_audio)
    with f:
        return AudioInfo(p, f.frames / f.samplerate, f.samplerate, f.channels, "soundfile")


def iter_blocks(path: str | Path, sample_rate: int = SAMPLE_RATE,
                block_s: float = _BLOCK_S) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks at `sample_rate` (last one may be shorter).

    Every block but the last has exactly round(block_s*sample_rate) samples. Never loads the whole file.
    """
    if block_s <= 0:
        raise ValueError("block_s must be > 0")
    return _rechunk(_decode(path, sample_rate, block_s), max(1, round(block_s * sample_rate)))


def iter_windows(path: str | Path, window_s: float, hop_s: float, sample_rate: int = SAMPLE_RATE,
                 min_duration_s: float = 1.0, max_windows: int | None = None,
                 meter: LevelMeter | None = None) -> Iterator[np.ndarray]:
    """Yield float32 windows of exactly round(window_s*sample_rate) samples at 0, hop, 2*hop, ...

    The final partial window is zero-padded; a partial window shorter than min_duration_s is dropped
    once any window has been produced. Files shorter than min_duration_s raise AudioTooShortError.
    After the last window, a file whose decoded audio is silent (see loudness) raises
    SilentAudioError. `meter` (one is made if None) measures every decoded block: its `samples`
    give the decoded length, `complete` whether the file was read to its end (not when
    `max_windows` stopped it). Memory is O(window + block).
    """
    win, hop = round(window_s * sample_rate), round(hop_s * sample_rate)
    if win <= 0 or hop <= 0:
        raise ValueError("window_s and hop_s must be > 0")
    if max_windows is not None and max_windows <= 0:
        return
    meter = meter if meter is not None else LevelMeter()
    yield from _windows(path, iter_blocks(path, sample_rate), win, hop, sample_rate, min_duration_s,
                        max_windows, meter)
    if meter.silent:
        raise SilentAudioError(path, meter.describe())


def _windows(path: str | Path, blocks: Iterator[np.ndarray], win: int, hop: int, sample_rate: int,
             min_duration_s: float, max_windows: int | None, meter: LevelMeter) -> Iterator[np.ndarray]:
    """iter_windows' windows from the decoded `blocks`, each block measured by `meter`."""
    min_n, count, skip = round(min_duration_s * sample_rate), 0, 0
    buf = np.zeros(0, dtype=np.float32)
    try:
        for block in blocks:
            meter.add(block)
            drop, skip = min(skip, len(block)), max(0, skip - len(block))
            buf = np.concatenate([buf, block[drop:]])
            while len(buf) >= win and meter.samples >= min_n:
                yield buf[:win].copy()
                count += 1
                if count == max_windows:
                    return
                skip, buf = max(0, hop - len(buf)), buf[hop:]
        meter.complete = True
        if meter.samples < min_n:
            raise AudioTooShortError(path, f"{meter.samples / sample_rate:.2f} s < {min_duration_s:.2f} s")
        while len(buf) and not (count and len(buf) < min_n) and count != max_windows:
            yield np.pad(buf, (0, win - len(buf)))
            count += 1
            buf = buf[hop:]
    finally:
        blocks.close()


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, offset_s: float = 0.0,
               duration_s: float | None = None) -> np.ndarray:
    """Mono float32 samples of [offset, offset+duration) (whole file if None); stops reading after the span."""
    if offset_s < 0 or (duration_s is not None and duration_s < 0):
        raise ValueError("offset_s and duration_s must be >= 0")
    pre = min(offset_s, _MARGIN_S)  # start a little early so decoder/resampler warm-up is discarded
    span = None if duration_s is None else duration_s + pre
    chunks = list(_decode(path, sample_rate, _BLOCK_S, offset_s - pre, span))
    out = np.concatenate(chunks)[round(pre * sample_rate):] if chunks else np.zeros(0, np.float32)
    return out if duration_s is None else out[: round(duration_s * sample_rate)].copy()


# -- libmpg123's notes on fd 2 ------------------------------------------------------------------
# libsndfile's MP3 decoder (libmpg123) writes notes on odd files straight to file descriptor 2:
# "Warning: Xing stream size off by more than 1%, ...", "Cannot read next header, a one-frame
# stream? Duh...". Decoder processes point fd 2 at /dev/null; a process that decodes itself (the
# one-process `muser tag`) runs under `quiet_decoder_notes`, which drops those lines alone.
MPG123_NOTE = re.compile(r"libmpg123|Xing stream size|MPEG-Header|resync|one-frame stream|Duh\.\.\.|"
                         r"Giving up|announced end of track|big_parser|Note: Skipped")


class quiet_decoder_notes:
    """Within this block, fd 2 is a pipe that a thread copies to the real stderr line by line,
    dropping libmpg123's notes (MPG123_NOTE); every other line, from any thread or C library,
    comes through. Python's `sys.stderr` writes straight to a copy of the real stderr meanwhile
    (so muser's messages are not delayed, and a terminal stays a terminal for progress bars).
    On exit fd 2 is the real stderr again once what was written has been copied; child processes
    started inside (a decoder pool's helpers) may still hold the pipe, so the copier goes on for
    them in the background. Not reentrant; does nothing where fd 2 is not open."""

    def __enter__(self) -> "quiet_decoder_notes":
        import os
        import sys
        import threading

        self._active = False
        try:
            self._real = os.dup(2)
        except OSError:
            return self
        read_end, write_end = os.pipe()
        sys.stderr.flush()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._saved_stderr = sys.stderr
        if _writes_to_fd2(sys.stderr):
            sys.stderr = open(os.dup(self._real), "w", encoding=sys.stderr.encoding,
                              errors=sys.stderr.errors, buffering=1)
        self._copier = _LineFilter(read_end, self._real)
        threading.Thread(target=self._copier.run, daemon=True, name="muser-stderr-filter").start()
        self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        import os
        import sys

        if not self._active:
            return
        if sys.stderr is not self._saved_stderr:
            sys.stderr.close()
            sys.stderr = self._saved_stderr
        os.dup2(self._real, 2)  # our last write end: EOF for the copier unless a child holds one
        self._copier.drained(timeout_s=2.0)
        if self._copier.finished.is_set():
            os.close(self._real)


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False  # replaced (tests, IDEs): Python's writes never reach fd 2


class _LineFilter:
    """Copies a pipe to `real` until EOF, dropping libmpg123's lines."""

    _POLL_MS = 20

    def __init__(self, read_end: int, real: int) -> None:
        import threading

        self.read_end, self.real, self.pending = read_end, real, b""
        self.idle, self.finished = threading.Event(), threading.Event()
        self.requests = 0  # drained() calls so far: a poll counts only if it began after the last

    def run(self) -> None:
        import os
        import select

        poller = select.poll()
        poller.register(self.read_end, select.POLLIN)
        try:
            while True:
                asked = self.requests
                if not poller.poll(self._POLL_MS):  # nothing written for a while: all copied
                    self._forward_partial()
                    if asked == self.requests:
                        self.idle.set()
                    continue
                chunk = os.read(self.read_end, 65536)
                if not chunk:
                    break
                *lines, self.pending = (self.pending + chunk).split(b"\n")
                _forward(self.real, lines, last=False)
        finally:
            self._forward_partial()
            os.close(self.read_end)
            self.finished.set()
            self.idle.set()

    def drained(self, timeout_s: float) -> None:
        """Return once everything written so far has been copied (or at EOF)."""
        self.requests += 1  # before clear(): a poll begun earlier can no longer set idle
        self.idle.clear()
        if self.finished.is_set():  # at EOF already: nothing will set idle again
            return
        self.idle.wait(timeout_s)

    def _forward_partial(self) -> None:
        if self.pending:
            _forward(self.real, [self.pending], last=True)
            self.pending = b""


def _forward(real: int, lines: list[bytes], last: bool) -> None:
    import os

    kept = [line for line in lines if not MPG123_NOTE.search(line.decode("utf-8", "replace"))]
    data = memoryview(b"\n".join(kept) + (b"" if last else b"\n") if kept else b"")
    while data:
        data = data[os.write(real, data):]
