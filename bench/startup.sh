#!/usr/bin/env bash
# Time a newcomer's first `make run` (fresh clone: venv, pip install, migrate, every process)
# until /healthz answers 200, then a second start of the same clone.
#
#   bench/startup.sh [REPO]     REPO defaults to this checkout; its committed HEAD is cloned.
#
# Everything runs on free ports of 127.0.0.1 (never 8000/9092/6379), in a temporary clone
# that is removed at the end. pip's download cache (~/.cache/pip) is used if present; set
# PIP_NO_CACHE_DIR=1 to time a machine that has never installed the requirements.
set -euo pipefail

src="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
first_limit="${STARTUP_FIRST_LIMIT:-900}"   # seconds; the first start installs the venv
again_limit="${STARTUP_AGAIN_LIMIT:-180}"

work="$(mktemp -d "${TMPDIR:-/tmp}/backbone-startup.XXXXXX")"
leader=""

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

descendants() {  # every process below $1, deepest last
  local pid child
  for pid in "$@"; do
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
      echo "$child"
      descendants "$child"
    done
  done
}

stop() {
  [ -n "$leader" ] || return 0
  local tree
  tree="$(descendants "$leader")"
  # run.sh has supervisord stop its processes on SIGTERM; whatever is left after 30 s is killed.
  kill -TERM -- "-$leader" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$leader" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$leader" 2>/dev/null || true
  for pid in $tree; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait "$leader" 2>/dev/null || true
  leader=""
}

cleanup() {
  stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

web_port="$(free_port)"
kafka_port="$(free_port)"
redis_port="$(free_port)"
for port in "$web_port" "$kafka_port" "$redis_port"; do
  case "$port" in 8000 | 9092 | 6379) echo "refusing port $port" >&2; exit 1 ;; esac
done

git clone --quiet "$src" "$work/repo"
rev="$(git -C "$work/repo" rev-parse --short HEAD)"
echo "cloned $src at $rev into $work/repo" >&2

ms_now() { date +%s%3N; }
secs() { printf '%d.%d' "$(($1 / 1000))" "$((($1 % 1000) / 100))"; }

# One start of `make run` in the clone; sets READY (ms until run.sh says "Starting:", i.e.
# venv and migrations done) and HEALTHY (ms until /healthz answers 200), or exits with the log.
start_once() {
  local label="$1" limit_ms=$(($2 * 1000)) log="$work/run-$1.log" started elapsed
  READY="" HEALTHY=""
  started="$(ms_now)"
  setsid env -u KAFKA_BOOTSTRAP_SERVERS -u REDIS_URL -u DATABASE_URL -u BACKBONE_CLUSTERS_FILE \
    -u DEFAULT_CLUSTER -u DEBUG -u HTTPS -u SECRET_KEY -u STATIC_ROOT -u VIRTUAL_ENV \
    PORT="$web_port" EMBEDDED_KAFKA_PORT="$kafka_port" EMBEDDED_REDIS_PORT="$redis_port" \
    make -C "$work/repo" run >"$log" 2>&1 </dev/null &
  leader=$!  # not a group leader when forked, so setsid made this pid the new group's id
  while :; do
    elapsed=$(($(ms_now) - started))
    if [ -z "$READY" ] && grep -qs '^Starting:' "$log"; then
      READY="$elapsed"
    fi
    if curl -fsS -o /dev/null -m 5 "http://127.0.0.1:$web_port/healthz" 2>/dev/null; then
      HEALTHY=$(($(ms_now) - started))
      return 0
    fi
    if ! kill -0 "$leader" 2>/dev/null; then
      echo "make run ($label) exited before /healthz answered 200:" >&2
      tail -n 40 "$log" >&2
      exit 1
    fi
    if [ "$elapsed" -gt "$limit_ms" ]; then
      echo "make run ($label) not healthy after $2 s:" >&2
      tail -n 40 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

echo "first start (creates .venv and installs the requirements: minutes) ..." >&2
start_once first "$first_limit"
first_ready="$(secs "${READY:-0}")" first_healthy="$(secs "$HEALTHY")"
stop
echo "second start ..." >&2
start_once second "$again_limit"
again_ready="$(secs "${READY:-0}")" again_healthy="$(secs "$HEALTHY")"
stop

pip_cache="empty"
[ -z "${PIP_NO_CACHE_DIR:-}" ] && [ -n "$(ls -A "${XDG_CACHE_HOME:-$HOME/.cache}/pip" 2>/dev/null)" ] && pip_cache="warm"
pip_extra=""
case "$(python3 -m pip config list 2>/dev/null || true)" in
  *find-links* | *index-url*) pip_extra=", pip config adds find-links/index sources" ;;
esac
echo
echo "Backbone Console start-up — clone of $rev, $(nproc) cores, pip cache $pip_cache$pip_extra"
echo
echo "| start | to \`Starting:\` (venv + migrate) s | to /healthz 200 s |"
echo "|---|---:|---:|"
echo "| first: fresh clone, \`make run\` | $first_ready | $first_healthy |"
echo "| second: same clone, \`make run\` | $again_ready | $again_healthy |"
