#!/usr/bin/env bash
# `make run`: the whole console on its embedded default, under supervisord. A process that
# dies is started again (with backoff when it keeps failing); Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."

# Config, socket, per-process logs and the login hint: var/ unless BACKBONE_RUN_DIR says otherwise.
export BACKBONE_RUN_DIR="${BACKBONE_RUN_DIR:-$PWD/var}"
mkdir -p "$BACKBONE_RUN_DIR"
conf="$BACKBONE_RUN_DIR/supervisord.conf"
pidfile="$BACKBONE_RUN_DIR/supervisord.pid"
if [ -s "$pidfile" ] && grep -qs supervisord "/proc/$(cat "$pidfile")/cmdline"; then
  echo "make run is already running from ${BACKBONE_RUN_DIR#"$PWD/"} (supervisord pid $(cat "$pidfile")); stop it" \
    "first: Ctrl-C in its terminal, or .venv/bin/supervisorctl -c ${conf#"$PWD/"} shutdown" >&2
  exit 1
fi

export HTTPS="${HTTPS:-0}"
# A run on this machine: without SECRET_KEY, a random one is kept in var/secret_key.
export BACKBONE_LOCAL=1
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
  # The producer and the services that consume its events, each a consumer group of its own.
  procs+=(demo order-service analytics invoicing)
fi
# Lag and throughput sampled every 10 s rather than 30: the demo's charts and rates are alive
# within a minute of the start (beat's first run of a task comes one interval after it starts).
export LAG_SAMPLE_INTERVAL="${LAG_SAMPLE_INTERVAL:-10}"
export THROUGHPUT_SAMPLE_INTERVAL="${THROUGHPUT_SAMPLE_INTERVAL:-10}"

.venv/bin/python manage.py migrate --noinput >/dev/null
# The group→role mapping file beside the clusters file (docs: README, Permissions): its grants are replaced.
.venv/bin/python manage.py permissions import --mapping --if-exists
# WhiteNoise serves the static files from static/ (its finders) but warns at every web start
# when STATIC_ROOT, where `collectstatic` would put them, does not exist: an empty one is enough.
mkdir -p "${STATIC_ROOT:-staticfiles}"
# The hint may hold a new admin's password, the config the socket's: both are the owner's only.
rm -f "$BACKBONE_RUN_DIR/login-hint" "$conf"
# Request-latency files of the last run's web processes (named by pid): each run counts from zero.
rm -rf "$BACKBONE_RUN_DIR/metrics"
(umask 077 && .venv/bin/python manage.py ensure_admin >"$BACKBONE_RUN_DIR/login-hint")
if [ "${DEMO_EVENTS:-1}" != "0" ]; then
  # A new console starts with retention policies for the demo topics (kept if you edit them).
  .venv/bin/python manage.py retention_policies import streams/fixtures/demo-retention-policies.yml --if-empty >/dev/null
fi

color=()
if [ -t 1 ]; then
  color=(--color)
fi
(umask 077 && .venv/bin/python -m backbone_admin.embedded supervisord-conf "${color[@]}" "${procs[@]}" >"$conf")
echo "Starting: ${procs[*]} (Ctrl-C stops everything; status: .venv/bin/supervisorctl -c ${conf#"$PWD/"} status)"
# Everything supervisord writes goes through a relay that outlives the terminal: a closed
# terminal must not make supervisord fail half-way through stopping its processes.
exec > >(exec .venv/bin/python -m backbone_admin.embedded relay) 2>&1
relay=$!
# supervisord would take the SIGHUP of a closed terminal as "reload": every signal that ends
# this script asks it to stop everything instead.
.venv/bin/supervisord -c "$conf" &
supervisord=$!
trap 'kill -TERM "$supervisord" 2>/dev/null || true' INT TERM HUP
set +e
wait "$supervisord"
status=$?
while kill -0 "$supervisord" 2>/dev/null; do
  wait "$supervisord"
  status=$?
done
# The relay ends with the last line: once this script's own ends of the pipe are closed too.
exec >&- 2>&-
wait "$relay"
exit "$status"
