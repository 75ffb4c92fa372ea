#!/usr/bin/env bash
# `make run`: the whole console on its embedded default, under one process manager.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var

export HTTPS="${HTTPS:-0}"
export BACKBONE_WEB_PORT="${PORT:-8000}"
procs=(web worker beat ready)

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  export EMBEDDED_KAFKA="127.0.0.1:${EMBEDDED_KAFKA_PORT:-9092}"
  export KAFKA_BOOTSTRAP_SERVERS="$EMBEDDED_KAFKA"
  # Tansu creates a topic on a validate-only request (TEST_BROKER.md); skip that step for it.
  export KAFKA_VALIDATE_ONLY_FIRST=0
  procs=(broker "${procs[@]}")
fi
if [ -z "${REDIS_URL:-}" ]; then
  export REDIS_URL="redis://127.0.0.1:${EMBEDDED_REDIS_PORT:-6379}/0"
  procs=(redis "${procs[@]}")
fi
if [ "${DEMO_EVENTS:-1}" != "0" ]; then
  procs+=(demo)
fi

.venv/bin/python manage.py migrate --noinput >/dev/null
.venv/bin/python manage.py ensure_admin >var/login-hint
if [ "${DEMO_EVENTS:-1}" != "0" ]; then
  # A new console starts with retention policies for the demo topics (kept if you edit them).
  .venv/bin/python manage.py retention_policies import streams/fixtures/demo-retention-policies.yml --if-empty >/dev/null
fi
chmod 600 var/login-hint
echo "Starting: ${procs[*]} (Ctrl-C stops everything)"
exec .venv/bin/honcho -f Procfile.dev start "${procs[@]}"
