from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from backbone_admin import audit
from backbone_admin.clusters import get_cluster
from backbone_admin.models import Role
from backbone_admin.roles import access_summary, assign_role, remove_cluster_grant

NO_ROLE = "none"


class Command(BaseCommand):
    help = (
        "Create or update a console user: a global role (replacing the old one; `none` takes it away, "
        "and anything below admin also clears the superuser and staff flags), a role on one cluster, "
        "removal of a cluster grant, a password, deactivation. Every change is audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            choices=[r.value for r in Role] + [NO_ROLE],
            help="the global role (`none`: no global role), or with --cluster the role on that cluster",
        )
        parser.add_argument("--cluster", help="grant --role on this cluster only")
        parser.add_argument(
            "--remove-cluster-grant",
            metavar="CLUSTER",
            action="append",
            default=[],
            help="take away the user's role on this cluster (repeatable)",
        )
        parser.add_argument(
            "--password",
            help="set this password (checked by the password validators; also revokes the user's API tokens); "
            "a new user without one gets a random password, printed once",
        )
        parser.add_argument("--email", default="")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--deactivate", action="store_true", help="refuse logins and revoke the user's API tokens")
        state.add_argument("--activate", action="store_true", help="allow logins again (tokens stay revoked)")

    def handle(self, *args: Any, **opts: Any) -> None:
        role, cluster, removals = opts["role"], opts["cluster"], opts["remove_cluster_grant"]
        if cluster and role in (None, NO_ROLE):
            raise CommandError("--cluster needs --role with the role to grant there")
        if not (role or removals or opts["password"] or opts["deactivate"] or opts["activate"]):
            raise CommandError(
                "nothing to do: give --role, --remove-cluster-grant, --password, --deactivate or --activate"
            )
        if cluster and get_cluster(cluster) is None:
            raise CommandError(f"cluster `{cluster}` is not configured")

        User = get_user_model()
        username = opts["username"]
        with transaction.atomic():
            user = User.objects.select_for_update().filter(username=username).first()
            created = user is None
            if user is None:
                if removals or opts["activate"] or opts["deactivate"]:
                    raise CommandError(f"no user `{username}`")
                user = User(username=username, email=opts["email"])
            before = None if created else access_summary(user)
            for name in removals:
                # A grant on a cluster no longer in the clusters file can still be removed.
                if not remove_cluster_grant(user, name):
                    raise CommandError(f"`{username}` has no grant on cluster `{name}`")

            password = opts["password"]
            if password:
                self._check_password(password, user)
            elif created:
                password = secrets.token_urlsafe(12)
            if password:
                user.set_password(password)
            if opts["deactivate"]:
                user.is_active = False
            if opts["activate"]:
                user.is_active = True
            user.save()
            if role:
                assign_role(user, None if role == NO_ROLE else role, cluster=cluster)
            after = access_summary(user)
            audit.record(
                user=None,
                action="user.create" if created else "user.update",
                cluster=cluster or "",
                target=username,
                before=before,
                after={**after, "password_set": bool(opts["password"]) or created},
            )
        self.stdout.write(f"{'Created' if created else 'Updated'} user {username}: {self._describe(after)}.")
        if created and not opts["password"]:
            self.stdout.write(f"Password: {password}")

    @staticmethod
    def _check_password(password: str, user: Any) -> None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("--password refused: " + " ".join(exc.messages)) from exc

    @staticmethod
    def _describe(access: dict[str, Any]) -> str:
        parts = [f"{access['role'] or 'no role'} on every cluster"]
        parts += [f"{role} on {cluster}" for cluster, role in access["grants"].items()]
        if access["superuser"]:
            parts.append("superuser")
        if not access["active"]:
            parts.append("deactivated")
        return ", ".join(parts)
