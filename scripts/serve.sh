#!/usr/bin/env bash
# Builds Potluck (web UI and server, release) and runs it. The one command to run the server.
#
# Usage: scripts/serve.sh [--with-worker] [potluck arguments...]
#   scripts/serve.sh                                  listen on 127.0.0.1:8080, database
#                                                     sqlite://potluck.db in the current folder
#   scripts/serve.sh --with-worker                    the same, and a local potluck-worker
#                                                     serving SmolLM2-135M-Instruct beside it
#   scripts/serve.sh --listen 0.0.0.0:8080            any flag of `potluck --help`
#   scripts/serve.sh admin create-user --name alice --moderator
#
# Installs what the build needs when it is missing (the wasm32 target and the wasm-bindgen CLI,
# through scripts/build-frontend.sh), builds the frontend into <workspace>/target/site and the
# server into ${CARGO_TARGET_DIR:-<workspace>/target}/release, then runs `potluck` with the
# site root set to the built site (unless --site-root or POTLUCK_SITE_ROOT says otherwise) and,
# so that visitors can contribute from the Contribute page, SmolLM2-135M-Instruct offered to
# browsers (scripts/fetch-smollm2.sh fetches it once; --browser-model or POTLUCK_BROWSER_MODEL
# offers another).
#
# --with-worker (first argument) also builds potluck-worker and, once the server listens, runs
# it on SmolLM2-135M-Instruct with whatever GPU adapter this machine has (Mesa's lavapipe on a
# machine without a GPU: slow, but it answers). Its account is made with `potluck admin
# create-user` on the same database, and its key kept in ./potluck-worker.key (made again when
# the database does not know it). Ctrl-C stops both.
set -euo pipefail

case "${1:-}" in
  -h | --help) sed -n '2,24p' "$0"; echo; ;;
esac
with_worker=false
if [[ "${1:-}" = --with-worker ]]; then
  with_worker=true
  shift
fi

workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$workspace/target}"
[[ "$target_dir" = /* ]] || target_dir="$workspace/$target_dir"

(
  cd "$workspace"
  scripts/build-frontend.sh --release
  cargo build --release -p server --bin potluck
  if [[ $with_worker = true ]]; then
    cargo build --release -p worker --bin potluck-worker
  fi
) >&2

# The site root and the browsers' model, unless the caller names them.
site_root=(--site-root "$workspace/target/site")
[[ -z "${POTLUCK_SITE_ROOT:-}" ]] || site_root=()
browser_model=(--browser-model "" --browser-model-name SmolLM2-135M-Instruct)
[[ -z "${POTLUCK_BROWSER_MODEL:-}" ]] || browser_model=()
for arg in "$@"; do
  case "$arg" in
    --site-root | --site-root=*) site_root=() ;;
    --browser-model | --browser-model=*) browser_model=() ;;
  esac
done
smollm2="$("$workspace/scripts/fetch-smollm2.sh")"
if [[ ${#browser_model[@]} -gt 0 ]]; then
  browser_model[1]="$smollm2"
fi

potluck="$target_dir/release/potluck"
if [[ $with_worker = false ]]; then
  exec "$potluck" "${site_root[@]}" "${browser_model[@]}" "$@"
fi

# --- the server with a local worker -----------------------------------------------------------

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/potluck-serve.XXXXXX")"
server_pid=""
worker_pid=""
stop() {
  [[ -z "$worker_pid" ]] || kill "$worker_pid" 2>/dev/null || true
  [[ -z "$server_pid" ]] || kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf -- "$run_dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$potluck" "${site_root[@]}" "${browser_model[@]}" "$@" >"$run_dir/stdout" &
server_pid=$!
url=""
for ((i = 0; i < 600; i++)); do
  url="$(sed -n 's|^potluck listening on \(http://[^ ]*\)$|\1|p' "$run_dir/stdout")"
  [[ -n "$url" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server stopped (its log is above)" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { echo "the server did not start within 60 s" >&2; exit 1; }
echo "potluck listening on $url"
# A wildcard address is reached on loopback.
local_url="$(sed -E 's#//(0\.0\.0\.0|\[::\])#//127.0.0.1#' <<<"$url")"

key_file=potluck-worker.key
known_key() {
  [[ -s "$key_file" ]] &&
    curl -sf -H "apikey: $(cat "$key_file")" "$local_url/api/v2/find_user" >/dev/null
}
if ! known_key; then
  created="$("$potluck" "$@" admin create-user --name local-worker)"
  (umask 077 && sed -n 's/^API key.*: \([^ ]*\)$/\1/p' <<<"$created" >"$key_file")
  echo "made the account $(sed -n 's/^created \([^ ]*\) .*/\1/p' <<<"$created") for the local worker; its key is in $key_file" >&2
fi
user_id="$(curl -sf -H "apikey: $(cat "$key_file")" "$local_url/api/v2/find_user" |
  sed -n 's/.*"id": *\([0-9]*\).*/\1/p')"

POTLUCK_API_KEY="$(cat "$key_file")" "$target_dir/release/potluck-worker" --server "$local_url" \
  --name "local-smollm2-$user_id" --model "$smollm2" --model-name SmolLM2-135M-Instruct \
  --no-status &
worker_pid=$!
echo "potluck-worker local-smollm2-$user_id serves SmolLM2-135M-Instruct; Ctrl-C stops both" >&2
wait -n "$server_pid" "$worker_pid"
