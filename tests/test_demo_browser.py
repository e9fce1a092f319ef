"""The demo page in a real headless Chromium (Debian's, driven by Playwright; never a
downloaded browser) against main.py served as in the cloud, in keys mode: the page needs
no key. A screenshot of the result goes to $CLEARED_TEST_ARTIFACTS/demo.png when that
folder is set (docs/demo.png is made so), else to the test's temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lib.store.keys import KeyStore
from lib.synth.songs import RATE, demo_song, song
from tests.support.server_process import server
from tests.support.stores import private_copy

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium, and a server process

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def served(catalog_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The server's URL and an API key (for asking the API itself what it answers)."""
    folder = tmp_path_factory.mktemp("demo-server")
    db = private_copy(catalog_path, folder)
    key, _ = KeyStore(db).create("browser-test", ["dn"], None, "100/minute", None)
    env = {"CLEARED_DB": str(db), "CLEARED_STORAGE": str(folder / "up"), "CLEARED_AUTH": "keys"}
    env |= {"CLEARED_DEMO_MAX_UPLOAD_BYTES": str(3 * 2**20), "CLEARED_LOG_FORMAT": "json"}
    env |= {"CLEARED_DEMO_MAX_SECONDS": "30"}  # long.flac plays 40 s
    with server(env) as (url, _):
        yield url, key


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, served: tuple[str, str]) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(served[0] + "/demo")
    yield opened
    opened.close()
    assert errors == []  # no script error on the page, whatever the test did


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("demo-files")
    parts = [demo_song(2, 24.0)[4 * RATE : 14 * RATE], song(31337, 6.0), demo_song(3, 24.0)[2 * RATE : 12 * RATE]]
    soundfile.write(folder / "mix.flac", np.concatenate(parts).astype(np.float32), RATE)
    soundfile.write(folder / "original.flac", song(4711, 12.0), RATE)
    soundfile.write(folder / "long.flac", song(4712, 40.0), RATE)
    (folder / "notes.mp3").write_text("this is not audio")
    (folder / "huge.wav").write_bytes(bytes(4 * 2**20))
    return {path.stem: path for path in folder.iterdir()}


def api_answer(url: str, key: str, path: Path) -> dict[str, Any]:
    """What the identify API itself answers for the file (multipart by hand: stdlib only)."""
    boundary = "cleared-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{url}/v1/identify/dn", data=body, method="POST",
        headers={"X-API-Key": key, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def check(page: Page, path: Path, product: str = "dn") -> None:
    page.set_input_files("#file-input", str(path))
    page.select_option("#product-select", product)
    page.click("#submit")


def test_a_match_is_shown_where_the_api_says_it_is(
    page: Page, files: dict[str, Path], served: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    check(page, files["mix"])
    expect(page.locator("#results")).to_be_visible(timeout=30_000)
    songs = api_answer(*served, files["mix"])["result"][0]["songs"]
    assert {s["track_id"] for s in songs} == {"DEMO03", "DEMO04"}
    expect(page.locator("#verdict-title")).to_have_text("2 matches found")
    expect(page.locator(".song-title")).to_have_text([s["title"] for s in songs])
    shown = json.loads(page.locator("#raw-json").text_content() or "")  # inside a closed <details>
    assert shown == api_answer(*served, files["mix"])

    seconds = shown["result"][0]["media_seconds"]
    wave = page.locator("#waveform").bounding_box()
    assert wave is not None
    for song_, region in zip(songs, page.locator(".region").all(), strict=True):
        box = region.bounding_box()
        assert box is not None
        start, end = song_["start_offset"] / 1000, song_["end_offset"] / 1000
        assert (box["x"] - wave["x"]) / wave["width"] == pytest.approx(start / seconds, abs=0.003)
        assert box["width"] / wave["width"] == pytest.approx((end - start) / seconds, abs=0.003)

    covers = {c.get_attribute("alt"): c for c in page.locator("img.cover").all()}
    assert len(covers) == 1  # DEMO03's art from its file's tags; DEMO04 has none
    [art] = covers.values()
    assert art.evaluate("img => img.complete && img.naturalWidth") == 240
    expect(page.locator(".cover.placeholder")).to_have_count(1)
    expect(page.locator(".badge.major")).to_have_count(sum(1 for s in songs if s["major_label"]))

    artifacts = Path(os.environ.get("CLEARED_TEST_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=artifacts / "demo.png", full_page=True)

    later = max(songs, key=lambda s: s["start_offset"])
    page.locator(f'.region[data-start-ms="{later["start_offset"]}"]').focus()
    page.keyboard.press("Enter")  # the keyboard plays a region as a click does
    position = page.evaluate("() => document.getElementById('player').currentTime")
    assert position == pytest.approx(later["start_offset"] / 1000, abs=0.5)


def test_music_not_in_the_catalog_is_cleared(page: Page, files: dict[str, Path]) -> None:
    check(page, files["original"], "ml")
    expect(page.locator("#verdict-title")).to_have_text("No match — cleared", timeout=30_000)
    expect(page.locator("#verdict")).to_have_class("verdict cleared")
    expect(page.locator(".song")).to_have_count(0)
    expect(page.locator(".region")).to_have_count(0)
    assert "curl -X POST" in page.inner_text("#curl") and "/v1/identify/ml" in page.inner_text("#curl")


def test_a_scan_cut_short_is_not_called_cleared(page: Page, files: dict[str, Path]) -> None:
    check(page, files["long"], "ml")
    expect(page.locator("#verdict-title")).to_have_text("No match in what we heard — not cleared", timeout=30_000)
    expect(page.locator("#verdict")).to_have_class("verdict partial")
    expect(page.locator("#verdict-detail")).to_contain_text("Only 0:30 of 0:40 were analysed")
    expect(page.locator("#verdict-detail")).to_contain_text("not a clearance")


@pytest.mark.parametrize(
    ("name", "message"),
    [("notes", "not an audio or video file"), ("huge", "larger than the demo's 3 MB limit")],
)
def test_bad_files_get_a_clear_message(page: Page, files: dict[str, Path], name: str, message: str) -> None:
    check(page, files[name])
    expect(page.locator("#error")).to_contain_text(message, timeout=30_000)
    expect(page.locator("#results")).to_be_hidden()
    expect(page.locator("#submit")).to_be_enabled()


def test_an_unreachable_url_gets_a_clear_message(page: Page) -> None:
    page.fill("#url-input", "http://127.0.0.1:9/song.mp3")
    page.click("#submit")
    expect(page.locator("#error")).to_contain_text("We could not fetch that URL", timeout=30_000)
