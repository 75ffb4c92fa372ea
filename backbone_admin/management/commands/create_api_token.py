from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backbone_admin.tokens.services import token_issue


class Command(BaseCommand):
    help = "Create an API token for USER; the token is the last word printed (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for (shown in token lists)")
        parser.add_argument(
            "--days", type=int, help=f"days until it expires (default API_TOKEN_DAYS, now {settings.API_TOKEN_DAYS})"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["days"] is not None and opts["days"] < 1:
            raise CommandError("--days must be at least 1")
        if len(opts["name"]) > 100:
            raise CommandError("--name must be at most 100 characters")
        try:
            user = get_user_model().objects.get(username=opts["username"], is_active=True)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"no active user `{opts['username']}`") from exc
        token, key = token_issue(user=user, name=opts["name"], days=opts["days"])
        self.stdout.write(
            f"API token {token.pk} for {user.get_username()}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC "
            f"(store it now, it is not shown again): {key}"
        )
