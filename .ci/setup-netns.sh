#!/usr/bin/env bash
# Makes sure `ip netns` works (iproute2, root) for the network partition
# test, which creates its own namespace and veth pair. Fails loudly.
set -euo pipefail
if ! command -v ip >/dev/null; then
  SUDO=""
  [ "$(id -u)" != 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  for attempt in $(seq 1 30); do
    if $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends iproute2; then
      break
    fi
    [ "$attempt" = 30 ] && { echo "setup-netns: apt-get install iproute2 failed" >&2; exit 1; }
    sleep 10
  done
fi
probe="mesos-ci-probe-$$"
ip netns add "$probe" || { echo "setup-netns: 'ip netns add' failed (the partition test needs root and network namespaces)" >&2; exit 1; }
ip netns del "$probe"
echo "setup-netns: ready"
