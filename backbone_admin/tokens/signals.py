"""Access that can be taken back: a password change or a deactivation revokes the user's tokens.

Hooked on the user model's pre_save (not on login or a view) so every path counts: Django's
password forms and admin, `changepassword`, `backbone_user --password`, the shell.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save
from django.dispatch import receiver

from backbone_admin.tokens.services import tokens_revoke_all


@receiver(pre_save, sender=get_user_model())
def revoke_tokens_when_access_changes(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.pk is None:
        return
    old = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if old is None:
        return
    # `_password` holds the new raw password between set_password() and save(); a hash that
    # Django merely upgrades on login (new iteration count) leaves it None and revokes nothing.
    password_set = getattr(instance, "_password", None) is not None or not instance.has_usable_password()
    if old["password"] != instance.password and password_set:
        tokens_revoke_all(user=instance, reason="password changed")
    elif old["is_active"] and not instance.is_active:
        tokens_revoke_all(user=instance, reason="account deactivated")
