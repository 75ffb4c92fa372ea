#!/usr/bin/env bash
# `manage.py check --deploy` under production settings must be clean (warnings fail too).
set -euo pipefail
cd "$(dirname "$0")/.."
DEBUG=0 HTTPS=1 SECRET_KEY="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
  ALLOWED_HOSTS=console.example.com \
  .venv/bin/python manage.py check --deploy --fail-level WARNING
