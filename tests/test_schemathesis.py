"""Schemathesis generates requests from openapi.yaml, valid and invalid, and checks every
answer against it: documented status, content type and schema, and no server error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig

from lib.settings import Settings
from lib.store.keys import KeyStore
from lib.web.access import PRODUCTS
from lib.web.app import create_app
from tests.support.stores import private_copy


@pytest.fixture(scope="module")
def api_schema(catalog_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    """The schema of an app in keys mode, and a key for every product (schemathesis also
    sends each request without it, and expects a 401)."""
    folder = tmp_path_factory.mktemp("schemathesis")
    # Generated URLs name random hosts: keep any attempt to reach one short. Generated
    # requests patch and delete tracks: a private copy of the catalog; queued tasks just wait.
    settings = Settings(
        db=private_copy(catalog_path, folder), storage=str(folder / "uploads"), task_workers=0,
        connect_timeout=0.5, download_timeout=1.0, auth="keys",
    )  # fmt: skip
    key, _ = KeyStore(settings.db).create("schemathesis", PRODUCTS, monthly_quota=None, rate="100000/minute")
    app = create_app(settings)
    # A schema-valid request can still name media we cannot use: a URL of a private
    # address (422) or of a host that does not answer (424), bytes that are not audio
    # (415), or an id (music, task, track) that does not exist (404).
    accepted = ["2xx", "404", "413", "415", "422", "424"]
    config = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {"expected-statuses": accepted}}})
    return schemathesis.openapi.from_wsgi("/openapi.yaml", app, config=config), key


def test_every_answer_matches_the_contract(api_schema: tuple[Any, str]) -> None:
    schema, key = api_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"})

        conforms()
