#!/usr/bin/env bash
# Builds pgvector from Debian trixie's source package against Debian 12's Postgres (15) and
# installs it into that Postgres (vector.so, vector.control, the SQL scripts), for the native boot
# of a generated stack (test/boot.test.ts): the generated stacks run pgvector's Postgres image,
# Debian 12 ships no pgvector package.
#
#   .ci/install-pgvector.sh                  # Postgres 15, cache in /var/cache/create-vps-stack
#   PG_MAJOR=15 PGVECTOR_CACHE=/some/dir .ci/install-pgvector.sh
#
# Idempotent and cached: the build is staged (make install DESTDIR=...) under the cache directory
# with a marker; later runs copy the staged files into Postgres again if they are missing or
# differ, and skip apt and the build entirely. Needs a Debian 12 (or newer) machine with apt and
# postgresql-<PG_MAJOR> installed; runs apt through sudo when not root.
set -euo pipefail

pg_major="${PG_MAJOR:-15}"
suite="${PGVECTOR_SOURCE_SUITE:-trixie}"
cache="${PGVECTOR_CACHE:-/var/cache/create-vps-stack/pgvector-pg${pg_major}}"
stage="${cache}/stage"
marker="${cache}/.complete"
pg_config="/usr/lib/postgresql/${pg_major}/bin/pg_config"

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
# shellcheck source=.ci/apt-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"

log() { echo "install-pgvector: $*"; }

# Copies the staged files into the Postgres directories when any is missing or different.
install_staged() {
  local changed=false file
  while IFS= read -r -d '' file; do
    if ! cmp -s "${stage}/${file}" "/${file}"; then
      changed=true
      break
    fi
  done < <(cd "${stage}" && find . -type f -printf '%P\0')
  if "${changed}"; then
    "${sudo[@]}" cp -a "${stage}/." /
    log "installed pgvector $(cat "${marker}") into Postgres ${pg_major}"
  else
    log "cached: pgvector $(cat "${marker}") already installed in Postgres ${pg_major}"
  fi
}

if [[ -f "${marker}" && -d "${stage}" ]]; then
  install_staged
  exit 0
fi

add_deb_src "${suite}"
apt_get update -q
apt_get install -y -q --no-install-recommends \
  build-essential dpkg-dev ca-certificates "postgresql-${pg_major}" "postgresql-server-dev-${pg_major}"

[[ -x "${pg_config}" ]] || { echo "install-pgvector: ${pg_config} not found" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
src="$(fetch_source pgvector "${suite}" "${work}")"
[[ -f "${src}/vector.control" ]] || { echo "install-pgvector: unexpected pgvector source tree in ${src}" >&2; exit 1; }
version="$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "${src}/vector.control")"

# OPTFLAGS="": no -march=native, so the cached build runs on any x86-64 (as Debian builds it).
make -C "${src}" -j "$(nproc)" USE_PGXS=1 PG_CONFIG="${pg_config}" OPTFLAGS="" >/dev/null
"${sudo[@]}" rm -rf "${stage}"
"${sudo[@]}" mkdir -p "${stage}"
"${sudo[@]}" make -C "${src}" USE_PGXS=1 PG_CONFIG="${pg_config}" OPTFLAGS="" DESTDIR="${stage}" install >/dev/null
# Only what Postgres loads: the library, the control file and the SQL scripts (no headers, no bitcode).
"${sudo[@]}" rm -rf "${stage}$("${pg_config}" --includedir-server)" "${stage}$("${pg_config}" --pkglibdir)/bitcode"
printf '%s\n' "${version}" | "${sudo[@]}" tee "${marker}" >/dev/null
install_staged
test -f "$("${pg_config}" --sharedir)/extension/vector.control"
test -f "$("${pg_config}" --pkglibdir)/vector.so"
