from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    """The four roles, lowest first; each includes everything below it."""

    VIEWER = "viewer", "Viewer"
    READER = "reader", "Reader"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"

    @classmethod
    def rank(cls, role: str | None) -> int:
        order = [cls.VIEWER, cls.READER, cls.OPERATOR, cls.ADMIN]
        return order.index(cls(role)) + 1 if role else 0


class ClusterGrant(models.Model):
    """A role for one user on one cluster, on top of the user's global role."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cluster_grants")
    cluster = models.CharField(max_length=63)
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "cluster"], name="one_grant_per_user_cluster")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} on {self.cluster}"


class Grant(models.Model):
    """A role for a user or for directory groups, on every cluster or one, on all its resources
    or only on the topics and consumer groups its patterns match (glob, or `re:` + RE2 regex).

    A grant without patterns covers the whole cluster, as ClusterGrant does. A group grant's
    subject is a glob on directory group names (OIDC claim, LDAP groups): `kafka-orders-*`.
    """

    class Subject(models.TextChoices):
        USER = "user", "User"
        GROUP = "group", "Group"

    subject_type = models.CharField(max_length=8, choices=Subject.choices)
    subject = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role.choices)
    cluster = models.CharField(max_length=63, blank=True, help_text="empty: every cluster")
    topics = models.JSONField(default=list, blank=True)
    groups = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["subject_type", "subject", "cluster", "id"]

    def __str__(self) -> str:
        where = self.cluster or "every cluster"
        scope = ""
        if self.scoped:
            scope = (
                " ("
                + ", ".join(
                    part
                    for part in (
                        f"topics {', '.join(self.topics)}" if self.topics else "",
                        f"groups {', '.join(self.groups)}" if self.groups else "",
                    )
                    if part
                )
                + ")"
            )
        return f"{self.subject_type} {self.subject} is {self.role} on {where}{scope}"

    @property
    def scoped(self) -> bool:
        return bool(self.topics or self.groups)

    def as_dict(self) -> dict[str, Any]:
        """The grant as the permissions file and the audit log write it."""
        out: dict[str, Any] = {self.subject_type: self.subject, "role": self.role}
        if self.cluster:
            out["cluster"] = self.cluster
        if self.topics:
            out["topics"] = list(self.topics)
        if self.groups:
            out["groups"] = list(self.groups)
        if self.note:
            out["note"] = self.note
        return out


class DirectoryGroups(models.Model):
    """The groups the identity provider or LDAP said a user is in, replaced at every sign-in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_groups")
    groups = models.JSONField(default=list)
    source = models.CharField(max_length=16)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} in {', '.join(self.groups) or 'no group'} ({self.source})"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def for_key(self, key: str) -> ApiToken | None:
        """The token with this key whatever its state; the caller says why it may not be used."""
        return self.select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()

    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True)


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 is stored, the key is shown once.

    A token expires (API_TOKEN_DAYS by default) and can be revoked; a revoked token keeps its
    row so that its holder is told why it stopped working and the list shows its history.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def label(self) -> str:
        return f"bbc_{self.prefix}…"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return self.Status.REVOKED.value
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED.value
        return self.Status.ACTIVE.value

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: Any, *, name: str = "", days: int | None = None) -> tuple[ApiToken, str]:
        key = "bbc_" + secrets.token_urlsafe(32)
        lifetime = timedelta(days=days if days is not None else settings.API_TOKEN_DAYS)
        token = cls.objects.create(
            user=user,
            name=name,
            key_hash=cls.hash_key(key),
            prefix=key[4:12],
            expires_at=timezone.now() + lifetime,
        )
        return token, key


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def failures(self) -> AuditEntryQuerySet:
        return self.exclude(result=AuditEntry.Result.OK)


class AuditEntry(models.Model):
    """Who did what to which target, the state before and after, and how it ended."""

    class Result(models.TextChoices):
        OK = "ok", "OK"
        # A replay or export that ran to its end while the broker had deleted part of its range.
        GAPS = "gaps", "Completed with gaps"
        ERROR = "error", "Error"
        DENIED = "denied", "Denied"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    cluster = models.CharField(max_length=63, blank=True)
    target = models.CharField(max_length=512, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    result = models.CharField(max_length=8, choices=Result.choices, default=Result.OK)
    error = models.TextField(blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.target} {self.result}"
