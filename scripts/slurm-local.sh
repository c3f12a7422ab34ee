#!/usr/bin/env bash
# Install and start a one-machine SLURM cluster (Debian's slurm-wlm + munge) on this host, for CI and
# for trying `npm run pipeline -- --scheduler slurm` without a real cluster. Idempotent: a cluster that
# is already up is left as it is; missing pieces (packages, munge key, config, daemons) are added.
# Run as root. Exits non-zero, saying why, when the node does not become idle.
#
#   sudo bash scripts/slurm-local.sh          # install + start, wait for `sinfo` to show the node idle
#   SLURM_LOCAL_PARTITION=debug ...           # partition name (default: debug)
set -euo pipefail

PARTITION="${SLURM_LOCAL_PARTITION:-debug}"
HOST="$(hostname -s)"
CPUS="$(nproc)"
CONF=/etc/slurm/slurm.conf
log() { echo "slurm-local: $*"; }
# is a process with this command name running? (/proc, so procps need not be installed)
running() { local p; for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = "$1" ] && return 0; done; return 1; }
die() { echo "slurm-local: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  log "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; }
fi

# 2. munge: key, folders, daemon.
id munge >/dev/null 2>&1 || die "the munge user does not exist after installing munge"
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
chmod 700 /etc/munge /var/log/munge
chmod 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  rm -f /run/munge/munged.pid
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
  munge -n | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

# 3. slurm.conf naming this host (rewritten only when host or CPU count changed).
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
WANT="# saelab slurm-local: host=${HOST} cpus=${CPUS} partition=${PARTITION}"
if [ ! -f "$CONF" ] || ! grep -qxF "$WANT" "$CONF"; then
  log "writing $CONF (node ${HOST}, ${CPUS} CPUs, partition ${PARTITION})"
  cat >"$CONF" <<EOF
$WANT
ClusterName=saelab-local
SlurmctldHost=${HOST}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
MinJobAge=300
NodeName=${HOST} CPUs=${CPUS} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF
  # a changed config needs the daemons restarted
  if scontrol ping >/dev/null 2>&1; then scontrol shutdown >/dev/null 2>&1 || true; sleep 2; fi
fi

# 4. Daemons.
if ! scontrol ping 2>/dev/null | grep -q 'is UP'; then
  log "starting slurmctld"
  slurmctld
fi
if ! running slurmd; then
  log "starting slurmd"
  slurmd
fi

# 5. Wait for the node to be idle (resume it if an earlier run left it down/drained).
for i in $(seq 1 60); do
  state="$(sinfo -h -n "$HOST" -o '%t' 2>/dev/null | head -1 || true)"
  case "$state" in
    idle|mix|alloc) log "node ${HOST} is ${state}; partition ${PARTITION} ready"; sinfo; exit 0 ;;
    down*|drain*|drng*|fail*) [ $((i % 5)) = 1 ] && scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
sinfo || true
die "node ${HOST} did not become idle within 60 s (state '${state:-unknown}'); see /var/log/slurm/slurmctld.log and slurmd.log"
