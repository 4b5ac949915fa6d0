"""Corpus v3: a DEP-5 stanza whose License field is empty on its first line still parses
(it crashed the v3 build on a real package)."""
from muser_train.corpus import debpkg

TEXT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: music/*
Copyright: 2010 Someone
License:
 CC-BY-SA-3.0

Files: empty/*
Copyright: nobody
License:
"""


def test_licence_on_the_continuation_line():
    stanzas = debpkg.parse_dep5(TEXT)
    assert stanzas[0]["licence"] == "CC-BY-SA-3.0"
    assert stanzas[1]["licence"] == "unknown"
