#!/usr/bin/env bash
# The PostgreSQL chaos run (not part of the tests): a PostgreSQL server of its own (initdb in a
# temporary folder, on its own port, so that nothing else on this machine's servers is
# disturbed), the benchmark's potluck on it under steady load (`bench --soak`), and that
# PostgreSQL server restarted once mid-run (`pg_ctl restart -m fast`, which ends every
# connection). The benchmark then fails unless every accepted request came back with its
# worker's text; it prints per-minute windows, so the outage and the recovery show.
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
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/potluck-target}"
if [[ -z "${POTLUCK_BIN:-}" || -z "${BENCH_BIN:-}" ]]; then
  (cd "$workspace" && cargo build --locked -p server -p bench)
fi
potluck_bin="${POTLUCK_BIN:-$CARGO_TARGET_DIR/debug/potluck}"
bench_bin="${BENCH_BIN:-$CARGO_TARGET_DIR/debug/bench}"
port="${CHAOS_PORT:-55432}"
pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"

# PostgreSQL refuses to run as root: its programs then run as the postgres user.
as_postgres=()
[[ "$(id -u)" = 0 ]] && as_postgres=(runuser -u postgres --)
data="$(mktemp -d /tmp/potluck-chaos-pg.XXXXXX)"
[[ "$(id -u)" = 0 ]] && chown postgres: "$data"
pg_ctl() {
  "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w "$@"
}
cleanup() {
  pg_ctl stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

"${as_postgres[@]}" "$pg_bin/initdb" --auth=trust --username=postgres -D "$data/cluster" >/dev/null
pg_ctl -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
"${as_postgres[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres chaos

echo "PostgreSQL of its own on port $port; restarted $restart_at s into a $seconds s run"
"$bench_bin" --potluck-bin "$potluck_bin" \
  --database-url "postgres://postgres@127.0.0.1:$port/chaos" \
  --requesters 4 --workers 4 --poll-ms 100 --backoff-ms 100 \
  --duration "$seconds" --soak 60 --request-timeout 900 \
  --chaos-after "$restart_at" \
  --chaos-command "$(printf '%q ' "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w restart -m fast)"
