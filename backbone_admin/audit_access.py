"""Which audit entries a user may read: none of them may show a resource the user cannot see.

The audit log is for admins of the whole console (a global admin role: the log spans
clusters, users and tokens), and they read every entry. The rule below is what anyone else
would be shown, applied by the page and the API all the same, so that opening the log wider
can never show hidden topics or groups:

- an entry on a cluster the user administers whole (admin without patterns) is shown;
- otherwise only an entry whose target resolves to resources the user may see is shown:
  `topic.*` and `retention.apply` (the target is the topic); `group.*` (the target is the
  group, visible as on its own page; the topics of the offsets in its before/after must all
  be visible too); a job's start and end (`topic` or `topic → cluster/target`: both topics
  must be visible);
- everything else (entries with no cluster — users, tokens, policies, sign-ins — ACLs and
  SCRAM users, grants, denials recorded with their URL, job entries naming only a job
  number) is shown to admins only: its target is not structured enough to be sure it names
  nothing hidden.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from backbone_admin.access import Access, access_for
from backbone_admin.models import AuditEntry, Role

JOB_ARROW = " → "


def _offset_topics(entry: AuditEntry) -> list[str]:
    """The topics a group entry's offsets (before and after) name."""
    topics: list[str] = []
    for state in (entry.before, entry.after):
        offsets = state.get("offsets") if isinstance(state, dict) else None
        topics += [str(t) for t in offsets] if isinstance(offsets, dict) else []
    return topics


def _job_topics(entry: AuditEntry) -> list[tuple[str, str]] | None:
    """(cluster, topic) pairs a job entry's target names; None when it names none."""
    if entry.action.endswith((".start", ".end")) and entry.target and not entry.target.startswith("job "):
        source, _, rest = entry.target.partition(JOB_ARROW)
        pairs = [(entry.cluster, source)]
        if rest:
            cluster, slash, topic = rest.partition("/")
            if not slash:
                return None
            pairs.append((cluster, topic))
        return pairs
    return None


def entry_visible(access: Access, entry: AuditEntry) -> bool:
    """Whether a user who is not a global admin may read this entry (see the module's rule)."""
    cluster = entry.cluster
    if not cluster or not access.sees_cluster(cluster):
        return False
    if Role.rank(access.cluster_role(cluster)) >= Role.rank(Role.ADMIN):
        return True
    family = entry.action.split(".", 1)[0]
    if family == "topic" or entry.action == "retention.apply":
        return access.topic_role(cluster, entry.target) is not None
    if family == "group":
        # Its offsets name topics: every one of them must be visible too.
        topics = _offset_topics(entry)
        return access.group_role(cluster, entry.target, topics) is not None and all(
            access.topic_role(cluster, t) is not None for t in topics
        )
    if family == "job":
        pairs = _job_topics(entry)
        return pairs is not None and all(access.topic_role(c, t) is not None for c, t in pairs)
    return False


def visible_entries(user: Any, entries: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
    """The entries the user may read, in order: the queryset itself for a global admin."""
    access = access_for(user)
    if Role.rank(access.global_role()) >= Role.rank(Role.ADMIN):
        return entries
    candidates = entries.only("pk", "action", "cluster", "target", "before").iterator()
    return entries.filter(pk__in=[e.pk for e in candidates if entry_visible(access, e)])
