from django.urls import path

from topics import api

urlpatterns = [
    path("clusters/", api.cluster_list, name="api-clusters"),
    path("clusters/<str:cluster>/", api.cluster_detail, name="api-cluster"),
]
