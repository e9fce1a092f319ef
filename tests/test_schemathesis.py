"""Schemathesis generates requests from openapi.yaml, valid and invalid, and checks every
answer against it: documented status, content type and schema, and no server error.

It calls every route as each of two customers, alice and bob, who both own a track, an
uploaded music and a task: no answer to one may carry anything of the other's."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig

from lib.core.service import Service
from lib.settings import Settings
from lib.store import Track
from lib.web.access import PRODUCTS
from lib.web.app import create_app, shutdown
from tests.support.stores import private_copy

OWNERS = ("alice", "bob")


def _seed(service: Service, owner: str) -> list[str]:
    """A track, a music and a task of `owner`'s: what must never reach the other owner."""
    (demo,) = service.catalog.prints(["DEMO01"])
    track_id, title = f"{owner}-track-7f3a9c", f"{owner} private title 51e0"
    service.catalog.add(Track(track_id=track_id, title=title), replace(demo, track_id=track_id), owner=owner)
    music = service.tasks.add_music(f"{owner}0music0d4c2b", f"{owner}-upload.flac", 1, "0" * 40, None, owner)
    task = service.tasks.enqueue("check_is_same", music.music_id, {}, None, owner)
    return [track_id, title, music.music_id, music.filename, task.task_id]


@pytest.fixture(scope="module")
def api_schema(catalog_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The schema of an app in keys mode; each owner's key (for every product) and secrets."""
    folder = tmp_path_factory.mktemp("schemathesis")
    # Generated URLs name random hosts: keep any attempt to reach one short. Generated
    # requests patch and delete tracks: a private copy of the catalog; queued tasks just wait.
    settings = Settings(
        db=private_copy(catalog_path, folder), storage=str(folder / "uploads"), task_workers=0,
        connect_timeout=0.5, download_timeout=1.0, auth="keys",
    )  # fmt: skip
    app = create_app(settings)
    service: Service = app.extensions["cleared"]
    owners = {
        owner: (
            service.keys.create(owner, PRODUCTS, monthly_quota=None, rate="100000/minute")[0],
            _seed(service, owner),
        )
        for owner in OWNERS
    }
    # A schema-valid request can still name media we cannot use: a URL of a private
    # address (422) or of a host that does not answer (424), bytes that are not audio
    # (415), an id (music, task, track) that does not exist or is another's (404), or an
    # `owner`, which only operator keys may name (403).
    accepted = ["2xx", "403", "404", "413", "415", "422", "424"]
    config = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {"expected-statuses": accepted}}})
    yield schemathesis.openapi.from_wsgi("/openapi.yaml", app, config=config), owners
    shutdown(app)


def _fuzz(operation: Any, owner: str, key: str, others: list[str], statuses: Counter[int]) -> None:
    """Generated calls of one operation with `owner`'s key: each answer as documented, and
    none showing `others` (the other owner's ids and names)."""

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def conforms(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"})
        statuses[response.status_code] += 1
        body = response.content.decode("utf-8", "replace")
        leaked = [secret for secret in others if secret in body]
        assert not leaked, f"{owner} was shown {leaked} by {case.method} {case.path}"

    conforms()


def test_every_answer_matches_the_contract_and_keeps_owners_apart(api_schema: Any) -> None:
    schema, owners = api_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    statuses: Counter[int] = Counter()
    for operation in operations:
        for owner, (key, _) in owners.items():
            others = [secret for other, (_, seeded) in owners.items() if other != owner for secret in seeded]
            _fuzz(operation, owner, key, others, statuses)
    assert sum(statuses.values()) > 200 and not any(code >= 500 for code in statuses)
    print(f"schemathesis: {sum(statuses.values())} requests as {len(owners)} owners, statuses {dict(statuses)}")
