"""Consumer groups: listing, committed offsets, members."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import Future

from confluent_kafka import ConsumerGroupTopicPartitions

from backbone_admin.kafka.client import admin_client, call, require_cluster, timeout, wait
from backbone_admin.kafka.types import GroupMember, GroupSummary

Partition = tuple[str, int]


def _state_name(state: object) -> str:
    name = getattr(state, "name", str(state))
    return {
        "STABLE": "Stable",
        "EMPTY": "Empty",
        "DEAD": "Dead",
        "UNKNOWN": "Unknown",
        "PREPARING_REBALANCING": "PreparingRebalance",
        "COMPLETING_REBALANCING": "CompletingRebalance",
    }.get(name, name.title())


def list_groups(cluster_name: str) -> list[GroupSummary]:
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    future = call(lambda: admin.list_consumer_groups(request_timeout=timeout()), cluster, "listing consumer groups")
    result = wait(future, cluster, "listing consumer groups")
    groups = [
        GroupSummary(
            group_id=g.group_id,
            state=_state_name(g.state),
            is_simple=bool(g.is_simple_consumer_group),
            type=getattr(getattr(g, "type", None), "name", "classic").lower(),
        )
        for g in result.valid
    ]
    return sorted(groups, key=lambda g: g.group_id)


def committed_offsets(cluster_name: str, group_ids: Sequence[str]) -> dict[str, dict[Partition, int]]:
    """Committed offsets of each group (one request per group, sent together)."""
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    pending: list[tuple[str, Future[ConsumerGroupTopicPartitions]]] = []
    for group_id in group_ids:
        request = functools.partial(
            admin.list_consumer_group_offsets, [ConsumerGroupTopicPartitions(group_id)], request_timeout=timeout()
        )
        futures = call(request, cluster, f"reading offsets of group `{group_id}`")
        pending.extend((group_id, future) for future in futures.values())
    result: dict[str, dict[Partition, int]] = {}
    for group_id, future in pending:
        offsets = wait(future, cluster, f"reading offsets of group `{group_id}`")
        result[group_id] = {
            (tp.topic, tp.partition): tp.offset for tp in offsets.topic_partitions or [] if tp.offset >= 0
        }
    return result


def group_members(cluster_name: str, group_id: str) -> tuple[str, list[GroupMember]]:
    """(state, members) of one group."""
    cluster = require_cluster(cluster_name)
    admin = admin_client(cluster)
    futures = call(
        lambda: admin.describe_consumer_groups([group_id], request_timeout=timeout()),
        cluster,
        f"describing group `{group_id}`",
    )
    description = wait(futures[group_id], cluster, f"describing group `{group_id}`")
    members = [
        GroupMember(
            member_id=m.member_id,
            client_id=m.client_id,
            host=m.host,
            assignments=tuple(
                (tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])
            ),
        )
        for m in description.members
    ]
    return _state_name(description.state), members
