#!/usr/bin/env bash
# Installs what the ZooKeeper tests need: ZooKeeper 3.8 from Debian (and
# the Java it runs on). The tests start `ZooKeeperServerMain` themselves on a
# free loopback port. Idempotent.
set -euo pipefail
if [ -f /usr/share/java/zookeeper.jar ] && [ -f /usr/share/java/slf4j-simple.jar ] && command -v java >/dev/null; then
  echo "setup-zookeeper: ZooKeeper already installed"
  exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-zookeeper: must run as root or have sudo to install Debian packages" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends zookeeper
[ -f /usr/share/java/zookeeper.jar ] || { echo "setup-zookeeper: zookeeper.jar still missing" >&2; exit 1; }
echo "setup-zookeeper: ZooKeeper ready"
