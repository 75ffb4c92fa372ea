from django.urls import path

from topics.brokers import api

urlpatterns = [
    path("clusters/<str:cluster>/brokers/", api.brokers, name="api-brokers"),
    # <broker>: a broker id, or `default` for the cluster-wide default.
    path("clusters/<str:cluster>/brokers/<str:broker>/configs/", api.broker_configs, name="api-broker-configs"),
]
