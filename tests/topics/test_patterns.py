"""User-supplied patterns run on RE2 with length and size limits: no search can stall the server."""

from __future__ import annotations

import fnmatch
import io
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from django.core.management import call_command

from backbone_admin.patterns import (
    MAX_PROGRAM_SIZE,
    PatternError,
    compile_glob,
    compile_topic_pattern,
    compile_user_pattern,
    glob_to_regex,
    name_filter,
)
from topics.models import RetentionPolicy

# The pattern of the security review: exponential for a backtracking engine on any name
# without a digit (Python's `re` took 20 s on `customer_profile_updates`).
EVIL = r"(.*){10}\d"
VICTIM = "customer_profile_updates"


def letters(length: int = 8) -> str:
    """A unique tag without digits: a digit in a topic name would (rightly) match `\\d`."""
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:length])


def create_topics(admin: AdminClient, names: list[str]) -> None:
    futures = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    for name, future in futures.items():
        try:
            future.result(timeout=30)
        except Exception as exc:  # a topic left by an earlier run on a persistent Kafka
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise AssertionError(f"cannot create {name}: {exc}") from exc


def http_get(url: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, decoded JSON body) of a GET to the live server."""
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- the engine ------------------------------------------------------------------------


def test_the_review_pattern_answers_at_once_on_a_long_name() -> None:
    pattern = compile_user_pattern(EVIL)
    started = time.perf_counter()
    for _ in range(1000):
        assert not pattern.search(VICTIM + "_" * 200)
    assert pattern.search("orders-2")
    assert time.perf_counter() - started < 1.0


def test_it_refuses_a_pattern_over_the_length_limit_naming_the_field(settings: Any) -> None:
    settings.PATTERN_MAX_LENGTH = 200
    assert compile_user_pattern("a" * 200).search("a" * 200)
    with pytest.raises(PatternError) as refused:
        compile_user_pattern("a" * 201, field="search")
    assert refused.value.message.startswith("pattern longer than 200 characters")
    assert refused.value.fields == {"search": refused.value.message}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("orders(", "missing )"),
        ("(?=lookahead)", "invalid perl operator"),
        (r"(a)\1", "invalid escape sequence"),
        ("a{1001}", "invalid repetition size"),
    ],
)
def test_it_refuses_bad_syntax_with_the_engine_s_reason(text: str, says: str) -> None:
    with pytest.raises(PatternError) as refused:
        compile_user_pattern(text, field="search")
    assert f"`{text}` is not a valid regular expression" in refused.value.message
    assert says in refused.value.message


def test_it_refuses_a_short_pattern_that_compiles_too_large() -> None:
    with pytest.raises(PatternError) as refused:
        compile_user_pattern(".{999}")  # 999 UTF-8 dots: ~8,000 instructions
    assert "is too large once compiled" in refused.value.message
    assert f"at most {MAX_PROGRAM_SIZE:,}" in refused.value.message


def test_compiled_patterns_are_cached() -> None:
    assert compile_user_pattern("orders-[0-9]+") is compile_user_pattern("orders-[0-9]+")


def test_search_boxes_are_substrings_or_case_insensitive_regexes() -> None:
    assert name_filter("  ") is None
    literal = name_filter("Orders.EU")
    assert literal is not None and literal.search("shop.orders.eu") and not literal.search("orders-eu")
    regex = name_filter("re:^ORDERS\\.(eu|us)$")
    assert regex is not None and regex.search("orders.us") and not regex.search("orders.asia")
    assert regex.search(b"orders.eu")


@pytest.mark.parametrize(
    "glob",
    ["orders*", "orders.*", "*", "logs-??", "[ab]-*", "[!ab]-*", "a[*]b", "a[x", "x]y", "**.dlq", "a\\b", "[^x]*"],
)
def test_globs_match_as_fnmatch_does(glob: str) -> None:
    names = [
        "orders",
        "orders.eu",
        "orders-eu",
        "logs-01",
        "logs-1",
        "a-1",
        "b-2",
        "c-3",
        "a*b",
        "axb",
        "a[x",
        "x]y",
        "shop.dlq",
        "a\\b",
        "^x",
        "yx",
    ]
    compiled = compile_glob(glob)
    assert [n for n in names if compiled.fullmatch(n)] == [n for n in names if fnmatch.fnmatchcase(n, glob)], (
        glob_to_regex(glob)
    )


def test_policy_patterns_are_globs_or_full_match_regexes() -> None:
    assert compile_topic_pattern("orders.*").fullmatch("orders.eu")
    assert not compile_topic_pattern("orders.*").fullmatch("shop.orders.eu")
    assert compile_topic_pattern(r"re:(payments|refunds)-v\d+").fullmatch("refunds-v2")
    assert not compile_topic_pattern(r"re:(payments|refunds)-v\d+").fullmatch("refunds-v2-old")
    with pytest.raises(PatternError) as refused:
        compile_topic_pattern("re:" + "a" * 201)
    assert refused.value.fields.keys() == {"topic_pattern"}


# --- through the API and pages -----------------------------------------------------------


@pytest.mark.django_db
def test_topic_search_refuses_long_and_bad_patterns_with_a_clear_400(api_as: Any, client_as: Any) -> None:
    api = api_as("viewer")
    long = api.get("/api/clusters/local/topics/", {"search": "re:" + "a" * 201})
    assert long.status_code == 400
    assert long.json()["error"].startswith("pattern longer than 200 characters")
    assert long.json()["fields"]["search"] == long.json()["error"]
    bad = api.get("/api/clusters/local/topics/", {"search": "re:(?<=x)y"})
    assert bad.status_code == 400
    assert "invalid perl operator" in bad.json()["fields"]["search"]
    page = client_as("viewer").get("/clusters/local/topics/", {"search": "re:" + "a" * 201})
    assert page.status_code == 400
    assert "pattern longer than 200 characters" in page.content.decode()


@pytest.mark.django_db
def test_compliance_search_runs_on_the_same_engine(api_as: Any, client_as: Any, kafka_admin: AdminClient) -> None:
    topic_name = f"compliance-{letters()}"
    create_topics(kafka_admin, [f"{topic_name}_{VICTIM}"])
    api = api_as("viewer")
    started = time.perf_counter()
    evil = api.get("/api/clusters/local/retention/compliance/", {"search": f"re:{EVIL}"})
    assert evil.status_code == 200
    assert time.perf_counter() - started < 5
    assert f"{topic_name}_{VICTIM}" not in [r["topic"] for r in evil.json()["results"]]
    found = api.get("/api/clusters/local/retention/compliance/", {"search": f"re:^{topic_name}_CUSTOMER"})
    assert [r["topic"] for r in found.json()["results"]] == [f"{topic_name}_{VICTIM}"]
    long = api.get("/api/clusters/local/retention/compliance/", {"search": "re:" + "x" * 201})
    assert long.status_code == 400
    assert "pattern longer than 200 characters" in long.json()["fields"]["search"]
    page = client_as("viewer").get("/clusters/local/retention/", {"search": "re:a{5000}"})
    assert page.status_code == 200  # the page stays, the search box says what is wrong
    assert "invalid repetition size" in page.content.decode()


@pytest.mark.django_db
def test_policy_patterns_are_refused_at_save_on_the_api_and_the_form(api_as: Any, client_as: Any) -> None:
    api = api_as("admin")
    base = {"priority": 1, "configs": {"retention.ms": "1d"}}
    cases = [
        ("re:" + "a" * 201, "pattern longer than 200 characters"),
        ("a" * 201 + "*", "pattern longer than 200 characters"),
        ("re:orders-(?!test)", "invalid perl operator"),
        ("re:(x", "missing )"),
    ]
    for index, (pattern, says) in enumerate(cases):
        response = api.post(
            "/api/retention-policies/", {"name": f"bad-{index}", "topic_pattern": pattern, **base}, format="json"
        )
        assert response.status_code == 400, pattern
        assert says in response.json()["fields"]["topic_pattern"]
    form = client_as("admin").post(
        "/retention/new/", {"name": "bad-form", "topic_pattern": "re:" + "b" * 300, "cfg:retention.ms": "1d"}
    )
    assert form.status_code == 400
    assert "pattern longer than 200 characters" in form.content.decode()
    assert not RetentionPolicy.objects.filter(name__startswith="bad-").exists()


@pytest.mark.django_db
def test_a_stored_pattern_re2_cannot_run_governs_nothing_instead_of_failing() -> None:
    # Saved before patterns were checked with RE2 (Python-only syntax): it must not break pages.
    policy = RetentionPolicy.objects.create(name="legacy", topic_pattern="re:(?=orders)orders.*", configs={})
    assert not policy.matches("orders.eu")


# --- against a real Daphne: one search must not stall the others ---------------------------


@pytest.mark.django_db(transaction=True)
def test_a_hostile_search_neither_stalls_nor_delays_healthz_on_a_live_server(
    live_url: str, make_user: Any, kafka_admin: AdminClient
) -> None:
    prefix = f"redos-{letters()}"
    create_topics(kafka_admin, [VICTIM, *{f"{prefix}-{VICTIM}-{letters(12)}" for _ in range(300)}])
    user = make_user("viewer")
    out = io.StringIO()
    call_command("create_api_token", user.username, stdout=out)
    headers = {"Authorization": f"Bearer {out.getvalue().split()[-1]}"}
    url = f"{live_url}/api/clusters/local/topics/"
    # Warm the cached index so both timings below measure the search, not the first metadata read.
    assert http_get(url, {"page_size": 1}, headers)[0] == 200

    result: dict[str, Any] = {}

    def search() -> None:
        started = time.perf_counter()
        result["status"], result["body"] = http_get(url, {"search": f"re:{EVIL}", "page_size": 500}, headers)
        result["seconds"] = time.perf_counter() - started

    searcher = threading.Thread(target=search)
    searcher.start()
    time.sleep(0.05)  # the search is in flight
    started = time.perf_counter()
    health_status, _ = http_get(f"{live_url}/healthz")
    healthz_seconds = time.perf_counter() - started
    searcher.join(timeout=60)

    print(f"regex search {result['seconds']:.3f} s; concurrent /healthz {healthz_seconds:.3f} s")
    assert health_status in (200, 503)
    assert healthz_seconds < 1.0, f"/healthz waited {healthz_seconds:.2f} s behind a regex search"
    assert result["status"] == 200
    assert result["seconds"] < 3.0, f"the search took {result['seconds']:.2f} s"
    names = [row["name"] for row in result["body"]["results"]]
    assert VICTIM not in names and not any(name.startswith(prefix) for name in names)  # no digit in them

    status, body = http_get(url, {"search": "re:" + "a" * 201}, headers)
    assert status == 400
    assert body["error"].startswith("pattern longer than 200 characters")
