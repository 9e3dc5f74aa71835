#!/usr/bin/env bash
# Builds .ci/dockerfile-check (a small Go program over BuildKit's own Dockerfile frontend packages:
# the parser and instruction layer `docker build` uses, with its linter) for test/dockerfiles.test.ts.
# No Docker engine is needed.
#
#   .ci/install-dockerfile-check.sh     # -> /var/cache/create-vps-stack/dockerfile-check/bin/dockerfile-check
#   DOCKERFILE_CHECK_CACHE=/some/dir .ci/install-dockerfile-check.sh
#
# Everything comes from Debian sid's binary packages, fetched with `apt-get download` through a sid
# source list in the cache's own apt state (the host's apt sources and lists are not touched) and
# unpacked with dpkg-deb, never installed: the Go toolchain (golang-X.Y-go, a static binary that
# runs on Debian 12, and its golang-X.Y-src), and the Go sources of BuildKit's frontend
# (golang-github-docker-docker-dev carries github.com/moby/buildkit) and of its few imports. The
# program is built in GOPATH mode with no module proxy: nothing but Debian's archive is reached.
# Idempotent and cached: a marker records the source's checksum and the package versions; later
# runs only check the binary. Works with an empty cache on a Debian 12 machine that reaches
# deb.debian.org; runs through sudo when not root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=.ci/apt-lib.sh
source "${here}/apt-lib.sh"
source_dir="${here}/dockerfile-check"
cache="${DOCKERFILE_CHECK_CACHE:-/var/cache/create-vps-stack/dockerfile-check}"
suite="${DOCKERFILE_CHECK_SUITE:-sid}"
mirror="${DOCKERFILE_CHECK_MIRROR:-http://deb.debian.org/debian}"
binary="${cache}/bin/dockerfile-check"
marker="${cache}/.complete"

# The Go sources the program's imports need (BuildKit's frontend/dockerfile/{parser,instructions,
# linter,command,shell} and util/{stack,suggest}, and what those import).
source_packages=(
  golang-github-docker-docker-dev
  golang-github-agext-levenshtein-dev
  golang-github-containerd-typeurl-dev
  golang-github-docker-go-units-dev
  golang-github-gogo-protobuf-dev
  golang-github-moby-docker-image-spec-dev
  golang-github-opencontainers-go-digest-dev
  golang-github-opencontainers-image-spec-dev
  golang-github-pkg-errors-dev
  golang-github-planetscale-vtprotobuf-dev
  golang-google-protobuf-dev
)

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi

log() { echo "install-dockerfile-check: $*"; }
die() { echo "install-dockerfile-check: $*" >&2; exit 1; }

[[ -f "${source_dir}/main.go" ]] || die "${source_dir}/main.go is missing"
source_sum="$(sha256sum "${source_dir}/main.go" | cut -d ' ' -f 1)"

# A smoke test of the built binary: a valid file parses, a bare word is "unknown instruction".
smoke_test() {
  local dir out
  dir="$(mktemp -d)"
  printf 'FROM debian:12 AS base\nUSER 1000\n' >"${dir}/ok.Dockerfile"
  printf 'FROM debian:12\nnginx, running\n' >"${dir}/bad.Dockerfile"
  if ! out="$("$1" "${dir}/ok.Dockerfile" 2>&1)" || [[ "${out}" != *'"baseName": "debian:12"'* ]]; then
    rm -rf "${dir}"
    die "$1 does not parse a valid Dockerfile: ${out}"
  fi
  if out="$("$1" "${dir}/bad.Dockerfile" 2>&1)" || [[ "${out}" != *'unknown instruction'* ]]; then
    rm -rf "${dir}"
    die "$1 accepts an invalid Dockerfile: ${out}"
  fi
  rm -rf "${dir}"
}

if [[ -x "${binary}" && -f "${marker}" ]] && grep -qx "source ${source_sum}" "${marker}"; then
  smoke_test "${binary}"
  log "cached: ${binary} ($(grep '^golang' "${marker}" | head -n 1))"
  exit 0
fi

command -v apt-get >/dev/null || die "apt-get is required"
command -v dpkg-deb >/dev/null || die "dpkg-deb is required"

"${sudo[@]}" mkdir -p "${cache}"
"${sudo[@]}" chown "$(id -u):$(id -g)" "${cache}"
apt_dir="${cache}/apt"
mkdir -p "${cache}/debs"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
chmod 755 "${work}"

private_apt_index "${apt_dir}" "${suite}" "${mirror}" || die "no ${suite} package index"

version_of() {
  apt-cache "${apt_options[@]}" show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1
}

# The Go release sid's golang-go points at (Depends: golang-1.NN-go).
go_package="$(apt-cache "${apt_options[@]}" show --no-all-versions golang-go 2>/dev/null |
  sed -n 's/^Depends: .*\(golang-1\.[0-9]*-go\).*/\1/p' | head -n 1)"
[[ -n "${go_package}" ]] || die "cannot tell which golang-1.NN-go ${suite}'s golang-go depends on"
go_release="${go_package#golang-}"
go_release="${go_release%-go}"

packages=("${go_package}" "golang-${go_release}-src" "${source_packages[@]}")
versions=()
for package in "${packages[@]}"; do
  version="$(version_of "${package}")"
  [[ -n "${version}" ]] || die "no ${package} in ${suite}"
  versions+=("${package}=${version}")
done

# Only what is not in the cache already (a .deb named package_version_arch.deb).
missing=()
for spec in "${versions[@]}"; do
  package="${spec%%=*}"
  version="${spec#*=}"
  compgen -G "${cache}/debs/${package}_${version//:/%3a}_*.deb" >/dev/null || missing+=("${spec}")
done
if ((${#missing[@]} > 0)); then
  log "downloading ${#missing[@]} packages (${suite}): ${missing[*]}"
  # apt-get download writes into the current folder as the _apt user when it can.
  if [[ "$(id -u)" -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "${work}"; fi
  (cd "${work}" && apt-get "${apt_options[@]}" download -q "${missing[@]}") >&2 ||
    die "apt-get download ${missing[*]} failed"
  find "${work}" -maxdepth 1 -name '*.deb' -exec mv -f {} "${cache}/debs/" \;
fi

root="${work}/root"
mkdir -p "${root}"
for spec in "${versions[@]}"; do
  package="${spec%%=*}"
  version="${spec#*=}"
  deb="$(compgen -G "${cache}/debs/${package}_${version//:/%3a}_*.deb" | head -n 1)" || die "${package} ${version}: no .deb in ${cache}/debs"
  dpkg-deb -x "${deb}" "${root}"
done

goroot="${root}/usr/lib/go-${go_release}"
[[ -x "${goroot}/bin/go" ]] || die "${go_package} has no usr/lib/go-${go_release}/bin/go"
gopath="${work}/gopath"
mkdir -p "${gopath}/src/cvs"
cp -r "${source_dir}" "${gopath}/src/cvs/dockerfile-check"

log "building dockerfile-check with $("${goroot}/bin/go" version)"
mkdir -p "${cache}/bin"
env -i PATH="${goroot}/bin:/usr/bin:/bin" HOME="${work}" GOROOT="${goroot}" GOPATH="${gopath}:${root}/usr/share/gocode" \
  GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOCACHE="${work}/gocache" \
  go build -trimpath -o "${binary}.tmp" cvs/dockerfile-check
smoke_test "${binary}.tmp"
mv -f "${binary}.tmp" "${binary}"

# Older versions of the same packages are not needed again.
for deb in "${cache}"/debs/*.deb; do
  keep=false
  for spec in "${versions[@]}"; do
    package="${spec%%=*}"
    version="${spec#*=}"
    [[ "${deb##*/}" == "${package}_${version//:/%3a}_"* ]] && keep=true
  done
  "${keep}" || rm -f "${deb}"
done

{
  echo "source ${source_sum}"
  printf '%s\n' "${versions[@]}"
} >"${marker}"
log "installed ${binary} (${go_package}, $(grep '^golang-github-docker-docker-dev' "${marker}"))"
