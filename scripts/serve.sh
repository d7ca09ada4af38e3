#!/usr/bin/env bash
# Builds Potluck (web UI and server, release) and runs it. The one command to run the server.
#
# Usage: scripts/serve.sh [potluck arguments...]
#   scripts/serve.sh                                  listen on 127.0.0.1:8080, database
#                                                     sqlite://potluck.db in the current folder
#   scripts/serve.sh --listen 0.0.0.0:8080            any flag of `potluck --help`
#   scripts/serve.sh admin create-user --name alice --moderator
#
# Installs what the build needs when it is missing (the wasm32 target and the wasm-bindgen CLI,
# through scripts/build-frontend.sh), builds the frontend into <workspace>/target/site and the
# server into ${CARGO_TARGET_DIR:-<workspace>/target}/release, then execs `potluck` with the
# site root set to the built site (unless --site-root or POTLUCK_SITE_ROOT says otherwise) and,
# so that visitors can contribute from the Contribute page, SmolLM2-135M-Instruct offered to
# browsers (scripts/fetch-smollm2.sh fetches it once; --browser-model or POTLUCK_BROWSER_MODEL
# offers another).
set -euo pipefail

case "${1:-}" in
  -h | --help) sed -n '2,16p' "$0"; echo; ;;
esac

workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$workspace/target}"
[[ "$target_dir" = /* ]] || target_dir="$workspace/$target_dir"

(
  cd "$workspace"
  scripts/build-frontend.sh --release
  cargo build --release -p server --bin potluck
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
if [[ ${#browser_model[@]} -gt 0 ]]; then
  browser_model[1]="$("$workspace/scripts/fetch-smollm2.sh")"
fi

exec "$target_dir/release/potluck" "${site_root[@]}" "${browser_model[@]}" "$@"
