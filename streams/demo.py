"""Realistic events of an event-driven shipping domain, for the demo producer, and its topics."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from backbone_admin.kafka import ClusterUnavailable, Conflict, TopicNotFound
from backbone_admin.kafka.topics import create_topic, describe_topic

log = logging.getLogger("backbone.demo")

PORTS = [
    ("Oakland", "USOAK", 37.7955, -122.2795),
    ("Shanghai", "CNSHA", 31.2304, 121.4737),
    ("Rotterdam", "NLRTM", 51.9225, 4.4792),
    ("Singapore", "SGSIN", 1.2644, 103.8220),
    ("Le Havre", "FRLEH", 49.4944, 0.1079),
    ("Santos", "BRSSZ", -23.9608, -46.3336),
    ("Busan", "KRPUS", 35.1796, 129.0756),
]
PRODUCTS = ["P01-fresh-avocado", "P02-frozen-shrimp", "P03-vaccines", "P04-electronics", "P05-coffee-beans"]
CUSTOMERS = ["GoodManuf", "FreshFarms", "PharmaCo", "VinoVino", "BeansNCo", "ToyBox"]
VESSELS = ["Maersk Alabama", "Ever Given", "CMA CGM Marco Polo", "MSC Gulsun", "HMM Algeciras"]
ORDER_STATES = ["OrderCreated", "OrderUpdated", "OrderAssigned", "OrderInTransit", "OrderDelivered", "OrderCancelled"]
CONTAINER_EVENTS = ["ContainerAdded", "ContainerAssigned", "ReeferTelemetry", "ContainerOffMaintenance"]
SHIPMENT_EVENTS = ["ShipmentPlanned", "ShipmentDeparted", "ShipmentPositioned", "ShipmentArrived"]
SHIPMENT_STATUS = {
    "ShipmentPlanned": "planned",
    "ShipmentDeparted": "on-time",
    "ShipmentPositioned": "on-time",
    "ShipmentArrived": "arrived",
}
DELAYED_SHARE = 0.25

TOPICS = ("orders", "containers", "shipments")
PARTITIONS = 3
TOPIC_CONFIGS = {"retention.ms": str(7 * 24 * 3600 * 1000)}
# Waits between attempts while the cluster does not answer: 1, 2, 4, ... up to this many seconds.
MAX_RETRY_DELAY = 30.0


def demo_topic(topic: str, prefix: str = "") -> str:
    """The name of a demo topic; a prefix keeps one test's demo apart from another's."""
    return f"{prefix}{topic}"


def _create_topics(cluster: str, prefix: str) -> list[str]:
    """Create the demo topics that do not exist; return those the metadata does not show ready yet."""
    topics = [demo_topic(t, prefix) for t in TOPICS]
    for topic in topics:
        with contextlib.suppress(Conflict):
            create_topic(cluster, topic, partitions=PARTITIONS, replication_factor=1, configs=TOPIC_CONFIGS)
    pending = []
    for topic in topics:
        try:
            meta = describe_topic(cluster, topic)
        except TopicNotFound:
            pending.append(topic)
            continue
        if not meta.partitions or any(p.leader < 0 for p in meta.partitions):
            pending.append(topic)
        elif len(meta.partitions) < PARTITIONS:
            log.warning(
                "topic `%s` on cluster `%s` has %d partition(s), not %d: it existed before the demo "
                "(delete it to let the demo create it again)",
                topic,
                cluster,
                len(meta.partitions),
                PARTITIONS,
            )
    return pending


def demo_topics_ensure(cluster: str, prefix: str = "") -> None:
    """Create the demo topics and wait until the cluster's metadata shows them with leaders.

    No event may go out before: a Kafka broker with auto.create.topics.enable (its default)
    would create the topic on the first event, with num.partitions (1). While the cluster does
    not answer, try again with growing waits; other errors (read-only cluster, ...) are raised.
    """
    delay = 1.0
    waiting_for: list[str] = []
    while True:
        try:
            pending = _create_topics(cluster, prefix)
        except ClusterUnavailable as exc:
            log.warning("demo producer: %s; trying again in %g s", exc.message, delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            continue
        if not pending:
            return
        if pending != waiting_for:
            log.info("demo producer: waiting for %s to appear on cluster `%s`", ", ".join(pending), cluster)
            waiting_for = pending
        time.sleep(0.5)


@dataclass
class Event:
    topic: str
    key: str
    value: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, bytes, dict[str, bytes]]:
        return (
            self.key.encode(),
            json.dumps(self.value, separators=(",", ":")).encode(),
            {k: v.encode() for k, v in self.headers.items()},
        )


class ShippingWorld:
    """A small, self-consistent world: orders get containers and ride on shipments."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.orders: list[str] = []
        self.containers = [f"C{self.rng.randint(10000, 99999)}" for _ in range(40)]

    def _headers(self, event_type: str, correlation: str) -> dict[str, str]:
        return {
            "event-type": event_type,
            "source": "demo-producer",
            "correlation-id": correlation,
            "content-type": "application/json",
        }

    def order(self) -> Event:
        rng = self.rng
        if self.orders and rng.random() < 0.6:
            order_id = rng.choice(self.orders)
            kind = rng.choice(ORDER_STATES[1:])
        else:
            order_id = f"ORD-{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}"
            self.orders = [*self.orders, order_id][-200:]
            kind = "OrderCreated"
        origin, dest = rng.sample(PORTS, 2)
        value = {
            "eventType": kind,
            "timestamp": int(time.time() * 1000),
            "orderID": order_id,
            "customerID": rng.choice(CUSTOMERS),
            "productID": rng.choice(PRODUCTS),
            "quantity": rng.randint(1, 40) * 10,
            "pickupAddress": {"city": origin[0], "port": origin[1]},
            "destinationAddress": {"city": dest[0], "port": dest[1]},
            "status": kind.removeprefix("Order").lower(),
        }
        return Event("orders", order_id, value, self._headers(kind, order_id))

    def container(self) -> Event:
        rng = self.rng
        container_id = rng.choice(self.containers)
        kind = rng.choices(CONTAINER_EVENTS, weights=[1, 2, 6, 1])[0]
        port = rng.choice(PORTS)
        value: dict[str, Any] = {
            "eventType": kind,
            "timestamp": int(time.time() * 1000),
            "containerID": container_id,
            "type": "Reefer" if int(container_id[1:]) % 3 else "Dry",
            "capacity": rng.choice([20, 40]),
            "location": {"port": port[1], "lat": port[2], "lon": port[3]},
        }
        if kind == "ReeferTelemetry":
            value["telemetry"] = {
                "temperature": round(rng.gauss(4.0, 1.5), 2),
                "humidity": round(rng.uniform(60, 90), 1),
                "co2": round(rng.uniform(2, 8), 2),
                "powerOn": rng.random() > 0.02,
            }
        if kind == "ContainerAssigned" and self.orders:
            value["orderID"] = rng.choice(self.orders)
        return Event("containers", container_id, value, self._headers(kind, container_id))

    def shipment(self) -> Event:
        rng = self.rng
        origin, dest = rng.sample(PORTS, 2)
        shipment_id = f"SHP-{rng.randint(1000, 9999)}"
        kind = rng.choice(SHIPMENT_EVENTS)
        value = {
            "eventType": kind,
            "timestamp": int(time.time() * 1000),
            "shipmentID": shipment_id,
            "vessel": rng.choice(VESSELS),
            "voyage": f"V{rng.randint(100, 999)}",
            "origin": origin[1],
            "destination": dest[1],
            "containers": rng.sample(self.containers, rng.randint(1, 4)),
            "orderIDs": rng.sample(self.orders, min(len(self.orders), rng.randint(0, 3))),
            "position": {"lat": round(rng.uniform(-40, 60), 3), "lon": round(rng.uniform(-180, 180), 3)},
            "status": SHIPMENT_STATUS[kind],
        }
        # Some ships run late: the documented filter `status == "delayed"` finds them.
        if kind != "ShipmentPlanned" and rng.random() < DELAYED_SHARE:
            value["status"] = "delayed"
            value["delayMinutes"] = rng.randint(2, 48) * 30
        return Event("shipments", shipment_id, value, self._headers(kind, shipment_id))

    def next_events(self) -> list[Event]:
        return [self.order(), self.container(), self.shipment()]
