# SPDX-License-Identifier: Apache-2.0
"""PLC backends (Modbus TCP, OPC UA, topic, GPIO) and the PLC simulators."""
