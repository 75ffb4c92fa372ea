"""No request ends a process: every string handed to the Kafka client passes one check at the
gateway boundary (backbone_admin/kafka/names.py), issue 14 point 4.

librdkafka (through confluent-kafka) dereferences a failed UTF-8 conversion: a lone surrogate
in a topic name given to DescribeTopics or DeleteTopics, or in a header name, ends the process
with SIGSEGV; one in a group id aborts it. These tests send such strings (and NUL, control
characters and huge ones) through every interface of a real Daphne of their own, and check
that each answer is a 400 naming the problem and that the same Daphne process still serves.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from confluent_kafka.admin import AdminClient, NewTopic

from backbone_admin.kafka import client, groups, names, offsets, producer, records, tailing, transactions
from backbone_admin.kafka import topics as gw_topics
from backbone_admin.kafka.client import require_cluster
from backbone_admin.kafka.errors import InvalidRequest
from backbone_admin.models import ApiToken
from tests.conftest import _subprocess_env, daphne_server

pytestmark = pytest.mark.django_db(transaction=True)

SURROGATE = "\ud800"
BAD_TEXT = {"surrogate": f"a{SURROGATE}b", "nul": "a\x00b", "huge": "x" * 100_000}


@pytest.fixture(scope="module")
def server(django_db_setup: Any, kafka_bootstrap: str, redis_url: str) -> Iterator[tuple[str, Any]]:
    """A Daphne of this module's own: on today's code these requests end it."""
    with daphne_server(_subprocess_env(kafka_bootstrap, redis_url), "daphne-kafka-input.log") as served:
        yield served


@pytest.fixture
def topic(kafka_admin: AdminClient) -> Iterator[str]:
    name = f"input-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)
    yield name
    kafka_admin.delete_topics([name])[name].result(10)


def _api(make_user: Any, role: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(make_user(role))[1]}"
    return session


def _requests(topic: str, bad: str) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every API request that names something to Kafka, `bad` in one place."""
    job = {"cluster": "local", "topic": topic, "start": "earliest", "end": "latest"}
    replay = {**job, "kind": "replay", "target_topic": f"{topic}-copy"}
    messages = f"/api/clusters/local/topics/{topic}/messages/"
    return [
        ("POST", "/api/jobs/", {**job, "kind": "export", "topic": bad}),
        ("POST", "/api/jobs/", {**replay, "target_topic": bad}),
        ("POST", "/api/jobs/", {**replay, "target_topic": bad, "create_target": True}),
        ("POST", "/api/jobs/", {**replay, "target_cluster": bad}),
        ("POST", "/api/jobs/", {**job, "kind": "export", "start": {"group": bad}}),
        ("POST", "/api/jobs/", {**job, "kind": "export", "filter": bad}),
        ("POST", "/api/jobs/", {**job, "kind": "export", "topic": bad, "dry_run": True}),
        ("POST", messages, {"value": "v", "key": bad}),
        ("POST", messages, {"value": bad}),
        ("POST", messages, {"value": "v", "headers": {bad: "v"}}),
        ("POST", messages, {"value": "v", "headers": {"h": bad}}),
        ("POST", "/api/clusters/local/topics/", {"name": bad, "partitions": 1, "replication_factor": 1}),
        ("PATCH", f"/api/clusters/local/topics/{topic}/configs/", {bad: "1"}),
        ("PATCH", f"/api/clusters/local/topics/{topic}/configs/", {"retention.ms": bad}),
        ("POST", "/api/clusters/local/retention/compliance/apply/", {"topics": [bad], "dry_run": True}),
        ("POST", "/api/clusters/local/groups/g-input/reset-offsets/", {"topic": bad, "to": "earliest"}),
    ]


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
def test_strings_kafka_cannot_take_are_refused_and_the_server_lives(
    server: tuple[str, Any], make_user: Any, topic: str, kind: str
) -> None:
    base, proc = server
    pid = proc.pid
    api = _api(make_user, "admin")
    problems = []
    for method, path, body in _requests(topic, BAD_TEXT[kind]):
        try:
            answer = api.request(method, base + path, data=json.dumps(body), timeout=30, headers=_JSON)
        except requests.ConnectionError as exc:
            problems.append(f"{method} {path} {str(body)[:120]}: the server dropped the connection ({exc})")
            break
        if answer.status_code >= 500:
            problems.append(f"{method} {path} {str(body)[:120]}: {answer.status_code} {answer.text[:200]}")
    assert _serves(base, proc), "Daphne died after:\n" + "\n".join(problems)
    assert proc.pid == pid
    assert not problems, "\n".join(problems)


def _serves(base: str, proc: Any) -> bool:
    """Whether the same Daphne process still answers (a crash may end it just after its last answer)."""
    try:
        healthy = requests.get(base + "/healthz", timeout=10).status_code == 200
    except requests.ConnectionError:
        healthy = False
    return healthy and proc.poll() is None


_JSON = {"Content-Type": "application/json"}


def test_a_lone_surrogate_in_a_job_topic_is_a_400_naming_the_field(server: tuple[str, Any], make_user: Any) -> None:
    base, proc = server
    body = '{"kind": "export", "cluster": "local", "topic": "\\ud800", "start": "earliest", "end": "latest"}'
    answer = _api(make_user, "operator").post(base + "/api/jobs/", data=body, headers=_JSON, timeout=30)
    assert _serves(base, proc), "Daphne died"
    assert answer.status_code == 400, answer.text
    assert "surrogate" in answer.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/clusters/local/topics/a%00b/"),
        ("GET", "/api/clusters/local/topics/a%01b/"),
        ("PATCH", "/api/clusters/local/topics/a%00b/configs/"),
        ("DELETE", "/api/clusters/local/topics/a%00b/"),
        ("GET", "/api/clusters/local/topics/" + "x" * 5000 + "/"),
        ("GET", "/api/clusters/local/topics/a%00b/messages/?limit=1"),
        ("POST", "/api/clusters/local/topics/a%00b/messages/"),
        ("GET", "/api/clusters/local/groups/a%00b/"),
        ("POST", "/api/clusters/local/groups/a%00b/reset-offsets/"),
        ("GET", "/api/clusters/local/groups/" + "g" * 5000 + "/"),
    ],
)
def test_names_in_addresses_kafka_cannot_take_are_refused(
    server: tuple[str, Any], make_user: Any, method: str, path: str
) -> None:
    base, proc = server
    body = json.dumps({"value": "v", "topic": "t", "to": "earliest", "retention.ms": "1000"})
    answer = _api(make_user, "admin").request(method, base + path, data=body, headers=_JSON, timeout=30)
    assert _serves(base, proc), "Daphne died"
    assert answer.status_code in (400, 404), answer.text[:300]


# --- the rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["orders", "odd/name", "with space", "ünï/cödé", "q?x#y", "..", "a" * 249])
def test_an_existing_topic_may_have_any_name_a_broker_holds(name: str) -> None:
    assert names.topic_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "needs a name"),
        ("a\ud800b", "lone surrogate (\\ud800)"),
        ("a\x00b", "NUL"),
        ("a\x01b", "control character (\\u0001)"),
        ("a\nb", "control character (\\u000a)"),
        ("a" * 250, "at most 249 characters"),
    ],
)
def test_a_topic_name_the_client_cannot_take_is_refused(name: str, problem: str) -> None:
    assert problem in (names.topic_problem(name) or "")
    with pytest.raises(InvalidRequest) as refused:
        names.topic(name)
    assert problem in refused.value.message
    refused.value.message.encode()  # the message itself is text every answer can carry


@pytest.mark.parametrize("name", ["odd/name", "with space", "ünï", "..", ".", "a" * 250, "a\ud800"])
def test_a_topic_the_console_creates_follows_kafkas_rules(name: str) -> None:
    assert names.new_topic_problem(name) is not None
    assert names.new_topic_problem("orders.eu_v-2") is None


@pytest.mark.parametrize("group_id", ["g", "my group/ü", "a\nb", "g" * 10_000])
def test_a_group_id_may_be_nearly_any_text(group_id: str) -> None:
    assert names.group(group_id) == group_id


@pytest.mark.parametrize("group_id", ["", "a\ud800", "a\x00b", "g" * 40_000])
def test_a_group_id_the_client_cannot_take_is_refused(group_id: str) -> None:
    with pytest.raises(InvalidRequest):
        names.group(group_id)


def test_keys_values_and_header_values_as_bytes_are_never_refused() -> None:
    names.payload(b"\xed\xa0\x80\x00" * 100_000, "value")
    names.headers([("h", b"\x00\xff"), ("", None), ("ü", "text")])
    for bad in (("a\ud800", b""), ("a\x00", b""), ("h", "a\udfff")):
        with pytest.raises(InvalidRequest):
            names.headers([bad])
    with pytest.raises(InvalidRequest):
        names.payload("a\ud800", "key")


# --- every gateway function checks what it hands to the client -----------------------------

BAD_FOR_THE_CLIENT = ["a\ud800b", "a\x00b", "x" * 40_000]
GATEWAY_MODULES = ("topics", "offsets", "records", "tailing", "producer", "transactions", "groups", "cluster")


class _NoClient:
    """Stands in for every confluent_kafka client: reaching one with a bad string fails the test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the Kafka client was reached ({name}) with a string it cannot take")


def _reader() -> records.Reader:
    return records.Reader(require_cluster("local"), _NoClient(), set())  # type: ignore[arg-type]


def _transactional() -> transactions.TransactionalProducer:
    producer = object.__new__(transactions.TransactionalProducer)
    producer.cluster = require_cluster("local")
    producer._producer = _NoClient()  # type: ignore[assignment]
    return producer


def _no_text(_: str) -> None:
    return None


# Every public function and method of the gateway that takes a name or text from its callers,
# and how each hands it a bad one; `_no_text` marks those that take none (cluster names, pure helpers).
ENTRY_POINTS: dict[str, list[Callable[[str], object]]] = {
    "topics.create_topic": [
        lambda bad: gw_topics.create_topic("local", bad, partitions=1, replication_factor=1),
        lambda bad: gw_topics.create_topic("local", "ok", partitions=1, replication_factor=1, configs={bad: "1"}),
        lambda bad: gw_topics.create_topic("local", "ok", partitions=1, replication_factor=1, configs={"a": bad}),
    ],
    "topics.delete_topic": [lambda bad: gw_topics.delete_topic("local", bad)],
    "topics.create_partitions": [lambda bad: gw_topics.create_partitions("local", bad, 2)],
    "topics.describe_topic_configs": [lambda bad: gw_topics.describe_topic_configs("local", ["ok", bad])],
    "topics.alter_topic_configs": [
        lambda bad: gw_topics.alter_topic_configs("local", bad, set_values={"retention.ms": "1"}),
        lambda bad: gw_topics.alter_topic_configs("local", "ok", set_values={bad: "1"}),
        lambda bad: gw_topics.alter_topic_configs("local", "ok", set_values={"retention.ms": bad}),
        lambda bad: gw_topics.alter_topic_configs("local", "ok", set_values={}, delete=[bad]),
    ],
    "topics.describe_topic": [lambda bad: gw_topics.describe_topic("local", bad)],
    "offsets.watermarks": [lambda bad: offsets.watermarks("local", [("ok", 0), (bad, 0)])],
    "offsets.log_starts": [lambda bad: offsets.log_starts("local", [(bad, 0)])],
    "offsets.high_watermarks": [lambda bad: offsets.high_watermarks("local", [(bad, 0)])],
    "offsets.log_ends": [lambda bad: offsets.log_ends("local", [("ok", 0), (bad, 0)], latest=True)],
    "offsets.offsets_for_time": [lambda bad: offsets.offsets_for_time("local", [(bad, 0)], 0)],
    "records.to_record": [_no_text],  # builds a Record from a message the client gave
    "records.headers_size": [_no_text],
    "records.reader": [_no_text],
    "records.tail_consumer": [_no_text],
    "records.Reader.__init__": [_no_text],
    "records.Reader.assign": [lambda bad: _reader().assign(bad, {0: 0})],
    "records.fetched_watermarks": [lambda bad: records.fetched_watermarks("local", {(bad, 0): 1})],
    "tailing.partitions_of": [lambda bad: tailing.partitions_of(_reader(), bad)],
    "tailing.end_offsets": [lambda bad: tailing.end_offsets(_reader(), bad, [0])],
    "producer.produce": [
        lambda bad: producer.produce("local", bad, value=b"v"),
        lambda bad: producer.produce("local", "ok", value=b"v", headers={bad: b"v"}),
    ],
    "producer.flush": [_no_text],
    "producer.produce_sync": [
        lambda bad: producer.produce_sync("local", bad, value=b"v"),
        lambda bad: producer.produce_sync("local", "ok", value=b"v", headers=[(bad, b"v")]),
    ],
    "transactions.TransactionalProducer.__init__": [lambda bad: transactions.TransactionalProducer("local", bad)],
    "transactions.TransactionalProducer.produce": [
        lambda bad: _transactional().produce(bad, value=b"v", key=None, headers=()),
        lambda bad: _transactional().produce("ok", value=b"v", key=None, headers=[(bad, b"v")]),
    ],
    "groups.list_groups": [_no_text],
    "groups.committed_offsets": [lambda bad: groups.committed_offsets("local", ["ok", bad])],
    "groups.group_members": [lambda bad: groups.group_members("local", bad)],
    "groups.describe_groups": [lambda bad: groups.describe_groups("local", [bad])],
    "groups.describe_group": [lambda bad: groups.describe_group("local", bad)],
    "groups.alter_offsets": [
        lambda bad: groups.alter_offsets("local", bad, {("ok", 0): 0}),
        lambda bad: groups.alter_offsets("local", "ok", {(bad, 0): 0}),
    ],
    "groups.delete_groups": [lambda bad: groups.delete_groups("local", [bad])],
    "cluster.is_internal_topic": [_no_text],
    "cluster.topic_metadata": [_no_text],
    "cluster.describe_brokers": [_no_text],
    "cluster.broker_count": [_no_text],
    "cluster.cluster_overview": [_no_text],
}


def _takes_text(function: Callable[..., Any]) -> bool:
    """Whether callers hand the function a str (a parameter typed with str, or with (topic, partition) pairs)."""
    return any(
        ("str" in str(p.annotation) or "Partition" in str(p.annotation)) and p.name not in ("cluster_name", "what")
        for p in inspect.signature(function).parameters.values()
    )


def test_the_table_names_every_gateway_function_that_takes_text() -> None:
    found = set()
    for module_name in GATEWAY_MODULES:
        module = importlib.import_module(f"backbone_admin.kafka.{module_name}")
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(value) and _takes_text(value):
                found.add(f"{module_name}.{name}")
            elif inspect.isclass(value) and not dataclasses.is_dataclass(value):
                for method_name, method in vars(value).items():
                    public = not method_name.startswith("_") or method_name == "__init__"
                    if public and inspect.isfunction(method) and _takes_text(method):
                        found.add(f"{module_name}.{name}.{method_name}")
    assert found - set(ENTRY_POINTS) == set(), "add these gateway functions to ENTRY_POINTS, with a check"


@pytest.fixture
def no_kafka_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every confluent_kafka client of the gateway (and the isolated child) replaced by `_NoClient`."""
    for module_name in (*GATEWAY_MODULES, "client"):
        module = importlib.import_module(f"backbone_admin.kafka.{module_name}")
        for attr in ("AdminClient", "Consumer", "Producer", "run"):
            if hasattr(module, attr):
                monkeypatch.setattr(module, attr, _NoClient)
    monkeypatch.setattr(client, "_admins", {})
    monkeypatch.setattr(producer, "_producers", {})
    monkeypatch.setattr(records, "_pools", {name: records._Pool(extra) for name, extra in records.PROFILES.items()})


@pytest.mark.parametrize("entry", sorted(name for name, calls in ENTRY_POINTS.items() if calls != [_no_text]))
@pytest.mark.usefixtures("no_kafka_client")
def test_every_gateway_function_refuses_what_the_client_cannot_take(entry: str) -> None:
    for call in ENTRY_POINTS[entry]:
        for bad in BAD_FOR_THE_CLIENT:
            with pytest.raises(InvalidRequest) as refused:
                call(bad)
            refused.value.message.encode()
