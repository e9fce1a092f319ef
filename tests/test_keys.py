"""API keys, products, quotas and rate limits, through the app (lib/web/access.py) and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from lib.settings import Settings
from lib.store.keys import KeyStore
from tests.support.contract import check
from tests.support.server_process import free_port
from tests.support.storage_emulator import BUCKET

ROOT = Path(__file__).resolve().parent.parent
ALL = ["yt", "ml", "neyt", "dn", "mlsi", "dt", "fingerprint"]


class Clock:
    """A clock the test moves: quotas are per calendar month."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(store: str) -> str:
    """The demo catalog's store, on each backend (tests/conftest.py)."""
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC))


@pytest.fixture
def make_app(make_app: Callable[..., Flask], clock: Clock) -> Callable[..., Flask]:
    """Apps in keys mode on the test's store, on the test's clock (and so `app` and
    `client` of tests/conftest.py are too)."""

    def make(**overrides: Any) -> Flask:
        return make_app(clock, **{"task_workers": 0, "auth": "keys", **overrides})

    return make


@pytest.fixture
def keys(db: str, clock: Clock) -> Iterator[KeyStore]:
    store = KeyStore(db, clock)
    yield store
    store.close()


def new_key(keys: KeyStore, products: list[str] = ALL, quota: int | None = None, rate: str = "100/minute",
            expires_at: datetime | None = None) -> str:  # fmt: skip
    key, _ = keys.create("acme", products, quota, rate, expires_at)
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_code(response: TestResponse) -> str:
    body: dict[str, Any] = response.get_json()
    assert body["status"] == "error"
    code: str = body["error"]["code"]
    return code


def identify(client: FlaskClient, clip: Path, key: str, api_type: str = "dn") -> TestResponse:
    with clip.open("rb") as f:
        response = client.post(f"/v1/identify/{api_type}", data={"file": (f, clip.name)}, headers=bearer(key))
    check(response, "/v1/identify/{api_type}", "post")
    return response


@pytest.fixture(scope="module")
def clip(media: dict[str, Path]) -> Path:
    return media["catalog_excerpt"]


def test_keys_mode_is_the_default() -> None:
    assert Settings.model_fields["auth"].default == "keys"


def test_a_call_without_a_key_is_a_401_that_says_so(client: FlaskClient) -> None:
    response = client.get("/api/v1/tracks")
    check(response, "/api/v1/tracks", "get")
    assert response.status_code == 401 and error_code(response) == "missing_key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert int(response.headers["RateLimit-Limit"]) > 0  # key guessing is throttled per address
    assert client.get("/openapi.yaml").status_code == 200  # the description stays public


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_valid_key_is_accepted_in_either_header(client: FlaskClient, keys: KeyStore, header: str) -> None:
    key = new_key(keys)
    value = f"Bearer {key}" if header == "Authorization" else key
    response = client.get("/api/v1/tracks", headers={header: value})
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "100" and response.headers["RateLimit-Remaining"] == "99"
    assert 0 <= int(response.headers["RateLimit-Reset"]) <= 60


def test_a_wrong_key_or_the_stored_hash_is_a_401_invalid_key(client: FlaskClient, keys: KeyStore) -> None:
    key = new_key(keys)
    key_id = key.split("_")[1]
    (stored,) = keys.database.execute("SELECT secret_sha256 FROM api_keys WHERE key_id = ?", (key_id,)).rows[0]
    assert key.split("_", 2)[2] not in stored  # only the hash is kept
    for presented in (key[:-1] + ("A" if key[-1] != "A" else "B"), stored, f"clr_{key_id}_{stored}", "clr_", ""):
        response = client.get("/api/v1/tracks", headers={"X-API-Key": presented} if presented else bearer(""))
        assert response.status_code == 401, presented
        assert error_code(response) in ("invalid_key", "missing_key")
    assert error_code(client.get("/api/v1/tracks", headers=bearer(stored))) == "invalid_key"


def test_the_secret_is_compared_in_constant_time(
    client: FlaskClient, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lib.store.keys as module

    compared: list[tuple[str, str]] = []
    real = module.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(module.hmac, "compare_digest", spy)
    key = new_key(keys)
    secret = key.split("_", 2)[2]
    assert client.get("/api/v1/tracks", headers=bearer(key)).status_code == 200
    assert compared[-1][0] == hashlib.sha256(secret.encode()).hexdigest() == compared[-1][1]
    # an unknown key id costs the same comparison (against a dummy), not an early return
    assert client.get("/api/v1/tracks", headers=bearer(f"clr_000000000000_{secret}")).status_code == 401
    assert len(compared) == 2 and compared[-1][1] != compared[-2][1]


def test_an_expired_key_is_a_401_expired_key(client: FlaskClient, keys: KeyStore, clock: Clock) -> None:
    key = new_key(keys, expires_at=clock.now + timedelta(minutes=1))
    assert client.get("/api/v1/tracks", headers=bearer(key)).status_code == 200
    clock.now += timedelta(minutes=1)
    response = client.get("/api/v1/tracks", headers=bearer(key))
    assert response.status_code == 401 and error_code(response) == "expired_key"


@pytest.mark.slow
def test_a_revoked_key_stops_working_at_once(client: FlaskClient, keys: KeyStore, db: str) -> None:
    key = new_key(keys)
    assert client.get("/api/v1/tracks", headers=bearer(key)).status_code == 200
    revoke = [sys.executable, "-m", "lib", "--db", str(db), "keys", "revoke", key.split("_")[1]]
    subprocess.run(revoke, cwd=ROOT, check=True, capture_output=True)  # another process, same store
    response = client.get("/api/v1/tracks", headers=bearer(key))
    assert response.status_code == 401 and error_code(response) == "revoked_key"


def test_a_product_the_key_does_not_include_is_a_403(client: FlaskClient, keys: KeyStore, clip: Path) -> None:
    key = new_key(keys, products=["dn"])
    assert identify(client, clip, key, "dn").status_code == 200
    refused = identify(client, clip, key, "ml")
    assert refused.status_code == 403 and error_code(refused) == "product_not_included"
    legacy = client.get("/?api_type=yt&url=https://example.com/a.mp3", headers=bearer(key))
    check(legacy, "/", "get")
    assert legacy.status_code == 403
    tracks = client.get("/api/v1/tracks", headers=bearer(key))
    assert tracks.status_code == 403 and "fingerprint" in tracks.get_json()["error"]["message"]


def test_validation_still_answers_422_to_a_valid_key(client: FlaskClient, keys: KeyStore) -> None:
    response = client.get("/?url=https://example.com/a.mp3", headers=bearer(new_key(keys)))
    check(response, "/", "get")
    assert response.status_code == 422 and error_code(response) == "invalid_request"


def test_the_quota_is_per_calendar_month_and_renews(
    client: FlaskClient, keys: KeyStore, clock: Clock, clip: Path
) -> None:
    key = new_key(keys, quota=2)
    key_id = key.split("_")[1]
    assert [identify(client, clip, key).status_code for _ in range(2)] == [200, 200]
    over = identify(client, clip, key)
    assert over.status_code == 429 and error_code(over) == "quota_exceeded"
    assert over.headers["Retry-After"] == "60"  # 23:59 on 30 November: the quota renews at midnight
    assert client.get("/api/v1/tracks", headers=bearer(key)).status_code == 200  # reading is not metered
    clock.now += timedelta(seconds=60)
    assert identify(client, clip, key).status_code == 200
    clip_minutes = 16 / 60  # the clip plays 16 s
    assert keys.usage(caller=key_id) == [
        {"caller": key_id, "owner": "acme", "product": "dn", "month": "2026-11", "calls": 2,
         "media_minutes": pytest.approx(2 * clip_minutes, abs=0.01)},
        {"caller": key_id, "owner": "acme", "product": "dn", "month": "2026-12", "calls": 1,
         "media_minutes": pytest.approx(clip_minutes, abs=0.01)},
    ]  # fmt: skip


def test_a_call_that_fails_on_our_side_does_not_count(
    make_app: Callable[..., Flask], keys: KeyStore, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")  # the bucket is down
    app = make_app(storage=f"gs://{BUCKET}/x", storage_timeout=1.0, sync_media_seconds=18.0)
    key = new_key(keys, quota=1)
    failed = identify(app.test_client(), media["new"], key)  # 20 s: kept for a task, in the bucket
    assert failed.status_code == 503
    assert [row["calls"] for row in keys.usage(caller=key.split("_")[1])] == [0]  # taken, then given back
    # 16 s: answered at once, without the bucket, on the unit the failure gave back
    assert identify(app.test_client(), media["catalog_excerpt"], key).status_code == 200


def test_a_burst_over_the_rate_gets_429_with_a_retry_after_that_holds(client: FlaskClient, keys: KeyStore) -> None:
    key = new_key(keys, rate="3/2 seconds")
    answers = [client.get("/api/v1/tracks", headers=bearer(key)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    check(limited, "/api/v1/tracks", "get")
    assert error_code(limited) == "rate_limited"
    wait = int(limited.headers["Retry-After"])
    assert 1 <= wait <= 2
    assert client.get("/api/v1/tracks", headers=bearer(key)).status_code == 429  # still within the window
    time.sleep(wait)
    assert client.get("/api/v1/tracks", headers=bearer(key)).status_code == 200


@pytest.mark.skipif(not os.environ.get("CLEARED_TEST_REDIS_URL"), reason="CLEARED_TEST_REDIS_URL not set")
def test_processes_share_the_rate_limit_through_redis(make_app: Callable[..., Flask], keys: KeyStore) -> None:
    storage = os.environ["CLEARED_TEST_REDIS_URL"]
    first, second = (make_app(rate_limit_storage=storage).test_client() for _ in range(2))
    key = new_key(keys, rate="3/minute")  # a fresh key id: counters of earlier runs do not apply
    codes = [c.get("/api/v1/tracks", headers=bearer(key)).status_code for c in (first, second, first, second)]
    assert codes == [200, 200, 200, 429]


def test_marketplace_mode_refuses_direct_calls_and_counts_per_user(
    make_app: Callable[..., Flask], keys: KeyStore, clip: Path
) -> None:
    client = make_app(auth="marketplace", marketplace_secret="proxy-secret").test_client()
    direct = client.get("/api/v1/tracks")
    assert direct.status_code == 401 and error_code(direct) == "not_through_marketplace"
    wrong = client.get("/api/v1/tracks", headers={"X-RapidAPI-Proxy-Secret": "guess"})
    assert wrong.status_code == 401
    proxied = {"X-RapidAPI-Proxy-Secret": "proxy-secret", "X-RapidAPI-User": "jane"}
    with clip.open("rb") as f:
        response = client.post("/v1/identify/ml", data={"file": (f, clip.name)}, headers=proxied)
    assert response.status_code == 200
    [row] = keys.usage(caller="marketplace:jane")
    assert (row["product"], row["month"], row["calls"]) == ("ml", "2026-11", 1)


def test_marketplace_mode_needs_its_secret() -> None:
    with pytest.raises(ValueError, match="CLEARED_MARKETPLACE_SECRET"):
        Settings(auth="marketplace")


def test_open_mode_needs_no_key_and_meters_nothing(make_app: Callable[..., Flask], keys: KeyStore, clip: Path) -> None:
    client = make_app(auth="open").test_client()
    assert client.get("/api/v1/tracks").status_code == 200
    before = keys.usage()
    with clip.open("rb") as f:
        assert client.post("/v1/identify/dn", data={"file": (f, clip.name)}).status_code == 200
    assert keys.usage() == before


@pytest.mark.slow
def test_keys_cli_creates_lists_and_reports_usage(db: str, client: FlaskClient, clip: Path) -> None:
    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "lib", "--db", str(db), "keys", *args], cwd=ROOT,
                              check=True, capture_output=True, text=True)  # fmt: skip
        return done.stdout

    created = json.loads(cli("create", "--owner", "script", "--products", "dn", "--quota", "5", "--rate", "9/minute",
                             "--days", "30", "--json"))  # fmt: skip
    assert created["key"].startswith(f"clr_{created['key_id']}_") and created["products"] == ["dn"]
    assert created["monthly_quota"] == 5 and created["rate"] == "9/minute" and created["expires_at"]
    listed = json.loads(cli("list", "--json"))
    assert [k["key_id"] for k in listed] == [created["key_id"]] and "key" not in listed[0]
    assert identify(client, clip, created["key"]).status_code == 200
    usage = json.loads(cli("usage", "--all", "--key", created["key_id"], "--json"))
    assert [(u["owner"], u["product"], u["calls"]) for u in usage] == [("script", "dn", 1)]


def test_a_quota_of_media_minutes_stops_calls_once_used_up(
    client: FlaskClient, keys: KeyStore, clock: Clock, clip: Path
) -> None:
    key, _ = keys.create("acme", ALL, None, "100/minute", monthly_minutes=0.5)  # the clip plays 16 s
    assert [identify(client, clip, key).status_code for _ in range(2)] == [200, 200]  # 16 s, then 32 s
    over = identify(client, clip, key)
    assert (
        over.status_code == 429
        and error_code(over) == "quota_exceeded"
        and "0.5 minutes" in over.json["error"]["message"]
    )  # type: ignore[index]
    assert over.headers["Retry-After"] == "60" and over.headers["RateLimit-Limit"]
    mine = client.get("/api/v1/usage", headers=bearer(key))
    check(mine, "/api/v1/usage", "get")
    body = mine.json
    assert body["owner"] == "acme" and body["month"] == "2026-11" and body["key"]["monthly_minutes"] == 0.5  # type: ignore[index]
    assert body["days"] == [
        {"day": "2026-11-30", "product": "dn", "calls": 2, "media_seconds": pytest.approx(32, abs=0.5)}
    ]  # type: ignore[index]
    assert body["key"]["calls"] == 2 and body["media_minutes"] == pytest.approx(32 / 60, abs=0.01)  # type: ignore[index]
    other, _ = keys.create("someone else", ["dn"], None, "100/minute")
    assert client.get("/api/v1/usage", headers=bearer(other)).json["days"] == []  # type: ignore[index]
    clock.now += timedelta(seconds=60)  # December: renewed
    assert identify(client, clip, key).status_code == 200


def test_concurrent_calls_cannot_overrun_a_quota(keys: KeyStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        day = datetime(2026, 11, 15, tzinfo=UTC)
        granted = list(pool.map(lambda _: keys.take("k", "acme", "dn", day, monthly_quota=5), range(40)))
    assert granted.count(None) == 5 and granted.count("calls") == 35
    assert keys.usage("2026-11", "k")[0]["calls"] == 5
