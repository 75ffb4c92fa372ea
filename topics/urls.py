from django.urls import include, path

from topics import (
    converters,  # noqa: F401 - registers <topic:…>, any name a broker holds
    views,
    views_topics,
)

app_name = "topics"

urlpatterns = [
    path("clusters/", views.clusters, name="clusters"),
    path("clusters/<str:cluster>/", views.overview, name="overview"),
    # Topics
    path("clusters/<str:cluster>/topics/", views_topics.topic_list, name="list"),
    path("clusters/<str:cluster>/topics/new/", views_topics.topic_create, name="create"),
    path("clusters/<str:cluster>/topics/<topic:topic>/", views_topics.topic_detail, name="detail"),
    path("clusters/<str:cluster>/topics/<topic:topic>/configs/", views_topics.topic_configs, name="configs"),
    path("clusters/<str:cluster>/topics/<topic:topic>/partitions/", views_topics.topic_partitions, name="partitions"),
    path("clusters/<str:cluster>/topics/<topic:topic>/delete/", views_topics.topic_delete, name="delete"),
    # Retention policies and compliance
    path("", include("topics.retention.urls")),
    # Consumer groups
    path("", include("topics.groups.urls")),
    # Brokers and their configs
    path("", include("topics.brokers.urls")),
]
