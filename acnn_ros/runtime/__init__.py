# SPDX-License-Identifier: Apache-2.0
"""Inference runtime: engines (ONNX Runtime, PyTorch, TensorRT) and the frame pipeline."""
