"""Retention policies: named patterns with prescribed configs and guardrails (`policies`),
every topic's compliance and drift (`compliance`), applying them with an impact preview
(`apply`), policy writes and YAML import/export (`services`), and their pages and API.

The policy look-ups used across the app are importable from here.
"""

from topics.retention.policies import check_guardrails, governing_policy, ordered_policies

__all__ = ["check_guardrails", "governing_policy", "ordered_policies"]
