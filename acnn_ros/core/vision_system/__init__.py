# SPDX-License-Identifier: Apache-2.0
"""OPC UA for Machine Vision (OPC 40100-1): the vision system server of the line."""
