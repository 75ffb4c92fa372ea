from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import models

from backbone_admin.kafka.errors import InvalidRequest
from backbone_admin.patterns import Pattern, PatternError, compile_topic_pattern
from topics.groups.models import LagSample as LagSample  # re-exported: the app's models live here
from topics.throughput.models import ThroughputLatest as ThroughputLatest  # re-exported likewise
from topics.throughput.models import ThroughputSample as ThroughputSample

log = logging.getLogger("backbone.retention")


class RetentionPolicyQuerySet(models.QuerySet["RetentionPolicy"]):
    def by_priority(self) -> RetentionPolicyQuerySet:
        """Highest priority first; equal priorities by name, so the order is stable."""
        return self.order_by("-priority", "name")


class RetentionPolicy(models.Model):
    """How long topics matching a pattern keep their events, plus guardrails for edits."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    topic_pattern = models.CharField(max_length=500, help_text="glob (orders.*), or re: for a regular expression")
    priority = models.IntegerField(default=0, help_text="the highest-priority matching policy governs a topic")
    configs = models.JSONField(default=dict, blank=True, help_text="topic configs it prescribes, as Kafka strings")
    min_retention_ms = models.BigIntegerField(null=True, blank=True)
    max_retention_ms = models.BigIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = RetentionPolicyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return self.name

    @cached_property
    def _regex(self) -> Pattern | None:
        try:
            return compile_topic_pattern(self.topic_pattern)
        except PatternError as exc:
            # Saved before patterns were checked with RE2 (or its limits lowered): it governs nothing.
            log.warning("retention policy %s has an unusable topic pattern: %s", self.name, exc.message)
            return None

    def matches(self, topic: str) -> bool:
        return self._regex is not None and self._regex.fullmatch(topic)

    def as_document(self) -> dict[str, Any]:
        """The policy as operators keep it in git and as the audit log records it."""
        from topics.units import format_duration_ms

        guardrails = {
            field: format_duration_ms(value)
            for field, value in (("min_retention", self.min_retention_ms), ("max_retention", self.max_retention_ms))
            if value is not None
        }
        return {
            "name": self.name,
            "description": self.description,
            "topic_pattern": self.topic_pattern,
            "priority": self.priority,
            "configs": dict(sorted(self.configs.items())),
            **guardrails,
        }

    def apply_clean(self, clean: Mapping[str, Any]) -> None:
        for field, value in clean.items():
            setattr(self, field, value)
        self.__dict__.pop("_regex", None)


# Policy names are URL slugs; `new` is the create page's address.
RESERVED_POLICY_NAMES = {"new"}
POLICY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
GUARDRAIL_FIELDS = ("min_retention", "max_retention")


def clean_policy(data: Mapping[str, Any], *, current: RetentionPolicy | None = None) -> dict[str, Any]:
    """Every field of a policy checked at once: model field values out, or one InvalidRequest naming each bad field.

    `data` holds what a person typed: configs and guardrails in human units (`7d`, `500MB`,
    `unlimited`) or as Kafka strings. Fields absent from `data` keep `current`'s values.
    """
    # Imported here: configs/units import the gateway, which the migration loader need not load.
    from topics.configs import RETENTION_KEYS, validate_topic_configs
    from topics.units import format_duration_ms, parse_duration_ms

    problems: dict[str, Any] = {}
    clean: dict[str, Any] = {}

    name = str(data.get("name", current.name if current else "")).strip()
    if not name:
        problems["name"] = "a policy needs a name"
    elif not POLICY_NAME_RE.match(name):
        problems["name"] = "use letters, digits, `-` and `_` (at most 100), starting with a letter or digit"
    elif name in RESERVED_POLICY_NAMES:
        problems["name"] = f"`{name}` is reserved; choose another name"
    elif RetentionPolicy.objects.filter(name=name).exclude(pk=current.pk if current and current.pk else 0).exists():
        problems["name"] = f"a retention policy named `{name}` already exists"
    clean["name"] = name

    clean["description"] = str(data.get("description", current.description if current else "") or "").strip()

    pattern = str(data.get("topic_pattern", current.topic_pattern if current else ""))
    pattern = pattern.strip()
    if not pattern or pattern == "re:":
        problems["topic_pattern"] = "a policy needs a topic pattern: a glob such as `orders.*`, or `re:` and a regex"
    else:
        try:
            compile_topic_pattern(pattern)
        except PatternError as exc:
            problems["topic_pattern"] = exc.message
    clean["topic_pattern"] = pattern

    raw_priority = data.get("priority", current.priority if current else 0)
    try:
        if isinstance(raw_priority, bool) or raw_priority is None or str(raw_priority).strip() == "":
            raise ValueError
        clean["priority"] = int(str(raw_priority).strip())
        if abs(clean["priority"]) > 2**31 - 1:
            raise ValueError
    except ValueError:
        problems["priority"] = f"priority must be a whole number, not `{raw_priority}`"

    raw_configs = data["configs"] if "configs" in data else (dict(current.configs) if current else {})
    if not isinstance(raw_configs, Mapping):
        problems["configs"] = "configs must be a mapping of config name to value"
        raw_configs = {}
    # An empty value in a form means "not prescribed".
    wanted = {str(k): v for k, v in raw_configs.items() if v is not None and str(v).strip() != ""}
    config_problems: dict[str, str] = {}
    for key in wanted:
        if key not in RETENTION_KEYS:
            config_problems[key] = f"`{key}` is not a retention config; a policy prescribes {', '.join(RETENTION_KEYS)}"
    try:
        clean["configs"] = validate_topic_configs({k: v for k, v in wanted.items() if k not in config_problems})
    except InvalidRequest as exc:
        config_problems.update(exc.fields)
        clean["configs"] = {}

    for field in GUARDRAIL_FIELDS:
        key = f"{field}_ms"
        if field in data:
            raw = data[field]
        elif key in data:
            raw = data[key]
        else:
            raw = getattr(current, key) if current else None
        if raw is None or str(raw).strip() == "":
            clean[key] = None
            continue
        try:
            value = parse_duration_ms(str(raw))
        except InvalidRequest as exc:
            problems[field] = exc.message
            continue
        if value < 0:
            problems[field] = f"{field.replace('_', ' ')} must be a duration; leave it empty for no guardrail"
            continue
        clean[key] = value

    low, high = clean.get("min_retention_ms"), clean.get("max_retention_ms")
    if low is not None and high is not None and low > high:
        problems["min_retention"] = (
            f"minimum retention {format_duration_ms(low)} is above the maximum {format_duration_ms(high)}"
        )
    retention = clean["configs"].get("retention.ms")
    if retention is not None and "retention.ms" not in config_problems:
        value = int(retention)
        if high is not None and (value < 0 or value > high):
            config_problems["retention.ms"] = (
                f"retention.ms {format_duration_ms(value)} is above this policy's maximum {format_duration_ms(high)}"
            )
        elif low is not None and 0 <= value < low:
            config_problems["retention.ms"] = (
                f"retention.ms {format_duration_ms(value)} is below this policy's minimum {format_duration_ms(low)}"
            )
    if config_problems:
        problems["configs"] = config_problems
    if not problems and not clean["configs"] and low is None and high is None:
        problems["configs"] = "a policy prescribes at least one config or sets a guardrail"

    if problems:
        raise InvalidRequest(f"Invalid retention policy: {_summary(problems)}", fields=problems)
    return clean


def _summary(problems: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key, value in problems.items():
        if isinstance(value, Mapping):
            parts.extend(f"{k}: {v}" for k, v in value.items())
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)
