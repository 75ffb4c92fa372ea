"""Group changes that span Kafka and the audit log: rewind (offset reset) and delete.

Both check access first (require_group_access: a group the user may not see is a 404 worded
as a missing one; operator on the group rewinds, admin on it deletes; read-only clusters
refuse; every topic a rewind names must be visible, and "every topic" means every visible
one), then the group's state themselves — some brokers accept deleting an active group — and
answer 409 naming the members of an active group. Every attempt is audited before → after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from backbone_admin.audit import audited
from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import Conflict, GroupNotFound, InvalidRequest
from backbone_admin.kafka.groups import GroupDescription, alter_offsets, delete_groups
from backbone_admin.models import Role
from backbone_admin.roles import group_not_found, require_cluster_visible, require_group_role, topic_not_found
from topics.groups.lag import GroupDetail, Partition, read_group, require_group
from topics.groups.listing import invalidate
from topics.groups.rewind import RewindPlan, RewindRequest, plan_rewind
from topics.groups.scope import GroupScope, scope_for
from topics.groups.state import ACTIVE_STATES


@dataclass(frozen=True)
class GroupAccess:
    """A group the user may act on: its cluster, what the user sees there, the group as read."""

    config: ClusterConfig
    scope: GroupScope
    found: tuple[GroupDescription, dict[Partition, int]]
    role: str  # the user's role on the group

    def at_least(self, role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(role)


def require_group_access(
    user: Any, cluster: str, group: str, role: str, *, topic: str | None = None, change: bool = False
) -> GroupAccess:
    """The group if the user holds `role` on it (and sees `topic`, when a request names one).

    404 for a cluster the user does not see, for a group that does not exist or that they may
    not see (the same words), and for a hidden topic (the words of a missing topic) — all
    before the role, so a refusal never confirms a hidden name; then 403 naming the role.
    """
    config = require_cluster_visible(user, cluster)
    found = require_group(config.name, group)
    topics = {t for t, _ in found[1]}
    scope = scope_for(user, config.name)
    current = scope.group_role(group, topics)
    if current is None:
        raise group_not_found(config.name, group)
    if topic is not None and not scope.topic_visible(topic):
        raise topic_not_found(config.name, topic)
    require_group_role(user, config.name, group, role, topics=topics, change=change)
    return GroupAccess(config, scope, found, current)


def read_detail(access: GroupAccess, group: str) -> GroupDetail:
    """The group as the user may see it: only the topics visible to them (page and API)."""
    scope = access.scope
    detail = read_group(access.config.name, group, found=access.found, topic_visible=scope.topic_filter)
    detail.warnings = scope.clean_warnings(detail.warnings)
    return detail


def require_rewind_access(user: Any, cluster: str, group: str, *, topic: str | None, applying: bool) -> GroupAccess:
    """Previews are reads (viewer on the group); applying needs operator on it."""
    return require_group_access(
        user, cluster, group, Role.OPERATOR if applying else Role.VIEWER, topic=topic or None, change=applying
    )


def _check_source_group(access: GroupAccess, other: str) -> None:
    """A rewind copying another group's offsets: that group must be visible too, or it is
    answered as missing (the words plan_rewind uses for a group that does not exist)."""
    if access.scope.whole or other == access.found[0].group_id:
        return
    try:
        _, offsets = require_group(access.config.name, other)
    except GroupNotFound:
        return  # plan_rewind says so
    if not access.scope.group_visible(other, {t for t, _ in offsets}):
        message = group_not_found(access.config.name, other).message
        raise InvalidRequest(message, fields={"value": message})


def ensure_inactive(cluster: str, description: GroupDescription, doing: str) -> None:
    """Conflict (409) when the group has members or is not empty by its state."""
    members = description.members
    if not members and description.state not in ACTIVE_STATES:
        return
    listed = ", ".join(f"{m.client_id or m.member_id} ({m.host.strip('/')})" for m in members[:20])
    more = f" and {len(members) - 20} more" if len(members) > 20 else ""
    who = f"{len(members)} member(s): {listed}{more}" if members else f"state {description.state}"
    raise Conflict(
        f"consumer group `{description.group_id}` on cluster `{cluster}` is active ({who}); "
        f"stop its consumers before {doing}",
        fields={
            "state": description.state,
            "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host} for m in members],
        },
    )


def group_rewind(
    *,
    user: Any,
    cluster: str,
    group: str,
    req: RewindRequest,
    request: HttpRequest | None = None,
    checked: GroupAccess | None = None,
) -> RewindPlan:
    """Preview (dry run) or apply a rewind; the plan, as previewed or as applied.

    `checked`: the access a view checked before parsing the request (the group is not read
    again); the role and the topic are checked again for the request as parsed.
    """
    if checked is None:
        checked = require_rewind_access(user, cluster, group, topic=req.topic, applying=not req.dry_run)
    cluster = checked.config.name
    if req.topic is not None and not checked.scope.topic_visible(req.topic):
        raise topic_not_found(cluster, req.topic)
    topics = {t for t, _ in checked.found[1]}
    require_group_role(
        user, cluster, group, Role.VIEWER if req.dry_run else Role.OPERATOR, topics=topics, change=not req.dry_run
    )
    if req.to == "group":
        _check_source_group(checked, str(req.value))
    plan = plan_rewind(cluster, group, req, found=checked.found, topic_visible=checked.scope.topic_filter)
    if req.dry_run:
        return plan
    with audited(
        user=user,
        action="group.reset_offsets",
        cluster=cluster,
        target=group,
        before={"offsets": plan.offsets("current"), "to": req.to, "value": req.value},
        request=request,
    ) as change:
        ensure_inactive(cluster, plan.description, "rewinding it")
        if not plan.changes:
            raise InvalidRequest("nothing to change: no partition of this rewind has an offset to move to")
        # The broker refuses an active group too (409): the state may change after the check.
        alter_offsets(cluster, group, plan.changes)
        change.after = {"offsets": plan.offsets("new"), "re_consumed": plan.re_consumed, "skipped": plan.skipped}
    invalidate(cluster)
    return plan


def group_delete(
    *, user: Any, cluster: str, group: str, request: HttpRequest | None = None, checked: GroupAccess | None = None
) -> None:
    """Delete an empty group (admin on the group). Its offsets on topics the user may not see
    go with it: the group is theirs to manage (the audit row keeps them all)."""
    if checked is None:
        checked = require_group_access(user, cluster, group, Role.ADMIN, change=True)
    cluster = checked.config.name
    description, offsets = checked.found
    committed: dict[str, dict[str, int]] = {}
    for (t, p), o in sorted(offsets.items()):
        committed.setdefault(t, {})[str(p)] = o
    before = {"state": description.state, "offsets": committed}
    with audited(
        user=user, action="group.delete", cluster=cluster, target=group, before=before, request=request
    ) as change:
        ensure_inactive(cluster, description, "deleting it")
        delete_groups(cluster, [group])
        change.after = None
    invalidate(cluster)
