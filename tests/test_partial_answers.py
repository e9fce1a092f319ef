"""Honest partial answers: what was not heard is never cleared. Every identify and check
answer says how much was analysed; media cut by the analysis limit or by a decode error
midway say `status: incomplete` and why, and no product calls them cleared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from flask import Flask
from flask.testing import FlaskClient

from lib.synth.songs import RATE, demo_song, song
from tests.support.contract import check
from tests.support.index_client import INDEX, finished, start, upload
from tests.support.ogg import remuxed_with_bad_packet


@pytest.fixture(scope="module")
def late_song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """35 s whose only catalog song (DEMO03) starts at 25 s: the 4.5 h file of the issue, scaled down."""
    path = tmp_path_factory.mktemp("late") / "late.flac"
    audio = np.concatenate([song(555, 25.0), demo_song(2, 24.0)[4 * RATE : 14 * RATE]])
    soundfile.write(path, audio.astype(np.float32), RATE)
    return path


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DEMO03 in a Matroska file that no decoder reads past a bad packet a few seconds in."""
    folder = tmp_path_factory.mktemp("broken")
    clean = folder / "clean.ogg"
    soundfile.write(clean, demo_song(2, 24.0)[: 20 * RATE], RATE, format="OGG", subtype="VORBIS")
    remuxed_with_bad_packet(clean, folder / "broken.mka", at=400)
    return folder / "broken.mka"


def identify(client: FlaskClient, path: Path, api_type: str = "dn") -> Any:
    with path.open("rb") as f:
        response = client.post(f"/v1/identify/{api_type}", data={"file": (f, path.name)})
    check(response, "/v1/identify/{api_type}", "post")
    return response


def test_a_song_past_the_analysis_limit_is_not_cleared(make_app: Callable[..., Flask], late_song: Path) -> None:
    client = make_app(**INDEX, sync_media_seconds=10, max_media_seconds=20).test_client()
    accepted = identify(client, late_song)
    assert accepted.status_code == 202
    task = finished(client, accepted.json["taskId"])
    result, summary = task["result"]["result"], task["result"]["summary"]
    assert result["songs"] == [] and result["cleared"] is False and result["status"] == "incomplete"
    assert result["reason"]["code"] == "time_limit" and "only 20 s of 35 s" in result["reason"]["message"]
    assert result["analysed_seconds"] == pytest.approx(20, abs=0.1)
    assert result["media_seconds"] == pytest.approx(35, abs=0.1)
    assert summary["status"] == "incomplete" and not any(v["cleared"] for v in summary["verdicts"])

    # the limit is what hid it: with room for the whole file the song is there
    whole = make_app(**INDEX, sync_media_seconds=10, max_media_seconds=60).test_client()
    task = finished(whole, identify(whole, late_song).json["taskId"])
    assert [s["track_id"] for s in task["result"]["result"]["songs"]] == ["DEMO03"]
    assert task["result"]["result"]["status"] == "complete" and task["result"]["summary"]["reason"] is None


def test_a_decode_error_midway_is_said_and_not_cleared(client: FlaskClient, broken: Path) -> None:
    answer = identify(client, broken, "yt")
    assert answer.status_code == 200, answer.json
    result = answer.json["result"][0]
    assert result["status"] == "incomplete" and result["reason"]["code"] == "decode_error"
    assert result["cleared"] is False and 2 < result["analysed_seconds"] < 18
    assert result["media_seconds"] is None or result["media_seconds"] > result["analysed_seconds"]


def test_a_whole_media_says_complete_and_what_was_heard(client: FlaskClient, late_song: Path) -> None:
    result = identify(client, late_song, "yt").json["result"][0]  # DEMO03 is not registered for Content ID
    assert result["songs"] == [] and result["cleared"] is True and result["status"] == "complete"
    assert result["reason"] is None and result["analysed_seconds"] == result["media_seconds"] == pytest.approx(
        35, abs=0.1
    )


def test_a_check_says_how_much_it_heard(make_app: Callable[..., Flask], late_song: Path) -> None:
    client = make_app(**INDEX, max_media_seconds=20).test_client()
    result = finished(client, start(client, "check", {"musicId": upload(client, late_song)}))["result"]
    assert result["status"] == "incomplete" and result["reason"]["code"] == "time_limit"
    assert result["analysed_seconds"] == pytest.approx(20, abs=0.1) and result["is_duplicate"] is False
