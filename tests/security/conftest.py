"""Fixtures of the security tests: principals and SCRAM users of their own, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
)

# The test broker (Tansu) is used unless TEST_KAFKA_BOOTSTRAP names an Apache Kafka.
ON_TEST_BROKER = not os.environ.get("TEST_KAFKA_BOOTSTRAP")


def everything_of(principal: str | None) -> AclBindingFilter:
    """A filter of every ACL of a principal (None: of everyone)."""
    anything: Any = None  # librdkafka's filter takes None for "any name, principal, host"
    return AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        principal or anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def described(admin: AdminClient, principal: str | None) -> list[AclBinding]:
    """A principal's ACLs (None: everyone's), read by a client of the test's own."""
    where = everything_of(principal)
    found: list[AclBinding] = admin.describe_acls(where, request_timeout=10).result(timeout=11)
    return found


def _name(value: Any) -> str:
    return str(getattr(value, "name", value))


def broker_acls(admin: AdminClient, principal: str) -> set[tuple[str, str, str, str, str]]:
    """(resource type, name, pattern, operation, permission) of a principal's ACLs."""
    found = described(admin, principal)
    return {
        (
            "CLUSTER" if b.restype == ResourceType.BROKER else _name(b.restype),
            b.name,
            _name(b.resource_pattern_type),
            _name(b.operation),
            _name(b.permission_type),
        )
        for b in found
    }


@pytest.fixture
def principal(kafka_admin: AdminClient) -> Iterator[str]:
    """A principal no other test uses; its ACLs are deleted afterwards (on a broker that has them)."""
    name = f"User:t-{uuid.uuid4().hex[:10]}"
    yield name
    if ON_TEST_BROKER:
        return
    where = everything_of(name)
    kafka_admin.delete_acls([where], request_timeout=10)[where].result(timeout=11)


@pytest.fixture
def scram_name(kafka_admin: AdminClient) -> Iterator[str]:
    name = f"svc-{uuid.uuid4().hex[:10]}"
    yield name
    if ON_TEST_BROKER:
        return
    for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
        deletion = UserScramCredentialDeletion(name, mechanism)
        for future in kafka_admin.alter_user_scram_credentials([deletion], request_timeout=10).values():
            with contextlib.suppress(KafkaException):  # that mechanism was never set
                future.result(timeout=11)
