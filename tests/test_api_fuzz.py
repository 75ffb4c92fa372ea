"""Schemathesis over /api/schema/ against the real stack: a live Daphne, the test broker, an
operator's API token.

Every operation gets a bounded number of generated requests (valid ones, then invalid ones),
derandomized so a run is repeatable. Each answer must be below 500, an error in the documented
shape `{"error": str, "fields": {...}}`, within the cluster timeout + 1 s, and what the schema
says (status code, content type, body). Path parameters point at a topic, a policy and a token
this module creates, so the fuzzing never touches another test's data; topics it creates are
named `fuzz-…` and deleted afterwards. What a schema does not generate (lone surrogates,
control characters, huge values, the filter language) and the websocket handshakes are fuzzed
in tests/test_input_fuzz.py.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backbone_admin.models import ApiToken
from backbone_admin.roles import assign_role
from tests.conftest import SECRET_WATCH
from topics.models import RetentionPolicy

MAX_EXAMPLES = 15
RUN = uuid.uuid4().hex[:6]
FUZZ_PREFIX = f"fuzz-{RUN}-"
# The operations as the code describes them, to name one test per operation; the test then
# reads the same operation from the schema the live server serves.
OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in SchemaGenerator().get_schema(request=None, public=True)["paths"].items()
    for method in operations
)
VALID, INVALID = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
POLICY_WRITES = {("POST", "/api/retention-policies/"), ("PUT", "/api/retention-policies/{name}/")}
POLICY_WRITES |= {("PATCH", "/api/retention-policies/{name}/")}


def _who(method: str, path: str) -> list[tuple[str, schemathesis.GenerationMode]]:
    """The operator sends valid and invalid requests everywhere; an admin also reads (answers only
    an admin gets: the audit log, everyone's tokens) and writes policies (the operator may not)."""
    runs = [("operator", VALID), ("operator", INVALID)]
    if method == "GET":
        runs.append(("admin", VALID))
    if (method, path) in POLICY_WRITES:
        runs += [("admin", VALID), ("admin", INVALID)]
    return runs


RUNS = [
    pytest.param(method, path, who, mode, id=f"{method} {path} {who} {mode.value}")
    for method, path in OPERATIONS
    for who, mode in _who(method, path)
]
SCHEMA_CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class FuzzTarget:
    url: str
    headers: dict[str, dict[str, str]]  # who → the Authorization header
    schema: Any
    path_values: dict[str, str]


def _ensure_policy(name: str) -> RetentionPolicy:
    """The policy the fuzzing's {name} points at, as it was (PUT and PATCH change it, DELETE deletes it)."""
    policy, _ = RetentionPolicy.objects.update_or_create(
        name=name,
        defaults={"topic_pattern": f"{FUZZ_PREFIX}never-*", "priority": 0, "configs": {"retention.ms": "3600000"}},
    )
    return policy


def _create_token(username: str) -> str:
    """As an operator would get one: `manage.py create_api_token USER`, the key is the last word."""
    out = io.StringIO()
    call_command("create_api_token", username, stdout=out)
    return out.getvalue().split()[-1]


@pytest.fixture(scope="module")
def fuzz_target(live_url: str, django_db_blocker: Any, kafka_admin: AdminClient) -> Iterator[FuzzTarget]:
    # pytest-django sets the test database up only when a collected test is marked django_db
    # (the first test here is); never write the fuzzing's users into a developer's database.
    assert "test" in str(connection.settings_dict["NAME"]), "the test database is not set up"
    topic = f"{FUZZ_PREFIX}topic"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    with django_db_blocker.unblock():
        users = {who: get_user_model().objects.create(username=f"fuzz-{who}-{RUN}") for who in ("operator", "admin")}
        headers = {}
        for who, user in users.items():
            assign_role(user, who)
            headers[who] = {"Authorization": f"Bearer {_create_token(user.username)}"}
        # DELETE /api/tokens/{id}/ revokes this one, never a key in use.
        spare = ApiToken.issue(users["operator"])[0]
        policy = _ensure_policy(f"{FUZZ_PREFIX}policy")
    schema = schemathesis.openapi.from_url(f"{live_url}/api/schema/?format=json", headers=headers["operator"])
    values = {"cluster": "local", "topic": topic, "name": policy.name, "token_id": str(spare.pk)}
    yield FuzzTarget(url=live_url, headers=headers, schema=schema, path_values=values)
    created = [t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(FUZZ_PREFIX)]
    if created:
        for future in kafka_admin.delete_topics(created).values():
            future.result(10)
    with django_db_blocker.unblock():
        RetentionPolicy.objects.filter(name__startswith=FUZZ_PREFIX).delete()
        for user in users.values():
            user.delete()


@pytest.mark.django_db  # also makes pytest-django set the test database up for the live server
def test_the_served_schema_has_the_operations_the_fuzzing_covers(fuzz_target: FuzzTarget) -> None:
    served = sorted(
        (method.upper(), path) for path, ops in fuzz_target.schema.raw_schema["paths"].items() for method in ops
    )
    assert served == OPERATIONS
    assert {("GET", "/api/clusters/"), ("POST", "/api/clusters/{cluster}/topics/")} <= set(OPERATIONS)


def _error_shape_problem(response: Any) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return f"the body is not JSON: {response.text[:200]!r}"
    if not isinstance(body, dict) or set(body) != {"error", "fields"}:
        return f"the body is not {{error, fields}}: {str(body)[:200]}"
    if not isinstance(body["error"], str) or not body["error"]:
        return f"`error` is not a message: {body['error']!r}"
    if not isinstance(body["fields"], dict):
        return f"`fields` is not an object: {body['fields']!r}"
    return None


def _own_names(case: Any) -> None:
    """Topics and policies the fuzzing creates are named fuzz-<run>-…, so they can be found and
    deleted and never take another test's name; a policy is never renamed away from its URL.
    Policy names are made valid, so that the fuzzing reaches the patterns and configs."""
    if not isinstance(case.body, dict) or not isinstance(case.body.get("name"), str):
        return
    if (case.method, case.path) == ("POST", "/api/clusters/{cluster}/topics/"):
        case.body = {**case.body, "name": FUZZ_PREFIX + case.body["name"]}
    elif (case.method, case.path) == ("POST", "/api/retention-policies/"):
        case.body = {**case.body, "name": FUZZ_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "", case.body["name"])[:40]}
    elif (case.method, case.path) in POLICY_WRITES:
        case.body = {**case.body, "name": case.path_parameters["name"]}


# No database access in the test itself: a test transaction would hold SQLite's write lock
# and the live server, writing to the same file, would wait for it.
@pytest.mark.parametrize(("method", "path", "who", "mode"), RUNS)
def test_the_api_answers_generated_requests_as_documented(
    fuzz_target: FuzzTarget, django_db_blocker: Any, method: str, path: str, who: str, mode: schemathesis.GenerationMode
) -> None:
    operation = fuzz_target.schema[path][method]
    fixed = {
        name: fuzz_target.path_values[name] for name in re.findall(r"{(\w+)}", path) if name in fuzz_target.path_values
    }
    # Daphne's HTTP layer (Twisted) parses multipart bodies itself and answers a malformed one
    # with a bare 400 before Django sees the request; the API is JSON (and forms) for the rest.
    strategy = operation.as_strategy(mode, path_parameters=fixed).filter(
        lambda case: not str(case.media_type or "").startswith("multipart/")
    )
    headers = fuzz_target.headers[who]
    limit = float(settings.KAFKA_TIMEOUT) + 1
    problems: list[str] = []
    session = requests.Session()
    sent = 0

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal sent
        _own_names(case)
        if (method, path) in POLICY_WRITES:
            with django_db_blocker.unblock():  # a PUT may have been refused only because a DELETE ran first
                _ensure_policy(fuzz_target.path_values["name"])
        started = time.monotonic()
        response = case.call(base_url=fuzz_target.url, session=session, headers=headers, timeout=limit + 5)
        took = time.monotonic() - started
        sent += 1
        SECRET_WATCH.scan(response.text, f"live response to {method} {case.formatted_path}")
        request = case.as_curl_command(headers=headers)[:500]
        if response.status_code >= 500:
            problems.append(f"{request} → {response.status_code}: {response.text[:300]}")
            return
        if took > limit:
            problems.append(f"{request} took {took:.1f} s (limit {limit:g} s)")
        if 400 <= response.status_code < 500 and (problem := _error_shape_problem(response)):
            problems.append(f"{request} → {response.status_code}: {problem}")
        try:
            case.validate_response(response, checks=SCHEMA_CHECKS, headers=headers)
        except FailureGroup as exc:  # the schema does not describe the answer
            found = "; ".join(f"{f.title}: {f.message}" for f in exc.exceptions)
            problems.append(f"{request} → {response.status_code}: not as documented: {found[:600]}")

    try:
        run()
    except Unsatisfiable:
        pytest.skip(f"no {mode.value} request can be generated for {method} {path}")
    assert sent > 0
    unique = list(dict.fromkeys(problems))
    assert not unique, f"{len(unique)} problem(s) in {sent} requests:\n" + "\n".join(unique[:20])
