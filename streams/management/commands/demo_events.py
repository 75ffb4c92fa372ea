from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backbone_admin.clusters import default_cluster_name
from backbone_admin.kafka import BackboneError, PermissionDenied, producer
from streams.demo import TOPICS, ShippingWorld, demo_topic, demo_topics_ensure

log = logging.getLogger("backbone.demo")

# The first burst comes this soon after the start (or after one interval, if shorter), so a
# newcomer sees `analytics` fall behind and catch up within the first minutes.
FIRST_BURST_AFTER = 30.0
# Failed rounds in a row, with the cluster answering between them, before the producer gives up.
MAX_FAILURES = 3


class Command(BaseCommand):
    help = "Keep the demo topics (orders, containers, shipments) alive with realistic shipping events."
    # The web app's checks are not this process's business (and would double its memory).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cluster", default=None)
        parser.add_argument("--rate", type=float, default=3.0, help="events per second per topic")
        parser.add_argument("--count", type=int, default=0, help="stop after this many rounds (0: run forever)")
        parser.add_argument(
            "--burst-every", type=float, default=None, help="seconds between bursts (DEMO_BURST_INTERVAL; 0: none)"
        )
        parser.add_argument(
            "--burst-events", type=int, default=None, help="events per topic in a burst (DEMO_BURST_EVENTS)"
        )
        parser.add_argument("--prefix", default="", help="put before the topic names (keeps tests apart)")

    def handle(self, *args: Any, **opts: Any) -> None:
        cluster = opts["cluster"] or default_cluster_name()
        prefix = opts["prefix"]
        try:
            # Topics first: events sent before would let Kafka auto-create them with one partition.
            demo_topics_ensure(cluster, prefix)
        except PermissionDenied as exc:
            # A read-only cluster or missing ACLs: nothing for the demo to do (exit 0, not restarted).
            self.stderr.write(f"demo producer not started: {exc.message}")
            return
        burst_every = float(settings.DEMO_BURST_INTERVAL if opts["burst_every"] is None else opts["burst_every"])
        burst_events = int(settings.DEMO_BURST_EVENTS if opts["burst_events"] is None else opts["burst_events"])
        world = ShippingWorld()
        interval = 1.0 / max(opts["rate"], 0.1)
        rounds = failures = 0
        next_burst = time.monotonic() + min(FIRST_BURST_AFTER, burst_every) if burst_every > 0 else float("inf")
        topics = ", ".join(demo_topic(t, prefix) for t in TOPICS)
        self.stdout.write(f"demo events flowing into {topics} on cluster {cluster}")
        while not opts["count"] or rounds < opts["count"]:
            started = time.monotonic()
            try:
                if burst_events > 0 and started >= next_burst:
                    # A burst (a batch job, a partner's backlog arriving): `analytics` falls behind.
                    self._send(cluster, world, prefix, burst_events)
                    producer.flush(cluster)
                    log.info("demo producer: a burst of %d events per topic", burst_events)
                    next_burst = time.monotonic() + burst_every
                self._send(cluster, world, prefix, 1)
                if rounds % 20 == 0:
                    producer.flush(cluster)
            except PermissionDenied as exc:
                self.stderr.write(f"demo producer stopped: {exc.message}")
                return
            except BackboneError as exc:
                failures += 1
                if failures > MAX_FAILURES:
                    # The cluster answers, the topics are there, and still nothing goes out: the
                    # producer itself is broken for good (an idempotent producer whose id a restarted
                    # broker forgot stays failed). Exit so that supervisord starts a new process.
                    raise CommandError(f"demo producer: {exc.message}; giving up, to be started again") from exc
                log.warning("demo producer: %s; retrying", exc.message)
                time.sleep(2)
                # A broker that was restarted may have come back without the topics (an
                # in-memory one always does): make them again before the next event.
                demo_topics_ensure(cluster, prefix)
            else:
                failures = 0
            rounds += 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
        producer.flush(cluster)

    @staticmethod
    def _send(cluster: str, world: ShippingWorld, prefix: str, rounds: int) -> None:
        for _ in range(rounds):
            for event in world.next_events():
                key, value, headers = event.encoded()
                producer.produce(cluster, demo_topic(event.topic, prefix), key=key, value=value, headers=headers)
