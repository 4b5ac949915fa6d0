"""The page's map in a real browser on a large library: time until drawn, and frame intervals
while zooming and panning.

    python bench/web_map_browser.py [--tracks 50000]

Writes a `--tracks` library (cold_start.fake_library), runs `muser serve` on it, opens the page
in headless Debian chromium (selenium, /usr/bin/chromedriver, 1280x900, devicePixelRatio 1),
searches, opens the map, waits until its points are drawn, then times 60 animation frames that
each zoom or pan (`window.muserMap` hooks) and reports the intervals between frames.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import fake_library  # noqa: E402
from common import machine  # noqa: E402
from web_load import start_server  # noqa: E402

FRAMES = """
const done = arguments[0]; const times = []; let last = performance.now(); let k = 0;
function step() {
  const now = performance.now(); times.push(now - last); last = now;
  if (k % 2) window.muserMap.panBy(7, 3); else window.muserMap.zoomAt(600, 400, 1.08);
  k++;
  if (k < 60) requestAnimationFrame(step); else done(times.slice(1));
}
requestAnimationFrame(step);
"""


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=50_000)
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        fake_library(Path(tmp), args.tracks)
        proc, address, _ = start_server({**os.environ, "MUSER_HOME": tmp, "NO_COLOR": "1"})
        url = f"http://{address}/"
        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--window-size=1280,900", "--force-device-scale-factor=1"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            started = time.time()
            driver.get(url)
            driver.find_element("id", "q").send_keys("melancholic piano\n")
            driver.find_element("id", "tab-map").click()
            while not driver.execute_script("return window.muserMap.drawn") and time.time() - started < 600:
                time.sleep(0.5)
            drawn = time.time() - started
            points = driver.execute_script("return window.muserMap.pointCount")
            frames = sorted(driver.execute_async_script(FRAMES))
            print(f"{points} points drawn {drawn:.1f} s after the page opened (layout included)")
            print(f"frame interval while zooming and panning: median {statistics.median(frames):.1f} ms, "
                  f"p90 {frames[int(0.9 * len(frames))]:.1f} ms, max {frames[-1]:.1f} ms; "
                  f"last full redraw {driver.execute_script('return window.muserMap.lastRenderMs'):.1f} ms")
        finally:
            driver.quit()
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
