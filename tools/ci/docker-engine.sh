#!/usr/bin/env bash
# A private Docker engine for `make test`: start | stop | env.
#
# start: when no engine is reachable and we are root, install docker.io (and mmdebstrap,
#   docker-registry, apache2-utils, qemu-user-static for the image tests) with apt and start a
#   private dockerd. On Debian bookworm qemu-user-static comes from bookworm-backports (10.0; the
#   suite is added to apt's sources if missing): bookworm's own 7.2 dies with SIGSEGV inside
#   onnxruntime 1.32's import, so the arm64 image could be built but never score. Then
#   dockerd whose data root, exec root, pid file and socket all live under .cache/docker/, with
#   vfs storage, no iptables and no bridge. Never touches a system daemon or its state.
#   Without root or an engine it prints a warning; the `docker` tests then skip with the reason.
# stop: stops that daemon (only if this script started it) and waits for it to exit.
# env: prints `export DOCKER_HOST=...` for the private daemon when it runs (nothing otherwise).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR="$ROOT/.cache/docker"
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"
PACKAGES="docker.io mmdebstrap arch-test docker-registry apache2-utils qemu-user-static"
BACKPORTS_LIST=/etc/apt/sources.list.d/edgeship-bookworm-backports.list

engine_up() { DOCKER_HOST="$1" timeout 20 docker info >/dev/null 2>&1; }

private_running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

install_packages() {
  local missing=""
  command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
  command -v mmdebstrap >/dev/null 2>&1 || missing="$missing mmdebstrap"
  # mmdebstrap only recommends arch-test, and --no-install-recommends leaves it out; without it a
  # foreign (arm64) root file system fails: "install arch-test for foreign architecture support".
  command -v arch-test >/dev/null 2>&1 || missing="$missing arch-test"
  command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
  command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
  if [ -n "$missing" ]; then
    echo "installing$missing (apt)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null) \
      || echo "warning: could not install$missing; tests that need them will be skipped"
  fi
  install_qemu
}

qemu_major() { qemu-aarch64-static --version 2>/dev/null | sed -n 's/^qemu-aarch64 version \([0-9]*\)\..*/\1/p'; }

# qemu-user 8 or later runs onnxruntime's arm64 wheel; bookworm has 7.2, bookworm-backports 10.0.
install_qemu() {
  local major codename=""
  major=$(qemu_major)
  [ -n "$major" ] && [ "$major" -ge 8 ] && return 0
  [ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ "$codename" = bookworm ]; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "adding bookworm-backports to apt ($BACKPORTS_LIST) for qemu-user-static 10"
      echo "deb http://deb.debian.org/debian bookworm-backports main" > "$BACKPORTS_LIST"
    fi
    echo "installing qemu-user-static from bookworm-backports (apt)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports qemu-user-static >/dev/null) && return 0
    echo "warning: bookworm-backports' qemu-user-static could not be installed; trying bookworm's"
  fi
  [ -x /usr/bin/qemu-aarch64-static ] && return 0
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null) \
    || echo "warning: could not install qemu-user-static; the arm64 image test will be skipped"
}

start() {
  mkdir -p "$DIR"
  if private_running && engine_up "unix://$SOCK"; then echo "private dockerd already running ($SOCK)"; return 0; fi
  if [ -n "${DOCKER_HOST:-}" ] && engine_up "$DOCKER_HOST"; then echo "using the engine at $DOCKER_HOST"; return 0; fi
  if [ -z "${DOCKER_HOST:-}" ] && engine_up "unix:///var/run/docker.sock"; then
    echo "using the engine at /var/run/docker.sock"; [ "$(id -u)" = 0 ] && install_packages; return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "warning: no Docker engine reachable and not root; the docker tests will be skipped"; return 0
  fi
  install_packages
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "warning: dockerd is not installed; the docker tests will be skipped"; return 0
  fi
  rm -f "$SOCK" "$PIDFILE"
  mkdir -p "$DIR/data" "$DIR/exec"
  echo "starting a private dockerd ($SOCK, log $DIR/dockerd.log)"
  setsid dockerd --storage-driver=vfs --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$PIDFILE" \
    -H "unix://$SOCK" --iptables=false --ip-masq=false --bridge=none >"$DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    engine_up "unix://$SOCK" && { touch "$DIR/started-by-make"; return 0; }
    kill -0 $! 2>/dev/null || break
    sleep 0.5
  done
  echo "warning: the private dockerd did not come up (see $DIR/dockerd.log); the docker tests will be skipped"
  stop
}

stop() {
  [ -f "$DIR/started-by-make" ] || return 0
  if private_running; then
    local pid; pid=$(cat "$PIDFILE")
    # Containers the tests left would keep the daemon busy; every one of them is ours.
    DOCKER_HOST="unix://$SOCK" docker ps -aq 2>/dev/null | xargs -r env DOCKER_HOST="unix://$SOCK" docker rm -f >/dev/null 2>&1
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped the private dockerd"
  fi
  rm -f "$DIR/started-by-make" "$SOCK"
}

env_line() { if private_running && [ -S "$SOCK" ]; then echo "export DOCKER_HOST=unix://$SOCK"; fi; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_line ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
