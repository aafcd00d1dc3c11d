#!/usr/bin/env bash
# slurm-local.sh start|stop|status
#
# A single-node Slurm cluster on loopback, for the tests and CI of the Slurm
# executor (sbatch / squeue / scontrol / scancel against a real controller).
#
#   eval "$(scripts/slurm-local.sh start)"   # installs if missing, starts, prints
#                                            # `export SLURM_CONF=...` (last and
#                                            # only line on stdout)
#   scripts/slurm-local.sh status            # exit 0 if the cluster answers
#   scripts/slurm-local.sh stop              # cancels jobs, stops the daemons
#
# Everything (slurm.conf, spool and state dirs, logs, pid files, munge key and
# socket) lives under one state directory: $REWARDSMITH_SLURM_DIR, default
# /tmp/rewardsmith-slurm. `start` also writes $DIR/env.sh with the export line.
# Ports: $REWARDSMITH_SLURM_CTLD_PORT (6817) and $REWARDSMITH_SLURM_SLURMD_PORT
# (6818). Progress goes to stderr, prefixed "slurm-local:".
#
# Facts that shaped it (Debian 12: slurm-wlm 22.05.8, munge 0.5.15):
# - Debian's `slurm-wlm` and `munge` packages; installed with apt-get only when
#   a binary is missing (about 25 s). Where no init system runs, Debian's
#   policy-rc.d keeps the packages from starting system-wide daemons.
# - No systemd (containers, CI): the daemons are started by hand, each
#   daemonizing itself and writing a pid file; `stop` kills them by pid. A
#   daemon whose parent never reaps it stays a zombie: a zombie counts as dead.
# - Clients have no default slurm.conf path here, so they need SLURM_CONF.
# - munged insists that every directory above its socket is searchable by all
#   and not writable by group/other (unless sticky, like /tmp): it refuses a
#   socket under a 700 home directory such as ~/.cache. Hence the state dir
#   in /tmp, umask 022, the munge dir 755 and the key dir 700, and the chain
#   check below. munged is run with explicit --socket/--key-file/--pid-file/
#   --log-file/--seed-file, and slurm finds the socket through
#   `AuthInfo=socket=...` in slurm.conf.
# - No cgroups: ProctrackType=proctrack/linuxproc and TaskPlugin=task/none.
# - CommunicationParameters=NoCtldInAddrAny,NoInAddrAny keeps the daemons on
#   127.0.0.1; the node is NodeName=localhost (slurmd -N localhost).
# - select/cons_tres with CR_Core: several 1-CPU tasks run at once.
# - MinJobAge=3600: finished jobs stay visible to `scontrol show job`;
#   KillWait=5: scancel (and stop) end a job's processes within seconds.
# - SchedulerParameters=batch_sched_delay=0: by default a batch job waits ~3 s
#   before it is scheduled (a 4-task array on 2 CPUs: 6-7 s instead of 2-4 s).
# - With the controller down a client command hangs ~10 s, so every client
#   call here is under `timeout`.
set -euo pipefail
umask 022
PATH="$PATH:/usr/sbin:/sbin"   # slurmctld, slurmd, munged live in /usr/sbin

DIR=${REWARDSMITH_SLURM_DIR:-/tmp/rewardsmith-slurm}
CTLD_PORT=${REWARDSMITH_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${REWARDSMITH_SLURM_SLURMD_PORT:-6818}
NODE=localhost
START_WAIT_S=20

log() { echo "slurm-local: $*" >&2; }
die() { log "error: $*"; exit 1; }

for port in "$CTLD_PORT" "$SLURMD_PORT"; do
  case "$port" in ''|*[!0-9]*) die "port '$port' is not a number" ;; esac
done

case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
CONF="$DIR/slurm.conf"
MUNGE_DIR="$DIR/munge"          # 755: the socket
MUNGE_KEY_DIR="$MUNGE_DIR/key"  # 700: key and seed
MUNGE_SOCKET="$MUNGE_DIR/munge.socket.2"
MUNGE_KEY="$MUNGE_KEY_DIR/munge.key"
RUN_DIR="$DIR/run"
LOG_DIR="$DIR/log"
PID_MUNGED="$RUN_DIR/munged.pid"
PID_CTLD="$RUN_DIR/slurmctld.pid"
PID_SLURMD="$RUN_DIR/slurmd.pid"
export SLURM_CONF="$CONF"

# ---- packages --------------------------------------------------------------

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_packages() {
  local missing=0 b
  for b in munged mungekey slurmctld slurmd sinfo sbatch squeue scontrol scancel; do
    command -v "$b" >/dev/null 2>&1 || missing=1
  done
  [ "$missing" -eq 0 ] && return 0
  log "installing slurm-wlm and munge with apt-get"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge)
  if ! as_root "${apt[@]}" >"/tmp/slurm-local-apt.$$.log" 2>&1; then
    log "install failed; running apt-get update and retrying"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"/tmp/slurm-local-apt.$$.log" 2>&1 || true
    if ! as_root "${apt[@]}" >>"/tmp/slurm-local-apt.$$.log" 2>&1; then
      tail -n 20 "/tmp/slurm-local-apt.$$.log" >&2
      rm -f "/tmp/slurm-local-apt.$$.log"
      die "apt-get install slurm-wlm munge failed"
    fi
  fi
  rm -f "/tmp/slurm-local-apt.$$.log"
}

# ---- processes -------------------------------------------------------------

# read_pid PIDFILE: the pid in it, or nothing (a daemon removes its file on exit).
read_pid() { { tr -dc '0-9' <"$1"; } 2>/dev/null || true; }

# alive_pid PID COMM: PID is a live (not zombie) process called COMM. Daemons
# are reparented to PID 1, which here may never reap them: zombies are dead.
alive_pid() {
  local st
  [ -n "$1" ] || return 1
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
  st=${st##*) }                 # after "pid (comm) ": "state ppid ..."
  case "${st%% *}" in Z|X|x) return 1 ;; esac
}

# alive PIDFILE COMM: the pid file names a live process called COMM.
alive() { alive_pid "$(read_pid "$1")" "$2"; }

# stop_daemon PIDFILE COMM: TERM, wait up to 10 s, then KILL.
stop_daemon() {
  local pidfile=$1 comm=$2 pid _
  pid=$(read_pid "$pidfile")
  if alive_pid "$pid" "$comm"; then
    log "stopping $comm (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive_pid "$pid" "$comm" || break; sleep 0.2; done
    if alive_pid "$pid" "$comm"; then
      log "$comm did not stop on TERM; killing"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$pidfile"
}

# descendants PID: the pids of PID's children, grandchildren, ... (from /proc).
descendants() {
  local f st kid ppid
  for f in /proc/[0-9]*/stat; do
    st=$(cat "$f" 2>/dev/null) || continue
    st=${st##*) }                 # after "pid (comm) ": "state ppid ..."
    read -r _ ppid _ <<<"$st"
    [ "$ppid" = "$1" ] || continue
    kid=${f#/proc/}; kid=${kid%/stat}
    descendants "$kid"
    echo "$kid"
  done
}

# Job steps (slurmstepd and the job's processes) outlive slurmd; find ours by
# the SLURM_CONF in their environment, which they inherit from our slurmd.
kill_leftover_steps() {
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    alive_pid "$pid" slurmstepd || continue
    if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$CONF"; then
      log "killing leftover slurmstepd (pid $pid) and its processes"
      # shellcheck disable=SC2046  # a list of pids, split on purpose
      kill -KILL $(descendants "$pid") "$pid" 2>/dev/null || true
    fi
  done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Called with none of our daemons up: a listener on a port is someone else's
# (often another state dir's cluster).
check_ports() {
  if port_in_use "$CTLD_PORT"; then
    die "port $CTLD_PORT is taken by another process (set REWARDSMITH_SLURM_CTLD_PORT)"
  fi
  if port_in_use "$SLURMD_PORT"; then
    die "port $SLURMD_PORT is taken by another process (set REWARDSMITH_SLURM_SLURMD_PORT)"
  fi
}

# ---- files -----------------------------------------------------------------

# munged wants each directory above its socket searchable by all and not
# writable by group/other unless sticky.
check_dir_chain() {
  local d=$1 mode perm
  while :; do
    mode=$(stat -c '%a' "$d")
    perm=$((8#$mode))
    if (( (perm & 8#001) == 0 )); then
      die "$d is mode $mode: munged needs every directory above its socket searchable by all (o+x); set REWARDSMITH_SLURM_DIR elsewhere (e.g. under /tmp)"
    fi
    if (( (perm & 8#022) != 0 && (perm & 8#1000) == 0 )); then
      die "$d is mode $mode: munged refuses a socket under a group/other-writable directory without the sticky bit"
    fi
    [ "$d" = / ] && break
    d=$(dirname "$d")
  done
}

make_dirs() {
  mkdir -p "$DIR" "$MUNGE_KEY_DIR" "$RUN_DIR" "$LOG_DIR" "$DIR/ctld" "$DIR/slurmd"
  chmod 755 "$DIR" "$MUNGE_DIR" "$RUN_DIR" "$LOG_DIR" "$DIR/ctld" "$DIR/slurmd"
  chmod 700 "$MUNGE_KEY_DIR"
  check_dir_chain "$MUNGE_DIR"
  if [ ! -s "$MUNGE_KEY" ]; then
    log "creating munge key"
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile="$MUNGE_KEY" --force >/dev/null
    else
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
  fi
  chmod 600 "$MUNGE_KEY"
}

real_memory_mb() {
  # 90% of MemTotal: a RealMemory above what slurmd finds would drain the node.
  awk '/^MemTotal:/ { printf "%d\n", $2 / 1024 * 0.9 }' /proc/meminfo
}

write_conf() {
  local user cpus mem
  user=$(id -un)
  cpus=$(nproc)
  mem=$(real_memory_mb)
  cat >"$CONF.tmp" <<EOF
# Written by scripts/slurm-local.sh; rewritten on each start.
ClusterName=rewardsmith
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$PID_CTLD
SlurmdPidFile=$PID_SLURMD
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
MailProg=/bin/true
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
}

# ---- cluster ---------------------------------------------------------------

answers() { timeout 10 sinfo -h -o %P >/dev/null 2>&1; }

# Compact node state: idle, mix, alloc, comp, down, drain, unk, ...; a "*"
# suffix means slurmd has not answered the controller (yet).
node_state() { timeout 10 sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -n 1; }

all_alive() {
  alive "$PID_MUNGED" munged && alive "$PID_CTLD" slurmctld && alive "$PID_SLURMD" slurmd
}

dump_logs() {
  local f
  for f in "$LOG_DIR/munged.log" "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; do
    [ -f "$f" ] || continue
    echo "---- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
}

# fail MESSAGE: a start went wrong: show the logs, stop what did start, exit 1.
fail() {
  log "error: $*"
  dump_logs
  cmd_stop
  exit 1
}

start_munged() {
  alive "$PID_MUNGED" munged && return 0
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  log "starting munged"
  # No --force: as root munged needs none, and its permission checks stay on.
  munged \
    --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" \
    --pid-file="$PID_MUNGED" --log-file="$LOG_DIR/munged.log" \
    --seed-file="$MUNGE_KEY_DIR/munged.seed" \
    || fail "munged failed to start"
  local _
  for _ in $(seq 1 50); do
    if munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  fail "munged does not answer on $MUNGE_SOCKET"
}

start_slurmctld() {
  alive "$PID_CTLD" slurmctld && return 0
  log "starting slurmctld on 127.0.0.1:$CTLD_PORT"
  slurmctld -f "$CONF" || fail "slurmctld failed to start"
}

start_slurmd() {
  alive "$PID_SLURMD" slurmd && return 0
  log "starting slurmd on 127.0.0.1:$SLURMD_PORT"
  slurmd -f "$CONF" -N "$NODE" || fail "slurmd failed to start"
}

# Wait until sinfo answers and the node is up and responding (idle, or running
# jobs left from before a restart). A daemon that died (bad config, say) fails
# at once; pid files appear just after the daemons fork, hence the 2 s grace.
wait_ready() {
  local deadline=$((SECONDS + START_WAIT_S)) state="" resumed=0 dead=0
  while [ "$SECONDS" -lt "$deadline" ]; do
    if all_alive; then dead=0; else dead=$((dead + 1)); fi
    [ "$dead" -lt 4 ] || fail "a daemon exited during start"
    state=$(node_state || true)
    case "$state" in
      idle|mix|alloc|comp) return 0 ;;
      down*|drain*|drng*)
        if [ "$resumed" -eq 0 ]; then
          log "node is $state; resuming it"
          timeout 10 scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
          resumed=1
        fi ;;
    esac
    sleep 0.5
  done
  fail "cluster not ready after ${START_WAIT_S}s (node state: '${state:-no answer}')"
}

print_env() {
  local line="export SLURM_CONF=$CONF"
  echo "$line" >"$DIR/env.sh"
  echo "$line"
}

cmd_start() {
  ensure_packages
  if [ -f "$CONF" ] && all_alive && answers; then
    log "already running"
    print_env
    return 0
  fi
  make_dirs
  # A half-up cluster (some daemon dead) is restarted whole, with a fresh conf.
  if alive "$PID_CTLD" slurmctld || alive "$PID_SLURMD" slurmd || alive "$PID_MUNGED" munged; then
    log "cluster partly up; restarting it"
    cmd_stop
    make_dirs
  fi
  check_ports
  write_conf
  local t0=$SECONDS
  start_munged
  start_slurmctld
  start_slurmd
  wait_ready
  log "ready in $((SECONDS - t0)) s: $(timeout 10 sinfo -h -o '%P %a %D %T %C' 2>/dev/null | head -n 1)"
  print_env
}

cmd_stop() {
  if [ -f "$CONF" ] && alive "$PID_CTLD" slurmctld; then
    # Cancel this cluster's jobs and give slurmd a few seconds to end them.
    timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1 || true
    local _
    for _ in $(seq 1 20); do
      [ -z "$(timeout 10 squeue -h -o %i -t RUNNING,COMPLETING,SUSPENDED 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_daemon "$PID_SLURMD" slurmd
  kill_leftover_steps
  stop_daemon "$PID_CTLD" slurmctld
  stop_daemon "$PID_MUNGED" munged
  log "stopped"
}

cmd_status() {
  local name pidfile
  for name in munged slurmctld slurmd; do
    pidfile="$RUN_DIR/$name.pid"
    if alive "$pidfile" "$name"; then
      log "$name: running (pid $(read_pid "$pidfile"))"
    else
      log "$name: not running"
    fi
  done
  if [ -f "$CONF" ] && command -v sinfo >/dev/null 2>&1 && answers; then
    timeout 10 sinfo >&2 || true
    log "up (SLURM_CONF=$CONF)"
    return 0
  fi
  log "down"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
