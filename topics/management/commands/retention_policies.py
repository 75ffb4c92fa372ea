"""`manage.py retention_policies export|import FILE`: keep retention policies in git as YAML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backbone_admin.kafka import BackboneError
from topics.models import RetentionPolicy
from topics.retention.services import policies_export, policies_import

HEADER = "# Retention policies of Backbone Console: `manage.py retention_policies import FILE` applies them.\n"


class Command(BaseCommand):
    help = "Export retention policies to YAML, or import them (all or nothing, upserting by name)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("file", help="path of the YAML file; `-` for stdout / stdin")
        parser.add_argument("--prune", action="store_true", help="import: delete the policies the file does not name")
        parser.add_argument("--user", help="import: the username the audit log records (default: none)")
        parser.add_argument(
            "--if-empty", action="store_true", help="import only when no policy exists yet (seeding a new console)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options["file"])
        elif options["if_empty"] and RetentionPolicy.objects.exists():
            self.stdout.write("retention policies exist already; nothing imported")
        else:
            self._import(options["file"], prune=options["prune"], username=options["user"])

    def _export(self, file: str) -> None:
        policies = policies_export()
        text = HEADER + yaml.safe_dump({"policies": policies}, sort_keys=False, allow_unicode=True)
        if file == "-":
            self.stdout.write(text, ending="")
        else:
            Path(file).write_text(text, encoding="utf-8")
            self.stderr.write(f"exported {len(policies)} retention policies to {file}")

    def _import(self, file: str, *, prune: bool, username: str | None) -> None:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"{file} is not valid YAML: {exc}") from exc
        documents = loaded.get("policies") if isinstance(loaded, dict) else loaded
        if loaded is None:
            documents = []
        user = None
        if username:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user named `{username}`")
        try:
            report = policies_import(user=user, documents=documents, prune=prune)
        except BackboneError as exc:
            raise CommandError(f"nothing imported: {exc.message}") from exc
        self.stdout.write(
            f"imported {file}: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.deleted)} deleted"
        )
