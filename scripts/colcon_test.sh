#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The test suite the ROS way: build with BUILD_TESTING=ON (scripts/setup.sh leaves it off for a
# faster everyday build), run `colcon test` (ctest -> ament_add_pytest_test -> pytest over
# test/) and show `colcon test-result --verbose`. Extra arguments go to pytest, e.g.
#   ./scripts/colcon_test.sh -k 'test_lint or test_layers'
# On a real ROS 2 workspace the same is `colcon build && colcon test && colcon test-result`.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACNN_BUILD_TESTING=ON "$repo_dir/scripts/setup.sh"
# A domain of this run's own, so that parallel runs on one machine do not cross-talk.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 90) + 10 ))}"
# shellcheck disable=SC1091
source "$repo_dir/scripts/env.sh"
cd "$repo_dir"
if (( $# )); then
  printf -v extra '%q ' "$@"
  export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} $extra"
fi
echo "[colcon test] $ROS_AUTOMATIC_DISCOVERY_RANGE domain $ROS_DOMAIN_ID; pytest ${PYTEST_ADDOPTS:-}" >&2
status=0
colcon --log-base log test --paths "$repo_dir/.venv/src/acnn_ros" --build-base build \
  --install-base install --merge-install --event-handlers console_direct+ summary+ \
  --return-code-on-test-failure || status=$?
colcon test-result --test-result-base build/acnn_ros --verbose || status=$?
exit "$status"
