"""A group's state as people read it, from one source for every page.

The topic page, the group list and the group page all take a group's state, members and
assignor from DescribeConsumerGroups (the coordinator's own answer). ListGroups' state is
only a summary, and some brokers leave it UNKNOWN: a page built on it disagreed with one
built on the description ("Unknown" on the topic page, "Stable" on the group page).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from backbone_admin.kafka.groups import GroupDescription, describe_group, describe_groups

ACTIVE_STATES = frozenset({"Stable", "PreparingRebalance", "CompletingRebalance"})

# Built-in assignors of the Java client and librdkafka, by protocol name or class name.
_ASSIGNORS = {
    "range": "range",
    "rangeassignor": "range",
    "roundrobin": "roundrobin",
    "roundrobinassignor": "roundrobin",
    "sticky": "sticky",
    "stickyassignor": "sticky",
    "cooperative-sticky": "cooperative-sticky",
    "cooperativestickyassignor": "cooperative-sticky",
    "uniform": "uniform",
    "uniformassignor": "uniform",
}
SHORT_MAX = 24


def describe(cluster: str, group_ids: Sequence[str]) -> dict[str, GroupDescription]:
    """Descriptions of the groups; a group whose own description failed is left out."""
    return describe_groups(cluster, list(group_ids)) if group_ids else {}


def describe_one(cluster: str, group_id: str) -> GroupDescription:
    """One group's description; its own error (not the coordinator, …) raised."""
    found = describe(cluster, [group_id]).get(group_id)
    # Asked again only when it failed: the single-group call raises the group's error.
    return found if found is not None else describe_group(cluster, group_id)


def short_assignor(name: str) -> str:
    """`range` for `range` or `org.apache.kafka.clients.consumer.RangeAssignor`; others cut to a few words."""
    name = name.strip()
    if not name:
        return ""
    last = re.split(r"[.$]", name)[-1]
    known = _ASSIGNORS.get(last.lower())
    if known:
        return known
    if last != name and last.endswith("Assignor") and len(last) > len("Assignor"):
        last = last[: -len("Assignor")]  # a class name: the suffix says nothing
    return last if len(last) <= SHORT_MAX else last[: SHORT_MAX - 1] + "…"


def members_label(state: str, members: int) -> str:
    """`3 members`; an active state with none says the broker reports none (it is not a count we made up)."""
    if members:
        return f"{members} member{'' if members == 1 else 's'}"
    if state in ACTIVE_STATES:
        return "no members (broker reports none)"
    return "no members"


def state_label(state: str, members: int) -> str:
    """`Stable · 2 members`, `Empty · no members`, `Stable · no members (broker reports none)`."""
    return f"{state} · {members_label(state, members)}"
