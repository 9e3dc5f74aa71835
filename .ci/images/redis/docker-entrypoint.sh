#!/bin/sh
# Stand-in redis entrypoint, from the image's documentation: arguments that start with an option
# or name a .conf file are passed to redis-server; when the command is redis-server and the
# container runs as root, the files in the working folder (/data) not owned by redis are given to
# it and the server runs as redis. Any other command runs as given, as the container's user.
set -e
case "${1:-}" in
  -* | *.conf) set -- redis-server "$@" ;;
  '') set -- redis-server ;;
esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi
# New files (AOF, RDB) readable by their owner only, unless the caller chose a umask.
if [ "$1" = redis-server ] && [ "$(umask)" = 0022 ]; then umask 0077; fi
exec "$@"
