from django.apps import AppConfig


class BackboneAdminConfig(AppConfig):
    name = "backbone_admin"
    verbose_name = "Backbone Console"

    def ready(self) -> None:
        from backbone_admin import checks  # noqa: F401 - registers the system checks
        from backbone_admin.tokens import signals  # noqa: F401 - revokes tokens on password change
