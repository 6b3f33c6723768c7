#!/usr/bin/env bash
# Install Debian's Chromium for the browser test if it is missing (root; Debian/Ubuntu).
# Idempotent; prints the path. Tests launch it headless on loopback only.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  command -v chromium
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium is missing and this is not root: install Debian's 'chromium' package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
command -v chromium
