"""The Kafka gateway: the only package that imports confluent_kafka.

Everything else calls these functions and gets plain dataclasses or a BackboneError.
"""

from backbone_admin.kafka.client import require_cluster, reset_clients
from backbone_admin.kafka.cluster import cluster_overview, is_internal_topic, topic_metadata
from backbone_admin.kafka.errors import (
    BackboneError,
    ClusterNotFound,
    ClusterUnavailable,
    Conflict,
    GroupNotFound,
    InvalidRequest,
    NotFound,
    NotSupported,
    PermissionDenied,
    ReadOnlyCluster,
    TopicNotFound,
)
from backbone_admin.kafka.types import BrokerInfo, ClusterHealth, ClusterOverview, PartitionInfo, TopicMetadata

__all__ = [
    "BackboneError",
    "BrokerInfo",
    "ClusterHealth",
    "ClusterNotFound",
    "ClusterOverview",
    "ClusterUnavailable",
    "Conflict",
    "GroupNotFound",
    "InvalidRequest",
    "NotFound",
    "NotSupported",
    "PartitionInfo",
    "PermissionDenied",
    "ReadOnlyCluster",
    "TopicMetadata",
    "TopicNotFound",
    "cluster_overview",
    "is_internal_topic",
    "require_cluster",
    "reset_clients",
    "topic_metadata",
]
