#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# README command 2: set up (idempotent) and run the whole test suite. Extra args go to pytest.
# --fast (first argument): only the unit tier that is not slow (test/tiers.py), well under a
# minute: no process, no DDS. CI runs everything.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_dir/scripts/setup.sh"
# A domain of this run's own, so that parallel runs on one machine do not cross-talk.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 90) + 10 ))}"
# shellcheck disable=SC1091
source "$repo_dir/scripts/env.sh"
cd "$repo_dir"
echo "[test] $ROS_AUTOMATIC_DISCOVERY_RANGE domain $ROS_DOMAIN_ID" >&2
if [[ "${1:-}" == "--fast" ]]; then
  shift
  exec pytest -m 'unit and not slow' "$@"
fi
exec pytest "$@"
