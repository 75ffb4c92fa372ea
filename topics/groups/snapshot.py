"""The rows of the group list and the cached snapshot they are built from (see listing.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from topics.groups import state as group_state
from topics.groups.lag import Partition

# (group id, state as ListGroups gave it, type)
IndexRow = tuple[str, str, str]
# (state, assignor, members) as DescribeGroups gave them
Described = tuple[str, str, int]
# (lag per topic over the partitions with a committed offset, committed partitions,
#  committed partitions whose end offset could not be read)
Lag = tuple[dict[str, int], int, int]
# (events not yet committed on the other partitions of those topics, how many such partitions)
Uncommitted = tuple[int, int]
# Per topic: (committed partitions, of them with an unknown end, events not yet committed,
# partitions not yet committed), so a user who sees only some topics gets totals over those.
TopicDetail = dict[str, tuple[int, int, int, int]]


@dataclass(frozen=True)
class GroupRow:
    """One line of the group list."""

    group_id: str
    state: str
    type: str
    assignor: str
    members: int
    topic_lags: dict[str, int]  # lag per topic, over the partitions with a committed offset
    committed_partitions: int
    unknown_end: int = 0  # committed partitions whose end offset could not be read
    lag_read: bool = True  # False: the cluster did not answer for this group's offsets
    uncommitted_events: int = 0  # on partitions of its topics without a commit, from the log start
    uncommitted_partitions: int = 0

    @property
    def topics(self) -> list[str]:
        return sorted(self.topic_lags)

    @property
    def lag(self) -> int | None:
        """Total lag; None when the group has no committed offset at all (or they could not be read)."""
        return sum(self.topic_lags.values()) if self.committed_partitions else None

    @property
    def uncommitted(self) -> int | None:
        """Events not yet committed; None when every partition of its topics has a commit."""
        return self.uncommitted_events if self.uncommitted_partitions else None

    @property
    def assignor_short(self) -> str:
        return group_state.short_assignor(self.assignor)

    @property
    def members_label(self) -> str:
        return group_state.members_label(self.state, self.members)

    @property
    def state_label(self) -> str:
        return group_state.state_label(self.state, self.members)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "state": self.state,
            "type": self.type,
            "assignor": self.assignor,
            "members": self.members,
            "topics": self.topics,
            "lag": self.lag,
            "lag_read": self.lag_read,
            "topic_lags": dict(sorted(self.topic_lags.items())),
            "committed_partitions": self.committed_partitions,
            "uncommitted": self.uncommitted,
            "uncommitted_partitions": self.uncommitted_partitions,
            "assignor_short": self.assignor_short,
        }


@dataclass
class Snapshot:
    """The groups as listed at `fetched_at`, with the descriptions and lags read so far."""

    fetched_at: float
    index: list[IndexRow]
    described: dict[str, Described] = field(default_factory=dict)
    lags: dict[str, Lag] = field(default_factory=dict)
    uncommitted: dict[str, Uncommitted] = field(default_factory=dict)
    per_topic: dict[str, TopicDetail] = field(default_factory=dict)
    # End offsets read so far, shared by every group (None: the partition's topic is gone).
    highs: dict[Partition, int | None] = field(default_factory=dict)
    lows: dict[Partition, int | None] = field(default_factory=dict)
    # Partition ids of the topics groups committed on (None: the topic is gone).
    partitions: dict[str, list[int] | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def row(self, entry: IndexRow, topic_visible: Callable[[str], bool] | None = None) -> GroupRow:
        """The group's line; with `topic_visible`, its lag and topics over the visible topics only."""
        group_id, listed_state, kind = entry
        # The description's state is the coordinator's own; ListGroups may say less.
        state, assignor, members = self.described.get(group_id, (listed_state, "", 0))
        lag = self.lags.get(group_id)
        topic_lags, committed, unknown = lag if lag is not None else ({}, 0, 0)
        uncommitted, uncommitted_partitions = self.uncommitted.get(group_id, (0, 0))
        if topic_visible is not None and any(not topic_visible(t) for t in topic_lags):
            topic_lags = {t: v for t, v in topic_lags.items() if topic_visible(t)}
            detail = self.per_topic.get(group_id)
            if detail is None:  # not read per topic: the totals cannot be told apart, so none is shown
                lag = None
                committed = unknown = uncommitted = uncommitted_partitions = 0
            else:
                shown = [detail[t] for t in topic_lags if t in detail]
                committed, unknown, uncommitted, uncommitted_partitions = (
                    sum(col) for col in zip(*shown, (0, 0, 0, 0), strict=True)
                )
        return GroupRow(
            group_id=group_id,
            state=state,
            type=kind,
            assignor=assignor,
            members=members,
            topic_lags=topic_lags,
            committed_partitions=committed,
            unknown_end=unknown,
            lag_read=lag is not None,
            uncommitted_events=uncommitted,
            uncommitted_partitions=uncommitted_partitions,
        )

    @property
    def rows(self) -> list[GroupRow]:
        return [self.row(entry) for entry in self.index]

    def lag_of(self, offsets: dict[Partition, int]) -> Lag:
        """The lag of a group with these committed offsets, from the end offsets read so far."""
        lags: dict[str, int] = {}
        unknown = 0
        for (topic, p), offset in offsets.items():
            high = self.highs.get((topic, p))
            if high is None:
                unknown += 1
                lags.setdefault(topic, 0)
                continue
            lags[topic] = lags.get(topic, 0) + max(0, high - offset)
        return lags, len(offsets), unknown

    def detail_of(self, offsets: dict[Partition, int]) -> TopicDetail:
        """lag_of and uncommitted_of's counts, per topic."""
        by_topic: dict[str, dict[Partition, int]] = {}
        for tp, offset in offsets.items():
            by_topic.setdefault(tp[0], {})[tp] = offset
        detail: TopicDetail = {}
        for topic, mine in by_topic.items():
            _, committed, unknown = self.lag_of(mine)
            uncommitted, partitions = self.uncommitted_of(mine)
            detail[topic] = (committed, unknown, uncommitted, partitions)
        return detail

    def uncommitted_of(self, offsets: dict[Partition, int]) -> Uncommitted:
        """Events from the log start on the partitions of these offsets' topics that have none."""
        uncommitted = uncommitted_partitions = 0
        for topic in {t for t, _ in offsets}:
            for p in self.partitions.get(topic) or []:
                if (topic, p) in offsets:
                    continue
                uncommitted_partitions += 1
                low, high = self.lows.get((topic, p)), self.highs.get((topic, p))
                if low is not None and high is not None:
                    uncommitted += max(0, high - low)
        return uncommitted, uncommitted_partitions
