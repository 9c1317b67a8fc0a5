# SPDX-License-Identifier: Apache-2.0
"""
Logging at a level chosen at run time, and the core's Python logging into a node's ROS log.

rclpy fixes the severity of each log call site at its first call ("Logger severity cannot be
changed between calls"): a line whose level is decided at run time (`(logger.warning if bad
else logger.info)(text)`) crashes the node the first time the other level comes (it did once,
in reject_actuator_node). `log_at` has one call site per severity, so it is the one place
where a level chosen at run time becomes a ROS log call.
"""
import logging

from acnn_ros.core.health import LEVEL_ERROR, LEVEL_WARN


def log_at(logger, level: int, text: str) -> None:
    """Log `text` at a health level (core/health.py LEVEL_OK / WARN / ERROR)."""
    if level >= LEVEL_ERROR:
        logger.error(text)
    elif level >= LEVEL_WARN:
        logger.warning(text)
    else:
        logger.info(text)


class RosLogHandler(logging.Handler):
    """Forward Python logging records (the core's) to a node's ROS logger."""

    def __init__(self, logger):
        super().__init__()
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        """Log the record at its level (ERROR, WARN, or INFO for anything lower)."""
        level = (LEVEL_ERROR if record.levelno >= logging.ERROR else
                 LEVEL_WARN if record.levelno >= logging.WARNING else 0)
        log_at(self._logger, level, self.format(record))


def core_logger(node) -> logging.Logger:
    """Return a Python logger of this node instance whose records go to its ROS log."""
    logger = logging.getLogger(f'acnn_ros.{node.get_name()}.{id(node)}')
    logger.setLevel(logging.INFO)
    logger.addHandler(RosLogHandler(node.get_logger()))
    logger.propagate = False
    return logger
