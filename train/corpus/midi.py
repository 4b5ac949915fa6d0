"""General MIDI facts shared by the MIDI-rendering corpora (mma, scores): program names, the
tags a program may give, and which programs sound in a MIDI file and whether drums play (mido)."""
from __future__ import annotations

from pathlib import Path

from muser_model.core.vocab import MTT_TAGS

GM_NAMES = [
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano", "electric piano", "harpsichord", "clavinet", "celesta", "glockenspiel",
    "music box", "vibraphone", "marimba", "xylophone", "tubular bells", "dulcimer",
    "drawbar organ", "percussive organ", "rock organ", "church organ", "reed organ", "accordion",
    "harmonica", "bandoneon", "nylon-string guitar", "steel-string guitar", "jazz guitar",
    "clean electric guitar", "muted electric guitar", "overdriven guitar", "distorted guitar",
    "guitar harmonics", "acoustic bass", "fingered electric bass", "picked electric bass",
    "fretless bass", "slap bass", "slap bass", "synth bass", "synth bass", "violin", "viola",
    "cello", "contrabass", "tremolo strings", "pizzicato strings", "harp", "timpani",
    "string ensemble", "slow strings", "synth strings", "synth strings", "choir aahs",
    "voice oohs", "synth voice", "orchestra hit", "trumpet", "trombone", "tuba", "muted trumpet",
    "french horn", "brass section", "synth brass", "synth brass", "soprano sax", "alto sax",
    "tenor sax", "baritone sax", "oboe", "english horn", "bassoon", "clarinet", "piccolo",
    "flute", "recorder", "pan flute", "blown bottle", "shakuhachi", "whistle", "ocarina",
    "square lead synth", "sawtooth lead synth", "calliope lead synth", "chiff lead synth",
    "charang lead synth", "voice lead synth", "fifths lead synth", "bass and lead synth",
    "fantasia pad", "warm pad", "polysynth pad", "space voice pad", "bowed glass pad",
    "metallic pad", "halo pad", "sweep pad", "rain synth", "soundtrack synth", "crystal synth",
    "atmosphere synth", "brightness synth", "goblins synth", "echo drops synth", "sci-fi synth",
    "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle", "shanai",
    "tinkle bell", "agogo", "steel drums", "woodblock", "taiko drum", "melodic tom",
    "synth drum", "reverse cymbal", "guitar fret noise", "breath noise", "seashore",
    "bird tweet", "telephone ring", "helicopter", "applause", "gunshot",
]

MTAT_VOCAB = set(MTT_TAGS)  # tags a MIDI render may carry: only MagnaTagATune's


def midi_instruments(path: str | Path) -> tuple[list[int], bool]:
    """(the General MIDI programs that sound, sorted; whether drums play) in a MIDI file.

    A program sounds when a note starts (note-on, velocity > 0) on its channel while it is that
    channel's program (0 until a program change); channel 10 is the drums. Events are taken in
    tick order, ties in file order (earlier tracks first). Raises ValueError for a file that is
    not MIDI."""
    import mido  # the train extra; mido rather than music21: a tenth of the import and parse time

    try:
        tracks = mido.MidiFile(path, clip=True).tracks
    except (OSError, EOFError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{path}: not a MIDI file ({exc})") from exc
    events = []  # (tick, order in the file, message)
    for track in tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "program_change" or (msg.type == "note_on" and msg.velocity > 0):
                events.append((tick, len(events), msg))
    events.sort(key=lambda e: e[:2])
    program = [0] * 16
    sounding, drums = set(), False
    for _, _, msg in events:
        if msg.type == "program_change":
            program[msg.channel] = msg.program
        elif msg.channel == 9:
            drums = True
        else:
            sounding.add(program[msg.channel])
    return sorted(sounding), drums
