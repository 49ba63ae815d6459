#!/usr/bin/env bash
# Installs what the operator-surface tests need from Debian: `promtool`
# (package `prometheus`), which checks the /metrics/prometheus expositions,
# and headless `chromium`, which loads the web UI fixture from the master.
# Idempotent: nothing is installed when both are already present.
set -euo pipefail
if command -v promtool >/dev/null && command -v chromium >/dev/null; then
  echo "setup-operator-tools: $(promtool --version 2>&1 | head -1) and $(chromium --version 2>/dev/null | head -1) already present"
  exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-operator-tools: must run as root or have sudo to install Debian packages" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends prometheus chromium
command -v promtool >/dev/null || { echo "setup-operator-tools: promtool is still missing after installing prometheus" >&2; exit 1; }
command -v chromium >/dev/null || { echo "setup-operator-tools: chromium is still missing" >&2; exit 1; }
echo "setup-operator-tools: promtool and chromium ready"
