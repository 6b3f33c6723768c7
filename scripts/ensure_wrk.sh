#!/usr/bin/env bash
# Install wrk (the HTTP load client bench/bench_tiles.py uses for cached tiles) if it is
# missing (root; Debian/Ubuntu package `wrk`). Idempotent; prints the path.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  command -v wrk
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "wrk is missing and this is not root: install Debian's 'wrk' package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq wrk >/dev/null
command -v wrk
