#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# README command 1: set up (idempotent) and run the whole inspection line in one process:
# camera (synthetic generator) -> A-CNN (shipped demo model) -> reject actuator -> simulated
# PLC (pymodbus on 127.0.0.1), with a live summary and a final reconciliation.
# Extra arguments go to `acnn demo`, e.g.  ./scripts/demo.sh --frames 300 --rate 20
#                                          ./scripts/demo.sh --images /path/to/dataset
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_dir/scripts/setup.sh"
# shellcheck disable=SC1091
source "$repo_dir/scripts/env.sh"
cd "$repo_dir"
# The operator's page (hmi_node) on http://127.0.0.1:8080/ while the line runs; `--hmi 0`: any
# free port. Its URL is printed at start.
# The line as an OPC UA for Machine Vision server (vision_system_node) on
# opc.tcp://127.0.0.1:4841/acnn_ros/vision_system/ (anonymous, loopback only); printed at start.
exec python -m acnn_ros.cli demo --hmi 8080 --vision-system 4841 "$@"
