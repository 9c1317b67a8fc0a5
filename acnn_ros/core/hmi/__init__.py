# SPDX-License-Identifier: Apache-2.0
"""The operator's page of hmi_node: configuration, live state, images, web server, the page."""
