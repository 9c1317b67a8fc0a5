# SPDX-License-Identifier: Apache-2.0
"""
rosbag2 reading for the replay and evaluation tools, with `rosbags` (no ROS needed).

Reading opens any rosbag2 the `rosbags` library opens: sqlite3 (.db3) or mcap, a bag directory
or a bare storage file, recorded by `ros2 bag record` (Humble: no embedded type definitions,
the standard ROS 2 types plus this package's messages are used; Iron and later: the bag's own
definitions) or written by this package.

This module is also the one import of the bag subsystem: it re-exports the typestore and
message builders (bag_messages.py; headers from core/image_cdr) and the writer (bag_writer.py).
Frame identity and message fields come from `acnn_ros.core.messages`, image decoding from
`acnn_ros.core.image_codec`.
"""
from dataclasses import dataclass
import functools
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.image_cdr import make_header, stamp_message
from acnn_ros.core.image_codec import decode_image_message
from acnn_ros.core.messages import COMPRESSED_IMAGE_TYPE, frame_key, IMAGE_TYPE, IMAGE_TYPES
from acnn_ros.core.replay.bag_messages import (BagError, compressed_image_message,
                                               ground_truth_message, GROUND_TRUTH_MODEL_ID,
                                               image_message, inspection_result_message,
                                               INSPECTION_RESULT_TYPE, LINE_COUNTERS_TYPE,
                                               PART_TRIGGER_TYPE, project_msg_dir,
                                               project_typestore, REJECT_EVENT_TYPE)
from acnn_ros.core.replay.bag_writer import (BAG_FORMAT_VERSION, BagWriter, offered_qos,
                                             RELIABLE_QOS, SENSOR_DATA_QOS, STORAGES)
import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Qos, QosReliability
from rosbags.typesys.store import Typestore

__all__ = [
    # reading (this module)
    'BagMessage', 'bag_topics', 'count_messages', 'ImageFrame', 'image_topics',
    'iter_image_frames', 'iter_messages', 'select_image_topic', 'TopicSummary',
    # message types and builders (bag_messages.py, core/messages.py, core/image_cdr.py)
    'BagError', 'COMPRESSED_IMAGE_TYPE', 'compressed_image_message', 'GROUND_TRUTH_MODEL_ID',
    'ground_truth_message', 'IMAGE_TYPE', 'IMAGE_TYPES', 'image_message',
    'INSPECTION_RESULT_TYPE', 'inspection_result_message', 'LINE_COUNTERS_TYPE', 'make_header',
    'PART_TRIGGER_TYPE', 'project_msg_dir', 'project_typestore', 'REJECT_EVENT_TYPE',
    'stamp_message',
    # writing (bag_writer.py)
    'BAG_FORMAT_VERSION', 'BagWriter', 'offered_qos', 'RELIABLE_QOS', 'SENSOR_DATA_QOS',
    'STORAGES',
]


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag: name, type, message count and recorded QoS."""

    name: str
    msgtype: str
    count: int
    qos: Tuple[Qos, ...]

    @property
    def reliable(self) -> bool:
        """Return True when every recorded publisher offered reliable delivery."""
        return bool(self.qos) and all(q.reliability == QosReliability.RELIABLE for q in self.qos)


@dataclass(frozen=True)
class BagMessage:
    """One message of a bag: where it was, when it was logged, its bytes and decoded form."""

    topic: str
    msgtype: str
    log_time_ns: int
    raw: bytes
    msg: object


@dataclass(frozen=True)
class ImageFrame:
    """One image message of a bag, numbered in bag order over the selected topic."""

    index: int
    topic: str
    msgtype: str
    log_time_ns: int
    key: FrameKey           # the identity its results, triggers and reject events share
    raw: bytes
    msg: object

    def decode(self) -> np.ndarray:
        """Decode the image to BGR uint8 with the codec the inference node uses."""
        return decode_image_message(self.msg)


def _open(path: Path) -> AnyReader:
    path = Path(path)
    if not path.exists():
        raise BagError(f'bag not found: {path}')
    try:
        reader = AnyReader([path], default_typestore=project_typestore())
        reader.open()
    except (AnyReaderError, OSError, ValueError, KeyError) as exc:
        raise BagError(f'cannot open bag {path}: {exc}') from exc
    return reader


def _typestore_for(reader: AnyReader) -> Typestore:
    """Return a typestore that knows every type of the bag plus the standard ones."""
    store = reader.typestore
    if not store.fielddefs:
        return project_typestore()
    return store


def _bag_stamp(path: Path) -> Tuple[str, Tuple[Tuple[str, int, int], ...]]:
    """Return an identity of a bag's files (name, size, mtime) to cache what it contains."""
    path = Path(path).resolve()
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return str(path), tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files
                            if f.is_file())


def bag_topics(path: Path) -> Dict[str, TopicSummary]:
    """Return the topics of a bag by name (cached while the bag's files do not change)."""
    if not Path(path).exists():
        raise BagError(f'bag not found: {path}')
    return dict(_bag_topics(path, _bag_stamp(path)))


@functools.lru_cache(maxsize=16)
def _bag_topics(path: Path, stamp) -> Dict[str, TopicSummary]:
    reader = _open(path)
    try:
        topics = {}
        for connection in reader.connections:
            previous = topics.get(connection.topic)
            qos = tuple(getattr(connection.ext, 'offered_qos_profiles', ()) or ())
            count = connection.msgcount + (previous.count if previous else 0)
            topics[connection.topic] = TopicSummary(
                connection.topic, connection.msgtype, count,
                (previous.qos if previous else ()) + qos)
        return topics
    finally:
        reader.close()


def image_topics(path: Path) -> List[str]:
    """Return the topics of a bag that carry Image or CompressedImage messages."""
    return sorted(name for name, info in bag_topics(path).items() if info.msgtype in IMAGE_TYPES)


def select_image_topic(path: Path, topic: Optional[str] = None) -> str:
    """Return `topic` if the bag has it as an image topic, else its only image topic."""
    topics = bag_topics(path)
    images = sorted(name for name, info in topics.items() if info.msgtype in IMAGE_TYPES)
    if topic:
        resolved = topic if topic in topics else '/' + topic.lstrip('/')
        if resolved not in topics:
            raise BagError(f'bag {path} has no topic {topic!r}; image topics: {images}')
        if topics[resolved].msgtype not in IMAGE_TYPES:
            raise BagError(f'topic {resolved} of {path} is {topics[resolved].msgtype}, '
                           f'not an image type')
        return resolved
    if not images:
        raise BagError(f'bag {path} has no sensor_msgs/Image or CompressedImage topic; '
                       f'topics: {sorted(topics)}')
    if len(images) > 1:
        raise BagError(f'bag {path} has several image topics {images}: choose one')
    return images[0]


def iter_messages(path: Path, topics: Optional[Iterable[str]] = None) -> Iterator[BagMessage]:
    """Yield the messages of a bag in log-time order, optionally only of some topics."""
    reader = _open(path)
    try:
        wanted = None if topics is None else {'/' + t.lstrip('/') for t in topics}
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not connections:
            return
        store = _typestore_for(reader)
        for connection, log_time, raw in reader.messages(connections=connections):
            try:
                msg = store.deserialize_cdr(raw, connection.msgtype)
            except Exception as exc:  # noqa: B902 (rosbags raises several error types)
                raise BagError(f'{path}: cannot decode a {connection.msgtype} message on '
                               f'{connection.topic} at {log_time} ns: {exc}') from exc
            yield BagMessage(connection.topic, connection.msgtype, int(log_time), bytes(raw),
                             msg)
    finally:
        reader.close()


def iter_image_frames(path: Path, topic: Optional[str] = None) -> Iterator[ImageFrame]:
    """Yield the frames of one image topic of a bag (see select_image_topic) in bag order."""
    selected = select_image_topic(path, topic)
    for index, message in enumerate(iter_messages(path, [selected])):
        yield ImageFrame(index, message.topic, message.msgtype, message.log_time_ns,
                         frame_key(message.msg.header), message.raw, message.msg)


def count_messages(path: Path, topic: str) -> int:
    """Return the number of messages on a topic of a bag (0 if absent)."""
    info = bag_topics(path).get('/' + topic.lstrip('/'))
    return info.count if info else 0
