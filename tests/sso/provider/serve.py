"""Run the test provider: migrate its database, register the console as a client, serve HTTP.

Client from environment: PROVIDER_CLIENT_ID, PROVIDER_CLIENT_SECRET, PROVIDER_REDIRECT_URIS
(space-separated), PROVIDER_POST_LOGOUT_URIS; the port is the first argument.
"""

from __future__ import annotations

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sso.provider.settings")


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("provider: " + (format % args) + "\n")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    Application.objects.update_or_create(
        client_id=os.environ["PROVIDER_CLIENT_ID"],
        defaults={
            "name": "Backbone Console",
            "client_secret": os.environ["PROVIDER_CLIENT_SECRET"],
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": os.environ["PROVIDER_REDIRECT_URIS"],
            "post_logout_redirect_uris": os.environ.get("PROVIDER_POST_LOGOUT_URIS", ""),
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": False,
        },
    )
    server = make_server(
        "127.0.0.1", int(sys.argv[1]), get_wsgi_application(), server_class=ThreadingServer, handler_class=QuietHandler
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
