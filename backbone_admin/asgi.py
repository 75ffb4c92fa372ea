"""ASGI entry point: Django for HTTP, Channels for websockets (login and origin checked)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backbone_admin.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - Django must be set up first
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from streams.routing import websocket_urlpatterns as streams_ws  # noqa: E402
from topics.routing import websocket_urlpatterns as topics_ws  # noqa: E402


class RefuseUnknownPath(AsyncWebsocketConsumer):
    """Any other websocket path: closed before the handshake completes (HTTP 403), not a 500."""

    async def connect(self) -> None:
        await self.close(code=4404)


websocket_routes = [*topics_ws, *streams_ws, re_path(r"", RefuseUnknownPath.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_routes))),
    }
)
