#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The GPU check of issue 11 in one go (under 8 minutes): torch backend on CUDA (fp32, fp16)
# with parity against CPU ONNX Runtime, model and pipeline latency, and the onnxruntime CUDA /
# TensorRT execution providers where that build has them. Needs python3 with torch (CUDA),
# onnxruntime, opencv and rosbags; no ROS, no network, no colcon install.
#   benchmarks/gpu_check.sh [OUT_DIR] [gpu_check.py options, e.g. --device cpu]
# Writes OUT_DIR/gpu_check.{json,md}, prints the summary; exit 0 = every check passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-/tmp/acnn_gpu_check}"
shift || true
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader || echo 'nvidia-smi: not found'
exec timeout 450 "$python" -m benchmarks.gpu_check --out "$out" "$@"
