#!/bin/sh
# With NGINX_ENTRYPOINT_WORKER_PROCESSES_AUTOTUNE set, sets worker_processes in nginx.conf to the
# CPUs the container may use (its cgroup CPU quota, else its CPU set), when nginx.conf says `auto`.
set -e
say() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || printf '%s: %s\n' "$0" "$*"; }
[ -n "${NGINX_ENTRYPOINT_WORKER_PROCESSES_AUTOTUNE:-}" ] || exit 0
conf=/etc/nginx/nginx.conf
[ -w "$conf" ] || { say "$conf is not writable: worker_processes unchanged"; exit 0; }
grep -qE '^[[:space:]]*worker_processes[[:space:]]+auto;' "$conf" || exit 0

cpus="$(nproc)"
quota=""
if [ -f /sys/fs/cgroup/cpu.max ]; then
  read -r q p </sys/fs/cgroup/cpu.max
  [ "$q" = max ] || quota="$(( (q + p - 1) / p ))"
elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
  q="$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
  p="$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
  [ "$q" -le 0 ] || quota="$(( (q + p - 1) / p ))"
fi
if [ -n "$quota" ] && [ "$quota" -lt "$cpus" ]; then cpus="$quota"; fi
[ "$cpus" -ge 1 ] || cpus=1
sed -i "s/^\([[:space:]]*\)worker_processes[[:space:]]\+auto;/\1worker_processes $cpus;/" "$conf"
say "worker_processes $cpus"
