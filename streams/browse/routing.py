from django.urls import path

import topics.converters  # noqa: F401 - registers the <topic:...> converter used below
from streams.browse.consumers import SearchConsumer

websocket_urlpatterns = [
    path("ws/clusters/<str:cluster>/topics/<topic:topic>/search/", SearchConsumer.as_asgi()),
]
