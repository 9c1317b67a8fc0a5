# SPDX-License-Identifier: Apache-2.0
"""A-CNN model in PyTorch: blocks, variants, data, training and ONNX export (no ROS)."""
