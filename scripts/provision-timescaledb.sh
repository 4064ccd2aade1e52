#!/usr/bin/env bash
# Installs PostgreSQL with TimescaleDB (Apache-2 edition, Debian's package) and
# pgvector, then starts a throwaway cluster on a free loopback port and prints
# its DSN on the last line of stdout. Progress goes to stderr.
#
#   Debian 13: postgresql-17, postgresql-17-timescaledb, postgresql-17-pgvector.
#   Debian 12: postgresql-15, with timescaledb and pgvector built from Debian 13's
#              source packages against postgresql-server-dev-15.
#
# Usage: scripts/provision-timescaledb.sh [DATA_DIR]
# Stop:  pg_ctl -D DATA_DIR stop   (run as the postgres user)
set -euo pipefail

log() { echo "provision: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2; }

. /etc/os-release
case "${VERSION_ID:-}" in
  12) PG_MAJOR=15 ;;
  13) PG_MAJOR=17 ;;
  *) log "unsupported Debian release '${VERSION_ID:-?}' (want 12 or 13)"; exit 1 ;;
esac
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BIN/pg_config
LIBDIR=/usr/lib/postgresql/$PG_MAJOR/lib

have_extensions() {
  [ -f "$LIBDIR/vector.so" ] && ls "$LIBDIR"/timescaledb*.so >/dev/null 2>&1
}

install_debian13() {
  apt_install postgresql-$PG_MAJOR postgresql-$PG_MAJOR-timescaledb postgresql-$PG_MAJOR-pgvector
}

install_debian12() {
  apt_install postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR build-essential cmake \
    dpkg-dev libssl-dev libkrb5-dev ca-certificates
  local list=/etc/apt/sources.list.d/arc-eval-trixie-src.sources
  if [ ! -f "$list" ]; then
    log "adding a deb-src entry for trixie (source packages only)"
    as_root tee "$list" >/dev/null <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  as_root apt-get update -qq >&2
  local build; build=$(mktemp -d)
  (
    cd "$build"
    log "fetching source packages timescaledb and pgvector"
    apt-get source -qq --download-only timescaledb pgvector >&2
    for dsc in *.dsc; do dpkg-source -x "$dsc" >/dev/null; done
    cd "$build"/pgvector-*/
    log "building pgvector for PostgreSQL $PG_MAJOR"
    make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >&2
    as_root make -s PG_CONFIG="$PG_CONFIG" install >&2
    cd "$build"/timescaledb-*/
    log "building TimescaleDB (Apache-2 edition) for PostgreSQL $PG_MAJOR"
    ./bootstrap -DPG_CONFIG="$PG_CONFIG" -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF \
      -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DGENERATE_DOWNGRADE_SCRIPT=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
    cd build
    make -s -j"$(nproc)" >&2
    as_root make -s install >&2
  )
  rm -rf "$build"
}

if have_extensions; then
  log "TimescaleDB and pgvector already installed for PostgreSQL $PG_MAJOR"
else
  as_root apt-get update -qq >&2
  if [ "$PG_MAJOR" = 17 ]; then install_debian13; else install_debian12; fi
fi
have_extensions || { log "TimescaleDB or pgvector is missing after installation"; exit 1; }

# A throwaway cluster, owned by the postgres system user, trust auth on loopback only.
DATA_DIR=${1:-$(mktemp -d -t arc-eval-pg.XXXXXX)}
mkdir -p "$DATA_DIR"
chown postgres:postgres "$DATA_DIR" 2>/dev/null || true
chmod 700 "$DATA_DIR"
run_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
  run_pg "$PG_BIN/initdb -D '$DATA_DIR' -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8" >&2
fi
run_pg "$PG_BIN/pg_ctl -D '$DATA_DIR' -l '$DATA_DIR/server.log' -w start -o \"-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$DATA_DIR' -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off -c max_connections=200 -c fsync=off\"" >&2
log "cluster in $DATA_DIR listening on 127.0.0.1:$PORT"
echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
