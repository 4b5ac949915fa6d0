"""midi_instruments: which General MIDI programs sound in a file and whether drums play, read with
mido. The expected values are what the hand-written parser it replaced returned for the same files."""
import random

import mido
import pytest

from muser_train.corpus.midi import midi_instruments


def _track(events, name: str = "") -> mido.MidiTrack:
    """A track from (absolute tick, message) pairs, with a name and a sysex to skip."""
    track = mido.MidiTrack()
    if name:
        track.append(mido.MetaMessage("track_name", name=name, time=0))
    track.append(mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01], time=0))
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _note(ch: int, note: int, velocity: int = 90) -> mido.Message:
    return mido.Message("note_on", channel=ch, note=note, velocity=velocity)


def write_song(path) -> None:
    """Three tracks: a program changed between notes, a channel with no program change (program 0),
    a note-on with velocity 0 (a note-off) under a program that never sounds, drums on channel 10,
    and a program change in a later track at the tick of an earlier track's note."""
    piano_then_organ = [(0, mido.Message("program_change", channel=0, program=0)), (0, _note(0, 60)),
                        (480, mido.Message("program_change", channel=0, program=19)), (960, _note(0, 64)),
                        (1200, mido.Message("program_change", channel=0, program=40))]
    silent = [(0, mido.Message("program_change", channel=2, program=73)), (100, _note(2, 70, velocity=0)),
              (200, _note(3, 50)), (300, mido.Message("control_change", channel=3, control=7, value=100))]
    drums_and_race = [(10, _note(9, 36)), (1200, mido.Message("program_change", channel=4, program=33)),
                      (1200, _note(4, 40)), (960, mido.Message("program_change", channel=0, program=56))]
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks += [_track(piano_then_organ, "keys"), _track(silent), _track(drums_and_race, "rhythm")]
    mid.save(path)


def write_random_song(path, seed: int) -> None:
    rng = random.Random(seed)
    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    for _ in range(rng.randint(1, 4)):
        events = []
        for _ in range(rng.randint(1, 30)):
            ch, tick = rng.choice([0, 1, 2, 9]), rng.randrange(0, 400, 20)
            if rng.random() < 0.3:
                events.append((tick, mido.Message("program_change", channel=ch, program=rng.randrange(128))))
            else:
                events.append((tick, _note(ch, rng.randrange(30, 90), rng.choice([0, 64, 100]))))
        mid.tracks.append(_track(events))
    mid.save(path)


def test_programs_and_drums_of_a_written_song(tmp_path):
    write_song(tmp_path / "song.mid")
    # the organ (19) in channel 0 sounds at tick 960 only because the later track's trumpet (56)
    # comes after it in file order; 73 (flute) only has a velocity-0 note; 40 (violin) never plays
    assert midi_instruments(tmp_path / "song.mid") == ([0, 19, 33], True)


@pytest.mark.parametrize("seed, expected", [
    (0, ([0, 15, 35, 47, 48, 50, 66, 69, 77, 114, 119], True)), (1, ([0, 6, 40, 53, 100], True)),
    (2, ([0], False)), (3, ([0, 48, 111, 120, 123], True)), (4, ([0, 6], True)),
    (5, ([0, 5, 50, 55, 88, 107, 111, 112, 119], True)),
])
def test_random_songs_read_as_the_hand_written_parser_read_them(tmp_path, seed, expected):
    write_random_song(tmp_path / "r.mid", seed)
    assert midi_instruments(tmp_path / "r.mid") == expected


def test_a_file_that_is_not_midi_is_a_value_error(tmp_path):
    (tmp_path / "x.mid").write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(ValueError, match="not a MIDI file"):
        midi_instruments(tmp_path / "x.mid")
