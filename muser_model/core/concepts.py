"""What words mean to muser: the concepts a query can be read onto, and how each is scored.

Torch-free and numpy-free data. A **concept** is one idea a listener names ("sad", "piano",
"female vocals", "calm", "80s") with:

- `outputs`: the model outputs that measure it: tag ids of the trained heads ("msd:sad",
  "mtt:piano"), an axis ("axis:energy", "axis:valence") or a user genre family
  ("genre:electronic"). A concept with several outputs scores their mean (after calibration);
  `negative` outputs count against it (calm = low energy).
- `phrases`: how people say it. The reading (`core.reading`) matches these first, then falls back to
  the text tower's similarity to them for words the table lacks ("bluesy", "synthesizers").

**Genre families** (`GENRE_FAMILIES`) are the user-facing genre vocabulary: what the teachers'
MTT-50 and MSD-50 tags can tell apart, plus reggae from the GTZAN head (the teachers have no reggae
tag). A family's evidence is the largest probability among its tags, the rule the GTZAN genre
evidence of training uses (`muser_train.training.teacher_labels`), so heads and teachers are read
alike. GTZAN-10 stays the research vocabulary (`muser eval`, the paper table).

**Axes**: energy (calm to energetic) and valence (sad to happy), each the mean calibrated score of
its positive tags minus that of its negative ones (`AXES`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from muser_model.core.errors import VocabularyError


@dataclass(frozen=True)
class Concept:
    name: str
    outputs: tuple[str, ...]  # "mtt:piano", "msd:sad", "axis:energy", "genre:rock"
    phrases: tuple[str, ...]
    group: str  # genre, mood, era, instrument, vocals, other (as vocab_groups.GROUPS)
    negative: tuple[str, ...] = field(default=())  # outputs that count against the concept


def _c(name: str, group: str, outputs: str, phrases: str, negative: str = "") -> Concept:
    """A concept from comma-separated outputs and phrases (the name is always a phrase)."""
    split = [p.strip() for p in phrases.split(",") if p.strip()]
    return Concept(name, tuple(o.strip() for o in outputs.split(",") if o.strip()),
                   tuple(dict.fromkeys([name, *split])), group,
                   tuple(o.strip() for o in negative.split(",") if o.strip()))


# -- user genre families -------------------------------------------------------------------------
# family -> the tags whose largest probability is its evidence ("gtzan:reggae": the GTZAN head).
GENRE_FAMILIES: dict[str, tuple[str, ...]] = {
    "rock": ("msd:rock", "mtt:rock", "msd:classic rock", "msd:alternative rock", "msd:indie rock",
             "msd:hard rock", "msd:Progressive rock"),
    "metal": ("msd:metal", "msd:heavy metal", "mtt:metal"),
    "punk": ("msd:punk",),
    "pop": ("msd:pop", "mtt:pop", "msd:indie pop"),
    "electronic": ("msd:electronic", "mtt:electronic", "msd:electronica", "msd:electro", "mtt:techno"),
    "dance": ("msd:dance", "mtt:dance", "msd:House"),
    "ambient": ("msd:ambient", "mtt:ambient", "msd:chillout", "mtt:new age"),
    "hip-hop": ("msd:Hip-Hop",),
    "r&b/soul": ("msd:rnb", "msd:soul"),
    "funk/disco": ("msd:funk",),
    "jazz": ("msd:jazz",),
    "blues": ("msd:blues",),
    "country": ("msd:country", "mtt:country"),
    "folk": ("msd:folk",),
    "classical": ("mtt:classical", "mtt:classic", "mtt:opera"),
    "reggae": ("gtzan:reggae",),
}
# The families that make the electronic group ("electronic or ambient" music).
ELECTRONIC_FAMILIES = ("electronic", "dance", "ambient")
# Below this largest evidence no family is clear: the headline says "no clear genre". The
# training rule for GTZAN evidence uses the same threshold (teacher_labels.GENRE_EVIDENCE_MIN).
GENRE_CLEAR_MIN = 0.3
# The GTZAN head is a softmax over ten genres, not a tag probability: its reggae counts only when
# the head is this sure, scaled onto the tag scale.
REGGAE_HEAD_MIN = 0.5

# -- axes --------------------------------------------------------------------------------------
AXES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "energy": (("mtt:loud", "mtt:fast", "mtt:beat", "mtt:drums", "mtt:techno", "mtt:metal", "mtt:rock",
                "msd:party", "msd:dance", "msd:hard rock", "msd:metal", "msd:punk", "msd:heavy metal"),
               ("mtt:quiet", "mtt:soft", "mtt:slow", "mtt:ambient", "mtt:new age", "msd:chill",
                "msd:chillout", "msd:Mellow", "msd:ambient", "msd:easy listening")),
    "valence": (("msd:happy", "msd:party", "msd:catchy", "msd:dance", "msd:sexy"),
                ("msd:sad", "msd:Mellow", "mtt:weird", "msd:experimental")),
}

# -- concepts ------------------------------------------------------------------------------------
CONCEPTS: tuple[Concept, ...] = (
    # moods and character
    _c("sad", "mood", "msd:sad, axis:valence-", "crying, tears, breakup, heartbreak, sadness, melancholic, melancholy, sorrowful, gloomy, "
       "depressing, depressed, heartbreaking, heartbroken, mournful, somber, sombre, tearful, "
       "bittersweet, wistful, lonely, grief, tragic, downbeat, blue, moody"),
    _c("mellow", "mood", "msd:Mellow", "melancholic, melancholy, laid back, laid-back, smooth, "
       "soothing, wistful, moody, bittersweet, gentle"),
    _c("chill", "mood", "msd:chill, msd:chillout", "chilled, chill out, chillout, relaxed, relaxing, "
       "relax, lounge, unwind, unwinding, easygoing, lazy, sunday morning"),
    _c("happy", "mood", "msd:happy, axis:valence", "joy, celebratory, summer, summery, sunshine, happiness, cheerful, joyful, joyous, uplifting, "
       "upbeat, feel good, feel-good, sunny, bright, fun, positive, optimistic, playful, carefree, "
       "euphoric, good mood"),
    _c("dark", "mood", "axis:valence-, mtt:weird", "gothic, goth, darker, ominous, sinister, menacing, grim, "
       "brooding, creepy, spooky, scary, haunting, eerie, horror, tense, suspense, suspenseful"),
    _c("party", "mood", "msd:party, msd:dance", "partying, club, clubbing, dancefloor, dance floor, "
       "upbeat, festive, celebration"),
    _c("beautiful", "mood", "msd:beautiful", "lovely, pretty, gorgeous, dreamy, elegant, graceful, "
       "touching, emotional, moving, tender"),
    _c("sexy", "mood", "msd:sexy", "romance, sensual, seductive, sultry, romantic, love song, intimate"),
    _c("catchy", "mood", "msd:catchy", "earworm, hooky, memorable, sing along, singalong"),
    _c("weird", "mood", "mtt:weird, msd:experimental", "strange, bizarre, quirky, odd, unusual, "
       "avant-garde, avant garde, abstract, psychedelic, trippy, surreal"),
    _c("epic", "mood", "mtt:loud, mtt:strings, axis:energy", "epic, heroic, grand, majestic, "
       "triumphant, cinematic, dramatic, battle, war, powerful"),
    # energy and tempo
    _c("calm", "other", "axis:energy-, mtt:quiet, mtt:soft", "sleeping, bedtime, winding down, relaxation, calming, peaceful, tranquil, serene, "
       "meditative, meditation, soothing, restful, relaxing, quiet, background, "
       "sleep, sleepy, study, focus, zen, still, gentle, low energy, spa, yoga, lullaby"),
    _c("energetic", "other", "axis:energy", "pump up, pumped, adrenaline, energy, high energy, high-energy, intense, lively, "
       "pumping, dynamic, workout, gym, running, driving, exciting, hype, powerful, vigorous, "
       "explosive, action, upbeat"),
    _c("fast", "other", "mtt:fast", "faster, quick, rapid, high tempo, uptempo, up-tempo, frantic, "
       "speedy, brisk, hurried, driving, upbeat"),
    _c("slow", "other", "mtt:slow", "slower, slow tempo, downtempo, leisurely, unhurried, sluggish, "
       "ballad, slow-paced"),
    _c("loud", "other", "mtt:loud", "louder, heavy, noisy, aggressive, hard-hitting, hard hitting, "
       "distorted, distortion, crushing, raw, wall of sound, booming, angry, furious, brutal"),
    _c("quiet", "other", "mtt:quiet, mtt:soft", "softly, soft, gentle, delicate, hushed, tender, "
       "subtle, subdued, faint, low volume, whisper, intimate"),
    _c("beat", "other", "mtt:beat, mtt:beats, mtt:drums", "beats, groove, groovy, rhythmic, rhythm, "
       "percussive, beat-driven, danceable"),
    _c("solo", "other", "mtt:solo", "solo instrument, unaccompanied, alone"),
    # instruments
    _c("piano", "instrument", "mtt:piano", "pianos, pianist, keys, grand piano, piano solo, "
       "keyboard, keyboards, upright piano, ivories"),
    _c("guitar", "instrument", "mtt:guitar, msd:guitar", "ukulele, mandolin, guitars, guitarist, riff, riffs, "
       "electric guitar, guitar solo, strumming, strummed, six-string"),
    _c("acoustic", "instrument", "msd:acoustic", "unplugged, acoustic guitar, acoustic instruments, "
       "folk guitar, organic, natural instruments, live instruments",
       negative="genre:electronic, mtt:synth"),
    _c("strings", "instrument", "mtt:strings, mtt:violin, mtt:cello", "string section, string "
       "quartet, orchestral strings, string orchestra, bowed, strings section"),
    _c("orchestral", "instrument", "mtt:strings, mtt:classical", "orchestra, orchestral, symphony, "
       "symphonic, philharmonic, film score, soundtrack, score, cinematic, movie score"),
    _c("violin", "instrument", "mtt:violin", "violins, violinist, fiddle, fiddles"),
    _c("cello", "instrument", "mtt:cello", "cellos, cellist, double bass, bowed bass"),
    _c("harp", "instrument", "mtt:harp", "harps, harpist, lyre"),
    _c("flute", "instrument", "mtt:flute", "flutes, flutist, pan flute, panpipes, recorder, "
       "woodwind, woodwinds, whistle, tin whistle, piccolo"),
    _c("harpsichord", "instrument", "mtt:harpsichord", "harpsichords, baroque keyboard, clavichord"),
    _c("sitar", "instrument", "mtt:sitar, mtt:indian", "sitars, tabla, raga, indian, bollywood"),
    _c("synth", "instrument", "mtt:synth", "synths, synthesizer, synthesizers, synthesiser, "
       "synthesisers, synthetic, synthpop, synthwave, analog synth, chiptune, 8-bit, "
       "8 bit, video game, arcade, keyboards"),
    _c("drums", "instrument", "mtt:drums, mtt:beat", "drum, drumming, drummer, percussion, "
       "percussive, drum kit, drumkit, kit, snare, kick drum, toms, rhythm section, tribal, taiko, "
       "bongos, congas"),
    _c("bass", "instrument", "mtt:beat, mtt:drums", "bassline, bass line, basslines, subbass, sub bass"),
    # vocals
    _c("vocals", "vocals", "mtt:vocal, mtt:vocals, mtt:singing, mtt:voice", "vocal, singing, singer, "
       "singers, sung, voice, voices, lyrics, vocalist, sing, sings, song with lyrics"),
    _c("female vocals", "vocals", "mtt:female, mtt:female vocal, mtt:woman, mtt:female voice, "
       "msd:female vocalists, msd:female vocalist", "female singer, female vocal, female vocalist, "
       "female vocalists, female voice, woman singing, woman, women, girl singing, she sings, "
       "diva, female singers, woman's voice, singer-songwriter woman"),
    _c("male vocals", "vocals", "mtt:male, mtt:male vocal, mtt:man, mtt:male voice, msd:male vocalists",
       "male singer, male vocal, male vocalist, male vocalists, male voice, man singing, man, men, "
       "guy singing, he sings, male singers, man's voice, crooner, baritone"),
    _c("instrumental", "vocals", "mtt:no vocals, mtt:no vocal, mtt:no voice, msd:instrumental",
       "no vocals, no vocal, no voice, no singing, without vocals, without singing, without voice, "
       "without lyrics, no lyrics, instrumentals, vocal-free, non-vocal"),
    _c("choir", "vocals", "mtt:choir, mtt:choral", "gospel, choral, chorus, choirs, chant, chanting, chants, "
       "gregorian, hymn, hymns, sacred, church, monks, a cappella, acapella"),
    _c("opera", "vocals", "mtt:opera", "operatic, soprano, aria, arias, tenor, bel canto"),
    # eras
    _c("60s", "era", "msd:60s", "1960s, sixties, '60s, 60's, 1960"),
    _c("70s", "era", "msd:70s", "1970s, seventies, '70s, 70's, 1970, disco era"),
    _c("80s", "era", "msd:80s", "1980s, eighties, '80s, 80's, 1980, retro synth"),
    _c("90s", "era", "msd:90s", "1990s, nineties, '90s, 90's, 1990"),
    _c("00s", "era", "msd:00s", "2000s, noughties, '00s, aughts, 2000"),
    _c("oldies", "era", "msd:oldies", "old, oldie, old-time, old time, vintage, retro, classic hits, "
       "golden oldies, old school, old-school"),
    # genres: each family, and the narrower tags people name
    _c("rock", "genre", "genre:rock", "rock music, rock and roll, rock 'n' roll, rock n roll, rocker, "
       "rocking, rockin"),
    _c("classic rock", "genre", "msd:classic rock", "classic-rock, 70s rock"),
    _c("hard rock", "genre", "msd:hard rock", "hard-rock, arena rock, stadium rock"),
    _c("alternative", "genre", "msd:alternative, msd:alternative rock", "alternative rock, alt rock, "
       "alt-rock, grunge"),
    _c("indie", "genre", "msd:indie, msd:indie rock, msd:indie pop", "indie rock, indie pop, "
       "independent, lo-fi, lofi, shoegaze"),
    _c("progressive rock", "genre", "msd:Progressive rock", "prog, prog rock, progressive, "
       "prog-rock, art rock"),
    _c("metal", "genre", "genre:metal", "heavy metal, metal music, metalhead, thrash, death metal, "
       "black metal, doom, headbanging, metalcore"),
    _c("punk", "genre", "genre:punk", "punk rock, punks, hardcore, pop punk, pop-punk, garage"),
    _c("pop", "genre", "genre:pop", "pop music, pop song, popular, mainstream, chart, charts, top 40, "
       "radio hit, hits, pop hits"),
    _c("electronic", "genre", "genre:electronic, mtt:synth", "electronica, electro, edm, electronic music, "
       "techno, idm, computer music, digital, trance, drum and bass, dnb, dubstep, "
       "breakbeat, synthwave, electronically"),
    _c("techno", "genre", "mtt:techno", "techno music, minimal techno, rave, acid"),
    _c("dance", "genre", "genre:dance", "dance music, dancing, danceable, club music, house, house "
       "music, deep house, disco house, eurodance, dance track, dance tracks"),
    _c("ambient", "genre", "genre:ambient", "ambient music, ambience, atmospheric, atmosphere, "
       "soundscape, soundscapes, drone, drones, chillout, new age, space music, ethereal, pads"),
    _c("new age", "genre", "mtt:new age, msd:chillout", "new-age, newage, healing, spiritual, "
       "meditation music, relaxation music"),
    _c("easy listening", "genre", "msd:easy listening", "easy-listening, elevator music, muzak, "
       "lounge music, light music"),
    _c("hip-hop", "genre", "genre:hip-hop", "hip hop, hiphop, rap, rapping, rapper, rappers, trap, "
       "boom bap"),
    _c("r&b", "genre", "genre:r&b/soul", "rnb, r and b, rhythm and blues, soul, soulful, neo soul, "
       "motown"),
    _c("funk", "genre", "genre:funk/disco", "funky, funk music, disco, slap bass, groove music"),
    _c("jazz", "genre", "genre:jazz", "jazzy, jazz music, swing, bebop, big band, smooth jazz, "
       "jazz club, saxophone, sax, trumpet, brass"),
    _c("blues", "genre", "genre:blues", "bluesy, blues music, delta blues, blues guitar, twelve bar"),
    _c("country", "genre", "genre:country", "country music, western, cowboy, bluegrass, honky tonk, "
       "americana, banjo, twang, twangy"),
    _c("folk", "genre", "genre:folk", "folk music, folky, folksy, traditional, celtic, irish, "
       "medieval, tavern, bard, minstrel, singer-songwriter, ballads"),
    _c("classical", "genre", "genre:classical", "classical music, classic, baroque, romantic era, "
       "chamber music, concerto, sonata, symphony, opera, composer, mozart, bach, beethoven, chopin"),
    _c("reggae", "genre", "genre:reggae", "ska, dub, dancehall, rocksteady, jamaican"),
    _c("world", "genre", "mtt:indian, mtt:sitar", "world music, ethnic, exotic, oriental, eastern"),
)

# words that carry no meaning of their own in a music query
STOPWORDS = frozenset(
    "a an the some any of for to in on at by with and or but that this these those which who is "
    "are be it its my me i want find play give show something anything stuff kind sort type lots "
    "lot very really quite bit little more most much music musics song songs track tracks tune "
    "tunes piece pieces sound sounds sounding sounded like feel feeling vibe vibes style genre "
    "please good great nice full plenty heavily mostly mainly get gets getting started start starts "
    "put make makes made over from into onto off out up down while when where just only also lots "
    "perfect best ideal suitable listen listening hear playlist mix".split())
# words that negate the phrase after them ("no drums", "without vocals", "not sad")
NEGATIONS = frozenset("no without not non minus never zero free lacking except".split())


def _check(concepts: tuple[Concept, ...]) -> None:
    names = [c.name for c in concepts]
    if len(set(names)) != len(names):
        raise VocabularyError("a concept name appears twice")
    for c in concepts:
        for out in (*c.outputs, *c.negative):
            kind, _, rest = out.partition(":")
            if kind == "genre" and rest not in GENRE_FAMILIES:
                raise VocabularyError(f"concept {c.name!r}: unknown genre family {rest!r}")
            if kind == "axis" and rest.rstrip("-") not in AXES:
                raise VocabularyError(f"concept {c.name!r}: unknown axis {rest!r}")


_check(CONCEPTS)
BY_NAME: dict[str, Concept] = {c.name: c for c in CONCEPTS}


def tag_ids(names: list[str]) -> list[str]:
    """The MTT-50/MSD-50 tag ids ("msd:sad") among the outputs of the named concepts, genre
    families opened into their tags; axes (which are no stored tag) left out."""
    ids: list[str] = []
    for name in names:
        for output in BY_NAME[name].outputs:
            kind, _, rest = output.partition(":")
            members = GENRE_FAMILIES[rest] if kind == "genre" else (output,) if kind in ("mtt", "msd") else ()
            ids += [m for m in members if m.split(":", 1)[0] in ("mtt", "msd")]
    return list(dict.fromkeys(ids))
