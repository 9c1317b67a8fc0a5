# SPDX-License-Identifier: Apache-2.0
"""Camera sources: device, video, folder, GStreamer, synthetic; capture supervision."""
