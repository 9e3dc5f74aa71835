#!/usr/bin/env bash
# Installs a real Docker engine for the tests, without touching the host's apt sources:
#   - Debian sid's binary packages docker.io (dockerd, docker-proxy), containerd (+ the runc shim)
#     and docker-buildx, fetched with `apt-get download` through a sid source list in this cache's
#     own apt state (Dir::Etc::SourceList, Dir::State::Lists, Dir::Cache) and unpacked with
#     `dpkg-deb -x` into $DOCKER_CACHE/<package>/ (they are Go binaries and run on Debian 12);
#   - sid's docker-cli too when there is no `docker` on PATH (then linked as /usr/local/bin/docker);
#   - Debian 12's runc (sid's needs glibc 2.38), tini-static (as docker-init), docker-registry 2.8
#     (the local registry and docker.io mirror, see .ci/docker-engine.sh) and iptables via apt;
#   - the buildx CLI plugin as /usr/local/lib/docker/cli-plugins/docker-buildx, and Compose v2
#     through .ci/install-compose-v2.sh when `docker compose` is missing.
# $DOCKER_CACHE/bin ends up holding every binary dockerd needs on its PATH. Idempotent: a marker
# ($DOCKER_CACHE/.complete) skips the download on later runs. Prints the versions.
#
#   .ci/install-docker.sh      # DOCKER_CACHE=/var/cache/create-vps-stack/docker by default
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${DOCKER_CACHE:-/var/cache/create-vps-stack/docker}"
plugin_dir="${DOCKER_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}"
suite="${DOCKER_SUITE:-sid}"
mirror="${DOCKER_MIRROR:-http://deb.debian.org/debian}"
marker="${cache}/.complete"
bin="${cache}/bin"

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
# shellcheck source=.ci/apt-lib.sh
source "${here}/apt-lib.sh"

log() { echo "install-docker: $*"; }
die() {
  echo "install-docker: $*" >&2
  exit 1
}

sid_packages=(docker.io containerd docker-buildx)
# The docker CLI already on the machine is used as it is; sid's only when there is none.
command -v docker >/dev/null 2>&1 || sid_packages+=(docker-cli)

# Debian 12 packages: runc, tini (tini-static as docker-init), docker-registry, iptables.
host_packages=(runc tini docker-registry iptables ca-certificates)
missing=()
for pkg in "${host_packages[@]}"; do
  dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${pkg}")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  apt_get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's docker-registry package starts a registry on :5000 where an init system runs; the
# tests start their own (.ci/docker-engine.sh), so the packaged service is stopped.
if [[ " ${missing[*]} " == *" docker-registry "* ]]; then
  "${sudo[@]}" service docker-registry stop >/dev/null 2>&1 || true
fi

# All packages unpacked and the marker names each: nothing to download.
have_all() {
  [[ -f "${marker}" ]] || return 1
  local pkg
  for pkg in "${sid_packages[@]}"; do
    grep -q "^${pkg} " "${marker}" || return 1
    [[ -d "${cache}/${pkg}/usr" ]] || return 1
  done
}

if ! have_all; then
  command -v dpkg-deb >/dev/null || die "dpkg-deb is required"
  "${sudo[@]}" mkdir -p "${cache}"
  "${sudo[@]}" chown "$(id -u):$(id -g)" "${cache}"
  apt_dir="${cache}/apt"
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' EXIT
  # apt-get download fetches as the _apt user when it can write the target folder.
  if [[ "$(id -u)" -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "${work}"; else chmod 755 "${work}"; fi

  private_apt_index "${apt_dir}" "${suite}" "${mirror}" || die "no ${suite} package index"

  : >"${work}/marker"
  for pkg in "${sid_packages[@]}"; do
    version="$(apt-cache "${apt_options[@]}" show --no-all-versions "${pkg}" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)"
    [[ -n "${version}" ]] || die "no ${pkg} package in ${suite}"
    log "downloading ${pkg} ${version} (${suite})"
    (cd "${work}" && apt-get "${apt_options[@]}" download -q "${pkg}=${version}") >&2 ||
      die "apt-get download ${pkg}=${version} failed"
    deb="$(find "${work}" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)"
    [[ -n "${deb}" ]] || die "apt-get download left no ${pkg} .deb in ${work}"
    rm -rf "${cache}/${pkg}.tmp"
    dpkg-deb -x "${deb}" "${cache}/${pkg}.tmp"
    rm -rf "${cache:?}/${pkg}"
    mv "${cache}/${pkg}.tmp" "${cache}/${pkg}"
    rm -f "${deb}"
    printf '%s %s (%s)\n' "${pkg}" "${version}" "${suite}" >>"${work}/marker"
  done
  mv -f "${work}/marker" "${marker}"
fi

# One folder with every binary dockerd runs (it finds containerd, the shim, runc, docker-init and
# docker-proxy on its PATH).
find_in() {
  local root="$1" name="$2" found
  found="$(find "${root}" \( -type f -o -type l \) -name "${name}" -path '*bin/*' 2>/dev/null | head -n 1)"
  [[ -n "${found}" ]] || die "${name} not found under ${root}"
  printf '%s\n' "${found}"
}
mkdir -p "${bin}"
ln -sfn "$(find_in "${cache}/docker.io" dockerd)" "${bin}/dockerd"
ln -sfn "$(find_in "${cache}/docker.io" docker-proxy)" "${bin}/docker-proxy"
ln -sfn "$(find_in "${cache}/containerd" containerd)" "${bin}/containerd"
ln -sfn "$(find_in "${cache}/containerd" containerd-shim-runc-v2)" "${bin}/containerd-shim-runc-v2"
ln -sfn "$(find_in "${cache}/containerd" ctr)" "${bin}/ctr"
ln -sfn "$(command -v runc || echo /usr/sbin/runc)" "${bin}/runc"
ln -sfn /usr/bin/tini-static "${bin}/docker-init"
ln -sfn /usr/bin/docker-registry "${bin}/docker-registry"
if [[ -d "${cache}/docker-cli" ]]; then
  ln -sfn "$(find_in "${cache}/docker-cli" docker)" "${bin}/docker"
  if ! command -v docker >/dev/null 2>&1; then
    "${sudo[@]}" ln -sfn "${bin}/docker" /usr/local/bin/docker
    log "no docker CLI on PATH: linked ${suite}'s as /usr/local/bin/docker"
  fi
fi

# The buildx CLI plugin, next to the compose one.
buildx="${cache}/docker-buildx/usr/libexec/docker/cli-plugins/docker-buildx"
[[ -x "${buildx}" ]] || die "${buildx} is missing"
if ! cmp -s "${buildx}" "${plugin_dir}/docker-buildx"; then
  "${sudo[@]}" mkdir -p "${plugin_dir}"
  "${sudo[@]}" install -m 0755 "${buildx}" "${plugin_dir}/docker-buildx.tmp"
  "${sudo[@]}" mv -f "${plugin_dir}/docker-buildx.tmp" "${plugin_dir}/docker-buildx"
  log "installed ${plugin_dir}/docker-buildx"
fi
if ! docker compose version >/dev/null 2>&1; then
  log "no 'docker compose': running .ci/install-compose-v2.sh"
  bash "${here}/install-compose-v2.sh"
fi

for tool in runc docker-init docker-registry; do
  [[ -x "${bin}/${tool}" ]] || die "${bin}/${tool} is missing"
done
command -v iptables >/dev/null || die "iptables is missing"

log "cached packages ($(basename "${marker}")):"
sed 's/^/  /' "${marker}"
log "dockerd:    $("${bin}/dockerd" --version)"
log "containerd: $("${bin}/containerd" --version)"
log "runc:       $("${bin}/runc" --version | head -n 1)"
log "docker-init: $("${bin}/docker-init" --version)"
log "registry:   $("${bin}/docker-registry" --version 2>&1 | head -n 1)"
log "iptables:   $(iptables --version)"
log "docker CLI: $(command -v docker) $(docker --version)"
log "buildx:     $(docker buildx version)"
log "compose:    $(docker compose version)"
