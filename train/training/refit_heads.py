"""Refit a checkpoint's tag heads as one-hidden-layer networks on its frozen track embeddings.

    python -m muser_train.training.refit_heads --checkpoint IN.muser --corpus corpus --out OUT.muser

The towers, text projection, prompt embeddings and genre head are kept as they are; the MTT-50
head ("tags") and each teacher vocabulary's head ("msd") are fitted again, on the track
embeddings of the corpus's training split, against the same targets as training used
(`heads.tag_targets`: the teacher ensembles' probabilities where the teachers scored the corpus,
the clips' hard MTT tags only where they scored none of it). The heads are
fitted by `muser_train.training.heads.fit_mlp_tag_heads`; `muser train --tag-head-hidden N` does
the same step at the end of a run. The checkpoint's training record notes the refit
(`tag_heads`). Write OUT next to IN, or over it: the write is atomic.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from muser_model.core.checkpoint import Checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.errors import MuserError
from muser_model.torch_engine.inference import TrackEmbedding
from muser_model.torch_engine.runtime import LoadedModel, load_model
from muser_train.evaluation.evaluate import embed_clips
from muser_train.training.datasets import Example, read_folder
from muser_train.evaluation.datacard import target_note
from muser_train.training.heads import MLP_HIDDEN, MLP_STEPS, fit_mlp_tag_heads, target_counts


def refit_tag_heads(lm: LoadedModel, corpus: Path, hidden: int = MLP_HIDDEN, steps: int = MLP_STEPS,
                    seed: int = 0, batch_size: int = 32) -> Checkpoint:
    """`lm`'s checkpoint with its tag heads refitted on `corpus`'s training split (in place)."""
    clips = [c for c in read_folder(corpus) if c.split == "train"]
    kept, embs = embed_clips(lm, clips, batch_size)
    replace_tag_heads(lm.checkpoint, kept, embs, hidden, steps, seed, corpus=corpus.name)
    return lm.checkpoint


def replace_tag_heads(ckpt: Checkpoint, clips: Sequence[Example], embs: Sequence[TrackEmbedding],
                      hidden: int = MLP_HIDDEN, steps: int = MLP_STEPS, seed: int = 0,
                      soft: bool = True, corpus: str = "") -> list[str]:
    """Replace `ckpt`'s tag heads by ones with a hidden layer fitted on `embs` (the track
    embeddings of `clips`); the genre head stays. Notes the fit in `training["tag_heads"]` and
    returns the kinds refitted."""
    extra = {kind: labels for kind, labels in ckpt.tag_vocabularies().items() if kind != "tags"}
    heads = fit_mlp_tag_heads(clips, embs, list(ckpt.tags), extra, hidden=hidden, steps=steps,
                              seed=seed, soft=soft)
    refitted = sorted({name.split(".")[0] for name in heads})
    ckpt.heads = {name: value for name, value in ckpt.heads.items()
                  if name.split(".")[0] not in refitted} | heads
    ckpt.training["tag_heads"] = {"kind": "mlp", "hidden": hidden, "steps": steps, "seed": seed,
                                  "heads": refitted, "clips": len(clips), "corpus": corpus,
                                  "targets": target_counts(clips, list(ckpt.tags), extra, soft)}
    return refitted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--hidden", type=int, default=MLP_HIDDEN, help="hidden units (default %(default)s)")
    ap.add_argument("--steps", type=int, default=MLP_STEPS, help="optimiser steps (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if args.hidden < 1 or args.steps < 1:
        ap.error("--hidden and --steps must be at least 1")
    try:
        lm = load_model(args.checkpoint, args.device)
        ckpt = refit_tag_heads(lm, args.corpus, args.hidden, args.steps, args.seed)
        digest = save_checkpoint(ckpt, args.out)
    except MuserError as exc:  # a bad checkpoint, corpus folder or device: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"saved {args.out}: tag heads {', '.join(ckpt.training['tag_heads']['heads'])} refitted "
          f"({args.hidden} hidden units, {ckpt.training['tag_heads']['clips']} clips"
          f"{target_note(ckpt.training['tag_heads']['targets'])}), hash {digest[:12]}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
