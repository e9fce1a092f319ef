"""Stream monitoring: the API (each owner's streams its own), the watching (a song's
webhook once per play, drops and recoveries, deletion stops it) against a local endless
radio, leases shared by workers, and the monitor's play logic in-process."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from lib.core.service import Service
from lib.fingerprint import monitor
from lib.products import PRODUCTS
from lib.store.streams import StreamStore
from lib.synth.songs import RATE, demo_song, song
from tests.support.audio import at_engine_rate, encode
from tests.support.contract import check
from tests.support.index_client import INDEX
from tests.support.media_server import serve
from tests.support.webhook_receiver import Received, Receiver, receiver

WATCH = {**INDEX, "auth": "keys", "stream_lease_seconds": 1.5}


def radio_show() -> np.ndarray:
    """15 s of music nobody has, DEMO02 for 15 s, 15 s more of unknown music: a radio hour's loop."""
    return np.concatenate([song(91001, 15.0), demo_song(1, 24.0)[4 * RATE : 19 * RATE], song(91002, 15.0)])


@pytest.fixture(scope="module")
def radio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("radio")
    encode(folder / "show.mp3", radio_show(), RATE, "mp3")
    with serve(folder) as url:
        yield url


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture
def watching(make_app: Callable[..., Flask]) -> tuple[Flask, dict[str, str]]:
    app = make_app(**WATCH)
    service: Service = app.extensions["cleared"]
    keys = {
        owner: service.keys.create(owner, PRODUCTS, None, "100000/minute", max_streams=2)[0]
        for owner in ("alice", "bob")
    }
    return app, keys


def call(client: FlaskClient, key: str, method: str, path: str, **kwargs: object) -> object:
    response = getattr(client, method)(path, headers={"X-API-Key": key}, **kwargs)
    check(response, path if "/streams/" not in path else "/api/v1/streams/{stream_id}", method)
    return response


def test_each_owner_sees_and_deletes_only_its_own_streams(
    watching: tuple[Flask, dict[str, str]], hooks: Receiver
) -> None:
    app, keys = watching
    app.extensions["cleared_workers"].stop()  # not watched here: the API alone
    client = app.test_client()
    body = {"url": "https://radio.example/stream.mp3", "callbackUrl": f"{hooks.url}/a", "name": "Radio A"}
    made = call(client, keys["alice"], "post", "/api/v1/streams", json=body)
    assert made.status_code == 201 and made.json["state"] == "watching" and made.json["name"] == "Radio A"
    stream_id = made.json["streamId"]
    assert made.headers["Location"] == f"/api/v1/streams/{stream_id}"
    assert [s["streamId"] for s in call(client, keys["alice"], "get", "/api/v1/streams").json["streams"]] == [stream_id]
    assert call(client, keys["bob"], "get", "/api/v1/streams").json["streams"] == []
    for method in ("get", "delete"):
        refused = call(client, keys["bob"], method, f"/api/v1/streams/{stream_id}")
        missing = call(client, keys["bob"], method, f"/api/v1/streams/{'0' * 32}")
        assert refused.status_code == missing.status_code == 404
        assert refused.get_data(as_text=True).replace(stream_id, "<id>") == missing.get_data(as_text=True).replace(
            "0" * 32, "<id>"
        )
    call(client, keys["alice"], "post", "/api/v1/streams", json=body)
    over = call(client, keys["alice"], "post", "/api/v1/streams", json=body)
    assert over.status_code == 409 and over.json["error"]["code"] == "stream_limit"  # --streams 2
    assert call(client, keys["alice"], "delete", f"/api/v1/streams/{stream_id}").status_code == 204
    assert call(client, keys["alice"], "get", f"/api/v1/streams/{stream_id}").status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("url", "http://169.254.169.254/latest/meta-data", "url_not_allowed"),
        ("url", "ftp://radio.example/a.mp3", "url_not_allowed"),
        ("callbackUrl", "http://10.0.0.1/hook", "invalid_callback"),
    ],
)
def test_a_stream_we_would_not_fetch_is_refused_at_once(
    make_app: Callable[..., Flask], field: str, value: str, code: str
) -> None:
    app = make_app(**{**WATCH, "allow_private_urls": False, "stream_capacity": 0})
    key, _ = app.extensions["cleared"].keys.create("alice", PRODUCTS, None, "100/minute")
    body = {"url": "https://radio.example/a.mp3", "callbackUrl": "https://you.example/hook", field: value}
    refused = call(app.test_client(), key, "post", "/api/v1/streams", json=body)
    assert refused.status_code == 422 and refused.json["error"]["code"] == code


def signed(secret: bytes, delivery: Received) -> bool:
    timestamp = delivery.headers["X-Cleared-Timestamp"]
    expected = "v1=" + hmac.new(secret, f"{timestamp}.".encode() + delivery.body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in delivery.headers["X-Cleared-Signature"].split(","))


def events(hooks: Receiver, path: str) -> list[dict[str, object]]:
    return [json.loads(d.body) for d in hooks.at(path)]


def test_a_watched_radio_delivers_its_song_and_stops_when_deleted(
    watching: tuple[Flask, dict[str, str]], radio: str, hooks: Receiver
) -> None:
    app, keys = watching
    service: Service = app.extensions["cleared"]
    secret = service.webhook_secrets.rotate("alice")
    client = app.test_client()
    body = {"url": f"{radio}/radio/show.mp3", "callbackUrl": f"{hooks.url}/radio", "name": "Test FM"}
    stream_id = call(client, keys["alice"], "post", "/api/v1/streams", json=body).json["streamId"]
    [first] = hooks.wait_for("/radio", 1, timeout=60)
    assert signed(secret.encode(), first)
    event = json.loads(first.body)
    assert event["event"] == "song" and event["streamId"] == stream_id and event["name"] == "Test FM"
    assert event["track"]["track_id"] == "DEMO02" and event["track"]["collection"] == "reference"
    assert 0 <= event["offset"] <= 15 and event["started_at"]
    state = call(client, keys["alice"], "get", f"/api/v1/streams/{stream_id}").json
    assert state["last_song"]["track"]["track_id"] == "DEMO02" and state["listened_seconds"] > 0
    assert call(client, keys["alice"], "delete", f"/api/v1/streams/{stream_id}").status_code == 204
    time.sleep(3 * WATCH["stream_lease_seconds"])  # a renewal or two: the watcher has let go
    after = len(hooks.at("/radio"))
    time.sleep(12)  # the show loops every ~11 s at the radio's 4x real time: it would have played again
    assert len(hooks.at("/radio")) == after
    seen = [(e["event"], e.get("track", {}).get("track_id")) for e in events(hooks, "/radio")]
    assert set(seen) == {("song", "DEMO02")}, seen
    usage = call(client, keys["alice"], "get", "/api/v1/usage").json
    assert any(d["product"] == "streams" and d["media_seconds"] > 0 for d in usage["days"])


def test_a_source_that_drops_is_reported_and_recovered(
    watching: tuple[Flask, dict[str, str]], radio: str, hooks: Receiver
) -> None:
    app, keys = watching
    body = {"url": f"{radio}/flaky-radio/show.mp3?run={uuid.uuid4().hex}", "callbackUrl": f"{hooks.url}/flaky"}
    stream_id = call(app.test_client(), keys["bob"], "post", "/api/v1/streams", json=body).json["streamId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "stream_recovered" not in [e["event"] for e in events(hooks, "/flaky")]:
        time.sleep(0.2)
    kinds = [e["event"] for e in events(hooks, "/flaky")]
    assert kinds.count("stream_error") == 1 and kinds.index("stream_error") < kinds.index("stream_recovered")
    error = next(e for e in events(hooks, "/flaky") if e["event"] == "stream_error")
    assert error["streamId"] == stream_id and error["error"]
    call(app.test_client(), keys["bob"], "delete", f"/api/v1/streams/{stream_id}")


def test_a_stream_is_held_by_one_worker_and_taken_over_when_its_lease_runs_out(store: str) -> None:
    from lib.store import connect

    streams = StreamStore(connect(store))
    made = streams.create("alice", "https://radio.example/a.mp3", "https://you.example/h", "", False, None, None)
    assert made is not None
    assert [s.stream_id for s in streams.claim("worker-a", 1.0, 10)] == [made.stream_id]
    assert streams.claim("worker-b", 1.0, 10) == []  # held
    assert streams.renew("worker-a", [made.stream_id], 1.0) == {made.stream_id}
    time.sleep(1.1)  # worker-a died: no renewal
    assert [s.stream_id for s in streams.claim("worker-b", 1.0, 10)] == [made.stream_id]
    assert streams.renew("worker-a", [made.stream_id], 1.0) == set()  # a has lost it
    assert streams.delete(made.stream_id, "alice")
    assert streams.renew("worker-b", [made.stream_id], 1.0) == set()  # deleted: let go
    assert streams.claim("worker-c", 1.0, 10) == []


def test_a_song_is_reported_once_per_play(engine: object) -> None:
    """Windows every 3 s hear DEMO02 many times over; two plays (25 s apart) are two starts."""
    from lib.core.recognizer import Recognizer

    assert isinstance(engine, Recognizer)
    play = demo_song(1, 24.0)[2 * RATE : 22 * RATE]
    samples = at_engine_rate(np.concatenate([song(91003, 12.0), play, song(91004, 25.0), play, song(91005, 8.0)]))
    chunks = (samples[i : i + 4000] for i in range(0, len(samples), 4000))
    plays = monitor.Plays()
    heard = list(monitor.heard(chunks, lambda: engine.index))
    starts = [m for m in heard if plays.starts(m)]
    assert len([m for m in heard if m.track_id == "DEMO02"]) > 4
    assert [m.track_id for m in starts] == ["DEMO02", "DEMO02"]
    assert 12 <= starts[0].query_start <= 20 and 57 <= starts[1].query_start <= 65  # the plays start at 12 and 57 s
