# SPDX-License-Identifier: Apache-2.0
"""The seed dataset format and the synthetic AOI generator."""
