# SPDX-License-Identifier: Apache-2.0
"""The seed dataset format (layout, YOLO labels, ground truth) and the synthetic AOI generator."""
