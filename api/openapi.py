"""The OpenAPI document: FastAPI's own, and the lists of ``api/routes.py``.

FastAPI documents the routes it serves (health, readiness). The two lists are
served by ``api/lists.py``, outside FastAPI, and documented here from the same
``ListRoute`` entries that route requests to them, in the form FastAPI gives a
route declared with those parameters and responses: parameters are strings
(optional ones ``string | null``), models are referenced from
``components/schemas``, operation ids follow FastAPI's rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.routes import POSITION_HEADER, ListRoute, Parameter

SCHEMAS = "#/components/schemas/{model}"
# Every list wants the organization's token, as ``Authorization: Bearer``.
SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
JSON = "application/json"


def openapi_document(app: FastAPI, routes: Iterable[ListRoute]) -> dict[str, Any]:
    """``app``'s document with ``routes`` added: their paths first, then FastAPI's."""
    routes = list(routes)
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    document["paths"] = {**list_paths(routes), **document.get("paths", {})}
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in models_schemas(models_of(routes)).items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two models named {name} document different schemas")
    components["schemas"] = dict(sorted(schemas.items()))
    components["securitySchemes"] = SECURITY_SCHEMES
    return document


def list_paths(routes: Iterable[ListRoute]) -> dict[str, Any]:
    return {route.path: {"get": operation(route)} for route in routes}


def operation(route: ListRoute) -> dict[str, Any]:
    document: dict[str, Any] = {"summary": route.summary}
    if route.description is not None:
        document["description"] = route.description
    document["operationId"] = operation_id(route)
    document["parameters"] = [parameter(p) for p in route.parameters]
    document["responses"] = {
        "200": response("Successful Response", route.response_model, POSITION_HEADER),
        **{
            str(status): response(spec["description"], spec["model"], spec.get("headers"))
            for status, spec in route.errors.items()
        },
    }
    document["security"] = SECURITY
    return document


def operation_id(route: ListRoute) -> str:
    """As FastAPI's ``generate_unique_id``: name and path, non-word characters as ``_``."""
    return re.sub(r"\W", "_", f"{route.name}{route.path}") + "_get"


def parameter(spec: Parameter) -> dict[str, Any]:
    required = spec.location == "path"
    if spec.location == "header":
        return {
            "name": spec.name,
            "in": "header",
            "required": False,
            "schema": {"type": "string", "title": spec.name},
            "description": spec.description,
        }
    schema: dict[str, Any] = (
        {"type": "string"} if required else {"anyOf": [{"type": "string"}, {"type": "null"}]}
    )
    schema["description"] = spec.description
    if spec.pattern is not None:
        schema["pattern"] = spec.pattern
    schema["title"] = spec.name.replace("_", " ").title()
    return {
        "name": spec.name,
        "in": spec.location,
        "required": required,
        "schema": schema,
        "description": spec.description,
    }


def response(
    description: str, model: type[BaseModel], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {"description": description}
    if headers:
        document["headers"] = headers
    document["content"] = {JSON: {"schema": {"$ref": SCHEMAS.format(model=model.__name__)}}}
    return document


def models_of(routes: Iterable[ListRoute]) -> list[type[BaseModel]]:
    models: dict[type[BaseModel], None] = {}
    for route in routes:
        models[route.response_model] = None
        for spec in route.errors.values():
            models[spec["model"]] = None
    return list(models)


def models_schemas(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """The JSON schemas of ``models`` and of the models they hold, by name, as
    responses serialize them."""
    _, top = models_json_schema(
        [(model, "serialization") for model in models], ref_template=SCHEMAS
    )
    definitions: dict[str, Any] = top.get("$defs", {})
    return definitions
