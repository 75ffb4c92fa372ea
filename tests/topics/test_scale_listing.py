"""The cheaper paths the topic list takes at 100,000 topics (bench/topics_100k.py) answer as before.

Each asserts the answer against an independent client on the real broker (or the policy's own
match): the index built without an object per partition, the log starts and ends read by one
consumer per cluster, a sort by messages that reads the configs of the page's topics only,
and compliance matching policies against names as UTF-8 bytes.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from backbone_admin.kafka import TopicNotFound, topic_metadata
from backbone_admin.kafka.offsets import high_watermarks, log_ends, log_starts
from backbone_admin.kafka.topics import topic_summaries
from tests.conftest import independent_client_config
from topics import listing
from topics.models import RetentionPolicy
from topics.retention import governing_policy, ordered_policies
from topics.retention.compliance import cluster_compliance

pytestmark = pytest.mark.django_db


def make_topics(
    admin: AdminClient, partitions: dict[str, int], configs: dict[str, dict[str, str]] | None = None
) -> None:
    futures = admin.create_topics(
        [NewTopic(name, count, 1, config=(configs or {}).get(name, {})) for name, count in partitions.items()]
    )
    for future in futures.values():
        future.result(timeout=10)


def produce(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    """`counts[p]` records to partition p, each partition's last alone in its batch (exact latest offsets)."""
    producer = Producer(independent_client_config(bootstrap, **{"linger.ms": 0}))
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, value=f"v{i}", partition=partition)
            if i >= count - 2:
                producer.flush(10)


def independent_offsets(admin: AdminClient, wanted: list[tuple[str, int]], spec: OffsetSpec) -> list[int]:
    futures = admin.list_offsets({TopicPartition(t, p): spec for t, p in wanted}, request_timeout=10)
    answers = {(tp.topic, tp.partition): f.result(timeout=10).offset for tp, f in futures.items()}
    return [answers[tp] for tp in wanted]


def test_the_summaries_carry_the_figures_of_the_full_metadata(kafka_admin: AdminClient) -> None:
    name = f"scale-{uuid.uuid4().hex[:8]}"
    make_topics(kafka_admin, {name: 3})
    full = {
        t.name: (t.name, len(t.partitions), t.replication_factor, t.under_replicated, t.offline)
        for t in topic_metadata("local")
    }
    summaries = topic_summaries("local")
    assert [s[0] for s in summaries] == sorted(s[0] for s in summaries)
    assert (name, 3, 1, 0, 0) in summaries
    # Topics other tests create or delete meanwhile are in one answer only; the rest agree.
    both = [s for s in summaries if s[0] in full]
    assert len(both) >= len(full) - 50
    assert all(full[s[0]] == s for s in both)


def test_log_starts_and_ends_answer_as_list_offsets_does_in_the_order_asked(
    kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    name = f"scale-{uuid.uuid4().hex[:8]}"
    make_topics(kafka_admin, {name: 3})
    produce(kafka_bootstrap, name, {0: 5, 2: 2})
    wanted = [(name, 2), (name, 0), (name, 1)]
    assert log_ends("local", wanted, latest=True) == [2, 5, 0]
    assert log_ends("local", wanted, latest=True) == independent_offsets(kafka_admin, wanted, OffsetSpec.latest())
    assert log_ends("local", wanted, latest=False) == independent_offsets(kafka_admin, wanted, OffsetSpec.earliest())
    assert high_watermarks("local", wanted) == {(name, 2): 2, (name, 0): 5, (name, 1): 0}
    assert log_starts("local", wanted) == dict.fromkeys(wanted, 0)
    assert log_ends("local", [], latest=True) == []
    with pytest.raises(TopicNotFound):
        log_ends("local", [(name, 0), (f"scale-missing-{uuid.uuid4().hex[:8]}", 0)], latest=True)


def test_a_sort_by_messages_counts_every_topic_and_reads_the_configs_of_the_page_only(
    kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    topics = {f"{prefix}-a": 1, f"{prefix}-b": 2, f"{prefix}-c": 3}
    make_topics(kafka_admin, topics, {f"{prefix}-c": {"retention.ms": "3600000"}})
    produce(kafka_bootstrap, f"{prefix}-a", {0: 4})
    produce(kafka_bootstrap, f"{prefix}-b", {0: 1, 1: 1})
    produce(kafka_bootstrap, f"{prefix}-c", {0: 3, 1: 3, 2: 3})
    listing.invalidate("local")

    page = listing.topic_page("local", search=prefix, sort="messages", order="desc", page_size=2)
    assert page.warnings == []
    assert [(r.name, r.messages) for r in page.rows] == [(f"{prefix}-c", 9), (f"{prefix}-a", 4)]
    assert page.rows[0].retention_ms == 3_600_000  # the page's rows carry their configs
    counted = listing.cache_get(listing._counts_key("local"))[1]
    described = listing.cache_get(listing._enrich_key("local"))[1]
    assert {n: counted[n] for n in topics} == {f"{prefix}-a": 4, f"{prefix}-b": 2, f"{prefix}-c": 9}
    assert {n for n in described if n.startswith(prefix)} == {f"{prefix}-c", f"{prefix}-a"}

    second = listing.topic_page("local", search=prefix, sort="messages", order="desc", page=2, page_size=2)
    assert [(r.name, r.messages) for r in second.rows] == [(f"{prefix}-b", 2)]
    # Sorted by retention (1 h, then Kafka's default 7 d or none reported, by name), counts read for the page.
    by_retention = listing.topic_page("local", search=prefix, sort="retention")
    assert [(r.name, r.messages) for r in by_retention.rows] == [
        (f"{prefix}-c", 9),
        (f"{prefix}-a", 4),
        (f"{prefix}-b", 2),
    ]


def test_compliance_finds_the_governing_policy_of_each_topic_as_the_policy_itself_matches(
    kafka_admin: AdminClient,
) -> None:
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    partitions = {f"{prefix}-a1": 2, f"{prefix}-a22": 1, f"{prefix}-b1": 1, f"{prefix}.c": 3}
    make_topics(kafka_admin, partitions)
    policies = [
        RetentionPolicy.objects.create(name=f"{prefix}-glob", topic_pattern=f"{prefix}-a?", priority=9),
        RetentionPolicy.objects.create(name=f"{prefix}-re", topic_pattern=f"re:{prefix}-[ab]\\d+", priority=5),
        RetentionPolicy.objects.create(name=f"{prefix}-broken", topic_pattern="re:(unclosed", priority=7),
    ]
    rows = cluster_compliance("local", search=prefix)
    governed = {r.topic: (r.policy.name if r.policy else None, r.partitions) for r in rows}
    assert governed == {
        f"{prefix}-a1": (f"{prefix}-glob", 2),
        f"{prefix}-a22": (f"{prefix}-re", 1),
        f"{prefix}-b1": (f"{prefix}-re", 1),
        f"{prefix}.c": (None, 3),
    }
    ordered = ordered_policies()
    assert all(governed[name][0] == getattr(governing_policy(name, ordered), "name", None) for name in governed)
    assert policies[2].matches(f"{prefix}-a1") is False  # the unusable pattern governs nothing either way
