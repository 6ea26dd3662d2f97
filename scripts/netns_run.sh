#!/usr/bin/env bash
# Run a command that starts ROS 2 nodes with DDS confined to loopback:
#  - inside a private network namespace (unshare -n, then lo up), so nothing can leave the machine;
#  - with the project's Fast DDS profile (SHM + UDPv4 bound to 127.0.0.1) and LOCALHOST discovery.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$ROOT/config/fastdds_loopback.xml}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
if [ "${POSE_NETNS_INNER:-0}" = "1" ]; then
  ip link set lo up
  exec "$@"
fi
if unshare -n true 2>/dev/null; then
  POSE_NETNS_INNER=1 exec unshare -n "$0" "$@"
fi
echo "[netns] WARNING: cannot create a private network namespace (needs root or user namespaces);" \
     "running with the loopback-only Fast DDS profile alone" >&2
exec "$@"
