"""A tail viewer's rate limit, sampling, bounded queue and pause, on a clock the test moves.

These exercise `streams.tail.viewer.Viewer` alone (no broker): records are built here and
written as JSON by a plain codec, so counts and positions can be checked exactly.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from backbone_admin.kafka.records import Record
from streams.tail.viewer import Chunk, Item, Viewer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class PlainCodec:
    """Writes partition, offset and value: enough to see which events a viewer got."""

    def decode(self, record: Record, *, masked: bool) -> Any:
        return record

    def dumps(self, event: Any) -> str:
        return json.dumps({"partition": event.partition, "offset": event.offset, "value": event.value.decode()})


CODEC = PlainCodec()


def items(start: int, count: int, size: int = 10) -> Chunk:
    return Chunk(
        [
            Item(Record("t", 0, o, 0, "create", None, b"x" * size, ()), CODEC, masked=False)
            for o in range(start, start + count)
        ]
    )


def viewer(clock: Clock, *, rate: float = 100, queue_events: int = 1000, queue_bytes: int = 10**9) -> Viewer:
    return Viewer(
        filter=None,
        rate=rate,
        masked=False,
        window=0.1,
        queue_events=queue_events,
        queue_bytes=queue_bytes,
        notify=lambda: None,
        clock=clock,
    )


def take_all(v: Viewer) -> tuple[list[int], dict[str, int]]:
    offsets: list[int] = []
    dropped = {"rate": 0, "queue": 0, "paused": 0}
    while (push := v.take(max_events=500, max_bytes=10**9)) is not None:
        data = json.loads(push)
        offsets += [e["offset"] for e in data["events"]]
        for k in dropped:
            dropped[k] += data["dropped_by"][k]
        assert data["dropped"] == sum(data["dropped_by"].values())
    return offsets, dropped


def test_under_its_rate_a_viewer_gets_every_event_in_order() -> None:
    clock = Clock()
    v = viewer(clock, rate=100)
    got: list[int] = []
    for window in range(50):  # 5 s at 80 events/s
        v.offer(items(window * 8, 8))
        clock.now += 0.1
        v.rotate()
        offsets, dropped = take_all(v)
        got += offsets
        assert dropped == {"rate": 0, "queue": 0, "paused": 0}
    assert got == list(range(400))


def test_over_its_rate_a_viewer_gets_its_rate_and_the_count_of_the_rest() -> None:
    clock = Clock()
    v = viewer(clock, rate=10)
    got: list[int] = []
    dropped_rate = 0
    for window in range(100):  # 10 s at 1000 events/s
        v.offer(items(window * 100, 100))
        clock.now += 0.1
        v.rotate()
        offsets, dropped = take_all(v)
        got += offsets
        dropped_rate += dropped["rate"]
    # 10/s for 10 s, plus at most one second's worth saved up before the flood.
    assert 100 <= len(got) <= 100 + 10
    assert len(got) + dropped_rate == 10_000
    assert got == sorted(got)  # a sample keeps arrival order
    assert v.counts()["dropped"] == dropped_rate


def test_the_sample_is_fair_across_a_window() -> None:
    # Reservoir sampling: every event of a window has the same chance to be kept, the late
    # ones as much as the first ones. 4000 windows of 100 events keeping 10 each.
    random.seed(8)
    clock = Clock()
    v = viewer(clock, rate=100)
    per_decile = [0] * 10
    for _ in range(4000):
        v.offer(items(0, 100))
        clock.now += 0.1
        v.rotate()
        offsets, _ = take_all(v)
        for o in offsets:
            per_decile[o // 10] += 1
    total = sum(per_decile)
    assert 4000 * 10 <= total <= 4000 * 10 + 100
    for count in per_decile:
        assert abs(count / total - 0.1) < 0.01, per_decile


def test_a_viewer_that_does_not_read_keeps_a_bounded_queue_of_the_newest_events() -> None:
    clock = Clock()
    v = viewer(clock, rate=1000, queue_events=300)
    for window in range(50):  # nobody takes anything for 5 s at 1000 events/s
        v.offer(items(window * 100, 100))
        clock.now += 0.1
        v.rotate()
        assert v.counts()["queued_events"] <= 300
    offsets, dropped = take_all(v)
    assert offsets == list(range(4700, 5000))  # the oldest went first
    assert dropped == {"rate": 0, "queue": 4700, "paused": 0}


def test_the_queue_is_bounded_in_bytes_too() -> None:
    clock = Clock()
    v = viewer(clock, rate=1000, queue_bytes=50_000)
    for window in range(10):
        v.offer(items(window * 100, 100, size=1000))
        clock.now += 0.1
        v.rotate()
        assert v.counts()["queued_bytes"] <= 50_000
    offsets, dropped = take_all(v)
    assert len(offsets) == 50 and offsets[-1] == 999
    assert dropped["queue"] == 950


def test_a_push_is_bounded_and_the_rest_waits_for_the_next_one() -> None:
    clock = Clock()
    v = viewer(clock, rate=1000)
    v.offer(items(0, 300))
    clock.now += 0.1
    v.rotate()
    first = json.loads(v.take(max_events=100, max_bytes=10**9) or "")
    second = json.loads(v.take(max_events=100, max_bytes=500) or "")  # 10-byte records
    assert [e["offset"] for e in first["events"]] == list(range(100))
    assert first["seq"] + 1 == second["seq"]
    assert [e["offset"] for e in second["events"]] == list(range(100, 150))


def test_while_paused_events_are_counted_not_queued() -> None:
    clock = Clock()
    v = viewer(clock)
    v.set_paused(True)
    v.offer(items(0, 40))
    assert v.window_pending()
    clock.now += 0.1
    v.rotate()
    assert take_all(v) == ([], {"rate": 0, "queue": 0, "paused": 40})
    v.set_paused(False)
    v.offer(items(40, 5))
    clock.now += 0.1
    v.rotate()
    assert take_all(v) == ([40, 41, 42, 43, 44], {"rate": 0, "queue": 0, "paused": 0})


def test_a_push_that_carried_the_paused_count_leaves_the_next_offer_able_to_wake_the_task() -> None:
    # The websocket task's order: rotate, then push what is due. An offer while paused lands
    # between the two, so the push carries its count before the task sees the wake-up.
    woken: list[int] = []
    clock = Clock()
    v = Viewer(
        filter=None, rate=100, masked=False, window=0.1, queue_events=1000, queue_bytes=10**9,
        notify=lambda: woken.append(1), clock=clock,
    )  # fmt: skip
    v.set_paused(True)
    v.offer(items(0, 3))
    v.rotate()
    v.offer(items(3, 2))
    assert take_all(v) == ([], {"rate": 0, "queue": 0, "paused": 5})
    assert v.window_pending()  # the task woken by the second offer still rotates
    clock.now += 0.1
    v.rotate()
    v.set_paused(False)
    woken.clear()
    v.offer(items(5, 4))
    assert woken == [1]
    assert v.window_pending()
    clock.now += 0.1
    v.rotate()
    assert take_all(v) == ([5, 6, 7, 8], {"rate": 0, "queue": 0, "paused": 0})


def test_nothing_to_say_is_no_push() -> None:
    v = viewer(Clock())
    v.rotate()
    assert v.take(max_events=10, max_bytes=10) is None
    assert not v.window_pending()


@pytest.mark.parametrize("rate", [1, 3])
def test_a_low_rate_is_kept_over_time(rate: int) -> None:
    clock = Clock()
    v = viewer(clock, rate=rate)
    got = 0
    for window in range(300):  # 30 s, 10 events every 100 ms
        v.offer(items(window * 10, 10))
        clock.now += 0.1
        v.rotate()
        got += len(take_all(v)[0])
    assert rate * 30 <= got <= rate * 30 + rate


def test_viewers_that_get_the_same_events_share_their_json() -> None:
    class CountingCodec(PlainCodec):
        dumps_calls = 0

        def dumps(self, event: Any) -> str:
            CountingCodec.dumps_calls += 1
            return super().dumps(event)

    codec = CountingCodec()
    clock = Clock()
    viewers = [viewer(clock, rate=1000) for _ in range(100)]
    chunk = Chunk([Item(Record("t", 0, o, 0, "create", None, b"v", ()), codec, masked=False) for o in range(50)])
    for v in viewers:
        v.offer(chunk)
    clock.now += 0.1
    pushes = []
    for v in viewers:
        v.rotate()
        pushes.append(v.take(max_events=500, max_bytes=10**9))
    assert CountingCodec.dumps_calls == 50  # once per event, not once per viewer
    assert len(set(pushes)) == 1 and len(json.loads(pushes[0] or "")["events"]) == 50


def test_a_window_that_overflows_after_whole_chunks_samples_them_all_in_order() -> None:
    clock = Clock()
    v = viewer(clock, rate=30)  # a window may keep 30 (one second's worth saved up)
    for start in range(0, 100, 10):
        v.offer(items(start, 10))
    clock.now += 0.1
    v.rotate()
    offsets, dropped = take_all(v)
    assert len(offsets) == 30 and offsets == sorted(offsets)
    assert dropped["rate"] == 70
    assert max(offsets) >= 30  # later chunks had their chance too
