"""Label vocabularies and text templates shipped with every checkpoint."""
from __future__ import annotations

# MagnaTagATune top-50 tags, in the order used by musicnn and sota-music-tagging-models.
MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)

# GTZAN's ten genres.
GTZAN_GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)

# The paper's templates (../shared/README.md); {…} fields filled from metadata.
DEFAULT_TEMPLATES: dict[str, str] = {
    "fma": "The song titled {title}, belongs to {genre}, written by {artist}",
    "mtt": "the music is characterized by {tags}",
    "gtzan": "The song belongs to {genre}",
    # zero-shot prompts used to score single labels
    "tag_prompt": "the music is characterized by {label}",
    "genre_prompt": "The song belongs to {label}",
}

# How a genre name is spoken in text (GTZAN writes "hiphop").
GENRE_WORDS: dict[str, str] = {"hiphop": "hip hop"}


def genre_text(genre: str) -> str:
    return GENRE_WORDS.get(genre, genre)
