#!/usr/bin/env bash
# Runs the compatibility tests (compat/): horde-sdk from PyPI, unmodified, drives a real potluck
# server as requester and as worker (test_horde_sdk.py), and through styles, collections, shared
# keys, teams, alchemy, statistics, worker messages, ratings and awards (test_horde_sdk_more.py);
# and real potluck-worker processes serve horde-sdk's requests with the engine or through the
# bridge to `transformers serve`, through server restarts, killed workers and failing back ends
# (test_worker.py).
#
# Usage: scripts/test-compat.sh [pytest arguments...]   (pytest runs in compat/, so paths given
#        to it are relative to compat/, e.g. test_horde_sdk.py::test_unknown_ids)
#
# Builds nothing: build the server and the worker first (`cargo build -p server -p worker`).
# Environment:
#   POTLUCK_BIN    the potluck binary (default: ${CARGO_TARGET_DIR:-target}/debug/potluck,
#                  relative to the workspace); potluck-worker is taken from the same folder
#                  unless POTLUCK_WORKER_BIN says otherwise
#   POTLUCK_VENV   the virtual environment to use (default: ~/.cache/potluck-compat-venv); it is
#                  created with Python 3.12 and rebuilt whenever compat/requirements.txt changes
# Python 3.12 comes from pyenv when it has one, else from `python3.12` on PATH.
# Exits with pytest's status (non-zero on any failure, and when no test ran).
set -euo pipefail

workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$workspace/compat/requirements.txt"
venv="${POTLUCK_VENV:-$HOME/.cache/potluck-compat-venv}"
stamp_file="$venv/.potluck-requirements.sha256"

case "${1:-}" in
  -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
esac

# The binary: an explicit POTLUCK_BIN is taken relative to where we were called from.
if [[ -n "${POTLUCK_BIN:-}" ]]; then
  potluck_bin="$(realpath -m -- "$POTLUCK_BIN")"
else
  target_dir="${CARGO_TARGET_DIR:-target}"
  [[ "$target_dir" = /* ]] || target_dir="$workspace/$target_dir"
  potluck_bin="$target_dir/debug/potluck"
fi
if [[ ! -x "$potluck_bin" ]]; then
  echo "test-compat: no potluck binary at $potluck_bin; run 'cargo build -p server' or set POTLUCK_BIN" >&2
  exit 1
fi

is_python312() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1
}

find_python312() {
  local version prefix
  if command -v pyenv >/dev/null 2>&1; then
    # The newest 3.12.x that pyenv has.
    version="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12\.[0-9]+$' | sort -t. -k3,3n | tail -n 1 || true)"
    if [[ -n "$version" ]]; then
      prefix="$(pyenv prefix "$version" 2>/dev/null || true)"
      if [[ -n "$prefix" ]] && is_python312 "$prefix/bin/python"; then
        echo "$prefix/bin/python"
        return 0
      fi
    fi
  fi
  if command -v python3.12 >/dev/null 2>&1 && is_python312 python3.12; then
    command -v python3.12
    return 0
  fi
  return 1
}

# What the environment was built from: the requirements and the interpreter's version.
wanted_stamp() {
  { sha256sum "$requirements" | cut -d' ' -f1; "$1" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}

venv_is_current() {
  [[ -x "$venv/bin/python" && -f "$stamp_file" ]] || return 1
  is_python312 "$venv/bin/python" || return 1
  [[ "$(cat "$stamp_file")" == "$(wanted_stamp "$venv/bin/python")" ]]
}

build_venv() {
  local python
  if ! python="$(find_python312)"; then
    echo "test-compat: Python 3.12 not found (horde-sdk 0.33 needs it): install it with pyenv" \
      "('pyenv install 3.12') or put python3.12 on PATH" >&2
    exit 1
  fi
  if [[ -e "$venv" ]]; then
    # Only ever remove something that is a virtual environment.
    if [[ ! -f "$venv/pyvenv.cfg" ]]; then
      echo "test-compat: $venv exists and is not a virtual environment; remove it or set POTLUCK_VENV" >&2
      exit 1
    fi
    rm -rf -- "$venv"
  fi
  echo "test-compat: creating $venv with $python"
  mkdir -p -- "$(dirname -- "$venv")"
  "$python" -m venv -- "$venv"
  "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -r "$requirements"
  # Written last: an interrupted install is redone on the next run.
  wanted_stamp "$venv/bin/python" >"$stamp_file"
}

if ! venv_is_current; then
  mkdir -p -- "$(dirname -- "$venv")"
  # One builder at a time when several runs share the environment.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
  fi
  venv_is_current || build_venv
fi

cd "$workspace/compat"
export POTLUCK_BIN="$potluck_bin"
exec "$venv/bin/python" -m pytest -v "$@" </dev/null
