"""corpus.debpkg: DEP-5 through python-debian reads what the hand-written parser read (expected
values computed with that parser), and a package's licensing comes from any doc root."""
import pytest

from muser_train.corpus import debpkg

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake
Source: https://example.org

Files: *
Copyright: 2010-2012 Some Team <team@example.org>
License: GPL-2+
 This program is free software; you can redistribute it under the GNU General Public License
 version 2 or later.

Files: music/*.ogg
Copyright: 2011 Jane Composer
           2012 John Other
License: CC-BY-SA-3.0
 Creative Commons Attribution-ShareAlike 3.0

Files: music/special/*
 data/extra/*
Copyright: 2013 Commissioned work for the team
License: CC-BY-3.0

License: GPL-2+
 On Debian systems the full text is in /usr/share/common-licenses/GPL-2.
"""
BEFORE = [{"copyright": "2010-2012 Some Team <team@example.org>", "files": ["*"], "licence": "GPL-2+"},
          {"copyright": "2011 Jane Composer 2012 John Other", "files": ["music/*.ogg"], "licence": "CC-BY-SA-3.0"},
          {"copyright": "2013 Commissioned work for the team", "files": ["music/special/*", "data/extra/*"],
           "licence": "CC-BY-3.0"}]
LOOKUPS = {"/usr/share/doc/fake/README": ("GPL-2+", ""), "/usr/share/games/fake/data/x.png": ("GPL-2+", ""),
           "/usr/share/games/fake/music/a.ogg": ("CC-BY-SA-3.0", "2011 Jane Composer 2012 John Other"),
           "/usr/share/games/fake/music/special/b.ogg": ("CC-BY-3.0", "")}


def test_stanzas_are_those_of_the_old_parser():
    assert debpkg.parse_dep5(COPYRIGHT) == BEFORE


@pytest.fixture
def doc_root(tmp_path):
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "copyright").write_text(COPYRIGHT)
    return tmp_path


def test_licensing_reads_the_given_doc_root(doc_root):
    lic = debpkg.licensing("fake", doc_root)
    assert {path: lic.lookup(path) for path in LOOKUPS} == LOOKUPS
    assert lic.package_licence == "CC-BY-SA-3.0"  # the free-text rule looks for CC-BY-SA first


def test_no_copyright_file_means_nothing_known(tmp_path):
    assert debpkg.licensing("absent", tmp_path) == debpkg.Licensing()


def test_a_file_that_is_not_dep5_keeps_its_free_text_licence(tmp_path):
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nFiles: *\n\n"
        "a line without a colon, licensed under the GNU General Public License version 3\n")
    lic = debpkg.licensing("odd", tmp_path)
    assert lic.stanzas == [] and lic.lookup("/usr/share/odd/x.ogg") == ("GPL-3", "")


def test_a_missing_deb_is_a_typed_error(tmp_path):
    with pytest.raises(debpkg.PackageError, match="dpkg -x failed"):
        debpkg.extract_deb(tmp_path / "none_1.0_all.deb", tmp_path / "root")
