from django.urls import path

from topics import consumers

websocket_urlpatterns = [
    path("ws/clusters/", consumers.ClusterHealthConsumer.as_asgi()),
]
