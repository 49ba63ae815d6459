#!/usr/bin/env bash
# Installs ZooKeeper 3.8 (Debian `zookeeper`, with the JRE it needs) for the
# tests that start a real ZooKeeper. Idempotent; fails loudly.
set -euo pipefail
if [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null; then
  echo "setup-zookeeper: $(dpkg-query -W -f='zookeeper ${Version}' zookeeper 2>/dev/null || echo zookeeper) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup-zookeeper: need root or sudo to apt-get install zookeeper" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# The dpkg lock may be held by another installer: retry for a while.
for attempt in $(seq 1 30); do
  if $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends zookeeper; then
    break
  fi
  [ "$attempt" = 30 ] && { echo "setup-zookeeper: apt-get install zookeeper failed" >&2; exit 1; }
  sleep 10
done
[ -f /usr/share/java/zookeeper.jar ] || { echo "setup-zookeeper: /usr/share/java/zookeeper.jar missing after install" >&2; exit 1; }
command -v java >/dev/null || { echo "setup-zookeeper: java missing after install" >&2; exit 1; }
echo "setup-zookeeper: ready"
