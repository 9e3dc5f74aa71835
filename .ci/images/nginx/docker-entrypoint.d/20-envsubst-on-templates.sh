#!/bin/sh
# Renders /etc/nginx/templates/**/*.template into /etc/nginx/conf.d/ (same relative path, suffix
# dropped) with envsubst. Only variables defined in the environment are replaced (so nginx's own
# $host, $uri stay), optionally only those whose names match NGINX_ENVSUBST_FILTER (a regex).
# NGINX_ENVSUBST_TEMPLATE_DIR, NGINX_ENVSUBST_TEMPLATE_SUFFIX and NGINX_ENVSUBST_OUTPUT_DIR
# change the folders and suffix.
set -e
say() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || printf '%s: %s\n' "$0" "$*"; }

dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
out="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
filter="${NGINX_ENVSUBST_FILTER:-}"

[ -d "$dir" ] || exit 0
if ! [ -w "$out" ]; then
  say "$out is not writable: templates in $dir not rendered"
  exit 0
fi

names="$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | { if [ -n "$filter" ]; then grep -E "$filter" || true; else cat; fi; })"
vars=""
for name in $names; do vars="$vars\${$name} "; done

find "$dir" -follow -type f -name "*$suffix" -print | while read -r template; do
  rel="${template#"$dir"/}"
  target="$out/${rel%"$suffix"}"
  mkdir -p "$(dirname "$target")"
  say "rendering $template to $target"
  envsubst "$vars" <"$template" >"$target"
done
