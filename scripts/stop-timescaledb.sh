#!/usr/bin/env bash
# Stops a throwaway cluster started by scripts/provision-timescaledb.sh and removes its folder.
#
# Usage: scripts/stop-timescaledb.sh DATA_DIR
set -euo pipefail

DATA_DIR=${1:?usage: stop-timescaledb.sh DATA_DIR}
[ -f "$DATA_DIR/PG_VERSION" ] || { rm -rf "$DATA_DIR"; exit 0; }
PG_CTL=/usr/lib/postgresql/$(cat "$DATA_DIR/PG_VERSION")/bin/pg_ctl
run_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if [ -f "$DATA_DIR/postmaster.pid" ]; then
  run_pg "$PG_CTL -D '$DATA_DIR' -m fast -w stop" >&2 || echo "stop: pg_ctl stop failed for $DATA_DIR" >&2
fi
rm -rf "$DATA_DIR"
echo "stop: cluster in $DATA_DIR stopped and removed" >&2
