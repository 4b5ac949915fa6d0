"""General MIDI facts shared by the MIDI-rendering corpora (mma, scores): program names, the
tags a program may give, and a minimal MIDI reader (which programs sound, whether drums play)."""
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


def _varlen(b, i):
    v = 0
    while True:
        c = b[i]
        i += 1
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            return v, i


def midi_instruments(path):
    b = Path(path).read_bytes()
    if b[:4] != b"MThd":
        raise ValueError("not a MIDI file")
    hlen = int.from_bytes(b[4:8], "big")
    i = 8 + hlen
    events = []  # (tick, seq, kind, ch, val)
    seq = 0
    while i + 8 <= len(b):
        cid, clen = b[i:i + 4], int.from_bytes(b[i + 4:i + 8], "big")
        i += 8
        end = i + clen
        if cid != b"MTrk":
            i = end
            continue
        tick, status = 0, 0
        while i < end:
            d, i = _varlen(b, i)
            tick += d
            c = b[i]
            if c == 0xFF:
                ln, i = _varlen(b, i + 2)
                i += ln
                continue
            if c in (0xF0, 0xF7):
                ln, i = _varlen(b, i + 1)
                i += ln
                continue
            if c & 0x80:
                status = c
                i += 1
            hi, ch = status & 0xF0, status & 0x0F
            n = 1 if hi in (0xC0, 0xD0) else 2
            data = b[i:i + n]
            i += n
            if hi == 0xC0:
                events.append((tick, seq, "prog", ch, data[0]))
            elif hi == 0x90 and data[1] > 0:
                events.append((tick, seq, "note", ch, data[0]))
            seq += 1
        i = end
    events.sort()
    prog = [0] * 16
    progs, drums = set(), False
    for _, _, kind, ch, val in events:
        if kind == "prog":
            prog[ch] = val
        elif ch == 9:
            drums = True
        else:
            progs.add(prog[ch])
    return sorted(progs), drums
