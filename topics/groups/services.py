"""Group changes that span Kafka and the audit log: rewind (offset reset) and delete.

Both check the role first (operator rewinds, admin deletes; read-only clusters refuse),
then the group's state themselves — some brokers accept deleting an active group — and
answer 409 naming the members of an active group. Every attempt is audited before → after.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from backbone_admin.audit import audited
from backbone_admin.kafka import Conflict, InvalidRequest
from backbone_admin.kafka.groups import GroupDescription, alter_offsets, delete_groups
from backbone_admin.models import Role
from backbone_admin.roles import require_role
from topics.groups.lag import require_group
from topics.groups.listing import invalidate
from topics.groups.rewind import RewindPlan, RewindRequest, plan_rewind
from topics.groups.state import ACTIVE_STATES


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
    *, user: Any, cluster: str, group: str, req: RewindRequest, request: HttpRequest | None = None
) -> RewindPlan:
    """Preview (dry run) or apply a rewind; the plan, as previewed or as applied."""
    require_role(user, cluster, Role.OPERATOR if not req.dry_run else Role.VIEWER, change=not req.dry_run)
    plan = plan_rewind(cluster, group, req)
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


def group_delete(*, user: Any, cluster: str, group: str, request: HttpRequest | None = None) -> None:
    """Delete an empty group (admin)."""
    require_role(user, cluster, Role.ADMIN, change=True)
    description, offsets = require_group(cluster, group)
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
