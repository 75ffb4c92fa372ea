"""Changing a live tail's filter on the open socket (Apply on the page): a good filter runs from
a notice on, with nothing the old filter matched after it; one that does not parse is refused
with the parser's reason while the previous filter and the stream go on. Through the real
ASGI server (Daphne) and the real broker, and on the viewer alone with a clock the test moves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Producer
from django.conf import settings

from streams.events.filters import parse_filter
from tests.streams import test_tail_websocket as tail_sockets
from tests.streams.test_tail_viewer import Clock, items, take_all, viewer
from tests.streams.test_tail_websocket import Tail, open_tail, produce, pump_until, warm_up

pytestmark = pytest.mark.django_db(transaction=True)

# The tail websocket tests' fixtures: a fresh 3-partition topic (deleted once no tail reads it)
# and a producer that sends at once.
topic = tail_sockets.topic
producer = tail_sockets.producer


class Refiltered(Tail):
    """A viewer's socket that also keeps the filter notices, in order with the events."""

    def __init__(self, tail: Tail) -> None:
        super().__init__(tail.ws)
        self.log: list[tuple[str, Any]] = []  # ("event", key) and ("applied", {...}) as they came
        self.refusals: list[dict[str, Any]] = []

    def pump(self, timeout: float) -> None:
        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return
        except Exception as exc:  # the socket closed: the base class records how
            self.close_code = getattr(getattr(exc, "rcvd", None), "code", 1006)
            return
        data = json.loads(raw)
        if "applied" in data:
            self.log.append(("applied", data["applied"]))
        elif "refused" in data:
            self.refusals.append(data)
        elif "events" in data:
            self.log += [("event", e["key"]) for e in data["events"]]
            self.events += data["events"]
            self.dropped += data["dropped"]
            self.ws.send(json.dumps({"ack": data["seq"]}))
        elif "status" in data:
            self.statuses.append(data)
        elif "error" in data:
            self.errors.append(data)

    def apply(self, flt: str, rate: Any = "") -> None:
        self.ws.send(json.dumps({"action": "filter", "filter": flt, "rate": rate}))

    def notices(self) -> list[dict[str, Any]]:
        return [what for kind, what in self.log if kind == "applied"]

    def keys_after_last_notice(self) -> list[str]:
        last = max(i for i, (kind, _) in enumerate(self.log) if kind == "applied")
        return [key for kind, key in self.log[last + 1 :] if kind == "event"]


def test_a_filter_that_does_not_parse_is_refused_and_the_running_one_goes_on(
    live_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    tail = Refiltered(open_tail(live_url, make_user("reader"), topic))
    with tail.ws:
        warm_up(producer, topic, [tail])
        tail.apply('key == "keep"', 200)
        pump_until([tail], lambda: len(tail.notices()) == 1)
        assert tail.notices()[0]["filter"] == 'key == "keep"' and tail.notices()[0]["rate"] == 200
        produce(producer, topic, ["a", "b", "c"], key="keep")
        produce(producer, topic, ["x", "y", "z"], key="other")
        pump_until([tail], lambda: len(tail.keys_after_last_notice()) >= 3)

        tail.apply("payload.status ==")
        pump_until([tail], lambda: len(tail.refusals) == 1)
        refusal = tail.refusals[0]
        assert refusal["refused"] == parse_error("payload.status ==")
        assert "column 18" in refusal["refused"] and "filter" in refusal["fields"]
        tail.apply("amount > 1", settings.TAIL_MAX_RATE + 1)
        pump_until([tail], lambda: len(tail.refusals) == 2)
        assert "rate" in tail.refusals[1]["fields"] and str(settings.TAIL_MAX_RATE) in tail.refusals[1]["refused"]

        # Still open, still filtering with `key == "keep"`: no notice, no close.
        produce(producer, topic, ["d", "e"], key="keep")
        produce(producer, topic, ["v", "w"], key="other")
        pump_until([tail], lambda: len(tail.keys_after_last_notice()) >= 5)
        tail.pump(0.5)
    assert tail.close_code is None and tail.errors == []
    assert len(tail.notices()) == 1
    assert tail.keys_after_last_notice() == ["keep"] * 5
    assert sorted(e["value"] for e in tail.events if e["key"] == "keep") == ["a", "b", "c", "d", "e"]


def test_after_the_notice_only_events_of_the_new_filter_arrive(
    live_url: str, make_user: Any, topic: str, producer: Producer
) -> None:
    tail = Refiltered(open_tail(live_url, make_user("reader"), topic, filter='key == "old"', rate=1000))
    with tail.ws:
        pump_until([tail], lambda: any(s["status"] == "live" for s in tail.statuses))
        # Events of the old filter still arriving, queued, or in flight while the filter changes.
        for round_ in range(20):
            produce(producer, topic, [f"old-{round_}-{n}" for n in range(50)], key="old")
            if round_ == 10:
                tail.apply('key == "new"', 1000)
            tail.pump(0.02)
        pump_until([tail], lambda: len(tail.notices()) == 1)
        produce(producer, topic, [f"new-{n}" for n in range(60)], key="new")
        produce(producer, topic, [f"old-late-{n}" for n in range(60)], key="old")
        pump_until([tail], lambda: tail.keys_after_last_notice().count("new") >= 60)
        tail.pump(0.5)
    assert tail.notices() == [{"filter": 'key == "new"', "rate": 1000, "at": tail.notices()[0]["at"]}]
    assert set(tail.keys_after_last_notice()) == {"new"}
    before = [key for kind, key in tail.log[: tail.log.index(("applied", tail.notices()[0]))] if kind == "event"]
    assert set(before) <= {"old"}


def parse_error(text: str) -> str:
    try:
        parse_filter(text, field="filter")
    except Exception as exc:  # the message is what the socket must carry
        return str(getattr(exc, "message", exc))
    raise AssertionError(f"{text!r} parsed")


# --- the viewer alone ---------------------------------------------------------------------------


def test_set_options_lets_go_of_the_old_filters_events_and_ignores_its_late_offers() -> None:
    clock = Clock()
    v = viewer(clock, rate=100)
    old_generation = v.generation
    v.offer(items(0, 5), generation=old_generation)
    v.rotate()  # five events of the old filter wait in the queue
    v.offer(items(5, 3), generation=old_generation)  # and three in the open window
    new = parse_filter('key == "new"')
    v.set_options(filter=new, rate=10, notice={"applied": {"filter": new.text}})
    assert v.filter is new and v.rate == 10 and v.generation == old_generation + 1
    messages, close = v.take_messages()
    assert messages == [{"applied": {"filter": new.text}}] and close is None
    # A batch the Kafka thread matched under the old filter, offered after the change: ignored.
    v.offer(items(8, 4), generation=old_generation)
    v.rotate()
    assert take_all(v) == ([], {"rate": 0, "queue": 0, "paused": 0})
    clock.now += 1
    v.offer(items(12, 2), generation=v.generation)
    v.rotate()
    assert take_all(v)[0] == [12, 13]
    assert v.counts()["queued_events"] == 0
