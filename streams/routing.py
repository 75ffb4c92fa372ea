"""Websocket routes of the streams app: the shared live tail and streamed searches."""

from streams.browse.routing import websocket_urlpatterns as browse_ws
from streams.jobs.routing import websocket_urlpatterns as jobs_ws
from streams.tail.routing import websocket_urlpatterns as tail_ws

websocket_urlpatterns = [*tail_ws, *browse_ws, *jobs_ws]
