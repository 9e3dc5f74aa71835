#!/usr/bin/env bash
# Shared by the .ci/install-*.sh scripts (sourced). Expects the caller to set the `sudo` array
# (empty as root, (sudo) otherwise).
# shellcheck disable=SC2154 # sudo comes from the sourcing script

# apt-get that waits for a concurrent apt/dpkg run instead of failing on its lock.
apt_get() {
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; then
      return 0
    fi
    echo "${0##*/}: apt-get $1 failed (attempt ${attempt}), retrying" >&2
    sleep 10
  done
  return 1
}

# Adds Debian's source packages for a suite (e.g. trixie), once, so `apt-get source pkg/suite` works.
add_deb_src() {
  local suite="$1"
  local list="/etc/apt/sources.list.d/cvs-${suite}-src.sources"
  [[ -f "${list}" ]] && return 0
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "${suite}" |
    "${sudo[@]}" tee "${list}" >/dev/null
}

# Downloads and unpacks Debian's source package PKG from SUITE into WORK and prints the unpacked
# tree's path. Needs add_deb_src SUITE and dpkg-dev first; the caller owns (and removes) WORK.
fetch_source() {
  local pkg="$1" suite="$2" work="$3" src
  chmod 755 "${work}" # apt-get source downloads as the _apt user
  (cd "${work}" && apt-get source -q "${pkg}/${suite}" >&2)
  src="$(find "${work}" -mindepth 1 -maxdepth 1 -type d -name "${pkg}-*" | head -n 1)"
  [[ -n "${src}" ]] || { echo "${0##*/}: no ${pkg} source tree in ${work}" >&2; return 1; }
  printf '%s\n' "${src}"
}
