"""How well muser's text grounding follows the teachers on held-out real music.

Inputs: the track vectors of the corpus v3 test clips (`bench/heldout_clips.py` cuts them,
`muser index` embeds them, `bench/heldout_vectors.py` exports them by manifest id), a reference set of
train-split clips' vectors (what the checkpoint calibrates on), the dev query set and label sets
(`query_set`), and the teachers' committed probabilities.

Measured, each against the teachers:
- **search**: NDCG@10 of every dev query for three rankings: the text embedding alone (today's
  search before grounding), the grounded heads alone, and the blend `muser search` uses;
- **open labels**: accuracy of `--labels "acoustic,electronic"` (and calm/energetic) on the clear-cut
  label sets, grounded and zero-shot;
- **moods**: how many of the top 5 (and 10) for "calm relaxing music" / "energetic upbeat music" are
  in the calm / energetic set, in a library of the two sets;
- **genre**: the headline genre family against the family the teachers' evidence names (the same
  rule, `core.grounding.family_evidence`, on the teachers' probabilities).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from muser_model.core.concepts import ELECTRONIC_FAMILIES, GENRE_CLEAR_MIN, GENRE_FAMILIES
from muser_model.core.grounding import NO_CLEAR_GENRE, Grounder, family_evidence
from muser_model.core.scoring import softmax
from muser_model.text_model import TextModel
from muser_train.evaluation.query_set import LABEL_SETS, Query, TeacherScores, gains, load_queries, ndcg_at_k

MOOD_QUERIES = {"calm": "calm relaxing music", "energetic": "energetic upbeat music"}
LABEL_PAIRS = {"electronic_vs_acoustic": ("acoustic", "electronic"), "calm_vs_energetic": ("calm", "energetic")}


def load_vectors(path: Path) -> tuple[list[str], np.ndarray]:
    """(ids, (N, E) vectors) of an exported npz (`ids`, `vectors`)."""
    with np.load(path) as data:
        return [str(i) for i in data["ids"]], data["vectors"].astype(np.float32)


def _ranked_ndcg(scores: np.ndarray, gain: np.ndarray, k: int = 10) -> float:
    order = np.lexsort((np.arange(len(scores)), -scores))
    return ndcg_at_k(gain[order].tolist(), gain.tolist(), k)


def _random_ndcg(gain: np.ndarray, draws: int = 50) -> float:
    """The mean NDCG@10 of seeded random orders: what a ranking without information scores."""
    rng = np.random.default_rng(0)
    return float(np.mean([_ranked_ndcg(rng.random(len(gain)), gain) for _ in range(draws)]))


def search_rows(model: TextModel, vectors: np.ndarray, teacher: TeacherScores,
                queries: Sequence[Query]) -> list[dict]:
    """Per query: its coverage and NDCG@10 of the embedding, the grounding and the blend."""
    rows = []
    for q in queries:
        reading = model.read(q.text)
        blend = model.blend(vectors, reading)
        gain = gains(q, teacher)
        # a query the heads cannot read at all has no grounded ranking: a random order's NDCG
        grounded = _ranked_ndcg(blend.grounded, gain) if blend.weight > 0 else _random_ndcg(gain)
        rows.append({"id": q.id, "text": q.text, "kind": q.kind, "coverage": round(model.grounder.coverage(reading), 3),
                     "max_gain": round(float(gain.max()), 4), "embedding": round(_ranked_ndcg(blend.text, gain), 4),
                     "grounding": round(grounded, 4), "blend": round(_ranked_ndcg(blend.score, gain), 4)})
    return rows


GRADEABLE_GAIN = 0.1  # a query whose best clip has less gain has no relevant clip among these


def search_summary(rows: list[dict]) -> dict:
    """Mean NDCG@10 of the three rankings over all queries, over each kind (vocab, free), and over
    the gradeable ones (some clip with a gain of at least GRADEABLE_GAIN)."""
    subsets = {"all": rows, **{kind: [r for r in rows if r["kind"] == kind] for kind in sorted({r["kind"] for r in rows})},
               "gradeable": [r for r in rows if r["max_gain"] >= GRADEABLE_GAIN]}
    return {name: {k: round(float(np.mean([r[k] for r in subset])), 4) for k in ("embedding", "grounding", "blend")}
            | {"queries": len(subset)} for name, subset in subsets.items() if subset}


def label_accuracy(model: TextModel, ids: list[str], vectors: np.ndarray, sets: dict) -> dict:
    """Per label pair: accuracy of the grounded --labels scores and of the zero-shot cosines on the
    clips of either clear-cut set."""
    index = {i: n for n, i in enumerate(ids)}
    out = {}
    for pair, labels in LABEL_PAIRS.items():
        sides = sets["pairs"][pair]
        rows = [(index[i], side) for side in labels for i in sides[side]["ids"] if i in index]
        if not rows:
            continue
        clip_vectors = vectors[[r for r, _ in rows]]
        truth = np.array([labels.index(side) for _, side in rows])
        text = np.asarray(model.embed(list(labels)), np.float32)  # (2, E)
        grounded = np.stack([model.grounder.blend(clip_vectors, model.read(label), text[j]).score
                             for j, label in enumerate(labels)], 1)  # (N, 2)
        zero_shot = softmax(clip_vectors @ text.T)
        out[pair] = {"clips": len(rows), **{side: int((truth == j).sum()) for j, side in enumerate(labels)},
                     "grounded": round(float((grounded.argmax(1) == truth).mean()), 4),
                     "zero_shot": round(float((zero_shot.argmax(1) == truth).mean()), 4)}
    return out


def mood_top(model: TextModel, ids: list[str], vectors: np.ndarray, sets: dict) -> dict:
    """In a library of the calm and energetic clips: of the top 5 and 10 for each mood query, how
    many are in that mood's set, blended and by the embedding alone."""
    sides = sets["pairs"]["calm_vs_energetic"]
    index = {i: n for n, i in enumerate(ids)}
    members = {side: {i for i in sides[side]["ids"] if i in index} for side in ("calm", "energetic")}
    library = sorted(members["calm"] | members["energetic"])
    lib_vectors = vectors[[index[i] for i in library]]
    out = {}
    for side, text in MOOD_QUERIES.items():
        blend = model.blend(lib_vectors, model.read(text))
        out[text] = {}
        for name, scores in (("blend", blend.score), ("embedding", blend.text)):
            order = np.lexsort((np.arange(len(scores)), -scores))
            hits = [library[i] in members[side] for i in order[:10]]
            out[text][name] = {"top5": int(sum(hits[:5])), "top10": int(sum(hits))}
    out["library"] = {side: len(m) for side, m in members.items()}
    return out


def teacher_families(teacher: TeacherScores) -> np.ndarray:
    """(N, F) the genre families' evidence from the teachers' probabilities."""
    return family_evidence(lambda t: teacher.columns.get(t), len(teacher.ids))


def genre_agreement(grounder: Grounder, vectors: np.ndarray, teacher: TeacherScores) -> dict:
    """The headline genre against the teachers' family: agreement where the teachers are clear,
    the electronic group (electronic, dance, ambient) named where the teachers name it, and what
    the GTZAN-10 head says of those clips."""
    names = list(GENRE_FAMILIES)
    evidence = teacher_families(teacher)
    teacher_best = evidence.argmax(1)
    clear = evidence.max(1) >= GENRE_CLEAR_MIN
    calls = grounder.genre_calls(vectors)
    said = np.array([c.label for c in calls])
    wanted = np.array([names[b] for b in teacher_best])
    electronic = clear & np.isin(wanted, ELECTRONIC_FAMILIES)
    gtzan = np.array(grounder.scorer.genres)[grounder.scorer.head_scores(vectors, "genres").argmax(1)] \
        if grounder.scorer.has_head("genres") else np.array([""] * len(vectors))
    return {
        "clips": int(len(vectors)), "teacher_clear": int(clear.sum()),
        "agreement_where_teacher_clear": round(float((said[clear] == wanted[clear]).mean()), 4) if clear.any() else None,
        "electronic_group_by_teachers": int(electronic.sum()),
        "electronic_group_named": round(float(np.isin(said[electronic], ELECTRONIC_FAMILIES).mean()), 4)
        if electronic.any() else None,
        "no_clear_genre": round(float((said == NO_CLEAR_GENRE).mean()), 4),
        "no_clear_genre_where_teacher_unclear": round(float((said[~clear] == NO_CLEAR_GENRE).mean()), 4)
        if (~clear).any() else None,
        "headline_counts": {g: int(n) for g, n in zip(*np.unique(said, return_counts=True))},
        "teacher_counts": {g: int(n) for g, n in zip(*np.unique(np.where(clear, wanted, NO_CLEAR_GENRE),
                                                                 return_counts=True))},
        "gtzan_head_on_electronic_group": {g: int(n) for g, n in zip(*np.unique(gtzan[electronic], return_counts=True))},
    }


def evaluate(model: TextModel, heldout: Path, label_sets: Path = LABEL_SETS) -> dict:
    """The whole report for the held-out vectors in `heldout` (the model's grounder carries the
    reference set)."""
    ids, vectors = load_vectors(heldout)
    teacher = TeacherScores.load().subset(ids)
    rows = search_rows(model, vectors, teacher, load_queries())
    sets = json.loads(Path(label_sets).read_text())
    return {"search": search_summary(rows), "queries": rows,
            "labels": label_accuracy(model, ids, vectors, sets), "moods": mood_top(model, ids, vectors, sets),
            "genre": genre_agreement(model.grounder, vectors, teacher),
            "calibration": model.grounder.source}


def main(argv: list[str] | None = None) -> int:
    """python -m muser_train.evaluation.grounding_eval HELDOUT.npz [--checkpoint C] [--out F]"""
    import argparse

    from muser_model.core.checkpoint import default_checkpoint_path
    from muser_model.text_model import numpy_text_model

    ap = argparse.ArgumentParser(description="Measure text grounding against the teachers on held-out clips.")
    ap.add_argument("heldout", type=Path, help="vectors of the test clips (bench/heldout_vectors.py)")
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the report here as JSON")
    args = ap.parse_args(argv)
    model = numpy_text_model(args.checkpoint or default_checkpoint_path())
    report = evaluate(model, args.heldout)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({k: report[k] for k in ("search", "labels", "moods", "calibration")}, indent=1))
    return 0


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
