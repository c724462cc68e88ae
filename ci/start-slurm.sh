#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (munge + slurmctld + slurmd),
# for tests/workflow/test_slurm.py and for trying profiles/slurm without a cluster.
# Needs Debian's slurm-wlm and munge (ci/install-system-deps.sh) and root.
# Idempotent: if the cluster answers already, it only prints the environment line.
#
#   eval "$(ci/start-slurm.sh)"     # starts it, then exports SLURM_CONF for this shell
#   ci/stop-slurm.sh                # stops it and removes its state
#
# The config and state live in $TA_SLURM_DIR (default /tmp/transfer-atlas-slurm);
# /etc/slurm/slurm.conf and gres.conf are symlinks to them while the cluster runs
# (job steps drop SLURM_CONF, so the default path must work). ci/stop-slurm.sh removes
# the symlinks again: with a config but no controller, every SLURM command waits ~10 s
# before failing, and Snakemake's SLURM plugin runs scontrol whenever snakemake starts.
# It offers 2 fake GPUs (GRES over character devices that act like /dev/null) so that GPU requests schedule and
# SLURM sets CUDA_VISIBLE_DEVICES per job; nothing uses a real device.
set -euo pipefail
DIR="${TA_SLURM_DIR:-/tmp/transfer-atlas-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

for cmd in munged slurmctld slurmd sbatch scontrol; do
  command -v "$cmd" >/dev/null || PATH="$PATH:/usr/sbin"
  command -v "$cmd" >/dev/null || { echo "error: $cmd not found; run ci/install-system-deps.sh" >&2; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
  echo "error: ci/start-slurm.sh starts munged and slurmd and must run as root" >&2
  exit 1
fi

if [ -f "$CONF" ] && scontrol ping 2>/dev/null | grep -q UP && sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc"; then
  echo "export SLURM_CONF=$CONF"
  exit 0
fi

HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$DIR"/{state,spool,gpu} /run/munge /var/log/munge /var/lib/munge
# Fake GPU device files: SLURM wants character devices; these behave like /dev/null.
for i in 0 1; do
  [ -c "$DIR/gpu/nvidia$i" ] || { rm -f "$DIR/gpu/nvidia$i"; mknod "$DIR/gpu/nvidia$i" c 1 3; }
done

# munge: one key, the daemon as root (--force: it otherwise refuses to).
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  munged --force 2>>"$DIR/munged.log"
fi

cat > "$CONF" <<CONF
ClusterName=transfer-atlas
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SchedulerParameters=defer_batch
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
cat > "$DIR/gres.conf" <<CONF
NodeName=$HOST Name=gpu File=$DIR/gpu/nvidia[0-1]
CONF

mkdir -p /etc/slurm
for name in slurm.conf gres.conf; do
  link="/etc/slurm/$name"
  if [ -e "$link" ] && [ "$(readlink "$link")" != "$DIR/$name" ]; then
    echo "error: $link exists and is not this test cluster's; is this a real SLURM node?" >&2
    exit 1
  fi
  ln -sfn "$DIR/$name" "$link"
done
slurmctld -f "$CONF"
slurmd -f "$CONF"
for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE "^(idle|mix|alloc)"; then
    echo "export SLURM_CONF=$CONF"
    exit 0
  fi
  sleep 0.5
done
echo "error: the SLURM node did not come up; see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
sinfo >&2 || true
tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
exit 1
