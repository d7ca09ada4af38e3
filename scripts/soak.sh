#!/usr/bin/env bash
# The soak run (not part of the tests): an optimised potluck under steady load for SECONDS
# (`bench --soak 60`: 4 requesters and 4 workers, every result verified), on SQLite (a fresh
# file) or on a PostgreSQL server of its own (scripts/lib/private-postgres.sh: initdb's
# defaults, autovacuum on, as an operator's server would run). Every minute it prints the
# window's jobs, p50 and p99, and the server's memory and file descriptors; at the end the
# last quarter against the first, and a plot. Run it alone on the machine: a build or a
# second run beside it makes the figures the machine's, not the server's.
#
# Usage: scripts/soak.sh sqlite|postgres [SECONDS]   (default 3600)
#
# Environment:
#   POTLUCK_BIN, BENCH_BIN  the binaries (default: release builds in CARGO_TARGET_DIR, built here)
#   SOAK_PORT               the private PostgreSQL server's port (default 55433)
set -euo pipefail

database="${1:?usage: scripts/soak.sh sqlite|postgres [SECONDS]}"
seconds="${2:-3600}"
workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$workspace/scripts/lib/steady-load.sh"
steady_load_binaries release

database_args=()
case "$database" in
  sqlite) ;;
  postgres)
    source "$workspace/scripts/lib/private-postgres.sh"
    start_private_postgres "${SOAK_PORT:-55433}" soak
    database_args=(--database-url "$private_postgres_url")
    ;;
  *) echo "usage: scripts/soak.sh sqlite|postgres [SECONDS]" >&2; exit 2 ;;
esac

"$bench_bin" --potluck-bin "$potluck_bin" "${database_args[@]}" "${steady_load[@]}" \
  --duration "$seconds"
