"""Explain access (admins: page and API), My access (everyone: their own only), and the plain
answer to a user whom no grant reaches."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from backbone_admin.access import set_directory_groups
from backbone_admin.models import Grant, Role
from tests.conftest import independent_client_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(make_user: Any) -> Any:
    """A user with no role of their own, in directory group `kafka-orders-eu`."""
    user = make_user()
    set_directory_groups(user, ["kafka-orders-eu", "staff"], "oidc")
    return user


@pytest.fixture
def grants() -> dict[str, Grant]:
    return {
        "orders": Grant.objects.create(
            subject_type="group",
            subject="kafka-orders-*",
            role="reader",
            cluster="local",
            topics=["orders.*"],
            groups=["orders-*"],
        ),
        "elsewhere": Grant.objects.create(subject_type="group", subject="staff", role="admin", cluster="other"),
        "unrelated": Grant.objects.create(subject_type="group", subject="payroll-*", role="admin"),
    }


def _explain(api: Any, **params: str) -> Any:
    return api.get("/api/access/explain/", params)


def test_the_api_explains_a_topic_the_group_grant_covers(api_as: Any, member: Any, grants: dict[str, Grant]) -> None:
    response = _explain(api_as(Role.ADMIN), user=member.username, cluster="local", topic="orders.created")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["role"] == "reader" and "reader on topic `orders.created`" in body["verdict"]
    assert "read events (messages, search, live tail, key timeline)" in body["may"]
    assert not any("produce" in line for line in body["may"])
    by_grant = {r["grant"]: r for r in body["rules"]}
    assert set(by_grant) == {grants["orders"].pk, grants["elsewhere"].pk}  # payroll-* matches none of the groups
    orders = by_grant[grants["orders"].pk]
    assert orders["applies"] is True and orders["why_not"] == ""
    assert "group kafka-orders-* (member of kafka-orders-eu)" in orders["rule"]
    elsewhere = by_grant[grants["elsewhere"].pk]
    assert elsewhere["applies"] is False and elsewhere["why_not"] == "it is for cluster other"
    assert body["directory_groups"] == ["kafka-orders-eu", "staff"]
    assert body["directory"]["source"] == "oidc" and body["directory"]["recorded_at"]


def test_the_api_explains_why_a_topic_is_hidden(api_as: Any, member: Any, grants: dict[str, Grant]) -> None:
    body = _explain(api_as(Role.ADMIN), user=member.username, cluster="local", topic="payroll.salaries").json()
    assert body["role"] is None and "hidden" in body["verdict"] and "404" in body["verdict"]
    orders = next(r for r in body["rules"] if r["grant"] == grants["orders"].pk)
    assert orders["applies"] is False and orders["why_not"] == "no topic pattern matches `payroll.salaries`"
    assert body["may"] == []


def test_the_api_explains_a_consumer_group_and_the_whole_cluster(
    api_as: Any, member: Any, grants: dict[str, Grant], clusters_file: Any
) -> None:
    clusters_file(
        "clusters:\n  - {name: local, bootstrap_servers: '{LOCAL}'}\n  - {name: other, bootstrap_servers: '{LOCAL}'}\n"
    )
    api = api_as(Role.ADMIN)
    group = _explain(api, user=member.username, cluster="local", group="orders-billing").json()
    assert group["role"] == "reader" and group["group"] == "orders-billing"
    hidden = _explain(api, user=member.username, cluster="local", group="payroll-run").json()
    assert hidden["role"] is None and "no consumer-group pattern matches `payroll-run`" in str(hidden["rules"])
    cluster = _explain(api, user=member.username, cluster="local").json()
    assert cluster["role"] is None and "only on the resources" in cluster["verdict"]
    other = _explain(api, user=member.username, cluster="other", topic="payroll.x").json()
    assert other["role"] == "admin" and "delete topics and consumer groups" in other["may"]
    assert [r["applies"] for r in other["rules"] if r["grant"] == grants["orders"].pk] == [False]


def test_the_api_refuses_an_unknown_user_or_cluster_and_non_admins(api_as: Any, member: Any) -> None:
    admin = api_as(Role.ADMIN)
    missing = _explain(admin, user="nobody-here", cluster="local")
    assert missing.status_code == 400 and "no user named `nobody-here`" in missing.json()["error"]
    assert _explain(admin, user=member.username, cluster="nowhere").status_code == 400
    assert _explain(admin, cluster="local").json()["fields"] == {"user": "a username"}
    refused = _explain(api_as(Role.ADMIN, cluster="local"), user=member.username, cluster="local")
    assert refused.status_code == 403 and "admin role" in refused.json()["error"]


def test_the_page_shows_the_verdict_every_rule_and_the_groups(
    client: Any, make_user: Any, member: Any, grants: dict[str, Grant]
) -> None:
    client.force_login(make_user(Role.ADMIN))
    response = client.get("/access/explain/", {"user": member.username, "cluster": "local", "topic": "payroll.x"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="explain-role">no access<' in page and "hidden from" in page
    assert "no topic pattern matches `payroll.x`" in page
    assert f'href="/access/grants/{grants["orders"].pk}/"' in page
    assert "kafka-orders-eu" in page and "from oidc, recorded" in page
    assert client.get("/access/explain/").status_code == 200  # the empty form
    assert client.get("/access/explain/", {"user": "nobody-here"}).status_code == 400


def test_my_access_shows_my_roles_and_groups_and_nobody_elses_grants(
    client: Any, make_user: Any, member: Any, grants: dict[str, Grant]
) -> None:
    Grant.objects.create(subject_type="user", subject="someone-else", role="admin", note="secret project")
    client.force_login(member)
    page = client.get("/access/me/").content.decode()
    assert "kafka-orders-eu" in page and "staff" in page
    assert "topics orders.*" in page  # their own scoped rule on local
    assert "someone-else" not in page and "secret project" not in page and "payroll-*" not in page
    body = client.get("/api/access/me/").json()
    assert [c["name"] for c in body["clusters"]] == ["local"]  # `other` is not configured here
    assert body["clusters"][0]["role"] is None and body["has_access"] is True
    assert body["directory"]["source"] == "oidc"


def test_a_user_no_grant_reaches_is_told_plainly_on_the_home_page(client: Any, make_user: Any) -> None:
    user = make_user()
    set_directory_groups(user, ["kafka-nothing-mapped"], "ldap")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        f"You are signed in as <strong>{user.username}</strong>, but no grant gives you access to any cluster." in page
    )
    assert "kafka-nothing-mapped" in page and "Ask an admin to grant one of them a role" in page
    # Once a grant reaches one of their groups, home is the overview again.
    Grant.objects.create(subject_type="group", subject="kafka-*", role="viewer")
    assert client.get("/").status_code == 302


def test_a_refusal_names_the_role_needed_not_the_grants(client: Any, make_user: Any) -> None:
    user = make_user(Role.VIEWER)
    Grant.objects.create(subject_type="user", subject=user.username, role="reader", topics=["orders.*"], note="x1")
    client.force_login(user)
    response = client.get("/access/grants/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "needs the admin role" in page and "x1" not in page


def test_a_group_reading_a_visible_topic_is_explained_as_viewed(
    api_as: Any, member: Any, grants: dict[str, Grant], kafka_admin: AdminClient, kafka_bootstrap: str
) -> None:
    run = uuid.uuid4().hex[:8]
    topic, group = f"orders.explain-{run}", f"billing-explain-{run}"  # the group matches no group pattern
    kafka_admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    try:
        consumer = Consumer(independent_client_config(kafka_bootstrap, **{"group.id": group}))
        consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        consumer.close()
        body = _explain(api_as(Role.ADMIN), user=member.username, cluster="local", group=group).json()
        assert body["group_reads"] == [topic] and body["note"] == ""
        assert body["role"] == "viewer" and f"committed offsets on `{topic}`, a topic they see" in body["verdict"]
        # The same group name with nothing committed: hidden.
        lonely = _explain(api_as(Role.ADMIN), user=member.username, cluster="local", group=f"{group}-x").json()
        assert lonely["role"] is None and lonely["group_reads"] == [] and "hidden" in lonely["verdict"]
    finally:
        kafka_admin.delete_topics([topic])[topic].result(10)
