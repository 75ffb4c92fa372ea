"""With DEBUG off and no SECRET_KEY the console refuses to start, instead of making up a key
per container; a local run says so explicitly (BACKBONE_LOCAL=1) and keeps one in var/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
START = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE", "BACKBONE_LOCAL")}
    clean.update({"DJANGO_SETTINGS_MODULE": "backbone_admin.settings", "DEBUG": "0", **env})
    return subprocess.run(
        [sys.executable, "-c", START], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60
    )


def test_it_refuses_to_start_without_a_secret_key() -> None:
    result = _start()
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set. Set SECRET_KEY, or SECRET_KEY_FILE" in result.stderr
    assert result.stdout == ""


def test_it_reads_the_key_from_secret_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("a-key-from-a-mounted-secret-0123456789-abcdefghijklmnopqrstuvwxyz\n")
    result = _start(SECRET_KEY_FILE=str(key_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "a-key-from-a-mounted-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def test_an_empty_or_missing_secret_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    empty = _start(SECRET_KEY_FILE=str(tmp_path / "empty"), BACKBONE_LOCAL="1")
    assert empty.returncode != 0 and "is empty: put the key in it" in empty.stderr
    missing = _start(SECRET_KEY_FILE=str(tmp_path / "nope"))
    assert missing.returncode != 0 and "cannot be read" in missing.stderr


def test_a_local_run_keeps_one_random_key_in_var() -> None:
    first = _start(BACKBONE_LOCAL="1")
    second = _start(BACKBONE_LOCAL="1")
    assert first.returncode == 0, first.stderr
    key_file = BASE_DIR / "var" / "secret_key"
    assert first.stdout.strip() == second.stdout.strip() == key_file.read_text().strip()
    assert len(first.stdout.strip()) >= 50
    assert key_file.stat().st_mode & 0o077 == 0  # owner only
