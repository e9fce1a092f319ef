"""Many customers, one service: each owner's collection, tasks and webhooks are its own,
the reference catalog is the operator's (docs/tenancy.md). Every test runs on SQLite and
on PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from lib.core.service import Service
from lib.products import PRODUCTS
from lib.store.webhook_secrets import OVERLAP, WebhookSecrets
from tests.support.contract import check
from tests.support.index_client import INDEX, finished, start, upload
from tests.support.webhook_receiver import Received, Receiver, receiver

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class As:
    """A test client that sends one key with every request (the index helpers take it as a client)."""

    client: FlaskClient
    key: str

    def _send(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"X-API-Key": self.key, **kwargs.pop("headers", {})}
        response: TestResponse = getattr(self.client, method)(path, headers=headers, **kwargs)
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("get", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("post", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("patch", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("delete", path, **kwargs)


@dataclass
class Tenants:
    service: Service
    operator: As
    alice: As
    bob: As


@pytest.fixture
def tenants(make_app: Callable[..., Flask]) -> Tenants:
    app = make_app(**INDEX, auth="keys")
    service: Service = app.extensions["cleared"]

    def key(owner: str, operator: bool = False) -> As:
        made, _ = service.keys.create(owner, PRODUCTS, None, "100000/minute", operator=operator)
        return As(app.test_client(), made)

    return Tenants(service, key("ops", operator=True), key("alice"), key("bob"))


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def identify(caller: As, clip: Path, **options: str) -> list[dict[str, Any]]:
    with clip.open("rb") as f:
        response = caller.post("/v1/identify/dn", data={"file": (f, clip.name), **options})
    check(response, "/v1/identify/{api_type}", "post")
    assert response.status_code == 200, response.json
    songs: list[dict[str, Any]] = response.json["result"][0]["songs"]  # type: ignore[index]
    return songs


def added(caller: As, path: Path, **metadata: Any) -> str:
    task = finished(caller, start(caller, "add", {"musicId": upload(caller, path), "metadata": metadata}))  # type: ignore[arg-type]
    assert task["status"] == "success", task
    track_id: str = task["result"]["track_id"]
    return track_id


def test_a_customers_add_is_matched_only_for_it_and_only_when_asked(tenants: Tenants, media: dict[str, Path]) -> None:
    track_id = added(tenants.alice, media["new"], title="Alice's own")
    clip = media["new_reencoded"]
    assert identify(tenants.alice, clip) == []  # identify matches the reference catalog by default
    [own] = identify(tenants.alice, clip, include_own="true")
    assert own["track_id"] == track_id and own["collection"] == "own" and own["title"] == "Alice's own"
    assert identify(tenants.bob, clip, include_own="true") == []  # never another's
    assert identify(tenants.operator, clip, include_own="true") == []  # not the reference catalog's either
    [reference] = identify(tenants.alice, media["catalog_excerpt"], include_own="true")
    assert reference["track_id"] == "DEMO03" and reference["collection"] == "reference"


def test_one_customers_music_changes_no_other_answer(tenants: Tenants, media: dict[str, Path]) -> None:
    before = identify(tenants.bob, media["catalog_excerpt"], include_own="true")
    added(tenants.alice, media["new"])
    added(tenants.alice, media["catalog_excerpt"])  # even the same recording as a reference track
    assert identify(tenants.bob, media["catalog_excerpt"], include_own="true") == before


def test_check_matches_the_callers_collection_and_the_reference(tenants: Tenants, media: dict[str, Path]) -> None:
    own = added(tenants.alice, media["new"])
    for caller, expected in ((tenants.alice, own), (tenants.bob, None)):
        result = finished(caller, start(caller, "check", {"musicId": upload(caller, media["new_reencoded"])}))  # type: ignore[arg-type]
        assert result["result"]["matched_music_id"] == expected
    result = finished(
        tenants.bob, start(tenants.bob, "check", {"musicId": upload(tenants.bob, media["catalog_excerpt"])})
    )  # type: ignore[arg-type]
    assert [(s["track_id"], s["collection"]) for s in result["result"]["segments"]] == [("DEMO03", "reference")]


def test_another_owners_ids_answer_404_exactly_like_missing_ones(tenants: Tenants, media: dict[str, Path]) -> None:
    alice, bob = tenants.alice, tenants.bob
    music_id = upload(alice, media["new"])  # type: ignore[arg-type]
    task_id = start(alice, "add", {"musicId": music_id})  # type: ignore[arg-type]
    track_id = finished(alice, task_id)["result"]["track_id"]  # type: ignore[arg-type]
    missing = "f" * 32

    def answer(response: TestResponse, named: str) -> tuple[int, str]:
        return response.status_code, response.get_data(as_text=True).replace(named, "<id>")

    for ids in ((track_id, missing), ("DEMO01", missing)):  # another customer's, or the reference's
        for method, body in (("get", None), ("patch", {"title": "mine now"}), ("delete", None)):
            seen = [answer(getattr(bob, method)(f"/api/v1/tracks/{i}", json=body), i) for i in ids]
            assert seen[0] == seen[1] and seen[0][0] == 404, (method, seen)
    assert answer(bob.get(f"/api/v1/tasks/{task_id}"), task_id) == answer(bob.get(f"/api/v1/tasks/{missing}"), missing)
    refused = bob.post("/api/v1/fingerprint/check", json={"musicId": music_id})
    assert refused.status_code == 404 and refused.json["error"]["code"] == "unknown_music"  # type: ignore[index]
    # and nothing changed
    assert alice.get(f"/api/v1/tracks/{track_id}").status_code == 200
    assert tenants.operator.get("/api/v1/tracks/DEMO01").json["title"] != "mine now"  # type: ignore[index]


def test_tracks_lists_the_callers_collection_and_only_an_operator_names_an_owner(
    tenants: Tenants, media: dict[str, Path]
) -> None:
    own = added(tenants.alice, media["new"], title="Alice's own")
    listed = tenants.alice.get("/api/v1/tracks")
    check(listed, "/api/v1/tracks", "get")
    assert [t["track_id"] for t in listed.json["tracks"]] == [own]  # type: ignore[index]
    assert tenants.bob.get("/api/v1/tracks").json["total"] == 0  # type: ignore[index]
    assert tenants.operator.get("/api/v1/tracks").json["total"] == 6  # type: ignore[index]
    by_owner = tenants.operator.get("/api/v1/tracks?owner=alice")
    assert [t["track_id"] for t in by_owner.json["tracks"]] == [own]  # type: ignore[index]
    assert tenants.operator.get(f"/api/v1/tracks/{own}?owner=alice").json["title"] == "Alice's own"  # type: ignore[index]
    refused = tenants.bob.get("/api/v1/tracks?owner=alice")
    check(refused, "/api/v1/tracks", "get")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "operator_only"  # type: ignore[index]


def test_only_an_operator_changes_the_reference_catalog(tenants: Tenants) -> None:
    ops = tenants.operator
    page = ops.get("/api/v1/tracks?limit=2&offset=1")
    assert page.json["total"] == 6 and [t["track_id"] for t in page.json["tracks"]] == ["DEMO02", "DEMO03"]  # type: ignore[index]
    warp = ops.get("/api/v1/tracks?label=warp").json
    assert [t["label"] for t in warp["tracks"]] == ["Warp Records"] and warp["total"] == 1  # type: ignore[index]
    patched = ops.patch(
        "/api/v1/tracks/DEMO02",
        json={"title": "Renamed", "content_id": False, "cover_url": "https://example.com/c.jpg", "song_link": ""},
    )
    check(patched, "/api/v1/tracks/{track_id}", "patch")
    assert patched.json["title"] == "Renamed" and patched.json["content_id"] is False  # type: ignore[index]
    assert ops.get("/api/v1/tracks/DEMO02").json["cover_url"] == "https://example.com/c.jpg"  # type: ignore[index]
    assert tenants.alice.delete("/api/v1/tracks/DEMO02").status_code == 404
    assert ops.delete("/api/v1/tracks/DEMO02").status_code == 204
    assert ops.get("/api/v1/tracks").json["total"] == 5  # type: ignore[index]


def test_an_operators_add_goes_to_the_reference_catalog(tenants: Tenants, media: dict[str, Path]) -> None:
    track_id = added(tenants.operator, media["new"], title="New reference")
    [song] = identify(tenants.bob, media["new_reencoded"])
    assert song["track_id"] == track_id and song["collection"] == "reference"


def verify(secret: bytes, delivery: Received) -> bool:
    """The documented recipe (docs/index-api.md): any one `v1=` of the header."""
    timestamp = delivery.headers["X-Cleared-Timestamp"]
    expected = "v1=" + hmac.new(secret, f"{timestamp}.".encode() + delivery.body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, given) for given in delivery.headers["X-Cleared-Signature"].split(","))


def test_each_owners_webhooks_are_signed_with_its_own_secret_and_rotation_overlaps(
    tenants: Tenants, media: dict[str, Path], hooks: Receiver
) -> None:
    secrets = tenants.service.webhook_secrets
    alice_secret, bob_secret = secrets.create("alice"), secrets.create("bob")
    assert alice_secret and bob_secret and secrets.create("alice") is None  # shown once

    def delivered(caller: As, path: str) -> Received:
        body = {"musicId": upload(caller, media["new"]), "callbackUrl": f"{hooks.url}{path}"}  # type: ignore[arg-type]
        finished(caller, start(caller, "check", body))  # type: ignore[arg-type]
        return hooks.wait_for(path, 1)[0]

    first = delivered(tenants.alice, "/alice")
    assert verify(alice_secret.encode(), first) and not verify(bob_secret.encode(), first)
    assert not verify(tenants.service.webhook_secret, first)  # not the operator's either
    assert verify(bob_secret.encode(), delivered(tenants.bob, "/bob"))

    rotated = secrets.rotate("alice")
    during = delivered(tenants.alice, "/during")
    assert during.headers["X-Cleared-Signature"].count("v1=") == 2
    assert verify(rotated.encode(), during) and verify(alice_secret.encode(), during)
    later = WebhookSecrets(secrets.database, clock=lambda: secrets.clock() + OVERLAP + 1)
    assert later.signing("alice") == [rotated.encode()]  # the old one retires after the overlap


def cli(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lib", "--db", store, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_keys_and_webhook_secrets_from_the_command_line(store: str) -> None:
    made = cli(store, "keys", "create", "--owner", "acme", "--products", "dn", "fingerprint", "--operator", "--json")
    operator = json.loads(made.stdout)
    assert operator["key"].startswith("clr_") and operator["operator"] is True and operator["owner"] == "acme"
    customer = json.loads(cli(store, "keys", "create", "--owner", "zed", "--products", "dn", "--json").stdout)
    assert customer["operator"] is False and customer["webhook_secret"].startswith("whsec_")
    again = cli(store, "webhook-secret", "--owner", "zed")
    assert again.returncode == 1 and "already" in again.stderr  # shown once, when made
    rotated = cli(store, "webhook-secret", "--owner", "zed", "--rotate")
    assert rotated.returncode == 0 and rotated.stdout.strip().startswith("whsec_")
    assert rotated.stdout.strip() != customer["webhook_secret"]
    fresh = cli(store, "webhook-secret", "--owner", "new-customer")
    assert fresh.returncode == 0 and fresh.stdout.strip().startswith("whsec_")
    assert cli(store, "keys", "create", "--owner", " ", "--json").returncode == 2


def test_background_work_is_counted_in_media_minutes_to_its_owner(tenants: Tenants, media: dict[str, Path]) -> None:
    added(tenants.alice, media["new"])  # 20 s fingerprinted in a task
    usage = tenants.alice.get("/api/v1/usage")
    check(usage, "/api/v1/usage", "get")
    [day] = usage.json["days"]  # type: ignore[index]
    assert day["product"] == "fingerprint" and day["calls"] == 1 and day["media_seconds"] == pytest.approx(20, abs=0.1)
    assert tenants.bob.get("/api/v1/usage").json["days"] == []  # type: ignore[index]
