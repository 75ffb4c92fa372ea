"""Grant writes (admin only), one layer for the page, the API and `manage.py permissions`:
validate, create, update, delete (each audited with before/after), and the YAML import/export.

A grant in a document (the YAML file, an audit row) is `Grant.as_dict()`:
    {group: "kafka-orders-*", role: reader, cluster: local, topics: ["orders.*"], groups: ["orders-*"]}
    {user: alice, role: operator}
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from backbone_admin import audit
from backbone_admin.access import validate_patterns
from backbone_admin.clusters import all_clusters, get_cluster
from backbone_admin.kafka.errors import InvalidRequest
from backbone_admin.models import Grant, Role
from backbone_admin.patterns import PatternError, compile_glob
from backbone_admin.roles import require_global_role

# Grants that came from the mapping file carry this note (and the file's own note after it):
# re-importing the file replaces exactly those, and leaves the grants admins made in the console.
FILE_NOTE = "permissions file"
MAX_PATTERNS = 50
DOC_FIELDS = {"user", "group", "role", "cluster", "topics", "groups", "note"}
NOTE_MAX = Grant._meta.get_field("note").max_length or 200
SUBJECT_MAX = Grant._meta.get_field("subject").max_length or 150


def permissions_file() -> Path | None:
    """The group→role mapping file: BACKBONE_PERMISSIONS_FILE, else `permissions.yml` beside the
    clusters file; None when neither is set (a console without a clusters file has no mapping file)."""
    named = str(getattr(settings, "BACKBONE_PERMISSIONS_FILE", "") or os.environ.get("BACKBONE_PERMISSIONS_FILE", ""))
    named = named.strip()
    if named:
        return Path(named)
    clusters_file = str(getattr(settings, "BACKBONE_CLUSTERS_FILE", "") or "")
    return Path(clusters_file).parent / "permissions.yml" if clusters_file else None


def is_from_file(grant: Grant) -> bool:
    return grant.note == FILE_NOTE or grant.note.startswith(FILE_NOTE + ":")


def _file_note(note: str) -> str:
    note = _strip_file_note(note)
    return (f"{FILE_NOTE}: {note}" if note else FILE_NOTE)[:NOTE_MAX]


def _strip_file_note(note: str) -> str:
    if note == FILE_NOTE:
        return ""
    return note[len(FILE_NOTE) + 1 :].strip() if note.startswith(FILE_NOTE + ":") else note


# -- validation -----------------------------------------------------------------------------


def _pattern_list(value: Any, field_name: str) -> list[str]:
    """A list of patterns, or text with one per line (or comma-separated), each checked on RE2."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.replace(",", "\n").splitlines()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{field_name} must be a list of patterns", fields={field_name: "a list of patterns"})
    if any("\x00" in v for v in value):
        raise InvalidRequest(f"{field_name}: no NUL characters", fields={field_name: "no NUL characters"})
    try:
        patterns = validate_patterns(value, field_name)
    except PatternError as exc:
        raise InvalidRequest(exc.message, fields={field_name: exc.message}) from None
    if len(patterns) > MAX_PATTERNS:
        message = f"at most {MAX_PATTERNS} patterns ({len(patterns)})"
        raise InvalidRequest(f"{field_name}: {message}", fields={field_name: message})
    return list(dict.fromkeys(patterns))


def clean_grant(data: Mapping[str, Any]) -> dict[str, Any]:
    """The model fields of a grant from what a person typed; InvalidRequest names every bad field."""
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in ("subject", "cluster", "note"):
        if "\x00" in str(data.get(name) or ""):
            problems[name] = "no NUL characters"
    subject_type = str(data.get("subject_type") or "").strip()
    if subject_type not in Grant.Subject.values:
        problems["subject_type"] = "who the grant is for: `user` or `group`"
    subject = str(data.get("subject") or "").strip()
    if not subject:
        problems["subject"] = "a username, or a glob on directory group names (`kafka-orders-*`)"
    elif len(subject) > SUBJECT_MAX:
        problems["subject"] = f"at most {SUBJECT_MAX} characters"
    elif subject_type == Grant.Subject.USER and any(c.isspace() for c in subject):
        problems["subject"] = "a username has no spaces"
    elif subject_type == Grant.Subject.GROUP:
        try:
            compile_glob(subject, field="subject")
        except PatternError as exc:
            problems["subject"] = exc.message
    role = str(data.get("role") or "").strip()
    if role not in Role.values:
        problems["role"] = f"one of {', '.join(Role.values)}"
    cluster = str(data.get("cluster") or "").strip()
    if cluster and get_cluster(cluster) is None:
        known = ", ".join(c.name for c in all_clusters())
        problems["cluster"] = f"cluster `{cluster}` is not configured (configured: {known}); empty means every cluster"
    note = str(data.get("note") or "").strip()
    if len(note) > NOTE_MAX:
        problems["note"] = f"at most {NOTE_MAX} characters"
    for name in ("topics", "groups"):
        try:
            clean[name] = _pattern_list(data.get(name), name)
        except InvalidRequest as exc:
            problems[name] = str(exc.fields.get(name) or exc.message)
    if problems:
        summary = "; ".join(f"{k}: {v}" for k, v in problems.items())
        raise InvalidRequest(f"Invalid grant: {summary}", fields=problems)
    clean.update(subject_type=subject_type, subject=subject, role=role, cluster=cluster, note=note)
    return clean


# -- reads ----------------------------------------------------------------------------------


def query_param(params: Mapping[str, Any], name: str, limit: int = 255) -> str:
    """A query parameter as text, capped; a NUL (which PostgreSQL refuses in a query) is a 400."""
    value = str(params.get(name) or "").strip()
    if "\x00" in value or len(value) > limit:
        message = f"at most {limit} characters, no NUL"
        raise InvalidRequest(f"{name}: {message}", fields={name: message})
    return value


def grants_filtered(params: Mapping[str, Any]) -> QuerySet[Grant]:
    """Grants for the list: `subject` (substring), `cluster` (exact; `*` = the every-cluster ones), `role`."""
    grants = Grant.objects.all()
    if subject := query_param(params, "subject"):
        grants = grants.filter(Q(subject__icontains=subject) | Q(note__icontains=subject))
    if cluster := query_param(params, "cluster"):
        grants = grants.filter(cluster="" if cluster == "*" else cluster)
    if role := query_param(params, "role"):
        grants = grants.filter(role=role)
    return grants


# -- writes ---------------------------------------------------------------------------------


def _target(grant: Grant) -> str:
    return f"grant #{grant.pk} {grant.subject_type} {grant.subject}"


def grant_create(*, user: Any, data: Mapping[str, Any], request: HttpRequest | None = None) -> Grant:
    require_global_role(user, Role.ADMIN)
    grant = Grant(**clean_grant(data))
    with transaction.atomic():
        grant.save()
        audit.record(
            user=user,
            action="grant.create",
            cluster=grant.cluster,
            target=_target(grant),
            after=grant.as_dict(),
            request=request,
        )
    return grant


def grant_update(*, user: Any, grant: Grant, data: Mapping[str, Any], request: HttpRequest | None = None) -> Grant:
    """Replace the grant's fields with `data` (all of them: a field left out takes its default)."""
    require_global_role(user, Role.ADMIN)
    clean = clean_grant(data)
    before = grant.as_dict()
    with transaction.atomic():
        for name, value in clean.items():
            setattr(grant, name, value)
        grant.save()
        audit.record(
            user=user,
            action="grant.update",
            cluster=grant.cluster,
            target=_target(grant),
            before=before,
            after=grant.as_dict(),
            request=request,
        )
    return grant


def grant_delete(*, user: Any, grant: Grant, request: HttpRequest | None = None) -> None:
    require_global_role(user, Role.ADMIN)
    with transaction.atomic():
        target, before = _target(grant), grant.as_dict()
        grant.delete()
        audit.record(user=user, action="grant.delete", cluster=before.get("cluster", ""), target=target, before=before)


# -- the YAML file --------------------------------------------------------------------------


def grants_export() -> list[dict[str, Any]]:
    return [g.as_dict() for g in Grant.objects.order_by("subject_type", "subject", "cluster", "id")]


def _key(clean: Mapping[str, Any]) -> tuple[Any, ...]:
    """What identifies a grant in a file: who, where and which resources (role and note may change)."""
    return (clean["subject_type"], clean["subject"], clean["cluster"], tuple(clean["topics"]), tuple(clean["groups"]))


def _document_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A file's `{user: x}` / `{group: g}` form as clean_grant's fields; ValueError says what is wrong."""
    unknown = set(map(str, doc)) - DOC_FIELDS
    if unknown:
        raise ValueError(f"unknown fields {', '.join(sorted(unknown))} (known: {', '.join(sorted(DOC_FIELDS))})")
    who = [k for k in ("user", "group") if k in doc]
    if len(who) != 1:
        raise ValueError("each grant names exactly one `user:` or `group:`")
    return {
        "subject_type": who[0],
        "subject": doc[who[0]],
        **{k: doc.get(k) for k in ("role", "cluster", "topics", "groups", "note")},
    }


@dataclass
class ImportReport:
    added: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (before, after)
    removed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    dry_run: bool = False

    @property
    def summary(self) -> str:
        counts = f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
        return counts + f"{self.unchanged} unchanged" + (" (dry run: nothing changed)" if self.dry_run else "")


def grants_import(
    *,
    user: Any,
    documents: Any,
    replace: bool = False,
    dry_run: bool = False,
    from_file: bool = False,
    request: HttpRequest | None = None,
) -> ImportReport:
    """Upsert grants from documents; all or nothing, every document validated before any write.

    A grant is matched on who, cluster and patterns; its role and note are updated. `replace`
    deletes the grants the documents do not name. `from_file` is the mapping file: its grants
    are marked with FILE_NOTE and only marked grants are compared and replaced (always), so
    the grants admins made in the console stay. `user` None is the command line.
    """
    if user is not None:
        require_global_role(user, Role.ADMIN)
    if not isinstance(documents, list):
        raise InvalidRequest("the file must hold `grants:` and a list of grants")
    replace = replace or from_file
    problems: dict[str, Any] = {}
    wanted: dict[tuple[Any, ...], dict[str, Any]] = {}
    for index, doc in enumerate(documents):
        where = f"grant {index + 1}"
        if not isinstance(doc, Mapping):
            problems[where] = "each grant is a mapping: {group: …, role: …, cluster: …, topics: […], groups: […]}"
            continue
        try:
            clean = clean_grant(_document_fields(doc))
        except ValueError as exc:
            problems[where] = str(exc)
            continue
        except InvalidRequest as exc:
            problems[where] = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
            continue
        if from_file:
            clean["note"] = _file_note(clean["note"])
        if _key(clean) in wanted:
            problems[where] = "the same subject, cluster and patterns appear twice in the file"
            continue
        wanted[_key(clean)] = clean
    if problems:
        summary = "; ".join(f"{k}: {v}" for k, v in problems.items())
        raise InvalidRequest(f"Invalid permissions file, nothing imported: {summary}", fields=problems)

    report = ImportReport(dry_run=dry_run)
    with transaction.atomic():
        existing = list(Grant.objects.select_for_update().order_by("id"))
        if from_file:
            existing = [g for g in existing if is_from_file(g)]
        by_key: dict[tuple[Any, ...], list[Grant]] = {}
        for grant in existing:
            by_key.setdefault(_key(grant.__dict__), []).append(grant)
        writes: list[tuple[str, Grant, dict[str, Any] | None]] = []
        for key, clean in wanted.items():
            matches = by_key.get(key, [])
            if not matches:
                writes.append(("grant.create", Grant(**clean), None))
                continue
            grant = matches.pop(0)
            if (grant.role, grant.note) == (clean["role"], clean["note"]):
                report.unchanged += 1
                continue
            was = grant.as_dict()
            grant.role, grant.note = clean["role"], clean["note"]
            writes.append(("grant.update", grant, was))
        leftovers = [g for grants in by_key.values() for g in grants] if replace else []
        for _action, grant, was_or_none in writes:
            if was_or_none is None:
                report.added.append(grant.as_dict())
            else:
                report.changed.append((was_or_none, grant.as_dict()))
        report.removed = [g.as_dict() for g in sorted(leftovers, key=lambda g: g.pk)]
        if dry_run:
            return report
        for action, grant, was_or_none in writes:
            grant.save()
            audit.record(
                user=user,
                action=action,
                cluster=grant.cluster,
                target=_target(grant),
                before=was_or_none,
                after=grant.as_dict(),
                request=request,
            )
        for grant in leftovers:
            target, before_doc = _target(grant), grant.as_dict()
            grant.delete()
            audit.record(
                user=user,
                action="grant.delete",
                cluster=grant.cluster,
                target=target,
                before=before_doc,
                request=request,
            )
    return report


def describe(doc: Mapping[str, Any]) -> str:
    """One grant document as a line of the import's diff."""
    who = f"user {doc['user']}" if "user" in doc else f"group {doc.get('group')}"
    where = f"cluster {doc['cluster']}" if doc.get("cluster") else "every cluster"
    scope = "".join(f"; {k} {', '.join(doc[k])}" for k in ("topics", "groups") if doc.get(k))
    note = f" — {doc['note']}" if doc.get("note") else ""
    return f"{who}: {doc.get('role')} on {where}{scope}{note}"


def file_grant_count(grants: Iterable[Grant]) -> int:
    return sum(1 for g in grants if is_from_file(g))
