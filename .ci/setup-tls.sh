#!/usr/bin/env bash
# Installs the real TLS clients the TLS tests use: the `openssl` command line
# (makes a CA and certificates) and `curl` (an OpenSSL HTTPS client).
# Idempotent; fails loudly.
set -euo pipefail
if command -v openssl >/dev/null && command -v curl >/dev/null; then
  echo "setup-tls: openssl and curl already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup-tls: need root or sudo to apt-get install openssl curl" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# The dpkg lock may be held by another installer: retry for a while.
for attempt in $(seq 1 30); do
  if $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends openssl curl ca-certificates; then
    break
  fi
  [ "$attempt" = 30 ] && { echo "setup-tls: apt-get install openssl curl failed" >&2; exit 1; }
  sleep 10
done
command -v openssl >/dev/null && command -v curl >/dev/null || { echo "setup-tls: openssl or curl missing after install" >&2; exit 1; }
echo "setup-tls: ready"
