"""Do search words mean what the teachers mean? One number per query word.

    python -m muser_train.evaluation.query_words --corpus corpus -c A.muser [-c B.muser ...]
        [--source realmusic] [--words "sad=sad" "heavy metal=heavy metal" ...]

For each held-out clip with teacher scores (an `ensemble_scores.npz` beside the corpus's
captions.csv; `--source` keeps the clips whose path starts with that sub-corpus), each clip is
scored by the trained head's probability when the query is one tag of a headed vocabulary
(`Scorer.head_tag`: the head alone, the heart of what `muser search` blends for such a word,
see `grounding_eval` for the search itself), else by the cosine of the query's embedding (the
raw words, no prompt) to the clip's fused embedding; `--text-only` always uses the cosine. The
scores are ranked against the MSD-50 ensemble's probability of the word's tag: the Spearman
correlation over the clips (1: the search ranks clips as the teachers would; 0: no relation).
JSON on stdout, {checkpoint: {word: rho}}.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from muser_model.core.vocab_groups import VOCABULARIES
from muser_train.evaluation.evaluate import embed_clips
from muser_train.evaluation.report import heldout_clips

# query word -> MSD-50 tag whose probability it is ranked against
DEFAULT_WORDS = {w: w for w in ("sad", "happy", "chillout", "80s", "heavy metal", "electronic",
                                "ambient", "jazz", "party", "instrumental", "rock")}
DEFAULT_WORDS["mellow"] = "Mellow"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (average ranks for ties)."""
    def ranks(x):
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # ties share their mean rank
            tie = x == v
            r[tie] = r[tie].mean()
        return r
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    return float(np.corrcoef(ra, rb)[0, 1])


def word_agreement(lm, clips, words: dict[str, str], text_only: bool = False) -> dict[str, float]:
    from muser_model.core.scoring import Scorer
    from muser_model.torch_engine.inference import engine_of

    kept, embs = embed_clips(lm, clips)
    fused = torch.stack([e.track() for e in embs]).float()  # (N, E)
    probs = np.stack([c.teacher["msd"] for c in kept])  # (N, 50)
    labels = list(VOCABULARIES["msd"].labels)
    scores = (fused @ lm.embed_texts(list(words)).float().cpu().t()).numpy()  # (N, W) cosines
    scorer = Scorer(engine_of(lm))
    head_probs: dict[str, np.ndarray] = {}  # kind -> (N, L), each head run once
    for j, word in enumerate(words):
        head_tag = None if text_only else scorer.head_tag(word)
        if head_tag is not None:  # the word's own head alone (search blends it: core.grounding)
            kind, index = head_tag
            if kind not in head_probs:
                head_probs[kind] = scorer.head_scores(fused.numpy(), kind)
            scores[:, j] = head_probs[kind][:, index]
    return {w: round(spearman(scores[:, j], probs[:, labels.index(tag)]), 3)
            for j, (w, tag) in enumerate(words.items())}


def main(argv: list[str] | None = None) -> int:
    from muser_model.torch_engine.runtime import load_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("-c", "--checkpoint", action="append", required=True)
    ap.add_argument("--source", default="", help="only clips under this sub-corpus (e.g. realmusic)")
    ap.add_argument("--words", nargs="*", help='"query=MSD tag" pairs (default: a dozen)')
    ap.add_argument("--text-only", action="store_true",
                    help="rank by the query's text embedding even for a one-tag query")
    args = ap.parse_args(argv)
    words = dict(w.split("=", 1) for w in args.words) if args.words else DEFAULT_WORDS
    unknown = [t for t in words.values() if t not in VOCABULARIES["msd"].labels]
    if unknown:
        print(f"error: not MSD-50 tags: {', '.join(unknown)}", file=sys.stderr)
        return 2
    clips, _ = heldout_clips(args.corpus)
    clips = [c for c in clips if c.teacher and str(c.path).startswith(str(args.corpus / args.source))]
    if len(clips) < 3:
        print(f"error: {args.corpus}: fewer than 3 held-out clips with teacher scores", file=sys.stderr)
        return 1
    out = {ck: word_agreement(load_model(ck, "cpu"), clips, words, args.text_only) for ck in args.checkpoint}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
