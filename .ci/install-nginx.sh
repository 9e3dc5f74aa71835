#!/usr/bin/env bash
# Builds a minimal nginx 1.26 (Debian trixie's source package) into a cache directory, for
# test/nginx.test.ts: the generated config targets nginx >= 1.25.1 (`http2 on;`), which Debian 12's
# nginx 1.22 cannot parse. Idempotent: exits at once when the cached binary is already there.
#
#   .ci/install-nginx.sh              # -> .cache/nginx-1.26/sbin/nginx
#   NGINX_PREFIX=/opt/nginx .ci/install-nginx.sh
#
# Needs a Debian 12 (or newer) machine with apt; runs apt through sudo when not root.
# The test finds the binary through NGINX_BIN (default: .cache/nginx-1.26/sbin/nginx).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${NGINX_PREFIX:-${root}/.cache/nginx-1.26}"
binary="${prefix}/sbin/nginx"
marker="${prefix}/.complete"
suite="${NGINX_SOURCE_SUITE:-trixie}"

if [[ -x "${binary}" && -f "${marker}" ]] && "${binary}" -v >/dev/null 2>&1; then
  echo "install-nginx: cached $("${binary}" -v 2>&1) at ${binary}"
  exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
# shellcheck source=.ci/apt-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"

add_deb_src "${suite}"
apt_get update -q
apt_get install -y -q --no-install-recommends \
  build-essential dpkg-dev ca-certificates libpcre2-dev libssl-dev zlib1g-dev

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
src="$(fetch_source nginx "${suite}" "${work}")"
[[ -x "${src}/configure" ]] || { echo "install-nginx: unexpected nginx source tree in ${src}" >&2; exit 1; }

rm -rf "${prefix}"
mkdir -p "${prefix}"
(
  cd "${src}"
  ./configure \
    --prefix="${prefix}" \
    --with-http_ssl_module \
    --with-http_v2_module \
    --with-http_realip_module \
    --with-http_gzip_static_module \
    --with-http_stub_status_module >/dev/null
  make -j "$(nproc)" >/dev/null
  make install >/dev/null
)
"${binary}" -V
touch "${marker}"
echo "install-nginx: installed at ${binary}"
