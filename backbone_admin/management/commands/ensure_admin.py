from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from backbone_admin import audit
from backbone_admin.roles import assign_role


class Command(BaseCommand):
    help = (
        "Create the admin account if missing: from DJANGO_SUPERUSER_USERNAME/PASSWORD/EMAIL, or `admin` "
        "with a random password printed once."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        user = User.objects.filter(username=username).first()
        if user is not None:
            if password and not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
                self.stdout.write(f"Log in as {username} with DJANGO_SUPERUSER_PASSWORD.")
            elif password:
                self.stdout.write(f"Log in as {username} with DJANGO_SUPERUSER_PASSWORD.")
            else:
                self.stdout.write(
                    f"Log in as {username} with the password printed at the first start "
                    f"(forgot it? .venv/bin/python manage.py changepassword {username})."
                )
            return
        generated = not password
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email=email, password=password)
        assign_role(user, "admin")
        audit.record(user=None, action="user.create", target=username, after={"role": "admin", "superuser": True})
        if generated:
            self.stdout.write(f"Created admin account — username: {username}  password: {password}")
            self.stdout.write("This password is shown only once; keep it.")
        else:
            self.stdout.write(f"Created admin account {username} with DJANGO_SUPERUSER_PASSWORD.")
