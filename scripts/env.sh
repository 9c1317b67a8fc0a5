# SPDX-License-Identifier: Apache-2.0
#
# Source me (after scripts/setup.sh): activates .venv, sources the colcon install/ overlay
# (generated messages, node executables) and keeps DDS on this machine unless told otherwise.
#   source scripts/env.sh
_acnn_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# colcon's and venv's setup scripts read unset variables: relax `set -u` while sourcing them.
_acnn_nounset="$(set +o | grep nounset)"
set +u
# shellcheck disable=SC1091
source "$_acnn_repo/.venv/bin/activate"
export AMENT_PREFIX_PATH="${AMENT_PREFIX_PATH:-$VIRTUAL_ENV}"
# shellcheck disable=SC1091
source "$_acnn_repo/install/setup.bash"
eval "$_acnn_nounset"
export PATH="$_acnn_repo/install/lib/acnn_ros:$PATH"
# DDS discovery stays on loopback unless the user chose a range (Fast DDS multicasts otherwise).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
# A domain of our own, so that parallel runs on one machine do not cross-talk.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"
# Camera frames (0.9 MB at 640x480) exceed Fast DDS's default 512 KB shared-memory segment and
# then travel as UDP fragments that best-effort readers lose under load (docs/REPLAY.md). The
# project's profile enlarges the segment and keeps UDP on loopback, so use it whenever discovery
# is local and the user has not chosen a profile of their own.
if [[ "$ROS_AUTOMATIC_DISCOVERY_RANGE" == LOCALHOST && -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}" ]]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="$_acnn_repo/config/fastdds_large_images.xml"
fi
unset _acnn_repo _acnn_nounset
