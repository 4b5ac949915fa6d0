"""Run the MTT-50 and MSD-50 teacher ensembles over a manifest of clips; resumable.

    python -m muser_train.teachers.score_manifest MANIFEST.csv --out SCORES.npz [--patches 8]
                                            [--root DIR] [--save-every 50] [--retry-failed]

MANIFEST.csv has a `path` column (relative to --root, default the manifest's folder) and an
optional `id` column (default: the path). SCORES.npz holds, keyed by clip id:
  ids (N,) str; mtt (N, 50) and msd (N, 50) float16 ensemble probabilities, mean over up to
  --patches evenly spread 3 s patches of the clip; mtt_labels, msd_labels (the column names);
  failed (M,) str and failed_reasons (M,) str for the clips that did not decode.
float16 keeps the file small (200 bytes a clip before compression); its rounding, at most 2.4e-4
(1.2e-4 below 0.5), is far below the teachers' disagreement.

Re-running skips the ids already in SCORES.npz (and the failed ones unless --retry-failed), so an
interrupted run resumes; the file is rewritten atomically every --save-every clips and on Ctrl-C
(exit 130). Rows are written in manifest order, ids no longer in the manifest are kept after them.
Exit 1 with a one-line message for a missing or malformed manifest or an output file whose label
lists differ from the teachers'.
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muser_train.corpus.common import atomic_write
from muser_train.teachers.specs import VOCABS, labels

SAVE_EVERY = 50
MAX_PATCHES = 8


class ManifestError(ValueError):
    """A manifest or a scores file that cannot be used; the message names the file."""


@dataclass
class ScoreTable:
    """Per-clip ensemble probabilities, {id: {vocab: (50,) float16}}, and failures {id: reason}."""
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def read_manifest(path: Path, root: Path | None = None) -> list[tuple[str, Path]]:
    """[(clip id, audio path)] in file order; ManifestError on a missing file or `path` column,
    or an id given twice."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ManifestError(f"{path}: cannot read manifest ({e})") from None
    if not rows or "path" not in rows[0]:
        raise ManifestError(f"{path}: no 'path' column (or no rows)")
    base = root or path.parent
    out, seen = [], set()
    for r in rows:
        clip_id = (r.get("id") or r["path"]).strip()
        if clip_id in seen:
            raise ManifestError(f"{path}: clip id {clip_id!r} appears twice")
        seen.add(clip_id)
        out.append((clip_id, base / r["path"]))
    return out


def load_table(path: Path) -> ScoreTable:
    """The scores file as written by save_table (an empty table when it does not exist)."""
    table = ScoreTable()
    if not path.exists():
        return table
    try:
        with np.load(path, allow_pickle=False) as z:
            for v in VOCABS:
                if tuple(z[f"{v}_labels"]) != labels(v):
                    raise ManifestError(f"{path}: its {v} labels differ from the teachers' "
                                        f"(written by another version); use another --out")
            arrays = {v: z[v] for v in VOCABS}
            for i, clip_id in enumerate(z["ids"]):
                table.scores[str(clip_id)] = {v: arrays[v][i] for v in VOCABS}
            table.failed = dict(zip(map(str, z["failed"]), map(str, z["failed_reasons"])))
    except (OSError, KeyError, ValueError) as e:
        if isinstance(e, ManifestError):
            raise
        raise ManifestError(f"{path}: not a scores file ({e})") from None
    return table


def save_table(table: ScoreTable, path: Path, order: list[str]) -> None:
    """Write atomically (temp file in the same folder, then rename): manifest order first."""
    ids = [i for i in order if i in table.scores]
    ids += sorted(set(table.scores) - set(ids))
    arrays = {v: np.stack([table.scores[i][v] for i in ids]).astype(np.float16) if ids
              else np.zeros((0, 50), np.float16) for v in VOCABS}
    failed = sorted(table.failed)
    atomic_write(path, lambda fh: np.savez_compressed(
        fh, ids=np.asarray(ids, dtype=str), **arrays,
        **{f"{v}_labels": np.asarray(labels(v)) for v in VOCABS},
        failed=np.asarray(failed, dtype=str),
        failed_reasons=np.asarray([table.failed[i] for i in failed], dtype=str)))


def _clip_patches(path: Path, max_patches: int) -> np.ndarray:
    from muser_model.core.audio import load_audio
    from muser_train.corpus.pseudo_tags import spread
    from muser_train.teachers.features import SR, wave_patches
    x = spread(wave_patches(load_audio(path, SR)), max_patches)
    if len(x) == 0:
        raise ValueError("no audio samples")
    return x


def run(manifest: Path, out: Path, root: Path | None = None, max_patches: int = MAX_PATCHES,
        save_every: int = SAVE_EVERY, retry_failed: bool = False,
        log=lambda m: print(m, file=sys.stderr, flush=True)) -> dict[str, int]:
    """Score the manifest's clips not yet in `out`; returns counts (scored, failed, skipped)."""
    from muser_train.teachers.ensemble import clip_scores, load_ensembles
    clips = read_manifest(manifest, root)
    table = load_table(out)
    done = set(table.scores) | (set() if retry_failed else set(table.failed))
    todo = [(i, p) for i, p in clips if i not in done]
    counts = {"scored": 0, "failed": 0, "skipped": len(clips) - len(todo)}
    if not todo:
        return counts
    ensembles = load_ensembles()
    order = [i for i, _ in clips]
    try:
        for n, (clip_id, path) in enumerate(todo, 1):
            try:
                probs = clip_scores(ensembles, _clip_patches(path, max_patches))
            except Exception as e:  # a bad clip never stops the run
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                log(f"skip {path}: {reason}")
                table.failed[clip_id] = reason
                counts["failed"] += 1
            else:
                table.scores[clip_id] = {v: p.astype(np.float16) for v, p in probs.items()}
                table.failed.pop(clip_id, None)
                counts["scored"] += 1
            if n % save_every == 0:
                save_table(table, out, order)
                log(f"{n}/{len(todo)} clips scored, saved to {out}")
    finally:  # also on Ctrl-C: what was scored is kept
        save_table(table, out, order)
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("manifest", type=Path, help="csv with a path column and an optional id column")
    ap.add_argument("--out", type=Path, required=True, help="the scores .npz (resumed if it exists)")
    ap.add_argument("--root", type=Path,
                    help="folder the paths are relative to (default: the manifest's)")
    ap.add_argument("--patches", type=int, default=MAX_PATCHES, help="3 s patches per clip (0: all)")
    ap.add_argument("--save-every", type=int, default=SAVE_EVERY, help="clips between saves")
    ap.add_argument("--retry-failed", action="store_true",
                    help="try the clips that failed before again")
    args = ap.parse_args(argv)
    try:
        counts = run(args.manifest, args.out, args.root, args.patches, max(1, args.save_every),
                     args.retry_failed)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: the clips scored so far are in {args.out}; run again to resume",
              file=sys.stderr)
        return 130
    print(f"{args.out}: {counts['scored']} scored, {counts['failed']} failed, "
          f"{counts['skipped']} already done", file=sys.stderr)
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
