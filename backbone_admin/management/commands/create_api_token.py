from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backbone_admin import audit
from backbone_admin.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for USER; the token is the last word printed (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            user = get_user_model().objects.get(username=opts["username"], is_active=True)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"no active user `{opts['username']}`") from exc
        token, key = ApiToken.issue(user, name=opts["name"])
        audit.record(user=None, action="token.create", target=user.get_username(), after={"prefix": token.prefix})
        self.stdout.write(f"API token for {user.get_username()} (store it now, it is not shown again): {key}")
