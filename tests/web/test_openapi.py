"""The OpenAPI document is valid and complete, and the org API holds up under schemathesis.

Schemathesis generates requests from the app's own /openapi.json (valid and invalid ones) for every
organisation operation, sends them with an administrator's token, and checks that the server never
answers 5xx and that every answer matches the documented schema (status code, content type, body).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from civicpulse.domain.org import services
from civicpulse.domain.org.models import ApiToken, User
from civicpulse.domain.org.schemas import TokenCreate
from tests.org.support import World

ORG_PREFIXES = ("/api/v1/units", "/api/v1/users", "/api/v1/audit", "/api/v1/me")
EXAMPLES = 20  # per operation; ~15 operations, the whole file stays well under a minute


def _openapi() -> dict[str, Any]:
    from civicpulse.config import Settings
    from civicpulse.web.app import create_app

    return create_app(Settings(env="test", secret_key="x" * 40, database_url="sqlite://")).openapi()


OPENAPI = _openapi()
ORG_OPERATIONS = sorted((method.upper(), path) for path, item in OPENAPI["paths"].items()
                        for method in item if path.startswith(ORG_PREFIXES))


def test_openapi_json_is_served_and_valid(w: World) -> None:
    r = w.anonymous().get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    for path in ("/api/v1/units", "/api/v1/units/{unit_id}", "/api/v1/users", "/api/v1/users/{user_id}",
                 "/api/v1/users/{user_id}/roles", "/api/v1/audit", "/api/v1/audit.csv", "/api/v1/me/tokens"):
        assert path in doc["paths"], path
    assert set(doc["paths"]["/api/v1/units"]) == {"get", "post"}
    assert set(doc["paths"]["/api/v1/units/{unit_id}"]) == {"get", "patch", "delete"}
    # the documented error body is the one the API sends
    error = doc["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["error"]
    for method, op in doc["paths"]["/api/v1/units/{unit_id}"].items():
        for status in ("401", "403", "404", "422"):
            assert status in op["responses"], (method, status)
    # the UI routes are not part of the API document
    assert not any(p.startswith(("/units", "/users", "/login", "/audit")) for p in doc["paths"])
    # and the document validates against the OpenAPI meta-schema
    schema = schemathesis.openapi.from_asgi("/openapi.json", w.app)
    schema.validate()
    problems = [r for r in schema.get_all_operations() if not r.ok()] if hasattr(
        next(iter(schema.get_all_operations())), "ok") else []
    assert problems == []


def test_the_docs_page_is_served(w: World) -> None:
    r = w.anonymous().get("/api/docs")
    assert r.status_code == 200 and "openapi.json" in r.text


@pytest.fixture(scope="module")
def api_schema(world: World):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/openapi.json", world.app)


class AdminToken:
    """A read+write token of the root administrator; remade if a fuzzed request revoked it."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.raw = ""
        self.id = 0

    def headers(self) -> dict[str, str]:
        with self.w.db.session() as s:
            tok = s.get(ApiToken, self.id) if self.id else None
            if tok is None or tok.revoked_at is not None:
                user = s.get(User, self.w.users["root-admin"])
                actor = services.actor_for(s, user, via="ui")
                self.raw, made = services.create_token(s, actor, TokenCreate(name="schemathesis",
                                                                             scopes=["read", "write"]))
                s.flush()
                self.id = made.id
        return {"Authorization": f"Bearer {self.raw}"}


POSITIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def real_ids(w: World) -> dict[str, list[int]]:
    """Ids that exist, so that generated requests also reach the code behind the 404s."""
    from civicpulse.domain.org.models import RoleAssignment

    with w.db.session() as s:
        return {"unit_id": list(w.units.values()), "user_id": list(w.users.values()),
                "role_id": list(s.scalars(select(RoleAssignment.id))),
                "token_id": list(s.scalars(select(ApiToken.id)))}


def with_real_ids(operation, path: str, mode: GenerationMode, ids: dict[str, list[int]]):  # type: ignore[no-untyped-def]
    """Half the cases as generated, half with real ids in the path, the unit_id query and the body."""
    names = re.findall(r"{(\w+)}", path)
    query = [p["name"] for p in OPENAPI["paths"][path][operation.method.lower()].get("parameters", [])
             if p["in"] == "query" and p["name"] == "unit_id"]
    fixed = st.fixed_dictionaries({n: st.sampled_from(ids[n]) for n in names + query})

    def build(values: dict[str, int]):  # type: ignore[no-untyped-def]
        return operation.as_strategy(mode, path_parameters={n: values[n] for n in names} or None,
                                     query={n: values[n] for n in query} or None)

    def real_body(args):  # type: ignore[no-untyped-def]
        case, unit_id = args
        body = case.body
        if mode == GenerationMode.POSITIVE and isinstance(body, dict):
            for key in ("parent_id", "unit_id"):
                if key in body:
                    body[key] = unit_id
            for role in body.get("roles") or [] if isinstance(body.get("roles"), list) else []:
                if isinstance(role, dict):
                    role["unit_id"] = unit_id
        return case

    realistic = st.tuples(fixed.flatmap(build), st.sampled_from(ids["unit_id"])).map(real_body)
    return st.one_of(operation.as_strategy(mode), realistic)


@pytest.mark.parametrize("method,path", ORG_OPERATIONS, ids=[f"{m} {p}" for m, p in ORG_OPERATIONS])
def test_schemathesis_org_api(w: World, api_schema, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    operation = api_schema[path][method]
    token = AdminToken(w)
    ids = real_ids(w)
    strategy = st.one_of(with_real_ids(operation, path, GenerationMode.POSITIVE, ids).map(lambda c: (c, True)),
                         with_real_ids(operation, path, GenerationMode.NEGATIVE, ids).map(lambda c: (c, False)))

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(item=strategy)
    def run(item) -> None:  # type: ignore[no-untyped-def]
        case, positive = item
        headers = token.headers()
        response = case.call(headers=headers)
        # every answer must be documented and match its schema; invalid input must never crash the server
        case.validate_response(response, checks=POSITIVE_CHECKS if positive else [not_a_server_error],
                               headers=headers)

    run()


def test_schemathesis_sees_every_org_operation(api_schema) -> None:  # type: ignore[no-untyped-def]
    assert len(ORG_OPERATIONS) >= 15
    assert ("GET", "/api/v1/audit.csv") in ORG_OPERATIONS and ("PATCH", "/api/v1/units/{unit_id}") in ORG_OPERATIONS
    with_ids = {p for _, p in ORG_OPERATIONS}
    assert {"/api/v1/units/{unit_id}", "/api/v1/users/{user_id}/roles/{role_id}", "/api/v1/me/tokens/{token_id}"} <= with_ids
