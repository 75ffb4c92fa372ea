"""Retention policy writes (database, admin only): create, update, delete, YAML import/export."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from backbone_admin.audit import audited, record
from backbone_admin.kafka import InvalidRequest
from backbone_admin.models import Role
from backbone_admin.roles import require_global_role
from topics.models import RetentionPolicy, clean_policy

log = logging.getLogger("backbone.retention")


def policy_create(*, user: Any, data: Mapping[str, Any], request: HttpRequest | None = None) -> RetentionPolicy:
    require_global_role(user, Role.ADMIN)
    clean = clean_policy(data)
    policy = RetentionPolicy(updated_by=_user_or_none(user))
    policy.apply_clean(clean)
    with audited(user=user, action="retention_policy.create", target=policy.name, request=request) as change:
        policy.save()
        change.after = policy.as_document()
    return policy


def policy_update(
    *, user: Any, policy: RetentionPolicy, data: Mapping[str, Any], request: HttpRequest | None = None
) -> RetentionPolicy:
    """Change the fields given in `data`; the others keep their values."""
    require_global_role(user, Role.ADMIN)
    clean = clean_policy(data, current=policy)
    before = policy.as_document()
    with audited(
        user=user, action="retention_policy.update", target=policy.name, before=before, request=request
    ) as change:
        policy.apply_clean(clean)
        policy.updated_by = _user_or_none(user)
        policy.save()
        change.after = policy.as_document()
    return policy


def policy_delete(*, user: Any, policy: RetentionPolicy, request: HttpRequest | None = None) -> None:
    require_global_role(user, Role.ADMIN)
    with audited(
        user=user, action="retention_policy.delete", target=policy.name, before=policy.as_document(), request=request
    ):
        policy.delete()


def policies_export() -> list[dict[str, Any]]:
    return [p.as_document() for p in RetentionPolicy.objects.by_priority()]


# The fields of a policy in a YAML file, as `policies_export` writes them.
_DOC_FIELDS = ("name", "description", "topic_pattern", "priority", "configs", "min_retention", "max_retention")


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def policies_import(*, user: Any, documents: Any, prune: bool = False) -> ImportReport:
    """Upsert policies by name from a list of documents; all or nothing.

    Every document is validated before anything is written; `prune` deletes the policies
    the documents do not name. `user` None is the command line (audited without a user).
    """
    if user is not None:
        require_global_role(user, Role.ADMIN)
    if not isinstance(documents, list):
        raise InvalidRequest("the file must hold a list of policies (or `policies:` and a list)")
    if prune and not documents:
        raise InvalidRequest("an empty file with prune would delete every policy; refused")
    problems: dict[str, Any] = {}
    seen: set[str] = set()
    for index, doc in enumerate(documents):
        where = f"policy {index + 1}"
        if not isinstance(doc, Mapping):
            problems[where] = "each policy is a mapping of name, topic_pattern, priority, configs, …"
            continue
        where = f"policy {index + 1} (`{doc.get('name', '?')}`)"
        unknown = set(doc) - {*_DOC_FIELDS}
        if unknown:
            problems[where] = f"unknown fields {', '.join(sorted(map(str, unknown)))}"
            continue
        name = str(doc.get("name", "")).strip()
        if name in seen:
            problems[where] = f"`{name}` appears twice in the file"
            continue
        seen.add(name)
    if problems:
        raise InvalidRequest(f"Invalid policies file: {_summary(problems)}", fields=problems)

    report = ImportReport()
    with transaction.atomic():
        existing = {p.name: p for p in RetentionPolicy.objects.select_for_update()}
        planned: list[tuple[RetentionPolicy, dict[str, Any] | None]] = []
        for index, doc in enumerate(documents):
            current = existing.get(str(doc.get("name", "")).strip())
            # A document is the whole policy: fields it leaves out go back to their defaults.
            full = {"description": "", "priority": 0, "configs": {}, "min_retention": None, "max_retention": None}
            try:
                clean = clean_policy(full | dict(doc), current=current)
            except InvalidRequest as exc:
                problems[f"policy {index + 1} (`{doc.get('name', '?')}`)"] = exc.fields or exc.message
                continue
            policy = current or RetentionPolicy()
            before = current.as_document() if current else None
            policy.apply_clean(clean)
            if before is None:
                report.created.append(policy.name)
            elif before != policy.as_document():
                report.updated.append(policy.name)
            else:
                report.unchanged.append(policy.name)
                continue
            planned.append((policy, before))
        if problems:
            raise InvalidRequest(f"Invalid policies file: {_summary(problems)}", fields=problems)
        for policy, before in planned:
            policy.updated_by = _user_or_none(user)
            policy.save()
            action = "retention_policy.create" if before is None else "retention_policy.update"
            record(user=user, action=action, target=policy.name, before=before, after=policy.as_document())
        if prune:
            for name, policy in sorted(existing.items()):
                if name not in seen:
                    document = policy.as_document()
                    policy.delete()
                    record(user=user, action="retention_policy.delete", target=name, before=document)
                    report.deleted.append(name)
    return report


def _summary(problems: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in problems.items())


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None
