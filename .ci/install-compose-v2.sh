#!/usr/bin/env bash
# Installs Docker Compose v2 (the `docker compose` CLI plugin users run) for the existing docker CLI,
# from Debian sid's `docker-compose` binary package (a static Go binary, runs on Debian 12): the
# tests validate every generated compose file pair with `docker compose ... config`, which needs
# no daemon. Debian 12's own `docker-compose` is the retired Python 1.29, which accepts files
# Compose v2 rejects.
#
#   .ci/install-compose-v2.sh                 # -> /usr/local/lib/docker/cli-plugins/docker-compose
#   COMPOSE_V2_CACHE=/some/dir COMPOSE_PLUGIN_DIR=~/.docker/cli-plugins .ci/install-compose-v2.sh
#
# The .deb is fetched with `apt-get download` through a sid source list in the cache's own apt
# state (Dir::Etc::SourceList, Dir::State::Lists, Dir::Cache): the host's apt sources and lists are
# not touched. Idempotent and cached: the extracted binary is kept under the cache with a marker;
# later runs only (re)install it as the plugin when it is missing or differs. Works with an empty
# cache on a Debian 12 machine that reaches deb.debian.org; runs through sudo when not root.
set -euo pipefail

cache="${COMPOSE_V2_CACHE:-/var/cache/create-vps-stack/compose-v2}"
plugin_dir="${COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}"
suite="${COMPOSE_V2_SUITE:-sid}"
mirror="${COMPOSE_V2_MIRROR:-http://deb.debian.org/debian}"
binary="${cache}/docker-compose"
marker="${cache}/.complete"
plugin="${plugin_dir}/docker-compose"

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=.ci/apt-lib.sh
source "${here}/apt-lib.sh"

log() { echo "install-compose-v2: $*"; }
die() { echo "install-compose-v2: $*" >&2; exit 1; }

# The binary's own version line ("Docker Compose version 2.40.3+ds1-1"); fails unless it is v2 or later.
check_version() {
  local out
  out="$("$1" version 2>&1)" || die "$1 version failed: ${out}"
  [[ "${out}" =~ version\ v?([0-9]+)\. ]] || die "unexpected version output from $1: ${out}"
  ((BASH_REMATCH[1] >= 2)) || die "$1 is not Compose v2: ${out}"
  printf '%s\n' "${out}"
}

install_plugin() {
  if ! cmp -s "${binary}" "${plugin}"; then
    "${sudo[@]}" mkdir -p "${plugin_dir}"
    "${sudo[@]}" install -m 0755 "${binary}" "${plugin}.tmp"
    "${sudo[@]}" mv -f "${plugin}.tmp" "${plugin}"
    log "installed $(cat "${marker}") as ${plugin}"
  else
    log "cached: $(cat "${marker}") already at ${plugin}"
  fi
  if command -v docker >/dev/null 2>&1; then
    # Only the plugin's own directory when it is not one the CLI searches by default.
    docker compose version >/dev/null 2>&1 || log "warning: 'docker compose version' fails; is ${plugin_dir} a cli-plugins directory of this docker CLI (DOCKER_CONFIG/cli-plugins or /usr/local/lib/docker/cli-plugins)?"
  else
    log "note: no docker CLI on PATH; the plugin is at ${plugin}"
  fi
}

if [[ -f "${marker}" && -x "${binary}" ]] && check_version "${binary}" >/dev/null; then
  install_plugin
  exit 0
fi

command -v apt-get >/dev/null || die "apt-get is required"
command -v dpkg-deb >/dev/null || die "dpkg-deb is required"

"${sudo[@]}" mkdir -p "${cache}"
"${sudo[@]}" chown "$(id -u):$(id -g)" "${cache}"
apt_dir="${cache}/apt"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
chmod 755 "${work}"

private_apt_index "${apt_dir}" "${suite}" "${mirror}" || die "no ${suite} package index"
version="$(apt-cache "${apt_options[@]}" show --no-all-versions docker-compose 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)"
[[ -n "${version}" ]] || die "no docker-compose package in ${suite}"
[[ "${version}" == 2.* ]] || die "${suite}'s docker-compose is ${version}, not Compose v2"
log "downloading docker-compose ${version} (${suite})"
# apt-get download writes into the current folder as the _apt user when it can.
if [[ "$(id -u)" -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "${work}"; fi
(cd "${work}" && apt-get "${apt_options[@]}" download -q "docker-compose=${version}") >&2 ||
  die "apt-get download docker-compose=${version} failed"
deb="$(find "${work}" -maxdepth 1 -name 'docker-compose_*.deb' | head -n 1)"
[[ -n "${deb}" ]] || die "apt-get download left no .deb in ${work}"

dpkg-deb -x "${deb}" "${work}/root"
extracted="${work}/root/usr/libexec/docker/cli-plugins/docker-compose"
[[ -x "${extracted}" ]] || die "${deb##*/} has no usr/libexec/docker/cli-plugins/docker-compose"
reported="$(check_version "${extracted}")"

install -m 0755 "${extracted}" "${binary}.tmp"
mv -f "${binary}.tmp" "${binary}"
cp -f "${deb}" "${cache}/"
printf 'docker-compose %s (%s): %s\n' "${version}" "${suite}" "${reported}" >"${marker}"
install_plugin
