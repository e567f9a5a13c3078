#!/usr/bin/env bash
# Bring up a single-node Slurm (slurmctld + slurmd + munged) on this host for tests.
#
# Why a script and not systemd: CI machines are fresh Debian containers without an init system.
# Idempotent: when the cluster this script started is already healthy it exits at once.
# State, logs and pid files live in $DAGSPEC_SLURM_STATE (default /var/lib/dagspec-slurm),
# never in the repository. The config goes to /etc/slurm/slurm.conf (where every Slurm client
# looks by default) and carries a marker line so we never overwrite a config we did not write.
set -euo pipefail

STATE="${DAGSPEC_SLURM_STATE:-/var/lib/dagspec-slurm}"
CONF=/etc/slurm/slurm.conf
MARKER="# managed by dagspec scripts/slurm-up.sh"
NODE="$(hostname -s)"
T0=$(date +%s.%N)

say() { printf 'slurm-up: %s\n' "$*"; }
die() { printf 'slurm-up: ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# A pid is alive when its process exists and is not a zombie (PID 1 here reaps lazily).
alive() {
    local pid="$1" st
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}
pid_of() { [[ -r "$1" ]] && tr -dc '0-9' <"$1" || true; }

node_state() { sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n1 || true; }

healthy() {
    [[ -r "$CONF" ]] && grep -qxF "$MARKER" "$CONF" || return 1
    alive "$(pid_of "$STATE/run/slurmctld.pid")" || return 1
    alive "$(pid_of "$STATE/run/slurmd.pid")" || return 1
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || return 1
    case "$(node_state)" in idle | mix | alloc | comp) return 0 ;; *) return 1 ;; esac
}

# Run a daemon with stdio on /dev/null and every inherited descriptor closed: a daemon holding
# the write end of a CI pipe makes the CI step hang forever.
detached() {
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
        done
        exec "$@" </dev/null >/dev/null 2>&1
    )
}

if [[ $EUID -ne 0 ]]; then die "must run as root (it installs packages and starts daemons)"; fi

if command -v sinfo >/dev/null && healthy; then
    say "already up and healthy (node $NODE $(node_state)), $(elapsed) s"
    exit 0
fi

# --- packages ---------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    say "installed ($(elapsed) s)"
fi

# --- stop leftovers we started earlier (unhealthy cluster) ---------------------------------------
"$(dirname "$0")/slurm-down.sh" --quiet || true

# --- munge ----------------------------------------------------------------------------------------
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [[ -r /etc/munge/munge.key ]] || die "/etc/munge/munge.key missing (munge package broken?)"
    detached runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || die "munged did not come up"
    # Remember that we started it, so slurm-down.sh stops it and nothing else.
    install -d -m 0755 "$STATE/run"
    cp /run/munge/munged.pid "$STATE/run/munged.pid" 2>/dev/null || true
    say "started munged"
fi

# --- slurm.conf -------------------------------------------------------------------------------------
if [[ -e "$CONF" ]] && ! grep -qxF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to overwrite it"
fi
install -d -m 0755 "$STATE" "$STATE/run" "$STATE/log" "$STATE/state" "$STATE/spool" /etc/slurm
# `slurmd -C` prints this machine's real layout, e.g.
# NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=23000
layout=$(slurmd -C | head -n1)
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$layout")
cpus_layout=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//' <<<"$layout")
real_mem=$((mem * 9 / 10))
tmp=$(mktemp "$CONF.XXXXXX")
cat >"$tmp" <<EOF
$MARKER
# One node on localhost for dagspec's tests; state in $STATE.
ClusterName=dagspec
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
EnforcePartLimits=ALL
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 $cpus_layout RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
chmod 0644 "$tmp"
mv -f "$tmp" "$CONF"

# --- daemons ----------------------------------------------------------------------------------------
detached /usr/sbin/slurmctld
detached /usr/sbin/slurmd -N "$NODE"
for _ in $(seq 100); do
    case "$(node_state)" in idle | mix | alloc) break ;; esac
    sleep 0.1
done
st=$(node_state)
case "$st" in
    idle | mix | alloc) ;;
    *) die "node $NODE is '${st:-unknown}' after 10 s; see $STATE/log/slurmctld.log and slurmd.log" ;;
esac
say "slurmctld pid $(pid_of "$STATE/run/slurmctld.pid"), slurmd pid $(pid_of "$STATE/run/slurmd.pid"), node $NODE $st ($(elapsed) s)"

# --- smoke job: absorbs the controller's first scheduling pass ----------------------------------------
jid=$(sbatch --parsable --job-name=dagspec-smoke --output=/dev/null --time=1 --wrap=true)
for _ in $(seq 300); do
    js=$(squeue -h -j "$jid" -t all -o %T 2>/dev/null || true)
    case "$js" in COMPLETED) break ;; FAILED | CANCELLED* | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) die "smoke job $jid ended $js" ;; esac
    sleep 0.1
done
[[ "$js" == COMPLETED ]] || die "smoke job $jid still '$js' after 30 s"
say "smoke job $jid COMPLETED; cluster up in $(elapsed) s (state $STATE, config $CONF)"
