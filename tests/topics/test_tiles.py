"""The overview's growing-lag tile: unread events that keep rising, not a first commit moving them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from topics.groups.models import LagSample
from topics.tiles import growing_lag

pytestmark = pytest.mark.django_db


def _samples(group: str, values: list[tuple[int, int | None]]) -> None:
    now = timezone.now()
    for i, (lag, uncommitted) in enumerate(values):
        at = now - timedelta(seconds=30 * (len(values) - i))
        LagSample.objects.create(cluster="tiles", group=group, sampled_at=at, total_lag=lag, uncommitted=uncommitted)


def test_a_first_commit_that_moves_events_into_lag_is_not_growth() -> None:
    # 1,000 events unread all along: at first none committed, then the group commits on its partitions.
    _samples("first-commit", [(0, 1000), (0, 1000), (650, 350), (1000, None)])
    assert growing_lag("tiles") == []


def test_unread_events_that_keep_rising_are_growth_whichever_figure_holds_them() -> None:
    _samples("falling-behind", [(10, 100), (20, 150), (200, 40), (400, None)])
    _samples("steady", [(50, None), (50, None), (50, None), (50, None)])
    [found] = growing_lag("tiles")
    assert (found.group, found.first, found.last) == ("falling-behind", 110, 400)
