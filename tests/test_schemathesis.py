"""Schemathesis generates requests from openapi.yaml, valid and invalid, and checks every
answer against it: documented status, content type and schema, and no server error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig

from lib.app import create_app
from lib.settings import Settings


@pytest.fixture(scope="module")
def api_schema(catalog_path: Path) -> Any:
    # Generated URLs name random hosts: keep any attempt to reach one short.
    app = create_app(Settings(db=catalog_path, connect_timeout=0.5, download_timeout=1.0))
    # A schema-valid request can still name media we cannot use: a URL of a private
    # address (422) or of a host that does not answer (424), or bytes that are not audio (415).
    accepted = ["2xx", "413", "415", "422", "424"]
    config = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {"expected-statuses": accepted}}})
    return schemathesis.openapi.from_wsgi("/openapi.yaml", app, config=config)


def test_every_answer_matches_the_contract(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate()

        conforms()
