"""The rules of backbone_admin/access.py: which role a user has on a cluster, topic and group."""

from __future__ import annotations

from typing import Any

import pytest

from backbone_admin.access import access_for, forget, has_any_access, set_directory_groups, validate_patterns
from backbone_admin.kafka import errors
from backbone_admin.models import Grant, Role
from backbone_admin.patterns import PatternError, compile_union
from backbone_admin.roles import assign_role, require_group_role, require_topic_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create(username="alice")


def grant(subject: str, role: str, *, kind: str = "user", cluster: str = "", **patterns: list[str]) -> Grant:
    return Grant.objects.create(subject_type=kind, subject=subject, role=role, cluster=cluster, **patterns)


def test_a_user_without_any_rule_sees_nothing(alice: Any) -> None:
    access = access_for(alice)
    assert not has_any_access(alice)
    assert not access.sees_cluster("local")
    assert access.topic_role("local", "orders") is None


def test_a_topic_grant_covers_only_its_topics_and_the_highest_role_wins(alice: Any) -> None:
    grant("alice", Role.VIEWER, cluster="local", topics=["orders.*"])
    grant("alice", Role.OPERATOR, cluster="local", topics=["orders.eu"])
    grant("alice", Role.READER, cluster="local", topics=["re:orders\\.(us|ca)"])
    access = access_for(alice)
    assert access.sees_cluster("local") and not access.sees_cluster("other")
    assert access.cluster_role("local") is None  # a scoped grant is no role on the whole cluster
    assert access.topic_role("local", "orders.eu") == Role.OPERATOR
    assert access.topic_role("local", "orders.us") == Role.READER
    assert access.topic_role("local", "orders.jp") == Role.VIEWER
    assert access.topic_role("local", "payroll") is None
    assert access.topic_role("other", "orders.eu") is None
    names = ["payroll", "orders.eu", "orders.jp", "orders", "orders.us.x"]
    assert access.visible_topic_names("local", names) == ["orders.eu", "orders.jp", "orders.us.x"]
    role_of = access.topic_roles("local")
    assert [role_of(n) for n in names] == [None, "operator", "viewer", None, "viewer"]


def test_a_cluster_role_is_a_floor_that_scoped_grants_raise(alice: Any) -> None:
    assign_role(alice, Role.VIEWER, cluster="local")
    grant("alice", Role.READER, cluster="local", topics=["orders.*"])
    access = access_for(alice)
    assert access.topic_role("local", "payroll") == Role.VIEWER
    assert access.topic_role("local", "orders.eu") == Role.READER
    assert access.visible_topic_names("local", ["payroll", "orders.eu"]) == ["payroll", "orders.eu"]


def test_group_grants_follow_directory_groups_at_each_sign_in(alice: Any) -> None:
    grant("kafka-orders-*", Role.READER, kind="group", topics=["orders.*"])  # every cluster
    assert access_for(alice).topic_role("local", "orders.eu") is None
    set_directory_groups(alice, ["kafka-orders-readers", "staff"], "oidc")
    access = access_for(alice)
    assert access.directory_groups == ["kafka-orders-readers", "staff"]
    assert access.topic_role("local", "orders.eu") == access.topic_role("other", "orders.eu") == Role.READER
    rule = next(r for r in access.rules if r.source == "grant")
    assert rule.via == "group kafka-orders-* (member of kafka-orders-readers)"
    set_directory_groups(alice, ["staff"], "oidc")  # removed from the group in the provider
    assert access_for(alice).topic_role("local", "orders.eu") is None


def test_a_group_is_visible_by_its_pattern_or_through_a_visible_topic(alice: Any) -> None:
    grant("alice", Role.OPERATOR, cluster="local", groups=["billing-*"])
    grant("alice", Role.READER, cluster="local", topics=["orders.*"])
    access = access_for(alice)
    assert access.group_role("local", "billing-eu") == Role.OPERATOR
    assert access.group_role("local", "shipper", ["orders.eu"]) == Role.VIEWER
    assert access.group_role("local", "shipper", ["payroll"]) is None
    assert access.topic_role("local", "billing") is None  # a group grant gives no topic


def test_require_topic_role_answers_an_unseen_topic_exactly_as_a_missing_one(alice: Any) -> None:
    grant("alice", Role.VIEWER, cluster="local", topics=["orders.*"])
    with pytest.raises(errors.TopicNotFound) as hidden:
        require_topic_role(alice, "local", "payroll", Role.VIEWER)
    assert str(hidden.value) == "topic `payroll` does not exist on cluster `local`"
    with pytest.raises(errors.PermissionDenied) as low:
        require_topic_role(alice, "local", "orders.eu", Role.READER)
    assert "needs the reader role on topic `orders.eu`; you are viewer" in str(low.value)
    assert "grant" not in str(low.value)  # the role needed, never the grants that exist
    assert require_topic_role(alice, "local", "orders.eu", Role.VIEWER).name == "local"
    with pytest.raises(errors.GroupNotFound):
        require_group_role(alice, "local", "payroll-consumers", Role.VIEWER, topics=["payroll"])


def test_explain_says_which_rule_applies_and_why_the_others_do_not(alice: Any) -> None:
    assign_role(alice, Role.VIEWER, cluster="other")
    grant("alice", Role.READER, cluster="local", topics=["orders.*"])
    rows = access_for(alice).explain("local", topic="payroll")
    assert [(r["role"], r["applies"]) for r in rows] == [("viewer", False), ("reader", False)]
    assert rows[0]["why_not"] == "it is for cluster other"
    assert rows[1]["why_not"] == "no topic pattern matches `payroll`"
    assert access_for(alice).explain("local", topic="orders.eu")[1]["applies"] is True


def test_patterns_are_checked_on_the_one_engine() -> None:
    assert validate_patterns([" orders.* ", "", "re:^pay"], "topics") == ["orders.*", "re:^pay"]
    with pytest.raises(PatternError):
        validate_patterns(["re:(unclosed"], "topics")
    with pytest.raises(PatternError):
        validate_patterns(["re:(a+)+" + "x" * 600], "topics")
    union = compile_union(("orders.*", "re:pay(roll|ments)", "logs-??"))
    assert [union.fullmatch(n) for n in ("orders.eu", "payroll", "logs-01", "logs-001", "xpayroll")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert not compile_union(()).fullmatch("anything")


def test_a_deactivated_user_loses_every_grant(alice: Any) -> None:
    grant("alice", Role.ADMIN, cluster="local")
    assert access_for(alice).cluster_role("local") == Role.ADMIN
    alice.is_active = False
    forget(alice)
    assert not access_for(alice).sees_cluster("local")


def test_turning_local_passwords_off_without_any_directory_is_refused_at_start(settings: Any) -> None:
    from backbone_admin.checks import check_sign_in

    settings.BACKBONE_LOCAL_LOGIN, settings.OIDC_ISSUER, settings.LDAP_SERVER_URI = False, "", ""
    assert [e.id for e in check_sign_in(None)] == ["backbone.E006"]
    settings.LDAP_SERVER_URI = "ldaps://ldap.example.com"
    assert check_sign_in(None) == []
    settings.BACKBONE_LOCAL_LOGIN, settings.LDAP_SERVER_URI = True, ""
    assert check_sign_in(None) == []
