#!/usr/bin/env bash
# The PostgreSQL chaos run (not part of the tests): the benchmark's potluck under steady load
# (`bench --soak`) on a PostgreSQL server of its own (scripts/lib/private-postgres.sh), and that
# server restarted once mid-run (`pg_ctl restart -m fast`, which ends every connection). The
# benchmark then fails unless every accepted request came back with its worker's text; it
# prints per-minute windows, so the outage and the recovery show.
#
# Usage: scripts/chaos-postgres-restart.sh [SECONDS [RESTART_AT]]   (default 600 and 300)
#
# Environment:
#   POTLUCK_BIN, BENCH_BIN  the binaries (default: debug builds in CARGO_TARGET_DIR, built here)
#   CHAOS_PORT              the private server's port (default 55432)
#   PG_BIN                  PostgreSQL's programs (default: the newest /usr/lib/postgresql/*/bin)
set -euo pipefail

seconds="${1:-600}"
restart_at="${2:-300}"
workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$workspace/scripts/lib/steady-load.sh"
steady_load_binaries debug
port="${CHAOS_PORT:-55432}"

source "$workspace/scripts/lib/private-postgres.sh"
start_private_postgres "$port" chaos

echo "PostgreSQL of its own on port $port; restarted $restart_at s into a $seconds s run"
"$bench_bin" --potluck-bin "$potluck_bin" --database-url "$private_postgres_url" \
  "${steady_load[@]}" --duration "$seconds" --chaos-after "$restart_at" \
  --chaos-command "$(printf '%q ' "${private_as_postgres[@]}" "$private_pg_bin/pg_ctl" \
    -D "$private_pg_data/cluster" -l "$private_pg_data/server.log" -w restart -m fast)"
