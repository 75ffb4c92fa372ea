from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backbone_admin.clusters import default_cluster_name
from backbone_admin.kafka import PermissionDenied
from streams.demo_consumers import run_service, services


class Command(BaseCommand):
    help = (
        "Run one of the demo's services as a consumer group of its own: order-service (keeps up), "
        "analytics (falls behind under bursts), invoicing (leaves its group every few minutes)."
    )
    # The web app's checks (URLs, views, API schema) are not this process's business, and loading
    # them would double its memory: three of these run beside the console under `make run`.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("service", choices=sorted(services()))
        parser.add_argument("--cluster", default=None)
        parser.add_argument("--prefix", default="", help="put before the topic and group names (keeps tests apart)")

    def handle(self, *args: Any, **opts: Any) -> None:
        service = services()[opts["service"]]
        cluster = opts["cluster"] or default_cluster_name()
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            # Finish the batch in hand, commit it and leave the group: supervisord's stop (SIGTERM)
            # and Ctrl-C end a service the way a deployment's rolling restart does.
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            run_service(cluster, service, stop, prefix=opts["prefix"])
        except PermissionDenied as exc:
            # A read-only cluster or missing ACLs: nothing for the demo to do (exit 0, not restarted).
            self.stderr.write(f"demo service {service.name} not started: {exc.message}")
