"""The OpenAPI document against the running API, fuzzed by schemathesis.

Every response must be documented (status, content type, headers, body
schema) and no request may get a 500. (schemathesis' pytest plugin does not
work with pytest 9, so its strategies are driven by hypothesis directly.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from tests.builders import registration_created, scheduled, token_issued
from tests.system import System

schemathesis = pytest.importorskip("schemathesis")

TOKEN = "fuzz-token"


def test_every_operation_answers_as_documented(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Half the cases fail authentication: the block of a client failing too
    # often (429, tested in tests/integration/test_api_ratelimit.py) would end
    # the 200s after a few.
    monkeypatch.setenv("API_AUTH_FAILURE_LIMIT", "0")
    system.start("projector")
    system.start_api()
    asyncio.run(
        system.publish(
            [
                scheduled(meeting_id=1, organization_id=5),
                registration_created(registration_id=1, meeting_id=1, user_id=7),
                token_issued(organization_id=5, token=TOKEN),
            ]
        )
    )
    asyncio.run(system.wait_caught_up())
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{system.api_port}/openapi.json")

    checked = []
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.given(
            case=operation.as_strategy(),
            authorized=st.booleans(),
            own_organization=st.booleans(),
        )
        @hypothesis.settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
        )
        def answers_as_documented(case: Any, authorized: bool, own_organization: bool) -> None:
            # Random tokens and ids would only ever meet a 401: half the cases
            # use the organization's real token and id, to reach the 200s.
            if own_organization and case.path_parameters:
                case.path_parameters["organization_id"] = "5"
            # Any string is a documented X-Consistency-Token's type, but only the
            # read model's topics make a valid one: random ones are 400s that
            # schemathesis would call rejected valid data. Their parsing and 400s
            # are tested in tests/unit/events/test_consistency.py and
            # tests/integration/api/test_consistency.py.
            if case.headers:
                case.headers.pop("X-Consistency-Token", None)
            headers = {"Authorization": f"Bearer {TOKEN}"} if authorized else {}
            response = case.call_and_validate(headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        answers_as_documented()
        checked.append(operation.label)

    assert any("members" in label for label in checked), checked
    # About a quarter of the cases carry the right token and organization.
    assert statuses.get(200, 0) >= 10 and statuses.get(401, 0) > 0, statuses
