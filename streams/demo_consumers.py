"""The shipping example's services as real consumers of the demo topics, one consumer group each.

So that after `make run` the group pages, the lag history and the rewinds have something real
to show, three services of the reference architecture's shipping example consume what the demo
producer (`demo_events`) writes:

- `order-service` reads `orders` and keeps up: every event is processed as it comes and the
  offsets committed as it goes (every second), so its lag stays near 0, bursts included.
- `analytics` reads `orders`, `containers` and `shipments` at a capped rate (DEMO_ANALYTICS_RATE
  events/s, above the producer's steady rate and far below its bursts): a burst builds lag,
  which then drains.
- `invoicing` reads `orders` and `shipments`, stays in its group DEMO_INVOICING_RUN s, then
  leaves it for DEMO_INVOICING_PAUSE s: meanwhile the group is Empty, its lag grows, and a
  rewind can be tried on it; when it comes back it resumes from the committed offsets.

Each service is a process of its own (`manage.py demo_consumer NAME`; under `make run`, one
supervisord program per service) rather than a thread of one demo process: that is how such
services are deployed, and a crash of one — librdkafka can take a consumer's process down, e.g.
when some brokers answer oddly about a topic deleted under it — restarts that service alone
while the others keep their groups. Three more processes cost memory, not CPU: each one waits
on the broker between batches.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from django.conf import settings

from backbone_admin.kafka import BackboneError, PermissionDenied
from backbone_admin.kafka.client import configured_timeout
from backbone_admin.kafka.subscriber import Consumed, Subscriber
from backbone_admin.kafka.topics import describe_topic
from streams.demo import MAX_RETRY_DELAY, TOPICS, demo_topic

log = logging.getLogger("backbone.demo")

# A service waits at most this long for events before it looks at the clock and its stop signal.
POLL_WAIT = 1.0
COMMIT_INTERVAL = 1.0
BATCH = 500
# Values larger than this are counted but not parsed: a demo service never stalls on one event.
PARSE_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Service:
    name: str
    topics: tuple[str, ...]
    does: str
    # Events/s it can process at most; 0: as fast as they come.
    rate: float = 0.0
    # Seconds it stays in its group before leaving for `pause` s; 0: it stays.
    run: float = 0.0
    pause: float = 0.0


def services() -> dict[str, Service]:
    return {
        "order-service": Service("order-service", ("orders",), "keeps up with every order"),
        "analytics": Service(
            "analytics",
            TOPICS,
            "aggregates everything at a capped rate: falls behind under bursts, then catches up",
            rate=float(settings.DEMO_ANALYTICS_RATE),
        ),
        "invoicing": Service(
            "invoicing",
            ("orders", "shipments"),
            "invoices orders and shipments; leaves its group for a while every few minutes",
            run=float(settings.DEMO_INVOICING_RUN),
            pause=float(settings.DEMO_INVOICING_PAUSE),
        ),
    }


class Pace:
    """Holds a service to `rate` events/s: how long to wait after handling a batch."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = time.monotonic()

    def delay(self, handled: int, since: float) -> float:
        """After handling `handled` events asked for at `since`: time spent waiting for them counts."""
        if self.rate <= 0 or not handled:
            return 0.0
        self._next = max(self._next, since) + handled / self.rate
        return max(0.0, self._next - time.monotonic())


class Work:
    """What a service does with an event: tallies event types (the demo's stand-in for business logic)."""

    def __init__(self) -> None:
        self.events = 0
        self.types: Counter[str] = Counter()

    def handle(self, record: Consumed) -> None:
        self.events += 1
        value = record.value or b""
        if len(value) > PARSE_MAX_BYTES:
            return
        try:
            event = json.loads(value)
        except ValueError:
            self.types["unreadable"] += 1
            return
        kind = event.get("eventType") if isinstance(event, dict) else None
        self.types[str(kind) if kind else "untyped"] += 1

    def summary(self) -> str:
        top = ", ".join(f"{kind} {n}" for kind, n in self.types.most_common(3))
        return f"{self.events} events" + (f" ({top}, …)" if top else "")


def _member_session(member: Subscriber, service: Service, stop: threading.Event, work: Work) -> str:
    """Consume until stopped, lost or due for a pause; which of the three ("stop", "lost", "pause")."""
    started = time.monotonic()
    pace = Pace(service.rate)
    # A capped service takes at most a second's worth at a time, so it polls (and answers its
    # stop signal) every second however far behind it is.
    batch = max(1, int(service.rate)) if service.rate > 0 else BATCH
    last_commit = started
    while not stop.is_set():
        now = time.monotonic()
        if service.run > 0 and now - started >= service.run:
            return "pause"
        if member.lost.is_set():
            return "lost"
        asked = time.monotonic()
        try:
            records = member.poll(batch, POLL_WAIT)
        except BackboneError as exc:
            log.warning("%s: %s", service.name, exc.message)
            return "lost"
        for record in records:
            work.handle(record)
        member.processed(records)
        if time.monotonic() - last_commit >= COMMIT_INTERVAL:
            member.commit()
            last_commit = time.monotonic()
        stop.wait(pace.delay(len(records), asked))
    return "stop"


def _leave(member: Subscriber, service: Service, *, commit: bool) -> bool:
    """Commit what was processed (unless the client failed) and leave, within KAFKA_TIMEOUT.

    Whether everything processed was committed.
    """
    budget = configured_timeout()
    started = time.monotonic()
    committed = member.commit_and_wait(budget) if commit else False
    if commit and not committed:
        log.warning("%s: the last offsets were not committed within %g s", service.name, budget)
    member.close(max(1.0, budget - (time.monotonic() - started)))
    return committed


def _wait_for_topics(cluster: str, service: Service, topics: list[str], stop: threading.Event) -> None:
    """Wait until the topics exist: started beside the producer, a service would otherwise join
    before the producer created them, warn of each missing topic, and see it only at the next
    metadata refresh. A cluster that does not answer is waited for in the same loop."""
    said = False
    while not stop.is_set():
        try:
            for topic in topics:
                describe_topic(cluster, topic)
            return
        except PermissionDenied:
            raise
        except BackboneError as exc:
            if not said:
                log.info("%s: waiting for %s (%s)", service.name, ", ".join(topics), exc.message)
                said = True
        stop.wait(POLL_WAIT)


def run_service(cluster: str, service: Service, stop: threading.Event, *, prefix: str = "") -> int:
    """Run `service` until `stop` is set; the number of events it processed.

    A cluster that does not answer is waited for (librdkafka reconnects, and joins again after a
    restart; see Subscriber); a member whose client failed for good is replaced, after growing
    waits. A read-only cluster raises PermissionDenied.
    """
    group = demo_topic(service.name, prefix)
    topics = [demo_topic(t, prefix) for t in service.topics]
    processed = 0
    delay = 1.0
    committed = True
    _wait_for_topics(cluster, service, topics, stop)
    while not stop.is_set():
        try:
            member = Subscriber(cluster, group, topics, client_id=service.name)
        except PermissionDenied:
            raise
        except BackboneError as exc:
            log.warning("%s: %s; trying again in %g s", service.name, exc.message, delay)
            stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            continue
        log.info(
            "%s: consuming %s as group `%s` on cluster `%s` (%s)",
            service.name,
            ", ".join(topics),
            group,
            cluster,
            service.does,
        )
        work = Work()
        outcome = _member_session(member, service, stop, work)
        committed = _leave(member, service, commit=outcome != "lost")
        processed += work.events
        if outcome == "lost":
            log.warning("%s: its Kafka client failed; joining group `%s` again in %g s", service.name, group, delay)
            stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            continue
        delay = 1.0
        if outcome == "pause":
            log.info(
                "%s: left group `%s` for %g s after %s (meanwhile the group is Empty, its lag grows, "
                "and a rewind can be tried on it)",
                service.name,
                group,
                service.pause,
                work.summary(),
            )
            stop.wait(service.pause)
    log.info(
        "%s: stopped: %d events processed; offsets %s",
        service.name,
        processed,
        "committed" if committed else "NOT all committed",
    )
    return processed
