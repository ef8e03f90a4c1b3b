#!/usr/bin/env bash
# A private one-node Slurm cluster in one directory, for testing `maia batch` against real
# Slurm (sbatch, job arrays, squeue, scancel) on a single machine.
#
#   scripts/slurm/cluster.sh up DIR [--owner PID]   start munged, slurmctld and slurmd;
#                                                   wait until the node is idle
#   scripts/slurm/cluster.sh down DIR               cancel its jobs, stop the daemons (by
#                                                   their pid files; safe to call twice)
#   scripts/slurm/cluster.sh status DIR             which daemons run, and sinfo
#
# Everything lives under DIR: the munge key and socket, slurm.conf, state, spool, logs and
# pid files. Ports are picked free at start-up, so the cluster never clashes with a system
# Slurm (6817/6818, /run/munge) or with another private cluster on the same machine. After
# `up`, point the Slurm commands at it with the line it prints last:
#
#   export SLURM_CONF=DIR/slurm.conf
#
# --owner PID: also start a watchdog that runs `down DIR` once process PID is gone, so a
# test killed before it could clean up (SIGKILL, Ctrl-C) leaves no daemons behind.
#
# Needs Debian's slurm-wlm and munge (scripts/install-deps.sh). Works as root (the daemons
# run as root and slurmd could start jobs as any user) and as an unprivileged user: the
# script writes the current user as SlurmUser and SlurmdUser, and such a slurmd runs jobs
# of that user only (it cannot switch uid), which is all a test submitting as that user
# needs; Slurm does not support that set-up for production.
#
# Environment: MAIA_SLURM_TIMEOUT (seconds to wait for the node to come up, default 60).
set -euo pipefail

usage() {
  echo "usage: $0 up DIR [--owner PID] | down DIR | status DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd="$1"
owner=""
case "$cmd $#" in
  "up 2" | "down 2" | "status 2") ;;
  "up 4") [ "$3" = --owner ] && [ -n "$4" ] && [ -z "${4//[0-9]/}" ] || usage; owner="$4" ;;
  *) usage ;;
esac
if [ "$cmd" = up ]; then
  mkdir -p "$2"
elif [ ! -d "$2" ]; then
  # Nothing was started there (or it is gone already): nothing to stop or show.
  [ "$cmd" = down ] && exit 0
  echo "no cluster directory $2" >&2
  exit 1
fi
dir="$(cd "$2" && pwd)"
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
conf="$dir/slurm.conf"
timeout="${MAIA_SLURM_TIMEOUT:-60}"

say() { printf '[slurm cluster] %s\n' "$*" >&2; }

# The last lines of each log, for a failure message.
log_tails() {
  for log in "$dir"/munge/munged.log "$dir"/slurmctld.log "$dir"/slurmd.log; do
    [ -f "$log" ] || continue
    echo "--- last lines of $log"
    tail -n 15 "$log"
  done
}

# Ends `up` with a failure message, the log tails, and whatever had started stopped.
fail() {
  local tails
  tails="$(log_tails 2>&1)"
  # Stop first: a reader that goes away mid-message must not leave daemons behind.
  down
  say "$*"
  printf '%s\n' "$tails" >&2
  exit 1
}

# The pid in pid file $1 (nothing if the file is gone: a daemon removes it as it exits).
read_pid() {
  { tr -dc '0-9' <"$1"; } 2>/dev/null || true
}

# True if pid file $1 names a live process whose command is $2.
alive() {
  local pidfile="$1" name="$2" pid
  pid="$(read_pid "$pidfile")"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ] &&
    ! is_zombie "$pid"
}

# True if process $1 has exited but not been reaped (a daemon's parent may never reap it).
is_zombie() {
  [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# Process $1 and all its descendants, parents first.
tree() {
  local pid="$1" child
  echo "$pid"
  for child in $(awk -v p="$pid" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null); do
    tree "$child"
  done
}

# Stops the daemon of pid file $1 (command $2): TERM, then KILL after 10 s.
stop() {
  local pidfile="$1" name="$2" pid i
  if alive "$pidfile" "$name"; then
    pid="$(read_pid "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
      alive "$pidfile" "$name" || break
      sleep 0.1
    done
    if alive "$pidfile" "$name"; then
      say "$name ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# Every local TCP port in use (any state), decimal, one a line.
used_ports() {
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk 'NR > 1 { split($2, a, ":"); print a[2] }' |
    while read -r hex; do [ -n "$hex" ] && echo $((16#$hex)); done | sort -u
}

# A free port in 20000..59999 that is not in $1 (a space-separated list to avoid too).
free_port() {
  local avoid=" $1 " used port i
  used=" $(used_ports | tr '\n' ' ') "
  for i in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    case "$used$avoid" in *" $port "*) continue ;; esac
    echo "$port"
    return 0
  done
  say "no free TCP port found in 20000..59999 after 200 tries"
  return 1
}

# Cancels every job of this cluster and waits (up to 30 s) for them to leave the queue;
# then kills, with their children, any job step daemon of this cluster still running
# (slurmstepd holds this cluster's slurmd.log open). Stopping slurmd alone leaves jobs running.
end_jobs() {
  local i pid fd
  if [ -f "$conf" ] && alive "$dir/slurmctld.pid" slurmctld; then
    SLURM_CONF="$conf" scancel -u "$(id -un)" 2>/dev/null || true
    for i in $(seq 300); do
      [ -z "$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  for pid in $(grep -lx slurmstepd /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3); do
    for fd in /proc/"$pid"/fd/*; do
      if [ "$(readlink "$fd" 2>/dev/null)" = "$dir/slurmd.log" ]; then
        kill -KILL $(tree "$pid") 2>/dev/null || true
        break
      fi
    done
  done
}

# Waits up to 5 s for a daemon to write its pid file, so that `down` can find it.
wait_pid() {
  local i
  for i in $(seq 50); do
    alive "$1" "$2" && return 0
    sleep 0.1
  done
  fail "$2 wrote no pid file ($1) within 5 s; it may have exited"
}

# Starts the watchdog of --owner: in a session of its own (a Ctrl-C to the owner's
# process group must not end it too), its output nowhere (a caller reading this script's
# output must see it end), `down` once the owner is gone.
start_watchdog() {
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && [ -f "$2/slurm.conf" ]; do sleep 1; done
    exec "$3" down "$2"' watchdog "$owner" "$dir" "$script" </dev/null >/dev/null 2>&1 &
  echo "$!" >"$dir/watchdog.pid"
}

# Stops the watchdog, unless it is the one calling `down` (exec keeps its pid).
stop_watchdog() {
  local pid
  pid="$(read_pid "$dir/watchdog.pid")"
  rm -f "$dir/watchdog.pid"
  if [ -n "$pid" ] && [ "$pid" != "$$" ] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir"; then
    kill "$pid" 2>/dev/null || true
  fi
}

down() {
  stop_watchdog
  end_jobs
  stop "$dir/slurmd.pid" slurmd
  stop "$dir/slurmctld.pid" slurmctld
  stop "$dir/munge/munged.pid" munged
}

node_state() {
  SLURM_CONF="$conf" sinfo -h -N -n "$host" -o %T 2>/dev/null | head -n 1 || true
}

up() {
  local missing=() bin
  for bin in munged slurmctld slurmd sinfo sbatch; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "not installed: ${missing[*]}; install Debian's slurm-wlm and munge (scripts/install-deps.sh)"
    exit 1
  fi
  if alive "$dir/slurmctld.pid" slurmctld || alive "$dir/slurmd.pid" slurmd ||
    alive "$dir/munge/munged.pid" munged; then
    say "a cluster is already running in $dir; run '$0 down $dir' first"
    exit 1
  fi

  host="$(hostname -s)"
  local user cpus mem_kb mem_mb ctld_port slurmd_port
  user="$(id -un)"
  cpus="$(nproc)"
  mem_kb="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
  # slurmd drains a node whose configured memory exceeds what it measures; stay below it.
  mem_mb=$((mem_kb / 1024 * 9 / 10))
  ctld_port="$(free_port "")"
  slurmd_port="$(free_port "$ctld_port")"

  mkdir -p "$dir/munge/run" "$dir/state" "$dir/spool"
  # Clients need to reach the socket; the key itself is private (600).
  chmod 755 "$dir/munge" "$dir/munge/run"
  if [ ! -s "$dir/munge/key" ]; then
    (umask 077 && dd if=/dev/urandom of="$dir/munge/key" bs=1 count=1024 status=none)
  fi
  chmod 600 "$dir/munge/key"

  local socket="$dir/munge/run/munge.socket"
  # Addresses are loopback, so a container whose hostname does not resolve still works.
  cat >"$conf" <<EOF
# Written by scripts/slurm/cluster.sh: a private one-node cluster in $dir.
ClusterName=maiatest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
KillWait=5
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

  munged --force --key-file="$dir/munge/key" --socket="$socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/seed" ||
    fail "munged did not start"
  local i
  for i in $(seq 50); do
    [ -S "$socket" ] && break
    sleep 0.1
  done
  [ -S "$socket" ] || fail "munged made no socket at $socket within 5 s"
  wait_pid "$dir/munge/munged.pid" munged

  # -c: a fresh controller state (no jobs from an earlier cluster in the same DIR).
  slurmctld -c -f "$conf" || fail "slurmctld did not start (config $conf)"
  wait_pid "$dir/slurmctld.pid" slurmctld
  slurmd -f "$conf" || fail "slurmd did not start (config $conf)"
  wait_pid "$dir/slurmd.pid" slurmd

  local state="" waited=0
  while [ "$waited" -lt $((timeout * 10)) ]; do
    state="$(node_state)"
    case "$state" in idle*) break ;; esac
    sleep 0.1
    waited=$((waited + 1))
  done
  case "$state" in
    idle*) ;;
    *) fail "node $host not idle after ${timeout} s (sinfo says '${state:-nothing}')" ;;
  esac
  [ -z "$owner" ] || start_watchdog
  say "up: node $host idle, $cpus CPUs, ${mem_mb} MB; slurmctld port $ctld_port, slurmd port $slurmd_port; logs in $dir"
  echo "export SLURM_CONF=$conf"
}

status() {
  host="$(hostname -s)"
  local name pidfile
  for name in munged slurmctld slurmd; do
    case "$name" in
      munged) pidfile="$dir/munge/munged.pid" ;;
      *) pidfile="$dir/$name.pid" ;;
    esac
    if alive "$pidfile" "$name"; then
      echo "$name: running (pid $(read_pid "$pidfile"))"
    else
      echo "$name: stopped"
    fi
  done
  if [ -f "$conf" ] && alive "$dir/slurmctld.pid" slurmctld; then
    SLURM_CONF="$conf" sinfo
    echo "export SLURM_CONF=$conf"
  fi
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) usage ;;
esac
