#!/bin/sh
# Stand-in node entrypoint: the documented behaviour of the real one. An argument list that does
# not start with a command (an option such as --version, a script file, nothing runnable of that
# name) runs under node; anything else is executed as given.
set -e
if [ "$#" -eq 0 ]; then
  set -- node
elif [ "${1#-}" != "$1" ] || ! command -v "$1" >/dev/null 2>&1 || { [ -f "$1" ] && [ ! -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
