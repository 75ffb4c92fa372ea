#!/bin/sh
# The image's entry point: which process this container runs.
#   web       migrate, create the admin from DJANGO_SUPERUSER_* if set, then Daphne on $PORT
#   worker    a Celery worker (jobs: replays, rewinds, exports)
#   beat      Celery beat (periodic cluster health checks); run exactly one
#   migrate   apply database migrations and exit
#   demo      the demo producer that keeps a few topics alive with events
#   manage    any manage.py command: `manage backbone_user alice --role reader`
#   healthcheck   exit 0 when /healthz answers 200 (the image's HEALTHCHECK)
# Anything else is run as given.
set -eu

cd "$(dirname "$0")/.."

truthy() {
    case "$(printf '%s' "${1:-}" | tr '[:upper:]' '[:lower:]')" in
        1 | true | yes | on) return 0 ;;
        *) return 1 ;;
    esac
}

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
    web)
        python manage.py migrate --noinput
        # Only with a password given: a generated one would be printed to the container log.
        if [ -n "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
            python manage.py ensure_admin
        fi
        set -- -b 0.0.0.0 -p "${PORT:-8000}" "$@"
        if truthy "${BEHIND_PROXY:-0}"; then
            set -- --proxy-headers "$@"
        fi
        exec daphne "$@" backbone_admin.asgi:application
        ;;
    worker)
        exec celery -A backbone_admin worker --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    beat)
        exec celery -A backbone_admin beat --loglevel "${LOG_LEVEL:-INFO}" \
            --schedule /tmp/celerybeat-schedule "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    demo)
        exec python manage.py demo_events "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    healthcheck)
        # Ask with a Host header Django accepts, so the check passes whatever ALLOWED_HOSTS is.
        exec python - <<'PY'
import os
import sys
import urllib.error
import urllib.request

hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost")
request = urllib.request.Request(
    f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz", headers={"Host": host}
)
try:
    # Within the HEALTHCHECK's own 10 s: a hung process fails the check, it does not stall it.
    with urllib.request.urlopen(request, timeout=8) as response:
        sys.exit(0 if response.status == 200 else 1)
except urllib.error.HTTPError as exc:
    print(exc.code, exc.read(500).decode(errors="replace"))
except OSError as exc:
    if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
        print("no answer from /healthz within 8 s: the web process is hung or overloaded")
    else:
        print(exc)
sys.exit(1)
PY
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
