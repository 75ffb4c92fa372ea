"""Hostile text through every interface of the live server: no 5xx, no 1011, no restart.

Issue 14 point 4. Schemathesis (tests/test_api_fuzz.py) fuzzes the REST schema with what the
schema allows; here every string parameter of the message, produce, job, tail and search
interfaces gets lone surrogates, NUL and other control characters, bidi controls and huge
values, and the filter language gets generated expressions laced with them, through the
session's real Daphne: the REST answer is below 500 in the documented error shape, a websocket
handshake is refused (403/404) or accepted and then closed with the tail's own codes, the
search socket answers `error` or `done`, never a 1011 (the server's exception), and the Daphne
process is the same one before and after.

A lone surrogate cannot cross a URL (Django and the tail decode bytes that are not UTF-8 into
replacement characters); it comes in JSON bodies and search socket messages. URLs carry the
bytes a surrogate would be in CESU-8 (`%ED%A0%80`) and bytes that are no UTF-8 at all instead.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from backbone_admin.models import ApiToken
from tests.conftest import independent_client_config
from tests.streams.test_tail_websocket import cookie, no_tail_of, server_pid, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# What no interface may fail on. Values in URLs are cut at URL_MAX characters: Daphne (Twisted)
# itself drops a request line over 16 KiB before the console sees it.
HOSTILE = {
    "lone surrogate": "a\ud800b",
    "low surrogate alone": "\udfff",
    "NUL": "a\x00b",
    "controls": "".join(map(chr, range(1, 32))) + "\x7f\x85",
    "bidi": "\u202eabc\u2066x\u2069",
    "non-BMP": "🚢𝄞" * 8,
    "huge": "x" * 100_000,
    "huge non-ASCII": "é€" * 30_000,
}
URL_MAX = 1_000  # characters: at most 12 KB escaped
# Raw URL bytes: a surrogate as CESU-8, and bytes that are not UTF-8.
URL_ONLY = {"CESU-8 surrogate": "%ED%A0%80", "not UTF-8": "%FF%FE%C0%AF"}
TAIL_CLOSES = {4400, 4403, 4404, 4429, 4503}


@dataclass
class Target:
    url: str
    topic: str
    pid: int
    operator: Any = None
    token: str = ""


def _escape(text: str) -> str:
    return quote(text[:URL_MAX], safe="", errors="surrogatepass")


def _url_values() -> dict[str, str]:
    return {**{name: _escape(text) for name, text in HOSTILE.items()}, **URL_ONLY}


@pytest.fixture(scope="module")
def served(live_url: str, kafka_admin: AdminClient, kafka_bootstrap: str) -> Iterator[Target]:
    """The session's Daphne, its process id now, and a topic of this module's own with events."""
    topic = f"fuzz-input-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    producer = Producer(independent_client_config(kafka_bootstrap, **{"linger.ms": 0}))
    for i in range(20):
        value = json.dumps({"payload": {"status": "OK" if i % 2 else "DELAYED", "amount": i}, "note": "é🚢"})
        producer.produce(topic, key=f"k{i}".encode(), value=value.encode(), headers={"source": b"web"})
    producer.produce(topic, key=b"plain", value=b"not json \xff\xfe")
    producer.flush(10)
    yield Target(url=live_url, topic=topic, pid=server_pid(live_url))
    kafka_admin.delete_topics([topic])[topic].result(10)


@pytest.fixture
def target(served: Target, make_user: Any) -> Iterator[Target]:
    """As an operator with an API token; afterwards the server's tails of the topic are closed
    (the test broker crashes a consumer fetching a deleted topic)."""
    operator = make_user("operator")
    yield Target(served.url, served.topic, served.pid, operator, ApiToken.issue(operator)[1])
    wait_for(no_tail_of(served.url, make_user("admin"), served.topic), timeout=15)


def _same_server(target: Target) -> None:
    """The Daphne that answered before answers still: no crash, no restart."""
    assert requests.get(target.url + "/healthz", timeout=10).status_code == 200
    assert server_pid(target.url) == target.pid, "the web process was restarted"


def _error_shape(answer: requests.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return f"not JSON: {answer.text[:100]!r}"
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("fields"), dict)):
        return f"not {{error, fields}}: {str(body)[:150]}"
    return None


def _api(target: Target) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {target.token}"
    return session


def _check(answer: requests.Response, what: str, problems: list[str]) -> None:
    if answer.status_code >= 500:
        problems.append(f"{what}: {answer.status_code} {answer.text[:200]}")
    elif answer.status_code >= 400 and (problem := _error_shape(answer)):
        problems.append(f"{what}: {answer.status_code} {problem}")


# --- REST: every string parameter of the message, produce and job interfaces ------------------

MESSAGE_PARAMS = ["q", "key", "group", "cursor", "start", "direction", "partition", "offset", "timestamp"]
MESSAGE_PARAMS += ["limit", "max_bytes", "max_events", "max_seconds", "all_partitions"]


def test_the_table_names_every_parameter_of_the_messages_api(target: Target) -> None:
    schema = _api(target).get(target.url + "/api/schema/?format=json", timeout=30).json()
    operation = schema["paths"]["/api/clusters/{cluster}/topics/{topic}/messages/"]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == set(MESSAGE_PARAMS)


def test_every_string_parameter_of_the_message_api_survives_hostile_text(target: Target) -> None:
    api, problems = _api(target), []
    page = f"{target.url}/api/clusters/local/topics/{quote(target.topic)}/messages/"
    for param in MESSAGE_PARAMS:
        for name, value in _url_values().items():
            answer = api.get(f"{page}?max_seconds=2&{param}={value}", timeout=30)
            _check(answer, f"GET messages ?{param}= {name}", problems)
    # The topic in the address too, through every route that names it.
    for name, value in _url_values().items():
        for path in ("/", "/messages/", "/configs/", "/stream/"):
            answer = api.get(f"{target.url}/api/clusters/local/topics/{value}{path}", timeout=30)
            _check(answer, f"GET topics/<{name}>{path}", problems)
    _same_server(target)
    assert not problems, "\n".join(problems)


def _produce_bodies(bad: str) -> list[dict[str, Any]]:
    return [
        {"value": bad},
        {"value": "v", "key": bad},
        {"value": "v", "headers": {bad: "v"}},
        {"value": "v", "headers": {"h": bad}},
        {"value": "v", "value_format": bad},
        {"value": "v", "value_format": "avro", "subject": bad},
        {"value": "v", "partition": bad},
    ]


def _job_bodies(topic: str, bad: str) -> list[dict[str, Any]]:
    export = {"kind": "export", "cluster": "local", "topic": topic, "start": "earliest", "end": "latest"}
    export["dry_run"] = True
    replay = {**export, "kind": "replay", "target_topic": f"{topic}-copy"}
    bodies: list[dict[str, Any]] = [{**export, field: bad} for field in ("kind", "cluster", "topic", "filter")]
    bodies += [{**export, field: bad} for field in ("start", "end", "format", "compression")]
    bodies += [
        {**export, "start": {"group": bad}},
        {**export, "start": {"offset": bad}},
        {**export, "partitions": [bad]},
    ]
    bodies += [
        {**replay, field: bad} for field in ("target_topic", "target_cluster", "partition_mapping", "rate_limit")
    ]
    bodies += [{**replay, "create_target": True, "target_topic": bad}, {**replay, "target_configs": {bad: bad}}]
    bodies += [{**replay, "keep_timestamps": bad}, {**replay, "accept_retention_loss": bad}]
    return bodies


def test_every_string_of_produce_and_job_bodies_survives_hostile_text(target: Target) -> None:
    api, problems = _api(target), []
    produce = f"{target.url}/api/clusters/local/topics/{quote(target.topic)}/messages/"
    for name, bad in HOSTILE.items():
        for body in _produce_bodies(bad):
            answer = api.post(produce, json=body, timeout=30)
            _check(answer, f"produce {name} {str(body)[:80]}", problems)
        for body in _job_bodies(target.topic, bad):
            answer = api.post(target.url + "/api/jobs/", json=body, timeout=30)
            _check(answer, f"job {name} {str(body)[:80]}", problems)
            if answer.status_code == 201:
                problems.append(f"job {name} {str(body)[:80]}: a dry run started a job")
    _same_server(target)
    assert not problems, "\n".join(problems)


def test_a_lone_surrogate_in_a_body_is_a_400_naming_where(target: Target) -> None:
    body = '{"kind": "export", "cluster": "local", "topic": "t", "filter": {"x": ["ok", "\\ud800"]}}'
    answer = _api(target).post(
        target.url + "/api/jobs/", data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("`filter.x[1]` is not valid Unicode text: it holds a lone surrogate")


# --- websockets: the tail's handshake, the search socket -------------------------------------


def _ws(target: Target, path: str) -> ClientConnection:
    headers = {"Cookie": cookie(target.operator), "Origin": target.url}
    return connect(target.url.replace("http://", "ws://") + path, additional_headers=headers, open_timeout=15)


def _tail_outcome(target: Target, topic: str, query: str = "") -> str | None:
    """What is wrong with how the tail answered this handshake, or None."""
    path = f"/ws/clusters/local/topics/{topic}/tail/" + (f"?{query}" if query else "")
    try:
        ws = _ws(target, path)
    except InvalidStatus as exc:
        status = exc.response.status_code
        return None if status in (403, 404) else f"handshake answered {status}"
    with ws:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
                return None if code in TAIL_CLOSES else f"closed with {code}"
            except TimeoutError:
                break
            if message.get("status") == "live":
                return None
            if "error" in message and message.get("code") not in TAIL_CLOSES:
                return f"error without a tail close code: {message}"
    return "neither live nor closed within 15 s"


def test_the_tail_handshake_survives_hostile_text(target: Target) -> None:
    problems = []
    for name, value in _url_values().items():
        for what, topic, query in (
            ("topic", value, ""),
            ("filter", target.topic, f"filter={value}"),
            ("rate", target.topic, f"rate={value}"),
            ("other parameter", target.topic, f"{value}={value}"),
        ):
            if problem := _tail_outcome(target, topic, query):
                problems.append(f"tail {what} {name}: {problem}")
    _same_server(target)
    assert not problems, "\n".join(problems)


def _search(target: Target, message: Any) -> dict[str, Any] | str:
    """Send one message on a new search socket, read until the search ends: its last message,
    or what went wrong."""
    with _ws(target, f"/ws/clusters/local/topics/{quote(target.topic)}/search/") as ws:
        ws.send(message if isinstance(message, str) else json.dumps(message))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                answer = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            except ConnectionClosed as exc:
                return f"closed with {exc.rcvd.code if exc.rcvd else 1006}"
            except TimeoutError:
                break
            if answer.get("type") in ("done", "error"):
                return dict(answer)
    return "no end within 30 s"


def test_the_search_socket_survives_hostile_text(target: Target) -> None:
    problems = []
    for param in MESSAGE_PARAMS:
        for name, bad in HOSTILE.items():
            answer = _search(target, {"action": "search", "params": {"max_seconds": 2, param: bad}})
            if isinstance(answer, str):
                problems.append(f"search {param}={name}: {answer}")
            elif "surrogate" in name and not (answer["type"] == "error" and "surrogate" in answer["error"]):
                problems.append(f"search {param}={name}: not refused as a surrogate: {str(answer)[:200]}")
    for junk in ("not json", "[1, 2]", '"text"', "{" * 5000, json.dumps({"action": "search", "params": []}), "{}"):
        answer = _search(target, junk)
        if isinstance(answer, str) or answer["type"] != "error":
            problems.append(f"search message {junk[:20]!r}: {str(answer)[:200]}")
    _same_server(target)
    assert not problems, "\n".join(problems)


# --- the filter language ------------------------------------------------------------------

_FIELDS = ["key", "value", "partition", "offset", "timestamp", "headers.source", 'headers."x-y"', "headers.*"]
_FIELDS += ["payload.status", "payload.amount", "items[0].sku", "items[*].sku", 'value."odd name"', "key.a"]
_OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "contains", "~", "exists"]
_HOSTILE_CHARS = st.sampled_from(["\ud800", "\udfff", "\x00", "\x1b", "\u202e", "🚢", "é", "\\", '"', "/", "\n"])
_TEXT = st.text(st.one_of(st.characters(codec=None, categories=None), _HOSTILE_CHARS), max_size=30)
_VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["true", "false", "null", '"2024-05-01T10:00:00Z"', "/^k1\\d+$/i", "/(a+)+$/", "/[/"]),
    _TEXT.map(lambda t: json.dumps(t, ensure_ascii=False)),
    _TEXT.map(lambda t: "/" + t.replace("/", "") + "/"),
)
_COMPARISON = st.builds(
    lambda field, op, value: f"{field} exists" if op == "exists" else f"{field} {op} {value}",
    st.sampled_from(_FIELDS),
    st.sampled_from(_OPERATORS),
    _VALUES,
)
FILTERS = st.one_of(
    _TEXT,
    st.recursive(
        _COMPARISON,
        lambda inner: st.one_of(
            st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["and", "or"]), inner),
            inner.map(lambda a: f"not ({a})"),
            inner.map(lambda a: f"({a}"),  # unbalanced
        ),
        max_leaves=40,
    ),
    st.integers(1, 2000).map(lambda n: "(" * n + "key == 1" + ")" * n),
    st.integers(10, 200).map(lambda n: " or ".join(["payload.status == 1"] * n)),
)


def test_the_filter_language_never_fails_the_server(target: Target) -> None:
    """Generated filters through the API's `q`, the search socket and the tail's `filter`."""
    api, problems = _api(target), []
    page = f"{target.url}/api/clusters/local/topics/{quote(target.topic)}/messages/"
    tried = 0

    @hypothesis_settings(
        max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(text=FILTERS)
    @example(text="a\ud800b")
    @example(text='key == "\udfff" or payload.status exists')
    @example(text="value ~ /\ud800|x/")
    @example(text="a\x00b")
    @example(text="x" * 100_000)
    def run(text: str) -> None:
        nonlocal tried
        tried += 1
        escaped = _escape(text)
        _check(api.get(f"{page}?q={escaped}&max_seconds=2", timeout=30), f"GET ?q={text[:80]!r}", problems)
        answer = _search(target, {"action": "search", "params": {"q": text, "max_seconds": 2}})
        if isinstance(answer, str):
            problems.append(f"search q={text[:80]!r}: {answer}")
        if problem := _tail_outcome(target, quote(target.topic), f"filter={escaped}"):
            problems.append(f"tail filter={text[:80]!r}: {problem}")

    run()
    _same_server(target)
    assert tried >= 60
    assert not problems, "\n".join(dict.fromkeys(problems))
