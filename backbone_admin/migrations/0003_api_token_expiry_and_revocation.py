from datetime import timedelta
from typing import Any

from django.db import migrations, models
from django.utils import timezone


def expire_existing_tokens(apps: Any, schema_editor: Any) -> None:
    # Tokens made before expiry existed get the default lifetime from now on, so no script
    # stops working the moment the console is upgraded.
    apps.get_model("backbone_admin", "ApiToken").objects.update(expires_at=timezone.now() + timedelta(days=90))


class Migration(migrations.Migration):
    dependencies = [("backbone_admin", "0002_roles")]

    operations = [
        migrations.RenameField("apitoken", "created", "created_at"),
        migrations.RenameField("apitoken", "last_used", "last_used_at"),
        migrations.AddField("apitoken", "expires_at", models.DateTimeField(null=True)),
        migrations.RunPython(expire_existing_tokens, migrations.RunPython.noop),
        migrations.AlterField("apitoken", "expires_at", models.DateTimeField()),
        migrations.AddField("apitoken", "revoked_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("apitoken", "revoked_reason", models.CharField(blank=True, max_length=200)),
    ]
