from django.urls import path

from topics.brokers import views

# Included from topics/urls.py: the names live in the `topics` namespace.
urlpatterns = [
    path("clusters/<str:cluster>/brokers/", views.broker_list, name="brokers"),
    # <broker>: a broker id, or `default` for the cluster-wide default.
    path("clusters/<str:cluster>/brokers/<str:broker>/configs/", views.broker_configs, name="broker_configs"),
]
