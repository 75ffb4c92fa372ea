from django.urls import path

from topics.throughput import api

urlpatterns = [
    path("clusters/<str:cluster>/throughput/", api.cluster_throughput, name="api-cluster-throughput"),
    path("clusters/<str:cluster>/topics/<topic:topic>/throughput/", api.topic_throughput, name="api-topic-throughput"),
]
