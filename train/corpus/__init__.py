"""The offline training corpus: rendered MIDI (`mma`), game music (`games`), music21 scores
(`scores`), mood captions (`mood`) and teacher tags (`pseudo_tags`), put together by `build`.
Shared rendering, excerpting, atomic writes and summaries live in `common`."""
