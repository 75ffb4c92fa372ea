"""`manage.py permissions export FILE | import FILE [--replace] [--dry-run]`: keep grants in git as YAML.

`import --mapping [FILE]` imports the group→role mapping file (by default `permissions.yml` beside
the clusters file, or BACKBONE_PERMISSIONS_FILE): its grants are marked as the file's and replace
the file's grants of the previous import; grants made in the console are kept. `make run` does it
at every start with `--if-exists`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backbone_admin.grants.services import ImportReport, describe, grants_export, grants_import, permissions_file
from backbone_admin.kafka.errors import BackboneError

HEADER = (
    "# Grants of Backbone Console: `manage.py permissions import FILE [--replace]` applies them.\n"
    "# Each names a user or a glob on directory (OIDC / LDAP) groups, a role (viewer, reader, operator, admin),\n"
    "# optionally a cluster (none: every cluster) and topic / consumer-group patterns (none: all of them).\n"
)
MAX_FILE_BYTES = 1 << 20


class Command(BaseCommand):
    help = "Export grants to YAML, or import them (all or nothing; prints what is added, changed, removed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument(
            "file", nargs="?", help="path of the YAML file; `-` for stdout / stdin; with --mapping: the mapping file"
        )
        parser.add_argument("--replace", action="store_true", help="import: delete the grants the file does not name")
        parser.add_argument("--dry-run", action="store_true", help="import: print the changes, make none")
        parser.add_argument(
            "--mapping",
            action="store_true",
            help="import the group→role mapping file: its grants replace those of its last import, others stay",
        )
        parser.add_argument("--if-exists", action="store_true", help="import: a missing file is not an error")
        parser.add_argument("--user", help="import: the username the audit log records (default: none)")

    def handle(self, *args: Any, **options: Any) -> None:
        file = options["file"]
        if options["action"] == "export":
            if not file:
                raise CommandError("name the file to export to (`-` for stdout)")
            self._export(file)
            return
        if not file and options["mapping"]:
            path = permissions_file()
            if path is None:
                if options["if_exists"]:
                    return  # `make run` without a clusters file: nothing to import, nothing to say
                raise CommandError("no permissions file configured: set BACKBONE_PERMISSIONS_FILE or a clusters file")
            file = str(path)
        if not file:
            raise CommandError("name the file to import (`-` for stdin)")
        if options["if_exists"] and file != "-" and not Path(file).is_file():
            self.stdout.write(f"{file} does not exist; nothing imported")
            return
        self._import(file, options)

    def _export(self, file: str) -> None:
        grants = grants_export()
        text = HEADER + yaml.safe_dump({"grants": grants}, sort_keys=False, allow_unicode=True)
        if file == "-":
            self.stdout.write(text, ending="")
        else:
            Path(file).write_text(text, encoding="utf-8")
            self.stderr.write(f"exported {len(grants)} grants to {file}")

    def _import(self, file: str, options: dict[str, Any]) -> None:
        try:
            text = sys.stdin.read(MAX_FILE_BYTES + 1) if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from exc
        if len(text) > MAX_FILE_BYTES:
            raise CommandError(f"{file} is larger than {MAX_FILE_BYTES:,} bytes; nothing imported")
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"{file} is not valid YAML, nothing imported: {exc}") from exc
        if loaded is None:
            documents: Any = []
        elif isinstance(loaded, dict) and set(loaded) <= {"grants"}:
            documents = loaded.get("grants") or []
        else:
            raise CommandError(f"{file} must hold `grants:` and a list of grants; nothing imported")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user named `{options['user']}`")
        try:
            report = grants_import(
                user=user,
                documents=documents,
                replace=options["replace"],
                dry_run=options["dry_run"],
                from_file=options["mapping"],
            )
        except BackboneError as exc:
            raise CommandError(exc.message) from exc
        self._print(file, report)

    def _print(self, file: str, report: ImportReport) -> None:
        for doc in report.added:
            self.stdout.write(f"+ {describe(doc)}")
        for before, after in report.changed:
            self.stdout.write(
                f"~ {describe(before)}  →  {after['role']}{' — ' + after['note'] if after.get('note') else ''}"
            )
        for doc in report.removed:
            self.stdout.write(f"- {describe(doc)}")
        self.stdout.write(f"imported {file}: {report.summary}")
