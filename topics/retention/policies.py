"""Which retention policy governs a topic, and the guardrails topic edits must respect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backbone_admin.kafka import InvalidRequest
from topics.models import RetentionPolicy
from topics.units import format_duration_ms


def ordered_policies() -> list[RetentionPolicy]:
    return list(RetentionPolicy.objects.by_priority())


def governing_policy(topic: str, policies: Sequence[RetentionPolicy]) -> RetentionPolicy | None:
    """The highest-priority policy whose pattern matches; `policies` must be ordered_policies()."""
    return next((p for p in policies if p.matches(topic)), None)


def check_guardrails(topic: str, configs: Mapping[str, str], policies: Sequence[RetentionPolicy] | None = None) -> None:
    """Refuse a retention.ms outside the governing policy's minimum/maximum, naming the policy."""
    if "retention.ms" not in configs:
        return
    policy = governing_policy(topic, ordered_policies() if policies is None else policies)
    if policy is None:
        return
    value = int(configs["retention.ms"])
    forever = value < 0
    shown = format_duration_ms(value)
    if policy.max_retention_ms is not None and (forever or value > policy.max_retention_ms):
        message = (
            f"retention.ms {shown} is above the maximum {format_duration_ms(policy.max_retention_ms)} "
            f"of retention policy `{policy.name}`"
        )
        raise InvalidRequest(message, fields={"retention.ms": message})
    if policy.min_retention_ms is not None and not forever and value < policy.min_retention_ms:
        message = (
            f"retention.ms {shown} is below the minimum {format_duration_ms(policy.min_retention_ms)} "
            f"of retention policy `{policy.name}`"
        )
        raise InvalidRequest(message, fields={"retention.ms": message})
