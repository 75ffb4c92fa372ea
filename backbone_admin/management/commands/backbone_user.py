from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from backbone_admin import audit
from backbone_admin.clusters import get_cluster
from backbone_admin.models import Role
from backbone_admin.roles import assign_role


class Command(BaseCommand):
    help = "Create or update a console user and give them a role, globally or on one cluster."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--password", help="set this password (a random one is printed for a new user otherwise)")
        parser.add_argument("--cluster", help="grant the role on this cluster only")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **opts: Any) -> None:
        cluster = opts["cluster"]
        if cluster and get_cluster(cluster) is None:
            raise CommandError(f"cluster `{cluster}` is not configured")
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=opts["username"], defaults={"email": opts["email"]})
            password = opts["password"]
            if created and not password:
                password = secrets.token_urlsafe(12)
            if password:
                user.set_password(password)
                user.save()
            assign_role(user, opts["role"], cluster=cluster)
            audit.record(
                user=None,
                action="user.role",
                cluster=cluster or "",
                target=user.get_username(),
                after={"role": opts["role"], "cluster": cluster, "created": created},
            )
        scope = f"on cluster {cluster}" if cluster else "on every cluster"
        self.stdout.write(f"{'Created' if created else 'Updated'} user {user.get_username()}: {opts['role']} {scope}.")
        if created and not opts["password"]:
            self.stdout.write(f"Password: {password}")
