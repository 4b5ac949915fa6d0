"""Export the clip vectors of a muser library built from a folder of heldout_clips.py.

    MUSER_HOME=/work/evaldata/home python bench/heldout_vectors.py \
        --library heldout --folder /work/evaldata/clips/test --out /work/evaldata/heldout_vectors.npz

Writes ids (R,) — each clip's path relative to FOLDER, which for heldout_clips.py's folders is
the corpus v3 manifest id, the key of v3_teacher_scores.npz — and vectors (R, E) float32, the
fused embeddings the library stores for the model it was indexed with, sorted by id. Tracks
outside FOLDER are refused rather than given a misleading id.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from muser_model.core.errors import UsageError
from muser_model.library.store import Library


def library_vectors(library: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ids (R,), vectors (R, E)) of LIBRARY's good tracks, ids relative to FOLDER, sorted."""
    lib = Library.open(library)
    try:
        track_ids, vectors = lib.catalogue.vectors(lib.model_hash, None)
        rows = lib.catalogue.rows(track_ids.tolist())
    finally:
        lib.close()
    root = folder.resolve()
    ids = []
    for t in track_ids.tolist():
        path = Path(rows[t]["path"]).resolve()
        if not path.is_relative_to(root):
            raise UsageError(f"{path}: a track of library {library!r} outside {root}")
        ids.append(path.relative_to(root).as_posix())
    order = np.argsort(ids)
    return np.asarray(ids)[order], vectors[order].astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", required=True)
    ap.add_argument("--folder", type=Path, required=True, help="the folder the library indexed")
    ap.add_argument("--out", type=Path, required=True, help="the .npz to write")
    args = ap.parse_args(argv)
    ids, vectors = library_vectors(args.library, args.folder)
    tmp = args.out.with_name(f".{args.out.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, ids=ids, vectors=vectors)
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(ids)} clips, vectors {vectors.shape}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
