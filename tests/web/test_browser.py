"""`muser serve` in a real browser: a real server on a small indexed library, driven with
headless Chromium through selenium. Search, play, and the map's click-to-play, with a screenshot of
each step under $MUSER_TEST_ARTIFACTS/browser/ (default test-artifacts/browser/)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.library_fixtures import make_library, tag_file

pytestmark = pytest.mark.slow  # a subprocess index and server, and a browser

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = "webtest"
URL_LINE = re.compile(r"http://127\.0\.0\.1:\d+")


def _browser_paths() -> tuple[str, str]:
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(f"needs headless chromium and chromedriver on PATH (chromium: {chromium}, chromedriver: {driver})")
    return chromium, driver


def _muser(*args: str) -> list[str]:
    return [sys.executable, "-m", "muser_cli.main", *args]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A private MUSER_HOME with the library LIBRARY indexed from make_library's clips."""
    root = tmp_path_factory.mktemp("web")
    (root / "empty.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "MUSER_LIBRARY"}
    env.update(MUSER_HOME=str(root / "home"), MUSER_CONFIG=str(root / "empty.toml"), NO_COLOR="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    files = make_library(root / "music")
    tag_file(files["rock"], title="<b>Loud</b>")  # markup in a tag must show as text
    done = subprocess.run(_muser("index", str(root / "music"), "--library", LIBRARY), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return env


class _Server:
    """`muser serve` as a subprocess; its stderr is read on a thread (the URL line, and so a full
    pipe never blocks the server)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(_muser("serve", "--no-browser", "--port", "0", "--library", LIBRARY), env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self.url: str | None = None
        self.listening = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            found = URL_LINE.search(line)
            if found and not self.url:
                self.url = found.group(0)
                self.listening.set()
        self.listening.set()  # the server ended: stop waiting

    def wait_url(self, seconds: float = 60.0) -> str:
        self.listening.wait(seconds)
        assert self.url, f"no URL on stderr within {seconds:.0f} s (exit {self.proc.poll()}):\n{''.join(self.lines)}"
        return self.url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(env) -> Iterator[str]:
    srv = _Server(env)
    try:
        yield srv.wait_url().rstrip("/") + "/"
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = _browser_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(chromedriver), options=opts)
    drv.set_script_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def shots(driver, request) -> Iterator:
    """shot(name) saves a screenshot; a failing test leaves one more, named after it."""
    folder = Path(os.environ.get("MUSER_TEST_ARTIFACTS", "test-artifacts")) / "browser"
    folder.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        driver.save_screenshot(str(folder / f"{name}.png"))

    failed_before = request.session.testsfailed
    yield shot
    if request.session.testsfailed > failed_before:
        shot(f"failed-{request.node.name}")


def _wait(driver, condition, seconds: float, what: str, state=lambda: ""):
    """condition's value once truthy, else an AssertionError naming `what`, the page's message line
    and state() as it is at the timeout."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)
    except TimeoutException:
        message = driver.execute_script("return document.getElementById('message-text')?.textContent ?? ''")
        raise AssertionError(f"{what}: not within {seconds:.0f} s; page message {message!r}; {state()}") from None


def _player(driver) -> dict:
    return driver.execute_script(
        "const p = document.getElementById('player'); return {src: p.src, time: p.currentTime, error: p.error && p.error.code};")


def test_search_lists_rows_and_play_starts_the_audio(driver, server, shots):
    from selenium.webdriver.common.by import By

    driver.get(server)
    _wait(driver, lambda d: d.switch_to.active_element.get_attribute("id") == "q", 10, "the search box has the focus")
    driver.find_element(By.ID, "q").send_keys("slow blues at night\n")
    rows = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results tr[data-id]"), 20, "result rows")
    shots("1-search")
    assert driver.find_element(By.ID, "explain").text.strip(), "the query reading is shown under the box"
    assert all(r.get_attribute("data-id").isdigit() for r in rows)

    rows[0].find_element(By.CSS_SELECTOR, ".play").click()
    _wait(driver, lambda d: _player(d)["time"] > 0.5, 10, "the player's currentTime passes 0.5 s",
          lambda: f"player {_player(driver)}")
    assert _player(driver)["src"].endswith(f"/api/audio/{rows[0].get_attribute('data-id')}")
    shots("2-playing")

    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys('artist:"The Amps"\n')
    titles = _wait(driver, lambda d: [c.text for c in d.find_elements(By.CSS_SELECTOR, "#results td.c-title")
                                      if "Loud" in c.text], 20, "the track titled <b>Loud</b> listed")
    assert titles == ["<b>Loud</b>"]
    assert driver.execute_script("return document.querySelector('#results b') === null")
    shots("3-literal-title")


def test_map_draws_every_point_and_a_click_plays_that_track(driver, server, shots):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get(server)
    driver.find_element(By.ID, "tab-map").click()
    _wait(driver, _map_drawn, 60, "the map's points drawn")
    ids = driver.execute_script("return window.muserMap.ids()")
    tracks = driver.execute_async_script(
        "fetch('/api/status').then(r => r.json()).then(s => arguments[0](s.tracks), e => arguments[0](String(e)))")
    assert tracks >= 5 and len(ids) == tracks  # make_library's clips (an m4a too where ffmpeg is)
    assert driver.execute_script("return window.muserMap.pointCount") == tracks
    canvas = driver.find_element(By.ID, "map")
    assert _painted_pixels(driver) > 50, "the canvas shows the points"
    shots("4-map")

    target, pos = _loneliest_point(driver, ids)
    before = _player(driver)["src"]
    assert not before.endswith(f"/api/audio/{target}")
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    ActionChains(driver).move_to_element_with_offset(canvas, round(pos["x"] - rect[0] / 2),
                                                     round(pos["y"] - rect[1] / 2)).pause(0.2).click().perform()
    _wait(driver, lambda d: _player(d)["src"].endswith(f"/api/audio/{target}"), 10,
          f"a click on track {target}'s point at {pos} sets the player to it", lambda: f"player {_player(driver)}")
    _wait(driver, lambda d: _player(d)["time"] > 0.5, 10, "the clicked track plays", lambda: f"player {_player(driver)}")
    shots("5-map-click")


def _map_drawn(driver) -> bool:
    """True once the map has drawn its points; a map the server failed to give fails at once."""
    drawn, error = driver.execute_script("return [window.muserMap.drawn, window.muserMap.error]")
    assert not error, f"the map failed: {error}"
    return drawn > 0


def _painted_pixels(driver) -> int:
    """Non-transparent pixels of the map canvas."""
    return driver.execute_script("""
        const c = document.getElementById('map');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
        return n;""")


def _loneliest_point(driver, ids: list[int]) -> tuple[int, dict]:
    """The track whose point lies farthest from any other: a click on it cannot land on a neighbour."""
    positions = {i: driver.execute_script("return window.muserMap.screenPosition(arguments[0])", i) for i in ids}

    def room(i: int) -> float:
        p = positions[i]
        return min(((p["x"] - q["x"]) ** 2 + (p["y"] - q["y"]) ** 2) ** 0.5 for j, q in positions.items() if j != i)

    target = max(ids, key=room)
    assert room(target) > 8, f"the map's points overlap: {positions}"
    return target, positions[target]


def test_a_track_whose_file_is_gone_says_why_it_cannot_play(driver, server, env, shots):
    """<audio> cannot read an error response; the page asks the server for its reason and shows it."""
    from pathlib import Path

    from selenium.webdriver.common.by import By

    gone = Path(env["MUSER_HOME"]).parent / "music" / "plain.wav"
    gone.rename(gone.with_suffix(".moved"))  # still catalogued; its file no longer there
    try:
        driver.get(server)
        driver.find_element(By.ID, "q").send_keys("plain\n")
        row = _wait(driver, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#results tr[data-id]")
                                       if "plain.wav" in r.text], 20, "the row of plain.wav")[0]
        row.find_element(By.CSS_SELECTOR, ".play").click()
        text = _wait(driver, lambda d: d.find_element(By.ID, "message-text").text, 15, "a message")
        shots("6-file-gone")
        assert "cannot play" in text and "no such track" in text, text
    finally:
        gone.with_suffix(".moved").rename(gone)
