#!/bin/sh
# Stand-in nginx entrypoint, from the image's documentation: when the command is nginx (or
# nginx-debug), the files in /docker-entrypoint.d run first, in name order: executable *.sh files
# are run, executable *.envsh files are sourced (they may export variables for the later ones);
# anything else is skipped with a note. NGINX_ENTRYPOINT_QUIET_LOGS=1 silences the notes.
# Then the command is executed.
set -e

note() {
  [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || printf '%s: %s\n' "$0" "$*"
}

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
  if find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f -print -quit 2>/dev/null | grep -q .; then
    note "running the scripts in /docker-entrypoint.d/"
    for f in $(find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f | sort -V); do
      case "$f" in
        *.envsh)
          if [ -x "$f" ]; then
            note "sourcing $f"
            # shellcheck disable=SC1090
            . "$f"
          else
            note "ignoring $f: not executable"
          fi
          ;;
        *.sh)
          if [ -x "$f" ]; then
            note "running $f"
            "$f"
          else
            note "ignoring $f: not executable"
          fi
          ;;
        *) note "ignoring $f" ;;
      esac
    done
    note "configuration complete; starting nginx"
  else
    note "/docker-entrypoint.d/ is empty: no configuration changes"
  fi
fi

exec "$@"
