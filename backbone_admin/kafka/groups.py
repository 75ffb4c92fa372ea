"""Consumer groups: listing, committed offsets, members, offset changes, deletion.

Every request here goes to a group coordinator, so it runs in the cluster's isolated child
process (`isolation.py`): a librdkafka abort there costs one answer, not the console.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException

from backbone_admin.kafka import names
from backbone_admin.kafka.client import raise_translated, require_cluster, writable_cluster
from backbone_admin.kafka.isolation import run
from backbone_admin.kafka.types import GroupMember, GroupSummary

Partition = tuple[str, int]
# A group's offsets are read in batches: one request per group, sent together.
GROUP_BATCH = 200


def _state_name(name: str) -> str:
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
    listed = run(cluster, "list_groups", what="listing consumer groups")
    groups = [
        GroupSummary(group_id=group_id, state=_state_name(state), is_simple=is_simple, type=kind.lower())
        for group_id, state, is_simple, kind in listed
    ]
    return sorted(groups, key=lambda g: g.group_id)


def _group_failure(cluster_name: str, group_id: str, answer: tuple[str, int, str], what: str) -> None:
    raise_translated(KafkaException(KafkaError(answer[1], answer[2])), require_cluster(cluster_name), what)


def committed_offsets(cluster_name: str, group_ids: Sequence[str]) -> dict[str, dict[Partition, int]]:
    """Committed offsets of each group; partitions without a committed offset are left out."""
    names.groups(group_ids)
    cluster = require_cluster(cluster_name)
    result: dict[str, dict[Partition, int]] = {}
    for start in range(0, len(group_ids), GROUP_BATCH):
        batch = list(group_ids[start : start + GROUP_BATCH])
        answers = run(cluster, "list_group_offsets", batch, what="reading committed offsets of consumer groups")
        for group_id in batch:
            answer = answers[group_id]
            if isinstance(answer, tuple):
                _group_failure(cluster_name, group_id, answer, f"reading offsets of group `{group_id}`")
            result[group_id] = {(t, p): offset for t, p, offset in answer if offset >= 0}
    return result


def group_members(cluster_name: str, group_id: str) -> tuple[str, list[GroupMember]]:
    """(state, members) of one group."""
    names.group(group_id)
    cluster = require_cluster(cluster_name)
    what = f"describing group `{group_id}`"
    answer = run(cluster, "describe_groups", [group_id], what=what)[group_id]
    if isinstance(answer, tuple):
        _group_failure(cluster_name, group_id, answer, what)
    members = [
        GroupMember(member_id=member_id, client_id=client_id, host=host, assignments=tuple(map(tuple, assigned)))
        for member_id, client_id, host, assigned in answer["members"]
    ]
    return _state_name(answer["state"]), members


@dataclass(frozen=True)
class GroupDescription:
    group_id: str
    state: str
    assignor: str
    coordinator: int | None
    members: tuple[GroupMember, ...]


def _description(group_id: str, answer: dict[str, object]) -> GroupDescription:
    members = answer["members"]
    assert isinstance(members, list)
    coordinator = answer["coordinator"]
    return GroupDescription(
        group_id=group_id,
        state=_state_name(str(answer["state"])),
        assignor=str(answer["assignor"] or ""),
        coordinator=coordinator if isinstance(coordinator, int) else None,
        members=tuple(
            GroupMember(member_id=member_id, client_id=client_id, host=host, assignments=tuple(map(tuple, assigned)))
            for member_id, client_id, host, assigned in members
        ),
    )


def describe_groups(cluster_name: str, group_ids: Sequence[str]) -> dict[str, GroupDescription]:
    """State, assignor, coordinator and members of many groups, described in batches.

    A group whose description failed is left out (the caller shows it as unknown); a
    cluster that does not answer raises as usual.
    """
    names.groups(group_ids)
    cluster = require_cluster(cluster_name)
    result: dict[str, GroupDescription] = {}
    for start in range(0, len(group_ids), GROUP_BATCH):
        batch = list(group_ids[start : start + GROUP_BATCH])
        answers = run(cluster, "describe_groups", batch, what="describing consumer groups")
        for group_id, answer in answers.items():
            if isinstance(answer, dict):
                result[group_id] = _description(group_id, answer)
    return result


def describe_group(cluster_name: str, group_id: str) -> GroupDescription:
    """One group's state, assignor, coordinator and members."""
    names.group(group_id)
    cluster = require_cluster(cluster_name)
    what = f"describing group `{group_id}`"
    answer = run(cluster, "describe_groups", [group_id], what=what)[group_id]
    if isinstance(answer, tuple):
        _group_failure(cluster_name, group_id, answer, what)
    return _description(group_id, answer)


def alter_offsets(cluster_name: str, group_id: str, offsets: Mapping[Partition, int]) -> None:
    """Commit the given offsets for an empty group (Kafka refuses it for an active one: 409)."""
    names.group(group_id)
    names.topics({t for t, _ in offsets})
    cluster = writable_cluster(cluster_name, "changing consumer group offsets")
    request = [(t, p, o) for (t, p), o in sorted(offsets.items())]
    run(cluster, "alter_group_offsets", group_id, request, what=f"changing offsets of group `{group_id}`")


def delete_groups(cluster_name: str, group_ids: Sequence[str]) -> None:
    names.groups(group_ids)
    cluster = writable_cluster(cluster_name, "deleting consumer groups")
    run(cluster, "delete_groups", list(group_ids), what=f"deleting group(s) {', '.join(group_ids)}")
