# SPDX-License-Identifier: Apache-2.0
"""
rosbag2 writing with `rosbags` (no ROS needed), the way `ros2 bag record` writes.

The bags are rosbag2 format version 9 (what `ros2 bag record` writes on Jazzy/Kilted), with
message definitions, type hashes and `offered_qos_profiles` filled in the way rosbag2 does, so
`ros2 bag play` accepts them and republishes them with the QoS of a real recording.
"""
from pathlib import Path
from typing import Dict, Optional, Sequence

from acnn_ros.core.messages import IMAGE_TYPES
from acnn_ros.core.replay.bag_messages import BagError, project_typestore
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys.store import Typestore

STORAGES = ('sqlite3', 'mcap')
BAG_FORMAT_VERSION = 9

# rclpy's "infinite" duration, as rosbag2 writes it into offered_qos_profiles.
_INFINITE = QosTime(sec=9223372036, nsec=854775807)


def offered_qos(reliable: bool, transient_local: bool = False) -> Qos:
    """
    Return a publisher's offered QoS as `ros2 bag record` stores it.

    DDS discovery does not carry history and depth, so rosbag2 records them as unknown/0;
    the rest is what the publisher offered. `ros2 bag play` republishes with this profile.
    """
    return Qos(history=QosHistory.UNKNOWN, depth=0,
               reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               durability=(QosDurability.TRANSIENT_LOCAL if transient_local
                           else QosDurability.VOLATILE),
               deadline=_INFINITE, lifespan=_INFINITE, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=_INFINITE, avoid_ros_namespace_conventions=False)


# What the camera driver (SensorDataQoS) and the verdict publishers (reliable) offer.
SENSOR_DATA_QOS = offered_qos(reliable=False)
RELIABLE_QOS = offered_qos(reliable=True)


class BagWriter:
    """
    Write a rosbag2 (format 9, sqlite3 or mcap) that `ros2 bag play` accepts.

    Topics are added with their type and the QoS their publisher offered; messages are
    rosbags message objects (`write`) or CDR bytes as received from DDS (`write_raw`). Use as
    a context manager, or call close(): the metadata.yaml is written on close.
    """

    def __init__(self, path: Path, storage: str = 'sqlite3',
                 typestore: Optional[Typestore] = None):
        if storage not in STORAGES:
            raise BagError(f'unknown storage {storage!r}; use one of {STORAGES}')
        self.path = Path(path)
        self.typestore = typestore or project_typestore()
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        try:
            self._writer = Writer(self.path, version=BAG_FORMAT_VERSION, storage_plugin=plugin)
            self._writer.open()
        except WriterError as exc:
            raise BagError(f'cannot create bag {self.path}: {exc}') from exc
        self._connections = {}
        self.counts: Dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[Qos] = (RELIABLE_QOS,)) -> None:
        """Declare a topic (absolute name as recorded, e.g. '/image') before writing to it."""
        name = '/' + topic.lstrip('/')
        if name in self._connections:
            return
        if msgtype not in self.typestore.types:
            raise BagError(f'unknown message type {msgtype!r} for topic {name}')
        self._connections[name] = self._writer.add_connection(
            name, msgtype, typestore=self.typestore, offered_qos_profiles=list(qos))
        self.counts[name] = 0

    def has_topic(self, topic: str) -> bool:
        """Return True when the topic was added."""
        return '/' + topic.lstrip('/') in self._connections

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        """Serialise a rosbags message object and write it (adding its topic if new)."""
        name = '/' + topic.lstrip('/')
        if name not in self._connections:
            # Cameras offer best effort (SensorDataQoS); the package's own topics are reliable.
            msgtype = msg.__msgtype__
            self.add_topic(name, msgtype, [SENSOR_DATA_QOS if msgtype in IMAGE_TYPES
                                           else RELIABLE_QOS])
        raw = self.typestore.serialize_cdr(msg, self._connections[name].msgtype)
        self.write_raw(name, raw, log_time_ns)

    def write_raw(self, topic: str, data: bytes, log_time_ns: int) -> None:
        """Write CDR bytes (e.g. from a raw rclpy subscription) to an added topic."""
        name = '/' + topic.lstrip('/')
        if name not in self._connections:
            raise BagError(f'topic {name} was not added to {self.path}')
        self._writer.write(self._connections[name], int(log_time_ns), data)
        self.counts[name] += 1

    def close(self) -> None:
        """Finish the storage file and write metadata.yaml (idempotent)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> 'BagWriter':
        """Return self."""
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Close the bag, also after an error (what was written stays readable)."""
        self.close()
