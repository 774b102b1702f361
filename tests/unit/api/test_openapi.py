"""``api/openapi.py``: the lists documented from the route table, merged into FastAPI's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id
from pydantic import BaseModel

from api.app import create_app
from api.openapi import openapi_document, operation_id
from api.routes import LIST_ROUTES, ListRoute, Parameter
from api.settings import ApiSettings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(ApiSettings(REDIS_URL="redis://127.0.0.1:1/0")).fastapi.openapi()


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


@pytest.mark.parametrize("route", LIST_ROUTES, ids=lambda route: route.name)
def test_the_operation_id_is_the_one_fastapi_would_give(route: ListRoute) -> None:
    async def endpoint() -> None:
        return None

    fastapi_route = APIRoute(route.path, endpoint, name=route.name, methods=["GET"])
    assert operation_id(route) == generate_unique_id(fastapi_route)


@pytest.mark.parametrize("route", LIST_ROUTES, ids=lambda route: route.name)
def test_each_list_is_documented_from_its_route(document: dict[str, Any], route: ListRoute) -> None:
    operation = document["paths"][route.path]["get"]
    assert operation["summary"] == route.summary
    assert operation.get("description") == route.description
    parameters = [
        (p["name"], p["in"], p["required"], p["schema"].get("pattern"))
        for p in operation["parameters"]
    ]
    assert parameters == [
        (p.name, p.location, p.location == "path", p.pattern) for p in route.parameters
    ]
    assert set(operation["responses"]) == {"200", *map(str, route.errors)}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert resolve(document, ok["$ref"])["title"] == route.response_model.__name__
    [requirement] = operation["security"]
    [scheme] = requirement
    assert document["components"]["securitySchemes"][scheme] == {
        "type": "http",
        "scheme": "bearer",
    }


def test_fastapis_own_routes_stay_and_every_reference_resolves(document: dict[str, Any]) -> None:
    assert list(document["paths"]) == [
        *(route.path for route in LIST_ROUTES),
        "/healthz",
        "/readyz",
    ]
    schemas = document["components"]["schemas"]
    assert {"UpcomingMeetings", "Meeting", "GroupLeader", "ErrorBody", "Health"} <= set(schemas)
    assert list(schemas) == sorted(schemas)
    for ref in refs(document):
        assert isinstance(resolve(document, ref), dict), ref


def test_two_models_of_one_name_are_refused() -> None:
    class Health(BaseModel):  # not api.schemas.Health, which FastAPI's /readyz documents
        healthy: bool

    app = create_app(ApiSettings(REDIS_URL="redis://127.0.0.1:1/0")).fastapi
    route = ListRoute(
        "/x/{organization_id}",
        "x",
        "x",
        (Parameter("organization_id", "path", "An id."),),
        response_model=Health,
    )
    with pytest.raises(ValueError, match="two models named Health"):
        openapi_document(app, [route])


def test_a_document_of_lists_alone() -> None:
    document = openapi_document(FastAPI(openapi_url=None), LIST_ROUTES)
    assert list(document["paths"]) == [route.path for route in LIST_ROUTES]
