from django.urls import path

import topics.converters  # noqa: F401 - registers the <topic:...> converter used below
from streams.tail.consumers import TailConsumer

websocket_urlpatterns = [
    path("ws/clusters/<str:cluster>/topics/<topic:topic>/tail/", TailConsumer.as_asgi()),
]
