# SPDX-License-Identifier: Apache-2.0
"""Health levels of every subsystem: the values of diagnostic_msgs/DiagnosticStatus."""

# OK, WARN, ERROR as DiagnosticStatus has them (its constants are bytes; these are ints so that
# levels compare and combine with max()). The nodes convert with bytes([level]).
LEVEL_OK, LEVEL_WARN, LEVEL_ERROR = 0, 1, 2
