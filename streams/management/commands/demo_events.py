from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backbone_admin.clusters import default_cluster_name
from backbone_admin.kafka import BackboneError, PermissionDenied, producer
from streams.demo import TOPICS, ShippingWorld, demo_topics_ensure

log = logging.getLogger("backbone.demo")


class Command(BaseCommand):
    help = "Keep the demo topics (orders, containers, shipments) alive with realistic shipping events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cluster", default=None)
        parser.add_argument("--rate", type=float, default=3.0, help="events per second per topic")
        parser.add_argument("--count", type=int, default=0, help="stop after this many rounds (0: run forever)")

    def handle(self, *args: Any, **opts: Any) -> None:
        cluster = opts["cluster"] or default_cluster_name()
        try:
            # Topics first: events sent before would let Kafka auto-create them with one partition.
            demo_topics_ensure(cluster)
        except PermissionDenied as exc:
            # A read-only cluster or missing ACLs: nothing for the demo to do (exit 0, not restarted).
            self.stderr.write(f"demo producer not started: {exc.message}")
            return
        world = ShippingWorld()
        interval = 1.0 / max(opts["rate"], 0.1)
        rounds = 0
        self.stdout.write(f"demo events flowing into {', '.join(TOPICS)} on cluster {cluster}")
        while not opts["count"] or rounds < opts["count"]:
            started = time.monotonic()
            try:
                for event in world.next_events():
                    key, value, headers = event.encoded()
                    producer.produce(cluster, event.topic, key=key, value=value, headers=headers)
                if rounds % 20 == 0:
                    producer.flush(cluster)
            except BackboneError as exc:
                log.warning("demo producer: %s; retrying", exc.message)
                time.sleep(2)
            rounds += 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
        producer.flush(cluster)
