"""The web tests share one library and one running app (in-process), built once for the package."""
from __future__ import annotations

import pytest

from tests.helpers.web_fixtures import build_web_library

BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="package")
def web_home(tmp_path_factory):
    """(root, files) of the shared web library; MUSER_HOME points at root/home while the package runs."""
    root = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSER_HOME", str(root / "home"))
        files = build_web_library(root)
        yield root, files


@pytest.fixture(scope="package")
def app_settings(web_home):
    from muser_cli.web.app import ServerSettings

    root, _ = web_home
    return ServerSettings(library="web", cache=root / "cache", relative_to=root / "music")


@pytest.fixture(scope="package")
def client(web_home, app_settings):
    from starlette.testclient import TestClient

    from muser_cli.web.app import create_app

    with TestClient(create_app(app_settings), base_url=BASE) as c:
        yield c


@pytest.fixture
def csrf(app_settings) -> dict:
    return {"X-CSRF-Token": app_settings.csrf_token}
