"""The Prometheus endpoint /metrics: the beat's samples on a real broker, who may scrape, the format,
the time-lag estimate, and request latency added up across web processes."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from backbone_admin.kafka import ClusterHealth, reset_clients
from backbone_admin.metrics import health as metrics_health
from backbone_admin.metrics.view import REFUSED
from backbone_admin.models import AuditEntry
from streams.jobs.models import Job
from tests.conftest import BASE_DIR, _subprocess_env, daphne_server, independent_client_config
from topics.models import LagSample
from topics.throughput.models import ThroughputLatest, ThroughputSample

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client | None = None, **extra: Any) -> str:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, sorted labels), parsed by prometheus_client."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def far_cluster(clusters_file: Callable[[str], Path]) -> str:
    """A second configured cluster the tests write rows for; nothing listens there, and no scrape asks it."""
    clusters_file(
        "clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}'}\n"
        "  - {name: far, bootstrap_servers: '127.0.0.1:1'}\n"
    )
    return "far"


# --- the beat's samples on the real broker ----------------------------------------------------


def _produce(bootstrap: str, topic: str, counts: list[int]) -> None:
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 0}))
    for partition, count in enumerate(counts):
        for i in range(count):
            producer.produce(topic, value=f"e-{i}".encode(), partition=partition)
            producer.flush(10)  # one record per batch: the end offset is exact on the test broker too


def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = Consumer(independent_client_config(bootstrap, **{"group.id": group}))
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def _wait(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} (see test-output/celery-worker.log)"
        time.sleep(0.3)


@pytest.mark.django_db(transaction=True)
def test_a_scrape_shows_the_lag_the_sampler_measured_per_group_and_topic(
    celery_worker: Any, kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    from backbone_admin.tasks import check_clusters
    from topics.groups.tasks import sample_lag
    from topics.tasks import sample_throughput

    prefix = f"m-{uuid.uuid4().hex[:8]}"
    orders, audit = f"{prefix}.orders", f"{prefix}.audit"
    for name, partitions in ((orders, 2), (audit, 1)):
        kafka_admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)
    _produce(kafka_bootstrap, orders, [5, 3])
    _produce(kafka_bootstrap, audit, [2])
    group = f"{prefix}-billing"
    _commit(kafka_bootstrap, group, {(orders, 0): 1, (orders, 1): 3, (audit, 0): 0})

    # The beat's three tasks, run by a real worker: health, end offsets, lag.
    check_clusters.delay()

    # The sampler reads the topic index from the shared metadata cache (seconds old): ask until it has ours.
    def sampled_ends() -> bool:
        ends = ThroughputLatest.objects.filter(cluster="local").values_list("ends", flat=True).first() or {}
        if ends.get(orders) == 8 and ends.get(audit) == 2:
            return True
        sample_throughput.delay()  # the sampler reads the topic index from a cache seconds old: ask again
        time.sleep(1)
        return False

    _wait("the throughput sampler never saw the topics' ends", sampled_ends)
    sample_lag.delay()
    _wait("the lag sampler wrote no sample", lambda: LagSample.objects.filter(cluster="local", group=group).exists())
    _wait("the health beat kept no health", lambda: cache.get("metrics:cluster-health:local") is not None)

    found = samples(scrape())

    # Kafka's answer: end - committed per partition, summed per topic (4 + 0; 2).
    assert value(found, "backbone_group_lag", cluster="local", group=group, topic=orders) == 4
    assert value(found, "backbone_group_lag", cluster="local", group=group, topic=audit) == 2
    assert value(found, "backbone_topic_end_offset", cluster="local", topic=orders) == 8
    assert value(found, "backbone_topic_end_offset", cluster="local", topic=audit) == 2
    assert value(found, "backbone_cluster_up", cluster="local") == 1
    assert (value(found, "backbone_cluster_response_seconds", cluster="local") or 0) > 0
    age = value(found, "backbone_lag_sample_age_seconds", cluster="local")
    assert age is not None and 0 <= age < 3600
    for source in ("clusters", "lag", "throughput", "jobs"):
        assert value(found, "backbone_metrics_source_up", source=source) == 1, source


# --- who may scrape ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_token_is_accepted_and_anything_else_is_refused_with_nothing_to_read(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics-token-1234"
    settings.METRICS_ALLOWED_NETWORKS = []
    LagSample.objects.create(
        cluster="local", group="secret-group", sampled_at=timezone.now(), total_lag=1, topics={"t": 1}
    )
    outside = {"REMOTE_ADDR": "198.51.100.7"}

    ok = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-1234", **outside)
    assert ok.status_code == 200 and 'group="secret-group"' in ok.content.decode()
    for header in (
        None,
        "Bearer s3cret-metrics-token-123",  # a prefix of the token
        "Bearer s3cret-metrics-token-12345",
        "Basic s3cret-metrics-token-1234",  # the right secret under another scheme
        "s3cret-metrics-token-1234",
        "Bearer ",
    ):
        kwargs = {"HTTP_AUTHORIZATION": header} if header is not None else {}
        refused = Client().get("/metrics", **kwargs, **outside)
        assert refused.status_code == 403, header
        assert refused.content.decode() == REFUSED  # the same short text: no address, no network, no token
        assert refused["Content-Type"].startswith("text/plain")
        assert "198.51.100.7" not in REFUSED and "secret-group" not in REFUSED
    assert AuditEntry.objects.filter(result=AuditEntry.Result.DENIED, action="GET metrics").exists()


@pytest.mark.django_db
def test_an_empty_token_setting_accepts_no_token(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="198.51.100.7").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer x", REMOTE_ADDR="198.51.100.7").status_code == 403


@pytest.mark.django_db
def test_addresses_in_the_allowed_networks_scrape_without_a_token(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.9"]
    for address in ("10.1.2.3", "2001:db8::5", "::ffff:10.1.2.3", "192.0.2.9"):
        assert Client().get("/metrics", REMOTE_ADDR=address).status_code == 200, address
    for address in ("127.0.0.1", "192.0.2.10", "11.0.0.1", "2001:db9::1", "", "not-an-address"):
        assert Client().get("/metrics", REMOTE_ADDR=address).status_code == 403, address
    # The client's own X-Forwarded-For is not believed: behind a proxy, Daphne rewrites REMOTE_ADDR itself.
    forged = Client().get("/metrics", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert forged.status_code == 403


@pytest.mark.django_db
def test_by_default_only_this_machine_may_scrape(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32", "::1/128"]
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="192.168.1.20").status_code == 403


@pytest.mark.django_db
def test_only_get_is_answered(settings: Any) -> None:
    assert Client().post("/metrics").status_code == 405


# --- what a scrape holds ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_odd_group_ids_are_escaped_and_read_back_exactly(far_cluster: str) -> None:
    odd = 'odd "group"\\with\nnewline ü,}{='
    at = timezone.now()
    LagSample.objects.create(
        cluster=far_cluster, group=odd, sampled_at=at, total_lag=7, uncommitted=3, topics={"a.b-c_d": 7}
    )
    text = scrape()
    found = samples(text)
    assert value(found, "backbone_group_lag", cluster="far", group=odd, topic="a.b-c_d") == 7
    assert value(found, "backbone_group_uncommitted", cluster="far", group=odd) == 3
    assert "\nnewline" not in text  # the newline is escaped, never a line break inside a sample
    # The same through OpenMetrics, when a scraper asks for it.
    response = Client().get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(response.content.decode())}
    lags = [s for s in families["backbone_group_lag"].samples if s.labels["cluster"] == "far"]
    assert [(s.labels["group"], s.value) for s in lags] == [(odd, 7)]


@pytest.mark.django_db
def test_only_the_last_pass_of_the_sampler_is_shown_and_its_age_tells_a_stalled_sampler(far_cluster: str) -> None:
    now = timezone.now()
    old, last = now - timedelta(minutes=20), now - timedelta(minutes=10)
    LagSample.objects.create(cluster="far", group="gone", sampled_at=old, total_lag=50, topics={"t": 50})
    LagSample.objects.create(cluster="far", group="kept", sampled_at=old, total_lag=9, topics={"t": 9})
    LagSample.objects.create(cluster="far", group="kept", sampled_at=last, total_lag=4, topics={"t": 4})
    # The sampler's newest pass reached `local` only: `far` did not answer it.
    LagSample.objects.create(cluster="local", group="near", sampled_at=now, total_lag=1, topics={"t": 1})

    found = samples(scrape())

    assert value(found, "backbone_group_lag", cluster="far", group="kept", topic="t") == 4
    assert value(found, "backbone_group_lag", cluster="far", group="gone", topic="t") is None  # deleted since
    assert value(found, "backbone_group_lag", cluster="local", group="near", topic="t") == 1
    age = value(found, "backbone_lag_sample_age_seconds", cluster="far")
    assert age is not None and 600 <= age < 700
    LagSample.objects.filter(cluster="far").delete()
    assert value(samples(scrape()), "backbone_lag_sample_age_seconds", cluster="far") == float("inf")


@pytest.mark.django_db
def test_time_lag_is_read_off_the_topics_end_offset_history(far_cluster: str) -> None:
    t = timezone.now() - timedelta(seconds=5)
    # The topic's end: 0 two minutes before t, 400 one minute before, 1000 at t.
    ThroughputLatest.objects.create(cluster="far", sampled_at=t, ends={"tl": 1000, "quiet": 50}, rates={"tl": 10.0})
    ThroughputSample.objects.create(cluster="far", sampled_at=t, seconds=60, topics={"tl": 600})
    ThroughputSample.objects.create(cluster="far", sampled_at=t - timedelta(seconds=60), seconds=60, topics={"tl": 400})
    for group, lag in (("half", 500), ("none", 0), ("older", 1100), ("unknown-topic", 3)):
        topic = "elsewhere" if group == "unknown-topic" else "tl"
        LagSample.objects.create(cluster="far", group=group, sampled_at=t, total_lag=lag, topics={topic: lag})

    found = samples(scrape())

    def seconds(group: str, topic: str = "tl") -> float | None:
        return value(found, "backbone_group_lag_seconds", cluster="far", group=group, topic=topic)

    # Its position, 500, was the end 50 s before t (400 at t-60, 1000 at t).
    assert seconds("half") == pytest.approx(50, abs=0.01)
    assert seconds("none") == 0
    # Older than the history: extrapolated at its mean rate (1000 events in 120 s): 12 s before t-120.
    assert seconds("older") == pytest.approx(132, abs=0.01)
    assert seconds("unknown-topic", "elsewhere") is None
    assert value(found, "backbone_topic_end_offset", cluster="far", topic="tl") == 1000
    assert value(found, "backbone_topic_events_per_second", cluster="far", topic="tl") == 10.0
    assert value(found, "backbone_topic_events_per_second", cluster="far", topic="quiet") == 0.0


@pytest.mark.django_db
def test_cluster_health_comes_from_the_beat_and_a_down_cluster_is_down(far_cluster: str) -> None:
    metrics_health.remember(
        [ClusterHealth(name="far", status="down", error="unreachable", checked_at=time.time() - 30)]
    )
    found = samples(scrape())
    assert value(found, "backbone_cluster_up", cluster="far") == 0
    assert value(found, "backbone_cluster_response_seconds", cluster="far") is None
    assert 30 <= (value(found, "backbone_cluster_check_age_seconds", cluster="far") or 0) < 300


@pytest.mark.django_db
def test_jobs_are_counted_by_kind_and_state(far_cluster: str) -> None:
    now = timezone.now()
    Job.objects.create(kind="replay", status="running", cluster="far", topic="t", started_at=now)
    Job.objects.create(kind="replay", status="queued", cluster="far", topic="t")
    Job.objects.create(kind="export", status="failed", cluster="far", topic="t", started_at=now, finished_at=now)
    Job.objects.create(
        kind="export",
        status="succeeded",
        cluster="far",
        topic="t",
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=2),
    )

    found = samples(scrape())

    assert value(found, "backbone_jobs", cluster="far", kind="replay", state="running") == 1
    assert value(found, "backbone_jobs", cluster="far", kind="replay", state="queued") == 1
    assert value(found, "backbone_jobs", cluster="far", kind="replay", state="failed") == 0
    assert value(found, "backbone_jobs_started_total", cluster="far", kind="replay") == 1
    assert value(found, "backbone_jobs_started_total", cluster="far", kind="export") == 2
    assert value(found, "backbone_jobs_finished_last_hour", cluster="far", kind="export", state="failed") == 1
    assert value(found, "backbone_jobs_finished_last_hour", cluster="far", kind="export", state="succeeded") == 0


@pytest.fixture
def no_kafka(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every way the gateway reaches a cluster, replaced by one that records the attempt and fails."""
    from backbone_admin.kafka import client, isolation, offsets, records

    reset_clients()
    calls: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"a scrape called Kafka: {name}")

        return call

    for module, name in (
        (client, "admin_client"),
        (client, "build_client"),
        (isolation, "run"),
        (offsets, "_lookup_consumer"),
        (records, "_consumer_config"),
    ):
        monkeypatch.setattr(module, name, refuse(f"{module.__name__}.{name}"))
    yield calls
    reset_clients()


@pytest.mark.django_db
def test_a_scrape_never_asks_a_cluster(far_cluster: str, no_kafka: list[str]) -> None:
    t = timezone.now()
    ThroughputLatest.objects.create(cluster="far", sampled_at=t, ends={"x": 10}, rates={})
    LagSample.objects.create(cluster="far", group="g", sampled_at=t, total_lag=5, topics={"x": 5})
    metrics_health.remember([ClusterHealth(name="far", status="down", error="unreachable", checked_at=time.time())])

    found = samples(scrape())

    assert no_kafka == []
    assert value(found, "backbone_group_lag", cluster="far", group="g", topic="x") == 5
    for source in ("clusters", "lag", "throughput", "jobs"):
        assert value(found, "backbone_metrics_source_up", source=source) == 1, source


@pytest.mark.django_db
def test_every_metric_served_is_documented_in_the_readme(far_cluster: str) -> None:
    t = timezone.now()
    ThroughputLatest.objects.create(cluster="far", sampled_at=t, ends={"x": 10}, rates={"x": 1.0})
    ThroughputSample.objects.create(cluster="far", sampled_at=t, seconds=30, topics={"x": 10})
    LagSample.objects.create(cluster="far", group="g", sampled_at=t, total_lag=5, uncommitted=1, topics={"x": 5})
    metrics_health.remember([ClusterHealth(name="far", status="down", error="unreachable", checked_at=time.time())])
    Client().get("/healthz?probe=live")

    # Counters are documented as queried: with their `_total`.
    names = {f.name + ("_total" if f.type == "counter" else "") for f in text_string_to_metric_families(scrape())}

    readme = (BASE_DIR / "README.md").read_text()
    section = readme.split("## Metrics (Prometheus)", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(backbone_\w+)`", section, flags=re.MULTILINE))
    assert names <= documented, f"undocumented: {sorted(names - documented)}"
    expected = {"backbone_group_lag", "backbone_group_lag_seconds", "backbone_http_request_duration_seconds"}
    assert expected <= names


# --- request latency across web processes -----------------------------------------------------------


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


@pytest.mark.django_db
def test_request_latency_adds_up_the_requests_of_two_web_processes(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str
) -> None:
    env = _subprocess_env(kafka_bootstrap, redis_url)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")  # this test's two processes only
    env["METRICS_ALLOWED_NETWORKS"] = "127.0.0.1/32"
    with daphne_server(env, "metrics-web-a.log") as (a, proc_a), daphne_server(env, "metrics-web-b.log") as (b, proc_b):
        assert proc_a.pid != proc_b.pid
        for url in (a, a, a, b, b):
            assert _get(f"{url}/healthz?probe=live")[0] == 200

        from_a = samples(_get(f"{a}/metrics")[1])
        from_b = samples(_get(f"{b}/metrics")[1])

    live = {"method": "GET", "route": "healthz", "status": "2xx"}
    # Whichever process answers the scrape, it counts the five requests, three of A's and two of B's.
    assert value(from_a, "backbone_http_request_duration_seconds_count", **live) == 5
    assert value(from_b, "backbone_http_request_duration_seconds_count", **live) == 5
    assert value(from_b, "backbone_http_request_duration_seconds_bucket", le="+Inf", **live) == 5
    # B's scrape also counts A's scrape, answered before it by the other process.
    scrapes = {"method": "GET", "route": "metrics", "status": "2xx"}
    assert value(from_a, "backbone_http_request_duration_seconds_count", **scrapes) is None
    assert value(from_b, "backbone_http_request_duration_seconds_count", **scrapes) == 1
    assert len(list((tmp_path / "metrics").glob("histogram_*.db"))) == 2
