#!/bin/sh
# Adds `listen [::]:80;` to the image's own default.conf when the container has IPv6, the file is
# still the image's (checksum) and writable. A changed or removed default.conf is left alone.
set -e
conf=/etc/nginx/conf.d/default.conf
say() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || printf '%s: %s\n' "$0" "$*"; }

[ -f /proc/net/if_inet6 ] || { say "no IPv6 in this container: nothing to do"; exit 0; }
[ -f "$conf" ] || { say "no $conf: nothing to do"; exit 0; }
touch "$conf" 2>/dev/null || { say "$conf is not writable: nothing to do"; exit 0; }
if ! sha256sum -c --status /usr/share/nginx/default.conf.sha256 2>/dev/null; then
  say "$conf differs from the image's: not changing it"
  exit 0
fi
sed -i 's/^\([[:space:]]*\)listen[[:space:]]*80;/\1listen       80;\n\1listen  [::]:80;/' "$conf"
say "added an IPv6 listen to $conf"
