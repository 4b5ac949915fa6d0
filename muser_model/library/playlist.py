"""Extended M3U playlists, written atomically."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from muser_model.library.query import Hit


def write_m3u(hits: Sequence[Hit], path: Path) -> None:
    lines = ["#EXTM3U"]
    for hit in hits:
        seconds = int(round(hit.duration)) if hit.duration else -1
        name = " - ".join(x for x in (hit.artist, hit.title) if x) or Path(hit.path).stem
        lines += [f"#EXTINF:{seconds},{name}", hit.path]
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=".muser-m3u-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
