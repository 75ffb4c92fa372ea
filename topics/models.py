from __future__ import annotations

import fnmatch
import re
from functools import cached_property

from django.conf import settings
from django.db import models


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
    def _regex(self) -> re.Pattern[str]:
        return compile_topic_pattern(self.topic_pattern)

    def matches(self, topic: str) -> bool:
        return self._regex.fullmatch(topic) is not None


def compile_topic_pattern(pattern: str) -> re.Pattern[str]:
    """`re:` patterns are regular expressions (full match); anything else is a glob. Raises re.error."""
    if pattern.startswith("re:"):
        return re.compile(pattern[3:])
    return re.compile(fnmatch.translate(pattern))
