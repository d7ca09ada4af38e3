#!/usr/bin/env bash
# Builds the web UI's browser side into <workspace>/target/site, which the server serves:
#   target/site/pkg/potluck.js, potluck_bg.wasm   the hydration bundle (wasm-bindgen --target web)
#   target/site/pkg/potluck.css                    style/main.css
#   target/site/pkg/worker.js, browser_worker.js,  the Contribute page's Web Worker (the engine
#     browser_worker_bg.wasm                       on WebGPU), loaded only when a visitor starts
#   target/site/*                                  public/*
#
# Usage: scripts/build-frontend.sh [--release]
#
# We do not use cargo-leptos (13 minutes to install here); this does its job for our layout.
# The site always goes to <workspace>/target/site, whatever CARGO_TARGET_DIR says, so the server's
# default `--site-root target/site` finds it; only the cargo build output follows CARGO_TARGET_DIR.
#
# The file names must be the ones Leptos 0.8's <HydrationScripts> asks for: with output_name
# "potluck", no file hashing and no LEPTOS_OUTPUT_NAME at compile time, it loads
# /pkg/potluck.js and /pkg/potluck_bg.wasm, which is what `wasm-bindgen --out-name potluck` writes.
set -euo pipefail

profile=dev
case "${1:-}" in
  "") ;;
  --release) profile=wasm-release ;;
  -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac

workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$workspace"
target_dir="${CARGO_TARGET_DIR:-$workspace/target}"
site="$workspace/target/site"
triple=wasm32-unknown-unknown
# Cargo names the output folder after the profile, except `dev`, whose folder is `debug`.
profile_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
wasm="$target_dir/$triple/$profile_dir/frontend.wasm"
worker_wasm="$target_dir/$triple/$profile_dir/browser_worker.wasm"

# --- tools, installed only when missing, so a second run is fast ---
if ! rustup target list --installed | grep -qx "$triple"; then
  rustup target add "$triple"
fi
# The CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock, or the generated
# glue does not match the wasm.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ -z "$want" ]; then
  echo "error: no wasm-bindgen in Cargo.lock; run 'cargo generate-lockfile' first" >&2
  exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found '${have:-none}')"
  # No --locked: the CLI's own lock file pins a crate release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$want"
fi

# --- build ---
cargo build -p frontend -p browser-worker --lib --target "$triple" --profile "$profile"

# No wasm-opt: the only Binaryen Debian has (108) breaks this bundle either way. After
# wasm-bindgen it rewrites the externref table wrongly (the page fails with
# "WebAssembly.Table.set(): Argument 1 is invalid for table"); before it, wasm-bindgen 0.2.130
# panics on the optimised module. The release profile's opt-level "z" and LTO do the shrinking.

mkdir -p "$site"
rm -rf "$site/pkg"
mkdir -p "$site/pkg"
# Release: without the function names (over half the file) and the producers section; a
# browser needs neither.
strip=()
[ "$profile" = dev ] || strip=(--remove-name-section --remove-producers-section)
wasm-bindgen "$wasm" --target web --out-dir "$site/pkg" --out-name potluck --no-typescript "${strip[@]}"
wasm-bindgen "$worker_wasm" --target web --out-dir "$site/pkg" --no-typescript "${strip[@]}"
cp crates/browser-worker/worker.js "$site/pkg/worker.js"

cp style/main.css "$site/pkg/potluck.css"
if [ -d public ] && [ -n "$(ls -A public)" ]; then
  cp -R public/. "$site/"
fi

# Precompressed copies: the server's file service sends them to browsers that accept gzip.
for f in "$site"/pkg/*.js "$site"/pkg/*.wasm "$site"/pkg/potluck.css; do
  gzip -9 -k -f "$f"
done

for bundle in potluck browser_worker; do
  size=$(wc -c <"$site/pkg/${bundle}_bg.wasm")
  gz=$(wc -c <"$site/pkg/${bundle}_bg.wasm.gz")
  echo "$bundle wasm ($profile): $size bytes, $gz bytes gzipped"
done
echo "site: $site"
