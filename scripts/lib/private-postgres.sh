# Sourced by the soak and chaos scripts: a PostgreSQL server of their own, so that the load
# neither disturbs this machine's other databases nor depends on their settings (a shared server
# may run with autovacuum off, for one). initdb's defaults, in a temporary folder, on its own
# port; stopped and removed when the sourcing script exits.
#
# After `start_private_postgres PORT DATABASE`: $private_postgres_url is the database's URL, and
# `private_pg_ctl ARGS…` runs pg_ctl on that server (as the postgres user when we are root,
# since PostgreSQL refuses to run as root).
#
# Environment: PG_BIN, PostgreSQL's programs (default: the newest /usr/lib/postgresql/*/bin).

private_pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
private_as_postgres=()
[[ "$(id -u)" = 0 ]] && private_as_postgres=(runuser -u postgres --)
private_pg_data="$(mktemp -d /tmp/potluck-private-pg.XXXXXX)"
[[ "$(id -u)" = 0 ]] && chown postgres: "$private_pg_data"

private_pg_ctl() {
  "${private_as_postgres[@]}" "$private_pg_bin/pg_ctl" -D "$private_pg_data/cluster" \
    -l "$private_pg_data/server.log" -w "$@"
}

stop_private_postgres() {
  private_pg_ctl stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$private_pg_data"
}
trap stop_private_postgres EXIT

start_private_postgres() {
  local port="$1" database="$2"
  "${private_as_postgres[@]}" "$private_pg_bin/initdb" --auth=trust --username=postgres \
    -D "$private_pg_data/cluster" >/dev/null
  private_pg_ctl -o "-p $port -k $private_pg_data -c listen_addresses=127.0.0.1" start >/dev/null
  "${private_as_postgres[@]}" "$private_pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$database"
  private_postgres_url="postgres://postgres@127.0.0.1:$port/$database"
}
