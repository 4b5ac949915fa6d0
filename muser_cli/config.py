"""`config.toml`: defaults for muser's options, and `muser config` to show them.

The file is the platform's user config folder's `muser/config.toml` (`~/.config/muser/config.toml`
on Linux), or `$MUSER_CONFIG`. Its keys set the defaults of the options of the same meaning on
every command that has them; the command line beats the environment (`MUSER_LIBRARY`,
`MUSER_DEVICE`, `MUSER_ENGINE`, `MUSER_WORKERS`, `MUSER_CHECKPOINT`, `MUSER_PLAYLIST_BASE`), the
environment beats the file, the file beats the built-in defaults (click's own order: command line,
environment variable, `default_map`, default). An unknown key or a value of the wrong kind is one
error line naming the key and the file, exit 2.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muser_model.core.errors import UsageError

ENV_FILE = "MUSER_CONFIG"


class ConfigError(UsageError):
    """The config file does not read, or holds an unknown key or a bad value."""


@dataclass(frozen=True)
class Key:
    option: str  # the commands' parameter it sets
    kind: type
    env: str
    help: str
    choices: tuple[str, ...] = ()


KEYS: dict[str, Key] = {
    "library": Key("library", str, "MUSER_LIBRARY", "library name"),
    "device": Key("device", str, "MUSER_DEVICE", "auto, cpu, cuda or cuda:N"),
    "engine": Key("engine", str, "MUSER_ENGINE", "auto, numpy or torch", ("auto", "numpy", "torch")),
    "workers": Key("workers", int, "MUSER_WORKERS", "decoder / embedding processes"),
    "checkpoint": Key("checkpoint", str, "MUSER_CHECKPOINT", "checkpoint file"),
    "playlist_base": Key("relative_to", str, "MUSER_PLAYLIST_BASE", "--m3u paths relative to this folder"),
    "tag_min_probability": Key("", dict, "", "the probability a predicted tag needs for --tag, per vocabulary: "
                                             "{ mtt = 0.3, msd = 0.2 }"),
}
_KIND_NAMES = {int: "a whole number", str: "a string", dict: "a table"}
BUILT_IN = {"library": "default", "device": "auto", "engine": "auto", "workers": None, "checkpoint": None,
            "playlist_base": None, "tag_min_probability": {"mtt": 0.3, "msd": 0.2}}


def config_path() -> Path:
    """$MUSER_CONFIG, else the platform's user config folder's muser/config.toml."""
    if os.environ.get(ENV_FILE):
        return Path(os.environ[ENV_FILE]).expanduser()
    from platformdirs import user_config_path

    return user_config_path("muser") / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The file's checked values (an absent file: none). Raises ConfigError naming the file and
    the key."""
    path = path or config_path()
    if not path.is_file():
        if os.environ.get(ENV_FILE) and not path.exists():
            raise ConfigError(f"{path}: no such config file (from ${ENV_FILE})")
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return {key: _checked(path, key, value) for key, value in data.items()}


def _checked(path: Path, key: str, value: Any) -> Any:
    spec = KEYS.get(key)
    if spec is None:
        raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(KEYS)})")
    if not isinstance(value, spec.kind) or isinstance(value, bool):
        raise ConfigError(f"{path}: {key} = {value!r} is not {_KIND_NAMES[spec.kind]} ({spec.help})")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{path}: {key} = {value!r}: use one of {', '.join(spec.choices)}")
    if key == "device":
        from muser_model.core.errors import DeviceOptionError
        from muser_model.core.hardware import check_device_name

        try:
            check_device_name(value)
        except DeviceOptionError as exc:
            raise ConfigError(f"{path}: device: {exc}") from None
    if key == "workers" and value < 1:
        raise ConfigError(f"{path}: workers = {value}: give 1 or more")
    if key in ("checkpoint", "playlist_base"):
        return str(Path(value).expanduser())
    if key == "tag_min_probability":
        from muser_model.core.vocab_groups import VOCABULARIES

        for vocab, floor in value.items():
            if vocab not in VOCABULARIES or not isinstance(floor, (int, float)) or not 0 <= floor <= 1:
                raise ConfigError(f"{path}: tag_min_probability.{vocab} = {floor!r}: give a probability from 0 to 1 "
                                  f"for a vocabulary of {', '.join(VOCABULARIES)}")
        return {vocab: float(floor) for vocab, floor in value.items()}
    return value


def default_map(command: Any, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """click's `default_map` for the group `command`: each config value for every subcommand that
    has its option."""
    out: dict[str, dict[str, Any]] = {}
    for name, sub in getattr(command, "commands", {}).items():
        params = {p.name for p in sub.params}
        defaults = {KEYS[k].option: v for k, v in values.items() if KEYS[k].option and KEYS[k].option in params}
        if defaults:
            out[name] = defaults
    return out


def effective(values: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(key, value, where it comes from) for every key: environment, the file or built in."""
    rows = []
    for key, spec in KEYS.items():
        if spec.env and os.environ.get(spec.env):
            rows.append((key, os.environ[spec.env], f"${spec.env}"))
        elif key in values:
            rows.append((key, values[key], "file"))
        else:
            rows.append((key, BUILT_IN[key], "built in"))
    return rows


def apply_process_settings(values: dict[str, Any]) -> None:
    """The keys that are no command option: the --tag floors (library.predict)."""
    if "tag_min_probability" in values:
        from muser_model.library.predict import set_tag_min_probability

        set_tag_min_probability(values["tag_min_probability"])


def fail(exc: ConfigError) -> None:
    """Print the one error line and exit with the error's code (before any command runs)."""
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(exc.exit_code)


def show(as_json: bool = False) -> None:
    """`muser config`: the file's path, and each key's effective value and where it comes from."""
    from muser_cli import output

    path = config_path()
    rows = effective(read_config(path))
    if as_json:
        output.json_line({"path": str(path), "exists": path.is_file(),
                          "values": {k: {"value": v, "from": src} for k, v, src in rows}})
        return
    output.data(f"config file  {path}{'' if path.is_file() else ' (none: built-in defaults)'}")
    width = max(len(k) for k in KEYS) + 2
    for key, value, source in rows:
        output.data(f"  {key:<{width}}{'-' if value is None else value}  ({source})")
