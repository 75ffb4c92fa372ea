"""`manage.py permissions export|import`: grants kept in git as YAML, imported all or nothing,
and the group→role mapping file beside the clusters file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from backbone_admin.grants import services
from backbone_admin.grants.services import FILE_NOTE, permissions_file
from backbone_admin.models import AuditEntry, Grant

pytestmark = pytest.mark.django_db

FILE = """\
grants:
  - {group: "kafka-orders-*", role: reader, cluster: local, topics: ["orders.*"], groups: ["orders-*"]}
  - {user: alice, role: operator}
"""


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("permissions", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _grants() -> list[dict[str, Any]]:
    return [g.as_dict() for g in Grant.objects.order_by("id")]


def _state() -> tuple[list[dict[str, Any]], int]:
    return _grants(), AuditEntry.objects.count()


def test_the_documented_format_imports_and_prints_what_it_added(tmp_path: Path) -> None:
    path = tmp_path / "permissions.yml"
    path.write_text(FILE)
    out = _run("import", str(path))
    assert _grants() == [
        {
            "group": "kafka-orders-*",
            "role": "reader",
            "cluster": "local",
            "topics": ["orders.*"],
            "groups": ["orders-*"],
        },
        {"user": "alice", "role": "operator"},
    ]
    assert "+ group kafka-orders-*: reader on cluster local; topics orders.*; groups orders-*" in out
    assert "+ user alice: operator on every cluster" in out
    assert "2 added, 0 changed, 0 removed, 0 unchanged" in out
    created = AuditEntry.objects.filter(action="grant.create").order_by("id")
    assert [e.after for e in created] == _grants() and all(e.before is None for e in created)


def test_export_then_import_gives_back_the_same_grants(tmp_path: Path, make_user: Any) -> None:
    admin = make_user("admin")
    services.grant_create(user=admin, data={"subject_type": "group", "subject": "eng-*", "role": "viewer"})
    services.grant_create(
        user=admin,
        data={
            "subject_type": "user",
            "subject": "bob",
            "role": "reader",
            "cluster": "local",
            "topics": ["re:payments-(eu|us)", "refunds.*"],
            "note": "payments — on call",
        },
    )
    before = _grants()
    path = tmp_path / "grants.yml"
    _run("export", str(path))
    assert yaml.safe_load(path.read_text())["grants"] == before  # groups first, then users
    Grant.objects.all().delete()
    out = _run("import", str(path))
    assert sorted(map(str, _grants())) == sorted(map(str, before))
    assert "2 added" in out
    # Importing it again changes nothing.
    audits = AuditEntry.objects.count()
    assert "0 added, 0 changed, 0 removed, 2 unchanged" in _run("import", str(path))
    assert AuditEntry.objects.count() == audits


def test_a_dry_run_prints_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    Grant.objects.create(subject_type="user", subject="alice", role="viewer")
    Grant.objects.create(subject_type="user", subject="carol", role="admin")
    path = tmp_path / "permissions.yml"
    path.write_text(FILE)
    before = _state()
    out = _run("import", str(path), "--replace", "--dry-run")
    assert "+ group kafka-orders-*" in out
    assert "~ user alice: viewer on every cluster  →  operator" in out
    assert "- user carol: admin on every cluster" in out
    assert "1 added, 1 changed, 1 removed, 0 unchanged (dry run: nothing changed)" in out
    assert _state() == before


def test_replace_removes_the_grants_the_file_does_not_name(tmp_path: Path) -> None:
    Grant.objects.create(subject_type="user", subject="carol", role="admin")
    path = tmp_path / "permissions.yml"
    path.write_text(FILE)
    _run("import", str(path))
    assert len(_grants()) == 3  # without --replace, carol stays
    out = _run("import", str(path), "--replace")
    assert "- user carol: admin on every cluster" in out
    assert [g.get("user", g.get("group")) for g in _grants()] == ["kafka-orders-*", "alice"]
    assert AuditEntry.objects.get(action="grant.delete").before == {"user": "carol", "role": "admin"}


@pytest.mark.parametrize(
    "bad",
    [
        '  - {group: "kafka-x", role: owner}\n',  # unknown role
        '  - {group: "kafka-x", role: reader, cluster: nowhere}\n',  # cluster not configured
        '  - {group: "kafka-x", role: reader, topics: ["re:orders-("]}\n',  # not RE2
        '  - {group: "[z-a]", role: reader}\n',  # a group glob that does not compile
        "  - {role: reader}\n",  # no subject
        '  - {user: bob, group: "x", role: reader}\n',  # both
        "  - {user: bob, role: reader, colour: blue}\n",  # unknown field
        "  - {user: alice, role: viewer}\n",  # alice twice
        "  - just a string\n",
    ],
)
def test_an_invalid_file_changes_nothing(tmp_path: Path, bad: str) -> None:
    Grant.objects.create(subject_type="user", subject="carol", role="admin")
    path = tmp_path / "permissions.yml"
    path.write_text(FILE + bad)
    before = _state()
    with pytest.raises(CommandError) as refused:
        _run("import", str(path), "--replace")
    assert "grant 3" in str(refused.value) and "nothing imported" in str(refused.value)
    assert _state() == before


def test_a_file_that_is_not_a_grants_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "permissions.yml"
    for text in ("grants: {user: bob}\n", "clusters: []\n", "grants: [\n"):
        path.write_text(text)
        with pytest.raises(CommandError):
            _run("import", str(path))
    assert not Grant.objects.exists()


def test_the_mapping_file_replaces_its_own_grants_and_keeps_the_consoles(tmp_path: Path) -> None:
    console = Grant.objects.create(subject_type="group", subject="sre", role="admin", note="made in the console")
    path = tmp_path / "permissions.yml"
    path.write_text(FILE)
    _run("import", str(path), "--mapping")
    from_file = Grant.objects.exclude(pk=console.pk).order_by("id")
    assert [g.note for g in from_file] == [FILE_NOTE, FILE_NOTE]
    assert all(services.is_from_file(g) for g in from_file) and not services.is_from_file(console)

    # The file changes: alice goes, the orders group is now operator with a note.
    path.write_text(
        'grants:\n  - {group: "kafka-orders-*", role: operator, cluster: local, topics: ["orders.*"],'
        ' groups: ["orders-*"], note: "orders team"}\n'
    )
    out = _run("import", str(path), "--mapping")
    assert "0 added, 1 changed, 1 removed, 0 unchanged" in out
    assert _grants() == [
        {"group": "sre", "role": "admin", "note": "made in the console"},
        {
            "group": "kafka-orders-*",
            "role": "operator",
            "cluster": "local",
            "topics": ["orders.*"],
            "groups": ["orders-*"],
            "note": f"{FILE_NOTE}: orders team",
        },
    ]


def test_the_mapping_file_sits_beside_the_clusters_file_unless_named(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKBONE_PERMISSIONS_FILE", raising=False)
    settings.BACKBONE_CLUSTERS_FILE = ""
    assert permissions_file() is None
    assert _run("import", "--mapping", "--if-exists") == ""
    with pytest.raises(CommandError, match="no permissions file configured"):
        _run("import", "--mapping")
    settings.BACKBONE_CLUSTERS_FILE = str(tmp_path / "clusters.yml")
    assert permissions_file() == tmp_path / "permissions.yml"
    assert "does not exist; nothing imported" in _run("import", "--mapping", "--if-exists")
    (tmp_path / "permissions.yml").write_text(FILE)
    assert "2 added" in _run("import", "--mapping", "--if-exists")
    monkeypatch.setenv("BACKBONE_PERMISSIONS_FILE", str(tmp_path / "elsewhere.yml"))
    assert permissions_file() == tmp_path / "elsewhere.yml"
    with pytest.raises(CommandError):
        _run("import", "--mapping")  # named but missing, without --if-exists: an error


def test_the_shipped_example_file_is_valid(settings: Any) -> None:
    example = Path(settings.BASE_DIR) / "permissions.example.yml"
    out = _run("import", str(example), "--dry-run")
    assert "4 added" in out and not Grant.objects.exists()
