"""Where libraries live: platformdirs' user data dir, or $MUSER_HOME."""
from __future__ import annotations

import os
import re
from pathlib import Path

from muser_model.core.errors import MuserError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class LibraryNameError(MuserError):
    pass


def data_home() -> Path:
    override = os.environ.get("MUSER_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("muser", appauthor=False))


def library_dir(name: str = "default") -> Path:
    if not _NAME.match(name):
        raise LibraryNameError(f"bad library name {name!r}: use letters, digits, '.', '_' or '-'")
    return data_home() / "libraries" / name
