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
# Debian's mirror can list a revision whose .dsc/.debian.tar.xz are already gone (seen 2026-12:
# 404) while the upstream orig tarball is still there: then the orig tarball named by the index is
# fetched, checked against the index's SHA256 and unpacked instead (upstream source, no Debian patches).
fetch_source() {
  local pkg="$1" suite="$2" work="$3" src
  chmod 755 "${work}" # apt-get source downloads as the _apt user
  if [[ "${FETCH_SOURCE_FORCE_ORIG:-}" == 1 ]] || ! (cd "${work}" && apt-get source -q "${pkg}/${suite}" >&2); then
    echo "${0##*/}: apt-get source ${pkg}/${suite} failed; falling back to the upstream orig tarball" >&2
    fetch_orig_tarball "${pkg}" "${suite}" "${work}" || return 1
  fi
  src="$(find "${work}" -mindepth 1 -maxdepth 1 -type d -name "${pkg}-*" | head -n 1)"
  [[ -n "${src}" ]] || { echo "${0##*/}: no ${pkg} source tree in ${work}" >&2; return 1; }
  printf '%s\n' "${src}"
}

# The orig tarball (URI, name, size, SHA256) as the index names it, downloaded, verified, unpacked
# into WORK/PKG-VERSION. FETCH_SOURCE_FORCE_ORIG=1 takes this path directly (used by the CI test).
fetch_orig_tarball() {
  local pkg="$1" suite="$2" work="$3" line uri name sum version dir empty
  # From an empty folder: apt-get leaves out of --print-uris what is already in the current one
  # (a failed `apt-get source` may have fetched the orig tarball before the 404s).
  empty="$(mktemp -d)"
  line="$(cd "${empty}" && apt-get source --print-uris -q "${pkg}/${suite}" | grep -E "\.orig\.tar\.(gz|xz|bz2)' " | head -n 1)" || true
  rmdir "${empty}"
  [[ -n "${line}" ]] || { echo "${0##*/}: the index names no orig tarball for ${pkg}/${suite}" >&2; return 1; }
  uri="$(awk '{print $1}' <<<"${line}" | tr -d "'")"
  name="$(awk '{print $2}' <<<"${line}")"
  sum="$(awk '{print $4}' <<<"${line}")"
  curl -fsSL --retry 3 -o "${work}/${name}" "${uri}" || { echo "${0##*/}: cannot download ${uri}" >&2; return 1; }
  if [[ "${sum}" == SHA256:* ]]; then
    echo "${sum#SHA256:}  ${work}/${name}" | sha256sum -c --quiet - >&2 || { echo "${0##*/}: ${name}: checksum mismatch" >&2; return 1; }
  fi
  version="${name#"${pkg}_"}"
  version="${version%.orig.tar.*}"
  dir="${work}/${pkg}-${version}"
  mkdir -p "${dir}"
  tar -xf "${work}/${name}" -C "${dir}" --strip-components=1
}

# A private apt state for one suite under DIR (its own sources.list, lists and archive cache, so the
# host's apt sources and lists are never touched), with the suite's index fetched (3 tries). Sets
# the global `apt_options` array for apt-get / apt-cache calls on that state.
private_apt_index() {
  local dir="$1" suite="$2" mirror="$3" keyring=/usr/share/keyrings/debian-archive-keyring.gpg attempt=0 out
  [[ -f "${keyring}" ]] || { echo "${0##*/}: ${keyring} is missing (apt-get install debian-archive-keyring)" >&2; return 1; }
  mkdir -p "${dir}/lists/partial" "${dir}/cache/archives/partial" "${dir}/sources.list.d" "${dir}/preferences.d"
  printf 'deb [signed-by=%s] %s %s main\n' "${keyring}" "${mirror}" "${suite}" >"${dir}/sources.list"
  apt_options=(
    -o "Dir::Etc::SourceList=${dir}/sources.list"
    -o "Dir::Etc::SourceParts=${dir}/sources.list.d"
    -o "Dir::Etc::Preferences=${dir}/preferences"
    -o "Dir::Etc::PreferencesParts=${dir}/preferences.d"
    -o "Dir::State::Lists=${dir}/lists"
    -o "Dir::Cache=${dir}/cache"
    -o "APT::Get::List-Cleanup=0"
    -o "Debug::NoLocking=1"
  )
  echo "${0##*/}: fetching the ${suite} package index into ${dir}" >&2
  out="$(mktemp)"
  until apt-get "${apt_options[@]}" update -q >"${out}" 2>&1; do
    attempt=$((attempt + 1))
    if ((attempt >= 3)); then
      cat "${out}" >&2
      rm -f "${out}"
      echo "${0##*/}: apt-get update (${suite}) failed" >&2
      return 1
    fi
    sleep 5
  done
  rm -f "${out}"
}
