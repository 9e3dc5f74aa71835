#!/usr/bin/env bash
# Runs a Docker engine for the tests from the binaries .ci/install-docker.sh caches: dockerd (which
# starts and manages its own containerd) and a local image registry (Debian 12's docker-registry)
# on 127.0.0.1:5000 that the daemon uses as its docker.io mirror, so `docker pull node:…`, `--pull`
# and compose pull policies are answered offline by the stand-in images .ci/images/build.sh pushes.
#
#   .ci/docker-engine.sh start    # starts both (no-op when they already run), waits for `docker info`
#   .ci/docker-engine.sh stop     # stops exactly the PIDs `start` recorded
#   .ci/docker-engine.sh status   # the recorded PIDs and whether the daemon answers; exit 1 when down
#   .ci/docker-engine.sh env      # prints `export DOCKER_HOST=unix://…` (eval "$(… env)")
#
# All state lives in one folder, $DOCKER_STATE (default /var/cache/create-vps-stack/docker-state):
# daemon.json, data-root (images, build cache), exec-root, the socket, pid files, logs and the
# registry's storage. The daemon listens on its unix socket only. Storage driver overlay2, cgroupfs
# cgroup driver (cgroup v1 hosts), bridge MTU taken from the host's default route. Needs root.
set -euo pipefail

cache="${DOCKER_CACHE:-/var/cache/create-vps-stack/docker}"
state="${DOCKER_STATE:-/var/cache/create-vps-stack/docker-state}"
registry_addr="${DOCKER_REGISTRY_ADDR:-127.0.0.1:5000}"
start_timeout="${DOCKER_START_TIMEOUT:-60}"
bin="${cache}/bin"
socket="${state}/docker.sock"
pids="${state}/pids"

log() { echo "docker-engine: $*" >&2; }
die() {
  echo "docker-engine: $*" >&2
  exit 1
}

docker_cli() { DOCKER_HOST="unix://${socket}" docker "$@"; }

# True when PID runs the program NAME (guards against a recycled PID in the pid file).
pid_is() {
  local pid="$1" name="$2" exe
  [[ -n "${pid}" && -d "/proc/${pid}" ]] || return 1
  exe="$(readlink "/proc/${pid}/exe" 2>/dev/null)" || return 1
  [[ "${exe##*/}" == "${name}" || "${exe##*/}" == "${name} (deleted)" ]]
}

# Lines "NAME PID" of the processes start recorded.
recorded() { [[ -f "${pids}" ]] && cat "${pids}"; }

daemon_answers() { docker_cli info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

registry_answers() { curl -fs -o /dev/null --max-time 2 "http://${registry_addr}/v2/"; }

default_mtu() {
  local dev mtu
  dev="$(ip -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')"
  [[ -n "${dev}" ]] && mtu="$(cat "/sys/class/net/${dev}/mtu" 2>/dev/null)" || mtu=""
  printf '%s\n' "${mtu:-1500}"
}

write_config() {
  local mtu
  mtu="$(default_mtu)"
  mkdir -p "${state}/data" "${state}/exec" "${state}/registry" "${state}/tmp"
  cat >"${state}/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${state}/registry
  delete:
    enabled: true
http:
  addr: ${registry_addr}
EOF
  cat >"${state}/daemon.json" <<EOF
{
  "hosts": ["unix://${socket}"],
  "data-root": "${state}/data",
  "exec-root": "${state}/exec",
  "pidfile": "${state}/dockerd.pid",
  "storage-driver": "overlay2",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "registry-mirrors": ["http://${registry_addr}"],
  "insecure-registries": ["${registry_addr}"],
  "mtu": ${mtu},
  "default-network-opts": {"bridge": {"com.docker.network.driver.mtu": "${mtu}"}},
  "features": {"containerd-snapshotter": false},
  "shutdown-timeout": 10
}
EOF
}

start_registry() {
  local pid
  pid="$(awk '$1 == "docker-registry" {print $2}' <(recorded))"
  if pid_is "${pid}" docker-registry && registry_answers; then return 0; fi
  if registry_answers; then die "something else already answers on ${registry_addr}"; fi
  setsid "${bin}/docker-registry" serve "${state}/registry.yml" >"${state}/registry.log" 2>&1 </dev/null &
  pid=$!
  echo "docker-registry ${pid}" >>"${pids}"
  local i
  for ((i = 0; i < 100; i++)); do
    registry_answers && return 0
    pid_is "${pid}" docker-registry || break
    sleep 0.1
  done
  tail -n 20 "${state}/registry.log" >&2 || true
  die "the registry on ${registry_addr} did not start"
}

start_dockerd() {
  local pid
  pid="$(awk '$1 == "dockerd" {print $2}' <(recorded))"
  if pid_is "${pid}" dockerd && daemon_answers; then return 0; fi
  pid_is "${pid}" dockerd && die "dockerd ${pid} runs but does not answer on ${socket} (see ${state}/dockerd.log)"
  rm -f "${socket}" "${state}/dockerd.pid"
  PATH="${bin}:${PATH}" TMPDIR="${state}/tmp" setsid "${bin}/dockerd" --config-file "${state}/daemon.json" \
    >"${state}/dockerd.log" 2>&1 </dev/null &
  pid=$!
  echo "dockerd ${pid}" >>"${pids}"
  local deadline=$((SECONDS + start_timeout))
  while ((SECONDS < deadline)); do
    if daemon_answers; then
      # dockerd's own containerd, recorded so stop can check it went away too.
      local cpid
      cpid="$(cat "${state}/exec/containerd/containerd.pid" 2>/dev/null || true)"
      pid_is "${cpid}" containerd && echo "containerd ${cpid}" >>"${pids}"
      return 0
    fi
    pid_is "${pid}" dockerd || break
    sleep 0.2
  done
  tail -n 30 "${state}/dockerd.log" >&2 || true
  die "dockerd did not answer on ${socket} within ${start_timeout}s"
}

cmd_start() {
  [[ "$(id -u)" -eq 0 ]] || die "needs root (dockerd)"
  [[ -x "${bin}/dockerd" ]] || die "${bin}/dockerd is missing: run .ci/install-docker.sh"
  command -v docker >/dev/null || die "no docker CLI on PATH: run .ci/install-docker.sh"
  ((${#socket} < 100)) || die "socket path too long for a unix socket: ${socket}"
  mkdir -p "${state}"
  local began=${SECONDS}
  write_config
  # Drop lines of processes that are gone (a crash, a reboot) before adding new ones.
  if [[ -f "${pids}" ]]; then
    local name pid kept=""
    while read -r name pid; do
      pid_is "${pid}" "${name}" && kept+="${name} ${pid}"$'\n'
    done <"${pids}"
    printf '%s' "${kept}" >"${pids}"
  fi
  start_registry
  start_dockerd
  log "up in $((SECONDS - began))s: $(docker_cli info --format 'dockerd {{.ServerVersion}}, {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}'), registry mirror http://${registry_addr}"
  cmd_env
}

# SIGTERM to PID (when it still runs NAME), then up to TIMEOUT seconds for it to exit, then SIGKILL.
stop_pid() {
  local name="$1" pid="$2" timeout="$3" i
  pid_is "${pid}" "${name}" || return 0
  kill -TERM "${pid}" 2>/dev/null || return 0
  for ((i = 0; i < timeout * 10; i++)); do
    pid_is "${pid}" "${name}" || return 0
    sleep 0.1
  done
  log "${name} ${pid} still runs after ${timeout}s: SIGKILL"
  kill -KILL "${pid}" 2>/dev/null || true
}

cmd_stop() {
  [[ -f "${pids}" ]] || {
    log "nothing recorded in ${pids}"
    return 0
  }
  local name n pid
  # dockerd first (it stops its containers and its containerd), then what is left.
  for name in dockerd containerd docker-registry; do
    while read -r n pid; do
      [[ "${n}" == "${name}" ]] || continue
      stop_pid "${name}" "${pid}" 30
      log "stopped ${name} ${pid}"
    done <"${pids}"
  done
  rm -f "${pids}" "${socket}"
}

cmd_status() {
  local name pid up=0
  while read -r name pid; do
    if pid_is "${pid}" "${name}"; then echo "${name} ${pid} running"; else echo "${name} ${pid} gone"; fi
  done < <(recorded || true)
  if daemon_answers; then
    echo "dockerd answers on ${socket}: $(docker_cli info --format '{{.ServerVersion}}')"
  else
    echo "dockerd does not answer on ${socket}"
    up=1
  fi
  if registry_answers; then echo "registry answers on ${registry_addr}"; else
    echo "registry does not answer on ${registry_addr}"
    up=1
  fi
  return "${up}"
}

cmd_env() { printf 'export DOCKER_HOST=unix://%s\n' "${socket}"; }

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) die "usage: $0 start|stop|status|env" ;;
esac
