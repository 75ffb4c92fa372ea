"""The authorization matrix, generated from the URL configuration.

Each combination of a route, an HTTP method its view accepts, one of the four roles (held
globally, granted on the cluster in the URL, or granted only on another cluster) and a normal
or a read-only cluster is requested, and the answer must be allowed or refused as MATRIX says.
A route that is not in MATRIX fails the suite: whoever adds a route declares who may use it.

"Refused" is 401, 403, 404 (a cluster the user has no role on is not even named) or a
redirect to the login page. "Allowed" is anything else below 500 (writes are sent with a body
that fails validation, so an allowed write answers 400 and changes nothing). A refused
request must change nothing: no audit row other than the denial, no policy touched, the
topic on the broker as it was.

Resource-scoped grants are asked too: on each cluster, people whose grant (each role) covers
only the matrix's topic (through a directory-group grant), only a topic pattern that misses
it, or only the matrix's consumer group. What a route is about (RESOURCES: a topic, a group,
a group and a topic, the whole cluster, or a list filtered to what the user sees) decides
their answer; a topic or group they may not see must be refused with a 404, exactly as a
missing one, and no page or API answer they are allowed may name the hidden topic or group.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from backbone_admin import clusters
from backbone_admin.access import set_directory_groups
from backbone_admin.kafka import reset_clients
from backbone_admin.models import ApiToken, AuditEntry, Grant, Role
from backbone_admin.roles import assign_role
from streams.jobs.models import Job
from topics.models import RetentionPolicy

ROLES = [r.value for r in Role]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
NORMAL, READ_ONLY, OTHER = "local", "ro", "other"


# ---------------------------------------------------------------------------------------------
# Who may do what
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who is allowed. scope: `cluster` (role on the cluster in the URL), `global` (a global
    role), `any` (a role anywhere: global or on some cluster), `login` (any logged-in user),
    `public` (no login). `write` also refuses read-only clusters whatever the role."""

    scope: str
    role: str | None = None
    write: bool = False
    body: Any = None  # what to send; None = nothing (JSON `{}` to the API); "{topic}" etc. filled in
    own: bool = False  # the object in the URL belongs to the requester (else to a bystander)
    on: str | None = None  # for `cluster` rules on URLs without one: the cluster of the object (a job's)


def on_cluster(role: str, *, write: bool = False, body: Any = None, on: str | None = None) -> Rule:
    return Rule("cluster", role, write, body, on=on)


def global_role(role: str, body: Any = None) -> Rule:
    return Rule("global", role, body=body)


ANY_ROLE = Rule("any", Role.VIEWER)
LOGIN = Rule("login")
PUBLIC = Rule("public")
VIEWER = on_cluster(Role.VIEWER)
READER = on_cluster(Role.READER)  # event contents
# Jobs have no cluster in their URL: the role counts on the job's (source) cluster.
JOB_VIEWER = on_cluster(Role.VIEWER, on=NORMAL)
# A job is its owner's (the matrix's job is a bystander's): cancel, retry and download are the
# owner's or an admin's (tests/streams/test_job_ownership.py covers the owner).
JOB_OWNER = on_cluster(Role.ADMIN, on=NORMAL)
NO_SUCH_PARTITION = {
    "kind": "export",
    "cluster": NORMAL,
    "topic": "{topic}",
    "format": "jsonl",
    "start": "earliest",
    "end": "latest",
    "partitions": [99],
}
# Bodies that pass the role check but fail validation before the broker is asked anything.
BAD_CONFIG = {"cfg:retention.ms": "-5"}
BAD_POLICY = {"name": "", "topic_pattern": "", "priority": "not-a-number"}

# route name → {method: Rule or [Rule, ...] (one per body variant)}; "*" = every other method
# the view accepts (plain function views accept all and answer them like GET).
MATRIX: dict[str, dict[str, Rule | list[Rule]]] = {
    # Public: the login page, logout, the load balancer's health check and the favicon.
    "login": {"*": PUBLIC},
    "logout": {"*": PUBLIC},
    "healthz": {"*": PUBLIC},
    # Prometheus: no login, a bearer token or an allowed address (the test client's 127.0.0.1 is
    # on the default list); refusals are tested in tests/backbone_admin/test_metrics.py.
    "metrics": {"*": PUBLIC},
    "favicon": {"*": PUBLIC},  # a redirect to the static SVG, asked for by browsers on their own
    # OIDC single sign-on: the redirect to the provider and its callback (404 while OIDC is off).
    "oidc-start": {"*": PUBLIC},
    "oidc-callback": {"*": PUBLIC},
    # Any logged-in user: lists are filtered to what the user may see.
    "home": {"*": LOGIN},
    "api-schema": {"*": LOGIN},
    "api-docs": {"*": LOGIN},
    "api-clusters": {"*": LOGIN},
    "topics:clusters": {"*": LOGIN},
    # Admins only (a global role: the audit log spans clusters).
    "audit": {"*": global_role(Role.ADMIN)},
    "api-audit": {"*": global_role(Role.ADMIN)},
    # Grants and explain access: global admins (grants span clusters); one's own access: everyone.
    "access-grants": {"GET": global_role(Role.ADMIN)},
    "access-grant-create": {"GET": global_role(Role.ADMIN), "POST": global_role(Role.ADMIN, body={"role": "nope"})},
    "access-grant-edit": {
        "GET": global_role(Role.ADMIN),
        # Really deletes (last): the world's grant is a bystander's, made anew for each route.
        "POST": [global_role(Role.ADMIN, body={"role": "nope"}), global_role(Role.ADMIN, body={"action": "delete"})],
    },
    "access-explain": {"GET": global_role(Role.ADMIN)},
    "access-me": {"GET": LOGIN},
    "api-access-grants": {"GET": global_role(Role.ADMIN), "POST": global_role(Role.ADMIN, body={"role": "nope"})},
    "api-access-grant": {
        "GET": global_role(Role.ADMIN),
        "PUT": global_role(Role.ADMIN, body={"role": "nope"}),
        "DELETE": global_role(Role.ADMIN),  # really deletes, last: the grant is made anew for each route
    },
    "api-access-explain": {"GET": global_role(Role.ADMIN)},
    "api-access-me": {"GET": LOGIN},
    # Cluster metadata: viewers.
    "api-cluster": {"GET": VIEWER},
    "topics:overview": {"*": VIEWER},
    "topics:list": {"*": VIEWER},
    "topics:detail": {"*": VIEWER},
    "api-compliance": {"GET": VIEWER},
    "topics:compliance": {
        "GET": VIEWER,
        # A preview (dry run) is a read; applying is an operator's change.
        "POST": [
            on_cluster(Role.VIEWER, body={"topics": ["no-such-topic"]}),
            on_cluster(Role.OPERATOR, write=True, body={"action": "apply"}),
        ],
    },
    "api-apply": {
        "POST": [
            on_cluster(Role.VIEWER, body={"topics": [], "dry_run": True}),
            on_cluster(Role.OPERATOR, write=True, body={"topics": [], "dry_run": False}),
        ]
    },
    # Topic changes: operators on writable clusters; deleting: admins.
    "api-topics": {"GET": VIEWER, "POST": on_cluster(Role.OPERATOR, write=True, body={"name": ""})},
    "topics:create": {"*": on_cluster(Role.OPERATOR, write=True, body={"name": ""})},
    "api-topic": {"GET": VIEWER, "DELETE": on_cluster(Role.ADMIN, write=True, body={"confirm": "not-the-name"})},
    "topics:delete": {"*": on_cluster(Role.ADMIN, write=True, body={"confirm": "not-the-name"})},
    "api-topic-configs": {"PATCH": on_cluster(Role.OPERATOR, write=True, body={"retention.ms": "-5"})},
    "topics:configs": {"*": on_cluster(Role.OPERATOR, write=True, body=BAD_CONFIG)},
    "api-topic-partitions": {"POST": on_cluster(Role.OPERATOR, write=True, body={"total": 0})},
    "topics:partitions": {"*": on_cluster(Role.OPERATOR, write=True, body={"total": "many"})},
    # Retention policies span clusters: anyone with a role reads them, global admins write them.
    "api-policies": {"GET": ANY_ROLE, "POST": global_role(Role.ADMIN, body=BAD_POLICY)},
    "api-policy": {
        "GET": ANY_ROLE,
        "PUT": global_role(Role.ADMIN, body=BAD_POLICY),
        "PATCH": global_role(Role.ADMIN, body={"priority": "not-a-number"}),
        "DELETE": global_role(Role.ADMIN),  # really deletes: the policy is put back before each request
    },
    "topics:policies": {"*": ANY_ROLE},
    "topics:policy_create": {"GET": ANY_ROLE, "POST": global_role(Role.ADMIN, body=BAD_POLICY)},
    "topics:policy_edit": {
        "GET": ANY_ROLE,
        "POST": [global_role(Role.ADMIN, body=BAD_POLICY), global_role(Role.ADMIN, body={"action": "delete"})],
    },
    # API tokens: everyone creates (with their password), lists and revokes their own; other
    # people's tokens are for global admins (a bystander's token is invisible to others: 404).
    "api-tokens": {"GET": LOGIN},
    "api-token": {"DELETE": [Rule("login", own=True), global_role(Role.ADMIN)]},
    "tokens": {"GET": LOGIN},
    "token-create": {"POST": LOGIN},
    "token-revoke": {"POST": [Rule("login", own=True), global_role(Role.ADMIN)]},
    # Consumer groups: viewers read and preview a rewind; operators apply it; admins delete.
    "api-groups": {"GET": VIEWER},
    "topics:groups": {"*": VIEWER},
    # Throughput: a topic's events/s (topic viewers); a cluster's totals and busiest topics (filtered).
    "api-topic-throughput": {"GET": VIEWER},
    "api-cluster-throughput": {"GET": VIEWER},
    "api-group": {"GET": VIEWER, "DELETE": on_cluster(Role.ADMIN, write=True)},  # the group is put back
    "topics:group": {"*": VIEWER},
    "api-group-reset": {
        "POST": [
            on_cluster(Role.VIEWER, body={"topic": "{topic}", "to": "earliest"}),
            on_cluster(Role.OPERATOR, write=True, body={"topic": "{topic}", "to": "nowhere", "dry_run": False}),
        ]
    },
    "topics:group_rewind": {
        "POST": [
            on_cluster(Role.VIEWER, body={"action": "preview", "topic": "{topic}", "to": "nowhere"}),
            on_cluster(Role.OPERATOR, write=True, body={"action": "apply", "topic": "{topic}", "to": "nowhere"}),
        ]
    },
    "topics:group_delete": {"POST": on_cluster(Role.ADMIN, write=True, body={"confirm": "not-the-group"})},
    # Event contents: readers; producing: operators on writable clusters.
    "api-messages": {"GET": READER, "POST": on_cluster(Role.OPERATOR, write=True, body={"partition": "first"})},
    "streams:messages": {"*": READER},
    "streams:event": {"*": READER},
    "streams:event_download": {"*": READER},
    "streams:key_timeline": {"*": READER},
    "streams:tail": {"GET": READER},
    "streams:tail_stats": {"GET": global_role(Role.ADMIN)},
    "streams:produce": {"*": on_cluster(Role.OPERATOR, write=True, body={"partition": "first"})},
    # Jobs: listed for anyone (filtered to clusters they see), read by viewers of the job's
    # cluster, started by its operators, cancelled and retried by its owner or an admin; an export needs no writable
    # source, a replay writes to its target (by default the source cluster itself).
    "api-jobs": {"GET": LOGIN, "POST": on_cluster(Role.OPERATOR, on=NORMAL, body=NO_SUCH_PARTITION)},
    "api-job": {"GET": JOB_VIEWER},
    "api-job-cancel": {"POST": JOB_OWNER},
    "api-job-retry": {"POST": JOB_OWNER},
    "api-job-download": {"GET": JOB_OWNER},
    "streams:jobs": {"GET": LOGIN},
    "streams:job": {"GET": JOB_VIEWER},
    "streams:job_cancel": {"POST": JOB_OWNER},
    "streams:job_retry": {"POST": JOB_OWNER},
    "streams:job_export": {"*": on_cluster(Role.OPERATOR, body={"partitions": "99"})},
    "streams:job_replay": {
        "GET": on_cluster(Role.OPERATOR),
        "POST": on_cluster(Role.OPERATOR, write=True, body={"partitions": "99", "target_topic": "{topic}-copy"}),
    },
    # Kafka's own security (ACLs, SCRAM users): admins of the cluster; a dry run is a read.
    "security:acls": {"GET": on_cluster(Role.ADMIN)},
    "security:acl_new": {
        "GET": on_cluster(Role.ADMIN),
        "POST": on_cluster(Role.ADMIN, write=True, body={"kind": "consumer", "principal": "no-colon"}),
    },
    "security:acl_delete": {"POST": on_cluster(Role.ADMIN, write=True, body={"action": "preview"})},
    "security:users": {"GET": on_cluster(Role.ADMIN), "POST": on_cluster(Role.ADMIN, write=True, body={"user": ""})},
    "security:user_delete": {"POST": on_cluster(Role.ADMIN, write=True, body={"user": ""})},
    "api-acls": {
        "GET": on_cluster(Role.ADMIN),
        "POST": [
            on_cluster(Role.ADMIN, body={"acls": []}),
            on_cluster(Role.ADMIN, write=True, body={"acls": [], "dry_run": False}),
        ],
    },
    "api-acls-delete": {
        "POST": [on_cluster(Role.ADMIN, body={}), on_cluster(Role.ADMIN, write=True, body={"dry_run": False})]
    },
    "api-scram-users": {"GET": on_cluster(Role.ADMIN), "POST": on_cluster(Role.ADMIN, write=True, body={"user": ""})},
    "api-scram-user": {"DELETE": on_cluster(Role.ADMIN, write=True, body={"mechanism": "PLAIN"})},
    # Brokers and their configs: viewers of the whole cluster read them; admins change the dynamic ones.
    "topics:brokers": {"*": VIEWER},
    "api-brokers": {"GET": VIEWER},
    "topics:broker_configs": {
        "*": VIEWER,
        "POST": on_cluster(Role.ADMIN, write=True, body={"cfg:log.cleaner.threads": "many"}),
    },
    "api-broker-configs": {
        "GET": VIEWER,
        "PATCH": on_cluster(Role.ADMIN, write=True, body={"log.cleaner.threads": "many"}),
    },
}

# Django's own admin has its own login and staff checks (is_staff), outside the console's roles.
OUTSIDE_THE_MATRIX = ("django-admin/",)


# ---------------------------------------------------------------------------------------------
# The routes, as the URL configuration has them
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    methods: tuple[str, ...]
    params: tuple[str, ...]


def _accepted_methods(view: Callable[..., Any]) -> tuple[str, ...]:
    """The methods a view answers other than with 405: DRF and class-based views say so,
    `require_http_methods` keeps its list in a closure, a plain function view takes all."""
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if cls is not None:
        allowed = {m.upper() for m in getattr(cls, "http_method_names", [])}
        return tuple(m for m in METHODS if m in allowed and hasattr(cls, m.lower()))
    fn: Any = view
    while fn is not None:
        code = getattr(fn, "__code__", None)
        if code is not None and "request_method_list" in code.co_freevars and fn.__closure__:
            cell = fn.__closure__[code.co_freevars.index("request_method_list")]
            return tuple(m for m in METHODS if m in cell.cell_contents)
        fn = getattr(fn, "__wrapped__", None)
    return METHODS


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith(OUTSIDE_THE_MATRIX):
                continue
            inner = ":".join(n for n in (namespace, pattern.namespace or "") if n)
            yield from _walk(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            name = ":".join(n for n in (namespace, pattern.name or "") if n) if pattern.name else f"<unnamed {route}>"
            params = tuple(re.findall(r"<(?:\w+:)?(\w+)>", route))
            yield Route(name, route, _accepted_methods(pattern.callback), params)


ROUTES = {route.name: route for route in _walk(get_resolver().url_patterns)}


def _declared(route: Route, method: str) -> list[Rule] | None:
    rules = MATRIX.get(route.name, {})
    rule = rules.get(method, rules.get("*"))
    if rule is None:
        return None
    return rule if isinstance(rule, list) else [rule]


def test_every_route_has_a_declared_role() -> None:
    missing = [
        f"route {name} ({route.pattern}) has no declared role: add it to the matrix"
        for name, route in sorted(ROUTES.items())
        if name not in MATRIX
    ]
    undeclared = [
        f"route {name} accepts {method} but the matrix declares no role for it: add it to the matrix"
        for name, route in sorted(ROUTES.items())
        if name in MATRIX
        for method in route.methods
        if _declared(route, method) is None
    ]
    assert not missing + undeclared, "\n".join(missing + undeclared)


def test_the_matrix_names_only_routes_that_exist() -> None:
    stale = sorted(set(MATRIX) - set(ROUTES))
    assert not stale, f"the matrix declares routes that no longer exist: {', '.join(stale)}"


def test_the_route_walk_sees_the_console() -> None:
    assert {"api-topic", "topics:delete", "api-policy", "audit"} <= set(ROUTES)
    assert ROUTES["api-policy"].methods == ("GET", "PUT", "PATCH", "DELETE")
    assert ROUTES["topics:policy_edit"].methods == ("GET", "POST")
    assert ROUTES["topics:detail"].methods == METHODS  # a plain function view answers every method


# ---------------------------------------------------------------------------------------------
# The people and the clusters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A user holding `role` globally (where=None) or granted on one cluster only; with a
    `scope`, the grant on that cluster covers only: the matrix's topic (`topic`, granted to a
    directory group the user is in), a pattern that misses it (`hidden`), or the matrix's
    consumer group (`group`)."""

    role: str | None
    where: str | None = None
    scope: str | None = None

    @property
    def label(self) -> str:
        if self.role is None:
            return "no role"
        if self.scope:
            return f"{self.role} on {self.where} for {SCOPE_LABELS[self.scope]} only"
        return f"{self.role} ({'global' if self.where is None else 'granted on ' + self.where})"


SCOPES = ("topic", "hidden", "group")
SCOPE_LABELS = {
    "topic": "t-matrix-* topics (via a directory group)",
    "hidden": "t-elsewhere-* topics",
    "group": "g-matrix-* consumer groups",
}


PEOPLE = [Person(None)] + [Person(role, where) for role in ROLES for where in (None, NORMAL, READ_ONLY, OTHER)]
SCOPED_PEOPLE = [Person(role, where, scope) for role in ROLES for where in (NORMAL, READ_ONLY) for scope in SCOPES]
# A plain function view answers PUT, PATCH and DELETE like GET (it only looks for POST); those
# methods are asked of fewer people: every role held globally, and admin granted on each cluster.
FEWER_PEOPLE = (
    [Person(None)] + [Person(role) for role in ROLES] + [Person(Role.ADMIN, c) for c in (NORMAL, READ_ONLY, OTHER)]
)


def _people(rule: Rule, cluster: str | None, *, like_get: bool) -> list[Person]:
    """Who is asked. A grant on a third cluster is the same case as a grant on `other`, so only
    grants on the cluster in question and on `other` are asked; reads on the read-only cluster
    (the read-only flag refuses writes only) and methods handled like GET by fewer people."""
    if like_get:
        return FEWER_PEOPLE
    here = cluster or rule.on or NORMAL
    scoped = [person for person in SCOPED_PEOPLE if person.where == here]
    if cluster == READ_ONLY and not rule.write:
        return [Person(None), *(Person(role, READ_ONLY) for role in ROLES), Person(Role.ADMIN, OTHER), *scoped]
    return [person for person in PEOPLE if person.where in (None, here, OTHER)] + scoped


# What a route is about, for resource-scoped grants: `topic` (the topic in the URL or body),
# `group`, `group+topic` (a rewind: the group and the topic it names), `cluster` (the whole
# cluster: a scoped grant never suffices), `list` (answered to anyone who sees the cluster,
# filtered) or `some-topics` (the role held on some topics; each topic named is then checked).
# Routes with a topic, group or job in the URL default to topic / group / topic.
RESOURCES: dict[str, str | dict[str, str]] = {
    "api-cluster": "list",
    "topics:overview": "list",
    "topics:list": "list",
    "api-compliance": "list",
    "topics:compliance": {"GET": "list", "POST:viewer": "list", "POST:operator": "cluster"},
    "api-apply": {"POST:viewer": "list", "POST:operator": "cluster"},
    "api-topics": {"GET": "list", "POST": "cluster"},
    "topics:create": "cluster",
    "api-groups": "list",
    "topics:groups": "list",
    "api-cluster-throughput": "list",
    "api-group-reset": "group+topic",
    "topics:group_rewind": "group+topic",
    "api-jobs": {"GET": "list", "POST": "topic"},
    # Across topics: open to a role on some topics, each named topic then checked on its own.
    "streams:key_timeline": "some-topics",
    # ACLs and SCRAM users are the cluster's: a grant scoped to topics or groups never reaches them.
    **dict.fromkeys(
        [
            "security:acls",
            "security:acl_new",
            "security:acl_delete",
            "security:users",
            "security:user_delete",
            "api-acls",
            "api-acls-delete",
            "api-scram-users",
            "api-scram-user",
            # Broker configs: a grant scoped to topics or groups never reaches them either.
            "topics:brokers",
            "topics:broker_configs",
            "api-brokers",
            "api-broker-configs",
        ],
        "cluster",
    ),
}


def resource_of(route: Route, method: str, rule: Rule) -> str:
    declared = RESOURCES.get(route.name)
    if isinstance(declared, dict):
        found = declared.get(f"{method}:{rule.role}", declared.get(method))
        assert found, f"RESOURCES[{route.name}] says nothing of {method} for {rule.role}"
        return found
    if declared:
        return declared
    if "topic" in route.params or "job_id" in route.params:
        return "topic"
    if "group" in route.params:
        return "group"
    assert rule.scope != "cluster", f"route {route.name} is on a cluster: declare what it is about in RESOURCES"
    return "list"


def expected_scoped(rule: Rule, resource: str, person: Person, cluster: str | None) -> bool:
    """What a person with a resource-scoped grant may do (see Person)."""
    if rule.scope in ("public", "login", "any"):
        return True
    if rule.scope == "global":
        return False
    cluster = cluster or rule.on
    if person.where != cluster:
        return False
    if resource == "list":
        role_here: str | None = Role.VIEWER.value
    elif resource == "cluster":
        role_here = None
    elif resource == "some-topics":
        role_here = person.role if person.scope in ("topic", "hidden") else None
    elif resource == "topic":
        role_here = person.role if person.scope == "topic" else None
    elif resource == "group":
        # A group reading a visible topic is visible (as a viewer); a group grant gives its role.
        role_here = {"group": person.role, "topic": Role.VIEWER.value}.get(person.scope or "")
    else:  # group+topic: the group's role, and the topic must be visible
        role_here = Role.VIEWER.value if person.scope == "topic" else None
    if Role.rank(role_here) < Role.rank(rule.role):
        return False
    return not (rule.write and cluster == READ_ONLY)


def must_be_not_found(resource: str, person: Person) -> bool:
    """A refusal that must be the 404 of a missing resource: the resource is invisible to them."""
    if person.scope == "hidden":
        return resource in ("topic", "group", "group+topic")
    if person.scope == "group":
        return resource in ("topic", "group+topic")
    return False


def expected_allowed(rule: Rule, person: Person, cluster: str | None) -> bool:
    if rule.scope in ("public", "login"):
        return True
    if rule.scope == "any":
        return person.role is not None
    if rule.scope == "global":
        return person.where is None and Role.rank(person.role) >= Role.rank(rule.role)
    cluster = cluster or rule.on
    assert cluster is not None
    role_here = person.role if person.where in (None, cluster) else None
    if Role.rank(role_here) < Role.rank(rule.role):
        return False
    return not (rule.write and cluster == READ_ONLY)


def give(user: Any, person: Person) -> None:
    """The person's access: a role, a cluster grant, or a resource-scoped Grant."""
    if person.scope is None:
        if person.role:
            assign_role(user, person.role, cluster=person.where)
        return
    assert person.role and person.where
    if person.scope == "topic":
        # Through a directory group, as OIDC or LDAP would record it, and a glob on its name.
        team = f"team-{person.role}-{person.where}"
        set_directory_groups(user, [f"{team}-matrix"], "oidc")
        Grant.objects.get_or_create(
            subject_type="group", subject=f"{team}-*", role=person.role, cluster=person.where, topics=["t-matrix-*"]
        )
        return
    topics = ["t-elsewhere-*"] if person.scope == "hidden" else []
    groups = ["g-matrix-*"] if person.scope == "group" else []
    Grant.objects.create(
        subject_type="user",
        subject=user.get_username(),
        role=person.role,
        cluster=person.where,
        topics=topics,
        groups=groups,
    )


@dataclass
class World:
    topic: str
    policy: str
    group: str
    job: int
    bystander_token: int
    grant: int = 0  # a bystander's Grant (on a topic pattern matching nothing)
    clients: dict[Person, Client] = field(default_factory=dict)
    tokens: dict[Person, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def matrix_clusters(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[None]:
    """Three clusters on the test broker: `local`, `ro` (read-only) and `other`."""
    path = tmp_path_factory.mktemp("matrix") / "clusters.yml"
    path.write_text(
        "clusters:\n"
        f"  - {{name: {NORMAL}, bootstrap_servers: '{kafka_bootstrap}'}}\n"
        f"  - {{name: {READ_ONLY}, bootstrap_servers: '{kafka_bootstrap}', read_only: true}}\n"
        f"  - {{name: {OTHER}, bootstrap_servers: '{kafka_bootstrap}'}}\n"
    )
    with override_settings(BACKBONE_CLUSTERS_FILE=str(path), DEFAULT_CLUSTER=NORMAL):
        clusters.reset_cache()
        reset_clients()
        yield
    clusters.reset_cache()
    reset_clients()


@pytest.fixture(scope="module")
def matrix_topic(kafka_admin: AdminClient) -> Iterator[str]:
    name = f"t-matrix-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics([NewTopic(name, 1, 1, config={"retention.ms": "86400000"})])[name].result(10)
    yield name
    kafka_admin.delete_topics([name])[name].result(10)


def _topic_state(kafka_admin: AdminClient, topic: str) -> dict[str, str | None]:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = kafka_admin.describe_configs([resource])[resource].result(10)
    partitions = len(kafka_admin.list_topics(topic, timeout=10).topics[topic].partitions)
    return {"partitions": str(partitions), **{k: v.value for k, v in entries.items()}}


def _ensure_policy(name: str) -> None:
    RetentionPolicy.objects.get_or_create(
        name=name, defaults={"topic_pattern": "t-matrix-never-*", "priority": 1, "configs": {"retention.ms": "3600000"}}
    )


def _policies() -> list[tuple[Any, ...]]:
    return list(RetentionPolicy.objects.order_by("name").values_list("name", "topic_pattern", "priority", "configs"))


GROUPS: list[str] = []


TRANSIENT_COMMIT_ERRORS = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}


def _new_group(kafka_admin: AdminClient, topic: str) -> str:
    """A new empty consumer group with a committed offset on the topic (the commit creates it).

    A deleted group is replaced by a new one rather than committed to again under its old id.
    """
    group = f"g-matrix-{uuid.uuid4().hex[:8]}"
    offsets = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])
    deadline = time.monotonic() + 20
    while True:
        try:
            answer = kafka_admin.alter_consumer_group_offsets([offsets])[group].result(10)
            # The broker refuses per partition while the future succeeds. Right after the topic is
            # created Kafka may not know it yet (UNKNOWN_TOPIC_OR_PART): then no offset, no group.
            errors = [tp.error for tp in answer.topic_partitions if tp.error is not None]
        except KafkaException as exc:
            errors = [exc.args[0]]
        if not errors:
            break
        # On a fresh Kafka the first commit also creates __consumer_offsets: its coordinator is not
        # there yet (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or _LOAD_IN_PROGRESS) for a few seconds.
        passing = all(e.code() in TRANSIENT_COMMIT_ERRORS for e in errors)
        assert passing and time.monotonic() < deadline, f"the commit creating group {group} failed: {errors}"
        time.sleep(0.2)
    GROUPS.append(group)
    return group


@pytest.fixture(scope="module")
def matrix_group(kafka_admin: AdminClient, matrix_topic: str) -> Iterator[str]:
    yield _new_group(kafka_admin, matrix_topic)
    for group in GROUPS:
        with contextlib.suppress(Exception):  # deleted by an allowed request already
            kafka_admin.delete_consumer_groups([group])[group].result(10)
    GROUPS.clear()


@pytest.fixture
def world(matrix_clusters: None, matrix_topic: str, matrix_group: str, django_user_model: Any) -> World:
    policy = f"matrix-{uuid.uuid4().hex[:6]}"
    _ensure_policy(policy)
    bystander = django_user_model.objects.create(username=f"m{uuid.uuid4().hex[:10]}")
    # A bystander's export on `local`, queued (nothing runs it: the test's transaction never commits).
    job = Job.objects.create(
        kind=Job.Kind.EXPORT, cluster=NORMAL, topic=matrix_topic, params={"format": "jsonl"}, created_by=bystander
    )
    world = World(
        topic=matrix_topic,
        policy=policy,
        group=GROUPS[-1],  # the latest: an allowed DELETE in an earlier test replaced the first
        job=job.pk,
        bystander_token=ApiToken.issue(bystander)[0].pk,
        grant=Grant.objects.create(
            subject_type="user", subject=bystander.username, role=Role.VIEWER, topics=["t-matrix-never-*"]
        ).pk,
    )
    for person in PEOPLE + SCOPED_PEOPLE:
        user = django_user_model.objects.create(username=f"m{uuid.uuid4().hex[:10]}")
        give(user, person)
        world.tokens[person] = ApiToken.issue(user)[0].pk
        client = Client()
        client.force_login(user)
        world.clients[person] = client
    return world


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------


def _url(route: Route, world: World, cluster: str | None, rule: Rule, person: Person | None) -> str:
    token = world.tokens[person] if rule.own and person is not None else world.bystander_token
    values = {
        "cluster": cluster or NORMAL,
        "topic": world.topic,
        "name": world.policy,
        "group": world.group,
        "job_id": str(world.job),
        "token_id": str(token),
        "grant_id": str(world.grant),
        "user": "matrix-scram-user",  # a SCRAM user name (api-scram-user)
        "broker": "default",  # the cluster-wide broker configs (api-broker-configs)
    }
    unknown = [p for p in route.params if p not in values]
    assert not unknown, f"route {route.name} has URL parameter(s) {unknown} the matrix cannot fill: add them to _url"
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route.pattern)
    return "/" + path


def _fill(body: Any, world: World) -> Any:
    """The body with "{topic}" and "{group}" replaced by this run's names."""
    if isinstance(body, str):
        return body.replace("{topic}", world.topic).replace("{group}", world.group)
    if isinstance(body, dict):
        return {key: _fill(value, world) for key, value in body.items()}
    if isinstance(body, list):
        return [_fill(value, world) for value in body]
    return body


def _send(client: Client, method: str, url: str, route: Route, body: Any) -> Any:
    if url.startswith("/api/"):
        return client.generic(
            method, url, json.dumps(body or {}), content_type="application/json", HTTP_ACCEPT="application/json"
        )
    if method == "GET":
        return client.get(url)
    if method == "POST":
        return client.post(url, body or {})
    return client.generic(
        method, url, urlencode(body or {}, doseq=True), content_type="application/x-www-form-urlencoded"
    )


def refused(response: Any) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code == 302 and response["Location"].startswith("/login/")


def _leaks(response: Any, world: World, person: Person) -> str:
    """The hidden topic (or group) if an allowed answer names it; streamed answers are not read."""
    if getattr(response, "streaming", False):
        return ""
    body = response.content.decode("utf-8", "replace")
    if world.topic in body:
        return f"the topic {world.topic}"
    if person.scope == "hidden" and world.group in body:
        return f"the group {world.group}"
    return ""


def _changes_so_far() -> int:
    return AuditEntry.objects.exclude(result=AuditEntry.Result.DENIED).count()


def _check(route: Route, world: World, kafka_admin: AdminClient) -> list[str]:
    problems: list[str] = []
    before_topic = _topic_state(kafka_admin, world.topic)
    name = route.name
    is_cluster_route = "cluster" in route.params
    for method in route.methods:
        like_get = route.methods == METHODS and method not in ("GET", "POST") and method not in MATRIX[route.name]
        rules = _declared(route, method)
        assert rules is not None, f"route {route.name} has no declared role for {method}: add it to the matrix"
        for rule in rules:
            for cluster in (NORMAL, READ_ONLY) if is_cluster_route else (None,):
                if rule.scope == "public":
                    url = _url(route, world, cluster, rule, None)
                    response = _send(Client(), method, url, route, _fill(rule.body, world))
                    if response.status_code >= 500 or response.status_code in (401, 403):
                        problems.append(f"{method} {url} anonymous: {response.status_code}, expected public access")
                    continue
                for person in _people(rule, cluster, like_get=like_get):
                    client = world.clients[person]
                    url = _url(route, world, cluster, rule, person)
                    _ensure_policy(world.policy)
                    changes, policies = _changes_so_far(), _policies()
                    response = _send(client, method, url, route, _fill(rule.body, world))
                    resource = resource_of(route, method, rule)
                    if person.scope:
                        allowed = expected_scoped(rule, resource, person, cluster)
                    else:
                        allowed = expected_allowed(rule, person, cluster)
                    if "group" in route.params and not refused(response) and (method == "DELETE" or "delete" in name):
                        world.group = _new_group(kafka_admin, world.topic)  # deleted for real: the next asks another
                    status = response.status_code
                    where = f"{method} {url} body={rule.body} as {person.label}: {status}"
                    if status >= 500:
                        problems.append(f"{where}: server error")
                    elif allowed and (refused(response) or status == 405):
                        problems.append(f"{where}: refused, but the matrix allows it")
                    elif not allowed and not refused(response):
                        problems.append(f"{where}: allowed, but the matrix refuses it")
                    elif not allowed and (_changes_so_far() != changes or _policies() != policies):
                        problems.append(f"{where}: refused, yet something changed")
                    elif not allowed and must_be_not_found(resource, person) and status != 404:
                        problems.append(f"{where}: refused, but must answer 404 as for a missing {resource}")
                    elif allowed and person.scope in ("hidden", "group") and status < 300:
                        leaked = _leaks(response, world, person)
                        if leaked:
                            problems.append(f"{where}: the answer names {leaked}, which this person may not see")
    if _topic_state(kafka_admin, world.topic) != before_topic:
        problems.append(f"the topic {world.topic} changed on the broker during {route.name}")
    return problems


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_the_route_answers_each_role_as_the_matrix_says(name: str, world: World, kafka_admin: AdminClient) -> None:
    route = ROUTES[name]
    assert name in MATRIX, f"route {name} has no declared role: add it to the matrix"
    started = time.monotonic()
    problems = _check(route, world, kafka_admin)
    assert not problems, f"{len(problems)} answer(s) differ from the matrix:\n" + "\n".join(problems)
    assert time.monotonic() - started < 40, f"the matrix for {name} took {time.monotonic() - started:.1f} s"


# ---------------------------------------------------------------------------------------------
# Websockets: the same people, through a real Daphne on the three clusters
# ---------------------------------------------------------------------------------------------

NOBODY = Rule("nobody")
# Websocket routes have no names: keyed by their pattern. Refused means the handshake is
# refused (the consumers decide before accepting); every socket only reads.
WS_MATRIX: dict[str, Rule] = {
    "ws/clusters/": ANY_ROLE,  # the health of every cluster the user may see
    "ws/clusters/<str:cluster>/topics/<topic:topic>/tail/": READER,
    "ws/clusters/<str:cluster>/topics/<topic:topic>/search/": READER,
    "ws/jobs/<int:job_id>/": JOB_VIEWER,
    "": NOBODY,  # any other path: refused cleanly
}


def _ws_routes() -> list[str]:
    from backbone_admin.asgi import websocket_routes

    return [str(pattern.pattern) for pattern in websocket_routes]


def test_every_websocket_route_has_a_declared_role() -> None:
    routes = _ws_routes()
    missing = [f"websocket route {r!r} has no declared role: add it to WS_MATRIX" for r in routes if r not in WS_MATRIX]
    assert not missing, "\n".join(missing)
    assert not set(WS_MATRIX) - set(routes), "WS_MATRIX declares websocket routes that no longer exist"


@dataclass
class WsWorld:
    url: str
    topic: str
    job: int
    cookies: dict[Person, str]


@pytest.fixture(scope="module")
def ws_world(
    matrix_clusters: None,
    matrix_topic: str,
    django_db_setup: Any,
    django_db_blocker: Any,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WsWorld]:
    """Users with sessions committed to the test database, and a Daphne serving it on the clusters file."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from tests.conftest import _subprocess_env, daphne_server

    with django_db_blocker.unblock():
        assert "test" in str(connection.settings_dict["NAME"]), "the test database is not set up"
        users = []
        cookies = {}
        for person in PEOPLE + SCOPED_PEOPLE:
            user = get_user_model().objects.create(username=f"w{uuid.uuid4().hex[:10]}")
            users.append(user)
            give(user, person)
            client = Client()
            client.force_login(user)
            cookies[person] = client.cookies["sessionid"].value
        job = Job.objects.create(kind=Job.Kind.EXPORT, cluster=NORMAL, topic=matrix_topic, params={"format": "jsonl"})
    env = _subprocess_env(kafka_bootstrap, redis_url)
    env.update({"BACKBONE_CLUSTERS_FILE": settings.BACKBONE_CLUSTERS_FILE, "DEFAULT_CLUSTER": NORMAL})
    try:
        with daphne_server(env, log_name="daphne-ws-matrix.log") as (url, _):
            yield WsWorld(url=url, topic=matrix_topic, job=job.pk, cookies=cookies)
    finally:
        with django_db_blocker.unblock():
            job.delete()
            for user in users:
                user.delete()


def _ws_accepted(world: WsWorld, path: str, cookie: str) -> bool:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    headers = {"Cookie": f"sessionid={cookie}", "Origin": world.url}
    try:
        with connect(world.url.replace("http://", "ws://") + path, additional_headers=headers, open_timeout=10):
            return True
    except InvalidStatus:
        return False


# Transactional: the live server must see the users' sessions, and no open test transaction may
# hold SQLite's write lock while it answers.
@pytest.mark.django_db(transaction=True)
def test_every_websocket_answers_each_role_as_the_matrix_says(ws_world: WsWorld) -> None:
    problems = []
    for pattern, rule in WS_MATRIX.items():
        is_cluster_route = "<str:cluster>" in pattern
        for cluster in (NORMAL, READ_ONLY) if is_cluster_route else (None,):
            values = {"cluster": cluster or NORMAL, "topic": ws_world.topic, "job_id": str(ws_world.job)}
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m, v=values: v[m.group(1)], pattern or "ws/no-such-socket/")
            for person in _people(rule, cluster, like_get=False) if rule.scope != "nobody" else PEOPLE:
                if rule.scope == "nobody":
                    allowed = False
                elif person.scope:
                    resource = "topic" if "<topic:topic>" in pattern or "<int:job_id>" in pattern else "list"
                    allowed = expected_scoped(rule, resource, person, cluster)
                else:
                    allowed = expected_allowed(rule, person, cluster)
                if _ws_accepted(ws_world, path, ws_world.cookies[person]) != allowed:
                    expected = "accepted" if allowed else "refused"
                    problems.append(f"websocket {path} as {person.label}: should be {expected}, was not")
    assert not problems, f"{len(problems)} websocket answer(s) differ from the matrix:\n" + "\n".join(problems)
