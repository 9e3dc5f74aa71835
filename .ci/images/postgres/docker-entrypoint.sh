#!/usr/bin/env bash
# Stand-in postgres entrypoint, written from the image's documentation:
# - `docker run IMAGE -c x=y` means `postgres -c x=y`;
# - as root: creates $PGDATA (and the socket folder), hands them to postgres, re-runs as postgres;
# - on an empty $PGDATA: initdb with the superuser POSTGRES_USER (default postgres) and
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_INITDB_ARGS,
#   POSTGRES_INITDB_WALDIR; network clients authenticate with POSTGRES_HOST_AUTH_METHOD
#   (default scram-sha-256); creates POSTGRES_DB (default: POSTGRES_USER); runs
#   /docker-entrypoint-initdb.d/* in name order on a server reachable only through its socket
#   (*.sh executed when executable, else sourced; *.sql, *.sql.gz, *.sql.xz, *.sql.zst through psql);
# - each POSTGRES_* setting can come from a file: POSTGRES_PASSWORD_FILE=/run/secrets/...
# No -u: /docker-entrypoint-initdb.d/*.sh files that are not executable are sourced into this shell.
set -Eeo pipefail

say() { printf '%s entrypoint: %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }
fail() {
  printf 'entrypoint error: %s\n' "$*" >&2
  exit 1
}

# NAME from $NAME or from the file $NAME_FILE (not both), else DEFAULT.
from_env_or_file() {
  local name="$1" fallback="${2:-}" file_var="${1}_FILE"
  local value="${!name:-}" file="${!file_var:-}"
  if [[ -n "${value}" && -n "${file}" ]]; then fail "both ${name} and ${file_var} are set"; fi
  if [[ -n "${file}" ]]; then value="$(<"${file}")"; fi
  [[ -n "${value}" ]] || value="${fallback}"
  export "${name}=${value}"
  unset "${file_var}"
}

# True when the arguments only ask postgres for help or its version (no server, no init).
asks_for_info() {
  local arg
  for arg in "$@"; do
    case "${arg}" in -'?' | --help | --describe-config | -V | --version | -C) return 0 ;; esac
  done
  return 1
}

if [[ "${1:-}" == -* ]]; then set -- postgres "$@"; fi

if [[ "${1:-}" != postgres ]] || asks_for_info "$@"; then
  exec "$@"
fi

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "${PGDATA}" /var/run/postgresql
  chmod 0700 "${PGDATA}" || true
  find "${PGDATA}" \! -user postgres -exec chown postgres:postgres '{}' +
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql || true
  if [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]]; then
    mkdir -p "${POSTGRES_INITDB_WALDIR}"
    find "${POSTGRES_INITDB_WALDIR}" \! -user postgres -exec chown postgres:postgres '{}' +
  fi
  exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

# From here on: the postgres user (or whatever non-root user the container was started as).
mkdir -p "${PGDATA}"
chmod 0700 "${PGDATA}" 2>/dev/null || true

if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
  from_env_or_file POSTGRES_USER postgres
  from_env_or_file POSTGRES_PASSWORD
  from_env_or_file POSTGRES_DB "${POSTGRES_USER}"
  from_env_or_file POSTGRES_INITDB_ARGS
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [[ -z "${POSTGRES_PASSWORD}" && "${auth}" != trust ]]; then
    fail "the database is uninitialized and POSTGRES_PASSWORD is not set (set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without a password)"
  fi
  say "initdb in ${PGDATA} (superuser ${POSTGRES_USER})"
  initdb_args=(--username="${POSTGRES_USER}" --pgdata="${PGDATA}")
  [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]] && initdb_args+=(--waldir="${POSTGRES_INITDB_WALDIR}")
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD}" >"${pwfile}"
  [[ -n "${POSTGRES_PASSWORD}" ]] && initdb_args+=(--pwfile="${pwfile}")
  # POSTGRES_INITDB_ARGS is a shell-quoted string (e.g. "--locale-provider=icu --icu-locale=de").
  extra_args=()
  eval "extra_args=(${POSTGRES_INITDB_ARGS})"
  initdb "${initdb_args[@]}" "${extra_args[@]}"
  rm -f "${pwfile}"

  # Network clients: the configured method for everything (local socket connections stay trusted).
  printf '\n# stand-in entrypoint: POSTGRES_HOST_AUTH_METHOD\nhost all all all %s\n' "${auth}" >>"${PGDATA}/pg_hba.conf"

  # A temporary server on the socket only, with the container's settings (-c ...).
  server_args=("${@:2}" -c listen_addresses= -p "${PGPORT:-5432}")
  PGUSER="${POSTGRES_USER}" pg_ctl -D "${PGDATA}" -w -o "$(printf '%q ' "${server_args[@]}")" start
  export PGPASSWORD="${POSTGRES_PASSWORD}"
  psql_base=(psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --no-password --no-psqlrc)

  if [[ "${POSTGRES_DB}" != postgres ]]; then
    exists="$("${psql_base[@]}" --dbname postgres -tA -v db="${POSTGRES_DB}" <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")"
    if [[ "${exists}" != 1 ]]; then
      "${psql_base[@]}" --dbname postgres -q -v db="${POSTGRES_DB}" <<<'CREATE DATABASE :"db";'
      say "created database ${POSTGRES_DB}"
    fi
  fi

  psql_db=("${psql_base[@]}" --dbname "${POSTGRES_DB}")
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case "${f}" in
      *.sh)
        if [[ -x "${f}" ]]; then
          say "running ${f}"
          "${f}"
        else
          say "sourcing ${f}"
          # shellcheck disable=SC1090
          . "${f}"
        fi
        ;;
      *.sql) say "running ${f}" && "${psql_db[@]}" -f "${f}" ;;
      *.sql.gz) say "running ${f}" && gzip -dc "${f}" | "${psql_db[@]}" ;;
      *.sql.xz) say "running ${f}" && xz -dc "${f}" | "${psql_db[@]}" ;;
      *.sql.zst) say "running ${f}" && zstd -dc "${f}" | "${psql_db[@]}" ;;
      *) say "ignoring ${f}" ;;
    esac
  done
  shopt -u nullglob

  pg_ctl -D "${PGDATA}" -m fast -w stop
  unset PGPASSWORD
  say "init done; starting the server"
fi

exec "$@"
