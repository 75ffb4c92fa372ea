from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from backbone_admin import audit
from backbone_admin.roles import assign_role


class Command(BaseCommand):
    help = (
        "Create the admin account if it is missing: from DJANGO_SUPERUSER_USERNAME/PASSWORD/EMAIL, or `admin` "
        "with a random password printed once. An existing account is left as it is: its password is never "
        "reset from DJANGO_SUPERUSER_PASSWORD, so a password changed since keeps working."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        if User.objects.filter(username=username).exists():
            unused = " (DJANGO_SUPERUSER_PASSWORD only applies when the account is created)" if password else ""
            self.stdout.write(
                f"Log in as {username} with its current password{unused}; "
                f"forgot it? {self._manage()} changepassword {username}"
            )
            return
        if password:
            try:
                validate_password(password, User(username=username, email=email))
            except ValidationError as exc:
                raise CommandError(
                    f"DJANGO_SUPERUSER_PASSWORD is too weak for the admin account {username}: "
                    + " ".join(exc.messages)
                    + " Set a stronger one, or unset it to have a random password printed once."
                ) from exc
        generated = not password
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email=email, password=password)
        assign_role(user, "admin")
        audit.record(
            user=None,
            action="user.create",
            target=username,
            after={"role": "admin", "superuser": True, "by": "ensure_admin", "password_from_env": not generated},
        )
        if generated:
            self.stdout.write(f"Created admin account — username: {username}  password: {password}")
            self.stdout.write("This password is shown only once; keep it.")
        else:
            self.stdout.write(f"Created admin account {username} with DJANGO_SUPERUSER_PASSWORD.")

    @staticmethod
    def _manage() -> str:
        # A local checkout names its venv and the flag its key needs; the image has `manage` as a role.
        return "BACKBONE_LOCAL=1 .venv/bin/python manage.py" if settings.BACKBONE_LOCAL else "manage.py"
