#!/usr/bin/env bash
# End-to-end check of the Docker packaging: build the image, `compose up`, wait until the container is
# healthy, run scripts/docker_smoke.py through the published ports (auth, market data, an order), stop
# it with SIGTERM (expects exit code 0), `compose down`.
#
#   scripts/docker_check.sh
#
# Environment:
#   BASE_IMAGE        base image to build from (default local/python-base:bookworm, which
#                     /work/shared/tools/docker-base.sh builds when running as root; any image with
#                     python3 >= 3.11 and venv works, e.g. python:3.11-slim where a registry is reachable)
#   DOCKER_BASE_SCRIPT  the local-base builder (default ../shared/tools/docker-base.sh)
#   HEALTH_TIMEOUT_S  how long to wait for "healthy" (default 120)
#   PYTHON            interpreter for the smoke client, needs websockets (default .venv/bin/python)
#
# Exits 0 with "SKIP: no Docker engine" where no engine is available and none can be started (e.g. CI
# without root or docker). Runs as its own compose project (gateway-check) with a throwaway key and volume.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:-local/python-base:bookworm}
DOCKER_BASE_SCRIPT=${DOCKER_BASE_SCRIPT:-$(cd .. && pwd)/shared/tools/docker-base.sh}
HEALTH_TIMEOUT_S=${HEALTH_TIMEOUT_S:-120}
PROJECT=gateway-check
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

log() { printf '[docker_check] %s\n' "$*"; }
skip() { printf 'SKIP: %s\n' "$*"; exit 0; }
is_root() { [ "$(id -u)" = 0 ]; }

# --- 1. a Docker engine (started by the base-image script when we may) --------------------------------
engine_up() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }
if ! engine_up; then
  if is_root && [ -x "$DOCKER_BASE_SCRIPT" ] && [[ "$BASE_IMAGE" == local/* ]]; then
    log "no running engine: starting one with $DOCKER_BASE_SCRIPT"
    "$DOCKER_BASE_SCRIPT" "$BASE_IMAGE" || skip "no Docker engine (could not start one: $DOCKER_BASE_SCRIPT failed)"
  fi
  engine_up || skip "no Docker engine (docker info fails and none can be started here)"
fi
log "engine: $(docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null)"

# --- 2. compose, and the base image ------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  skip "no Docker Compose (neither 'docker compose' nor 'docker-compose')"
fi
log "compose: $("${COMPOSE[@]}" version --short 2>/dev/null || "${COMPOSE[@]}" version | head -1)"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && [[ "$BASE_IMAGE" == local/* ]]; then
  is_root && [ -x "$DOCKER_BASE_SCRIPT" ] || skip "base image $BASE_IMAGE is missing and $DOCKER_BASE_SCRIPT cannot build it here"
  log "building the local base image $BASE_IMAGE"
  "$DOCKER_BASE_SCRIPT" "$BASE_IMAGE"
fi

# --- 3. throwaway secret and free ports ----------------------------------------------------------------
work=$(mktemp -d)
key="check-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$key" >"$work/strategy_key"
chmod 0644 "$work/strategy_key"  # readable by the container's user (uid 10001)
free_port() {  # the preferred port when free on 127.0.0.1, else one the OS picks
  "$PYTHON" - "$1" <<'PY'
import socket, sys
for port in (int(sys.argv[1]), 0):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(s.getsockname()[1]); break
PY
}
export BASE_IMAGE STRATEGY_KEY_FILE="$work/strategy_key"
export GATEWAY_API_PORT=${GATEWAY_API_PORT:-$(free_port 8765)}
export GATEWAY_HTTP_PORT=${GATEWAY_HTTP_PORT:-$(free_port 8080)}
compose() { "${COMPOSE[@]}" -p "$PROJECT" "$@"; }

status=1
cleanup() {
  if [ "$status" != 0 ]; then
    log "FAILED; the container's last log lines:"
    compose logs --no-color --tail 40 gateway 2>/dev/null || true
  fi
  log "compose down"
  compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- 4. build, up, healthy ---------------------------------------------------------------------------
log "building the image from BASE_IMAGE=$BASE_IMAGE"
started=$(date +%s)
compose build >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
log "built in $(( $(date +%s) - started ))s: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "${GATEWAY_IMAGE:-gateway:latest}")"
compose up -d
cid=$(compose ps -q gateway)
[ -n "$cid" ] || { log "no container for service gateway"; exit 1; }
log "waiting (at most ${HEALTH_TIMEOUT_S}s) for container ${cid:0:12} to turn healthy"
started=$(date +%s)
while :; do
  health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$cid")
  state=$(docker inspect -f '{{.State.Status}}' "$cid")
  [ "$health" = healthy ] && break
  if [ "$state" = exited ] || [ "$state" = dead ]; then log "the container $state"; exit 1; fi
  if [ $(( $(date +%s) - started )) -ge "$HEALTH_TIMEOUT_S" ]; then log "still $health after ${HEALTH_TIMEOUT_S}s"; exit 1; fi
  sleep 1
done
log "healthy after $(( $(date +%s) - started ))s; user: $(docker exec "$cid" id -un), ports: $(docker port "$cid" | tr '\n' ' ')"

# --- 5. a client through the published ports ----------------------------------------------------------
log "smoke client via ws://127.0.0.1:$GATEWAY_API_PORT/ws and http://127.0.0.1:$GATEWAY_HTTP_PORT"
"$PYTHON" scripts/docker_smoke.py --ws "ws://127.0.0.1:$GATEWAY_API_PORT/ws" \
  --http "http://127.0.0.1:$GATEWAY_HTTP_PORT" --key-file "$work/strategy_key"
log "data volume /data holds: $(docker exec "$cid" ls -A /data | tr '\n' ' ')"
if docker logs "$cid" 2>&1 | grep -qF "$key"; then log "the strategy key appears in the logs"; exit 1; fi
log "JSON log events: $(docker logs "$cid" 2>&1 | "$PYTHON" -c 'import json,sys; print(" ".join(sorted({json.loads(l)["event"] for l in sys.stdin if l.startswith("{")})))')"

# --- 6. SIGTERM: a clean exit within the grace period ------------------------------------------------
started=$(date +%s)
compose stop gateway >/dev/null 2>&1
code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
log "stopped in $(( $(date +%s) - started ))s with exit code $code; last event: $(docker logs "$cid" 2>&1 | tail -1)"
[ "$code" = 0 ] || exit 1
status=0
log "PASS"
