from django.urls import include, path

from topics import (
    api,
    api_topics,
    converters,  # noqa: F401 - registers <topic:…>, any name a broker holds
)

urlpatterns = [
    path("clusters/", api.cluster_list, name="api-clusters"),
    path("clusters/<str:cluster>/", api.cluster_detail, name="api-cluster"),
    # Topics
    path("clusters/<str:cluster>/topics/", api_topics.topics, name="api-topics"),
    path("clusters/<str:cluster>/topics/<topic:topic>/", api_topics.topic, name="api-topic"),
    path("clusters/<str:cluster>/topics/<topic:topic>/configs/", api_topics.topic_configs, name="api-topic-configs"),
    path(
        "clusters/<str:cluster>/topics/<topic:topic>/partitions/",
        api_topics.topic_partitions,
        name="api-topic-partitions",
    ),
    # Retention
    path("", include("topics.retention.api_urls")),
    # Consumer groups
    path("", include("topics.groups.api_urls")),
    # Brokers and their configs
    path("", include("topics.brokers.api_urls")),
    # Throughput (events/s per topic and cluster)
    path("", include("topics.throughput.api_urls")),
]
