#!/usr/bin/env bash
# Stop the single-node SLURM cluster of ci/start-slurm.sh and remove its state.
# munged is left running (other software may use it); it is harmless.
set -uo pipefail
DIR="${TA_SLURM_DIR:-/tmp/transfer-atlas-slurm}"
for daemon in slurmd slurmctld; do
  pidfile="$DIR/$daemon.pid"
  if [ -s "$pidfile" ]; then
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
done
for name in slurm.conf gres.conf; do
  [ "$(readlink "/etc/slurm/$name" 2>/dev/null)" = "$DIR/$name" ] && rm -f "/etc/slurm/$name"
done
rm -rf "$DIR"
