"""The freepats patch set (Debian `freepats`, on the allow-list) as a TiMidity++ config.

    python -m muser_train.corpus.freepats --out corpus/debs   # prints the .cfg path

freepats holds GUS patches for 72 of the 128 General MIDI programs. TiMidity++ would leave the
other 56 silent, so the config written here maps each missing program to the nearest present one
of its GM family of eight (Viola -> Violin, Rock Organ -> Hammond Organ ...). The "ethnic"
family has only Sitar, so its Banjo, Fiddle, Kalimba, Bagpipe and Shanai borrow from other
families (`BORROWED`). Drum notes keep freepats' own map. Fetched once with
`apt-get download freepats`, extracted beside the .deb; rerunning reuses both.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from muser_train.corpus.common import atomic_write
from muser_train.corpus.debpkg import download, extract_deb

PACKAGE = "freepats"
CONFIG_NAME = "freepats-complete.cfg"
# missing GM programs whose family has no fitting sound -> the program they borrow
BORROWED = {105: 25,  # Banjo -> Steel-string Guitar
            108: 13,  # Kalimba -> Xylophone
            109: 68,  # Bagpipe -> Oboe
            110: 40,  # Fiddle -> Violin
            111: 68}  # Shanai -> Oboe
_PROGRAM_LINE = re.compile(r"^\s*(\d+)\s+(\S+\.pat)(.*)$")


def parse_config(text: str) -> tuple[list[str], dict[int, str]]:
    """freepats.cfg -> (lines up to its melodic `bank 0`, program -> its line's patch + options)."""
    head, tones, in_bank = [], {}, False
    for line in text.splitlines():
        if line.strip().startswith("bank 0"):
            in_bank = True
            continue
        if not in_bank:
            if not line.strip().startswith("dir "):
                head.append(line)
            continue
        m = _PROGRAM_LINE.match(line)
        if m:
            tones[int(m.group(1))] = (m.group(2) + m.group(3)).rstrip()
    return head, tones


def nearest_program(program: int, present: list[int]) -> int:
    """The present program closest to `program`, preferring its GM family (programs 8k..8k+7);
    `BORROWED` first where it names a present program."""
    if BORROWED.get(program) in present:
        return BORROWED[program]
    family = [p for p in present if p // 8 == program // 8]
    return min(family or present, key=lambda p: (abs(p - program), p))


def complete_config(text: str, patch_dir: Path) -> str:
    """A TiMidity++ config with all 128 melodic programs: freepats' own, the rest borrowed."""
    head, tones = parse_config(text)
    if not tones:
        raise ValueError("no melodic programs in the freepats config")
    present = sorted(tones)
    lines = [f"dir {patch_dir}", *head, "", "bank 0", ""]
    for program in range(128):
        source = program if program in tones else nearest_program(program, present)
        note = "" if source == program else f"  # borrowed from program {source}"
        lines.append(f" {program}\t{tones[source]}{note}")
    return "\n".join(lines) + "\n"


def freepats_config(cache: Path) -> Path:
    """CACHE/freepats/freepats-complete.cfg, fetching and extracting the package when needed."""
    root = extract_deb(download(PACKAGE, cache), cache / PACKAGE)
    cfg = (root / CONFIG_NAME).resolve()
    if not cfg.is_file():
        original = (root / "etc/timidity/freepats.cfg").read_text(encoding="utf-8")
        text = complete_config(original, (root / "usr/share/midi/freepats").resolve())
        atomic_write(cfg, lambda fh: fh.write(text.encode("utf-8")))
    return cfg


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="folder for the .deb and its extraction")
    print(freepats_config(ap.parse_args(argv).out))


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
