"""A track of game music (games, realmusic, renders): its metadata from tags and file names,
its genre and style words, and its excerpts' captions and manifest rows (GAMES_COLUMNS)."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from muser_train.corpus import mood
from muser_train.corpus.common import with_article

# GENRE tag -> GTZAN genre (first match wins)
GTZAN_FROM_TAG = (
    (r"metal", "metal"), (r"hip[ -]?hop|\brap\b", "hiphop"), (r"\brock\b", "rock"),
    (r"classical", "classical"), (r"\bjazz", "jazz"), (r"\bblues", "blues"),
    (r"\bcountry\b", "country"), (r"\bdisco\b", "disco"), (r"\breggae\b", "reggae"),
    (r"\bpop\b", "pop"),
)
# Style words (never guessed): genre and instrument words only from the GENRE, ALBUM and
# DESCRIPTION tags; a few unambiguous style words also from the title or file name ("Rock" is a
# Hedgewars map theme, "Recorder 2" need not be a recorder).
TAG_STYLE_WORDS = ("orchestral", "symphonic", "celtic", "oriental", "folk", "electronic",
                   "techno", "psychedelic", "ambient", "piano", "guitar", "metal", "death metal",
                   "thrash metal", "rock", "classical", "romantic", "jazz", "waltz", "march",
                   "dance", "lullaby", "soundtrack", "renaissance", "medieval")
TITLE_STYLE_WORDS = ("orchestral", "symphony", "celtic", "oriental", "techno", "waltz", "lullaby",
                     "renaissance", "medieval", "dance")
ROLE_WORDS = ((r"menu", "Menu music"), (r"main theme", "Main theme"), (r"\bintro", "Intro music"),
              (r"battle", "Battle music"), (r"\bwin\b|victory", "Victory music"),
              (r"\blose\b|defeat", "Defeat music"), (r"sdmusic|\bsd\b", "Sudden-death music"),
              (r"\bfast\b", "Last-lap music"), (r"tension", "Tension music"),
              (r"\bingame\b", "In-game music"))



def clean_person(s: str) -> str:
    s = re.sub(r"\s*[-/]+\s*(www\.|https?://)\S*", "", s)
    s = re.sub(r"\(?https?://\S+\)?|<[^>]*>|\S+@\S+", "", s)
    s = re.sub(r"^\s*(\(c\)|©)?\s*\d{4}(\s*[-,]\s*\d{4})*,?\s*", "", s, flags=re.I)
    return " ".join(s.split()).strip(" ,;-")


def read_tags(path: str) -> dict[str, str]:
    import mutagen
    out = {}
    try:
        m = mutagen.File(path)
        tags = m.tags if m is not None and m.tags is not None else {}
        for k in ("title", "artist", "composer", "album", "genre", "description", "comment",
                  "comments", "license"):
            v = tags.get(k) if hasattr(tags, "get") else None
            if v:
                out[k] = " ".join(str(v[0]).split())
    except Exception:  # noqa: BLE001 - broken tags lose captions, never the run
        pass
    return out


def pretty_stem(stem: str) -> str:
    s = re.sub(r"^(hr3?|ingame)[-_]", "", stem)
    s = re.sub(r"[_-]+", " ", s).strip()
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", s)
    return s[:1].upper() + s[1:] if s else stem


@dataclass
class Track:
    package: str
    paths: list[str]          # several = stems mixed together
    track: str                # package/<name>
    group: str                # split unit
    title: str = ""
    title_from: str = "tag"
    artist: str = ""
    album: str = ""
    tag_genre: str = ""
    description: str = ""
    licence: str = ""
    copyright: str = ""
    duration_s: float = 0.0


def gtzan_genre(tag_genre: str) -> str:
    g = tag_genre.lower()
    for pat, genre in GTZAN_FROM_TAG:
        if re.search(pat, g):
            return genre
    return "other"


def style_words(t: Track) -> list[str]:
    tags = " ".join([t.tag_genre, t.album, t.description]).lower()
    title = " ".join([t.title, t.track.split("/", 1)[1]]).lower().replace("_", " ")
    found = [w for w in TAG_STYLE_WORDS if re.search(rf"\b{re.escape(w)}\b", tags)]
    found += [w for w in TITLE_STYLE_WORDS if w not in found
              and re.search(rf"\b{re.escape(w)}\b", title)]
    # keep the most specific ("death metal" over "metal")
    return [w for w in found if not any(w != o and w in o for o in found)]


def role(t: Track) -> str:
    hay = re.sub(r"[_-]+", " ", t.track.split("/", 1)[1] + " " + t.title).lower()
    for pat, word in ROLE_WORDS:
        if re.search(pat, hay):
            return word
    if t.description.lower().startswith("gameplay music"):
        return "Gameplay music"
    return "Music"


def captions(t: Track, feats: mood.Features, seed_key: str,
             game: dict | None = None) -> tuple[str, list[str], list[str]]:
    """(main text, other texts, mood words) for one excerpt; `game` holds the facts of its game
    (game, kind, extra texts), the package name standing in when there are none."""
    info = game or {"game": t.package, "short": t.package, "kind": "game"}
    game, kind = info["game"], info["kind"]
    by = f" by {t.artist}" if t.artist else ""
    titled = (f"titled '{t.title}'" if t.title_from == "tag" else
              f"'{t.title}'" if t.title else "")
    styles = style_words(t)
    genre_w = t.tag_genre.lower() if t.tag_genre and t.tag_genre.lower() not in (
        "game", "other", "soundtrack", "game music", "widelands") else ""
    rng = random.Random(seed_key)
    texts = [" ".join(x for x in [f"{role(t)} from {game}, {with_article(kind)},", titled] if x)
             .rstrip(",") + f"{by}."]
    if t.artist and t.title:
        texts.append(f"The song titled {t.title}, belongs to {genre_w or 'game soundtrack'}, "
                     f"written by {t.artist}")
    style_phrase = " ".join(w for w in styles if w != "soundtrack" and w not in genre_w)
    lead = " ".join(x for x in [genre_w, style_phrase] if x)
    texts.append(with_article(f"{lead + ' ' if lead else ''}soundtrack piece from the {kind} {game}", cap=True)
                 + ".")
    if t.title:
        texts.append(f"'{t.title}', {genre_w or 'music'} from the {re.sub('^The ', '', game)} "
                     f"soundtrack{by}.")
    if t.album and t.title and t.album.lower() not in game.lower():
        texts.append(f"'{t.title}' from the album {t.album}{by}.")
    if t.description:
        texts.append(f"{t.description.rstrip('.')} ({game}).")
    texts += info.get("extra", [])
    subject = f"{genre_w} music" if genre_w else (
        f"{styles[0]} game music" if styles and styles[0] not in ("soundtrack",) else "game music")
    words = mood.mood_words(feats)
    texts += mood.mood_texts(feats, subject=subject, seed=seed_key)
    texts = list(dict.fromkeys(texts))
    main = texts[0] if rng.random() < 0.5 else rng.choice(texts)
    return main, [x for x in texts if x != main], words


MTT_MOOD = ("slow", "fast", "loud", "quiet", "soft")


def make_rows(t: Track, res: dict, split: str, seed: int, game: dict | None = None) -> list[dict]:
    """The manifest rows (GAMES_COLUMNS) of one track's excerpts (`res`: an excerpt_job result)."""
    rows = []
    genre = gtzan_genre(t.tag_genre)
    for ex in res["excerpts"]:
        feats = mood.Features(**ex["features"])
        main, others, words = captions(t, feats, f"{seed}-{ex['path']}", game)
        attrs = mood.attributes(feats)
        rows.append({
            "path": ex["path"], "text": main, "texts": " | ".join(others), "genre": genre,
            "style": (t.tag_genre or "game soundtrack").lower(), "groove": "", "tempo": "",
            "key": "", "progression": "", "instruments": "", "soundfont": "", "tags": "",
            "split": split, "source": "games", "package": t.package,
            "game": (game or {}).get("game", t.package), "track": t.track,
            "title": t.title, "artist": t.artist, "album": t.album, "tag_genre": t.tag_genre,
            "offset_s": ex["offset_s"], "licence": t.licence, "copyright": t.copyright,
            "mood_tags": ";".join(w for w in words if w in MTT_MOOD),
            "tempo_est": round(feats.tempo, 1) if attrs["pace"] or feats.tempo_confidence
            >= mood.TEMPO_MIN_CONF else "",
            "key_est": feats.key if attrs["mode"] else "",
            "rms_db": round(feats.rms_db, 1), "centroid_hz": round(feats.centroid_hz),
        })
    return rows


def safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "track"
