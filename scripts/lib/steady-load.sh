# Sourced by the soak and chaos scripts: what they run, and the load they both put on it.
#
# `steady_load_binaries PROFILE` (debug or release) sets $potluck_bin and $bench_bin: POTLUCK_BIN
# and BENCH_BIN when both are set, else PROFILE builds in CARGO_TARGET_DIR (default
# ~/.cache/potluck-target), built first. $steady_load holds the bench's arguments for the load:
# 4 requesters and 4 workers polling every 100 ms, a report every minute.

steady_load=(--requesters 4 --workers 4 --poll-ms 100 --backoff-ms 100 --soak 60
  --request-timeout 900)

steady_load_binaries() {
  local profile="$1" workspace
  workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/potluck-target}"
  if [[ -z "${POTLUCK_BIN:-}" || -z "${BENCH_BIN:-}" ]]; then
    local release=()
    [[ "$profile" = release ]] && release=(--release)
    (cd "$workspace" && cargo build --locked "${release[@]}" -p server -p bench)
  fi
  potluck_bin="${POTLUCK_BIN:-$CARGO_TARGET_DIR/$profile/potluck}"
  bench_bin="${BENCH_BIN:-$CARGO_TARGET_DIR/$profile/bench}"
}
