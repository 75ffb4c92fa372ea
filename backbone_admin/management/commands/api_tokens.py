from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backbone_admin.models import ApiToken
from backbone_admin.tokens.services import token_revoke


class Command(BaseCommand):
    help = "List API tokens (`list [USER] [--all]`) or revoke one (`revoke ID`). Keys are never shown."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="tokens, newest first")
        listing.add_argument("username", nargs="?", help="only this user's tokens")
        listing.add_argument("--all", action="store_true", help="also expired and revoked tokens")
        revoke = actions.add_parser("revoke", help="revoke a token: it stops working at once")
        revoke.add_argument("token_id", type=int, metavar="ID")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "list":
            self._list(opts["username"], include_all=opts["all"])
        else:
            self._revoke(opts["token_id"])

    def _list(self, username: str | None, *, include_all: bool) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
        if username:
            if not get_user_model().objects.filter(username=username).exists():
                raise CommandError(f"no user `{username}`")
            tokens = tokens.filter(user__username=username)
        if not include_all:
            tokens = tokens.usable()
        rows = [
            (
                str(t.pk),
                t.label,
                t.user.get_username(),
                t.name or "-",
                f"{t.created_at:%Y-%m-%d}",
                f"{t.expires_at:%Y-%m-%d}",
                f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
                t.status + (f" ({t.revoked_reason})" if t.revoked_reason else ""),
            )
            for t in tokens
        ]
        if not rows:
            self.stdout.write("No tokens." if include_all else "No tokens in force (--all shows expired and revoked).")
            return
        header = ("ID", "TOKEN", "USER", "NAME", "CREATED", "EXPIRES", "LAST USED", "STATUS")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def _revoke(self, token_id: int) -> None:
        token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
        if token is None:
            raise CommandError(f"no API token {token_id} (`api_tokens list --all` shows them)")
        if not token_revoke(token=token, actor=None, reason="revoked with manage.py api_tokens"):
            self.stdout.write(f"API token {token_id} ({token.label}) was already revoked.")
            return
        self.stdout.write(f"Revoked API token {token_id} ({token.label}) of {token.user.get_username()}.")
