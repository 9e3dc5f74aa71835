#!/usr/bin/env bash
# Makes a minimal Debian sid root with sid's `nginx` installed, for test/nginx-pinned.test.ts: the
# generated config is written for the pinned nginx (src/versions.ts NGINX_TARGET_VERSION, 1.30),
# sid ships that release as a binary package only, and the binary needs sid's glibc, so it runs
# chrooted into this root instead of on the Debian 12 host.
#
#   .ci/install-sid-nginx.sh                        # -> /var/cache/create-vps-stack/sid-nginx-root
#   SID_NGINX_ROOT=/srv/sid .ci/install-sid-nginx.sh
#
# Idempotent: a finished root carries a marker file and is reused as long as its nginx runs and
# has the expected major.minor; anything else (no marker, a half-built root) is built again.
# Needs root (debootstrap, chroot) or sudo; installs bookworm's debootstrap when it is missing.
#   SID_NGINX_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   SID_NGINX_EXPECT   major.minor the root's nginx must have (default: NGINX_TARGET_VERSION)
set -euo pipefail

log() { echo "install-sid-nginx: $*"; }
die() { echo "install-sid-nginx: $*" >&2; exit 1; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${SID_NGINX_ROOT:-/var/cache/create-vps-stack/sid-nginx-root}"
mirror="${SID_NGINX_MIRROR:-http://deb.debian.org/debian}"
marker="${root}/.create-vps-stack-complete"
expect="${SID_NGINX_EXPECT:-$(sed -n "s/^export const NGINX_TARGET_VERSION = '\([0-9.]*\)';$/\1/p" "${repo}/src/versions.ts")}"
[[ "${expect}" =~ ^[0-9]+\.[0-9]+$ ]] || die "cannot read NGINX_TARGET_VERSION from src/versions.ts (got '${expect}')"

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi

# The root's `nginx -v` line ("nginx version: nginx/1.30.6"), or nothing when it does not run.
root_nginx_version() {
  "${sudo[@]}" chroot "$1" /usr/sbin/nginx -v 2>&1 | sed -n 's|^nginx version: nginx/\([0-9.]*\).*|\1|p'
}

# Refuses to delete a directory that still has something mounted under it.
assert_unmounted() {
  local dir="$1"
  if awk -v d="${dir}" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    die "${dir} has mounts under it; unmount them first"
  fi
}

if [[ -f "${marker}" ]]; then
  cached="$(root_nginx_version "${root}" || true)"
  if [[ "${cached}" == "${expect}" || "${cached}" == "${expect}".* ]]; then
    log "cached nginx ${cached} in ${root}"
    "${sudo[@]}" chroot "${root}" /usr/sbin/nginx -v
    exit 0
  fi
  log "cached root at ${root} has nginx '${cached:-none}', want ${expect}: rebuilding"
fi

if ! command -v debootstrap >/dev/null 2>&1 && [[ ! -x /usr/sbin/debootstrap ]]; then
  # shellcheck source=.ci/apt-lib.sh
  source "${repo}/.ci/apt-lib.sh"
  log "installing debootstrap"
  apt_get update -q
  apt_get install -y -q --no-install-recommends debootstrap
fi
debootstrap_bin="$(command -v debootstrap || echo /usr/sbin/debootstrap)"

started="${SECONDS}"
build="${root}.partial"
logfile="$(mktemp)"
# Built beside the cached root, which stays usable until the new one is complete.
if [[ -e "${build}" ]]; then
  assert_unmounted "${build}"
  "${sudo[@]}" rm -rf "${build}"
fi
"${sudo[@]}" mkdir -p "$(dirname "${root}")"

log "debootstrap --variant=minbase sid ${build} ${mirror}"
if ! "${sudo[@]}" "${debootstrap_bin}" --variant=minbase sid "${build}" "${mirror}" >"${logfile}" 2>&1; then
  tail -n 30 "${logfile}" >&2
  die "debootstrap failed (full log: ${logfile})"
fi

# Package scripts must not try to start services inside the root.
printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "${build}/usr/sbin/policy-rc.d" >/dev/null
"${sudo[@]}" chmod 755 "${build}/usr/sbin/policy-rc.d"
"${sudo[@]}" cp /etc/resolv.conf "${build}/etc/resolv.conf"

log "apt-get install nginx (inside the sid root)"
# A private mount namespace: /proc for apt and dpkg, gone again when the command ends (even on failure).
# Release signatures are checked as always; only their Valid-Until date is not (a mirror snapshot, as
# this machine's own apt is configured, serves a Release file past that date).
# shellcheck disable=SC2016 # expanded by the inner shell
"${sudo[@]}" unshare -m sh -c '
  set -eu
  mount -t proc proc "$1/proc"
  chroot "$1" env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 apt-get -q -o Acquire::Check-Valid-Until=false update
  chroot "$1" env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 apt-get -q install -y --no-install-recommends nginx
  chroot "$1" apt-get clean
' sh "${build}" >"${logfile}" 2>&1 || { tail -n 30 "${logfile}" >&2; die "apt-get install nginx failed in the sid root (full log: ${logfile})"; }
rm -f "${logfile}"

version="$(root_nginx_version "${build}" || true)"
[[ -n "${version}" ]] || die "nginx does not run in the sid root"
if [[ "${version}" != "${expect}" && "${version}" != "${expect}".* ]]; then
  die "sid's nginx is ${version}, but the generated config is written for ${expect} (src/versions.ts NGINX_TARGET_VERSION)"
fi

echo "${version}" | "${sudo[@]}" tee "${build}/.create-vps-stack-complete" >/dev/null
if [[ -e "${root}" ]]; then
  assert_unmounted "${root}"
  "${sudo[@]}" rm -rf "${root}"
fi
"${sudo[@]}" mv "${build}" "${root}"
log "installed nginx ${version} in ${root} in $((SECONDS - started)) s"
"${sudo[@]}" chroot "${root}" /usr/sbin/nginx -v
