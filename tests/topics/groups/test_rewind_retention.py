"""A rewind preview says which of the offsets it asks for the broker has deleted (retention, delete-records).

Kafka moves a partition's log start with retention and delete-records; a rewind to an offset
below it resumes at the log start, and a group whose committed offset lies below it has lost
those events already. Needs Apache Kafka: the test broker never deletes (TEST_BROKER.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

pytestmark = [pytest.mark.real_kafka, pytest.mark.django_db]


@pytest.fixture
def truncated(
    prefix: str, make_topic: Callable[..., str], commit: Callable[..., None], kafka_admin: AdminClient
) -> Any:
    """Partition 0 held offsets 0-9, 0-5 are deleted; the group committed 2 before that."""
    topic = make_topic(f"{prefix}.truncated", [10])
    group = f"{prefix}-late"
    commit(group, {(topic, 0): 2})
    for future in kafka_admin.delete_records([TopicPartition(topic, 0, 6)], request_timeout=10).values():
        future.result(10)
    return topic, group


def _row(api: Any, group: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/api/clusters/local/groups/{group}/reset-offsets/", body, format="json")
    assert response.status_code == 200, response.content
    [row] = response.json()["rows"]
    return {**row, "plan_deleted": response.json()["deleted"]}


def test_a_rewind_below_the_log_start_names_the_deleted_offsets(api_as: Any, truncated: Any) -> None:
    _topic, group = truncated
    row = _row(api_as("viewer"), group, to="offset", value=1)
    assert (row["low"], row["new"], row["deleted"], row["plan_deleted"]) == (6, 6, 5, 5)
    assert "offsets 1 to 5 (5) were deleted by retention or delete-records" in row["note"]
    assert "the group resumes at the log start, 6" in row["note"]


def test_a_group_below_the_log_start_is_told_what_it_lost_and_nothing_counts_as_skipped(
    api_as: Any, truncated: Any
) -> None:
    _topic, group = truncated
    row = _row(api_as("viewer"), group, to="earliest")
    assert (row["current"], row["new"], row["re_consumed"], row["skipped"], row["deleted"]) == (2, 6, 0, 0, 0)
    assert (
        "the committed offset 2 is below the log start 6: 4 events were deleted before the group read them"
        in (row["note"])
    )
    row = _row(api_as("viewer"), group, to="offset", value=8)
    assert (row["re_consumed"], row["skipped"]) == (0, 2)
