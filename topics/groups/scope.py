"""What one user sees of a cluster's consumer groups, by the rule of backbone_admin/access.py.

A group is visible when a consumer-group pattern of the user's grants matches it, or when it
has committed offsets on a topic the user may see. Of a visible group the pages show only
the topics the user may see: partitions, members' assignments, lag totals, lag history and
warnings leave the others out, so a hidden topic never shows through a group.

Users who see the whole cluster (a role on it without patterns) get `whole`, and every
method is then a pass-through: their pages are computed exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from backbone_admin.access import Access, access_for


@dataclass(frozen=True)
class GroupScope:
    cluster: str
    whole: bool  # the user sees every topic and group of the cluster
    access: Access | None = None
    topic_role: Callable[[str], str | None] | None = None

    def topic_visible(self, topic: str) -> bool:
        return self.whole or (self.topic_role is not None and self.topic_role(topic) is not None)

    def visible_topics(self, topics: Iterable[str]) -> list[str]:
        return list(topics) if self.whole else [t for t in topics if self.topic_visible(t)]

    def group_named(self, group: str) -> bool:
        """Visible by a consumer-group pattern alone (no need to read what it committed on)."""
        return self.whole or (self.access is not None and self.access.group_role(self.cluster, group) is not None)

    def group_role(self, group: str, topics: Iterable[str]) -> str | None:
        return self.access.group_role(self.cluster, group, topics) if self.access is not None else None

    def group_visible(self, group: str, topics: Iterable[str]) -> bool:
        return self.whole or self.group_named(group) or any(self.topic_visible(t) for t in topics)

    @property
    def topic_filter(self) -> Callable[[str], bool] | None:
        """None when every topic is visible (callers then skip filtering), else `topic_visible`."""
        return None if self.whole else self.topic_visible

    def clean_warnings(self, warnings: Iterable[str]) -> list[str]:
        """Warnings without those naming a topic the user may not see (a deleted one included)."""
        warnings = list(warnings)
        if self.whole:
            return warnings
        return [w for w in warnings if all(self.topic_visible(t) for t in _TOPIC_NAMED.findall(w))]


_TOPIC_NAMED = re.compile(r"topic `([^`]*)`")


def scope_for(user: Any, cluster: str) -> GroupScope:
    """The user's view of the cluster's groups; call after require_cluster_visible."""
    access = access_for(user)
    if access.all_groups_visible(cluster):
        return GroupScope(cluster, True, access)
    return GroupScope(cluster, False, access, access.topic_roles(cluster))
