"""Debian packages as corpus sources: download a .deb, extract it, ask dpkg about installed
packages, and read who holds the rights to each file from its machine-readable (DEP-5)
debian/copyright, parsed by python-debian (`debian.copyright`).

`doc_root` parameters default to the installed system's /usr/share/doc; a package extracted under
ROOT passes ROOT/usr/share/doc.
"""
from __future__ import annotations

import fnmatch
import io
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from muser_train.errors import CorpusError

DOC_ROOT = Path("/usr/share/doc")


class PackageError(CorpusError):
    """A package that cannot be downloaded or extracted (the message says which and why)."""


# ----------------------------------------------------------------------------------------------
# download and extraction
# ----------------------------------------------------------------------------------------------
def find_deb(debs: Path, package: str) -> Path | None:
    found = sorted(debs.glob(f"{package}_*.deb"))
    return found[-1] if found else None


def download(package: str, debs: Path) -> Path:
    """DEBS/PKG_*.deb, fetched with `apt-get download` unless it is there."""
    debs.mkdir(parents=True, exist_ok=True)
    have = find_deb(debs, package)
    if have is not None:
        return have
    r = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
    deb = find_deb(debs, package)
    if r.returncode != 0 or deb is None:
        reason = (r.stderr.strip().splitlines() or ["no .deb written"])[-1]
        raise PackageError(f"{package}: download failed ({reason[:200]})")
    return deb


def extract_deb(deb: Path, root: Path) -> Path:
    """`dpkg -x DEB ROOT` (resumable: ROOT/.done marks a finished extraction)."""
    if (root / ".done").is_file():
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    r = subprocess.run(["dpkg", "-x", str(deb), str(root)], capture_output=True, text=True)
    if r.returncode != 0:
        raise PackageError(f"{deb.name}: dpkg -x failed ({r.stderr.strip()[-200:]})")
    (root / ".done").write_text("")
    return root


# ----------------------------------------------------------------------------------------------
# installed packages
# ----------------------------------------------------------------------------------------------
def dpkg_files(package: str, suffix: str = ".ogg") -> list[str]:
    """The installed files of a package ending in `suffix` (case ignored); [] when not installed."""
    r = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if r.returncode != 0:
        return []
    return [ln for ln in r.stdout.splitlines() if ln.lower().endswith(suffix)]


def _query(package: str, fmt: str) -> str:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", fmt, package], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def package_description(package: str) -> str:
    return _query(package, "${Description}")


def package_version(package: str) -> str:
    return _query(package, "${Version}")


# ----------------------------------------------------------------------------------------------
# licences
# ----------------------------------------------------------------------------------------------
def parse_dep5(text: str) -> list[dict]:
    """Files stanzas of a machine-readable debian/copyright: [{files, copyright, licence}], the
    licence being its short name ("unknown" when the License field is empty). A file that does
    not parse as DEP-5 gives [] (the package's licence then comes from `licence_from_text`)."""
    from debian import copyright as dep5

    try:
        with warnings.catch_warnings():  # python-debian warns about fields it does not know
            warnings.simplefilter("ignore")
            doc = dep5.Copyright(io.StringIO(text), strict=False)
    except (dep5.Error, ValueError):
        return []
    stanzas = []
    for par in doc.all_files_paragraphs():
        if par.license is None:
            continue
        text_lines = par.license.text.strip().splitlines()
        stanzas.append({"files": list(par.files), "copyright": " ".join((par.copyright or "").split()),
                        "licence": par.license.synopsis.strip() or (text_lines or ["unknown"])[0].strip()})
    return stanzas


def licence_from_text(text: str) -> str:
    """The licence a free-text copyright file names (CC-BY-SA-x.y, GPL-n[+]), else "unknown"."""
    t = " ".join(text.split()).lower()
    if "creative commons" in t and "sharealike" in t.replace("share-alike", "sharealike") \
            .replace("share alike", "sharealike"):
        ver = re.search(r"(?:sharealike|share-alike|share alike)[^.]{0,40}?(\d\.\d)", t)
        return f"CC-BY-SA-{ver.group(1) if ver else '3.0'}"
    if "gnu general public license" in t:
        later = "any later version" in t or "or later" in t
        ver = re.search(r"general public license,? (?:as published [^.]*?)?version (\d)", t)
        v = ver.group(1) if ver else "2"
        return f"GPL-{v}{'+' if later else ''}"
    return "unknown"


@dataclass
class Licensing:
    stanzas: list = field(default_factory=list)
    package_licence: str = "unknown"

    def lookup(self, path: str) -> tuple[str, str]:
        """(licence, copyright holder of a file-specific stanza or "") for an installed path."""
        best, best_pat = None, ""
        for st in self.stanzas:  # DEP-5: the last matching stanza wins
            for pat in st["files"]:
                if pat == "*" or fnmatch.fnmatch(path, "*/" + pat.lstrip("./")):
                    best, best_pat = st, pat
        if best is None:
            return self.package_licence, ""
        # the holder names the composer only in a stanza written for audio files
        specific = best_pat.lower().endswith(".ogg") and "commission" not in best["copyright"]
        return best["licence"], best["copyright"] if specific else ""


def licensing(package: str, doc_root: Path = DOC_ROOT) -> Licensing:
    """The licensing of a package from DOC_ROOT/PACKAGE/copyright (none known when unreadable)."""
    try:
        text = (Path(doc_root) / package / "copyright").read_text(errors="replace")
    except OSError:
        return Licensing()
    stanzas = parse_dep5(text) if text.lstrip().startswith("Format:") else []
    return Licensing(stanzas, licence_from_text(text))
