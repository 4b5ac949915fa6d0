"""Typed errors of the training code. Each subclasses muser's MuserError, so the one handler at the
CLI edge (`muser_cli.main`) prints it as one line and exits with its `exit_code`."""
from __future__ import annotations

from collections.abc import Sequence

from muser_model.core.errors import MuserError, OptionError


class ConfigValueError(OptionError):
    """A configuration key holds a value outside its allowed set; `key` names the field, so that a
    command line can name its own option instead."""

    def __init__(self, key: str, value: object, allowed: Sequence[str]) -> None:
        self.key, self.value, self.allowed = key, value, tuple(allowed)
        super().__init__(f"{key} {value!r}: {self.reason}")

    @property
    def reason(self) -> str:
        return "choose one of " + ", ".join(self.allowed)

    def __reduce__(self):
        return type(self), (self.key, self.value, self.allowed)


class CorpusError(MuserError):
    """A corpus build cannot go on as asked: a missing tool, package or input, or a bad option."""


class CorpusOptionError(CorpusError, OptionError):
    """Corpus-building options that contradict each other or name something unknown."""
